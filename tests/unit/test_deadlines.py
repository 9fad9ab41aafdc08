"""A case's deadlines: from its receipt, under the terms frozen at intake, moved by pauses."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import CompressedCalendar, OmanCalendar
from domain.deadlines import CaseDeadlines, Pause, compute_case_deadlines
from domain.policy import CaseTerms

MUSCAT = ZoneInfo("Asia/Muscat")
UTC = UTC

# The shipped report times: critical 1/2, high 2/3, normal 5/10, low 10/15.
REPORT_TERMS = CaseTerms(
    department_days={"critical": 1, "high": 2, "normal": 5, "low": 10},
    answer_days={"critical": 2, "high": 3, "normal": 10, "low": 15},
    reminder_lead_days=1,
)


def muscat(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MUSCAT).astimezone(UTC)


SUNDAY_MORNING = muscat(2026, 2, 1, 10)


def test_a_normal_report_received_sunday_morning():
    deadlines = compute_case_deadlines(OmanCalendar(), REPORT_TERMS, "normal", SUNDAY_MORNING)
    assert deadlines == CaseDeadlines(
        department_due=muscat(2026, 2, 8, 14, 30),  # 5 working days: Mon-Thu, Sun
        answer_due=muscat(2026, 2, 15, 14, 30),  # 10 working days
        department_reminder=muscat(2026, 2, 5, 14, 30),  # one working day before the department's due
    )


def test_no_priority_means_normal():
    calendar = OmanCalendar()
    assert compute_case_deadlines(calendar, REPORT_TERMS, None, SUNDAY_MORNING) == compute_case_deadlines(
        calendar, REPORT_TERMS, "normal", SUNDAY_MORNING
    )


def test_raising_the_priority_brings_the_deadlines_forward():
    calendar = OmanCalendar()
    normal = compute_case_deadlines(calendar, REPORT_TERMS, "normal", SUNDAY_MORNING)
    critical = compute_case_deadlines(calendar, REPORT_TERMS, "critical", SUNDAY_MORNING)
    assert critical != normal
    assert critical.department_due == muscat(2026, 2, 2, 14, 30)
    assert critical.answer_due == muscat(2026, 2, 3, 14, 30)
    # A one-day deadline is reminded half-way to it.
    assert critical.department_reminder == SUNDAY_MORNING + (critical.department_due - SUNDAY_MORNING) / 2


def test_a_pause_moves_all_three_deadlines():
    calendar = OmanCalendar()
    # Waiting for the submitter from Monday 9:00 to Wednesday 9:00: Monday's and Tuesday's closes passed.
    pause = Pause(started=muscat(2026, 2, 2, 9), ended=muscat(2026, 2, 4, 9))
    deadlines = compute_case_deadlines(calendar, REPORT_TERMS, "normal", SUNDAY_MORNING, [pause])
    assert deadlines.department_due == muscat(2026, 2, 10, 14, 30)
    assert deadlines.answer_due == muscat(2026, 2, 17, 14, 30)
    assert deadlines.department_reminder == muscat(2026, 2, 9, 14, 30)


def test_pauses_are_applied_in_turn():
    calendar = CompressedCalendar(working_day_seconds=10)
    start = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)
    pauses = [Pause(start + timedelta(seconds=5), start + timedelta(seconds=8)),
              Pause(start + timedelta(seconds=20), start + timedelta(seconds=24))]
    deadlines = compute_case_deadlines(calendar, REPORT_TERMS, "high", start, pauses)
    assert deadlines.department_due == start + timedelta(seconds=20 + 7)
    assert deadlines.answer_due == start + timedelta(seconds=30 + 7)
    assert deadlines.department_reminder == start + timedelta(seconds=10 + 7)


def test_a_pause_cannot_end_before_it_starts():
    with pytest.raises(ValueError):
        Pause(started=SUNDAY_MORNING, ended=SUNDAY_MORNING - timedelta(hours=1))


def test_an_unknown_priority_is_refused():
    with pytest.raises(ValueError):
        compute_case_deadlines(OmanCalendar(), REPORT_TERMS, "urgent", SUNDAY_MORNING)
