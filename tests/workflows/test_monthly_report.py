"""The monthly report: its schedule fires, the report is made, kept and arrives once at the mail server however often
it runs; its PDF reads back in Arabic in logical order and its pages render; the first working day is the calendar's.
"""

import asyncio
import os
import sys
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pypdfium2
from pypdf import PdfReader

from activities.monthly_report import MonthlyReportActivities, first_working_day_of_month, report_key
from core.monthly_report_schedule import FIRST_WEEK_AT_EIGHT, ensure_monthly_report_schedule
from core.timekeeping import timekeeping
from domain.calendar import MUSCAT, OmanCalendar
from store.reports import stored_report
from tests import helpers
from tests.conftest import DIRECTOR_GENERAL_EMAIL, TEST_CODEC_KEYS
from tests.helpers import eventually
from tests.workflows.test_lifecycle import new_case
from workflows.monthly_report_messages import (
    MonthlyReportPlanRequest,
    MonthlyReportRun,
    PolicyReviewRequest,
    ReportOutcome,
)


def _this_month() -> str:
    return f"{datetime.now(MUSCAT):%Y-%m}"


def _reports(mail_server, subject_part: str) -> list:
    return [message for message in mail_server.folder.parsed() if subject_part in str(message["Subject"])]


async def _async(value):
    return value


async def test_the_schedule_fires_and_the_report_arrives_once(api, keys, temporal_client, settings, database,
                                                               mail_server):
    await new_case(api, keys)
    month = _this_month()
    policy = timekeeping(settings).policy
    schedule_id = f"monthly-report-test-{uuid.uuid4().hex[:8]}"
    assert await ensure_monthly_report_schedule(temporal_client, settings, policy, schedule_id=schedule_id,
                                                run=MonthlyReportRun(month=month), workflow_id=schedule_id)
    # The worker's start makes it again: the one there stays.
    assert not await ensure_monthly_report_schedule(temporal_client, settings, policy, schedule_id=schedule_id)
    handle = temporal_client.get_schedule_handle(schedule_id)
    try:
        description = await handle.describe()
        assert description.schedule.spec.calendars[0].day_of_month == FIRST_WEEK_AT_EIGHT.day_of_month
        assert description.schedule.spec.time_zone_name == "Asia/Muscat"
        await handle.trigger()
        runs = await eventually(lambda: _finished_runs(temporal_client, handle, 1), timeout=90, interval=0.5)
        # Fired again for the same month (a retry, a backfill): nothing more is sent.
        await handle.trigger()
        runs = await eventually(lambda: _finished_runs(temporal_client, handle, 2), timeout=90, interval=0.5)
    finally:
        await handle.delete()
    helpers.created_workflow_ids.extend(runs)
    outcomes = [await temporal_client.get_workflow_handle(run, result_type=ReportOutcome).result() for run in runs]
    assert sorted(outcome.status for outcome in outcomes) == ["already_sent", "sent"]
    copies = _reports(mail_server, f"Monthly report {month}")
    assert len(copies) == 1
    message = copies[0]
    to = str(message["To"])
    assert DIRECTOR_GENERAL_EMAIL in to and all(address in to for address in policy.review.monthly_report_to)
    attachments = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(attachments) == 1 and attachments[0].get_content().startswith(b"%PDF")
    assert "التقرير الشهري" in message.get_body(("html",)).get_content()
    stored = await stored_report(database, report_key(month))
    assert stored["status"] == "sent" and stored["pdf"] == attachments[0].get_content()


async def _finished_runs(temporal_client, handle, count: int) -> list[str] | None:
    actions = (await handle.describe()).info.recent_actions
    ids = [action.action.workflow_id for action in actions]
    if len(ids) < count:
        return None
    for workflow_id in ids:
        description = await temporal_client.get_workflow_handle(workflow_id).describe()
        if description.status is None or description.status.name != "COMPLETED":
            return None
    return ids


async def test_the_pdf_reads_back_in_arabic_and_its_pages_render(api, keys, settings, database, tmp_path_factory):
    await new_case(api, keys)
    keeping = timekeeping(settings)
    made = await MonthlyReportActivities(database, settings, keeping.policy, keeping.calendar).make(_this_month())
    # Kept for people to look at: the folder is printed at the end of the test.
    pages = tmp_path_factory.mktemp("monthly-report")
    print(f"monthly report pages: {pages}")
    (pages / "report.pdf").write_bytes(made.pdf)
    reader = PdfReader(pages / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    # Logical order: the words as they are written, not reversed glyph by glyph.
    for words in ("التقرير الشهري لمعالجة الشكاوى والبلاغات والاقتراحات", "الحالات المستلمة", "الشهر السابق",
                  "Monthly report of complaints"):
        assert words in text, text[:500]
    document = pypdfium2.PdfDocument(made.pdf)
    assert len(document) >= 2  # the table, then the charts
    for number in range(len(document)):
        image = document[number].render(scale=1.2).to_pil()
        path = pages / f"page-{number + 1}.png"
        image.save(path)
        assert image.width > 500 and image.height > 700
        # Something is drawn on it: not a blank page.
        assert len(set(image.convert("L").getdata())) > 10
        assert path.stat().st_size > 10_000


def test_the_schedules_day_is_the_calendars_first_working_day():
    calendar = OmanCalendar()
    # 1 and 2 January 2027 are a Friday and a Saturday: the first working day is Sunday the 3rd.
    assert first_working_day_of_month(calendar, date(2027, 1, 5)) == date(2027, 1, 3)
    assert first_working_day_of_month(calendar, date(2026, 11, 20)) == date(2026, 11, 1)


async def test_the_run_reports_last_month_only_on_the_first_working_day(settings, database):
    policy = timekeeping(settings).policy
    activities = MonthlyReportActivities(database, settings, policy, OmanCalendar())
    muscat = ZoneInfo("Asia/Muscat")

    async def plan(day: int):
        at = datetime(2027, 1, day, 8, tzinfo=muscat).astimezone(UTC)
        return await activities.plan_monthly_report(MonthlyReportPlanRequest(at=at))

    assert (await plan(2)).month is None
    assert (await plan(3)).month == "2026-12"
    assert (await plan(4)).month is None
    by_hand = await activities.plan_monthly_report(MonthlyReportPlanRequest(at=datetime.now(UTC), month="2026-11"))
    assert by_hand.month == "2026-11"


async def test_the_policy_owner_is_reminded_of_the_review_once(settings, database, mail_server):
    policy = timekeeping(settings).policy
    activities = MonthlyReportActivities(database, settings, policy, OmanCalendar())
    after = datetime.combine(policy.review.next_review, datetime.min.time(), tzinfo=MUSCAT).astimezone(UTC)
    before = await activities.plan_monthly_report(MonthlyReportPlanRequest(at=datetime(2026, 1, 4, 5, tzinfo=UTC)))
    assert before.policy_review_due is None
    due = (await activities.plan_monthly_report(MonthlyReportPlanRequest(at=after))).policy_review_due
    assert due == policy.review.next_review.isoformat()
    first = await activities.remind_policy_review(PolicyReviewRequest(next_review=due))
    again = await activities.remind_policy_review(PolicyReviewRequest(next_review=due))
    assert (first.status, again.status) == ("sent", "already_sent")
    reminders = await eventually(lambda: _async(_reports(mail_server, f"Policy review due {due}")))
    assert len(reminders) == 1 and str(reminders[0]["To"]) == policy.review.owner_email


async def test_complaints_report_makes_a_month_by_hand_and_sends_it_once(worker, settings, mail_server, tmp_path):
    """`complaints report --month`, run as a person runs it (a process of its own), twice: one email."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("COMPLAINTS_") and name not in {"DATABASE_URL", "TEMPORAL_ADDRESS"}}
    env.update(TEMPORAL_ADDRESS=settings.temporal_address, COMPLAINTS_TASK_QUEUE=settings.task_queue,
               COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS, COMPLAINTS_DATA_DIR=str(tmp_path))
    answers = []
    for _ in range(2):
        # Not subprocess.run: the session's worker, which runs the workflow, shares this event loop.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from core.cli import main; main()", "report", "--month", "2026-10",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, err.decode()
        answers.append(out.decode().strip().splitlines()[-1])
    helpers.created_workflow_ids.append("monthly-report-2026-10-by-hand")
    assert answers == ["the report of 2026-10: sent", "the report of 2026-10: already_sent"]
    assert len(_reports(mail_server, "Monthly report 2026-10")) == 1
