"""Staff accounts and console sessions: who a person is, how they sign in, and what their session carries.

A person acts under the same rules as an API key of their role (`api.auth.staff_caller`): the
visibility rule and the workflow's checks do not know which of the two asked.

- Passwords are hashed with Argon2 (pwdlib). A wrong password counts against the login; the
  `staff_lock_after`th in a row locks it for `staff_lock_minutes`, and during the lock even the
  right password is refused. An unknown login and a wrong password answer alike.
- A session is a row (`staff_sessions`) behind a random token in an HttpOnly cookie; only the token's
  SHA-256 is stored. It ends after `staff_session_idle_minutes` without a request, or
  `staff_session_hours` after sign-in, or at sign-out, or when the account is disabled.
- Every sign-in, failed sign-in, lock, sign-out and account change is on the audit log (`staff_audit`).
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pwdlib import PasswordHash

from api.auth import Caller, hash_secret, staff_caller
from core.settings import Settings
from domain.kinds import Role
from store import staff
from store.db import Database
from store.departments import active_department_codes
from store.models import StaffAuditEntry, StaffSession, StaffUser
from store.staff import LoginTaken, UnknownStaffUser  # noqa: F401 (the CLI and the admin pages catch them here)

PASSWORDS = PasswordHash.recommended()
# Verified against when the login is unknown, so that an unknown login takes as long as a wrong password.
_NO_ONES_HASH = PASSWORDS.hash(secrets.token_urlsafe(16))
LANGUAGES = ("ar", "en")


class SignInRefused(Exception):
    """Why a sign-in failed, in words the person may read: never which of login and password was wrong."""


class AccountRefused(ValueError):
    """An account that cannot be made as asked; `field` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class StaffSessionInfo:
    """A live console session: the person, the caller they act as, and what their forms carry."""

    user: StaffUser
    caller: Caller
    csrf_token: str
    language: str
    token_hash: str


def new_one_time_password() -> str:
    return secrets.token_urlsafe(12)


async def create_account(database: Database, *, login: str, name: str, role: Role, department: str | None,
                         password: str | None, oidc_subject: str | None = None,
                         one_time: bool = False) -> StaffUser:
    """A new staff account; a department officer names an active department of the directory. A `one_time`
    password must be replaced at the first sign-in."""
    login = login.strip()
    if not login or len(login) > 120 or any(character.isspace() for character in login):
        raise AccountRefused("login", "1 to 120 characters without spaces")
    if not name.strip():
        raise AccountRefused("name", "the person's name is required")
    await _check_role(database, role, department)
    if password is not None and len(password) < 12:
        raise AccountRefused("password", "at least 12 characters")
    user = StaffUser(login=login, name=name.strip(), role=role.value, department=department,
                     password_hash=PASSWORDS.hash(password) if password is not None else None,
                     oidc_subject=oidc_subject, password_change_required=one_time, created_at=_now())
    try:
        await staff.add_user(database, user)
    except LoginTaken:
        raise AccountRefused("login", "another account has this login") from None
    await _audit(database, login, "created", user_id=user.id, detail=f"role {role.value}")
    return user


async def _check_role(database: Database, role: Role, department: str | None) -> None:
    if (role == Role.DEPARTMENT) != (department is not None):
        raise AccountRefused("department", "a department officer names their department, and only they do")
    if department is not None and department not in await active_department_codes(database):
        raise AccountRefused("department", "not an active department of the directory")
    if role == Role.CHANNEL:
        raise AccountRefused("role", "a channel is a system, not a person: give it an API key")


async def change_role(database: Database, user: StaffUser, role: Role, department: str | None, *,
                      by: str) -> StaffUser:
    """Give an account another role (and department), under the rules of a new account; its open sessions act
    under the new role from their next request. Unchanged, nothing is written."""
    if (Role(user.role), user.department) == (role, department):
        return user
    await _check_role(database, role, department)
    changed = await staff.set_user_fields(database, user.login, role=role.value, department=department)
    await _audit(database, user.login, "role_changed", user_id=user.id,
                 detail=f"{user.role}/{user.department or '-'} to {role.value}/{department or '-'} by {by}")
    return changed


async def record_refused_sign_in(database: Database, login: str, *, address: str | None, detail: str,
                                 user_id: int | None = None) -> None:
    """A sign-in that another front refused (the identity provider's): on the audit log like a wrong password."""
    await _audit(database, login, "sign_in_failed", user_id=user_id, address=address, detail=detail)


async def disable_account(database: Database, login: str, *, by: str | None = None) -> StaffUser:
    """The account signs in no more, and its open sessions end now."""
    user = await staff.set_user_fields(database, login, disabled_at=_now())
    await staff.end_sessions_of(database, user.id)
    await _audit(database, login, "disabled", user_id=user.id, detail=f"by {by}" if by else None)
    return user


MIN_PASSWORD_LENGTH = 12


async def change_password(database: Database, settings: Settings, session: StaffSessionInfo, *, current: str,
                          new: str, address: str | None) -> StaffUser:
    """A person chooses their own password (a one-time one must be replaced so): the current one proves it is them,
    and a wrong one counts towards the lock as at sign-in. AccountRefused names the field at fault."""
    user = await staff.user_with_login(database, session.user.login)
    if user.locked_until is not None and user.locked_until > _now():
        raise AccountRefused("current", "this login is locked for a while after too many wrong passwords")
    if user.password_hash is None or not PASSWORDS.verify(current, user.password_hash):
        await _count_failure(database, settings, user, address)
        raise AccountRefused("current", "not the current password")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise AccountRefused("new", f"at least {MIN_PASSWORD_LENGTH} characters")
    if new == current:
        raise AccountRefused("new", "the same as the current password")
    user = await staff.set_user_fields(database, user.login, password_hash=PASSWORDS.hash(new),
                                       password_change_required=False)
    await _audit(database, user.login, "password_changed", user_id=user.id, address=address)
    return user


async def sign_in(database: Database, settings: Settings, login: str, password: str, *,
                  address: str | None, language: str | None = None) -> tuple[str, StaffSessionInfo]:
    """Check the password and open a session: (the cookie's token, the session). SignInRefused otherwise."""
    user = await staff.user_with_login(database, login)
    now = _now()
    if user is None or user.password_hash is None or user.disabled_at is not None:
        PASSWORDS.verify(password, _NO_ONES_HASH)
        await _audit(database, login, "sign_in_failed", address=address,
                     detail="unknown login" if user is None else "account cannot sign in with a password")
        raise SignInRefused("wrong login or password")
    if user.locked_until is not None and user.locked_until > now:
        await _audit(database, login, "sign_in_refused_locked", user_id=user.id, address=address)
        raise SignInRefused(f"this login is locked until {user.locked_until.isoformat()} after too many wrong "
                            "passwords")
    if not PASSWORDS.verify(password, user.password_hash):
        await _count_failure(database, settings, user, address)
        raise SignInRefused("wrong login or password")
    await staff.clear_failed_sign_ins(database, user.id)
    return await open_session(database, settings, user, address=address, how="password", language=language)


async def _count_failure(database: Database, settings: Settings, user: StaffUser, address: str | None) -> None:
    lock_until = _now() + timedelta(minutes=settings.staff_lock_minutes)
    locked = await staff.count_failed_sign_in(database, user.id, lock_after=settings.staff_lock_after,
                                              lock_until=lock_until)
    await _audit(database, user.login, "sign_in_failed", user_id=user.id, address=address, detail="wrong password")
    if locked:
        await _audit(database, user.login, "locked", user_id=user.id, address=address,
                     detail=f"until {lock_until.isoformat()}")


async def open_session(database: Database, settings: Settings, user: StaffUser, *, address: str | None,
                       how: str, language: str | None = None) -> tuple[str, StaffSessionInfo]:
    """A new session for a person whose identity is proven (by password or by the identity provider)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    record = StaffSession(token_hash=hash_secret(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                          language=language if language in LANGUAGES else settings.staff_language,
                          created_at=now, last_seen_at=now,
                          expires_at=now + timedelta(hours=settings.staff_session_hours))
    await staff.add_session(database, record)
    await _audit(database, user.login, "signed_in", user_id=user.id, address=address, detail=how)
    return token, _info(record, user)


async def session_for(database: Database, settings: Settings, token: str | None) -> StaffSessionInfo | None:
    """The live session this cookie's token opens, or None."""
    if not token:
        return None
    found = await staff.live_session(database, hash_secret(token), now=_now(),
                                     idle=timedelta(minutes=settings.staff_session_idle_minutes))
    return _info(*found) if found else None


async def sign_out(database: Database, session: StaffSessionInfo, *, address: str | None) -> None:
    await staff.end_session(database, session.token_hash)
    await _audit(database, session.user.login, "signed_out", user_id=session.user.id, address=address)


async def choose_language(database: Database, session: StaffSessionInfo, language: str) -> None:
    if language in LANGUAGES:
        await staff.set_session_language(database, session.token_hash, language)


def _info(record: StaffSession, user: StaffUser) -> StaffSessionInfo:
    return StaffSessionInfo(user=user, caller=staff_caller(user.id, Role(user.role), user.department),
                            csrf_token=record.csrf_token, language=record.language, token_hash=record.token_hash)


async def _audit(database: Database, login: str, event: str, *, user_id: int | None = None,
                 address: str | None = None, detail: str | None = None) -> None:
    await staff.audit(database, StaffAuditEntry(at=_now(), login=login[:120], user_id=user_id, event=event,
                                                address=address, detail=detail))


def _now() -> datetime:
    return datetime.now(UTC)
