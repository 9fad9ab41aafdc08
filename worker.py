"""The worker: runs CaseWorkflow and its activities against the configured Temporal and PostgreSQL."""

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.common import MetricMeter
from temporalio.runtime import Runtime
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.case_store import CaseStore
from activities.deadlines import DeadlineActivities
from activities.delivery import SEND_DEADLINE_SECONDS, DeliveryActivities
from activities.digest import DigestActivities
from activities.monthly_report import MonthlyReportActivities
from activities.outbox_sender import OutboxSender
from activities.retention import retention_activities
from core import logs, tracing
from core.director_general_digest import ensure_director_general_digest
from core.metrics import sdk_metrics_runtime
from core.monthly_report_schedule import ensure_monthly_report_schedule
from core.retention_schedule import ensure_retention_schedule
from core.settings import Settings, get_settings
from core.temporal import connect_when_ready
from core.timekeeping import timekeeping
from store.db import Database
from workflows.case import CaseWorkflow, delivery_task_queue
from workflows.digest import DirectorGeneralDigestWorkflow
from workflows.monthly_report import MonthlyReportWorkflow
from workflows.retention import RetentionWorkflow

log = logging.getLogger("complaints.worker")

STICKY_QUEUE_TIMEOUT = timedelta(seconds=3)
# Database connections of the case worker, and so the steps it writes at once. A workflow task holds
# its slot while its steps' local activities run; more tasks at once than connections only queue inside
# the worker, where they lengthen every task past Temporal's timeout, are lost and run again (a
# backlog that feeds itself). Bounded, they wait in Temporal's queue instead and each stays short.
CASE_WORKER_CONNECTIONS = 16
# Workflow tasks at once. Eight drained a 1 000-case burst as fast with shorter tasks, but the short fault
# suite then left histories that do not replay (3 of 4 runs, "patch marker encountered for change
# director-general-daily-digest"; README.md "Delivery"), and with 16 it has not yet: 16 until that is understood.
CASE_WORKER_TASKS = 16
# On SIGTERM a worker stops taking work and lets the sends it has started end (each within
# SEND_DEADLINE_SECONDS) and be recorded; cut off, a send the server took would go again later.
SHUTDOWN_GRACE = timedelta(seconds=SEND_DEADLINE_SECONDS + 15)


def build_worker(client, settings: Settings, database: Database, *, task_queue: str | None = None,
                 case_store: CaseStore | None = None, **worker_options) -> Worker:
    """A worker with every workflow and activity of a case; tests build theirs the same way (and may add options,
    or a case store that fails on cue)."""
    policy, calendar = timekeeping(settings).policy, timekeeping(settings).calendar
    store = case_store or CaseStore(database)
    deadlines = DeadlineActivities(calendar)
    delivery = DeliveryActivities(database, settings)
    digest = DigestActivities(database, settings, calendar)
    monthly_report = MonthlyReportActivities(database, settings, policy, calendar)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[CaseWorkflow, RetentionWorkflow, DirectorGeneralDigestWorkflow, MonthlyReportWorkflow],
        activities=[
            store.record_case,
            store.record_step,
            deadlines.compute_deadlines,
            deadlines.working_days_after,
            deadlines.extend_for_pause,
            # Here too for messages of cases that started sending before delivery had its own queue.
            delivery.deliver_message,
            delivery.record_delivery_failure,
            *retention_activities(database, policy),
            digest.next_working_day_close,
            digest.send_director_general_digest,
            # The periodic review's monthly report and the policy's review reminder.
            monthly_report.plan_monthly_report,
            monthly_report.make_monthly_report,
            monthly_report.send_monthly_report,
            monthly_report.remind_policy_review,
        ],
        # Measured in DESIGN.md: these drain a burst of due timers three times faster on the dev server.
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(maximum=20),
        max_concurrent_workflow_tasks=CASE_WORKER_TASKS,
        max_concurrent_local_activities=CASE_WORKER_CONNECTIONS,
        nonsticky_to_sticky_poll_ratio=1.0,
        # A worker that dies leaves tasks on its sticky queue; they move to the shared queue after this.
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
        graceful_shutdown_timeout=SHUTDOWN_GRACE,  # it still sends for cases started before the sender existed
        # Traces (core/tracing.py): the client's tracing interceptor runs inside workflows too.
        workflow_runner=tracing.workflow_runner(),
        **worker_options,
    )


# Messages in flight at once in one sender. Each holds a database connection for the length of its
# send (activities/delivery.py), so the sender's pool is as large: no send waits for one to record.
SENDER_CONCURRENCY = 20


def build_delivery_worker(client, settings: Settings, database: Database,
                          delivery: DeliveryActivities | None = None) -> Worker:
    """The sender: only deliver_message, on its own task queue, so nothing delays the record of a send."""
    return Worker(
        client,
        task_queue=delivery_task_queue(settings.task_queue),
        activities=[(delivery or DeliveryActivities(database, settings)).deliver_message],
        max_concurrent_activities=SENDER_CONCURRENCY,
        graceful_shutdown_timeout=SHUTDOWN_GRACE,
    )


# ---------------------------------------------------------------- the outbox's sender (part: outbox)
def build_outbox_sender(client, settings: Settings, database: Database,
                        delivery: DeliveryActivities | None = None, runtime: Runtime | None = None) -> OutboxSender:
    """Beside the delivery worker in `complaints delivery`: the messages of cases that send from the outbox.
    Its figures go out with the SDK's, on the `runtime`'s metrics endpoint."""
    return OutboxSender(client, database, delivery or DeliveryActivities(database, settings), SENDER_CONCURRENCY,
                        meter=runtime.metric_meter if runtime else MetricMeter.noop)


async def run_worker(settings: Settings) -> None:
    client = await connect_when_ready(settings, runtime=sdk_metrics_runtime(settings, settings.worker_metrics_port))
    database = Database(settings.resolved_database_url(), pool_size=CASE_WORKER_CONNECTIONS)
    # The daily erasure of personal data past the policy's retention period; harmless when it exists.
    await ensure_retention_schedule(client, settings, timekeeping(settings).policy)
    await ensure_director_general_digest(client, settings)
    await ensure_monthly_report_schedule(client, settings, timekeeping(settings).policy)
    await _run_until_stopped(build_worker(client, settings, database), settings)
    await database.dispose()


async def run_delivery_worker(settings: Settings) -> None:
    runtime = sdk_metrics_runtime(settings, settings.sender_metrics_port)
    client = await connect_when_ready(settings, runtime=runtime)
    database = Database(settings.resolved_database_url(), pool_size=SENDER_CONCURRENCY)
    delivery = DeliveryActivities(database, settings)
    sender = build_outbox_sender(client, settings, database, delivery, runtime)
    await _run_until_stopped(build_delivery_worker(client, settings, database, delivery), settings, beside=sender.run)
    await database.dispose()


async def _run_until_stopped(worker: Worker, settings: Settings, beside=None) -> None:
    """Run the worker (and `beside`, a loop that ends when the stop event is set) until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("worker polling task queue %s at %s", worker.task_queue, settings.resolved_temporal_address())
    async with worker:
        if beside is None:
            await stop.wait()
        else:
            await beside(stop)


def main(run=run_worker) -> None:
    # Configured once per process (core/cli.py does it first; this is for `python worker.py`).
    logs.configure(tracing.service_name(), get_settings().log_format)
    asyncio.run(run(get_settings()))


if __name__ == "__main__":
    main()
