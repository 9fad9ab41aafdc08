"""Single sign-on with the ministry's OpenID Connect provider, and its access tokens at the codec endpoint.

- The console signs a person in with the authorization code flow, with PKCE, a `state` and a `nonce`
  (Authlib). The ID token is checked against the provider's discovery document: its issuer (the
  configured one), its audience (our client id), its nonce, its lifetime and its signature with the
  provider's JWKS.
- The provider says who the person is (`sub`) and what they do: the role claim names a Role of the
  console (never `channel`: a channel is a system, not a person) and, for a department officer, the
  department claim names an active department of the directory. Anything else is refused.
- The account is found by its subject, or made (without a password) at the first sign-in; its role and
  department follow the claims at every sign-in, on the audit log. A disabled account is refused.
- The Temporal UI, when it signs in with the provider itself, presents the provider's access token to the
  codec endpoint: a JWT checked against the same JWKS, for the configured audience.
"""

import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from api.auth import Caller, staff_caller
from api.service.staff import (
    AccountRefused,
    StaffSessionInfo,
    change_role,
    create_account,
    open_session,
    record_refused_sign_in,
)
from core.settings import Settings
from domain.kinds import Role
from store import staff
from store.db import Database
from store.departments import active_department_codes
from store.models import StaffUser

with warnings.catch_warnings():
    # Authlib 1.9 would rather have httpx2 and says so on stderr at every process's start; httpx serves it well
    # (the fallback it documents), and one HTTP client for the whole project is enough.
    warnings.filterwarnings("ignore", "The httpx module is deprecated", AuthlibDeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

# Leeway for the provider's clock against ours, on `exp`, `iat` and `nbf`.
CLOCK_LEEWAY_SECONDS = 120


class SingleSignOnRefused(Exception):
    """Why the provider's answer opens no session. `reason` is one of REASONS (the page words it); `detail`
    goes to the audit log."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


REASONS = ("provider", "unknown_role", "not_a_person", "department", "disabled", "login_taken")


@dataclass(frozen=True)
class PendingSignIn:
    """What the browser keeps between leaving for the provider and coming back (web/console/single_sign_on.py)."""

    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class ClaimedRole:
    role: Role
    department: str | None


_providers: dict[tuple[str, str], StarletteOAuth2App] = {}


def is_configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def _provider(settings: Settings) -> StarletteOAuth2App:
    """The provider's client, one per issuer and client id: it keeps the discovery document and the JWKS."""
    key = (settings.oidc_issuer.rstrip("/"), settings.oidc_client_id)
    if key not in _providers:
        registry = OAuth()
        _providers[key] = registry.register(
            name="ministry",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
            server_metadata_url=f"{key[0]}/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
        )
    return _providers[key]


async def begin_sign_in(settings: Settings, redirect_uri: str) -> tuple[str, PendingSignIn]:
    """The provider's authorization URL to send the browser to, and what to keep until it comes back."""
    try:
        made = await _provider(settings).create_authorization_url(redirect_uri)
    except (OAuthError, httpx.HTTPError, RuntimeError) as error:
        raise SingleSignOnRefused("provider", f"discovery failed: {error}") from None
    return made["url"], PendingSignIn(state=made["state"], nonce=made["nonce"], code_verifier=made["code_verifier"])


async def finish_sign_in(database: Database, settings: Settings, *, redirect_uri: str, code: str,
                         pending: PendingSignIn, address: str | None,
                         language: str | None = None) -> tuple[str, StaffSessionInfo]:
    """Trade the code for tokens, check the ID token, and open a session for the person it names."""
    claims = await _verified_id_token(settings, redirect_uri=redirect_uri, code=code, pending=pending)
    subject = str(claims["sub"])
    user = await staff.user_with_subject(database, subject)
    try:
        claimed = await claimed_role(database, settings, claims)
    except SingleSignOnRefused as refused:
        await record_refused_sign_in(database, user.login if user else _login_from(claims), address=address,
                                     user_id=user.id if user else None, detail=f"oidc: {refused.detail}")
        raise
    if user is not None and user.disabled_at is not None:
        await record_refused_sign_in(database, user.login, address=address, user_id=user.id,
                                     detail="oidc: account disabled")
        raise SingleSignOnRefused("disabled", "the account is disabled")
    user = await _account_in_step(database, claims, claimed, user, address)
    return await open_session(database, settings, user, address=address, how="oidc", language=language)


async def _verified_id_token(settings: Settings, *, redirect_uri: str, code: str,
                             pending: PendingSignIn) -> dict[str, Any]:
    provider = _provider(settings)
    try:
        tokens = await provider.fetch_access_token(redirect_uri=redirect_uri, code=code,
                                                   code_verifier=pending.code_verifier)
        if "id_token" not in tokens:
            raise SingleSignOnRefused("provider", "the token answer has no ID token")
        # The configured issuer, not whatever the discovery document says: a document that names another
        # issuer is not our provider's.
        claims = await provider.parse_id_token(
            tokens, nonce=pending.nonce, leeway=CLOCK_LEEWAY_SECONDS,
            claims_options={"iss": {"essential": True, "values": [settings.oidc_issuer.rstrip("/")]}})
    except (OAuthError, JoseError, httpx.HTTPError) as error:
        raise SingleSignOnRefused("provider", f"the provider's answer does not check: {error}") from None
    return dict(claims)


async def claimed_role(database: Database, settings: Settings, claims: dict[str, Any]) -> ClaimedRole:
    """The role (and department) the provider's claims give a person; SingleSignOnRefused if they give none."""
    value = claims.get(settings.oidc_role_claim)
    try:
        role = Role(value)
    except ValueError:
        raise SingleSignOnRefused("unknown_role",
                                  f"{settings.oidc_role_claim}={value!r} is no role of the console") from None
    if role == Role.CHANNEL:
        raise SingleSignOnRefused("not_a_person", "a channel is a system, not a person")
    if role != Role.DEPARTMENT:
        return ClaimedRole(role, None)
    department = claims.get(settings.oidc_department_claim)
    if not isinstance(department, str) or department not in await active_department_codes(database):
        raise SingleSignOnRefused(
            "department", f"{settings.oidc_department_claim}={department!r} is no active department")
    return ClaimedRole(role, department)


async def _account_in_step(database: Database, claims: dict[str, Any], claimed: ClaimedRole,
                           user: StaffUser | None, address: str | None) -> StaffUser:
    """The person's account, made at their first sign-in, with the role and department the claims give now."""
    subject = str(claims["sub"])
    if user is None:
        login = _login_from(claims)
        try:
            return await create_account(database, login=login, name=str(claims.get("name") or login),
                                        role=claimed.role, department=claimed.department, password=None,
                                        oidc_subject=subject)
        except AccountRefused as refused:
            # Two first sign-ins at once: the other made the account.
            user = await staff.user_with_subject(database, subject)
            if user is None:
                await record_refused_sign_in(database, login, address=address, detail=f"oidc: {refused}")
                raise SingleSignOnRefused("login_taken", f"cannot make the account: {refused}") from None
    return await change_role(database, user, claimed.role, claimed.department, by="the identity provider's claims")


def _login_from(claims: dict[str, Any]) -> str:
    """The account's login: the name the provider knows the person by, else its subject."""
    for claim in ("preferred_username", "email", "sub"):
        value = "".join(str(claims.get(claim) or "").split())
        if value:
            return value[:120]
    return "oidc"


async def caller_with_access_token(database: Database, settings: Settings, token: str) -> Caller | None:
    """The person a provider's access token (a JWT) names, acting under the role its claims give; None if the
    token does not check, or gives no role, or names a disabled account."""
    if not is_configured(settings) or token.count(".") != 2:
        return None
    try:
        claims = await _verified_access_token(settings, token)
        claimed = await claimed_role(database, settings, claims)
    except (SingleSignOnRefused, JoseError, OAuthError, httpx.HTTPError, ValueError):
        return None
    user = await staff.user_with_subject(database, str(claims["sub"]))
    if user is not None and user.disabled_at is not None:
        return None
    # A person the console has not met yet acts as their role, with no account to name.
    return staff_caller(user.id, claimed.role, claimed.department) if user else Caller(
        key_id=None, role=claimed.role, department=claimed.department)


async def _verified_access_token(settings: Settings, token: str) -> dict[str, Any]:
    provider = _provider(settings)
    metadata = await provider.load_server_metadata()
    algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    registry = JWSRegistry(algorithms=algorithms)
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(await provider.fetch_jwk_set()), registry=registry)
    except InvalidKeyIdError:
        # The provider rolled its keys since we fetched them.
        decoded = jwt.decode(token, KeySet.import_key_set(await provider.fetch_jwk_set(force=True)),
                             registry=registry)
    jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": settings.oidc_issuer.rstrip("/")},
        aud={"essential": True, "value": settings.oidc_codec_audience or settings.oidc_client_id},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims
