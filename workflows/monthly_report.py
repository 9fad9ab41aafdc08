"""MonthlyReportWorkflow: last month's figures as an HTML email and a PDF, kept and sent once; and the policy's own
review reminder when its date has come.

The schedule (core/monthly_report_schedule.py) fires at 08:00 Muscat on days 1 to 7 of each month; a calendar
spec cannot say "the first working day", so the run asks the calendar and ends at once on any other day. A run
by hand (`complaints report --month 2026-11`) names its month and always makes it. Making and sending are
activities: the report is stored under its month before it is sent, and the send is claimed, so a second run
for the same month (a retry, a backfill, the CLI) sends nothing more.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.monthly_report_messages import (
        MonthlyReportPlan,
        MonthlyReportPlanRequest,
        MonthlyReportRequest,
        MonthlyReportRun,
        PolicyReviewRequest,
        ReportOutcome,
    )

PLAN = "plan_monthly_report"
MAKE = "make_monthly_report"
SEND = "send_monthly_report"
REMIND_POLICY_REVIEW = "remind_policy_review"
PLAN_TIMEOUT = timedelta(seconds=30)
# Figures of a month of cases, five charts and a PDF: well within this on a loaded machine.
MAKE_TIMEOUT = timedelta(minutes=5)
# A mail server that is down is waited out; the report goes out late rather than never.
SEND_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=10))


@workflow.defn
class MonthlyReportWorkflow:
    @workflow.run
    async def run(self, run: MonthlyReportRun) -> ReportOutcome:
        plan: MonthlyReportPlan = await workflow.execute_activity(
            PLAN, MonthlyReportPlanRequest(at=workflow.now(), month=run.month), result_type=MonthlyReportPlan,
            start_to_close_timeout=PLAN_TIMEOUT, retry_policy=RETRY,
        )
        if plan.policy_review_due:
            await workflow.execute_activity(
                REMIND_POLICY_REVIEW, PolicyReviewRequest(next_review=plan.policy_review_due),
                result_type=ReportOutcome, start_to_close_timeout=SEND_TIMEOUT, retry_policy=RETRY,
            )
        if plan.month is None:
            return ReportOutcome(status="skipped")
        workflow.set_current_details(f"the report of {plan.month}")
        request = MonthlyReportRequest(month=plan.month)
        await workflow.execute_activity(MAKE, request, result_type=ReportOutcome,
                                        start_to_close_timeout=MAKE_TIMEOUT, retry_policy=RETRY)
        return await workflow.execute_activity(SEND, request, result_type=ReportOutcome,
                                               start_to_close_timeout=SEND_TIMEOUT, retry_policy=RETRY)
