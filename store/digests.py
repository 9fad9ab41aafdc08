"""The Director General's daily digest: which cases it lists, and the row that makes each day's digest go once."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from domain.kinds import FINAL_STATUSES
from domain.steps import DigestState
from store.db import Database
from store.tables import CASES, DEPARTMENTS, DIGESTS

# Outcomes after which a day's digest is never tried again.
SETTLED = (DigestState.SENT, DigestState.NOTHING_BREACHED, DigestState.NO_ADDRESS)


@dataclass(frozen=True)
class BreachedCase:
    reference: str
    kind: str
    department: str | None
    department_name_ar: str | None
    department_name_en: str | None
    answer_due: datetime


class DigestBusy(Exception):
    """Another attempt holds this day's digest and may still be sending it."""


async def breached_open_cases(database: Database) -> list[BreachedCase]:
    """Every case still open whose answer is overdue, the longest overdue first."""
    async with database.snapshot() as session:
        rows = (await session.exec(
            select(CASES.c.reference, CASES.c.kind, CASES.c.department, DEPARTMENTS.c.name_ar,
                   DEPARTMENTS.c.name_en, CASES.c.answer_due)
            .outerjoin(DEPARTMENTS, DEPARTMENTS.c.code == CASES.c.department)
            .where(CASES.c.breached.is_(True), CASES.c.status.not_in([str(status) for status in FINAL_STATUSES]))
            .order_by(CASES.c.answer_due, CASES.c.reference)
        )).all()
    return [BreachedCase(*row) for row in rows]


async def claim_digest(database: Database, day_closes_at: datetime, lease: timedelta) -> int | str:
    """Take the day's digest for this attempt: the claim's number, or the status it was settled with.

    A digest another attempt is sending stays with it for the lease (it may be about to record its
    send): DigestBusy until then.
    """
    now = func.now()
    async with database.transaction() as session:
        claimed = (await session.exec(
            insert(DIGESTS)
            .values(day_closes_at=day_closes_at, status=DigestState.SENDING, attempts=1, updated_at=now)
            .on_conflict_do_update(
                index_elements=["day_closes_at"],
                set_={"status": DigestState.SENDING, "attempts": DIGESTS.c.attempts + 1, "updated_at": now},
                where=(DIGESTS.c.status.not_in(SETTLED))
                & or_(DIGESTS.c.status != DigestState.SENDING, DIGESTS.c.updated_at < now - lease),
            )
            .returning(DIGESTS.c.attempts)
        )).first()
        if claimed is not None:
            return claimed.attempts
        status = (await session.exec(select(DIGESTS.c.status)
                                     .where(DIGESTS.c.day_closes_at == day_closes_at))).scalar_one()
    if status in SETTLED:
        return status
    raise DigestBusy(f"the digest of {day_closes_at.isoformat()} is being sent by another attempt")


async def settle_digest(database: Database, day_closes_at: datetime, claim: int, status: str, cases: int = 0) -> None:
    """Record the outcome of the attempt that holds the claim."""
    async with database.transaction() as session:
        await session.exec(
            update(DIGESTS)
            .where(DIGESTS.c.day_closes_at == day_closes_at, DIGESTS.c.attempts == claim)
            .values(status=status, cases=cases, updated_at=func.now(),
                    sent_at=func.now() if status == DigestState.SENT else None, last_error=None)
        )


async def release_digest(database: Database, day_closes_at: datetime, claim: int, reason: str) -> None:
    """Give the claim back after a failed send, so the next attempt sends it."""
    async with database.transaction() as session:
        await session.exec(
            update(DIGESTS)
            .where(DIGESTS.c.day_closes_at == day_closes_at, DIGESTS.c.attempts == claim,
                   DIGESTS.c.status == DigestState.SENDING)
            .values(status=DigestState.PENDING, last_error=reason[:500], updated_at=func.now())
        )
