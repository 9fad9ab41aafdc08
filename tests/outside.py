"""Real servers on 127.0.0.1 for the outside parties: a mail server, an SMS gateway, a channel's callback URL.

The mail server is the very mail sink `complaints dev` runs (aiosmtpd, .eml files in a folder);
the HTTP side is a small ASGI app under uvicorn that records every request.
"""

import asyncio
import datetime
import ipaddress
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.embedded import free_port
from core.mailsink import MailFolder

# A recipient address containing this is refused by the test mail server (a permanent failure).
REFUSED_MARK = "refused"
# One containing this is greylisted: refused for now (450) the first time, taken when tried again.
GREYLISTED_MARK = "greylisted"


class TestMailFolder(MailFolder):
    """The dev mail sink, plus a refusal for marked recipients so the failure path can be tested."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self._lock = threading.Lock()
        self._parsed: list[EmailMessage] = []
        self._by_recipient: dict[str, list[EmailMessage]] = {}
        # How often each refused or greylisted address was asked for.
        self.turned_away: Counter[str] = Counter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        if REFUSED_MARK in address:
            self.turned_away[address] += 1
            return "550 5.1.1 mailbox unavailable"
        if GREYLISTED_MARK in address and self.turned_away[address] == 0:
            self.turned_away[address] += 1
            return "450 4.2.0 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        answer = await super().handle_DATA(server, session, envelope)
        # Parsed once, as it arrives (in the server's thread): tests poll these lists many times a second,
        # and re-reading thousands of files each time would starve the event loop the worker shares.
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        with self._lock:
            self._parsed.append(message)
            self._by_recipient.setdefault(str(message["To"]), []).append(message)
        return answer

    def parsed(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._parsed)

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return list(self._by_recipient.get(address, []))


@dataclass
class MailServer:
    host: str
    port: int
    folder: TestMailFolder
    controller: Controller


def start_mail_server(folder: Path, **smtp_options) -> MailServer:
    handler = TestMailFolder(folder)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_options)
    controller.start()
    return MailServer("127.0.0.1", port, handler, controller)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class HttpSink:
    """Records every POST; answers each path with the status set for it (200 by default)."""

    received: list[Received] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [request for request in self.received if request.path == path]

    async def _record(self, request: Request) -> JSONResponse:
        status = self.statuses.get(request.url.path, 200)
        self.received.append(Received(request.url.path, dict(request.headers), await request.body(), status))
        return JSONResponse({"ok": status < 400}, status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._record, methods=["POST"])])


async def serve_http_sink(sink: HttpSink) -> tuple[uvicorn.Server, asyncio.Task]:
    sink.port = free_port()
    server = uvicorn.Server(uvicorn.Config(sink.app(), host="127.0.0.1", port=sink.port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, for STARTTLS; the client trusts it as its CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class PasswordCheck:
    """aiosmtpd authenticator that accepts one user name and password and remembers who logged in."""

    def __init__(self, username: str, password: str) -> None:
        self._expected = (username.encode(), password.encode())
        self.logins: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        given = (auth_data.login, auth_data.password)
        if given == self._expected:
            with self._lock:
                self.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
