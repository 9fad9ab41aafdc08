"""Intake's claims: the idempotency keys a submission is claimed under, and the references drawn for cases.

A claim is committed before the case's workflow starts, with what a retry needs to start that same
workflow again (api/service/intake.py).
"""

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlmodel import select

from store.db import Database
from store.models import IntakeRequest


class ClaimedConcurrently(Exception):
    """Another attempt committed one of the keys first (the claim waited for it); nothing of this one was kept."""


async def next_reference_number(database: Database, sequence: str) -> int:
    """The next number of a PostgreSQL sequence of references (`case_ref_c_2026`), made on first use."""
    for _ in range(3):
        try:
            async with database.transaction() as session:
                await session.exec(text(f"create sequence if not exists {sequence}"))
                return (await session.exec(text(f"select nextval('{sequence}')"))).scalar_one()
        except (IntegrityError, ProgrammingError):
            # Two first cases of a year may race to create the sequence; the loser simply tries again.
            continue
    raise RuntimeError(f"could not draw a reference from {sequence}")


async def claims_of(database: Database, keys: list[str]) -> list[IntakeRequest]:
    async with database.session() as session:
        return list((await session.exec(select(IntakeRequest).where(IntakeRequest.idempotency_key.in_(keys)))).all())


async def claim(database: Database, keys: list[str], *, request_hash: str, reference: str, received_at: datetime,
                tracking_code_sealed: bytes) -> None:
    """Claim every key for this case, all or none: ClaimedConcurrently if another attempt holds one."""
    async with database.transaction() as session:
        for key in keys:
            claimed = await session.exec(
                insert(IntakeRequest)
                .values(idempotency_key=key, request_hash=request_hash, reference=reference,
                        received_at=received_at, tracking_code_sealed=tracking_code_sealed)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(IntakeRequest.reference)
            )
            if claimed.first() is None:
                raise ClaimedConcurrently
