"""The ways a message reaches a person: email over SMTP, SMS through an HTTP gateway, a signed callback to a channel.

Every failure is a DeliveryFailed whose reason names the transport and what went wrong, never the
recipient or the text: reasons end up in Temporal's failures and on the case's timeline.
"""

import hashlib
import hmac
import html
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
import httpx
from jinja2 import Environment, StrictUndefined

from activities.messages import ISOLATE_END, ISOLATE_START, RenderedMessage
from core.settings import ChannelCallback, Settings

HTTP_TIMEOUT = httpx.Timeout(15.0)
SMTP_TIMEOUT = 20.0
# Statuses after which the same request may succeed later; any other 4xx is the request's own fault.
# 401 and 403 are our credentials, not the message: a gateway's rotated password is put right in
# settings, and the messages waiting meanwhile must still go out then.
_TRANSIENT_HTTP = {401, 403, 408, 425, 429}


# Called once the receiver has taken the message, to record it as sent before anything else can fail.
Accepted = Callable[[], Awaitable[None]]


class DeliveryFailed(Exception):
    """A transport could not deliver; permanent means trying again cannot help (a refused address, a 4xx)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Envelope:
    """One message on its way: where to, what, and the key that makes a second send of it recognisable."""

    address: str
    message: RenderedMessage
    idempotency_key: str
    reference: str
    template: str
    facts: dict


class EmailTransport:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, envelope: Envelope, accepted: Accepted) -> None:
        settings = self._settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            start_tls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=password,
            tls_context=self._tls_context(),
            timeout=SMTP_TIMEOUT,
        )
        kept = False
        try:
            async with client:
                await client.send_message(self._email(envelope))
                kept = True
                # Recorded before QUIT: the moment between the server keeping a message and our
                # record of it is the one in which a crash makes the next attempt send it again.
                await accepted()
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = sorted({response.code for response in refused.recipients})
            # 5xx is a refusal for good; 4xx (greylisting, a full mailbox, a lookup that failed) may pass later.
            permanent = all(code >= 500 for code in codes)
            raise DeliveryFailed(f"email: the mail server refused the recipient (SMTP {codes})",
                                 permanent=permanent) from None
        except aiosmtplib.SMTPAuthenticationError as error:
            raise DeliveryFailed(f"email: login to the mail server failed (SMTP {error.code})") from None
        except aiosmtplib.SMTPResponseException as error:
            if kept:
                return  # only QUIT failed, after the message was kept and recorded
            permanent = 500 <= error.code < 600
            raise DeliveryFailed(f"email: the mail server answered SMTP {error.code}", permanent=permanent) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            if kept:
                return
            raise DeliveryFailed(f"email: could not reach the mail server ({type(error).__name__})") from None

    def _addressed(self, envelope: Envelope, subject: str) -> EmailMessage:
        """An email to the envelope's address, its Message-ID the idempotency key: a resend after a crash is the
        same message to any mail system."""
        email = EmailMessage()
        email["From"] = self._settings.smtp_from
        email["To"] = envelope.address
        email["Subject"] = subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = f"<{envelope.idempotency_key}@{self._settings.smtp_from.rpartition('@')[2]}>"
        return email

    def _email(self, envelope: Envelope) -> EmailMessage:
        rendered = envelope.message
        email = self._addressed(envelope, rendered.subject)
        email.set_content(rendered.body)
        email.add_alternative(_html(rendered), subtype="html")
        # After the content: set_content replaces every Content-* header.
        email["Content-Language"] = rendered.language
        return email

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self._settings.smtp_starttls:
            return None
        context = ssl.create_default_context()
        if self._settings.smtp_ca_file:
            context.load_verify_locations(cafile=str(self._settings.smtp_ca_file))
        return context


def _html(rendered: RenderedMessage) -> str:
    """The HTML part, so that mail clients lay Arabic out right to left."""
    direction = "rtl" if rendered.language == "ar" else "ltr"
    paragraphs = "".join(
        f"<p>{_isolates_as_bdi(html.escape(paragraph)).replace(chr(10), '<br>')}</p>"
        for paragraph in rendered.body.strip().split("\n\n")
    )
    return (
        f'<!DOCTYPE html><html lang="{rendered.language}" dir="{direction}"><head><meta charset="utf-8">'
        f"<title>{html.escape(rendered.subject)}</title></head>"
        f'<body dir="{direction}" style="font-family: Arial, sans-serif">{paragraphs}</body></html>'
    )


def _isolates_as_bdi(paragraph: str) -> str:
    """Staff-written runs (activities.messages.isolate) as <bdi dir="auto">, which every mail client honours."""
    return paragraph.replace(ISOLATE_START, '<bdi dir="auto">').replace(ISOLATE_END, "</bdi>")


class SmsTransport:
    name = "sms"

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client
        self._body = Environment(undefined=StrictUndefined, autoescape=False).from_string(settings.sms_body_template)

    async def send(self, envelope: Envelope, accepted: Accepted) -> None:
        settings = self._settings
        body = self._body.render(to=envelope.address, text=envelope.message.sms,
                                 idempotency_key=envelope.idempotency_key)
        auth = None
        if settings.sms_username:
            password = settings.sms_password.get_secret_value() if settings.sms_password else ""
            auth = httpx.BasicAuth(settings.sms_username, password)
        await _post(
            self._client, "sms gateway", settings.sms_url, body.encode(),
            {"Content-Type": "application/json", "Idempotency-Key": envelope.idempotency_key}, auth,
        )
        await accepted()


class CallbackTransport:
    """POSTs the message to the channel the case came from, signed so the channel knows it is ours."""

    name = "callback"

    def __init__(self, callback: ChannelCallback, client: httpx.AsyncClient) -> None:
        self._callback = callback
        self._client = client

    async def send(self, envelope: Envelope, accepted: Accepted) -> None:
        body = json.dumps(
            {
                "event": envelope.template,
                "reference": envelope.reference,
                "idempotency_key": envelope.idempotency_key,
                "language": envelope.message.language,
                "subject": envelope.message.subject,
                "text": envelope.message.body,
                **envelope.facts,
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": envelope.idempotency_key,
            "X-Complaints-Timestamp": timestamp,
            "X-Complaints-Signature": "sha256=" + sign(self._callback.secret.get_secret_value(), timestamp, body),
        }
        await _post(self._client, "channel callback", self._callback.url, body, headers, None)
        await accepted()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`: a receiver recomputes it and refuses old timestamps (replays)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def _post(client: httpx.AsyncClient, what: str, url: str, body: bytes, headers: dict, auth) -> None:
    try:
        response = await client.post(url, content=body, headers=headers, auth=auth, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{what}: could not reach it ({type(error).__name__})") from None
    if response.is_success:
        return
    status = response.status_code
    permanent = 400 <= status < 500 and status not in _TRANSIENT_HTTP
    raise DeliveryFailed(f"{what}: answered HTTP {status}", permanent=permanent)
