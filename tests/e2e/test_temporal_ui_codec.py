"""Operators in the Temporal UI: a customer-service person signed in to the console sees a case's decoded input
there (the UI's codec calls carry the console's cookie), a signed-out browser sees it sealed; the codec endpoint
also takes the identity provider's access tokens, for a UI that signs in with OpenID Connect itself."""

import contextlib
import os
import re
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from api.deps import Services
from core.embedded import TemporalDevServer, free_port, start_in_background, stop_process
from core.temporal import connect_when_ready
from domain.kinds import Role
from tests.closing import stop_every_running_case
from tests.conftest import CALM_WORKING_DAY_SECONDS, running_workers, services_for
from tests.e2e.conftest import serving
from tests.e2e.console import new_staff, signed_in_client, signed_in_page
from tests.e2e.identity_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    IdentityProvider,
    running_provider,
    services_with_single_sign_on,
)
from tests.helpers import bearer, complaint

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parents[2]
README_SCREENSHOT = REPO / "docs" / "temporal-ui-decoded.png"
SEALED = re.compile(r'^"[A-Za-z0-9+/]+=*"$')


@dataclass(frozen=True)
class UiStack:
    """A Temporal dev server with its UI, whose codec endpoint is the API served beside it."""

    api: str
    ui: str
    services: Services

    @property
    def codec_endpoint(self) -> str:
        return f"{self.api}/v1/codec"


@pytest.fixture(scope="module", autouse=True)
async def stop_the_cases_of_the_module(temporal_client) -> AsyncIterator[None]:
    """As tests/conftest.py's, with the session's client asked for up front (the module's first fixture needs no
    Temporal, so the shared one would make the client from inside a running event loop)."""
    yield
    await stop_every_running_case(temporal_client)


@pytest.fixture(scope="module")
def ui_server() -> Iterator[tuple[TemporalDevServer, int]]:
    """The session's Temporal runs headless; the UI comes with a dev server of its own, as `complaints dev`
    starts it: `--ui-codec-endpoint` names the API's codec (on a port chosen before the API starts)."""
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-ui-"))
    api_port = free_port()
    server = TemporalDevServer(data_dir, port=free_port(), ui_port=free_port(),
                               codec_endpoint=f"http://127.0.0.1:{api_port}/v1/codec")
    process = start_in_background(server, data_dir / "temporal.log")
    try:
        yield server, api_port
    finally:
        stop_process(process, server.stop_signal)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def ui_stack(ui_server, settings, database) -> AsyncIterator[UiStack]:
    server, api_port = ui_server
    # A calm calendar: the case waits in its first step while the test looks at it.
    configured = settings.model_copy(update={
        "temporal_address": server.address, "temporal_ui_port": server.ui_port,
        "task_queue": "complaints-test-ui", "working_day_seconds": CALM_WORKING_DAY_SECONDS})
    temporal = await connect_when_ready(configured)
    services = services_for(configured, database, temporal)
    async with running_workers(temporal, configured, database), serving(services, port=api_port) as api:
        yield UiStack(api=api, ui=server.ui_url, services=services)
        await stop_every_running_case(temporal)


async def _new_case(stack: UiStack, channel_key: str) -> tuple[str, str]:
    """A case submitted through the API beside the UI: (its reference, its subject)."""
    subject = f"Passport renewal delayed {uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=stack.api) as client:
        answer = await client.post("/v1/cases", json=complaint(subject=subject), headers=bearer(channel_key))
    assert answer.status_code == 201, answer.text
    return answer.json()["reference"], subject


async def _use_the_codec_with_credentials(page: Page, stack: UiStack) -> None:
    """What the operator does once in a browser: the UI's codec settings, this endpoint, cross-origin credentials
    on (the dev server's flag sets the endpoint, not the credentials)."""
    await page.goto(f"{stack.ui}/namespaces/default/workflows")
    await page.get_by_test_id("data-encoder-status-configured").click()
    await page.get_by_test_id("use-local-endpoint-input").check()
    await page.get_by_placeholder("Paste your endpoint here").fill(stack.codec_endpoint)
    await page.locator("label", has=page.locator("#pass-access-credentials")).click()
    await expect(page.locator("#pass-access-credentials")).to_be_checked()
    await page.get_by_role("button", name="Apply").click()


async def _workflow_input(page: Page, stack: UiStack, reference: str) -> Locator:
    """The case's workflow page in the UI, and its Input box once the UI has filled it."""
    await page.goto(f"{stack.ui}/namespaces/default/workflows/case-{reference}")
    shown = page.get_by_role("textbox", name="Input")
    await expect(shown).to_contain_text('"', timeout=30_000)
    return shown


async def _scroll_until_shown(shown: Locator, text: str) -> None:
    """The box draws only the lines in view (CodeMirror): scroll it down until `text` is among them."""
    scroller = shown.locator("xpath=ancestor::div[contains(@class, 'cm-scroller')]")
    height = await scroller.evaluate("box => box.scrollHeight")
    for top in range(0, height + 200, 200):
        await scroller.evaluate("(box, top) => { box.scrollTop = top; }", top)
        with contextlib.suppress(AssertionError):
            await expect(shown).to_contain_text(text, timeout=1000)
            return
    await expect(shown).to_contain_text(text)  # fails, saying what the box shows


async def test_a_signed_in_customer_service_person_sees_the_decoded_input_in_the_temporal_ui(
        browser: Browser, ui_stack: UiStack, database, keys, screenshots):
    reference, subject = await _new_case(ui_stack, keys.channel)
    account = await new_staff(database, Role.CS_AGENT)
    context, page = await signed_in_page(browser, ui_stack.api, account, language="en", width=1440)
    try:
        await _use_the_codec_with_credentials(page, ui_stack)
        shown = await _workflow_input(page, ui_stack, reference)
        await expect(shown).to_contain_text('"channel": "website"')
        await _scroll_until_shown(shown, f'"subject": "{subject}"')
        await shown.get_by_text(subject).scroll_into_view_if_needed()
        await page.screenshot(path=screenshots / "temporal-ui-decoded.png", full_page=False)
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
            # The README's picture, committed: made again only when asked, so a test run leaves git clean.
            await page.screenshot(path=README_SCREENSHOT, full_page=False)
    finally:
        await context.close()


async def test_a_signed_out_browser_sees_the_input_sealed(browser: Browser, ui_stack: UiStack, keys, screenshots):
    reference, subject = await _new_case(ui_stack, keys.channel)
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    refused: list[int] = []
    page.on("response", lambda response: refused.append(response.status)
            if response.url.startswith(f"{ui_stack.codec_endpoint}/decode") else None)
    try:
        await _use_the_codec_with_credentials(page, ui_stack)
        shown = await _workflow_input(page, ui_stack, reference)
        # What the UI shows of a payload it could not open: its sealed bytes, base64.
        await expect(shown).to_have_text(SEALED)
        await page.screenshot(path=screenshots / "temporal-ui-sealed.png", full_page=False)
        assert subject not in await page.content()
        assert refused and set(refused) == {401}  # the UI asked, and the codec would not open it
    finally:
        await context.close()


async def test_a_department_officers_session_is_refused_by_the_codec(browser: Browser, ui_stack: UiStack, database,
                                                                     keys):
    reference, subject = await _new_case(ui_stack, keys.channel)
    account = await new_staff(database, Role.DEPARTMENT, "CIVIL_STATUS")
    context, page = await signed_in_page(browser, ui_stack.api, account, language="en", width=1440)
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status)
            if response.url.startswith(f"{ui_stack.codec_endpoint}/decode") else None)
    try:
        await _use_the_codec_with_credentials(page, ui_stack)
        shown = await _workflow_input(page, ui_stack, reference)
        # What the UI shows of a payload it could not open: its sealed bytes, base64.
        await expect(shown).to_have_text(SEALED)
        assert subject not in await page.content()
        assert statuses and set(statuses) == {403}
    finally:
        await context.close()


# --- The codec's answers to a browser's calls and to access tokens, over HTTP.

async def _sealed_payloads(services: Services, text: str) -> dict:
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    sealed = await services.temporal.data_converter.encode([text])
    return json_format.MessageToDict(Payloads(payloads=sealed))


async def test_the_preflight_allows_the_uis_credentials_and_headers(served_api, services):
    ui = services.settings.resolved_codec_ui_origin()
    async with httpx.AsyncClient(base_url=served_api) as client:
        preflight = await client.options("/v1/codec/decode", headers={
            "Origin": ui, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ui
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert {"content-type", "x-namespace"} <= {
        header.strip().lower() for header in preflight.headers["access-control-allow-headers"].split(",")}


@pytest.mark.parametrize(("role", "department", "status"), [
    (Role.CS_AGENT, None, 200), (Role.AUDITOR, None, 200), (Role.DEPARTMENT, "CIVIL_STATUS", 403),
    (Role.DIRECTOR_GENERAL, None, 403), (Role.CALL_CENTRE, None, 403), (Role.ADMIN, None, 403)])
async def test_the_console_session_opens_payloads_for_the_roles_that_may_decode(
        served_api, services, database, role, department, status):
    sealed = await _sealed_payloads(services, "a secret")
    account = await new_staff(database, role, department)
    async with signed_in_client(served_api, account) as client:
        answer = await client.post("/v1/codec/decode", json=sealed,
                                   headers={"Origin": services.settings.resolved_codec_ui_origin()})
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.headers["access-control-allow-credentials"] == "true"
        assert answer.json()["payloads"][0]["metadata"]["encoding"] == "anNvbi9wbGFpbg=="  # json/plain


async def test_without_a_live_session_the_codec_answers_401(served_api, services, database):
    sealed = await _sealed_payloads(services, "a secret")
    async with httpx.AsyncClient(base_url=served_api) as client:
        nobody = await client.post("/v1/codec/decode", json=sealed)
        client.cookies.set("complaints_console", secrets.token_urlsafe(32))
        made_up = await client.post("/v1/codec/decode", json=sealed)
    assert (nobody.status_code, made_up.status_code) == (401, 401)


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProvider]:
    with running_provider() as running:
        yield running


def _tokens(provider: IdentityProvider, subject: str) -> dict:
    """The provider's tokens for `subject`, as a client that signed them in gets them (the Temporal UI here)."""
    callback = "http://127.0.0.1/callback"
    authorized = httpx.post(f"{provider.issuer}/oauth2/authorize", params={
        "client_id": CLIENT_ID, "response_type": "code", "redirect_uri": callback, "scope": "openid profile",
        "state": "s", "nonce": secrets.token_hex(8)}, data={"sub": subject})
    code = parse_qs(urlsplit(authorized.headers["location"]).query)["code"][0]
    tokens = httpx.post(f"{provider.issuer}/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": callback,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


@pytest.fixture(scope="module")
async def codec_with_provider(services, provider) -> AsyncIterator[str]:
    async with serving(services_with_single_sign_on(services, provider)) as base_url:
        yield base_url


@pytest.mark.parametrize(("claims", "status"), [
    ({"complaints_role": "cs_agent"}, 200), ({"complaints_role": "auditor"}, 200),
    ({"complaints_role": "department", "complaints_department": "CIVIL_STATUS"}, 403),
    ({"complaints_role": "director_general"}, 403), ({"complaints_role": "superuser"}, 401), ({}, 401)])
async def test_the_identity_providers_access_token_opens_payloads_for_the_roles_that_may_decode(
        codec_with_provider, provider, services, claims, status):
    subject = f"operator-{secrets.token_hex(4)}"
    provider.person(subject, **claims)
    # The mock provider's access tokens are opaque; its ID tokens are JWTs signed with the keys of its JWKS, as
    # the access tokens of Keycloak or Entra ID are, with our client as their audience.
    tokens = _tokens(provider, subject)
    sealed = await _sealed_payloads(services, "a secret")
    async with httpx.AsyncClient(base_url=codec_with_provider) as client:
        answer = await client.post("/v1/codec/decode", json=sealed, headers=bearer(tokens["id_token"]))
        opaque = await client.post("/v1/codec/decode", json=sealed, headers=bearer(tokens["access_token"]))
    assert answer.status_code == status, answer.text
    assert opaque.status_code == 401  # not a JWT: nothing to check it against


async def test_an_access_token_for_another_audience_or_tampered_with_is_refused(services, provider):
    subject = f"operator-{secrets.token_hex(4)}"
    provider.person(subject, complaints_role="cs_agent")
    token = _tokens(provider, subject)["id_token"]
    header, claims, signature = token.split(".")
    tampered = ".".join([header, claims, signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")])
    sealed = await _sealed_payloads(services, "a secret")
    other_audience = services_with_single_sign_on(services, provider, oidc_codec_audience="temporal-ui")
    async with serving(other_audience) as elsewhere, serving(services_with_single_sign_on(services, provider)) as ours:
        async with httpx.AsyncClient() as client:
            for_another = await client.post(f"{elsewhere}/v1/codec/decode", json=sealed, headers=bearer(token))
            forged = await client.post(f"{ours}/v1/codec/decode", json=sealed, headers=bearer(tampered))
            genuine = await client.post(f"{ours}/v1/codec/decode", json=sealed, headers=bearer(token))
    assert (for_another.status_code, forged.status_code, genuine.status_code) == (401, 401, 200)

