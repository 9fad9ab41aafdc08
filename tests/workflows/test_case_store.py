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


def step(reference: str, number: int, status: str, now: datetime, *, action: str | None = None,
         task: int = 3) -> StepRecord:
    snapshot = CaseSnapshot(status, "complaint", None, "HR", 1, False, now, now)
    return StepRecord(reference, number, action or f"step{number}", now, "system", snapshot, "received", status,
                      notifications=[Notification("submitter", "acknowledgement")], written_in_task=task)


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


async def test_a_write_from_a_lost_task_never_overwrites_the_task_that_replaced_it(database):
    store, now = CaseStore(database), datetime.now(UTC)
    reference = f"U-{now:%H%M%S%f}"
    await store.record_case(intake(reference, now))

    await store.record_step(step(reference, 2, "replied", now, task=13))
    await store.record_step(step(reference, 2, "with_department", now, task=10))  # late, from the lost task
    await store.record_step(step(reference, 3, "closed", now, task=10))

    assert await steps_of(database, reference) == ["0002-step2"]
    async with database.session() as session:
        assert (await session.get(CaseRecord, reference)).status == "replied"


async def test_the_rerun_of_a_lost_task_replaces_the_steps_it_had_written(database):
    """Steps 2 and 3 committed in a task that Temporal lost; run again, the workflow took step 2 differently."""
    store, now = CaseStore(database), datetime.now(UTC)
    reference = f"V-{now:%H%M%S%f}"
    await store.record_case(intake(reference, now))
    await store.record_step(step(reference, 1, "received", now, action="received", task=3))
    await store.record_step(step(reference, 2, "received", now, action="director_general_reminded", task=10))
    await store.record_step(step(reference, 3, "received", now, action="escalated", task=10))

    await store.record_step(step(reference, 2, "rejected", now, action="reject", task=13))
    await store.record_step(step(reference, 2, "rejected", now, action="reject", task=13))  # a retry

    assert await steps_of(database, reference) == ["0001-received", "0002-reject"]
    async with database.session() as session:
        messages = (await session.exec(
            select(OutboxMessage.message_key).where(OutboxMessage.reference == reference))).all()
        row = await session.get(CaseRecord, reference)
    assert sorted(messages) == ["0001-received-0-acknowledgement", "0002-reject-0-acknowledgement"]
    assert (row.status, row.last_step, row.last_task) == ("rejected", 2, 13)


async def steps_of(database, reference: str) -> list[str]:
    async with database.session() as session:
        return list((await session.exec(
            select(TimelineEntry.step_key).where(TimelineEntry.reference == reference).order_by(TimelineEntry.step)
        )).all())
