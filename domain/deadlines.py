"""A case's deadlines: computed from its receipt, its terms and the pauses it has had."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
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
