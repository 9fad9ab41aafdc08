"""Cases as staff and channels see them: read one, list them, and act on one through its workflow.

The JSON routes (api/routes/cases.py) and the staff console call these; whether the caller may see
a case is `api.service.visibility`'s one rule, and whether it may take an action is the workflow's.
"""

import binascii
import json
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from api import errors
from api.auth import Caller
from api.deps import Services
from api.schemas import (
    CaseList,
    CasePublic,
    CaseReadEntry,
    CaseReadList,
    CaseSummary,
    SubmitterPublic,
    TimelineEntryPublic,
)
from api.service.tracking import TrackingView, tracking_view_of
from api.service.updates import query_view, send_update
from api.service.visibility import (
    may_see,
    may_see_submitter,
    reads_case_file,
    reads_cases,
    scope_of,
    sees_every_case,
)
from domain.kinds import FINAL_STATUSES, Kind, Priority, Role
from domain.lifecycle import Action
from store.case_lists import CaseFilters, reads_of_case
from store.case_lists import list_cases as list_case_rows
from store.cases import find_case, read_case_file, record_read
from store.deliveries import messages_of_case
from store.departments import active_department_codes, find_department
from store.models import CaseRecord, TimelineEntry
from workflows.case import CaseWorkflow
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


async def read_case(services: Services, caller: Caller, reference: str) -> CasePublic | TrackingView:
    """The case with its timeline, its state live from its workflow while it runs; staff reads are recorded.

    A channel reads what the submitter reads of the case, the tracking view: never the department's
    internal reply or staff identities.
    """
    if not reads_cases(caller):
        raise errors.forbidden("an admin key reads no case content")
    case_file = await read_case_file(services.database, reference)
    # A case accepted moments ago whose first step has not written the row yet reads as not found, briefly;
    # a case the caller may not see reads exactly as one that does not exist.
    if case_file is None or not may_see(caller, case_file.record):
        raise errors.not_found(reference)
    if not reads_case_file(caller):
        # A channel shows the submitter their case: it gets the submitter's view, shaped in its one home.
        return await tracking_view_of(services, reference)
    view = None
    if case_file.record.status not in FINAL_STATUSES:
        view = await query_view(services, reference)
    if caller.role in STAFF:
        await _record_read(services, reference, caller)
    return _case_public(case_file.record, case_file.timeline, view, caller)


@dataclass(frozen=True)
class MessageSent:
    """A message of the case as staff see it: whom it is for and how far it got, never an address."""

    template: str
    recipient: str
    status: str
    at: datetime
    deliveries: list[tuple[str, str]]  # (transport, state)


async def case_messages(services: Services, caller: Caller, reference: str) -> list[MessageSent]:
    """The messages the case has sent (or is sending) and their delivery state, for staff who may see the case."""
    if not reads_case_file(caller):
        raise errors.forbidden("only staff read a case's messages")
    await ensure_visible(services, caller, reference)
    return [
        MessageSent(template=message.template, recipient=message.recipient, status=message.status,
                    at=message.created_at, deliveries=[(each.transport, each.status) for each in deliveries])
        for message, deliveries in await messages_of_case(services.database, reference)
    ]


async def case_reads(services: Services, caller: Caller, reference: str) -> CaseReadList:
    """Who read the case and when (auditors only), oldest first."""
    if caller.role != Role.AUDITOR:
        raise errors.forbidden("only an auditor reads the record of who read a case")
    reads = await reads_of_case(services.database, reference)
    if reads is None:
        raise errors.not_found(reference)
    return CaseReadList(reference=reference, reads=[CaseReadEntry.model_validate(read) for read in reads])


async def list_cases(services: Services, caller: Caller, filters: CaseFilters, limit: int,
                     cursor: str | None = None, *, order: str = "answer_due") -> CaseList:
    """The cases the caller may see, soonest answer due (or `order="department_due"`: department due) first, a page
    of `limit` after the one `cursor` ended; staff see each case's subject, a channel does not."""
    if not reads_cases(caller):
        raise errors.forbidden("an admin key reads no case content")
    if filters.subject_words and not reads_case_file(caller):
        # Whoever may not read a subject may not learn what it says by searching it either.
        raise invalid_filter("search", "searches references only for this caller")
    # Any department of the directory, active or not: an inactive one still has its old cases.
    if filters.department is not None and await find_department(services.database, filters.department) is None:
        raise invalid_filter("department", "not a department of the directory",
                             f"unknown department {filters.department!r}")
    if filters.received_from and filters.received_before and filters.received_before <= filters.received_from:
        raise invalid_filter("received_to", "before received_from")
    fields = [name for name in CaseSummary.model_fields if name != "subject" or reads_case_file(caller)]
    after = _decode_cursor(cursor) if cursor is not None else None
    rows = await list_case_rows(services.database, scope_of(caller), fields, filters, limit=limit + 1, after=after,
                                order=order)
    items = [CaseSummary.model_validate(row) for row in rows[:limit]]
    next_cursor = _encode_cursor(getattr(items[-1], order), items[-1].reference) if len(rows) > limit else None
    return CaseList(items=items, next_cursor=next_cursor)


def search_filters(caller: Caller, text: str | None) -> dict[str, Any]:
    """What a search box asks of a list: a reference (`C-2026-000123`), or else words of the subject for those who
    read subjects; the CaseFilters fields to set."""
    words = tuple((text or "").split())
    if len(words) == 1 and REFERENCE.fullmatch(words[0]):
        return {"reference": words[0].upper()}
    if not words:
        return {}
    if not reads_case_file(caller):
        return {"reference": words[0].upper()}  # a reference it does not know finds nothing
    return {"subject_words": words[:10]}


# A case reference as the API gives it: a kind's letter, the year, a sequence number.
REFERENCE = re.compile(r"[CRScrs]-[0-9]{4}-[0-9]{1,12}")


def as_utc(instant: datetime) -> datetime:
    # An instant without a zone is taken as UTC.
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _encode_cursor(answer_due: datetime, reference: str) -> str:
    """Opaque to callers: the sort key (answer or department due, reference) of the last item of the page."""
    return urlsafe_b64encode(json.dumps([answer_due.isoformat(), reference]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        due, reference = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(reference, str) or "\x00" in reference:
            raise ValueError("not a reference")
        return as_utc(datetime.fromisoformat(due)), reference
    except (ValueError, TypeError, binascii.Error):
        raise invalid_filter("cursor", "not a cursor this API gave") from None


def invalid_filter(field: str, reason: str, message: str | None = None) -> errors.ApiError:
    return errors.ApiError(422, "validation_error", f"invalid request: {field}: {message or reason}",
                           [errors.FieldProblem(field=field, reason=reason)])


async def act(services: Services, caller: Caller, reference: str, update, request, *, body: BaseModel,
              idempotency_key: str | None) -> CaseView:
    """Send the case's workflow the action as its Update, once the caller may see the case; its answer, or
    its refusal as an error."""
    await ensure_visible(services, caller, reference)
    return await send_update(services, reference, update, request, body=body, idempotency_key=idempotency_key)


# Each action that is one message to the workflow: its Update, and the message made from the actor and the body
# (api/schemas.py's body of that action). Triage and instruct check the directory first (below).
MESSAGES = {
    Action.REJECT: (CaseWorkflow.reject, lambda actor, body: RejectRequest(actor, body.reason, body.ground)),
    Action.REQUEST_INFO: (CaseWorkflow.request_info, lambda actor, body: InfoRequest(actor, body.question)),
    Action.SUBMITTER_INFO: (CaseWorkflow.submitter_info, lambda actor, body: SubmitterInfo(actor, body.answer)),
    Action.REPLY: (CaseWorkflow.reply, lambda actor, body: DepartmentReply(actor, body.summary)),
    Action.RESPOND: (CaseWorkflow.respond, lambda actor, body: SubmitterResponse(actor, body.message)),
    Action.CLOSE: (CaseWorkflow.close, lambda actor, body: CloseRequest(actor)),
    Action.CONTEST: (CaseWorkflow.contest, lambda actor, body: ContestRequest(actor, body.reason)),
}


async def act_on(services: Services, caller: Caller, reference: str, action: Action, body: BaseModel, *,
                 idempotency_key: str | None) -> CaseView:
    """Take `action` on the case with its body, as the JSON route and the console's form both send it."""
    if action == Action.TRIAGE:
        return await triage(services, caller, reference, body.department, body.kind, body.priority, body=body,
                            idempotency_key=idempotency_key)
    if action == Action.INSTRUCT:
        return await instruct(services, caller, reference, body.instruction, body.department, body=body,
                              idempotency_key=idempotency_key)
    update, message = MESSAGES[action]
    return await act(services, caller, reference, update, message(caller.as_actor(), body), body=body,
                     idempotency_key=idempotency_key)


async def triage(services: Services, caller: Caller, reference: str, department: str, kind: Kind | None,
                 priority: Priority | None, *, body: BaseModel, idempotency_key: str | None) -> CaseView:
    """Classify the case and route it to an active department of the directory."""
    await ensure_visible(services, caller, reference)
    active = await _active_departments_with(services, department)
    request = TriageRequest(
        actor=caller.as_actor(), department=department,
        kind=kind.value if kind else None, priority=priority.value if priority else None,
        active_departments=active,
    )
    return await send_update(services, reference, CaseWorkflow.triage, request, body=body,
                             idempotency_key=idempotency_key)


async def instruct(services: Services, caller: Caller, reference: str, instruction: str, department: str | None,
                   *, body: BaseModel, idempotency_key: str | None) -> CaseView:
    """The Director General directs the department (or hands the case to another active one)."""
    await ensure_visible(services, caller, reference)
    active = await _active_departments_with(services, department)
    request = Instruction(caller.as_actor(), instruction, department, active_departments=active)
    return await send_update(services, reference, CaseWorkflow.instruct, request, body=body,
                             idempotency_key=idempotency_key)


async def _active_departments_with(services: Services, code: str | None) -> list[str]:
    """The active departments' codes, once `code` (if given) is one of them; 422 naming `department` if not."""
    active = await active_department_codes(services.database)
    if code is not None and code not in active:
        raise errors.ApiError(422, "validation_error", f"unknown department {code!r}",
                              [errors.FieldProblem(field="department",
                                                   reason="not an active department of the directory")])
    return active


# Whose reads of a case the auditor is shown: people of the ministry, not a channel integration reading back
# what it submitted (and admin keys read no case at all).
STAFF = frozenset({Role.CS_AGENT, Role.DEPARTMENT, Role.DIRECTOR_GENERAL, Role.AUDITOR})


async def record_staff_read(services: Services, reference: str, caller: Caller) -> None:
    """A read of the case's content by a person of the ministry is on the auditor's record; a channel's is not."""
    if caller.role in STAFF:
        await _record_read(services, reference, caller)


async def _record_read(services: Services, reference: str, caller: Caller) -> None:
    # Written before the case is shown: a read that cannot be recorded fails.
    await record_read(services.database, reference, key_id=caller.key_id, user_id=caller.user_id,
                      role=caller.role.value, at=datetime.now(UTC))


async def ensure_visible(services: Services, caller: Caller, reference: str) -> None:
    """Before an action: 403 for a role that reads no cases, 404 for a case the caller may not see.

    Whether the caller may take the action is the workflow's to decide (409); this only keeps a
    caller from learning, through an action, that a case it may not see exists.
    """
    if not reads_cases(caller):
        raise errors.forbidden("an admin key acts on no case")
    if sees_every_case(caller):
        return  # an unknown reference is the workflow's 404
    record = await find_case(services.database, reference)
    if record is None or not may_see(caller, record):
        raise errors.not_found(reference)


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


