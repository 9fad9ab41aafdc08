"""Working-day arithmetic: when a deadline of N working days falls, and how a pause moves it.

All instants in and out are timezone-aware datetimes; results are in UTC. Business-day
boundaries are taken in the policy's time zone (Asia/Muscat).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from domain.policy import Policy

_ONE_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The policy's zone; how people in the ministry read an instant (DESIGN.md, time).
MUSCAT = ZoneInfo("Asia/Muscat")


def muscat_minute(instant: datetime) -> str:
    """An instant as an operator reads it: Muscat time to the minute, the zone named."""
    return f"{instant.astimezone(MUSCAT):%Y-%m-%d %H:%M} Muscat"


class WorkingCalendar(Protocol):
    """What deadline computation needs from a calendar."""

    def is_working_day(self, day: date) -> bool:
        """True when the ministry works on this (local) date."""
        ...

    def due_after(self, start: datetime, working_days: int) -> datetime:
        """The instant a deadline of `working_days` working days from `start` falls due."""
        ...

    def reminder_at(self, start: datetime, working_days: int, lead_days: int) -> datetime:
        """When to remind the assignee of a deadline of `working_days` from `start`."""
        ...

    def extend_for_pause(self, deadline: datetime, paused_from: datetime, paused_until: datetime) -> datetime:
        """The deadline moved by the working time that passed while the clock was paused."""
        ...

    def working_days_between(self, a: datetime, b: datetime) -> int:
        """How many working days ended in [a, b)."""
        ...

    def next_close_after(self, instant: datetime) -> datetime:
        """The first end of a working day strictly after `instant`: when the day's digest goes out."""
        ...


def _utc(instant: datetime, name: str) -> datetime:
    """The instant in UTC; naive datetimes are refused because their moment is unknown."""
    if not isinstance(instant, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


def _check_days(value: int, name: str) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


def _reminder_at(calendar: WorkingCalendar, start: datetime, working_days: int, lead_days: int) -> datetime:
    """`lead_days` working days before the due; half-way to it when the deadline is that short (every calendar)."""
    _check_days(lead_days, "lead_days")
    if working_days > lead_days:
        return calendar.due_after(start, working_days - lead_days)
    start = _utc(start, "start")
    due = calendar.due_after(start, working_days)
    return start + (due - start) / 2


class OmanCalendar:
    """Sunday-to-Thursday working days minus Omani public holidays; each day closes at 14:30 Muscat."""

    def __init__(
        self,
        *,
        timezone: str = "Asia/Muscat",
        working_weekdays: Iterable[int] = (6, 0, 1, 2, 3),
        day_closes_at: time = time(14, 30),
        extra_holidays: Iterable[date] = (),
        not_holidays: Iterable[date] = (),
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self.working_weekdays = frozenset(working_weekdays)
        if not self.working_weekdays or not self.working_weekdays <= set(range(7)):
            days = sorted(self.working_weekdays)
            raise ValueError(f"working_weekdays must be weekday numbers 0..6, got {days}")
        self.day_closes_at = day_closes_at
        self.extra_holidays = frozenset(extra_holidays)
        self.not_holidays = frozenset(not_holidays)
        self._holidays_by_year: dict[int, frozenset[date]] = {}

    # --- days --------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """True when `day` (a date in Muscat) is a weekday the ministry works and not a holiday."""
        if isinstance(day, datetime):
            # A datetime's date depends on the zone it is read in; make the caller decide.
            raise TypeError("is_working_day takes a local date, not a datetime")
        return day.weekday() in self.working_weekdays and not self.is_holiday(day)

    def is_holiday(self, day: date) -> bool:
        """True when `day` is a public holiday, after the policy's overrides."""
        if day in self.not_holidays:
            return False
        return day in self.extra_holidays or day in self._package_holidays(day.year)

    def _package_holidays(self, year: int) -> frozenset[date]:
        if year not in self._holidays_by_year:
            # Imported on first use so that workflow code can import domain modules inside
            # Temporal's sandbox without loading the holiday tables.
            import holidays

            self._holidays_by_year[year] = frozenset(holidays.country_holidays("OM", years=year))
        return self._holidays_by_year[year]

    def _next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        day += _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def _add_working_days(self, day: date, count: int) -> date:
        for _ in range(count):
            day = self._next_working_day(day)
        return day

    # --- instants ----------------------------------------------------------------------------

    def _close(self, day: date) -> datetime:
        """The instant `day` closes, in UTC."""
        return datetime.combine(day, self.day_closes_at, tzinfo=self.zone).astimezone(UTC)

    def _receipt_day(self, start: datetime) -> date:
        """The working day a submission counts as received: after the close or on a day off, the next one."""
        local = start.astimezone(self.zone)
        day = local.date()
        if self.is_working_day(day) and local.time() < self.day_closes_at:
            return day
        return self._next_working_day(day)

    def due_after(self, start: datetime, working_days: int) -> datetime:
        """The close of the Nth working day after the day of receipt (N = 0: the receipt day's close)."""
        start = _utc(start, "start")
        _check_days(working_days, "working_days")
        return self._close(self._add_working_days(self._receipt_day(start), working_days))

    def reminder_at(self, start: datetime, working_days: int, lead_days: int) -> datetime:
        """`lead_days` working days before the due; half-way to it when the deadline is that short."""
        return _reminder_at(self, start, working_days, lead_days)

    def extend_for_pause(self, deadline: datetime, paused_from: datetime, paused_until: datetime) -> datetime:
        """Moves the deadline one working day later for each working day that closed during the pause."""
        deadline = _utc(deadline, "deadline")
        missed = self.working_days_between(paused_from, paused_until)
        if missed == 0:
            return deadline
        local = deadline.astimezone(self.zone)
        day = self._add_working_days(local.date(), missed)
        # Same local time of day: a deadline at the close stays at the close.
        moved = datetime.combine(day, local.time(), tzinfo=self.zone)
        return moved.astimezone(UTC)

    def working_days_between(self, a: datetime, b: datetime) -> int:
        """How many working days closed in [a, b); ValueError when b is before a."""
        a, b = _utc(a, "a"), _utc(b, "b")
        if b < a:
            raise ValueError(f"the interval ends ({b.isoformat()}) before it starts ({a.isoformat()})")
        count = 0
        day = a.astimezone(self.zone).date()
        last = b.astimezone(self.zone).date()
        while day <= last:
            if self.is_working_day(day) and a <= self._close(day) < b:
                count += 1
            day += _ONE_DAY
        return count

    def next_close_after(self, instant: datetime) -> datetime:
        """The close of the working day `instant` falls in, or of the next working day once it has closed."""
        instant = _utc(instant, "instant")
        day = instant.astimezone(self.zone).date()
        if not self.is_working_day(day) or self._close(day) <= instant:
            day = self._next_working_day(day)
        return self._close(day)


class CompressedCalendar:
    """For demos and tests: every day works, a working day lasts `working_day_seconds`, no holidays."""

    def __init__(self, working_day_seconds: float) -> None:
        if not working_day_seconds > 0:
            raise ValueError(f"working_day_seconds must be positive, got {working_day_seconds}")
        self.day = timedelta(seconds=working_day_seconds)

    def is_working_day(self, day: date) -> bool:
        """Always True: the compressed calendar has no weekends or holidays."""
        return True

    def due_after(self, start: datetime, working_days: int) -> datetime:
        """`working_days` compressed days after `start`."""
        _check_days(working_days, "working_days")
        return _utc(start, "start") + working_days * self.day

    def reminder_at(self, start: datetime, working_days: int, lead_days: int) -> datetime:
        """`lead_days` compressed days before the due; half-way to it when the deadline is that short."""
        return _reminder_at(self, start, working_days, lead_days)

    def extend_for_pause(self, deadline: datetime, paused_from: datetime, paused_until: datetime) -> datetime:
        """The deadline moved by the whole paused duration (all time is working time here)."""
        paused = _utc(paused_until, "paused_until") - _utc(paused_from, "paused_from")
        if paused < timedelta(0):
            raise ValueError("paused_until is before paused_from")
        return _utc(deadline, "deadline") + paused

    def working_days_between(self, a: datetime, b: datetime) -> int:
        """How many whole compressed days fit in [a, b)."""
        span = _utc(b, "b") - _utc(a, "a")
        if span < timedelta(0):
            raise ValueError("the interval ends before it starts")
        return span // self.day

    def next_close_after(self, instant: datetime) -> datetime:
        """Compressed days end at whole multiples of the day's length since the Unix epoch."""
        since_epoch = _utc(instant, "instant") - _EPOCH
        return _EPOCH + (since_epoch // self.day + 1) * self.day


def days_between(first: date | None, last: date | None, zone: str) -> tuple[datetime | None, datetime | None]:
    """The instants (UTC) that hold the calendar days `first` to `last`, both included, on `zone`'s wall clock:
    [start of `first`, start of the day after `last`). A missing day leaves that side open, and so does a
    day at the very edge of the calendar (1 January of year 1, 31 December 9999), whose bound has no instant."""
    tz = ZoneInfo(zone)

    def start(day: date) -> datetime | None:
        try:
            return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        except OverflowError:
            return None

    after_last = last + _ONE_DAY if last and last < date.max else None
    return (start(first) if first else None, start(after_last) if after_last else None)


def calendar_for(policy: Policy, working_day_seconds: float | None) -> WorkingCalendar:
    """The policy's Omani calendar, or a compressed one when `working_day_seconds` is given."""
    if working_day_seconds is not None:
        return CompressedCalendar(working_day_seconds)
    return OmanCalendar(
        timezone=policy.timezone,
        working_weekdays=policy.working_weekdays,
        day_closes_at=policy.day_closes_at,
        extra_holidays=policy.extra_holidays,
        not_holidays=policy.not_holidays,
    )
