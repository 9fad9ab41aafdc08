"""A case's record as `complaints verify` compares it with its workflow, and the repair that brings it there."""

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from store.db import Database
from store.tables import CASES, DELIVERIES, OUTBOX, TIMELINE

# The case row's fields that follow the workflow's state, as the workflow's view names them.
FOLLOWED_FIELDS = ("status", "kind", "priority", "department", "escalation_level", "breached",
                   "department_due", "answer_due")


@dataclass
class Record:
    """What PostgreSQL holds of one case: the row's followed fields, its steps in order, its messages' keys."""

    row: dict
    step_keys: list[str]
    message_keys: list[str]


def unsent():
    """Outbox rows never handed to the sender: no delivery row refers to them."""
    return ~select(DELIVERIES.c.id).where(DELIVERIES.c.outbox_id == OUTBOX.c.id).exists()


async def forget_steps_from(session, reference: str, from_step: int) -> None:
    """Remove the steps from this number on, and their unsent messages (what a lost workflow task wrote)."""
    await session.exec(delete(OUTBOX).where(OUTBOX.c.reference == reference, OUTBOX.c.step >= from_step, unsent()))
    await session.exec(delete(TIMELINE).where(TIMELINE.c.reference == reference, TIMELINE.c.step >= from_step))


async def case_references(database: Database) -> list[str]:
    async with database.session() as session:
        return list((await session.exec(select(CASES.c.reference).order_by(CASES.c.reference))).scalars())


async def read_record(database: Database, reference: str) -> Record | None:
    async with database.snapshot() as session:
        row = (await session.exec(
            select(*(CASES.c[name] for name in FOLLOWED_FIELDS)).where(CASES.c.reference == reference)
        )).first()
        if row is None:
            return None
        steps = (await session.exec(
            select(TIMELINE.c.step_key)
            .where(TIMELINE.c.reference == reference, TIMELINE.c.step.is_not(None))
            .order_by(TIMELINE.c.step, TIMELINE.c.id)
        )).scalars()
        messages = (await session.exec(select(OUTBOX.c.message_key).where(OUTBOX.c.reference == reference))).scalars()
        return Record(dict(row._mapping), list(steps), list(messages))


async def bring_to_workflow(database: Database, reference: str, state: dict, step_keys: list[str]) -> tuple[int, int]:
    """Make the record say what the workflow says: drop steps (and their unsent messages) that its history does
    not hold, and set the row's followed fields to its state. Returns (steps dropped, messages dropped).

    Safe beside a running case: the row is locked, so a step being written waits and then lands on top.
    """
    kept = set(step_keys)
    async with database.transaction() as session:
        await session.exec(select(CASES.c.reference).where(CASES.c.reference == reference).with_for_update())
        lost = [key for key in (await session.exec(
            select(TIMELINE.c.step_key).where(TIMELINE.c.reference == reference, TIMELINE.c.step.is_not(None))
        )).scalars() if key not in kept]
        messages = [key for key in (await session.exec(
            select(OUTBOX.c.message_key).where(OUTBOX.c.reference == reference, unsent())
        )).scalars() if message_step_key(key) not in kept]
        if lost:
            await session.exec(delete(TIMELINE).where(TIMELINE.c.reference == reference, TIMELINE.c.step_key.in_(lost)))
        if messages:
            await session.exec(delete(OUTBOX).where(OUTBOX.c.reference == reference,
                                                    OUTBOX.c.message_key.in_(messages)))
        await session.exec(update(CASES).where(CASES.c.reference == reference).values(
            **{name: state[name] for name in FOLLOWED_FIELDS}, last_step=len(step_keys)))
    return len(lost), len(messages)


def message_step_key(message_key: str) -> str:
    """The step a message belongs to: its key is `<step key>-<number>-<template>` (workflows.messages.message_key)."""
    return message_key.rsplit("-", 2)[0]
