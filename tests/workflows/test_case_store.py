"""The case store's activities write each step once, however often Temporal retries them."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import select

from activities.case_store import CaseStore
from store.models import CaseRecord, OutboxMessage, TimelineEntry
from workflows.messages import (
    Actor,
    CaseIntake,
    CaseSnapshot,
    Notification,
    StepRecord,
    Submitter,
)


def intake(reference: str, now: datetime) -> CaseIntake:
    return CaseIntake(
        reference=reference, kind="complaint", channel="email", submitter=Submitter("community"),
        subject="s", description="d", tracking_code_hash="0" * 64, received_at=now, policy_version="test",
        department_due=now + timedelta(days=3), answer_due=now + timedelta(days=5),
        department_reminder=now + timedelta(days=2), actor=Actor("channel"),
    )


def step(reference: str, number: int, status: str, now: datetime) -> StepRecord:
    snapshot = CaseSnapshot(status, "complaint", None, "HR", 1, False, now, now)
    return StepRecord(reference, number, f"step{number}", now, "system", snapshot, "received", status,
                      notifications=[Notification("submitter", "acknowledgement")])


async def count(database, model, reference: str) -> int:
    async with database.session() as session:
        return (await session.exec(select(func.count()).select_from(model).where(model.reference == reference))).one()


async def test_retried_activities_write_once(database):
    store, now = CaseStore(database), datetime.now(UTC)
    reference = f"T-{now:%H%M%S%f}"

    for _ in range(3):
        await store.record_case(intake(reference, now))
        await store.record_step(step(reference, 1, "with_department", now))

    assert await count(database, CaseRecord, reference) == 1
    assert await count(database, TimelineEntry, reference) == 1
    assert await count(database, OutboxMessage, reference) == 1


async def test_an_older_step_never_overwrites_a_newer_one(database):
    store, now = CaseStore(database), datetime.now(UTC)
    reference = f"U-{now:%H%M%S%f}"
    await store.record_case(intake(reference, now))

    await store.record_step(step(reference, 2, "replied", now))
    await store.record_step(step(reference, 1, "with_department", now))

    async with database.session() as session:
        assert (await session.get(CaseRecord, reference)).status == "replied"
