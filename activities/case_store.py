"""Activities that write the case file: the case row, its timeline and its outbox, each step exactly once."""

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from store.db import Database
from store.models import CaseRecord, OutboxMessage, TimelineEntry
from workflows.messages import CaseIntake, StepRecord, message_key

# Core tables, not ORM entities: these hot-path statements skip the ORM's bulk-persistence layer,
# which cost several milliseconds of CPU per step.
CASES = CaseRecord.__table__
TIMELINE = TimelineEntry.__table__
OUTBOX = OutboxMessage.__table__


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
            status="received",
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
        """Append the step to the timeline, queue its messages and bring the case row up to it, all or nothing."""
        async with self._database.transaction() as session:
            inserted = await session.exec(
                insert(TIMELINE)
                .values(
                    reference=record.reference,
                    step_key=record.step_key,
                    at=record.at,
                    actor=record.actor,
                    action=record.action,
                    from_status=record.from_status,
                    to_status=record.to_status,
                    detail=record.detail,
                )
                .on_conflict_do_nothing(index_elements=["reference", "step_key"])
                .returning(TIMELINE.c.id)
            )
            if inserted.first() is None:
                return  # written by an earlier attempt of this very activity
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
            # Steps run one after another, but a guard on the step number keeps an old write from winning anyway.
            await session.exec(
                update(CASES)
                .where(CASES.c.reference == record.reference, CASES.c.last_step < record.step)
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
                    updated_at=record.at,
                    last_step=record.step,
                )
            )
