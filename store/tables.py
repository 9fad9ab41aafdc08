"""The tables as SQLAlchemy Core tables, named once for the store's statements.

Not ORM entities: the hot-path statements (a case's steps, deliveries) skip the ORM's bulk-persistence
layer, which cost several milliseconds of CPU per step.
"""

from store.models import (
    ApiKey,
    CaseRead,
    CaseRecord,
    Delivery,
    DepartmentEntry,
    DirectorGeneralDigest,
    IntakeRequest,
    OutboxMessage,
    TimelineEntry,
)
from store.ratelimits import COUNTS as PUBLIC_REQUEST_COUNTS  # noqa: F401 (its model keeps it beside its queries)
from store.ratings import Rating

CASES = CaseRecord.__table__
TIMELINE = TimelineEntry.__table__
CASE_READS = CaseRead.__table__
OUTBOX = OutboxMessage.__table__
DELIVERIES = Delivery.__table__
DEPARTMENTS = DepartmentEntry.__table__
API_KEYS = ApiKey.__table__
INTAKE_REQUESTS = IntakeRequest.__table__
DIGESTS = DirectorGeneralDigest.__table__
RATINGS = Rating.__table__
