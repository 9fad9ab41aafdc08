"""Signing in to the staff console: sessions in PostgreSQL, locks after wrong passwords, CSRF on every form."""

import httpx
import pytest
from sqlmodel import select

from api.service.staff import session_for
from domain.kinds import Role
from store.models import StaffAuditEntry, StaffSession, StaffUser
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console import csrf_of, new_staff, signed_in_client

pytestmark = pytest.mark.asyncio


async def _audit(database, login: str) -> list[str]:
    async with database.session() as session:
        rows = await session.exec(select(StaffAuditEntry.event).where(StaffAuditEntry.login == login)
                                  .order_by(StaffAuditEntry.id))
        return list(rows.all())


async def test_sign_in_opens_a_session_row_behind_an_http_only_lax_cookie(served_api, database):
    account = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(served_api, account) as client:
        cookie = next(c for c in client.cookies.jar if c.name == "complaints_console")
        assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "lax"
        assert not cookie.secure  # plain HTTP here; Secure over HTTPS
        async with database.session() as session:
            user = (await session.exec(select(StaffUser).where(StaffUser.login == account.login))).one()
            rows = (await session.exec(select(StaffSession).where(StaffSession.user_id == user.id))).all()
        assert len(rows) == 1 and rows[0].token_hash != cookie.value  # only the token's hash is stored
    assert await _audit(database, account.login) == ["created", "signed_in"]


async def test_five_wrong_passwords_lock_the_login_even_for_the_right_password(served_api, database, settings):
    account = await new_staff(database, Role.DEPARTMENT, "CIVIL_STATUS")
    async with httpx.AsyncClient(base_url=served_api) as client:
        for _ in range(settings.staff_lock_after):
            form = await client.get("/console/sign-in")
            wrong = await client.post("/console/sign-in", data={
                "login": account.login, "password": "not the password", "csrf_token": csrf_of(form.text)})
            assert wrong.status_code == 401
        form = await client.get("/console/sign-in?lang=en")
        right = await client.post("/console/sign-in", data={
            "login": account.login, "password": account.password, "csrf_token": csrf_of(form.text), "lang": "en"})
    assert right.status_code == 401 and "locked" in right.text
    events = await _audit(database, account.login)
    assert events.count("sign_in_failed") == 5 and "locked" in events and events[-1] == "sign_in_refused_locked"


async def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(served_api, database, settings):
    account = await new_staff(database, Role.AUDITOR)
    async with signed_in_client(served_api, account) as client:
        token = client.cookies["complaints_console"]
        forged = await client.post("/console/sign-out", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        assert await session_for(database, settings, token) is not None  # still signed in
        page = await client.get("/console/sign-in")  # any console page carries the token in its forms
        home = await client.get("/console/", follow_redirects=False)
        assert home.status_code == 303 and page.status_code == 200


async def test_sign_out_ends_the_session_in_the_database(served_api, database, settings):
    account = await new_staff(database, Role.AUDITOR)
    async with signed_in_client(served_api, account) as client:
        token = client.cookies["complaints_console"]
        session = await session_for(database, settings, token)
        out = await client.post("/console/sign-out", data={"csrf_token": session.csrf_token})
        assert out.status_code == 303
        assert await session_for(database, settings, token) is None
        client.cookies.set("complaints_console", token)  # a copied cookie opens nothing either
        again = await client.get("/console/")
        assert again.status_code == 303 and again.headers["location"].startswith("/console/sign-in")


async def test_the_sign_in_page_carries_the_security_headers(served_api):
    async with httpx.AsyncClient(base_url=served_api) as client:
        answer = await client.get("/console/sign-in")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert answer.headers["referrer-policy"] == "same-origin"
    assert 'dir="rtl"' in answer.text and 'lang="ar"' in answer.text


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_the_sign_in_page_in_chromium_loads_nothing_from_elsewhere(offline_page, screenshots, language):
    page = offline_page.page
    await page.goto(f"{offline_page.origin}/console/sign-in?lang={language}")
    await page.wait_for_load_state("networkidle")
    assert await page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    # The vendored Arabic font is the one the page uses, not a system fallback.
    assert await page.evaluate("document.fonts.check('16px \"Noto Sans Arabic\"', 'تسجيل')")
    await page.screenshot(path=screenshots / f"console-sign-in-{language}.png", full_page=True)
    await assert_accessible(page, f"console-sign-in-{language}")
    assert offline_page.outside_requests == []


async def test_the_language_of_the_sign_in_page_stays_with_the_session(served_api, database, settings):
    account = await new_staff(database, Role.AUDITOR)
    async with httpx.AsyncClient(base_url=served_api) as client:
        form = await client.get("/console/sign-in?lang=en")
        await client.post("/console/sign-in", data={"login": account.login, "password": account.password,
                                                     "csrf_token": csrf_of(form.text), "lang": "en"})
        session = await session_for(database, settings, client.cookies["complaints_console"])
    assert session.language == "en"
