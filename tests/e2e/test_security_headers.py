"""Every answer carries the site's security headers (web/security.py), HSTS only over HTTPS, the session cookie is
Secure over HTTPS, and no console page has an inline script, a <style> or a style="" attribute for the
Content-Security-Policy to refuse (so a page that needed one would break in the browser, silently)."""

import datetime
import ipaddress
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.app import create_app
from api.service.staff import session_for
from domain.kinds import Role
from tests.e2e.conftest import serving
from tests.e2e.console import StaffAccount, csrf_of, new_staff, signed_in_client
from tests.e2e.identity_provider import console_with_single_sign_on, running_provider
from web.console.navigation import menu_of

pytestmark = pytest.mark.asyncio

def assert_site_headers(answer: httpx.Response) -> None:
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy, policy
    assert "http:" not in policy and "https:" not in policy and "*" not in policy, policy  # no outside origin
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


# --- Every kind of answer, over plain HTTP: no HSTS there.

async def _every_kind_of_answer(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    return {
        "console page": await client.get("/console/sign-in"),
        "console redirect": await client.get("/console/"),
        "static file": await client.get("/static/console/console.css"),
        "vendored script": await client.get("/static/vendor/htmx/htmx.min.js"),
        "JSON answer": await client.get("/healthz"),
        "JSON error": await client.get("/v1/cases"),  # 401, no key
        "JSON 404": await client.get("/v1/no-such-route"),
        "missing static file": await client.get("/static/console/no-such-file.css"),
        "console error page": await client.post("/console/sign-in", data={"login": "x", "password": "y"}),  # 403
        "API docs": await client.get("/docs"),
        "OpenAPI document": await client.get("/openapi.json"),
    }


async def test_every_kind_of_answer_carries_the_headers_and_no_hsts_over_http(served_api):
    async with httpx.AsyncClient(base_url=served_api) as client:
        answers = await _every_kind_of_answer(client)
    statuses = {kind: answer.status_code for kind, answer in answers.items()}
    assert statuses == {"console page": 200, "console redirect": 303, "static file": 200, "vendored script": 200,
                        "JSON answer": 200, "JSON error": 401, "JSON 404": 404, "missing static file": 404,
                        "console error page": 403, "API docs": 200, "OpenAPI document": 200}
    for kind, answer in answers.items():
        assert_site_headers(answer), kind
        assert "strict-transport-security" not in answer.headers, kind
    # The console's error page is a page, in words, not the API's JSON error.
    assert answers["console error page"].headers["content-type"].startswith("text/html")
    # The console's own policy: scripts and styles from this origin only, no inline ones.
    policy = answers["console page"].headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "unsafe-inline" not in policy


async def test_over_an_https_scope_every_answer_carries_hsts(services):
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="https://complaints.test") as client:
        answers = await _every_kind_of_answer(client)
    for kind, answer in answers.items():
        assert_site_headers(answer), kind
        assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", kind


# --- Over real TLS: uvicorn with a certificate made here.

@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> Certificate:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
async def served_over_https(services, self_signed) -> AsyncIterator[str]:
    async with serving(services, ssl_certfile=str(self_signed.cert), ssl_keyfile=str(self_signed.key)) as base_url:
        yield base_url


async def test_over_https_answers_carry_hsts_and_the_session_cookie_is_secure(served_over_https, self_signed,
                                                                             database):
    account = await new_staff(database, Role.AUDITOR)
    async with httpx.AsyncClient(base_url=served_over_https, verify=str(self_signed.cert)) as client:
        answers = await _every_kind_of_answer(client)
        form = await client.get("/console/sign-in")
        signed_in = await client.post("/console/sign-in", data={
            "login": account.login, "password": account.password, "csrf_token": csrf_of(form.text)})
    assert served_over_https.startswith("https://")
    for kind, answer in answers.items():
        assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", kind
    assert signed_in.status_code == 303
    cookie = _set_cookie(signed_in, "complaints_console")
    assert {"secure", "httponly", "samesite=lax"} <= cookie


async def test_over_plain_http_the_session_cookie_is_not_secure(served_api, database):
    account = await new_staff(database, Role.AUDITOR)
    async with httpx.AsyncClient(base_url=served_api) as client:
        form = await client.get("/console/sign-in")
        signed_in = await client.post("/console/sign-in", data={
            "login": account.login, "password": account.password, "csrf_token": csrf_of(form.text)})
    cookie = _set_cookie(signed_in, "complaints_console")
    assert "secure" not in cookie and {"httponly", "samesite=lax"} <= cookie


def _set_cookie(answer: httpx.Response, name: str) -> set[str]:
    """The attributes of the Set-Cookie header for `name`, lower case."""
    header = next(value for value in answer.headers.get_list("set-cookie") if value.startswith(f"{name}="))
    return {part.strip().lower() for part in header.split(";")[1:]}


# --- No console page needs what the policy refuses.

@dataclass
class PageParts(HTMLParser):
    """What a page has that a strict Content-Security-Policy refuses, and the console links it offers."""

    refused: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name == "style":
                self.refused.append(f"<{tag} style=…>")
            if name.startswith("on"):
                self.refused.append(f"<{tag} {name}=…> (an inline event handler)")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.refused.append(f"<{tag} {name}=javascript:…>")
        if tag == "style":
            self.refused.append("<style> element")
        if tag == "script":
            self._in_script = "src" not in attributes
            self._check_same_origin(tag, attributes.get("src"))
        if tag == "link":
            self._check_same_origin(tag, attributes.get("href"))
        if tag == "img":
            self._check_same_origin(tag, attributes.get("src"))
        if tag == "a" and (attributes.get("href") or "").startswith("/console/"):
            self.links.append(attributes["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.refused.append(f"inline <script>: {data.strip()[:60]}")

    def _check_same_origin(self, tag: str, url: str | None) -> None:
        if url and (urlsplit(url).netloc or url.startswith("//")):
            self.refused.append(f"<{tag}> from another origin: {url}")


def refused_parts(html: str) -> PageParts:
    parts = PageParts()
    parts.feed(html)
    return parts


def test_the_check_finds_what_the_policy_refuses():
    page = ('<p style="color:red" onclick="x()">a</p><style>p{}</style><script>alert(1)</script>'
            '<script src="https://cdn.example/x.js"></script><a href="javascript:void(0)">b</a>'
            '<script src="/static/ok.js"></script><a href="/console/queues">q</a>')
    parts = refused_parts(page)
    assert len(parts.refused) == 6, parts.refused
    assert parts.links == ["/console/queues"]


@pytest.fixture(scope="module")
def provider() -> Iterator:
    with running_provider() as running:
        yield running


def _shape(path: str) -> str:
    """A page's kind: its path without query, any case reference or file id (one case page stands for all)."""
    bare = path.split("#", 1)[0].split("?", 1)[0]
    return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "ID", re.sub(r"[CRS]-\d{4}-\d{6}", "REF", bare))


async def _pages_of(client: httpx.AsyncClient, start: list[str], *, most: int = 60) -> dict[str, str]:
    """Every kind of console page reachable from `start` through the console's own links: {path: HTML}."""
    seen: dict[str, str] = {}
    shapes: set[str] = set()
    waiting = list(start)
    while waiting and len(seen) < most:
        path = waiting.pop(0)
        if path in seen or "/sign-out" in path or (path not in start and _shape(path) in shapes):
            continue
        shapes.add(_shape(path))
        answer = await client.get(path, follow_redirects=True)
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue
        seen[path] = answer.text
        assert_site_headers(answer)
        waiting += [urljoin(path, link) for link in refused_parts(answer.text).links]
    return seen


async def _signed_in_pages(base_url: str, account: StaffAccount, database, settings) -> dict[str, str]:
    """The pages a person of this role reaches from their menu, in both languages, and a refused form."""
    pages: dict[str, str] = {}
    async with signed_in_client(base_url, account) as client:
        csrf_token = (await session_for(database, settings, client.cookies["complaints_console"])).csrf_token
        start = ["/console/", *(link.href for link in menu_of(account.role))]
        for language in ("ar", "en"):
            switched = await client.post("/console/language", data={"csrf_token": csrf_token, "language": language})
            assert switched.status_code == 303
            pages |= {f"{path} ({language})": html for path, html in (await _pages_of(client, start)).items()}
        forged = await client.post("/console/sign-out", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        pages["a refused form"] = forged.text
    return pages


async def test_no_console_page_has_an_inline_script_or_style(served_api, database, services, settings, provider):
    pages: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=served_api) as client:
        for language in ("ar", "en"):
            pages[f"sign-in ({language})"] = (await client.get(f"/console/sign-in?lang={language}")).text
            wrong = await client.post("/console/sign-in", data={"login": "nobody", "password": "wrong",
                                                                "lang": language})
            pages[f"sign-in refused form ({language})"] = wrong.text
    for role, department in [(Role.CS_AGENT, None), (Role.CALL_CENTRE, None), (Role.DEPARTMENT, "CIVIL_STATUS"),
                             (Role.DIRECTOR_GENERAL, None), (Role.AUDITOR, None), (Role.ADMIN, None)]:
        account = await new_staff(database, role, department)
        for path, html in (await _signed_in_pages(served_api, account, database, settings)).items():
            pages[f"{path} as {role.value}"] = html
    # Single sign-on's pages: the button on the sign-in page, and a refusal.
    async with console_with_single_sign_on(services, provider) as console, httpx.AsyncClient(
            base_url=console) as client:
        pages["sign-in with the ministry account's button"] = (await client.get("/console/sign-in")).text
        pages["single sign-on refused"] = (await client.get("/console/sign-in/oidc/callback?state=x&code=y")).text
    assert "/console/sign-in/oidc" in pages["sign-in with the ministry account's button"]
    problems = {name: refused_parts(html).refused for name, html in pages.items() if refused_parts(html).refused}
    assert not problems, problems
    assert len(pages) >= 10, sorted(pages)
