"""The dataclasses that cross MonthlyReportWorkflow's boundary: months and outcomes, no personal data.

New fields get defaults, so that a history written by an older version still decodes.
"""

from dataclasses import dataclass
from datetime import datetime


@dataclass
class MonthlyReportRun:
    """A month to report (`2026-11`), or none: the schedule's run reports the month before its day, and only on
    the first working day of the month (the schedule fires on days 1 to 7)."""

    month: str | None = None


@dataclass
class MonthlyReportPlanRequest:
    at: datetime
    month: str | None = None


@dataclass
class MonthlyReportPlan:
    # The month to report, or none when `at` is not the first working day of its month.
    month: str | None = None
    # The date of the policy's review when its reminder is due now (policy.toml, [review]).
    policy_review_due: str | None = None


@dataclass
class MonthlyReportRequest:
    month: str


@dataclass
class PolicyReviewRequest:
    next_review: str


@dataclass
class ReportOutcome:
    # made, sent, already_sent, no_address, skipped
    status: str
    key: str = ""
