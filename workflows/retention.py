"""RetentionWorkflow: erases the personal data of cases closed longer ago than the policy keeps it.

A Temporal Schedule (core/retention_schedule.py) starts it every day with the policy's retention
period. It only computes the cut-off from workflow time and calls the erasing activity batch after
batch; the database work, and its idempotency, live in activities/retention.py.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.retention_messages import (
        ErasureBatch,
        ErasureResult,
        RetentionOutcome,
        RetentionRun,
    )

ERASE_ACTIVITY = "erase_expired_personal_data"
# One batch is one transaction over a few hundred rows; a database outage is waited out, not failed.
ERASE_TIMEOUT = timedelta(minutes=2)
ERASE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
INVALID_RUN = "InvalidRetentionRun"


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, run: RetentionRun) -> RetentionOutcome:
        if run.personal_data_days < 0 or run.batch_size < 1 or run.batches_per_run < 1:
            raise ApplicationError(
                "retention days must be 0 or more, batch size and batches per run at least 1",
                type=INVALID_RUN,
                non_retryable=True,
            )
        cutoff = run.cutoff or workflow.now() - timedelta(days=run.personal_data_days)
        erased = run.erased_before
        for _ in range(run.batches_per_run):
            batch: ErasureResult = await workflow.execute_activity(
                ERASE_ACTIVITY,
                ErasureBatch(cutoff=cutoff, batch_size=run.batch_size),
                result_type=ErasureResult,
                start_to_close_timeout=ERASE_TIMEOUT,
                retry_policy=ERASE_RETRY,
            )
            erased += batch.erased
            workflow.set_current_details(f"erased {erased} cases closed before {cutoff.isoformat()}")
            if not batch.more:
                return RetentionOutcome(cutoff=cutoff, erased=erased)
        # Still more after a full run: a fresh history, the same cut-off.
        workflow.continue_as_new(
            RetentionRun(
                personal_data_days=run.personal_data_days,
                batch_size=run.batch_size,
                batches_per_run=run.batches_per_run,
                cutoff=cutoff,
                erased_before=erased,
            )
        )
