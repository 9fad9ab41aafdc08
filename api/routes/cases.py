"""Cases: intake by channels, reading by staff, and the staff's actions as workflow updates."""

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.deps import CallerDep, Services, ServicesDep
from api.errors import UNAUTHORIZED_RESPONSE, ErrorResponse
from api.idempotency import IdempotencyKey
from api.schemas import (
    CaseList,
    CasePublic,
    CaseReadList,
    CloseBody,
    ContestBody,
    InstructBody,
    RejectBody,
    ReplyBody,
    RequestInfoBody,
    RespondBody,
    SubmitterInfoBody,
    TriageBody,
)
from api.service import cases
from api.service.tracking import TrackingView
from domain.calendar import days_between
from domain.kinds import Channel, Kind, Status
from domain.lifecycle import Action
from domain.policy import DEPARTMENT_CODE_PATTERN
from store.case_lists import CaseFilters
from workflows.messages import CaseView

router = APIRouter(prefix="/v1/cases", tags=["cases"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORIZED_RESPONSE,
    403: {"model": ErrorResponse, "description": "The caller's role may not do this."},
    404: {"model": ErrorResponse, "description": "No such case, or not one the caller may see."},
    409: {"model": ErrorResponse, "description": "The case's state, or the caller, does not allow the action."},
    422: {"model": ErrorResponse, "description": "Invalid body; `fields` names each bad field."},
}

DEFAULT_PAGE = 50
MAX_PAGE = 100


def _iso_instant(value: Any) -> datetime:
    # Only an ISO 8601 text: pydantic would also take a number (`0.5`) as seconds since 1970.
    if isinstance(value, datetime):
        return value
    try:
        if "T" not in value.upper():
            raise ValueError("a date without a time")
        return datetime.fromisoformat(value)
    except (AttributeError, TypeError, ValueError):
        raise ValueError("not an ISO 8601 date and time, e.g. 2026-12-01T10:00:00+04:00") from None


IsoInstant = Annotated[datetime, BeforeValidator(_iso_instant)]


def _iso_day(value: Any) -> date:
    # Only YYYY-MM-DD: pydantic would also take a number as seconds since 1970, or a date and time, and
    # Python an ISO week day (2026-W49-2).
    if isinstance(value, date):
        return value
    try:
        if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
            raise ValueError("not a day")
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("not a day as YYYY-MM-DD, e.g. 2026-12-01") from None


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


class CaseListQuery(BaseModel):
    """The filters and the page of `GET /v1/cases`; a parameter it does not name is refused (422 naming it)."""

    model_config = ConfigDict(extra="forbid")

    status: list[Status] = Field(
        default=[], description="Only cases in one of these statuses; repeat the parameter for several: "
                                "`status=received&status=with_department`.")
    kind: Kind | None = None
    channel: Channel | None = Field(default=None, description="Only cases that came through this channel.")
    department: str | None = Field(
        default=None, pattern=DEPARTMENT_CODE_PATTERN, description="A department code of the directory.")
    escalation_level: int | None = Field(default=None, ge=1, le=2)
    breached: bool | None = None
    due_before: IsoInstant | None = Field(
        default=None, description="Only cases whose answer is due before this ISO 8601 instant.")
    received_from: IsoDay | None = Field(
        default=None, description="Only cases received on this day (YYYY-MM-DD, in Muscat time) or later.")
    received_to: IsoDay | None = Field(
        default=None, description="Only cases received on this day (YYYY-MM-DD, in Muscat time) or earlier.")
    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=200, description="`next_cursor` of the previous page.")


@router.get("", response_model=CaseList, responses=ERRORS)
async def list_cases(
    caller: CallerDep, services: ServicesDep, query: Annotated[CaseListQuery, Query()]
) -> CaseList:
    """The cases the caller may see, soonest answer due first: a department's work queue, the DG's escalation queue.

    Pages follow each other by `cursor`. A list holds no personal data and no description; staff see each
    case's subject, a channel key (which reads its cases as their submitters do) does not.
    """
    return await cases.list_cases(services, caller, _filters(query, services), query.limit, query.cursor)


def _filters(query: CaseListQuery, services: Services) -> CaseFilters:
    # Days are the policy's (Muscat) days; the store compares instants.
    received_from, received_before = days_between(query.received_from, query.received_to, services.policy.timezone)
    return CaseFilters(
        statuses=tuple(status.value for status in query.status),
        kind=query.kind.value if query.kind else None,
        channel=query.channel.value if query.channel else None,
        department=query.department,
        escalation_level=query.escalation_level,
        breached=query.breached,
        due_before=cases.as_utc(query.due_before) if query.due_before is not None else None,
        received_from=received_from,
        received_before=received_before,
    )


@router.get("/{reference}", response_model=CasePublic | TrackingView, responses=ERRORS)
async def read_case(reference: str, caller: CallerDep, services: ServicesDep) -> CasePublic | TrackingView:
    """The case with its timeline (`CasePublic`); the state of a running case comes live from its workflow.
    Staff reads are recorded.

    A channel key reads what the submitter reads of the case, the tracking view (`TrackingView`, as
    `GET /v1/track/{reference}` answers): never the department's internal reply or staff identities.
    """
    return await cases.read_case(services, caller, reference)


@router.get("/{reference}/reads", response_model=CaseReadList, responses=ERRORS)
async def case_reads(reference: str, caller: CallerDep, services: ServicesDep) -> CaseReadList:
    """Who read the case and when (auditors only): every read of `GET /v1/cases/{reference}` by staff, oldest first,
    each with the reading key's name, role and department."""
    return await cases.case_reads(services, caller, reference)


@router.post("/{reference}/triage", response_model=CaseView, responses=ERRORS)
async def triage(reference: str, body: TriageBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Classify the case and route it to the competent department (customer service)."""
    return await cases.triage(services, caller, reference, body.department, body.kind, body.priority,
                              body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/reject", response_model=CaseView, responses=ERRORS)
async def reject(reference: str, body: RejectBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Reject the case with the reason the submitter will be told (competence, lawfulness, genuineness, duplicate)."""
    return await cases.act_on(services, caller, reference, Action.REJECT, body,
                              idempotency_key=idempotency_key)


@router.post("/{reference}/request-info", response_model=CaseView, responses=ERRORS)
async def request_info(reference: str, body: RequestInfoBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Ask the submitter for more details; every clock pauses until they answer."""
    return await cases.act_on(services, caller, reference, Action.REQUEST_INFO, body,
                              idempotency_key=idempotency_key)


@router.post("/{reference}/submitter-info", response_model=CaseView, responses=ERRORS)
async def submitter_info(reference: str, body: SubmitterInfoBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Pass on the submitter's answer; the clocks resume with deadlines moved by the pause."""
    return await cases.act_on(services, caller, reference, Action.SUBMITTER_INFO, body,
                              idempotency_key=idempotency_key)


@router.post("/{reference}/reply", response_model=CaseView, responses=ERRORS)
async def reply(reference: str, body: ReplyBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """The department's (or, once escalated, the Director General's) reply on the case."""
    return await cases.act_on(services, caller, reference, Action.REPLY, body,
                              idempotency_key=idempotency_key)


@router.post("/{reference}/instruct", response_model=CaseView, responses=ERRORS)
async def instruct(reference: str, body: InstructBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """The Director General directs a department on an escalated case (and may hand it to another department)."""
    return await cases.instruct(services, caller, reference, body.instruction, body.department,
                                body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/respond", response_model=CaseView, responses=ERRORS)
async def respond(reference: str, body: RespondBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Send the answer to the submitter; the contest window opens."""
    return await cases.act_on(services, caller, reference, Action.RESPOND, body,
                              idempotency_key=idempotency_key)


@router.post("/{reference}/close", response_model=CaseView, responses=ERRORS)
async def close(reference: str, body: CloseBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Close and archive the case on the submitter's acceptance of the answer."""
    return await cases.act_on(services, caller, reference, Action.CLOSE, body,
                              idempotency_key=idempotency_key)


@router.post("/{reference}/contest", response_model=CaseView, responses=ERRORS)
async def contest(reference: str, body: ContestBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Pass on the submitter's contest of the answer; the case reopens at level 2."""
    return await cases.act_on(services, caller, reference, Action.CONTEST, body,
                              idempotency_key=idempotency_key)
