"""What intake's speed rests on keeps intake's promises (bench/intake.py measures the speed itself).

A submission draws its number from a sequence this process has seen made (no DDL per request), and makes
it again when it vanished behind the process.
"""

import uuid

import pytest
from sqlalchemy import text

from store import intake_claims


async def next_number(database, sequence: str) -> int:
    async with intake_claims.intake_transaction(database) as unit:
        return await unit.next_reference_number(sequence)


async def test_a_reference_sequence_lost_behind_the_process_is_made_again(database):
    sequence = f"case_ref_test_{uuid.uuid4().hex[:8]}"
    await intake_claims.ensure_reference_sequence(database, sequence)
    first = await next_number(database, sequence)
    assert await next_number(database, sequence) == first + 1
    async with database.transaction() as session:  # a database restored from a backup older than the sequence
        await session.exec(text(f"drop sequence {sequence}"))

    with pytest.raises(intake_claims.SequenceMissing):
        await next_number(database, sequence)

    await intake_claims.ensure_reference_sequence(database, sequence)
    assert await next_number(database, sequence) >= 1
    async with database.transaction() as session:
        await session.exec(text(f"drop sequence {sequence}"))
