"""The deadline badges say, in both languages, how many working days or hours are left or late."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import CompressedCalendar
from domain.deadlines import Standing
from domain.kinds import Status
from web.console.badges import ANSWER_CLOCK, DAYS, DEPARTMENT_CLOCK, HOURS, count_of, deadline_badge, span_of
from web.i18n import words_for

AR, EN = words_for("ar"), words_for("en")


@pytest.mark.parametrize(("n", "arabic"), [
    (1, "يوم عمل واحد"), (2, "يوما عمل"), (3, "3 أيام عمل"), (10, "10 أيام عمل"), (11, "11 يوم عمل"),
    (99, "99 يوم عمل"), (100, "100 يوم عمل"), (103, "103 أيام عمل"), (111, "111 يوم عمل"),
])
def test_arabic_counts_working_days_in_its_own_forms(n, arabic):
    assert count_of(AR, n, DAYS) == arabic


def test_arabic_and_english_count_hours():
    assert [count_of(AR, n, HOURS) for n in (1, 2, 3, 11)] == ["ساعة واحدة", "ساعتان", "3 ساعات", "11 ساعة"]
    assert [count_of(EN, n, HOURS) for n in (1, 2)] == ["1 hour", "2 hours"]
    assert [count_of(EN, n, DAYS) for n in (1, 3)] == ["1 working day", "3 working days"]


def test_the_last_day_counts_hours_and_under_an_hour_says_so():
    assert span_of(EN, Standing(overdue=False, working_days=0, hours=3)) == "3 hours"
    assert span_of(EN, Standing(overdue=False, working_days=0, hours=0)) == "less than an hour"
    assert span_of(AR, Standing(overdue=True, working_days=2, hours=0)) == "يوما عمل"


# A compressed calendar: a working day of 100 s, no weekends; a standing counts the days' closes between.
CALENDAR = CompressedCalendar(working_day_seconds=100)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _badge(words, due, status=Status.WITH_DEPARTMENT, clock=ANSWER_CLOCK):
    return deadline_badge(words, CALENDAR, due, NOW, status=status, clock=clock)


def test_a_badge_says_due_or_overdue_in_working_days_on_the_cases_calendar():
    due_later = CALENDAR.due_after(NOW, 2)
    assert _badge(EN, due_later).tone == "due" and _badge(EN, due_later).text.startswith("due in ")
    late = _badge(EN, NOW - timedelta(seconds=350))
    assert late.tone == "overdue" and late.text.startswith("overdue by ") and "working day" in late.text
    assert _badge(AR, NOW - timedelta(seconds=350)).text.startswith("مضى على الموعد ")


def test_a_paused_case_and_a_met_deadline_have_their_own_badges():
    assert _badge(EN, NOW, status=Status.AWAITING_SUBMITTER).text == "paused: waiting for the submitter"
    assert _badge(AR, NOW, status=Status.AWAITING_SUBMITTER).text == "متوقف: بانتظار مقدم الطلب"
    assert _badge(EN, NOW, status=Status.REPLIED, clock=DEPARTMENT_CLOCK).tone == "met"
    assert _badge(EN, NOW - timedelta(days=9), status=Status.REPLIED, clock=ANSWER_CLOCK).tone == "overdue"
