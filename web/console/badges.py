"""A case's deadline badges: where a deadline stands, in working days and hours, in the reader's words.

The facts come from domain.deadlines.standing_of on the case's calendar; this writes them as people say
them ("due in 1 working day", "overdue by 2 working days", "due in 3 hours"). Arabic counts have their
own forms (one, two, 3 to 10, 11 to 99, and the rest): يوم عمل واحد، يوما عمل، 3 أيام عمل، 11 يوم عمل.
"""

from dataclasses import dataclass
from datetime import datetime

from domain.calendar import WorkingCalendar
from domain.deadlines import Standing, standing_of
from domain.kinds import Status
from web.i18n import Words

# While the case waits for the submitter, every clock stands still (policy: the clock pauses).
PAUSED = frozenset({Status.AWAITING_SUBMITTER})
# The department's deadline runs until it replies; the answer's until the submitter is answered.
DEPARTMENT_CLOCK = frozenset({Status.RECEIVED, Status.WITH_DEPARTMENT}) | PAUSED
ANSWER_CLOCK = DEPARTMENT_CLOCK | {Status.REPLIED}


@dataclass(frozen=True)
class Badge:
    text: str
    tone: str  # overdue, due-today, due, paused, met (a CSS class: badge-<tone>)


def deadline_badge(words: Words, calendar: WorkingCalendar, due: datetime, now: datetime, *, status: str,
                   clock: frozenset[Status]) -> Badge:
    """The badge of the deadline `due` of a case in `status`, on the case's calendar, at `now`."""
    if status in PAUSED:
        return Badge(words._("paused: waiting for the submitter"), "paused")
    if status not in clock:
        # The step this deadline is for is done; whether it was late is the case's `breached` and its timeline.
        return Badge(words._("done"), "met")
    standing = standing_of(calendar, due, now)
    if standing.overdue:
        return Badge(words._("overdue by {span}", span=span_of(words, standing)), "overdue")
    tone = "due-today" if standing.working_days == 0 else "due"
    return Badge(words._("due in {span}", span=span_of(words, standing)), tone)


def span_of(words: Words, standing: Standing) -> str:
    """The working days of a standing, or on its last day the hours ("less than an hour" under one)."""
    if standing.working_days:
        return count_of(words, standing.working_days, DAYS)
    if standing.hours:
        return count_of(words, standing.hours, HOURS)
    return words._("less than an hour")


@dataclass(frozen=True)
class Counted:
    """A counted noun in English (one, several) and in Arabic (one, two, 3 to 10, 11 to 99, other)."""

    en_one: str
    en_other: str
    ar_one: str
    ar_two: str
    ar_few: str
    ar_many: str


DAYS = Counted("1 working day", "{n} working days", "يوم عمل واحد", "يوما عمل", "{n} أيام عمل", "{n} يوم عمل")
HOURS = Counted("1 hour", "{n} hours", "ساعة واحدة", "ساعتان", "{n} ساعات", "{n} ساعة")


def count_of(words: Words, n: int, noun: Counted) -> str:
    """`n` of `noun` as the reader's language counts (CLDR's plural categories for Arabic)."""
    number = words.number(n)
    if words.language != "ar":
        return noun.en_one if n == 1 else noun.en_other.format(n=number)
    if n == 1:
        return noun.ar_one
    if n == 2:
        return noun.ar_two
    if 3 <= n % 100 <= 10:
        return noun.ar_few.format(n=number)
    # 11 to 99 (and 111, 1011…) take the singular; 100, 101, 102, 200… (CLDR's "other") do as well.
    return noun.ar_many.format(n=number)
