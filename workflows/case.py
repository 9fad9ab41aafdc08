"""CaseWorkflow: one durable workflow per case, from receipt to closure, holding everyone to the policy's deadlines.

It reads like the policy's five steps: record, classify, handle, respond, close. Deadlines are
absolute instants computed by activities; the workflow only waits on them, so a change to the
calendar or the policy never changes the replay of a running case.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.calendar import muscat_minute
    from domain.kinds import FINAL_STATUSES, Role, Status
    from domain.lifecycle import (
        Action,
        ActionRefused,
        CaseFacts,
        check_action,
        check_instruction_values,
        check_triage_values,
        status_after,
    )
    from domain.policy import CaseTerms
    from domain.steps import Addressee, CloseReason, Detail, Recipient, Step
    from workflows.case_attributes import (
        ANSWER_DUE,
        BREACHED,
        CASE_CHANNEL,
        CASE_DEPARTMENT,
        CASE_KIND,
        CASE_PRIORITY,
        CASE_STATUS,
        DELIVER_FROM_NOW_SIGNAL,
        DEPARTMENT_DUE,
        ESCALATION_LEVEL,
        SIGNAL_NAMES,
    )
    from workflows.messages import (
        SYSTEM,
        Actor,
        CaseIntake,
        CaseSnapshot,
        CaseView,
        CloseRequest,
        ContestRequest,
        DeadlineRequest,
        DeliveryFailure,
        DeliveryRequest,
        DepartmentDeadlines,
        DepartmentReply,
        EvidenceAddition,
        EvidenceRef,
        InfoRequest,
        Instruction,
        Notification,
        PauseExtension,
        PauseExtensionResult,
        PausePeriod,
        RejectRequest,
        StepRecord,
        SubmitterInfo,
        SubmitterResponse,
        TriageRequest,
        WorkingDaysRequest,
        WorkingDaysResult,
        message_key,
        operator_for,
    )

# The store and the calendar live behind these activities; a database outage is waited out, not failed.
# They are local activities: short and idempotent, they run in the same workflow task as the step
# that needs them, which halves the tasks per step and keeps escalations on time under a burst.
STEP_TIMEOUT = timedelta(seconds=30)
# A deadline already past still gets a timer (_act_when_the_timer_fires), this short.
SHORTEST_TIMER = timedelta(milliseconds=1)
STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30))

# Messages go out as regular activities: a mail server or gateway may be down for a while, and the
# case goes on meanwhile. About 30 minutes of retries, then the message is marked failed.
DELIVERY_TIMEOUT = timedelta(seconds=45)
# A worker that dies mid-send is noticed by its missing heartbeat, before the attempt's timeout. A living
# attempt that misses it only delays the message: the delivery row stays with it (activities/delivery.py).
DELIVERY_HEARTBEAT = timedelta(seconds=20)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=10,
)

# Changes to what a running case does, named for workflow.patched (never reuse or remove one while cases run).
PATCH_DELIVERY = "deliver-notifications"
PATCH_ESCALATED_REPLY = "escalated-reply-is-not-customer-services"
PATCH_DELIVERY_QUEUE = "deliveries-on-their-own-task-queue"
PATCH_FINISH_AFTER_LAST_HANDLER = "finish-after-the-last-handler"
PATCH_REMINDERS_FROM_NOW = "director-general-reminders-from-now"
PATCH_SIGNALS_ARE_OPERATORS = "signals-are-operators-repairs"
PATCH_OPERATOR_VIEW = "operator-view-due-priority-muscat-time"
PATCH_DIRECTOR_GENERAL_DIGEST = "director-general-daily-digest"
PATCH_CONFIRMED_ROUTE = "triage-that-confirms-the-route"
# The sender sends a step's messages from the outbox once the step is in the history: no activity per message.
PATCH_SENT_FROM_OUTBOX = "messages-sent-from-the-outbox"
# A deadline is acted on when its timer fires, never because the clock says it is past (_wait_for_next_event).
PATCH_DEADLINES_BY_TIMER = "deadlines-acted-on-by-their-timer"
# What a signal may do: the repairs of SIGNAL_NAMES; the other signals stay so that old histories replay.
OPERATOR_SIGNAL_ACTIONS = frozenset(SIGNAL_NAMES)

ACTION_REFUSED = "ActionRefused"
# Marks a step that leaves the status as it was (a reminder, an escalation, a refused signal).
UNCHANGED = "unchanged"


def workflow_id(reference: str) -> str:
    return f"case-{reference}"


def delivery_task_queue(case_task_queue: str) -> str:
    """Where messages are sent from: a worker process that does nothing else (`complaints delivery`).

    A worker busy with workflow tasks can take a hundred milliseconds between a mail server taking a
    message and the record that it was sent; a worker killed in that window sends it again. Alone,
    the sender narrows that window to tens of milliseconds (bench/delivery.py).
    """
    return f"{case_task_queue}-delivery"


@dataclass
class CaseState:
    """All that the workflow knows about its case."""

    status: Status
    kind: str
    priority: str | None
    department: str | None
    department_due: datetime
    answer_due: datetime
    department_reminder: datetime
    escalation_level: int = 1
    breached: bool = False
    department_replied: bool = False
    department_reminded: bool = False
    reopened: bool = False
    next_director_general_reminder: datetime | None = None
    paused_since: datetime | None = None
    status_before_pause: Status | None = None
    pauses: list[PausePeriod] = field(default_factory=list)
    info_due: datetime | None = None
    contest_due: datetime | None = None
    closed_at: datetime | None = None
    closed_reason: CloseReason | None = None
    question: str | None = None
    # The answer sent to the submitter; none again once contested (a new answer will come).
    answer: str | None = None
    rejection_reason: str | None = None
    step: int = 0
    # Bumped on every change, so the main loop wakes and re-reads its deadlines.
    revision: int = 0
    # Set by the signal deliver_from_now: a case begun before messages were delivered delivers them from then on.
    delivery_switched_on: bool = False


@dataclass
class Deadline:
    """A named timer of the case and what the workflow does when it passes."""

    name: str
    due: datetime
    on_due: Callable[[], Awaitable[None]]


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, intake: CaseIntake) -> None:
        self._intake = intake
        self._state = CaseState(
            status=Status.RECEIVED,
            kind=intake.kind,
            priority=intake.priority,
            department=intake.department,
            department_due=intake.department_due,
            answer_due=intake.answer_due,
            department_reminder=intake.department_reminder,
        )
        # Handlers that run activities take turns, so each step sees the state the last one left.
        self._lock = asyncio.Lock()
        # Messages on their way; the workflow ends only when the last one is delivered or marked failed.
        self._deliveries: set[asyncio.Task] = set()
        # Set once the case row and its first steps are written; no action may come before them.
        self._received = False
        # The keys of the steps this run recorded, for `complaints verify` (the recorded_steps query).
        self._step_keys: list[str] = []

    # ---------------------------------------------------------------- the case's life

    @workflow.run
    async def run(self, intake: CaseIntake) -> CaseView:
        async with self._lock:
            await self._record_receipt()
        self._received = True
        while self._state.status not in FINAL_STATUSES:
            await self._wait_for_next_event()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if workflow.patched(PATCH_FINISH_AFTER_LAST_HANDLER):
            # A signal may come while the last messages go out; its step is recorded before the end.
            await workflow.wait_condition(lambda: not self._deliveries and workflow.all_handlers_finished())
        else:
            await workflow.wait_condition(lambda: not self._deliveries)
        return self.view()

    async def _wait_for_next_event(self) -> None:
        # Asked on every wait, first in the case's first task: a case keeps one way of waiting for its whole life.
        by_timer = workflow.patched(PATCH_DEADLINES_BY_TIMER)
        deadline = self._next_deadline()
        seen = self._state.revision
        changed = lambda: self._state.revision != seen  # noqa: E731
        if deadline is None:
            await workflow.wait_condition(changed)
            return
        if by_timer:
            await self._act_when_the_timer_fires(deadline, changed)
            return
        remaining = deadline.due - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(changed, timeout=remaining, timeout_summary=deadline.name)
                return
            except TimeoutError:
                pass
        async with self._lock:
            # A handler may have moved this deadline while the timer fired; only act on it if it still stands.
            current = self._next_deadline()
            if current is not None and current.name == deadline.name and current.due <= workflow.now():
                await current.on_due()

    async def _act_when_the_timer_fires(self, deadline: Deadline, changed: Callable[[], bool]) -> None:
        """Wait for the deadline on a timer, even one already past, and act only once it has fired.

        A replay may read another clock than the live run did. When local activities run past 8 s
        (PostgreSQL slow or stopped, every slot taken), the worker heartbeats the workflow task, and the
        SDK replays those tasks as one with other times (tests/workflows/test_slow_steps.py). Chosen by
        the clock, a deadline just past was acted on live and waited for on replay: the history stopped
        replaying, so the case answered no query and failed every task on its next worker. A timer's
        firing is in the history, so live and replay act alike; replay does not check its length.
        """
        try:
            await workflow.wait_condition(changed, timeout=max(deadline.due - workflow.now(), SHORTEST_TIMER),
                                          timeout_summary=deadline.name)
            return
        except TimeoutError:
            pass
        async with self._lock:
            # A handler may have moved the deadline while the timer fired; then the next wait is for the new one.
            current = self._next_deadline()
            if current is not None and (current.name, current.due) == (deadline.name, deadline.due):
                await current.on_due()

    def _next_deadline(self) -> Deadline | None:
        state = self._state
        if state.status == Status.AWAITING_SUBMITTER:
            return Deadline("submitter info due", state.info_due, self._close_without_submitter_response)
        if state.status == Status.RESPONDED:
            return Deadline("contest window ends", state.contest_due, self._close_and_archive)
        if state.status in FINAL_STATUSES:
            return None
        candidates = []
        department_clock_runs = state.escalation_level == 1 and not state.department_replied
        if department_clock_runs and not state.department_reminded:
            candidates.append(Deadline("department reminder", state.department_reminder, self._remind_department))
        if department_clock_runs:
            candidates.append(Deadline("department due", state.department_due, self._escalate_to_director_general))
        if not state.breached:
            candidates.append(Deadline("answer due", state.answer_due, self._mark_breached))
        elif state.next_director_general_reminder is not None:
            candidates.append(
                Deadline("director general reminder", state.next_director_general_reminder,
                         self._remind_director_general)
            )
        return min(candidates, key=lambda candidate: candidate.due, default=None)

    # ---------------------------------------------------------------- what the deadlines do

    async def _record_receipt(self) -> None:
        intake = self._intake
        await workflow.execute_local_activity(
            "record_case", intake, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
        )
        await self._record_step(
            Step.RECEIVED,
            intake.actor,
            from_status=None,
            detail={Detail.CHANNEL: intake.channel, Detail.POLICY_VERSION: intake.policy_version,
                    **_evidence_detail(intake.evidence)},
            notifications=[self._to_submitter("acknowledgement")],
        )
        if intake.department:
            await self._record_step(
                Step.ROUTED,
                SYSTEM,
                detail={Detail.DEPARTMENT: intake.department},
                notifications=[self._to_department("case_assigned")],
            )

    async def _remind_department(self) -> None:
        self._state.department_reminded = True
        await self._record_step(
            Step.DEPARTMENT_REMINDED, SYSTEM, notifications=[self._to_department("department_reminder")]
        )

    async def _escalate_to_director_general(self) -> None:
        self._state.escalation_level = 2
        await self._record_step(
            Step.ESCALATED,
            SYSTEM,
            detail={Detail.ESCALATION_LEVEL: 2, Detail.DEPARTMENT_DUE: self._state.department_due.isoformat()},
            notifications=[self._to(Recipient(Addressee.DIRECTOR_GENERAL), "escalation")],
        )

    async def _mark_breached(self) -> None:
        state = self._state
        state.breached = True
        state.next_director_general_reminder = await self._working_days_after(self._not_before_now(state.answer_due), 1)
        await self._record_step(
            Step.BREACHED,
            SYSTEM,
            detail={Detail.ANSWER_DUE: state.answer_due.isoformat()},
            notifications=[self._to(Recipient(Addressee.DIRECTOR_GENERAL), "breach")],
        )

    async def _remind_director_general(self) -> None:
        state = self._state
        reminded_for = state.next_director_general_reminder
        state.next_director_general_reminder = await self._working_days_after(self._not_before_now(reminded_for), 1)
        # The reminder itself is the day's digest to the Director General (workflows/digest.py), one
        # message for every breached case; each case still records that it was reminded.
        in_digest = workflow.patched(PATCH_DIRECTOR_GENERAL_DIGEST)
        await self._record_step(
            Step.DIRECTOR_GENERAL_REMINDED,
            SYSTEM,
            detail={Detail.REMINDER_AT: reminded_for.isoformat(),
                    **({Detail.IN_DAILY_DIGEST: True} if in_digest else {})},
            notifications=[] if in_digest else [self._to(Recipient(Addressee.DIRECTOR_GENERAL), "breach_reminder")],
        )

    def _not_before_now(self, due: datetime) -> datetime:
        """Where the next daily reminder counts from: a reminder that fired late (a backlog, an outage)
        counts from now, so the missed days are not sent one after another."""
        if workflow.patched(PATCH_REMINDERS_FROM_NOW):
            return max(due, workflow.now())
        return due

    async def _close_without_submitter_response(self) -> None:
        await self._close(CloseReason.NO_RESPONSE, SYSTEM, "closure_no_response")

    async def _close_and_archive(self) -> None:
        await self._close(CloseReason.ARCHIVED, SYSTEM, "closure")

    async def _close(self, reason: CloseReason, actor: Actor, template: str) -> None:
        state = self._state
        from_status = state.status
        state.status = Status.CLOSED
        state.closed_reason = reason
        state.closed_at = workflow.now()
        await self._record_step(
            Step.CLOSED, actor, from_status=from_status, detail={Detail.REASON: reason},
            notifications=[self._to_submitter(template)],
        )

    # ---------------------------------------------------------------- what people ask of the case

    async def _triage(self, request: TriageRequest) -> None:
        state = self._state
        from_status = state.status
        kind_or_priority_changed = (request.kind and request.kind != state.kind) or (
            request.priority and request.priority != state.priority
        )
        # Routed at intake and triaged to the same department: the department has its "new case"
        # message already, so the evaluation is recorded without a second one.
        confirms_route = (
            from_status == Status.RECEIVED and request.department == state.department and not kind_or_priority_changed
            and workflow.patched(PATCH_CONFIRMED_ROUTE)
        )
        state.kind = request.kind or state.kind
        state.priority = request.priority or state.priority
        state.department = request.department
        state.status = status_after(Action.TRIAGE)
        if kind_or_priority_changed and not state.reopened:
            await self._recompute_department_deadlines()
        await self._record_step(
            Step.ROUTE_CONFIRMED if confirms_route else Action.TRIAGE,
            request.actor,
            from_status=from_status,
            detail={Detail.DEPARTMENT: state.department, Detail.KIND: state.kind, Detail.PRIORITY: state.priority},
            notifications=[] if confirms_route else [self._to_department("case_assigned")],
        )

    async def _reject(self, request: RejectRequest) -> None:
        state = self._state
        from_status = state.status
        state.status = status_after(Action.REJECT)
        state.closed_reason = CloseReason.REJECTED
        state.rejection_reason = request.reason
        state.closed_at = workflow.now()
        await self._record_step(
            Action.REJECT,
            request.actor,
            from_status=from_status,
            # The ground only when given: a rejection without one records what it always did.
            detail={Detail.REASON: request.reason, **({Detail.GROUND: request.ground} if request.ground else {})},
            notifications=[self._to_submitter("rejection", reason=request.reason)],
        )

    async def _request_info(self, request: InfoRequest) -> None:
        state = self._state
        now = workflow.now()
        state.status_before_pause = state.status
        state.status = status_after(Action.REQUEST_INFO)
        state.paused_since = now
        state.question = request.question
        terms = self._terms()
        state.info_due = await self._working_days_after(now, terms.submitter_response_days)
        await self._record_step(
            Action.REQUEST_INFO,
            request.actor,
            from_status=state.status_before_pause,
            detail={Detail.QUESTION: request.question, Detail.INFO_DUE: state.info_due.isoformat()},
            notifications=[self._to_submitter("info_request", question=request.question,
                                              info_due=state.info_due.isoformat())],
        )

    async def _receive_submitter_info(self, request: SubmitterInfo) -> None:
        state = self._state
        pause = PausePeriod(started=state.paused_since, ended=workflow.now())
        state.pauses.append(pause)
        await self._move_deadlines_past(pause)
        state.status = status_after(Action.SUBMITTER_INFO, before_pause=state.status_before_pause)
        state.paused_since = None
        state.info_due = None
        await self._record_step(
            Action.SUBMITTER_INFO,
            request.actor,
            from_status=Status.AWAITING_SUBMITTER,
            detail={Detail.ANSWER: request.answer, Detail.DEPARTMENT_DUE: state.department_due.isoformat(),
                    Detail.ANSWER_DUE: state.answer_due.isoformat(), **_evidence_detail(request.evidence)},
            notifications=[self._to_department("info_received")],
        )

    async def _add_evidence(self, request: EvidenceAddition) -> None:
        await self._record_step(Action.ADD_EVIDENCE, request.actor, detail=_evidence_detail(request.evidence))

    async def _reply(self, request: DepartmentReply) -> None:
        state = self._state
        from_status = state.status
        state.status = status_after(Action.REPLY)
        state.department_replied = True
        await self._record_step(
            Action.REPLY,
            request.actor,
            from_status=from_status,
            detail={Detail.SUMMARY: request.summary},
            notifications=[self._to(Recipient(Addressee.CUSTOMER_SERVICE), "department_replied")],
        )

    async def _respond(self, request: SubmitterResponse) -> None:
        state = self._state
        state.status = status_after(Action.RESPOND)
        state.answer = request.message
        state.contest_due = await self._working_days_after(workflow.now(), self._terms().contest_window_days)
        await self._record_step(
            Action.RESPOND,
            request.actor,
            from_status=Status.REPLIED,
            detail={Detail.MESSAGE: request.message, Detail.CONTEST_DUE: state.contest_due.isoformat()},
            notifications=[self._to_submitter("answer", message=request.message,
                                              contest_due=state.contest_due.isoformat())],
        )

    async def _instruct(self, request: Instruction) -> None:
        state = self._state
        from_status = state.status
        state.department = request.department or state.department
        state.status = status_after(Action.INSTRUCT)
        await self._record_step(
            Action.INSTRUCT,
            request.actor,
            from_status=from_status,
            detail={Detail.DEPARTMENT: state.department, Detail.INSTRUCTION: request.instruction},
            notifications=[self._to_department("instruction", instruction=request.instruction)],
        )

    async def _close_on_acceptance(self, request: CloseRequest) -> None:
        await self._close(CloseReason.ACCEPTED, request.actor, "closure")

    async def _reopen_on_contest(self, request: ContestRequest) -> None:
        state = self._state
        state.status = status_after(Action.CONTEST)
        state.escalation_level = 2
        state.reopened = True
        state.department_replied = False
        state.breached = False
        state.next_director_general_reminder = None
        state.contest_due = None
        state.answer = None
        state.answer_due = await self._working_days_after(workflow.now(), self._terms().reopen_answer_days)
        await self._record_step(
            Action.CONTEST,
            request.actor,
            from_status=Status.RESPONDED,
            detail={Detail.REASON: request.reason, Detail.ANSWER_DUE: state.answer_due.isoformat()},
            notifications=[self._to(Recipient(Addressee.DIRECTOR_GENERAL), "reopened"),
                           self._to_department("reopened")],
        )

    # ---------------------------------------------------------------- updates, signals, query

    def _validate(self, action: Action, actor: Actor, *, replaying_old_rules: bool = False) -> None:
        try:
            check_action(action, self._facts(), actor.role, actor.department, old_rules=replaying_old_rules)
        except ActionRefused as refused:
            raise ApplicationError(str(refused), type=ACTION_REFUSED, non_retryable=True) from None

    async def _after_receipt(self) -> None:
        """An action that arrives with the case's first task waits until the case is recorded.

        Temporal runs the handlers of a first task before the workflow's main method, so such an
        action took the lock first and wrote its step before the case row existed: its write failed
        forever and the case froze. Not behind workflow.patched: a history where that happened never
        got past the failing write, and in every other history the case is received already, so
        this returns without yielding and the replay is unchanged.
        """
        if not self._received:
            await workflow.wait_condition(lambda: self._received)

    async def _act(self, action: Action, request) -> CaseView:
        await self._after_receipt()
        async with self._lock:
            # The validator ran before the lock; another handler may have changed the case since.
            self._validate(action, request.actor, replaying_old_rules=self._under_old_rules(action, request.actor))
            self._check_request(action, request)
            await self._performers[action](self, request)
        return self.view()

    async def _act_on_signal(self, action: Action, request) -> None:
        """An operator's repair: checked as the actor it names would be, recorded as the operator's.

        Anyone who can reach Temporal can send a signal and type any actor into it, so the step is
        the operator's, with the named actor kept as unverified; and only the repairs an operator
        needs are taken (OPERATOR_SIGNAL_ACTIONS), the rest are recorded as refused.
        """
        await self._after_receipt()
        async with self._lock:
            operator = workflow.patched(PATCH_SIGNALS_ARE_OPERATORS)
            actor = operator_for(request.actor) if operator else request.actor
            try:
                if operator and action not in OPERATOR_SIGNAL_ACTIONS:
                    raise ApplicationError(
                        f"a signal may only {', '.join(sorted(OPERATOR_SIGNAL_ACTIONS))}; "
                        f"{action} goes through the API",
                        type=ACTION_REFUSED, non_retryable=True,
                    )
                self._validate(action, request.actor, replaying_old_rules=self._under_old_rules(action, request.actor))
                self._check_request(action, request)
            except ApplicationError as refused:
                refusal = {Detail.ACTION: str(action), Detail.REASON: refused.message}
                await self._record_step(Step.REFUSED, actor, detail=refusal)
                return
            await self._performers[action](self, dataclasses.replace(request, actor=actor))

    def _under_old_rules(self, action: Action, actor: Actor) -> bool:
        """True while replaying a case that ran before customer service lost the reply on escalated cases."""
        if action != Action.REPLY or actor.role != Role.CS_AGENT or self._state.escalation_level < 2:
            return False
        return not workflow.patched(PATCH_ESCALATED_REPLY)

    def _check_request(self, action: Action, request) -> None:
        """Refuse values the policy does not know (a signal from an operator skips the API's validation)."""
        try:
            if action == Action.INSTRUCT:
                check_instruction_values(request.department, self._facts(), self._known_departments(request))
            elif action == Action.TRIAGE:
                check_triage_values(request.department, request.kind, request.priority,
                                    self._known_departments(request))
        except ActionRefused as refused:
            raise ApplicationError(str(refused), type=ACTION_REFUSED, non_retryable=True) from None

    def _known_departments(self, request: TriageRequest | Instruction) -> list[str]:
        """The API's view of the directory when it sent the request (a department added since intake
        counts); an operator's signal has none and falls back to the departments of the intake."""
        return request.active_departments or self._intake.department_codes

    _performers = {
        Action.TRIAGE: _triage,
        Action.REJECT: _reject,
        Action.REQUEST_INFO: _request_info,
        Action.SUBMITTER_INFO: _receive_submitter_info,
        Action.REPLY: _reply,
        Action.RESPOND: _respond,
        Action.CLOSE: _close_on_acceptance,
        Action.CONTEST: _reopen_on_contest,
        Action.INSTRUCT: _instruct,
        Action.ADD_EVIDENCE: _add_evidence,
    }

    @workflow.update
    async def triage(self, request: TriageRequest) -> CaseView:
        return await self._act(Action.TRIAGE, request)

    @triage.validator
    def _validate_triage(self, request: TriageRequest) -> None:
        self._validate(Action.TRIAGE, request.actor)
        self._check_request(Action.TRIAGE, request)

    @workflow.update
    async def reject(self, request: RejectRequest) -> CaseView:
        return await self._act(Action.REJECT, request)

    @reject.validator
    def _validate_reject(self, request: RejectRequest) -> None:
        self._validate(Action.REJECT, request.actor)

    @workflow.update
    async def request_info(self, request: InfoRequest) -> CaseView:
        return await self._act(Action.REQUEST_INFO, request)

    @request_info.validator
    def _validate_request_info(self, request: InfoRequest) -> None:
        self._validate(Action.REQUEST_INFO, request.actor)

    @workflow.update
    async def submitter_info(self, request: SubmitterInfo) -> CaseView:
        return await self._act(Action.SUBMITTER_INFO, request)

    @submitter_info.validator
    def _validate_submitter_info(self, request: SubmitterInfo) -> None:
        self._validate(Action.SUBMITTER_INFO, request.actor)

    @workflow.update
    async def reply(self, request: DepartmentReply) -> CaseView:
        return await self._act(Action.REPLY, request)

    @reply.validator
    def _validate_reply(self, request: DepartmentReply) -> None:
        self._validate(Action.REPLY, request.actor)

    @workflow.update
    async def respond(self, request: SubmitterResponse) -> CaseView:
        return await self._act(Action.RESPOND, request)

    @respond.validator
    def _validate_respond(self, request: SubmitterResponse) -> None:
        self._validate(Action.RESPOND, request.actor)

    @workflow.update
    async def close(self, request: CloseRequest) -> CaseView:
        return await self._act(Action.CLOSE, request)

    @close.validator
    def _validate_close(self, request: CloseRequest) -> None:
        self._validate(Action.CLOSE, request.actor)

    @workflow.update
    async def contest(self, request: ContestRequest) -> CaseView:
        return await self._act(Action.CONTEST, request)

    @contest.validator
    def _validate_contest(self, request: ContestRequest) -> None:
        self._validate(Action.CONTEST, request.actor)

    @workflow.update
    async def instruct(self, request: Instruction) -> CaseView:
        return await self._act(Action.INSTRUCT, request)

    @instruct.validator
    def _validate_instruct(self, request: Instruction) -> None:
        self._validate(Action.INSTRUCT, request.actor)
        self._check_request(Action.INSTRUCT, request)

    # The same actions as signals: for operators in the Temporal UI or CLI, and channels that push.
    @workflow.update
    async def add_evidence(self, request: EvidenceAddition) -> CaseView:
        return await self._act(Action.ADD_EVIDENCE, request)

    @add_evidence.validator
    def _validate_add_evidence(self, request: EvidenceAddition) -> None:
        self._validate(Action.ADD_EVIDENCE, request.actor)

    @workflow.signal(name="triage_signal")
    async def triage_signal(self, request: TriageRequest) -> None:
        await self._act_on_signal(Action.TRIAGE, request)

    @workflow.signal(name="reject_signal")
    async def reject_signal(self, request: RejectRequest) -> None:
        await self._act_on_signal(Action.REJECT, request)

    @workflow.signal(name="request_info_signal")
    async def request_info_signal(self, request: InfoRequest) -> None:
        await self._act_on_signal(Action.REQUEST_INFO, request)

    @workflow.signal(name="submitter_info_signal")
    async def submitter_info_signal(self, request: SubmitterInfo) -> None:
        await self._act_on_signal(Action.SUBMITTER_INFO, request)

    @workflow.signal(name="reply_signal")
    async def reply_signal(self, request: DepartmentReply) -> None:
        await self._act_on_signal(Action.REPLY, request)

    @workflow.signal(name="respond_signal")
    async def respond_signal(self, request: SubmitterResponse) -> None:
        await self._act_on_signal(Action.RESPOND, request)

    @workflow.signal(name="close_signal")
    async def close_signal(self, request: CloseRequest) -> None:
        await self._act_on_signal(Action.CLOSE, request)

    @workflow.signal(name="contest_signal")
    async def contest_signal(self, request: ContestRequest) -> None:
        await self._act_on_signal(Action.CONTEST, request)

    @workflow.signal(name="instruct_signal")
    async def instruct_signal(self, request: Instruction) -> None:
        await self._act_on_signal(Action.INSTRUCT, request)

    @workflow.signal(name=DELIVER_FROM_NOW_SIGNAL)
    def deliver_from_now(self) -> None:
        """For a case begun before messages were delivered: deliver the messages of its steps from now on.

        Such a case decided at its first step, once and for its whole run, that it delivers nothing
        (workflow.patched keeps its first answer); this signal, sent once after the upgrade by
        `complaints deliver-running-cases`, changes that. Messages queued before it stay unsent: an
        acknowledgement weeks late would mislead. Harmless on a case that delivers already.
        """
        self._state.delivery_switched_on = True

    @workflow.query
    def recorded_steps(self) -> list[str]:
        """The keys of the steps this case recorded, in order: its timeline must hold exactly these."""
        return list(self._step_keys)

    @workflow.query
    def view(self) -> CaseView:
        state, intake = self._state, self._intake
        return CaseView(
            reference=intake.reference,
            kind=state.kind,
            channel=intake.channel,
            status=state.status,
            escalation_level=state.escalation_level,
            breached=state.breached,
            received_at=intake.received_at,
            department_due=state.department_due,
            answer_due=state.answer_due,
            policy_version=intake.policy_version,
            priority=state.priority,
            department=state.department,
            info_due=state.info_due,
            contest_due=state.contest_due,
            closed_reason=state.closed_reason,
            question=self._open_question(),
            answer=state.answer,
        )

    def _open_question(self) -> str | None:
        """The question the submitter is asked, while the case waits for their answer."""
        return self._state.question if self._state.status == Status.AWAITING_SUBMITTER else None

    # ---------------------------------------------------------------- helpers

    def _facts(self) -> CaseFacts:
        state = self._state
        return CaseFacts(status=state.status, department=state.department, escalation_level=state.escalation_level)

    def _terms(self) -> CaseTerms:
        return self._intake.terms_by_kind[self._state.kind]

    async def _recompute_department_deadlines(self) -> None:
        state = self._state
        deadlines: DepartmentDeadlines = await workflow.execute_local_activity(
            "compute_deadlines",
            DeadlineRequest(self._terms(), state.priority, self._intake.received_at, list(state.pauses)),
            result_type=DepartmentDeadlines,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        state.department_due = deadlines.department_due
        state.answer_due = deadlines.answer_due
        state.department_reminder = deadlines.department_reminder

    async def _move_deadlines_past(self, pause: PausePeriod) -> None:
        state = self._state
        moved: PauseExtensionResult = await workflow.execute_local_activity(
            "extend_for_pause",
            PauseExtension([state.department_due, state.answer_due, state.department_reminder],
                           pause.started, pause.ended),
            result_type=PauseExtensionResult,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        state.department_due, state.answer_due, state.department_reminder = moved.deadlines

    async def _working_days_after(self, start: datetime, working_days: int) -> datetime:
        result: WorkingDaysResult = await workflow.execute_local_activity(
            "working_days_after",
            WorkingDaysRequest(start, working_days),
            result_type=WorkingDaysResult,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        return result.due

    async def _record_step(
        self,
        action: Action | Step,
        actor: Actor,
        *,
        from_status: str | None = UNCHANGED,
        detail: dict | None = None,
        notifications: list[Notification] | None = None,
    ) -> None:
        """Write the step's timeline entry, case row and messages (once), then show the new state to operators."""
        state = self._state
        # Asked before the first step's write, so a case is on one path for its whole life (the answer is kept).
        from_outbox = workflow.patched(PATCH_SENT_FROM_OUTBOX)
        state.step += 1
        state.revision += 1
        current = state.status
        record = StepRecord(
            reference=self._intake.reference,
            step=state.step,
            action=str(action),
            at=workflow.now(),
            actor=actor.label,
            case=self._snapshot(),
            from_status=current if from_status == UNCHANGED else from_status,
            to_status=current,
            detail=detail or {},
            notifications=notifications or [],
            written_in_task=workflow.info().get_current_history_length(),
            sent_from_outbox=from_outbox,
            run_id=workflow.info().run_id if from_outbox else "",
        )
        await workflow.execute_local_activity(
            "record_step", record, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
        )
        self._step_keys.append(record.step_key)
        self._publish_for_operators()
        if from_outbox:
            return  # the sender takes the messages up from the outbox
        if record.notifications and (workflow.patched(PATCH_DELIVERY) or self._state.delivery_switched_on):
            for number, message in enumerate(record.notifications):
                self._start_delivery(message_key(record.step_key, number, message.template), message.template)

    def _start_delivery(self, key: str, template: str) -> None:
        """Send a message in the background: the case does not wait for a mail server."""
        task = asyncio.create_task(self._deliver(key, template))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, key: str, template: str) -> None:
        request = DeliveryRequest(self._intake.reference, key)
        # Cases that sent before this change keep sending from the case worker while they replay.
        own_queue = workflow.patched(PATCH_DELIVERY_QUEUE)
        try:
            await workflow.execute_activity(
                "deliver_message",
                request,
                task_queue=delivery_task_queue(workflow.info().task_queue) if own_queue else None,
                start_to_close_timeout=DELIVERY_TIMEOUT,
                heartbeat_timeout=DELIVERY_HEARTBEAT,
                retry_policy=DELIVERY_RETRY,
                summary=f"deliver {template}",
            )
        except ActivityError as failed:
            reason = failed.cause.message if isinstance(failed.cause, ApplicationError) else str(failed.cause or failed)
            await workflow.execute_local_activity(
                "record_delivery_failure",
                DeliveryFailure(request.reference, key, reason),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            )

    def _snapshot(self) -> CaseSnapshot:
        state = self._state
        return CaseSnapshot(
            status=state.status,
            kind=state.kind,
            priority=state.priority,
            department=state.department,
            escalation_level=state.escalation_level,
            breached=state.breached,
            department_due=state.department_due,
            answer_due=state.answer_due,
            closed_at=state.closed_at,
            question=self._open_question(),
            answer=state.answer,
            rejection_reason=state.rejection_reason,
        )

    def _publish_for_operators(self) -> None:
        """Search attributes and current details: what an operator reads in the UI without opening payloads."""
        state = self._state
        updates = [
            CASE_KIND.value_set(state.kind),
            CASE_STATUS.value_set(state.status),
            CASE_DEPARTMENT.value_set(state.department or ""),
            CASE_CHANNEL.value_set(self._intake.channel),
            ESCALATION_LEVEL.value_set(state.escalation_level),
            BREACHED.value_set(state.breached),
            ANSWER_DUE.value_set(state.answer_due),
        ]
        readable = workflow.patched(PATCH_OPERATOR_VIEW)
        if readable:
            updates += [DEPARTMENT_DUE.value_set(state.department_due), CASE_PRIORITY.value_set(state.priority or "")]
        workflow.upsert_search_attributes(updates)
        when = muscat_minute if readable else datetime.isoformat
        workflow.set_current_details(
            f"**{state.status}** · level {state.escalation_level}"
            f"{' · BREACHED' if state.breached else ''}\n\n"
            f"- department: {state.department or 'not yet triaged'}\n"
            + (f"- priority: {state.priority}\n" if readable and state.priority else "")
            + f"- department due: {when(state.department_due)}\n"
            f"- answer due: {when(state.answer_due)}\n"
            f"- policy: {self._intake.policy_version}"
        )

    def _to(self, recipient: Recipient, template: str, **context) -> Notification:
        state = self._state
        return Notification(
            recipient=recipient.address,
            template=template,
            context={
                Detail.REFERENCE: self._intake.reference,
                Detail.KIND: state.kind,
                Detail.STATUS: str(state.status),
                Detail.ANSWER_DUE: state.answer_due.isoformat(),
                Detail.DEPARTMENT_DUE: state.department_due.isoformat(),
                Detail.DEPARTMENT: state.department or "",
                **context,
            },
        )

    def _to_submitter(self, template: str, **context) -> Notification:
        return self._to(Recipient(Addressee.SUBMITTER), template, **context)

    def _to_department(self, template: str, **context) -> Notification:
        department = self._state.department
        recipient = Recipient.of_department(department) if department else Recipient(Addressee.CUSTOMER_SERVICE)
        return self._to(recipient, template, **context)


def initial_search_attributes(intake: CaseIntake) -> TypedSearchAttributes:
    """The attributes a case starts with, so it is findable before its first step runs."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(CASE_KIND, intake.kind),
            SearchAttributePair(CASE_STATUS, Status.RECEIVED.value),
            SearchAttributePair(CASE_DEPARTMENT, intake.department or ""),
            SearchAttributePair(CASE_CHANNEL, intake.channel),
            SearchAttributePair(ESCALATION_LEVEL, 1),
            SearchAttributePair(BREACHED, False),
            SearchAttributePair(ANSWER_DUE, intake.answer_due),
            SearchAttributePair(DEPARTMENT_DUE, intake.department_due),
            SearchAttributePair(CASE_PRIORITY, intake.priority or ""),
        ]
    )


def _evidence_detail(evidence: list[EvidenceRef]) -> dict:
    """A step's evidence files, ids and sizes; nothing for a step without files (so older steps read the same)."""
    if not evidence:
        return {}
    return {Detail.EVIDENCE: [{"id": file.id, "size": file.size} for file in evidence]}
