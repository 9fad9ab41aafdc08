"""Every setting of the service, read from the environment and `.env`."""

import os
import secrets
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, PositiveFloat, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OWNER_ONLY_FOLDER = 0o700
OWNER_ONLY_FILE = 0o600


def private_folder(path: Path) -> Path:
    """Make `path` if missing and let only its owner in: the data dir holds secrets and personal data."""
    path.mkdir(mode=OWNER_ONLY_FOLDER, parents=True, exist_ok=True)
    path.chmod(OWNER_ONLY_FOLDER)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace a file with one only its owner can read; a process reading it sees the old text or the new."""
    partial = path.with_name(f".{path.name}.partial")
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY_FILE), "w") as file:
        os.fchmod(file.fileno(), OWNER_ONLY_FILE)  # a partial left by a crash may have had other bits
        file.write(text)
    partial.replace(path)


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """A development secret made once, readable by its owner only; the first process to write it wins."""
    if not path.exists():
        path.parent.mkdir(mode=OWNER_ONLY_FOLDER, parents=True, exist_ok=True)
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE), "w") as file:
                file.write(make())
        except FileExistsError:
            pass
    return path.read_text().strip()


class NotConfigured(RuntimeError):
    """What a command needs is not there (a setting, a server of the stack); the message says in one line what to do."""


def _project_folder() -> Path | None:
    """The clone this code runs from (an editable install, as `make install` makes), else None (an installed
    package)."""
    folder = Path(__file__).resolve().parent.parent
    return folder if (folder / "pyproject.toml").is_file() and (folder / "policy.toml").is_file() else None


# Where a relative default is taken from: the clone, whatever folder a command is run in, so that every
# command finds the stack's data dir (its database URL, its codec keys) and the policy; an installed
# package takes them from the current folder, as the image does.
DEFAULTS_FOLDER = _project_folder() or Path()


class ChannelCallback(BaseModel):
    """Where a channel (e.g. Tajawob) takes messages for its submitters, and the secret it verifies them with."""

    url: str
    secret: SecretStr

    @field_validator("url")
    @classmethod
    def _https_unless_local(cls, url: str) -> str:
        parts = urlsplit(url)
        local = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("must be an https:// URL (http:// only for 127.0.0.1)")
        return url


class Settings(BaseSettings):
    """One place for configuration; names are the environment variables an operator sets."""

    # The clone's .env, then the current folder's (which wins where both set a variable).
    model_config = SettingsConfigDict(
        env_file=(DEFAULTS_FOLDER / ".env", ".env"), extra="ignore", populate_by_name=True
    )

    environment: Literal["development", "production"] = Field(
        default="development",
        alias="COMPLAINTS_ENV",
        description="`production` refuses to start without real secrets and never makes one in the data dir.",
    )

    database_url: str | None = Field(
        default=None,
        alias="DATABASE_URL",
        description="PostgreSQL URL; unset means the embedded PostgreSQL under the data dir.",
    )
    temporal_address: str | None = Field(
        default=None,
        alias="TEMPORAL_ADDRESS",
        description="host:port of Temporal's frontend; unset means the embedded dev server.",
    )
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(default="complaints", alias="COMPLAINTS_TASK_QUEUE")
    data_dir: Path = Field(
        default=DEFAULTS_FOLDER / ".data",
        alias="COMPLAINTS_DATA_DIR",
        description="PostgreSQL's data, Temporal's SQLite file and the development secrets; default the clone's .data.",
    )
    api_host: str = Field(default="127.0.0.1", alias="COMPLAINTS_API_HOST")
    api_port: int = Field(default=8000, alias="COMPLAINTS_API_PORT")
    # Intake speed (issue 15): how many API processes `complaints api` serves with.
    api_workers: int = Field(
        default=1, ge=1, alias="COMPLAINTS_API_WORKERS",
        description="API processes `complaints api` starts on its one port (uvicorn workers). The API keeps nothing "
        "between requests but its per-process limits: COMPLAINTS_INTAKE_PER_MINUTE and the tracking-code limits "
        "count per process.",
    )
    temporal_port: int = Field(default=7233, alias="COMPLAINTS_TEMPORAL_PORT")
    temporal_ui_port: int = Field(default=8233, alias="COMPLAINTS_TEMPORAL_UI_PORT")
    policy_path: Path = Field(default=DEFAULTS_FOLDER / "policy.toml", alias="COMPLAINTS_POLICY")
    working_day_seconds: PositiveFloat | None = Field(
        default=None,
        alias="COMPLAINTS_WORKING_DAY_SECONDS",
        description="Compressed calendar for demos and tests: a working day lasts this many seconds.",
    )

    intake_per_minute: int = Field(
        default=120,
        alias="COMPLAINTS_INTAKE_PER_MINUTE",
        ge=1,
        description="Submissions one API key may make per minute, per API process (429 beyond).",
    )
    public_per_minute: int = Field(
        default=60,
        alias="COMPLAINTS_PUBLIC_PER_MINUTE",
        ge=1,
        description="Requests one client address may make per minute to the public (keyless) tracking routes, "
        "counted in PostgreSQL across every API process (429 beyond).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        alias="COMPLAINTS_SECRET_KEY",
        description="Seals the tracking codes kept for retried submissions (and derived the codes of cases made "
        "before codes were random); every API process must share it. "
        "Unset: a random key is made once and kept in the data dir (development).",
    )

    codec_keys: SecretStr | None = Field(
        default=None,
        alias="COMPLAINTS_CODEC_KEYS",
        description="AES-GCM keys for Temporal payloads, `id:base64key,...`; every process must have them all. "
        "Unset: one key is made once and kept in the data dir (development).",
    )
    codec_active_key: str | None = Field(
        default=None,
        alias="COMPLAINTS_CODEC_ACTIVE_KEY",
        description="The key id that seals new payloads; default the last key listed.",
    )
    codec_ui_origin: str | None = Field(
        default=None,
        alias="COMPLAINTS_CODEC_UI_ORIGIN",
        description="The Temporal UI's origin, the one origin allowed to call the codec endpoint from a browser. "
        "Unset: the embedded UI's, http://127.0.0.1:<COMPLAINTS_TEMPORAL_UI_PORT>.",
    )

    # --- Delivery: where messages for people go. Unset transports are simply not used.
    smtp_host: str | None = Field(
        default=None,
        alias="COMPLAINTS_SMTP_HOST",
        description="SMTP server for email. Unset under `complaints dev`: a local server that keeps .eml files "
        "in <data dir>/mail.",
    )
    smtp_port: int = Field(default=587, alias="COMPLAINTS_SMTP_PORT")
    smtp_starttls: bool = Field(default=False, alias="COMPLAINTS_SMTP_STARTTLS", description="Upgrade with STARTTLS.")
    smtp_username: str | None = Field(default=None, alias="COMPLAINTS_SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(default=None, alias="COMPLAINTS_SMTP_PASSWORD")
    smtp_from: str = Field(default="complaints@moi.gov.om", alias="COMPLAINTS_SMTP_FROM")
    smtp_ca_file: Path | None = Field(
        default=None, alias="COMPLAINTS_SMTP_CA_FILE", description="Extra CA certificate trusted for STARTTLS."
    )
    sms_url: str | None = Field(default=None, alias="COMPLAINTS_SMS_URL",
                                description="The SMS gateway's HTTP endpoint.")
    sms_username: str | None = Field(default=None, alias="COMPLAINTS_SMS_USERNAME")
    sms_password: SecretStr | None = Field(default=None, alias="COMPLAINTS_SMS_PASSWORD")
    sms_body_template: str = Field(
        default='{"to": {{ to | tojson }}, "text": {{ text | tojson }}, "sender": "MOI"}',
        alias="COMPLAINTS_SMS_BODY_TEMPLATE",
        description="Jinja2 template of the JSON body the gateway expects; gets `to`, `text`, `idempotency_key`.",
    )
    channel_callbacks: dict[str, ChannelCallback] = Field(
        default_factory=dict,
        alias="COMPLAINTS_CHANNEL_CALLBACKS",
        description='JSON: {"tajawob": {"url": "https://...", "secret": "..."}}; the channel gets every message '
        "for the submitters of its cases, signed with HMAC-SHA256.",
    )
    director_general_email: str | None = Field(default=None, alias="COMPLAINTS_DIRECTOR_GENERAL_EMAIL")
    staff_language: Literal["ar", "en"] = Field(default="ar", alias="COMPLAINTS_STAFF_LANGUAGE")
    templates_dir: Path | None = Field(
        default=None,
        alias="COMPLAINTS_TEMPLATES_DIR",
        description="A folder of message templates that override the shipped ones (templates/messages).",
    )
    # Evidence files (api/service/evidence.py).
    evidence_max_files: int = Field(
        default=5, ge=1, le=20, alias="COMPLAINTS_EVIDENCE_MAX_FILES", description="Files a submission may carry.",
    )
    evidence_max_mib: PositiveFloat = Field(
        default=10, le=100, alias="COMPLAINTS_EVIDENCE_MAX_MIB", description="The largest evidence file, in MiB.",
    )

    @property
    def evidence_max_bytes(self) -> int:
        return int(self.evidence_max_mib * 1024 * 1024)

    @property
    def upload_request_bytes(self) -> int:
        """The largest form with files: every file at its largest, and room for the form's other fields."""
        return self.evidence_max_files * self.evidence_max_bytes + 256 * 1024

    # The staff console's sign-in (api/service/staff.py).
    staff_session_idle_minutes: PositiveFloat = Field(
        default=30, alias="COMPLAINTS_STAFF_SESSION_IDLE_MINUTES",
        description="A console session ends after this long without a request.",
    )
    staff_session_hours: PositiveFloat = Field(
        default=10, alias="COMPLAINTS_STAFF_SESSION_HOURS",
        description="A console session ends this long after sign-in, however busy (a working day and a margin).",
    )
    staff_lock_after: int = Field(
        default=5, ge=1, alias="COMPLAINTS_STAFF_LOCK_AFTER", description="Wrong passwords in a row that lock a login.",
    )
    staff_lock_minutes: PositiveFloat = Field(
        default=15, alias="COMPLAINTS_STAFF_LOCK_MINUTES", description="How long a locked login stays locked.",
    )
    # --- Single sign-on with the ministry's OpenID Connect provider (api/service/single_sign_on.py).
    oidc_issuer: str | None = Field(
        default=None, alias="COMPLAINTS_OIDC_ISSUER",
        description="The identity provider's issuer URL (its discovery document is <issuer>/.well-known/"
        "openid-configuration). Unset: no single sign-on, passwords only.",
    )
    oidc_client_id: str | None = Field(default=None, alias="COMPLAINTS_OIDC_CLIENT_ID")
    oidc_client_secret: SecretStr | None = Field(default=None, alias="COMPLAINTS_OIDC_CLIENT_SECRET")
    oidc_scopes: str = Field(default="openid profile email", alias="COMPLAINTS_OIDC_SCOPES")
    oidc_role_claim: str = Field(
        default="complaints_role", alias="COMPLAINTS_OIDC_ROLE_CLAIM",
        description="The claim that names the person's role (cs_agent, call_centre, department, ...).",
    )
    oidc_department_claim: str = Field(
        default="complaints_department", alias="COMPLAINTS_OIDC_DEPARTMENT_CLAIM",
        description="The claim that names a department officer's department code.",
    )
    oidc_codec_audience: str | None = Field(
        default=None, alias="COMPLAINTS_OIDC_CODEC_AUDIENCE",
        description="The audience of the access tokens the Temporal UI presents to the codec endpoint when it "
        "signs in with the provider itself. Unset: COMPLAINTS_OIDC_CLIENT_ID.",
    )
    # The public pages (web/public): submitting and following a case without an account.
    public_url: str = Field(
        default="http://127.0.0.1:8000", alias="COMPLAINTS_PUBLIC_URL",
        description="The public site's base URL, as messages link to its tracking page (`<url>/track`).",
    )
    arabic_digits: bool = Field(
        default=False, alias="COMPLAINTS_ARABIC_DIGITS",
        description="Write numbers and dates on the public pages with Arabic-Indic digits (٠١٢…) instead of 0-9.",
    )
    public_session_minutes: PositiveFloat = Field(
        default=30, alias="COMPLAINTS_PUBLIC_SESSION_MINUTES",
        description="How long the tracking page stays open for one case after its reference and code.",
    )
    public_proof_cost: int = Field(
        default=5000, ge=1, alias="COMPLAINTS_PUBLIC_PROOF_COST",
        description="PBKDF2 iterations of one try of the submission form's proof of work (about 256 tries).",
    )
    public_without_proof_per_hour: int = Field(
        default=5, ge=1, alias="COMPLAINTS_PUBLIC_WITHOUT_PROOF_PER_HOUR",
        description="Submissions one address may send per hour without the proof of work (browsers without "
        "JavaScript); with it, only COMPLAINTS_PUBLIC_PER_MINUTE applies.",
    )

    def refuse_unsafe(self) -> None:
        """In production, stop on the first secret that is missing or left at its default, naming its setting."""
        if self.environment != "production":
            return
        for setting, problem in self._unsafe_in_production():
            raise NotConfigured(f"{setting} {problem} (COMPLAINTS_ENV=production)")

    def _unsafe_in_production(self) -> Iterator[tuple[str, str]]:
        if _placeholder(self.secret_key):
            yield "COMPLAINTS_SECRET_KEY", "must be set to a long random value"
        if _placeholder(self.codec_keys):
            yield "COMPLAINTS_CODEC_KEYS", "must be set to the payload keys (`id:base64key,...`)"
        if not self.database_url:
            yield "DATABASE_URL", "must be set: production does not run the embedded PostgreSQL"
        elif _placeholder(urlsplit(self.database_url).password):
            yield "DATABASE_URL", "must carry the database's real password"
        if self.smtp_username and _placeholder(self.smtp_password):
            yield "COMPLAINTS_SMTP_PASSWORD", "must be set to a real password when COMPLAINTS_SMTP_USERNAME is set"
        if self.sms_username and _placeholder(self.sms_password):
            yield "COMPLAINTS_SMS_PASSWORD", "must be set to a real password when COMPLAINTS_SMS_USERNAME is set"
        for channel, callback in self.channel_callbacks.items():
            if _placeholder(callback.secret):
                yield "COMPLAINTS_CHANNEL_CALLBACKS", f"must give the {channel} callback a real secret"
        if self.oidc_issuer and _placeholder(self.oidc_client_secret):
            yield "COMPLAINTS_OIDC_CLIENT_SECRET", "must be set when COMPLAINTS_OIDC_ISSUER is set"
        if self.oidc_issuer and urlsplit(self.oidc_issuer).scheme != "https":
            yield "COMPLAINTS_OIDC_ISSUER", "must be an https:// URL"

    def resolved_secret_key(self) -> bytes:
        if self.secret_key:
            return self.secret_key.get_secret_value().encode()
        return self._kept_in_data_dir("secret.key", lambda: secrets.token_urlsafe(32)).encode()

    def resolved_codec_keys(self) -> str:
        if self.codec_keys:
            return self.codec_keys.get_secret_value()
        from core.codec import new_key_spec

        return self._kept_in_data_dir("codec.keys", lambda: new_key_spec("dev1"))

    def _kept_in_data_dir(self, name: str, make: Callable[[], str]) -> str:
        if self.environment == "production":
            # A secret made on one machine is unknown to the others, and lost with its disk.
            setting = {"secret.key": "COMPLAINTS_SECRET_KEY", "codec.keys": "COMPLAINTS_CODEC_KEYS"}[name]
            raise NotConfigured(f"{setting} must be set (COMPLAINTS_ENV=production makes no secret in the data dir)")
        return kept_secret(self.data_dir / name, make)

    @property
    def embedded_database_url_file(self) -> Path:
        """Where the dev stack writes the URL of the embedded PostgreSQL for the other processes."""
        return self.data_dir / "postgres.url"

    def resolved_database_url(self) -> str:
        """The URL to connect to: the configured one, or the one the embedded server published."""
        if self.database_url:
            return self.database_url
        published = self.embedded_database_url_file
        if published.exists():
            return published.read_text().strip()
        raise NotConfigured(
            f"no database: DATABASE_URL is not set and no embedded PostgreSQL published its URL in {published}; "
            "start the stack with `complaints dev`, or set COMPLAINTS_DATA_DIR to the data dir of the running "
            "stack, or set DATABASE_URL"
        )

    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    def resolved_codec_ui_origin(self) -> str:
        # Derived from the port, so that moving the UI does not silently lock it out of the codec.
        return self.codec_ui_origin or f"http://127.0.0.1:{self.temporal_ui_port}"


# What the examples and docker-compose.yml put where a real secret belongs.
PLACEHOLDER_SECRETS = frozenset({"", "change-me"})


def _placeholder(secret: SecretStr | str | None) -> bool:
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return value is None or value.strip() in PLACEHOLDER_SECRETS


@lru_cache
def get_settings() -> Settings:
    """The process's settings, refused at start if they are unsafe for production."""
    settings = Settings()
    settings.refuse_unsafe()
    return settings
