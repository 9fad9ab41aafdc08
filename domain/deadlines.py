"""A case's deadlines: computed from its receipt, its terms and the pauses it has had."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from domain.policy import CaseTerms

if TYPE_CHECKING:
    from domain.calendar import WorkingCalendar


@dataclass(frozen=True)
class Pause:
    """A stretch of time the clock stood still, e.g. while waiting for the submitter."""

    started: datetime
    ended: datetime

    def __post_init__(self) -> None:
        if self.ended < self.started:
            raise ValueError("a pause cannot end before it starts")


@dataclass(frozen=True)
class CaseDeadlines:
    """When the department must answer customer service, when the submitter must have the answer,
    and when to remind the department of its deadline."""

    department_due: datetime
    answer_due: datetime
    department_reminder: datetime


def compute_case_deadlines(
    calendar: WorkingCalendar,
    terms: CaseTerms,
    priority: str | None,
    received_at: datetime,
    pauses: Sequence[Pause] = (),
) -> CaseDeadlines:
    """The case's deadlines from receipt under its terms and priority, each moved by every pause in order."""
    times = terms.response_times(priority)
    department_due = calendar.due_after(received_at, times.department_days)
    answer_due = calendar.due_after(received_at, times.answer_days)
    reminder = calendar.reminder_at(received_at, times.department_days, terms.reminder_lead_days)
    # Recomputing from receipt with all pauses (rather than moving stored instants) makes the
    # result depend only on the case's history, so a priority change gives the same answer as
    # if the case had been received with that priority.
    for pause in pauses:
        department_due = calendar.extend_for_pause(department_due, pause.started, pause.ended)
        answer_due = calendar.extend_for_pause(answer_due, pause.started, pause.ended)
        reminder = calendar.extend_for_pause(reminder, pause.started, pause.ended)
    return CaseDeadlines(department_due, answer_due, reminder)


@dataclass(frozen=True)
class Standing:
    """Where a running deadline stands at an instant, counted on the case's working calendar.

    `overdue` False: due in `working_days` more working days after today's, or, on its last day
    (`working_days` 0), in `hours`. `overdue` True: past due by `working_days` working days that
    closed since, or, before the next one closes, by `hours`.
    """

    overdue: bool
    working_days: int
    hours: int


def standing_of(calendar: WorkingCalendar, due: datetime, now: datetime) -> Standing:
    """A deadline badge's facts ("due in 1 working day", "overdue by 2 working days", "due in 3 hours")."""
    if now < due:
        days = calendar.working_days_between(now, due)
        return Standing(overdue=False, working_days=days, hours=_whole_hours(due - now) if days == 0 else 0)
    # The due instant itself is a day's close: only the closes after it count as days late.
    days = max(calendar.working_days_between(due, now) - 1, 0)
    return Standing(overdue=True, working_days=days, hours=_whole_hours(now - due) if days == 0 else 0)


def _whole_hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)
