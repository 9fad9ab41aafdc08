"""Intake's claims: the idempotency keys a submission is claimed under, and the references drawn for cases.

A claim is committed before the case's workflow starts, with what a retry needs to start that same
workflow again (api/service/intake.py). A submission reads and writes what it needs in one transaction
on one connection (`intake_transaction`): at intake's pace, each extra round trip and ORM session counts.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import psycopg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select

from store import departments
from store.db import Database
from store.models import IntakeRequest

# The sequences of references this process has seen exist (made on a kind's first case of a year), so that
# a submission draws its number with one statement instead of also asking to make the sequence each time.
_KNOWN_SEQUENCES: set[str] = set()


class SequenceMissing(Exception):
    """A sequence of references this process had seen is gone (a database restored from an older backup); the
    next `ensure_reference_sequence` makes it again."""


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


async def ensure_reference_sequence(database: Database, sequence: str) -> None:
    """Make the sequence if this process has not seen it yet (its first number is drawn and lost: numbers may skip)."""
    if sequence not in _KNOWN_SEQUENCES:
        await next_reference_number(database, sequence)
        _KNOWN_SEQUENCES.add(sequence)


class IntakeUnit:
    """One submission's reads and writes, on one connection, committed together before its workflow starts."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def claims_of(self, keys: list[str]) -> list[IntakeRequest]:
        rows = await self._connection.execute(select(*IntakeRequest.__table__.columns)
                                              .where(IntakeRequest.idempotency_key.in_(keys)))
        return [IntakeRequest(**row._mapping) for row in rows]

    async def next_reference_number(self, sequence: str) -> int:
        """The next number of a sequence `ensure_reference_sequence` made sure of."""
        try:
            return (await self._connection.execute(text(f"select nextval('{sequence}')"))).scalar_one()
        except ProgrammingError as error:
            if not isinstance(error.orig, psycopg.errors.UndefinedTable):
                raise
            _KNOWN_SEQUENCES.discard(sequence)
            raise SequenceMissing(sequence) from error

    async def claim(self, keys: list[str], *, request_hash: str, reference: str, received_at: datetime,
                    tracking_code_sealed: bytes) -> None:
        """Claim every key for this case: ClaimedConcurrently if another attempt holds one (roll back then)."""
        for key in keys:
            claimed = await self._connection.execute(
                insert(IntakeRequest)
                .values(idempotency_key=key, request_hash=request_hash, reference=reference,
                        received_at=received_at, tracking_code_sealed=tracking_code_sealed)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(IntakeRequest.reference)
            )
            if claimed.first() is None:
                raise ClaimedConcurrently

    async def active_department_codes(self) -> list[str]:
        return list((await self._connection.execute(departments.ACTIVE_CODES)).scalars())


@asynccontextmanager
async def intake_transaction(database: Database) -> AsyncIterator[IntakeUnit]:
    """A submission's transaction: committed when the block ends, rolled back if it raises."""
    async with database.connection() as connection:
        yield IntakeUnit(connection)


async def claims_of(database: Database, keys: list[str]) -> list[IntakeRequest]:
    async with database.session() as session:
        return list((await session.exec(select(IntakeRequest).where(IntakeRequest.idempotency_key.in_(keys)))).all())
