"""Cases: intake by channels, reading by staff, and the staff's actions as workflow updates."""

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api import errors
from api.auth import Caller
from api.deps import CallerDep, Services, ServicesDep
from api.errors import ErrorResponse
from api.schemas import (
    CasePublic,
    CloseBody,
    ContestBody,
    RejectBody,
    ReplyBody,
    RequestInfoBody,
    RespondBody,
    SubmitterInfoBody,
    SubmitterPublic,
    TimelineEntryPublic,
    TriageBody,
)
from domain.kinds import FINAL_STATUSES, Kind, Role
from store.models import CaseRecord, TimelineEntry
from workflows.case import CaseWorkflow, workflow_id
from workflows.messages import (
    CaseView,
    CloseRequest,
    ContestRequest,
    DepartmentReply,
    InfoRequest,
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

# A case whose worker is down must not hold a caller forever; the update is not lost, only the wait.
UPDATE_TIMEOUT = timedelta(seconds=30)


@router.get("/{reference}", response_model=CasePublic, responses=ERRORS)
async def read_case(reference: str, caller: CallerDep, services: ServicesDep) -> CasePublic:
    """The case with its timeline; the state of a running case comes live from its workflow."""
    record, timeline = await _load_record(services, reference)
    view = None
    if record is None or record.status not in FINAL_STATUSES:
        view = await _query_view(services, reference)
    if record is None:
        # A case accepted moments ago whose first step has not written the row yet reads as not found, briefly.
        raise errors.not_found(reference)
    return _case_public(record, timeline, view, caller)


async def _load_record(services: Services, reference: str) -> tuple[CaseRecord | None, list[TimelineEntry]]:
    async with services.database.session() as session:
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


def _may_see_submitter(caller: Caller, kind: str) -> bool:
    # The identity of whoever files a report is for the customer-service team and auditors only.
    return not (kind == Kind.REPORT and caller.role in {Role.DEPARTMENT, Role.DIRECTOR_GENERAL})


def _case_public(record: CaseRecord, timeline: list[TimelineEntry], view: CaseView | None, caller: Caller) -> CasePublic:
    live = view or record
    submitter = None
    if _may_see_submitter(caller, live.kind):
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
        channel_ref=record.channel_ref,
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


async def send_update(services: Services, reference: str, update, request) -> CaseView:
    """Send an action to the case's workflow and wait for its answer; refusals become 409."""
    handle = services.temporal.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
    try:
        return await handle.execute_update(update, request, rpc_timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as failure:
        raise errors.from_update_failure(failure) from None
    except RPCError as failure:
        raise errors.from_rpc_error(failure, reference) from None


@router.post("/{reference}/triage", response_model=CaseView, responses=ERRORS)
async def triage(reference: str, body: TriageBody, caller: CallerDep, services: ServicesDep) -> CaseView:
    """Classify the case and route it to the competent department (customer service)."""
    if services.policy.department(body.department) is None:
        raise errors.ApiError(422, "validation_error", f"unknown department {body.department!r}",
                              [errors.FieldProblem(field="department", reason="not a department of the policy")])
    request = TriageRequest(
        actor=caller.as_actor(), department=body.department,
        kind=body.kind.value if body.kind else None, priority=body.priority.value if body.priority else None,
    )
    return await send_update(services, reference, CaseWorkflow.triage, request)


@router.post("/{reference}/reject", response_model=CaseView, responses=ERRORS)
async def reject(reference: str, body: RejectBody, caller: CallerDep, services: ServicesDep) -> CaseView:
    """Reject the case with the reason the submitter will be told (competence, lawfulness, genuineness, duplicate)."""
    return await send_update(services, reference, CaseWorkflow.reject, RejectRequest(caller.as_actor(), body.reason))


@router.post("/{reference}/request-info", response_model=CaseView, responses=ERRORS)
async def request_info(reference: str, body: RequestInfoBody, caller: CallerDep, services: ServicesDep) -> CaseView:
    """Ask the submitter for more details; every clock pauses until they answer."""
    return await send_update(services, reference, CaseWorkflow.request_info, InfoRequest(caller.as_actor(), body.question))


@router.post("/{reference}/submitter-info", response_model=CaseView, responses=ERRORS)
async def submitter_info(reference: str, body: SubmitterInfoBody, caller: CallerDep, services: ServicesDep) -> CaseView:
    """Pass on the submitter's answer; the clocks resume with deadlines moved by the pause."""
    return await send_update(services, reference, CaseWorkflow.submitter_info, SubmitterInfo(caller.as_actor(), body.answer))


@router.post("/{reference}/reply", response_model=CaseView, responses=ERRORS)
async def reply(reference: str, body: ReplyBody, caller: CallerDep, services: ServicesDep) -> CaseView:
    """The department's (or, once escalated, the Director General's) reply on the case."""
    return await send_update(services, reference, CaseWorkflow.reply, DepartmentReply(caller.as_actor(), body.summary))


@router.post("/{reference}/respond", response_model=CaseView, responses=ERRORS)
async def respond(reference: str, body: RespondBody, caller: CallerDep, services: ServicesDep) -> CaseView:
    """Send the answer to the submitter; the contest window opens."""
    return await send_update(services, reference, CaseWorkflow.respond, SubmitterResponse(caller.as_actor(), body.message))


@router.post("/{reference}/close", response_model=CaseView, responses=ERRORS)
async def close(reference: str, body: CloseBody, caller: CallerDep, services: ServicesDep) -> CaseView:
    """Close and archive the case on the submitter's acceptance of the answer."""
    return await send_update(services, reference, CaseWorkflow.close, CloseRequest(caller.as_actor()))


@router.post("/{reference}/contest", response_model=CaseView, responses=ERRORS)
async def contest(reference: str, body: ContestBody, caller: CallerDep, services: ServicesDep) -> CaseView:
    """Pass on the submitter's contest of the answer; the case reopens at level 2."""
    return await send_update(services, reference, CaseWorkflow.contest, ContestRequest(caller.as_actor(), body.reason))
