"""Administration: API keys and the department directory, for `admin` keys only (which read no case content).

Keys are made exactly as `complaints apikey create` makes them (`api.auth.issue_api_key`): the key is
in the 201 answer and nowhere else; only its SHA-256 is stored. A revoked key is refused (401) from
its next request on. The directory starts as the policy file's departments (`complaints migrate`
adds the missing ones and never overwrites an edit made here); the active departments are the ones
`GET /v1/departments` lists and that new cases may be routed to.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, Field

from api import errors
from api.auth import Caller
from api.deps import CallerDep, ServicesDep
from api.errors import UNAUTHORIZED_RESPONSE, ErrorResponse
from api.service import admin as admin_service
from api.service.admin import INVALID_DEPARTMENT, ApiKeyCreate, DepartmentUpdate
from domain.kinds import Channel, Role
from domain.policy import DEPARTMENT_CODE_PATTERN
from store.models import ApiKey, DepartmentEntry

router = APIRouter(prefix="/v1/admin", tags=["admin"])

# The largest id PostgreSQL's `integer` holds: a bigger one is no key, not a database error.
MAX_KEY_ID = 2**31 - 1


# ---------------------------------------------------------------- the contract (the bodies: api/service/admin.py)


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


def _key_public(record: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(id=record.id, name=record.name, role=Role(record.role), department=record.department,
                        channels=record.channels, created_at=record.created_at, revoked_at=record.revoked_at,
                        created_by=record.created_by, revoked_by=record.revoked_by)


def _department_record(record: DepartmentEntry) -> DepartmentRecord:
    return DepartmentRecord.model_validate(record.model_dump())


# ---------------------------------------------------------------- keys


@router.post("/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated, responses=KEY_ERRORS)
async def create_key(body: ApiKeyCreate, admin: AdminDep, services: ServicesDep) -> ApiKeyCreated:
    """Make an API key; the key itself is in this answer and nowhere else.

    A `department` key names an active department of the directory; no other key names one.
    A `channel` key names the channels it may submit through; no other key names any.
    """
    record, key = await admin_service.create_key(services.database, name=body.name, role=body.role,
                                                 department=body.department, channels=body.channels,
                                                 by_key=admin.key_id)
    return ApiKeyCreated(**_key_public(record).model_dump(), key=key)


@router.get("/keys", response_model=list[ApiKeyPublic], responses=ERRORS)
async def list_keys(_: AdminDep, services: ServicesDep) -> list[ApiKeyPublic]:
    """Every API key, revoked ones too, oldest first; never the keys themselves."""
    return [_key_public(record) for record in await admin_service.list_keys(services.database)]


@router.delete("/keys/{key_id}", response_model=ApiKeyPublic, responses=REVOKE_ERRORS)
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=MAX_KEY_ID, description="The key's `id`.")],
    admin: AdminDep,
    services: ServicesDep,
) -> ApiKeyPublic:
    """Revoke a key: it is refused (401) from its next request on. Revoking a revoked key changes nothing.

    An admin cannot revoke the key it is using (409), so that no one locks the last admin out by mistake.
    """
    return _key_public(await admin_service.revoke_key(services.database, key_id, by_key=admin.key_id))


# ---------------------------------------------------------------- departments


@router.get("/departments", response_model=list[DepartmentRecord], responses=ERRORS)
async def list_departments(_: AdminDep, services: ServicesDep) -> list[DepartmentRecord]:
    """Every department of the directory, inactive ones too, by code."""
    return [_department_record(record) for record in await admin_service.list_departments(services.database)]


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
    record, created = await admin_service.put_department(
        services.database, code, name_ar=body.name_ar, name_en=body.name_en,
        email=str(body.email) if body.email else None, active=body.active)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _department_record(record)
