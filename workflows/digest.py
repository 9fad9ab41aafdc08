"""DirectorGeneralDigestWorkflow: once a working day, one message to the Director General listing every breached case.

It replaces a reminder per breached case per day (which was most of the Director General's mail).
One long-lived run for the whole ministry, started by the worker under a fixed id; it waits for each
working day's close on a timer, asks the activity to send that day's digest (which sends it once
whatever retries), and continues as new every few weeks. The cases still record their own reminders.
"""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.calendar import muscat_minute
    from workflows.digest_messages import DigestOutcome, DigestRequest, DigestRun, NextClose, NextCloseResult

DIGEST_WORKFLOW_ID = "director-general-daily-digest"
SEND_DIGEST = "send_director_general_digest"
NEXT_CLOSE = "next_working_day_close"
# A mail server that is down is waited out; the digest of a day goes out late rather than never.
SEND_TIMEOUT = timedelta(minutes=2)
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=10))
CALENDAR_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class DirectorGeneralDigestWorkflow:
    @workflow.run
    async def run(self, run: DigestRun) -> None:
        next_at = run.next_at or await self._next_close_after(workflow.now())
        for _ in range(run.digests_per_run):
            workflow.set_current_details(f"next digest at {muscat_minute(next_at)}")
            await workflow.sleep(max(next_at - workflow.now(), timedelta(0)), summary="the working day's close")
            outcome: DigestOutcome = await workflow.execute_activity(
                SEND_DIGEST, DigestRequest(day_closes_at=next_at), result_type=DigestOutcome,
                start_to_close_timeout=SEND_TIMEOUT, retry_policy=SEND_RETRY,
            )
            workflow.logger.info("digest of %s: %s (%d cases)", next_at.isoformat(), outcome.status, outcome.cases)
            # From the later of the day's close and now: a digest sent late skips the days missed meanwhile.
            next_at = await self._next_close_after(max(next_at, workflow.now()))
        workflow.continue_as_new(DigestRun(next_at=next_at, digests_per_run=run.digests_per_run))

    async def _next_close_after(self, instant: datetime) -> datetime:
        result: NextCloseResult = await workflow.execute_local_activity(
            NEXT_CLOSE, NextClose(after=instant), result_type=NextCloseResult,
            start_to_close_timeout=CALENDAR_TIMEOUT,
        )
        return result.at
