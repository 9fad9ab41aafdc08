"""Cases: intake by channels, reading by staff, and the staff's actions as workflow updates."""

import binascii
import json
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlmodel import select
from temporalio.service import RPCError

from api import errors
from api.auth import Caller
from api.departments import active_department_codes
from api.deps import CallerDep, Services, ServicesDep
from api.errors import ErrorResponse
from api.routes.tracking import TrackingView, tracking_view_of
from api.schemas import (
    CaseList,
    CasePublic,
    CaseReadEntry,
    CaseReadList,
    CaseSummary,
    CloseBody,
    ContestBody,
    InstructBody,
    RejectBody,
    ReplyBody,
    RequestInfoBody,
    RespondBody,
    SubmitterInfoBody,
    SubmitterPublic,
    TimelineEntryPublic,
    TriageBody,
)
from api.updates import IdempotencyKey, send_update
from api.visibility import (
    may_see,
    may_see_submitter,
    reads_case_file,
    reads_cases,
    sees_every_case,
    visible_to,
)
from domain.calendar import days_between
from domain.kinds import FINAL_STATUSES, Channel, Kind, Role, Status
from domain.policy import DEPARTMENT_CODE_PATTERN
from store.case_lists import CaseFilters, reads_of_case
from store.case_lists import list_cases as list_case_rows
from store.models import CaseRead, CaseRecord, DepartmentEntry, TimelineEntry
from workflows.case import CaseWorkflow, workflow_id
from workflows.messages import (
    CaseView,
    CloseRequest,
    ContestRequest,
    DepartmentReply,
    InfoRequest,
    Instruction,
    RejectRequest,
    SubmitterInfo,
    SubmitterResponse,
    TriageRequest,
)

router = APIRouter(prefix="/v1/cases", tags=["cases"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No valid API key."},
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
    if not reads_cases(caller):
        raise errors.forbidden("an admin key reads no case content")
    if query.department is not None and not await _in_directory(services, query.department):
        raise _invalid_filter("department", "not a department of the directory",
                              f"unknown department {query.department!r}")
    if query.received_from and query.received_to and query.received_to < query.received_from:
        raise _invalid_filter("received_to", "before received_from")
    fields = [name for name in CaseSummary.model_fields if name != "subject" or reads_case_file(caller)]
    after = _decode_cursor(query.cursor) if query.cursor is not None else None
    rows = await list_case_rows(services.database, visible_to(caller), fields, _filters(query, services),
                                limit=query.limit + 1, after=after)
    items = [CaseSummary.model_validate(row) for row in rows[:query.limit]]
    next_cursor = _encode_cursor(items[-1].answer_due, items[-1].reference) if len(rows) > query.limit else None
    return CaseList(items=items, next_cursor=next_cursor)


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
        due_before=_aware(query.due_before) if query.due_before is not None else None,
        received_from=received_from,
        received_before=received_before,
    )


def _invalid_filter(field: str, reason: str, message: str | None = None) -> errors.ApiError:
    return errors.ApiError(422, "validation_error", f"invalid request: {field}: {message or reason}",
                           [errors.FieldProblem(field=field, reason=reason)])


async def _in_directory(services: Services, code: str) -> bool:
    """Any department of the directory, active or not: an inactive one still has its old cases."""
    async with services.database.session() as session:
        return await session.get(DepartmentEntry, code) is not None


def _aware(instant: datetime) -> datetime:
    # An instant without a zone is taken as UTC.
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _encode_cursor(answer_due: datetime, reference: str) -> str:
    """Opaque to callers: the sort key (answer due, reference) of the last item of the page."""
    return urlsafe_b64encode(json.dumps([answer_due.isoformat(), reference]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        due, reference = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(reference, str) or "\x00" in reference:
            raise ValueError("not a reference")
        return _aware(datetime.fromisoformat(due)), reference
    except (ValueError, TypeError, binascii.Error):
        raise _invalid_filter("cursor", "not a cursor this API gave") from None


@router.get("/{reference}", response_model=CasePublic | TrackingView, responses=ERRORS)
async def read_case(reference: str, caller: CallerDep, services: ServicesDep) -> CasePublic | TrackingView:
    """The case with its timeline (`CasePublic`); the state of a running case comes live from its workflow.
    Staff reads are recorded.

    A channel key reads what the submitter reads of the case, the tracking view (`TrackingView`, as
    `GET /v1/track/{reference}` answers): never the department's internal reply or staff identities.
    """
    if not reads_cases(caller):
        raise errors.forbidden("an admin key reads no case content")
    record, timeline = await _load_record(services, reference)
    # A case accepted moments ago whose first step has not written the row yet reads as not found, briefly;
    # a case the caller may not see reads exactly as one that does not exist.
    if record is None or not may_see(caller, record):
        raise errors.not_found(reference)
    if not reads_case_file(caller):
        # A channel shows the submitter their case: it gets the submitter's view, shaped in its one home.
        return await tracking_view_of(services, reference)
    view = None
    if record.status not in FINAL_STATUSES:
        view = await _query_view(services, reference)
    if caller.role in STAFF:
        await _record_read(services, reference, caller)
    return _case_public(record, timeline, view, caller)


@router.get("/{reference}/reads", response_model=CaseReadList, responses=ERRORS)
async def case_reads(reference: str, caller: CallerDep, services: ServicesDep) -> CaseReadList:
    """Who read the case and when (auditors only): every read of `GET /v1/cases/{reference}` by staff, oldest first,
    each with the reading key's name, role and department."""
    if caller.role != Role.AUDITOR:
        raise errors.forbidden("only an auditor reads the record of who read a case")
    reads = await reads_of_case(services.database, reference)
    if reads is None:
        raise errors.not_found(reference)
    return CaseReadList(reference=reference, reads=[CaseReadEntry.model_validate(read) for read in reads])


# Whose reads of a case the auditor is shown: people of the ministry, not a channel integration reading back
# what it submitted (and admin keys read no case at all).
STAFF = frozenset({Role.CS_AGENT, Role.DEPARTMENT, Role.DIRECTOR_GENERAL, Role.AUDITOR})


async def _record_read(services: Services, reference: str, caller: Caller) -> None:
    # Written before the case is shown: a read that cannot be recorded fails.
    async with services.database.transaction() as session:
        session.add(CaseRead(reference=reference, key_id=caller.key_id, role=caller.role.value, at=datetime.now(UTC)))


async def ensure_visible(services: Services, caller: Caller, reference: str) -> None:
    """Before an action: 403 for a role that reads no cases, 404 for a case the caller may not see.

    Whether the caller may take the action is the workflow's to decide (409); this only keeps a
    caller from learning, through an action, that a case it may not see exists.
    """
    if not reads_cases(caller):
        raise errors.forbidden("an admin key acts on no case")
    if sees_every_case(caller):
        return  # an unknown reference is the workflow's 404
    async with services.database.session() as session:
        record = await session.get(CaseRecord, reference)
    if record is None or not may_see(caller, record):
        raise errors.not_found(reference)


async def _load_record(services: Services, reference: str) -> tuple[CaseRecord | None, list[TimelineEntry]]:
    # One snapshot for both reads: a step committed between them would show a case whose row and
    # timeline disagree (closed in the timeline, with no closed_at yet).
    async with services.database.snapshot() as session:
        record = await session.get(CaseRecord, reference)
        if record is None:
            return None, []
        timeline = (
            await session.exec(
                select(TimelineEntry).where(TimelineEntry.reference == reference).order_by(TimelineEntry.id)
            )
        ).all()
    return record, list(timeline)


async def _query_view(services: Services, reference: str) -> CaseView | None:
    handle = services.temporal.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
    try:
        return await handle.query(CaseWorkflow.view)
    except RPCError:
        return None


def _case_public(record: CaseRecord, timeline: list[TimelineEntry], view: CaseView | None,
                 caller: Caller) -> CasePublic:
    live = view or record
    submitter = channel_ref = None
    # The channel's reference (a Tajawob one, say) can lead back to the person: it goes with the identity.
    if may_see_submitter(caller, kind=live.kind, reference=record.reference):
        channel_ref = record.channel_ref
        submitter = SubmitterPublic(
            category=record.submitter_category,
            name=record.submitter_name,
            civil_id=record.submitter_civil_id,
            email=record.submitter_email,
            phone=record.submitter_phone,
        )
    return CasePublic(
        reference=record.reference,
        kind=live.kind,
        channel=record.channel,
        channel_ref=channel_ref,
        status=live.status,
        priority=live.priority,
        department=live.department,
        escalation_level=live.escalation_level,
        breached=live.breached,
        received_at=record.received_at,
        department_due=live.department_due,
        answer_due=live.answer_due,
        closed_at=record.closed_at,
        closed_reason=view.closed_reason if view else None,
        policy_version=record.policy_version,
        subject=record.subject,
        description=record.description,
        submitter=submitter,
        timeline=[
            TimelineEntryPublic(
                at=entry.at, actor=entry.actor, action=entry.action, from_status=entry.from_status,
                to_status=entry.to_status, detail=entry.detail,
            )
            for entry in timeline
        ],
    )


@router.post("/{reference}/triage", response_model=CaseView, responses=ERRORS)
async def triage(reference: str, body: TriageBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Classify the case and route it to the competent department (customer service)."""
    await ensure_visible(services, caller, reference)
    active = await active_department_codes(services.database)
    if body.department not in active:
        raise _not_an_active_department(body.department)
    request = TriageRequest(
        actor=caller.as_actor(), department=body.department,
        kind=body.kind.value if body.kind else None, priority=body.priority.value if body.priority else None,
        active_departments=active,
    )
    return await send_update(services, reference, CaseWorkflow.triage, request,
                             body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/reject", response_model=CaseView, responses=ERRORS)
async def reject(reference: str, body: RejectBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Reject the case with the reason the submitter will be told (competence, lawfulness, genuineness, duplicate)."""
    await ensure_visible(services, caller, reference)
    return await send_update(services, reference, CaseWorkflow.reject, RejectRequest(caller.as_actor(), body.reason),
                             body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/request-info", response_model=CaseView, responses=ERRORS)
async def request_info(reference: str, body: RequestInfoBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Ask the submitter for more details; every clock pauses until they answer."""
    await ensure_visible(services, caller, reference)
    return await send_update(services, reference, CaseWorkflow.request_info,
                             InfoRequest(caller.as_actor(), body.question),
                             body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/submitter-info", response_model=CaseView, responses=ERRORS)
async def submitter_info(reference: str, body: SubmitterInfoBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Pass on the submitter's answer; the clocks resume with deadlines moved by the pause."""
    await ensure_visible(services, caller, reference)
    return await send_update(services, reference, CaseWorkflow.submitter_info,
                             SubmitterInfo(caller.as_actor(), body.answer),
                             body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/reply", response_model=CaseView, responses=ERRORS)
async def reply(reference: str, body: ReplyBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """The department's (or, once escalated, the Director General's) reply on the case."""
    await ensure_visible(services, caller, reference)
    return await send_update(services, reference, CaseWorkflow.reply, DepartmentReply(caller.as_actor(), body.summary),
                             body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/instruct", response_model=CaseView, responses=ERRORS)
async def instruct(reference: str, body: InstructBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """The Director General directs a department on an escalated case (and may hand it to another department)."""
    await ensure_visible(services, caller, reference)
    active = await active_department_codes(services.database)
    if body.department is not None and body.department not in active:
        raise _not_an_active_department(body.department)
    request = Instruction(caller.as_actor(), body.instruction, body.department, active_departments=active)
    return await send_update(services, reference, CaseWorkflow.instruct, request,
                             body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/respond", response_model=CaseView, responses=ERRORS)
async def respond(reference: str, body: RespondBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Send the answer to the submitter; the contest window opens."""
    await ensure_visible(services, caller, reference)
    return await send_update(services, reference, CaseWorkflow.respond,
                             SubmitterResponse(caller.as_actor(), body.message),
                             body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/close", response_model=CaseView, responses=ERRORS)
async def close(reference: str, body: CloseBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Close and archive the case on the submitter's acceptance of the answer."""
    await ensure_visible(services, caller, reference)
    return await send_update(services, reference, CaseWorkflow.close, CloseRequest(caller.as_actor()),
                             body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/contest", response_model=CaseView, responses=ERRORS)
async def contest(reference: str, body: ContestBody, caller: CallerDep, services: ServicesDep,
        idempotency_key: IdempotencyKey = None) -> CaseView:
    """Pass on the submitter's contest of the answer; the case reopens at level 2."""
    await ensure_visible(services, caller, reference)
    return await send_update(services, reference, CaseWorkflow.contest, ContestRequest(caller.as_actor(), body.reason),
                             body=body, idempotency_key=idempotency_key)


def _not_an_active_department(code: str) -> errors.ApiError:
    return errors.ApiError(422, "validation_error", f"unknown department {code!r}",
                           [errors.FieldProblem(field="department",
                                                reason="not an active department of the directory")])
