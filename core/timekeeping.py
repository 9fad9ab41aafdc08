"""The policy in force and the calendar its working days are counted on, built once per process.

The API, the worker, the CLI and the tests take both from here, so a submitter is told the deadlines
the workflow then holds: the same file read once, the same calendar, the same function.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from core.settings import Settings
from domain.calendar import WorkingCalendar, calendar_for
from domain.deadlines import CaseDeadlines, compute_case_deadlines
from domain.kinds import Kind
from domain.policy import Policy, load_policy


@dataclass(frozen=True)
class Timekeeping:
    """The policy and its calendar (the Omani one, or a compressed one for demos and tests)."""

    policy: Policy
    calendar: WorkingCalendar

    def first_deadlines(self, kind: Kind, priority: str | None, received_at: datetime) -> CaseDeadlines:
        """A new case's deadlines from its receipt, under its kind's terms."""
        return compute_case_deadlines(self.calendar, self.policy.terms_for(kind), priority, received_at)


def timekeeping(settings: Settings) -> Timekeeping:
    """This process's policy and calendar for `settings`: read and built on the first call, shared after."""
    return _built(Path(settings.policy_path).resolve(), settings.working_day_seconds)


@lru_cache
def _built(policy_path: Path, working_day_seconds: float | None) -> Timekeeping:
    policy = policy_at(policy_path)
    return Timekeeping(policy, calendar_for(policy, working_day_seconds))


@lru_cache
def policy_at(path: Path) -> Policy:
    """The policy file at `path`, read once (for what needs the policy before there are settings, e.g. seeding)."""
    return load_policy(Path(path).resolve())
