"""Administration: API keys and the department directory, for `admin` keys only (which read no case content).

Keys are made exactly as `complaints apikey create` makes them (`api.auth.issue_api_key`): the key is
in the 201 answer and nowhere else; only its SHA-256 is stored. A revoked key is refused (401) from
its next request on. The directory starts as the policy file's departments (`complaints migrate`
adds the missing ones and never overwrites an edit made here); the active departments are the ones
`GET /v1/departments` lists and that new cases may be routed to.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, EmailStr, Field, StringConstraints

from api import errors
from api.auth import Caller, UnknownApiKey, issue_api_key, list_api_keys, revoke_api_key
from api.deps import CallerDep, ServicesDep
from api.errors import UNAUTHORIZED_RESPONSE, ApiError, ErrorResponse, FieldProblem
from api.schemas import StrictBody, name_text
from domain.kinds import Channel, Role
from domain.policy import DEPARTMENT_CODE_PATTERN
from store import departments as directory
from store.db import Database
from store.models import ApiKey, DepartmentEntry

router = APIRouter(prefix="/v1/admin", tags=["admin"])

# The largest id PostgreSQL's `integer` holds: a bigger one is no key, not a database error.
MAX_KEY_ID = 2**31 - 1

DepartmentCode = Annotated[
    str, StringConstraints(pattern=DEPARTMENT_CODE_PATTERN),
    Field(description="Upper-case letters, digits and `_`, starting with a letter; at most 40."),
]


# ---------------------------------------------------------------- the contract


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


class ApiKeyPublic(BaseModel):
    """An API key as admins see it: never the key itself."""

    id: int
    name: str
    role: Role
    department: str | None
    channels: list[Channel] | None = Field(description="The channels a `channel` key may submit through.")
    created_at: datetime
    revoked_at: datetime | None = Field(description="When it was revoked; a revoked key is refused (401).")
    created_by: int | None = Field(description="The admin key that issued it; null when made from the command line.")
    revoked_by: int | None = Field(description="The admin key that revoked it.")


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key, shown this once: only its SHA-256 is stored. Use as `Bearer <key>`.")


class DepartmentUpdate(StrictBody):
    """A department's names, the address its staff are told at, and whether cases may be routed to it."""

    name_ar: name_text(200, markup=False)
    name_en: name_text(200, markup=False)
    email: EmailStr | None = None
    active: bool = Field(strict=True, description="Whether new cases may be routed to it; the customer-service "
                                                  "team's stays active.")


class DepartmentRecord(BaseModel):
    """A department of the directory, as admins see it."""

    code: str
    name_ar: str
    name_en: str
    email: str | None
    customer_service: bool = Field(description="The customer-service team (from the policy file): it triages cases.")
    active: bool
    updated_at: datetime


def _error(description: str, code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    example = {"error": {"code": code, "message": message, "fields": fields or []}}
    return {"model": ErrorResponse, "description": description, "content": {"application/json": {"example": example}}}


ONLY_ADMIN = "only an admin key manages keys and departments"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORIZED_RESPONSE,
    403: _error("The caller is not an admin.", "forbidden", ONLY_ADMIN),
}
INVALID_DEPARTMENT = "not an active department of the directory"
CHANNELS_FOR_CHANNEL_KEYS = "a channel key names the channels it may submit through, and only a channel key does"
KEY_ERRORS = {
    **ERRORS,
    422: _error("Invalid body; `fields` names each bad field.", "validation_error",
                f"invalid request: department: {INVALID_DEPARTMENT}",
                [{"field": "department", "reason": INVALID_DEPARTMENT}]),
}
REVOKE_ERRORS = {
    **ERRORS,
    404: _error("No key with this id.", "not_found", "no API key 42"),
    409: _error("The key is the one making the request.", "action_refused",
                "an admin cannot revoke the key it is using; revoke it with another admin key"),
    422: _error("Not a key id.", "validation_error",
                "invalid request: key_id: Input should be greater than or equal to 1",
                [{"field": "key_id", "reason": "Input should be greater than or equal to 1"}]),
}
DEPARTMENT_ERRORS = {
    **ERRORS,
    201: {"model": DepartmentRecord, "description": "A new department of the directory."},
    409: _error("The customer-service department cannot be deactivated.", "action_refused",
                "CS is the customer-service department, which triages every case: it cannot be deactivated"),
    422: _error("Invalid code or body; `fields` names each bad field.", "validation_error",
                "invalid request: email: value is not a valid email address",
                [{"field": "email", "reason": "value is not a valid email address"}]),
}


def require_admin(caller: CallerDep) -> Caller:
    if caller.role != Role.ADMIN:
        raise errors.forbidden(ONLY_ADMIN)
    return caller


AdminDep = Annotated[Caller, Depends(require_admin)]


def _invalid(field: str, reason: str) -> ApiError:
    return ApiError(422, "validation_error", f"invalid request: {field}: {reason}",
                    [FieldProblem(field=field, reason=reason)])


def _key_public(record: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(id=record.id, name=record.name, role=Role(record.role), department=record.department,
                        channels=record.channels, created_at=record.created_at, revoked_at=record.revoked_at,
                        created_by=record.created_by, revoked_by=record.revoked_by)


def _department_record(record: DepartmentEntry) -> DepartmentRecord:
    return DepartmentRecord.model_validate(record.model_dump())


async def _is_active_department(database: Database, code: str) -> bool:
    record = await directory.find_department(database, code)
    return record is not None and record.active


# ---------------------------------------------------------------- keys


@router.post("/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated, responses=KEY_ERRORS)
async def create_key(body: ApiKeyCreate, admin: AdminDep, services: ServicesDep) -> ApiKeyCreated:
    """Make an API key; the key itself is in this answer and nowhere else.

    A `department` key names an active department of the directory; no other key names one.
    A `channel` key names the channels it may submit through; no other key names any.
    """
    if body.role == Role.DEPARTMENT:
        if body.department is None:
            raise _invalid("department", "a department key names its department")
        if not await _is_active_department(services.database, body.department):
            raise _invalid("department", INVALID_DEPARTMENT)
    elif body.department is not None:
        raise _invalid("department", "only a department key names a department")
    if (body.role == Role.CHANNEL) != (body.channels is not None):
        raise _invalid("channels", CHANNELS_FOR_CHANNEL_KEYS)
    record, key = await issue_api_key(services.database, role=body.role, name=body.name, department=body.department,
                                      channels=body.channels, created_by=admin.key_id)
    return ApiKeyCreated(**_key_public(record).model_dump(), key=key)


@router.get("/keys", response_model=list[ApiKeyPublic], responses=ERRORS)
async def list_keys(_: AdminDep, services: ServicesDep) -> list[ApiKeyPublic]:
    """Every API key, revoked ones too, oldest first; never the keys themselves."""
    return [_key_public(record) for record in await list_api_keys(services.database)]


@router.delete("/keys/{key_id}", response_model=ApiKeyPublic, responses=REVOKE_ERRORS)
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=MAX_KEY_ID, description="The key's `id`.")],
    admin: AdminDep,
    services: ServicesDep,
) -> ApiKeyPublic:
    """Revoke a key: it is refused (401) from its next request on. Revoking a revoked key changes nothing.

    An admin cannot revoke the key it is using (409), so that no one locks the last admin out by mistake.
    """
    if key_id == admin.key_id:
        raise ApiError(409, "action_refused",
                       "an admin cannot revoke the key it is using; revoke it with another admin key")
    try:
        return _key_public(await revoke_api_key(services.database, key_id, revoked_by=admin.key_id))
    except UnknownApiKey as unknown:
        raise ApiError(404, "not_found", str(unknown)) from None


# ---------------------------------------------------------------- departments


@router.get("/departments", response_model=list[DepartmentRecord], responses=ERRORS)
async def list_departments(_: AdminDep, services: ServicesDep) -> list[DepartmentRecord]:
    """Every department of the directory, inactive ones too, by code."""
    return [_department_record(record) for record in await directory.all_departments(services.database)]


@router.put("/departments/{code}", response_model=DepartmentRecord, responses=DEPARTMENT_ERRORS)
async def put_department(
    code: Annotated[str, Path(pattern=DEPARTMENT_CODE_PATTERN, description="Upper-case letters, digits and `_`.")],
    body: DepartmentUpdate,
    _: AdminDep,
    services: ServicesDep,
    response: Response,
) -> DepartmentRecord:
    """Add a department (201) or change one (200): its names, its staff's email address, whether it is active.

    An inactive department is not offered for new cases; the customer-service department cannot be
    deactivated (409), since it triages every case.
    """
    values = {"name_ar": body.name_ar, "name_en": body.name_en, "email": str(body.email) if body.email else None,
              "active": body.active, "updated_at": datetime.now(UTC)}
    try:
        record, created = await directory.put_department(services.database, code, values)
    except directory.CustomerServiceStaysActive:
        raise ApiError(409, "action_refused", f"{code} is the customer-service department, which triages "
                                              "every case: it cannot be deactivated") from None
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _department_record(record)
