"""Single sign-on with the ministry account, through a real OpenID Connect provider on 127.0.0.1: the claims give
the role and the department, at every sign-in; a claim that names no role of the console opens nothing."""

import base64
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Route
from sqlmodel import select

from api.service.staff import disable_account, session_for
from domain.kinds import Role
from store import staff
from store.models import StaffAuditEntry
from tests.e2e.accessibility import assert_accessible
from tests.e2e.identity_provider import IdentityProvider, console_with_single_sign_on, running_provider

pytestmark = pytest.mark.asyncio

DEPARTMENT = "CIVIL_STATUS"


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProvider]:
    with running_provider() as running:
        yield running


@pytest.fixture(scope="module")
async def console(services, provider) -> AsyncIterator[str]:
    async with console_with_single_sign_on(services, provider) as base_url:
        yield base_url


def _person(provider: IdentityProvider, **claims) -> str:
    subject = f"person-{secrets.token_hex(4)}"
    provider.person(subject, preferred_username=subject, name=f"Person {subject}", **claims)
    return subject


async def _sign_in(client: httpx.AsyncClient, subject: str, *, next: str = "") -> httpx.Response:
    """The whole flow as a browser without JavaScript makes it: to the provider, its form, and back."""
    leave = await client.get("/console/sign-in/oidc", params={"next": next} if next else None)
    assert leave.status_code == 303, leave.text
    authorized = await client.post(leave.headers["location"], data={"sub": subject})
    assert authorized.status_code == 302, authorized.text
    back = authorized.headers["location"]
    assert back.startswith(f"{client.base_url}/console/sign-in/oidc/callback?"), back
    return await client.get(back)


async def _events(database, login: str) -> list[tuple[str, str | None]]:
    async with database.session() as session:
        rows = await session.exec(select(StaffAuditEntry.event, StaffAuditEntry.detail)
                                  .where(StaffAuditEntry.login == login).order_by(StaffAuditEntry.id))
        return list(rows.all())


@asynccontextmanager
async def _browser_signing_in(browser: Browser, console: str, provider: IdentityProvider, subject: str,
                              language: str, screenshots) -> AsyncIterator[BrowserContext]:
    """Chromium from the console's sign-in page, through the provider's own authorization page, and back."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    # Only the console and the provider: nothing else is reachable (the provider's page asks for a CDN's CSS).
    allowed = {urlsplit(console).netloc, urlsplit(provider.issuer).netloc}

    async def local_only(route: Route) -> None:
        await (route.continue_() if urlsplit(route.request.url).netloc in allowed else route.abort())

    await context.route("**/*", local_only)
    page = await context.new_page()
    try:
        await page.goto(f"{console}/console/sign-in?lang={language}")
        await page.screenshot(path=screenshots / f"console-sign-in-oidc-{language}.png", full_page=True)
        await assert_accessible(page, f"console-sign-in-oidc-{language}")
        await page.get_by_role("link", name=BUTTON[language]).click()
        await page.wait_for_url(f"{provider.issuer}/oauth2/authorize?*")
        await page.get_by_placeholder("sub").fill(subject)
        await page.get_by_role("button", name="Authorize").click()
        await page.wait_for_url(f"{console}/console/**")
        yield context
    finally:
        await context.close()


BUTTON = {"ar": "الدخول بحساب الوزارة", "en": "Sign in with the ministry account"}


async def test_sign_in_through_the_provider_gives_the_role_and_department_its_claims_name(
        browser: Browser, console, provider, database, settings, screenshots):
    subject = _person(provider, complaints_role="department", complaints_department=DEPARTMENT)
    async with _browser_signing_in(browser, console, provider, subject, "ar", screenshots) as context:
        assert urlsplit(context.pages[0].url).path == "/console/queues/department"  # a department officer's home
        cookie = next(c for c in await context.cookies() if c["name"] == "complaints_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    session = await session_for(database, settings, cookie["value"])
    assert session.caller.role == Role.DEPARTMENT and session.caller.department == DEPARTMENT
    assert session.user.oidc_subject == subject and session.user.password_hash is None
    assert session.user.name == f"Person {subject}" and session.language == "ar"
    assert ("signed_in", "oidc") in await _events(database, session.user.login)


REFUSED_WORDS = {"ar": "لا يمنحك دورًا في منصة الشكاوى", "en": "does not give you a role in the complaints console"}


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_a_claim_with_an_unknown_role_is_refused_with_a_page_that_says_why(
        browser: Browser, console, provider, database, screenshots, language):
    subject = _person(provider, complaints_role="superuser")
    async with _browser_signing_in(browser, console, provider, subject, language, screenshots) as context:
        page = context.pages[0]
        await page.screenshot(path=screenshots / f"console-sign-in-refused-{language}.png", full_page=True)
        assert REFUSED_WORDS[language] in await page.locator("[role=alert]").inner_text()
        await assert_accessible(page, f"console-sign-in-refused-{language}")
        assert not [c for c in await context.cookies() if c["name"] == "complaints_console"]
    assert await staff.user_with_subject(database, subject) is None  # no account made
    assert await _events(database, subject) == [
        ("sign_in_failed", "oidc: complaints_role='superuser' is no role of the console")]


async def test_without_javascript_an_unknown_role_is_refused_too(console, provider):
    subject = _person(provider, complaints_role="superuser")
    async with httpx.AsyncClient(base_url=console) as client:
        refused = await _sign_in(client, subject)
    assert refused.status_code == 403 and REFUSED_WORDS["ar"] in refused.text
    assert "complaints_console" not in refused.cookies


async def test_a_channel_or_a_department_outside_the_directory_is_refused(console, provider, database):
    channel = _person(provider, complaints_role="channel")
    nowhere = _person(provider, complaints_role="department", complaints_department="NO_SUCH_DEPARTMENT")
    async with httpx.AsyncClient(base_url=console) as client:
        as_channel = await _sign_in(client, channel)
        as_nowhere = await _sign_in(client, nowhere)
    assert as_channel.status_code == 403 and "والقناة نظام وليست شخصًا" in as_channel.text
    assert as_nowhere.status_code == 403 and "تقسيمًا مختصًا قائمًا" in as_nowhere.text
    assert await staff.user_with_subject(database, channel) is None
    assert await staff.user_with_subject(database, nowhere) is None


async def test_a_second_sign_in_with_a_changed_claim_changes_the_role(console, provider, database, settings):
    subject = _person(provider, complaints_role="department", complaints_department=DEPARTMENT)
    async with httpx.AsyncClient(base_url=console) as client:
        first = await _sign_in(client, subject)
        first_token = client.cookies["complaints_console"]
        assert first.status_code == 303 and first.headers["location"] == "/console/queues"
        provider.person(subject, preferred_username=subject, name="Promoted", complaints_role="auditor")
        second = await _sign_in(client, subject, next="/console/cases/C-2026-000001")
    assert second.status_code == 303 and second.headers["location"] == "/console/cases/C-2026-000001"
    user = await staff.user_with_subject(database, subject)
    assert (user.role, user.department) == ("auditor", None)
    # The first session acts under the new role too: a session reads its account at every request.
    assert (await session_for(database, settings, first_token)).caller.role == Role.AUDITOR
    events = await _events(database, user.login)
    assert [event for event, _ in events] == ["created", "signed_in", "role_changed", "signed_in"]
    assert events[2][1] == "department/CIVIL_STATUS to auditor/- by the identity provider's claims"


async def test_a_disabled_account_is_refused(console, provider, database):
    subject = _person(provider, complaints_role="cs_agent")
    async with httpx.AsyncClient(base_url=console) as client:
        assert (await _sign_in(client, subject)).status_code == 303
        user = await staff.user_with_subject(database, subject)
        await disable_account(database, user.login, by="test")
        client.cookies.clear()
        refused = await _sign_in(client, subject)
    assert refused.status_code == 403 and "معطّل" in refused.text
    assert "complaints_console" not in refused.cookies
    assert (await _events(database, user.login))[-1] == ("sign_in_failed", "oidc: account disabled")


async def test_next_goes_only_to_a_console_page(console, provider):
    subject = _person(provider, complaints_role="cs_agent")
    async with httpx.AsyncClient(base_url=console) as client:
        answer = await _sign_in(client, subject, next="//evil.example/console/")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/queues"


async def test_an_answer_without_this_browsers_flow_opens_nothing(console, provider):
    subject = _person(provider, complaints_role="cs_agent")
    async with httpx.AsyncClient(base_url=console) as victim, httpx.AsyncClient(base_url=console) as attacker:
        # An attacker's own answer from the provider, handed to another browser (login CSRF).
        leave = await attacker.get("/console/sign-in/oidc")
        authorized = await attacker.post(leave.headers["location"], data={"sub": subject})
        planted = await victim.get(authorized.headers["location"])
        # And the attacker's browser with another state than the one it was given.
        query = parse_qs(urlsplit(authorized.headers["location"]).query)
        forged = await attacker.get("/console/sign-in/oidc/callback",
                                    params={"code": query["code"][0], "state": "another"})
    assert planted.status_code == 400 and "complaints_console" not in planted.cookies
    assert forged.status_code == 400 and "complaints_console" not in forged.cookies


async def test_the_flow_cookie_is_http_only_lax_and_only_for_the_flow(console):
    async with httpx.AsyncClient(base_url=console) as client:
        leave = await client.get("/console/sign-in/oidc")
    flow = next(c for c in client.cookies.jar if c.name == "complaints_oidc_flow")
    assert flow.path == "/console/sign-in/oidc" and flow.has_nonstandard_attr("HttpOnly")
    assert flow.get_nonstandard_attr("SameSite") == "lax"
    query = parse_qs(urlsplit(leave.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0] and query["client_id"] == ["complaints-console"]


async def test_without_an_issuer_there_is_no_button_and_no_flow(served_api):
    async with httpx.AsyncClient(base_url=served_api) as client:
        form = await client.get("/console/sign-in")
        flow = await client.get("/console/sign-in/oidc")
    assert "/console/sign-in/oidc" not in form.text
    assert flow.status_code == 404


async def test_a_flow_cookie_changed_in_the_browser_opens_nothing(console, provider):
    """The flow's cookie is signed: a browser that rewrites its nonce or its `next` is refused, not believed."""
    subject = _person(provider, complaints_role="cs_agent")
    async with httpx.AsyncClient(base_url=console) as client:
        leave = await client.get("/console/sign-in/oidc")
        authorized = await client.post(leave.headers["location"], data={"sub": subject})
        body, signature = client.cookies["complaints_oidc_flow"].rsplit(".", 1)
        flow = json.loads(base64.urlsafe_b64decode(body)) | {"nonce": "chosen-by-the-browser"}
        rewritten = base64.urlsafe_b64encode(json.dumps(flow).encode()).decode()
        client.cookies.set("complaints_oidc_flow", f"{rewritten}.{signature}", path="/console/sign-in/oidc")
        refused = await client.get(authorized.headers["location"])
    assert refused.status_code == 400 and "complaints_console" not in refused.cookies
