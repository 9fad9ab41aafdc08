"""Administration: API keys, the department directory, staff accounts and the sign-in audit.

`/v1/admin` (an admin key) and the console's admin pages (an admin person) call these, so a key is
checked and made, and a department added or changed, by the same rules whichever front asks. A
bad value is the 422 of the field it names; the customer-service department cannot be deactivated
(409). What an admin person does is on the staff audit (`staff_audit`), next to the sign-ins: the
key records of an admin person's keys have no `created_by` (that column names admin keys).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

from api.auth import UnknownApiKey, issue_api_key, list_api_keys, revoke_api_key
from api.errors import ApiError, FieldProblem
from api.schemas import StrictBody, name_text
from domain.kinds import Channel, Role
from domain.policy import DEPARTMENT_CODE_PATTERN
from store import departments as directory
from store import staff
from store.db import Database
from store.models import ApiKey, DepartmentEntry, StaffAuditEntry, StaffUser

# The bodies of `/v1/admin`: the console's admin forms are checked with them too.
DepartmentCode = Annotated[
    str, StringConstraints(pattern=DEPARTMENT_CODE_PATTERN),
    Field(description="Upper-case letters, digits and `_`, starting with a letter; at most 40."),
]


class ApiKeyCreate(StrictBody):
    """A key to make: who holds it, its role, and for a department key its department."""

    name: name_text(120) = Field(description="Who or what holds the key (shown in logs, never in cases).")
    role: Role
    department: DepartmentCode | None = Field(
        default=None, description="For a `department` key, and only for one: an active department's code."
    )
    channels: list[Channel] | None = Field(
        default=None, min_length=1,
        description="For a `channel` key, and only for one: the channels it may submit through (others get 403). "
                    "Only a key bound to `tajawob` may send a complaint without a civil ID through it.",
    )


class DepartmentUpdate(StrictBody):
    """A department's names, the address its staff are told at, and whether cases may be routed to it."""

    name_ar: name_text(200, markup=False)
    name_en: name_text(200, markup=False)
    email: EmailStr | None = None
    active: bool = Field(strict=True, description="Whether new cases may be routed to it; the customer-service "
                                                  "team's stays active.")


INVALID_DEPARTMENT = "not an active department of the directory"
CHANNELS_FOR_CHANNEL_KEYS = "a channel key names the channels it may submit through, and only a channel key does"


def invalid(field: str, reason: str) -> ApiError:
    return ApiError(422, "validation_error", f"invalid request: {field}: {reason}",
                    [FieldProblem(field=field, reason=reason)])


@dataclass(frozen=True)
class AdminPerson:
    """An admin signed in to the console: who goes on the audit for what they change."""

    user_id: int
    login: str


# ---------------------------------------------------------------- keys


async def create_key(database: Database, *, name: str, role: Role, department: str | None,
                     channels: Iterable[Channel] | None, by_key: int | None = None,
                     by_person: AdminPerson | None = None) -> tuple[ApiKey, str]:
    """Make an API key (the key itself is returned once and never stored), after the rules of its role:
    a department key names an active department, a channel key the channels it submits through."""
    if role == Role.DEPARTMENT:
        if department is None:
            raise invalid("department", "a department key names its department")
        if not await _is_active_department(database, department):
            raise invalid("department", INVALID_DEPARTMENT)
    elif department is not None:
        raise invalid("department", "only a department key names a department")
    if (role == Role.CHANNEL) != (channels is not None):
        raise invalid("channels", CHANNELS_FOR_CHANNEL_KEYS)
    record, key = await issue_api_key(database, role=role, name=name, department=department, channels=channels,
                                      created_by=by_key)
    await _audit(database, by_person, "key_created", f"key #{record.id} ({record.role})")
    return record, key


async def list_keys(database: Database) -> list[ApiKey]:
    """Every key, revoked ones too, oldest first; only their hashes are kept."""
    return await list_api_keys(database)


async def revoke_key(database: Database, key_id: int, *, by_key: int | None = None,
                     by_person: AdminPerson | None = None) -> ApiKey:
    """Revoke a key from its next request on (revoking a revoked key changes nothing); an admin key cannot revoke
    itself (409), so that no one locks the last admin out by mistake."""
    if by_key is not None and key_id == by_key:
        raise ApiError(409, "action_refused",
                       "an admin cannot revoke the key it is using; revoke it with another admin key")
    try:
        record = await revoke_api_key(database, key_id, revoked_by=by_key)
    except UnknownApiKey as unknown:
        raise ApiError(404, "not_found", str(unknown)) from None
    await _audit(database, by_person, "key_revoked", f"key #{record.id} ({record.role})")
    return record


async def _is_active_department(database: Database, code: str) -> bool:
    record = await directory.find_department(database, code)
    return record is not None and record.active


# ---------------------------------------------------------------- departments


async def list_departments(database: Database) -> list[DepartmentEntry]:
    """Every department of the directory, inactive ones too, by code."""
    return await directory.all_departments(database)


async def put_department(database: Database, code: str, *, name_ar: str, name_en: str, email: str | None,
                         active: bool, by_person: AdminPerson | None = None) -> tuple[DepartmentEntry, bool]:
    """Add a department or change one: (its row, whether it was added). 409 for deactivating customer service."""
    values = {"name_ar": name_ar, "name_en": name_en, "email": email, "active": active,
              "updated_at": datetime.now(UTC)}
    try:
        record, created = await directory.put_department(database, code, values)
    except directory.CustomerServiceStaysActive:
        raise ApiError(409, "action_refused", f"{code} is the customer-service department, which triages "
                                              "every case: it cannot be deactivated") from None
    await _audit(database, by_person, "department_added" if created else "department_changed",
                 f"{code} {'active' if active else 'inactive'}")
    return record, created


# ---------------------------------------------------------------- accounts and the audit


async def list_accounts(database: Database) -> list[StaffUser]:
    """Every staff account, disabled ones too, by login."""
    return await staff.all_users(database)


async def audit_log(database: Database, *, login: str | None = None, limit: int = 200) -> list[StaffAuditEntry]:
    """Sign-ins, failures, locks, sign-outs and account changes, the latest first."""
    return await staff.audit_entries(database, login=login, limit=limit)


async def _audit(database: Database, person: AdminPerson | None, event: str, detail: str) -> None:
    if person is not None:
        await staff.audit(database, StaffAuditEntry(
            at=datetime.now(UTC), login=person.login[:120], user_id=person.user_id, event=event, detail=detail))
