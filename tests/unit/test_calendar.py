"""Working days in Oman: Sunday to Thursday, minus public holidays, each day closing at 14:30 Muscat.

Holiday dates are those of the `holidays` package (country OM) as installed; they follow the royal
decrees and official announcements it cites (e.g. National Day moved by Decree 15/2025).
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import CompressedCalendar, OmanCalendar, calendar_for, days_between
from domain.policy import parse_policy

MUSCAT = ZoneInfo("Asia/Muscat")
UTC = UTC
REPO = Path(__file__).resolve().parents[2]


def muscat(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant given on Muscat's wall clock, in UTC as the calendar takes it."""
    return datetime(year, month, day, hour, minute, tzinfo=MUSCAT).astimezone(UTC)


@pytest.fixture
def oman() -> OmanCalendar:
    return OmanCalendar()


# --- working days ------------------------------------------------------------------------------


def test_sunday_to_thursday_are_working_days_and_friday_saturday_are_the_weekend(oman):
    # 1-7 February 2026: Sunday to Saturday, no holidays.
    week = [date(2026, 2, d) for d in range(1, 8)]
    assert [d.strftime("%A") for d in week if oman.is_working_day(d)] == [
        "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday",
    ]
    assert not oman.is_working_day(date(2026, 2, 6))  # Friday
    assert not oman.is_working_day(date(2026, 2, 7))  # Saturday


def test_national_day_is_a_holiday_on_the_dates_the_package_gives(oman):
    # The package (after Decree 15/2025 and the announcements) gives 26-27 Nov 2025 and 25-26 Nov 2026.
    for day in (date(2025, 11, 26), date(2025, 11, 27), date(2026, 11, 25), date(2026, 11, 26)):
        assert oman.is_holiday(day)
        assert not oman.is_working_day(day)
    assert oman.is_working_day(date(2025, 11, 25))  # the Tuesday before


def test_eid_al_fitr_and_eid_al_adha_are_holidays(oman):
    # Eid al-Fitr 2026: Thursday 19 to Sunday 22 March; Eid al-Adha 2026: Tuesday 26 to Friday 29 May.
    assert not any(oman.is_working_day(date(2026, 3, d)) for d in (19, 22))
    assert not any(oman.is_working_day(date(2026, 5, d)) for d in (26, 27, 28))
    assert oman.is_working_day(date(2026, 3, 23))
    # Received the day before Eid al-Fitr: one working day runs to Monday after Eid.
    assert oman.due_after(muscat(2026, 3, 18, 10), 1) == muscat(2026, 3, 23, 14, 30)


def test_a_deadline_skips_national_day_and_the_weekend_after_it(oman):
    # Received Tuesday 25 Nov 2025: Wed-Thu are National Day, Fri-Sat the weekend.
    assert oman.due_after(muscat(2025, 11, 25, 10), 1) == muscat(2025, 11, 30, 14, 30)


def test_extra_holidays_declared_in_the_policy_are_days_off():
    calendar = OmanCalendar(extra_holidays=[date(2026, 2, 3)])
    assert not calendar.is_working_day(date(2026, 2, 3))
    # Sunday + 3 working days skips the declared Tuesday: Thursday, not Wednesday.
    assert calendar.due_after(muscat(2026, 2, 1, 10), 3) == muscat(2026, 2, 5, 14, 30)


def test_not_holidays_in_the_policy_turn_a_package_holiday_into_a_working_day():
    calendar = OmanCalendar(not_holidays=[date(2026, 11, 25)])
    assert calendar.is_working_day(date(2026, 11, 25))
    assert not calendar.is_working_day(date(2026, 11, 26))


def test_not_holidays_do_not_make_the_weekend_a_working_day():
    calendar = OmanCalendar(not_holidays=[date(2026, 2, 6)])
    assert not calendar.is_working_day(date(2026, 2, 6))  # still a Friday


def test_calendar_for_a_policy_takes_its_overrides():
    text = (REPO / "policy.toml").read_text(encoding="utf-8")
    text = text.replace("extra_holidays = []", 'extra_holidays = ["2026-02-03"]')
    calendar = calendar_for(parse_policy(text), None)
    assert isinstance(calendar, OmanCalendar)
    assert not calendar.is_working_day(date(2026, 2, 3))


def test_is_working_day_takes_a_local_date_not_a_datetime(oman):
    with pytest.raises(TypeError):
        oman.is_working_day(datetime(2026, 2, 1, 10, tzinfo=UTC))


# --- deadlines ---------------------------------------------------------------------------------


def test_three_working_days_from_sunday_morning_fall_at_wednesday_close(oman):
    due = oman.due_after(muscat(2026, 2, 1, 10), 3)
    assert due.astimezone(MUSCAT) == datetime(2026, 2, 4, 14, 30, tzinfo=MUSCAT)
    # Muscat is UTC+4 all year: 14:30 Muscat is 10:30 UTC.
    assert due == datetime(2026, 2, 4, 10, 30, tzinfo=UTC)
    assert due.tzinfo == UTC


def test_a_deadline_skips_the_weekend(oman):
    # Received Wednesday: 2 working days are Thursday and Sunday.
    assert oman.due_after(muscat(2026, 2, 4, 9), 2) == muscat(2026, 2, 8, 14, 30)


def test_zero_days_is_the_close_of_the_day_of_receipt(oman):
    assert oman.due_after(muscat(2026, 2, 1, 10), 0) == muscat(2026, 2, 1, 14, 30)


def test_received_after_the_close_counts_from_the_next_working_day(oman):
    # Thursday 15:00 counts as received on Sunday; one working day is Monday.
    assert oman.due_after(muscat(2026, 2, 5, 15), 1) == muscat(2026, 2, 9, 14, 30)


def test_received_exactly_at_the_close_counts_from_the_next_working_day(oman):
    assert oman.due_after(muscat(2026, 2, 1, 14, 30), 0) == muscat(2026, 2, 2, 14, 30)
    assert oman.due_after(muscat(2026, 2, 1, 14, 29), 0) == muscat(2026, 2, 1, 14, 30)


def test_received_on_friday_counts_from_sunday(oman):
    friday = muscat(2026, 2, 6, 10)
    assert oman.due_after(friday, 0) == muscat(2026, 2, 8, 14, 30)
    assert oman.due_after(friday, 3) == muscat(2026, 2, 11, 14, 30)


def test_the_close_is_read_on_muscat_time_not_utc(oman):
    # Thursday 11:00 UTC is 15:00 in Muscat: after the close, so it counts from Sunday.
    received = datetime(2026, 2, 5, 11, 0, tzinfo=UTC)
    assert oman.due_after(received, 0) == muscat(2026, 2, 8, 14, 30)


def test_saturday_2330_utc_is_already_sunday_in_muscat(oman):
    received = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # a Saturday in UTC
    assert received.astimezone(MUSCAT).strftime("%A %H:%M") == "Sunday 03:30"
    # Received on Sunday before the close: zero days fall at Sunday's close.
    assert oman.due_after(received, 0) == muscat(2026, 2, 1, 14, 30)


def test_instants_in_other_zones_are_accepted_and_results_are_utc(oman):
    received = datetime(2026, 2, 1, 10, tzinfo=MUSCAT)
    due = oman.due_after(received, 3)
    assert due == muscat(2026, 2, 4, 14, 30)
    assert due.tzinfo == UTC


def test_naive_datetimes_are_refused(oman):
    naive = datetime(2026, 2, 1, 10)
    with pytest.raises(ValueError):
        oman.due_after(naive, 3)
    with pytest.raises(ValueError):
        oman.reminder_at(naive, 3, 1)
    with pytest.raises(ValueError):
        oman.extend_for_pause(naive, muscat(2026, 2, 1), muscat(2026, 2, 2))
    with pytest.raises(ValueError):
        oman.working_days_between(naive, muscat(2026, 2, 2))
    with pytest.raises(ValueError):
        CompressedCalendar(10).due_after(naive, 1)


def test_negative_day_counts_are_refused(oman):
    with pytest.raises(ValueError):
        oman.due_after(muscat(2026, 2, 1, 10), -1)


# --- reminders ---------------------------------------------------------------------------------


def test_the_reminder_comes_lead_days_before_the_deadline(oman):
    # 3 working days from Sunday are due Wednesday; one day ahead is Tuesday's close.
    assert oman.reminder_at(muscat(2026, 2, 1, 10), 3, 1) == muscat(2026, 2, 3, 14, 30)


def test_a_one_day_deadline_is_reminded_half_way(oman):
    received = muscat(2026, 2, 1, 10)
    due = oman.due_after(received, 1)  # Monday 14:30
    reminder = oman.reminder_at(received, 1, 1)
    assert reminder == received + (due - received) / 2
    assert reminder.astimezone(MUSCAT) == datetime(2026, 2, 2, 0, 15, tzinfo=MUSCAT)


# --- pauses ------------------------------------------------------------------------------------


def test_working_days_between_counts_the_closes_in_the_interval(oman):
    # Sunday, Monday and Tuesday closed; Wednesday closes at the very end, which is excluded.
    assert oman.working_days_between(muscat(2026, 2, 1, 10), muscat(2026, 2, 4, 14, 30)) == 3
    assert oman.working_days_between(muscat(2026, 2, 1, 10), muscat(2026, 2, 4, 14, 31)) == 4
    # Thursday after the close to Sunday morning: only the weekend passed.
    assert oman.working_days_between(muscat(2026, 2, 5, 15), muscat(2026, 2, 8, 10)) == 0


def test_a_pause_across_the_weekend_moves_the_deadline_by_working_days_only(oman):
    deadline = muscat(2026, 2, 10, 14, 30)  # Tuesday
    # Paused Thursday 10:00 to Sunday 10:00: only Thursday's close passed.
    moved = oman.extend_for_pause(deadline, muscat(2026, 2, 5, 10), muscat(2026, 2, 8, 10))
    assert moved == muscat(2026, 2, 11, 14, 30)


def test_a_pause_within_one_working_day_before_the_close_moves_nothing(oman):
    deadline = muscat(2026, 2, 4, 14, 30)
    assert oman.extend_for_pause(deadline, muscat(2026, 2, 1, 9), muscat(2026, 2, 1, 12)) == deadline


def test_a_moved_deadline_lands_on_a_working_day_at_the_same_time(oman):
    deadline = muscat(2026, 2, 5, 14, 30)  # Thursday
    moved = oman.extend_for_pause(deadline, muscat(2026, 2, 1, 10), muscat(2026, 2, 3, 10))
    assert moved == muscat(2026, 2, 9, 14, 30)  # two working days on: Sunday, Monday


def test_a_pause_cannot_end_before_it_starts(oman):
    with pytest.raises(ValueError):
        oman.extend_for_pause(muscat(2026, 2, 4, 14, 30), muscat(2026, 2, 3), muscat(2026, 2, 2))


# --- compressed calendar -----------------------------------------------------------------------


def test_compressed_calendar_counts_seconds_with_no_weekends():
    calendar = CompressedCalendar(working_day_seconds=10)
    start = datetime(2026, 2, 6, 12, 0, tzinfo=UTC)  # a Friday: no weekend here
    assert calendar.is_working_day(date(2026, 2, 6))
    assert calendar.due_after(start, 3) == start + timedelta(seconds=30)
    assert calendar.reminder_at(start, 3, 1) == start + timedelta(seconds=20)
    assert calendar.reminder_at(start, 1, 1) == start + timedelta(seconds=5)
    assert calendar.working_days_between(start, start + timedelta(seconds=25)) == 2


def test_compressed_calendar_moves_a_deadline_by_the_whole_pause():
    calendar = CompressedCalendar(working_day_seconds=10)
    deadline = datetime(2026, 2, 6, 12, 0, 30, tzinfo=UTC)
    paused_from = datetime(2026, 2, 6, 12, 0, 5, tzinfo=UTC)
    moved = calendar.extend_for_pause(deadline, paused_from, paused_from + timedelta(seconds=7))
    assert moved == deadline + timedelta(seconds=7)


def test_calendar_for_gives_a_compressed_calendar_when_asked():
    policy = parse_policy((REPO / "policy.toml").read_text(encoding="utf-8"))
    assert isinstance(calendar_for(policy, 2.5), CompressedCalendar)
    with pytest.raises(ValueError):
        CompressedCalendar(0)


# --- the Director General's digest goes out at each working day's close ------------------------


def test_the_next_close_is_today_before_the_close_and_the_next_working_day_after_it(oman):
    thursday_morning = datetime(2026, 12, 3, 9, 0, tzinfo=MUSCAT)
    assert oman.next_close_after(thursday_morning) == datetime(2026, 12, 3, 14, 30, tzinfo=MUSCAT)
    # At the close itself, and after it: the next working day's, over the weekend.
    assert oman.next_close_after(datetime(2026, 12, 3, 14, 30, tzinfo=MUSCAT)) == datetime(2026, 12, 6, 14, 30,
                                                                                          tzinfo=MUSCAT)
    assert oman.next_close_after(datetime(2026, 12, 5, 10, 0, tzinfo=MUSCAT)) == datetime(2026, 12, 6, 14, 30,
                                                                                         tzinfo=MUSCAT)


def test_one_close_a_working_day_from_close_to_close(oman):
    close = datetime(2026, 12, 6, 14, 30, tzinfo=MUSCAT)
    closes = []
    for _ in range(5):
        close = oman.next_close_after(close)
        closes.append(close.astimezone(MUSCAT).date())
    assert closes == [date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9), date(2026, 12, 10), date(2026, 12, 13)]


def test_compressed_days_close_at_whole_multiples_of_their_length():
    calendar = CompressedCalendar(working_day_seconds=10)
    start = datetime(2026, 12, 1, 8, 0, 3, tzinfo=UTC)
    first = calendar.next_close_after(start)
    assert first == datetime(2026, 12, 1, 8, 0, 10, tzinfo=UTC)
    assert calendar.next_close_after(first) == first + timedelta(seconds=10)


def test_days_are_taken_on_muscats_wall_clock():
    # 1 December in Muscat runs from 30 November 20:00 UTC to 1 December 20:00 UTC.
    assert days_between(date(2026, 12, 1), date(2026, 12, 1), "Asia/Muscat") == (
        datetime(2026, 11, 30, 20, tzinfo=UTC), datetime(2026, 12, 1, 20, tzinfo=UTC))
    assert days_between(None, date(2026, 12, 31), "Asia/Muscat") == (None, muscat(2027, 1, 1))
    assert days_between(date(2026, 3, 1), None, "Asia/Muscat") == (muscat(2026, 3, 1), None)
    assert days_between(date.min, date.max, "Asia/Muscat") == (None, None)
