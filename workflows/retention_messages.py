"""The dataclasses that cross RetentionWorkflow's boundary: its input and result, its activity's I/O.

New fields get defaults, so that a history written by an older version still decodes. Standard
library only; none of them carries personal data.
"""

from dataclasses import dataclass
from datetime import datetime


@dataclass
class RetentionRun:
    """One scheduled run: erase the personal data of cases closed more than `personal_data_days` ago."""

    personal_data_days: int
    # Cases erased per activity call, each call one transaction.
    batch_size: int = 200
    # Batches before the run continues as new, so that its history stays small.
    batches_per_run: int = 100
    # Set by continue-as-new: the cut-off the first run computed, and how many cases it erased so far.
    cutoff: datetime | None = None
    erased_before: int = 0


@dataclass
class RetentionOutcome:
    """What a run erased: the cases closed at or before `cutoff`, counted across continue-as-new."""

    cutoff: datetime
    erased: int


@dataclass
class ErasureBatch:
    """The activity's input: erase up to `batch_size` cases closed at or before `cutoff`."""

    cutoff: datetime
    batch_size: int


@dataclass
class ErasureResult:
    """How many cases one batch erased, and whether a full batch suggests more are waiting."""

    erased: int
    more: bool
