"""The outbox's sender: messages of new cases sent from the outbox, without a workflow task per message.

The case workflow only writes a step's messages into the outbox (record_step, behind the patch
"messages-sent-from-the-outbox"); the sender process (`complaints delivery`) claims the rows that are
due, with `FOR UPDATE SKIP LOCKED` so that several senders share the work, and sends each through the
same code as the `deliver_message` activity (DeliveryActivities.send_message): delivery rows claimed
with a lease and marked sent, so a sender SIGKILLed mid-send is as safe as a killed activity was.

A row is sent only once its step is in the workflow's history. record_step is a local activity: it
commits before the workflow task that ran it is accepted, and a lost task's rows are replaced by its
rerun (store/cases.py write_step). The task that wrote the row started at history event
L = written_in_task; the step is confirmed when event L is that WorkflowTaskStarted and event L+1 is
WorkflowTaskCompleted. Any other event at L+1 (failed, timed out, or L not a task's start at all) means
that task never completed: the row is lost and never sent. No event L+1 yet: look again shortly.

Why a completed task L is enough even when the step's marker lands later: a local activity that runs
long makes the SDK heartbeat the workflow task (complete it, and ask for a new one) while it runs, so
task L may complete before record_step's result is in the history. The step is still bound to it:
everything the workflow did in task L, including the StepRecord it gave record_step, follows from the
history up to L, so any rerun (another worker, after a crash) replays task L identically and runs
record_step again with the same record (same step key, same written_in_task: write_step keeps the row
as it is). Only an operator's reset or termination of the run stops that marker from landing.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.delivery import DeliveryActivities
from domain.steps import OutboxDispatch
from store import deliveries
from store.db import Database
from workflows.case import DELIVERY_RETRY, DELIVERY_TIMEOUT, workflow_id
from workflows.messages import DeliveryFailure

log = logging.getLogger("complaints.outbox")

# The retries are the deliver_message activity's (DELIVERY_RETRY), held on the row.
# How long a claimed row stays with its attempt: the activity's whole time (every transport, one after the other).
MESSAGE_LEASE = DELIVERY_TIMEOUT
# How often an idle sender looks for due rows; a new step's rows are this much late at most.
POLL_EVERY = timedelta(milliseconds=200)
# A task usually completes milliseconds after its step committed: look again after this at first, and
# later after half the row's age, up to the most: a starved worker's slow tasks (the case of a backlog,
# when Temporal is the bottleneck) are not made slower by a history request per row every 250 ms.
CONFIRM_AGAIN_AFTER = timedelta(milliseconds=250)
CONFIRM_AGAIN_AT_MOST_AFTER = timedelta(seconds=5)
# The workflow is not (or no longer) in Temporal: not a reason to send, nor to drop; ask again much later.
HISTORY_MISSING_AGAIN_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Step:
    """The step (the workflow task) that wrote a message: what the history is asked about, once per step."""

    reference: str
    run_id: str | None
    written_in_task: int


class SenderFigures:
    """What the sender does, beside the SDK's figures on the same Prometheus endpoint: messages of new cases are
    sent by no activity, so the SDK's activity counters no longer see them."""

    def __init__(self, meter: MetricMeter) -> None:
        self.sent = meter.create_counter("complaints_outbox_sent", "Outbox messages the sender sent or settled")
        self.attempts_failed = meter.create_counter(
            "complaints_outbox_attempts_failed", "Attempts to send an outbox message that failed (retried later)")
        self.given_up = meter.create_counter(
            "complaints_outbox_given_up", "Outbox messages that failed for good (on the case's timeline)")
        self.lost_task_rows = meter.create_counter(
            "complaints_outbox_lost_task_steps", "Steps whose messages were not sent: their workflow task was lost")


class OutboxSender:
    """Claims due outbox rows, confirms their step in the history, and sends them; runs until `stop` is set."""

    def __init__(self, client: Client, database: Database, delivery: DeliveryActivities, messages_at_once: int,
                 meter: MetricMeter = MetricMeter.noop) -> None:
        self._client = client
        self._database = database
        self._delivery = delivery
        self._messages_at_once = messages_at_once
        self._figures = SenderFigures(meter)

    async def run(self, stop: asyncio.Event) -> None:
        in_flight: set[asyncio.Task] = set()
        while not stop.is_set():
            free = self._messages_at_once - len(in_flight)
            rows = await self._claim(free) if free else []
            confirmations: dict[Step, asyncio.Task] = {}
            for row in rows:
                task = asyncio.create_task(self._take_up(row, confirmations))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if free and len(rows) == free:
                continue  # more may be due: claim again at once
            await self._pause(stop, in_flight if not free else None)
        # Let the sends that have begun end and be recorded (each within its deadline), as a worker's shutdown does.
        await asyncio.gather(*in_flight, return_exceptions=True)

    @staticmethod
    async def _pause(stop: asyncio.Event, in_flight: set[asyncio.Task] | None) -> None:
        """Until a slot frees (when all are taken), or for POLL_EVERY (when nothing more was due), or the stop."""
        stopping = asyncio.create_task(stop.wait())
        try:
            if in_flight is None:
                await asyncio.wait({stopping}, timeout=POLL_EVERY.total_seconds())
            else:
                await asyncio.wait({stopping, *in_flight}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def _claim(self, count: int) -> list:
        try:
            return await deliveries.claim_due_messages(self._database, count, MESSAGE_LEASE)
        except Exception:  # the database is away: try again on the next round
            log.warning("claiming due messages failed", exc_info=True)
            return []

    async def _take_up(self, row, confirmations: dict[Step, asyncio.Task]) -> None:
        try:
            if row.dispatch == OutboxDispatch.UNCONFIRMED:
                step = Step(row.reference, row.run_id, row.written_in_task)
                if step not in confirmations:
                    confirmations[step] = asyncio.create_task(self._confirm(step, row.created_at))
                if not await confirmations[step]:
                    return
            await self._send(row)
        except Exception:  # the row's lease runs out and it is claimed again
            log.warning("outbox message %s of %s: attempt broke off", row.message_key, row.reference, exc_info=True)

    async def _confirm(self, step: Step, written_at: datetime) -> bool:
        """True when the step is in the history; otherwise its rows are marked lost, or looked at again shortly."""
        try:
            known = await step_in_history(self._client, step)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            log.warning("no workflow history for %s; its messages wait", step.reference)
            await deliveries.confirm_step_later(self._database, step.reference, step.run_id, step.written_in_task,
                                                HISTORY_MISSING_AGAIN_AFTER)
            return False
        if known is None:
            await deliveries.confirm_step_later(self._database, step.reference, step.run_id, step.written_in_task,
                                                confirm_again_after(datetime.now(UTC) - written_at))
            return False
        await deliveries.settle_step_of_messages(self._database, step.reference, step.run_id, step.written_in_task,
                                                 OutboxDispatch.CONFIRMED if known else OutboxDispatch.LOST)
        if not known:
            self._figures.lost_task_rows.add(1)
            log.info("messages of a lost workflow task of %s are not sent (task %s)", step.reference,
                     step.written_in_task)
        return known

    async def _send(self, row) -> None:
        try:
            await self._delivery.send_message(row)
            self._figures.sent.add(1)
        except ApplicationError as failure:
            await self._failed(row, failure.message, last=failure.non_retryable)
        except Exception as failure:  # a database or network error: an attempt like any other
            log.warning("outbox message %s of %s: attempt failed", row.message_key, row.reference, exc_info=True)
            await self._failed(row, type(failure).__name__, last=False)

    async def _failed(self, row, reason: str, *, last: bool) -> None:
        """Count the attempt; after the last one, the same outcome as the activity's (record_delivery_failure)."""
        attempts = row.attempts + 1
        self._figures.attempts_failed.add(1)
        if last or attempts >= DELIVERY_RETRY.maximum_attempts:
            self._figures.given_up.add(1)
            await self._delivery.give_up(DeliveryFailure(row.reference, row.message_key, reason))
            return
        await deliveries.retry_message_later(self._database, row.id, attempts, backoff(attempts), reason)


def confirm_again_after(age: timedelta) -> timedelta:
    """When to read the history again for a step whose task has not ended: soon at first, then less often."""
    return min(max(age / 2, CONFIRM_AGAIN_AFTER), CONFIRM_AGAIN_AT_MOST_AFTER)


def backoff(attempts: int) -> timedelta:
    """The pause after the `attempts`-th failed attempt: the deliver_message activity's retry policy."""
    policy = DELIVERY_RETRY
    pause = policy.initial_interval * policy.backoff_coefficient ** (attempts - 1)
    return min(pause, policy.maximum_interval or pause)


async def step_in_history(client: Client, step: Step) -> bool | None:
    """Whether the task that started at event L completed (True), was lost (False), or has not ended yet (None).

    Reads the history's first L+1 events only: one request for a step, whatever its messages.
    """
    started, ended = step.written_in_task, step.written_in_task + 1
    handle = client.get_workflow_handle(workflow_id(step.reference), run_id=step.run_id)
    started_event = None
    async for event in handle.fetch_history_events(page_size=ended):
        if event.event_id == started:
            started_event = event.event_type
        elif event.event_id == ended:
            return (started_event == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
                    and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        elif event.event_id > ended:
            break
    return None
