"""The dataclasses that cross DirectorGeneralDigestWorkflow's boundary; no personal data in any of them.

New fields get defaults, so that a history written by an older version still decodes.
"""

from dataclasses import dataclass
from datetime import datetime


@dataclass
class DigestRun:
    """One run of the digest loop; continue-as-new carries the next digest's time."""

    next_at: datetime | None = None
    # Digests per run before it continues as new, so that its history stays small.
    digests_per_run: int = 50


@dataclass
class NextClose:
    after: datetime


@dataclass
class NextCloseResult:
    at: datetime


@dataclass
class DigestRequest:
    """The digest of the working day that closes at `day_closes_at`; the key that makes it once."""

    day_closes_at: datetime


@dataclass
class DigestOutcome:
    # sent, already_sent, nothing_breached or no_address
    status: str
    cases: int = 0
