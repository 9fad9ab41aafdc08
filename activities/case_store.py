"""Activities that write the case file: the case row, its timeline and its outbox, each step exactly once."""

import logging

from temporalio import activity

from domain.kinds import Status
from store.cases import insert_case, write_step
from store.db import Database
from workflows.messages import CaseIntake, StepRecord

log = logging.getLogger("complaints.steps")


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
            submitted_by_key=intake.actor.principal,
            language=intake.language,
        )
        await insert_case(self._database, row)

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
        await write_step(self._database, record)
        # One line per step for operators; the log names the case by its `case` field (core/logs.py), never a person.
        log.info("step %d %s recorded (%s to %s)", record.step, record.action, record.from_status, record.to_status)
