"""Cases and their timeline: the case row, the steps the workflow writes, and what the fronts read of them.

Who may see which case is the application layer's rule (api/service/visibility.py); it reaches the
store as a `CaseScope`, which tests a row and conditions a list the same way.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, func, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select as select_entities

from domain.steps import OutboxDispatch
from store.case_record import forget_steps_from
from store.db import Database
from store.models import CaseRead, CaseRecord, TimelineEntry
from store.tables import CASES, OUTBOX, RATINGS, TIMELINE
from workflows.messages import StepRecord, message_key


@dataclass(frozen=True)
class CaseScope:
    """The cases one caller may see: every case, a department's, the ones a key submitted, or none."""

    every_case: bool = False
    department: str | None = None
    submitted_by_key: str | None = None

    def admits(self, case: CaseRecord) -> bool:
        if self.every_case:
            return True
        if self.department is not None:
            return case.department == self.department
        if self.submitted_by_key is not None:
            return case.submitted_by_key == self.submitted_by_key
        return False

    def condition(self) -> ColumnElement[bool]:
        """The SQL condition on `cases` that keeps exactly the rows `admits` allows."""
        if self.every_case:
            return true()
        if self.department is not None:
            return CaseRecord.department == self.department
        if self.submitted_by_key is not None:
            return CaseRecord.submitted_by_key == self.submitted_by_key
        return false()


@dataclass(frozen=True)
class CaseFile:
    """A case's row and its timeline, read at one moment, and whether its submitter rated it."""

    record: CaseRecord
    timeline: list[TimelineEntry]
    rated: bool


async def find_case(database: Database, reference: str) -> CaseRecord | None:
    async with database.session() as session:
        return await session.get(CaseRecord, reference)


async def read_case_file(database: Database, reference: str) -> CaseFile | None:
    """The row, the timeline and the rating in one snapshot: a step committed between the reads would show
    a case whose row and timeline disagree (closed in the timeline, with no closed_at yet)."""
    async with database.snapshot() as session:
        record = await session.get(CaseRecord, reference)
        if record is None:
            return None
        timeline = (await session.exec(
            select_entities(TimelineEntry).where(TimelineEntry.reference == reference).order_by(TimelineEntry.id)
        )).all()
        rated = (await session.exec(select(RATINGS.c.reference).where(RATINGS.c.reference == reference))).first()
    return CaseFile(record, list(timeline), rated is not None)


async def record_read(database: Database, reference: str, *, key_id: int | None, user_id: int | None, role: str,
                      at: datetime) -> None:
    """A read by an API key or by a person in the console (exactly one of `key_id`, `user_id`)."""
    async with database.transaction() as session:
        session.add(CaseRead(reference=reference, key_id=key_id, user_id=user_id, role=role, at=at))


async def insert_case(database: Database, row: dict) -> None:
    """Create the case row; a retry finds it there and changes nothing."""
    async with database.transaction() as session:
        await session.exec(insert(CASES).values(**row).on_conflict_do_nothing(index_elements=["reference"]))


async def write_step(database: Database, record: StepRecord) -> None:
    """Append the step to the timeline, queue its messages and bring the case row up to it, all or nothing.

    The latest workflow task's write of a step number is the truth (activities/case_store.py says why):
    it replaces what a lost task wrote there and after, and a write from an older task is dropped.
    """
    async with database.transaction() as session:
        last_step, last_task = (await session.exec(
            select(CASES.c.last_step, CASES.c.last_task).where(CASES.c.reference == record.reference).with_for_update()
        )).one()
        if record.written_in_task < last_task:
            return  # a lost task's write, arriving after the task that replaced it
        if record.step <= last_step:
            if record.written_in_task == last_task and await _key_of_step(session, record) == record.step_key:
                return  # written by an earlier attempt of this very activity
            # What a lost task wrote from here on: no workflow will ever send or show it.
            await forget_steps_from(session, record.reference, record.step)
        await _write(session, record)


async def _key_of_step(session, record: StepRecord) -> str | None:
    # A task that failed and was tried again keeps its history length, so a same-task write is a
    # retry only if it is the same step; otherwise the attempt that failed ran the workflow differently.
    return (await session.exec(
        select(TIMELINE.c.step_key).where(TIMELINE.c.reference == record.reference, TIMELINE.c.step == record.step)
    )).scalar_one_or_none()


async def _write(session, record: StepRecord) -> None:
    await session.exec(
        insert(TIMELINE).values(
            reference=record.reference,
            step_key=record.step_key,
            written_in_task=record.written_in_task,
            at=record.at,
            actor=record.actor,
            action=record.action,
            from_status=record.from_status,
            to_status=record.to_status,
            detail=record.detail,
        )
    )
    sender = _sent_by_the_sender(record)
    for number, message in enumerate(record.notifications):
        await session.exec(
            insert(OUTBOX)
            .values(
                reference=record.reference,
                message_key=message_key(record.step_key, number, message.template),
                recipient=message.recipient,
                template=message.template,
                context=message.context,
                created_at=record.at,
                **sender,
            )
            .on_conflict_do_nothing(index_elements=["reference", "message_key"])
        )
    case = record.case
    await session.exec(
        update(CASES)
        .where(CASES.c.reference == record.reference)
        .values(
            status=case.status,
            kind=case.kind,
            priority=case.priority,
            department=case.department,
            escalation_level=case.escalation_level,
            breached=case.breached,
            department_due=case.department_due,
            answer_due=case.answer_due,
            closed_at=case.closed_at,
            question=case.question,
            answer=case.answer,
            rejection_reason=case.rejection_reason,
            updated_at=record.at,
            last_step=record.step,
            last_task=record.written_in_task,
        )
    )


def _sent_by_the_sender(record: StepRecord) -> dict:
    """What the sender needs to confirm the step in the history before it sends (store/deliveries.py)."""
    if not record.sent_from_outbox:
        return {}
    return dict(dispatch=OutboxDispatch.UNCONFIRMED, written_in_task=record.written_in_task,
                run_id=record.run_id or None, next_attempt_at=func.now())
