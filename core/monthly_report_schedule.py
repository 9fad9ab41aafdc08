"""The Temporal Schedule of the monthly report: 08:00 Muscat on days 1 to 7 of every month.

A calendar spec cannot say "the first working day of the month" (holidays move), so it fires on each of the
first seven days and the run asks the calendar: on any day but the first working day it ends at once
(workflows/monthly_report.py). The worker calls `ensure_monthly_report_schedule` at startup.

A missed month is backfilled with `temporal schedule backfill --schedule-id monthly-report --start-time …
--end-time …` over the days it should have fired (each run reports the month before its scheduled day), or by
hand with `complaints report --month 2026-11`. Either way the month's report is sent once.
"""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from core.settings import Settings
from domain.policy import Policy
from workflows.monthly_report import MonthlyReportWorkflow
from workflows.monthly_report_messages import MonthlyReportRun

MONTHLY_REPORT_SCHEDULE_ID = "monthly-report"
# The schedule appends each run's scheduled time to this id.
MONTHLY_REPORT_WORKFLOW_ID = "monthly-report"
FIRST_WEEK_AT_EIGHT = ScheduleCalendarSpec(
    second=(ScheduleRange(0),), minute=(ScheduleRange(0),), hour=(ScheduleRange(8),),
    day_of_month=(ScheduleRange(1, 7),), comment="08:00 on days 1-7: the run keeps the first working day",
)
# A server down on the morning still sends that month's report when it returns, within the first week.
CATCHUP_WINDOW = timedelta(days=7)


def monthly_report_schedule(settings: Settings, policy: Policy, run: MonthlyReportRun | None = None,
                            workflow_id: str = MONTHLY_REPORT_WORKFLOW_ID) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MonthlyReportWorkflow.run,
            run or MonthlyReportRun(),
            id=workflow_id,
            task_queue=settings.task_queue,
            static_summary="The monthly report of last month's figures to the Director General",
        ),
        spec=ScheduleSpec(calendars=[FIRST_WEEK_AT_EIGHT], time_zone_name=policy.timezone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE, catchup_window=CATCHUP_WINDOW),
    )


async def ensure_monthly_report_schedule(client: Client, settings: Settings, policy: Policy, *,
                                         schedule_id: str = MONTHLY_REPORT_SCHEDULE_ID,
                                         run: MonthlyReportRun | None = None,
                                         workflow_id: str = MONTHLY_REPORT_WORKFLOW_ID) -> bool:
    """Create the schedule unless it exists (an operator's pause or change stays); True when it was made."""
    try:
        await client.create_schedule(schedule_id, monthly_report_schedule(settings, policy, run, workflow_id))
        return True
    except ScheduleAlreadyRunningError:
        return False
