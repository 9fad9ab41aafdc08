"""The administrator's pages: staff accounts, API keys, the department directory and the sign-in audit.

The same rules as `/v1/admin` and `complaints user create/disable` (api/service/admin.py,
api/service/staff.py), as forms: a new account gets a one-time password and a new key its key,
each shown on the answer page only; a problem is shown next to the field it names. What an admin
changes here is on the staff audit under their login.
"""

import re
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from api.deps import ServicesDep
from api.errors import ApiError
from api.service import admin as admin_service
from api.service.admin import AdminPerson, ApiKeyCreate, DepartmentUpdate
from api.service.staff import (
    AccountRefused,
    StaffSessionInfo,
    UnknownStaffUser,
    create_account,
    disable_account,
    new_one_time_password,
)
from domain.kinds import CALL_CENTRE_CHANNELS, Channel, Role
from domain.policy import DEPARTMENT_CODE_PATTERN
from web.console.forms import BY_PATTERN, N_, problems_of_api_error, problems_of_validation, reason_in_words
from web.console.navigation import ROLE_NAMES
from web.console.new_case import CHANNEL_NAMES
from web.console.session import CheckedFormDep, StaffDep, console_page
from web.i18n import words_for

router = APIRouter(prefix="/console/admin", include_in_schema=False)

# A person's roles: a channel is a system, which gets an API key, never an account.
PERSON_ROLES = tuple(role for role in Role if role != Role.CHANNEL)
MAX_KEY_ID = 2**31 - 1
# The audit's events (api/service/staff.py, api/service/admin.py) in words.
EVENT_NAMES = {
    "created": N_("account made"), "disabled": N_("account disabled"), "signed_in": N_("signed in"),
    "sign_in_failed": N_("sign-in failed"), "locked": N_("login locked"),
    "sign_in_refused_locked": N_("sign-in refused: locked"), "signed_out": N_("signed out"),
    "password_changed": N_("password changed"), "key_created": N_("API key made"),
    "key_revoked": N_("API key revoked"), "department_added": N_("department added"),
    "department_changed": N_("department changed"),
}
# The form that adds a department, when it is the one refused.
NEW = "+"


def _admin_only(request: Request, staff: StaffSessionInfo) -> Response | None:
    if staff.caller.role == Role.ADMIN:
        return None
    return console_page(request, "console/refused.html", staff, status_code=403,
                        reason=words_for(staff.language)._("Only an administrator opens the administration pages."))


def _person(staff: StaffSessionInfo) -> AdminPerson:
    return AdminPerson(user_id=staff.user.id, login=staff.user.login)


def _text(form: FormData, name: str, limit: int = 400) -> str | None:
    return str(form.get(name) or "").strip()[:limit] or None


def _shown_once(response: Response) -> Response:
    # A password or key is on this answer only: no cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    return response


async def _departments_for_forms(services: ServicesDep, language: str) -> list[tuple[str, str]]:
    name = "name_ar" if language == "ar" else "name_en"
    return [(entry.code, f"{entry.code} · {getattr(entry, name)}")
            for entry in await admin_service.list_departments(services.database) if entry.active]


# ---------------------------------------------------------------- staff accounts


@router.get("/users")
async def users_page(request: Request, services: ServicesDep, staff: StaffDep) -> Response:
    if refused := _admin_only(request, staff):
        return refused
    return await _users(request, services, staff)


@router.post("/users")
async def create_user(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep) -> Response:
    if refused := _admin_only(request, staff):
        return refused
    words = words_for(staff.language)
    values = {name: _text(form, name) or "" for name in ("login", "name", "role", "department")}
    if values["role"] not in {role.value for role in PERSON_ROLES}:
        return await _users(request, services, staff, values=values, status_code=422,
                            errors={"role": words._("Choose one of the options.")})
    password = new_one_time_password()
    try:
        user = await create_account(services.database, login=values["login"], name=values["name"],
                                    role=Role(values["role"]), department=values["department"] or None,
                                    password=password, one_time=True)
    except AccountRefused as refused:
        return await _users(request, services, staff, values=values, status_code=422,
                            errors={refused.field: reason_in_words(words, refused.reason)})
    return _shown_once(await _users(request, services, staff, created=user, one_time_password=password))


@router.post("/users/disable")
async def disable_user(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep) -> Response:
    if refused := _admin_only(request, staff):
        return refused
    words = words_for(staff.language)
    login = _text(form, "login", 120) or ""
    if login == staff.user.login:
        return await _users(request, services, staff, status_code=409,
                            notice=words._("You cannot disable your own account; ask another administrator."))
    try:
        await disable_account(services.database, login, by=staff.user.login)
    except UnknownStaffUser:
        return await _users(request, services, staff, status_code=404, notice=words._("No account has this login."))
    return RedirectResponse(f"/console/admin/users?disabled={quote(login, safe='')}", status_code=303)


async def _users(request: Request, services: ServicesDep, staff: StaffSessionInfo, *, status_code: int = 200,
                 values: dict | None = None, errors: dict | None = None, notice: str | None = None,
                 created=None, one_time_password: str | None = None) -> Response:
    return console_page(
        request, "console/admin_users.html", staff, status_code=status_code,
        users=await admin_service.list_accounts(services.database), values=values or {}, errors=errors or {},
        notice=notice, created=created, one_time_password=one_time_password,
        disabled=request.query_params.get("disabled"),
        roles=[(role.value, words_for(staff.language)._(ROLE_NAMES[role])) for role in PERSON_ROLES],
        departments=await _departments_for_forms(services, staff.language),
    )


# ---------------------------------------------------------------- API keys


@router.get("/keys")
async def keys_page(request: Request, services: ServicesDep, staff: StaffDep) -> Response:
    if refused := _admin_only(request, staff):
        return refused
    return await _keys(request, services, staff)


@router.post("/keys")
async def create_key(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep) -> Response:
    if refused := _admin_only(request, staff):
        return refused
    words = words_for(staff.language)
    channels = [str(value) for value in form.getlist("channels")]
    values = {"name": _text(form, "name") or "", "role": _text(form, "role") or "",
              "department": _text(form, "department"), "channels": channels}
    try:
        body = ApiKeyCreate.model_validate({**values, "channels": channels or None})
        record, key = await admin_service.create_key(services.database, name=body.name, role=body.role,
                                                     department=body.department, channels=body.channels,
                                                     by_person=_person(staff))
    except ValidationError as invalid:
        return await _keys(request, services, staff, values=values, status_code=422,
                           errors=problems_of_validation(words, invalid))
    except ApiError as refused:
        return await _keys(request, services, staff, values=values, status_code=refused.status,
                           errors=problems_of_api_error(words, refused))
    return _shown_once(await _keys(request, services, staff, created=record, key=key))


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep,
                     key_id: int = Path(ge=1, le=MAX_KEY_ID)) -> Response:
    if refused := _admin_only(request, staff):
        return refused
    try:
        await admin_service.revoke_key(services.database, key_id, by_person=_person(staff))
    except ApiError:
        return await _keys(request, services, staff, status_code=404,
                           notice=words_for(staff.language)._("No API key has this number."))
    return RedirectResponse(f"/console/admin/keys?revoked={key_id}", status_code=303)


async def _keys(request: Request, services: ServicesDep, staff: StaffSessionInfo, *, status_code: int = 200,
                values: dict | None = None, errors: dict | None = None, notice: str | None = None,
                created=None, key: str | None = None) -> Response:
    words = words_for(staff.language)
    return console_page(
        request, "console/admin_keys.html", staff, status_code=status_code,
        keys=await admin_service.list_keys(services.database), values=values or {"channels": []},
        errors=errors or {}, notice=notice, created=created, key=key, revoked=request.query_params.get("revoked"),
        roles=[(role.value, words._(ROLE_NAMES[role])) for role in Role],
        channels=[(channel.value, words._(CHANNEL_NAMES[channel])) for channel in Channel],
        departments=await _departments_for_forms(services, staff.language),
        call_centre_channels=CALL_CENTRE_CHANNELS,
    )


# ---------------------------------------------------------------- departments


@router.get("/departments")
async def departments_page(request: Request, services: ServicesDep, staff: StaffDep) -> Response:
    if refused := _admin_only(request, staff):
        return refused
    return await _departments(request, services, staff)


@router.post("/departments")
async def put_department(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep) -> Response:
    """Add a department (the form with a code field) or change one (each department's own form)."""
    if refused := _admin_only(request, staff):
        return refused
    words = words_for(staff.language)
    values = {"code": (_text(form, "code", 40) or "").upper(), "name_ar": _text(form, "name_ar") or "",
              "name_en": _text(form, "name_en") or "", "email": _text(form, "email"),
              "active": form.get("active") == "on"}
    adding = form.get("adding") == "yes"
    errors: dict[str, str] = {}
    if not re.fullmatch(DEPARTMENT_CODE_PATTERN, values["code"]):
        errors["code"] = words._(BY_PATTERN["code"])
    elif adding and values["code"] in {entry.code for entry in await admin_service.list_departments(services.database)}:
        errors["code"] = words._("A department has this code already: change it in its own form below.")
    try:
        body = DepartmentUpdate.model_validate({key: values[key] for key in ("name_ar", "name_en", "email", "active")})
    except ValidationError as invalid:
        errors |= problems_of_validation(words, invalid)
    if errors:
        return await _departments(request, services, staff, status_code=422, values=values, errors=errors,
                                  failed=NEW if adding else values["code"])
    try:
        await admin_service.put_department(services.database, values["code"], name_ar=body.name_ar,
                                           name_en=body.name_en, email=str(body.email) if body.email else None,
                                           active=body.active, by_person=_person(staff))
    except ApiError:
        return await _departments(request, services, staff, status_code=409, failed=values["code"],
                                  values=values, errors={"active": words._(
                                      "The customer-service department triages every case: it stays active.")})
    return RedirectResponse(f"/console/admin/departments?saved={values['code']}#department-{values['code']}",
                            status_code=303)


async def _departments(request: Request, services: ServicesDep, staff: StaffSessionInfo, *, status_code: int = 200,
                       values: dict | None = None, errors: dict | None = None, failed: str | None = None) -> Response:
    return console_page(
        request, "console/admin_departments.html", staff, status_code=status_code,
        departments=await admin_service.list_departments(services.database), values=values or {},
        errors=errors or {}, failed=failed, saved=request.query_params.get("saved"),
    )


# ---------------------------------------------------------------- the sign-in audit


@router.get("/audit")
async def audit_page(request: Request, services: ServicesDep, staff: StaffDep,
                     login: str | None = Query(default=None, max_length=120)) -> Response:
    if refused := _admin_only(request, staff):
        return refused
    login = (login or "").strip() or None
    return console_page(request, "console/admin_audit.html", staff, login=login or "",
                        entries=await admin_service.audit_log(services.database, login=login),
                        event_names=EVENT_NAMES)
