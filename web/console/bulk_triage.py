"""Bulk triage: customer service routes several new cases to one department at once.

The customer-service queue posts its checked rows here (`reference`, several, and `department`,
optionally `kind` and `priority`); so does this module's own page. Each case is its own triage,
sent to its workflow exactly as `POST /v1/cases/{reference}/triage` sends it (api/service/cases.py),
so one refusal stops none of the others; the answer lists which were routed and which were
refused, and why.
"""

import secrets
from dataclasses import dataclass

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from api.deps import ServicesDep
from api.errors import ApiError
from api.schemas import TriageBody
from api.service import cases
from api.service.staff import StaffSessionInfo
from domain.kinds import Role, Status
from store.case_lists import CaseFilters
from store.departments import active_departments
from web.console.forms import problems_of_validation, refusal_in_words
from web.console.new_case import KIND_NAMES, PRIORITY_NAMES
from web.console.session import CheckedFormDep, StaffDep, console_page
from web.i18n import words_for

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
# One request routes at most this many cases: each is a round trip to its workflow.
MOST_AT_ONCE = 200


@dataclass(frozen=True)
class Outcome:
    reference: str
    routed_to: str | None = None
    refusal: str | None = None


@router.get("/triage")
async def triage_page(request: Request, services: ServicesDep, staff: StaffDep) -> Response:
    if refused := _refused_unless_customer_service(request, staff):
        return refused
    return await _page(request, services, staff)


@router.post("/triage")
async def triage_many(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep) -> Response:
    if refused := _refused_unless_customer_service(request, staff):
        return refused
    words = words_for(staff.language)
    references = list(dict.fromkeys(str(value).strip() for value in form.getlist("reference") if str(value).strip()))
    fields = {name: str(form.get(name) or "").strip() or None for name in ("department", "kind", "priority")}
    errors: dict[str, str] = {}
    if not references:
        errors["reference"] = words._("Choose at least one case.")
    elif len(references) > MOST_AT_ONCE:
        errors["reference"] = words._("At most {count} cases at once.", count=MOST_AT_ONCE)
    try:
        body = TriageBody.model_validate(fields | {"department": fields["department"] or ""})
    except ValidationError as invalid:
        errors |= problems_of_validation(words, invalid)
    if errors:
        return await _page(request, services, staff, errors=errors, chosen=fields, status_code=422)
    key = str(form.get("idempotency_key") or "")[:100] or None
    outcomes = [await _triage_one(services, staff, reference, body, key) for reference in references]
    names = await _department_names(services, staff.language)
    return console_page(request, "console/bulk_triage_result.html", staff, department_names=names,
                        department=names.get(body.department, body.department),
                        routed=[o for o in outcomes if o.refusal is None],
                        refused=[o for o in outcomes if o.refusal is not None])


async def _triage_one(services: ServicesDep, staff: StaffSessionInfo, reference: str, body: TriageBody,
                      key: str | None) -> Outcome:
    try:
        view = await cases.triage(services, staff.caller, reference, body.department, body.kind, body.priority,
                                  body=body, idempotency_key=f"{key}:{reference}" if key else None)
    except ApiError as refused:
        return Outcome(reference, refusal=refusal_in_words(words_for(staff.language), refused))
    return Outcome(reference, routed_to=view.department)


def _refused_unless_customer_service(request: Request, staff: StaffSessionInfo) -> Response | None:
    if staff.caller.role == Role.CS_AGENT:
        return None
    return console_page(request, "console/refused.html", staff, status_code=403,
                        reason=words_for(staff.language)._("Only customer service triages cases."))


async def _department_names(services: ServicesDep, language: str) -> dict[str, str]:
    name = "name_ar" if language == "ar" else "name_en"
    return {entry.code: getattr(entry, name) for entry in await active_departments(services.database)}


async def _page(request: Request, services: ServicesDep, staff: StaffSessionInfo, *,
                errors: dict[str, str] | None = None, chosen: dict | None = None, status_code: int = 200) -> Response:
    """The new cases waiting for triage, soonest due first, each with its checkbox, and the department to route to."""
    words = words_for(staff.language)
    waiting = await cases.list_cases(services, staff.caller, CaseFilters(statuses=(Status.RECEIVED.value,)), PAGE_SIZE)
    names = await _department_names(services, staff.language)
    return console_page(
        request, "console/bulk_triage.html", staff, status_code=status_code, cases=waiting.items,
        errors=errors or {}, chosen=chosen or {},
        departments=list(names.items()),
        kinds=[(kind.value, words._(text)) for kind, text in KIND_NAMES.items()],
        priorities=[(priority.value, words._(text)) for priority, text in PRIORITY_NAMES.items()],
        kind_names=KIND_NAMES,
        # A resent form is the same triage of each case (the Update's id comes from it), never a second one.
        idempotency_key=secrets.token_urlsafe(18),
    )
