"""Activities that turn the policy's working days into instants, so the workflow only ever waits on instants."""

from temporalio import activity

from domain.calendar import WorkingCalendar
from domain.deadlines import Pause, compute_case_deadlines
from workflows.messages import (
    DeadlineRequest,
    DepartmentDeadlines,
    PauseExtension,
    PauseExtensionResult,
    WorkingDaysRequest,
    WorkingDaysResult,
)


class DeadlineActivities:
    """Deadline arithmetic on the calendar the worker was built with (the real one, or a compressed one)."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self._calendar = calendar

    @activity.defn(name="compute_deadlines")
    async def compute_deadlines(self, request: DeadlineRequest) -> DepartmentDeadlines:
        deadlines = compute_case_deadlines(
            self._calendar,
            request.terms,
            request.priority,
            request.received_at,
            [Pause(pause.started, pause.ended) for pause in request.pauses],
        )
        return DepartmentDeadlines(deadlines.department_due, deadlines.answer_due, deadlines.department_reminder)

    @activity.defn(name="working_days_after")
    async def working_days_after(self, request: WorkingDaysRequest) -> WorkingDaysResult:
        return WorkingDaysResult(self._calendar.due_after(request.start, request.working_days))

    @activity.defn(name="extend_for_pause")
    async def extend_for_pause(self, request: PauseExtension) -> PauseExtensionResult:
        return PauseExtensionResult(
            [
                self._calendar.extend_for_pause(deadline, request.paused_from, request.paused_until)
                for deadline in request.deadlines
            ]
        )
