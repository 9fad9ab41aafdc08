"""Activities that write the case file: the case row, its timeline and its outbox, each step exactly once."""

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from domain.kinds import Status
from store.case_record import CASES, OUTBOX, TIMELINE, forget_steps_from
from store.db import Database
from workflows.messages import CaseIntake, StepRecord, message_key


class CaseStore:
    """Writes a case's record; every method is idempotent because Temporal retries activities."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @activity.defn(name="record_case")
    async def record_case(self, intake: CaseIntake) -> None:
        """Create the case row as received; a retry finds it there and changes nothing."""
        submitter = intake.submitter
        row = dict(
            reference=intake.reference,
            kind=intake.kind,
            channel=intake.channel,
            channel_ref=intake.channel_ref,
            submitter_category=submitter.category,
            submitter_name=submitter.name,
            submitter_civil_id=submitter.civil_id,
            submitter_email=submitter.email,
            submitter_phone=submitter.phone,
            subject=intake.subject,
            description=intake.description,
            priority=intake.priority,
            status=Status.RECEIVED,
            department=intake.department,
            tracking_code_hash=intake.tracking_code_hash,
            policy_version=intake.policy_version,
            received_at=intake.received_at,
            department_due=intake.department_due,
            answer_due=intake.answer_due,
            updated_at=intake.received_at,
            last_step=0,
            submitted_by_key=intake.actor.key_id or None,
            language=intake.language,
        )
        async with self._database.transaction() as session:
            await session.exec(insert(CASES).values(**row).on_conflict_do_nothing(index_elements=["reference"]))

    @activity.defn(name="record_step")
    async def record_step(self, record: StepRecord) -> None:
        """Append the step to the timeline, queue its messages and bring the case row up to it, all or nothing.

        This runs as a local activity: it commits before Temporal has accepted the workflow task that
        ran it. If that task is lost (a killed or starved worker), Temporal runs the workflow again from
        its history, and the same step number may now be another step (an Update that arrived meanwhile
        runs first). So a step is written with the task it ran in (the history's length then, which only
        grows), and the latest task's write of a number is the truth: it replaces what a lost task wrote
        there and after, and a write from a task older than the row's last one is dropped.
        """
        async with self._database.transaction() as session:
            last_step, last_task = (await session.exec(
                select(CASES.c.last_step, CASES.c.last_task)
                .where(CASES.c.reference == record.reference).with_for_update()
            )).one()
            if record.written_in_task < last_task:
                return  # a lost task's write, arriving after the task that replaced it
            if record.step <= last_step:
                if record.written_in_task == last_task and await self._key_of_step(session, record) == record.step_key:
                    return  # written by an earlier attempt of this very activity
                # What a lost task wrote from here on: no workflow will ever send or show it.
                await forget_steps_from(session, record.reference, record.step)
            await self._write(session, record)

    async def _key_of_step(self, session, record: StepRecord) -> str | None:
        # A task that failed and was tried again keeps its history length, so a same-task write is a
        # retry only if it is the same step; otherwise the attempt that failed ran the workflow differently.
        return (await session.exec(
            select(TIMELINE.c.step_key).where(TIMELINE.c.reference == record.reference, TIMELINE.c.step == record.step)
        )).scalar_one_or_none()

    async def _write(self, session, record: StepRecord) -> None:
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
