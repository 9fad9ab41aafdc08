"""The retention activity: erases the personal data of cases closed longer ago than the policy keeps it.

The case record and its numbers stay (reference, kind, channel, category, status, department,
escalation, breach, every date, the timeline's steps and the outbox's messages); what a person
wrote, or was written about them, goes: the submitter's identity and contacts, the subject and
description, the channel's reference, free texts in the timeline and the outbox, rating comments.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.policy import Policy
from domain.steps import Detail, Step
from store.db import Database
from store.models import CaseRecord, IntakeRequest, OutboxMessage, TimelineEntry
from store.ratings import Rating
from workflows.retention_messages import ErasureBatch, ErasureResult

CASES = CaseRecord.__table__
TIMELINE = TimelineEntry.__table__
OUTBOX = OutboxMessage.__table__
RATINGS = Rating.__table__
INTAKE_REQUESTS = IntakeRequest.__table__

# What erased text reads as; subject and description are NOT NULL, so they hold this.
ERASED = "[erased]"

# The keys of timeline details and outbox contexts that the workflow fills with codes, dates and
# numbers, never with what a person wrote. Every other text is erased: a free-text key someone adds
# later (a question, an answer, a reason, a delivery error quoting an address) is erased by default.
KEPT_KEYS = frozenset({
    Detail.REFERENCE, Detail.KIND, Detail.STATUS, Detail.CHANNEL, Detail.POLICY_VERSION, Detail.DEPARTMENT,
    Detail.PRIORITY, Detail.ESCALATION_LEVEL, Detail.DEPARTMENT_DUE, Detail.ANSWER_DUE, Detail.INFO_DUE,
    Detail.CONTEST_DUE, Detail.REMINDER_AT, Detail.ACTION, Detail.TEMPLATE, Detail.RECIPIENT,
})
# A closed step's reason is the workflow's closure code (domain.steps.CloseReason), which the
# tracking view still explains; a rejection's or a contest's reason is a person's text.
KEPT_KEYS_BY_ACTION = {Step.CLOSED: frozenset({Detail.REASON})}

DATABASE_ERROR = "RetentionDatabaseError"


def erase_texts(texts: dict[str, Any], kept: frozenset[str] = KEPT_KEYS) -> dict[str, Any]:
    """The same mapping with every text outside `kept` replaced by the marker; numbers, flags and nulls stay."""
    return {
        key: value if key in kept or value is None or isinstance(value, (bool, int, float)) else ERASED
        for key, value in texts.items()
    }


class PersonalDataRetention:
    """Erases expired personal data in batches; idempotent, so Temporal may retry any batch."""

    def __init__(self, database: Database, policy: Policy) -> None:
        self._database = database
        self._policy = policy

    @activity.defn(name="erase_expired_personal_data")
    async def erase_expired_personal_data(self, batch: ErasureBatch) -> ErasureResult:
        """Erase up to a batch of cases closed at or before the cut-off, all in one transaction."""
        # Erasure cannot be undone: whatever a schedule asks, never erase sooner than this worker's policy allows.
        earliest = datetime.now(UTC) - timedelta(days=self._policy.personal_data_retention_days)
        cutoff = min(batch.cutoff, earliest)
        try:
            erased = await self._erase_batch(cutoff, batch.batch_size)
        except SQLAlchemyError as error:
            # SQLAlchemy's messages quote statements and their parameters: only the error's class leaves here.
            raise ApplicationError(
                f"erasing personal data failed ({type(error).__name__}); the batch is retried",
                type=DATABASE_ERROR,
            ) from None
        if erased:
            activity.logger.info("erased the personal data of %d closed cases", erased)
        return ErasureResult(erased=erased, more=erased == batch.batch_size)

    async def _erase_batch(self, cutoff: datetime, batch_size: int) -> int:
        async with self._database.transaction() as session:
            # SKIP LOCKED: two runs (or a retry racing its first attempt) take different cases, never wait or collide.
            references = (
                await session.exec(
                    select(CASES.c.reference)
                    .where(CASES.c.closed_at <= cutoff, CASES.c.personal_data_erased_at.is_(None))
                    .order_by(CASES.c.closed_at, CASES.c.reference)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).scalars().all()
            if not references:
                return 0
            await session.exec(
                update(CASES)
                .where(CASES.c.reference.in_(references))
                .values(
                    submitter_name=None,
                    submitter_civil_id=None,
                    submitter_email=None,
                    submitter_phone=None,
                    subject=ERASED,
                    description=ERASED,
                    channel_ref=None,
                    # Marked, as in the timeline: the tracking view still says an answer was given.
                    question=_erased_if_written(CASES.c.question),
                    answer=_erased_if_written(CASES.c.answer),
                    rejection_reason=_erased_if_written(CASES.c.rejection_reason),
                    personal_data_erased_at=func.now(),
                )
            )
            await _erase_json_texts(
                session, TIMELINE, TIMELINE.c.detail, references,
                lambda row: erase_texts(row.detail, KEPT_KEYS | KEPT_KEYS_BY_ACTION.get(row.action, frozenset())),
                extra_columns=[TIMELINE.c.action],
            )
            await _erase_json_texts(session, OUTBOX, OUTBOX.c.context, references, lambda row: erase_texts(row.context))
            await session.exec(
                update(RATINGS)
                .where(RATINGS.c.reference.in_(references), RATINGS.c.comment.is_not(None))
                .values(comment=None)
            )
            # Intake's retry keys quote the channel's reference (and whatever a client sent as Idempotency-Key).
            await session.exec(delete(INTAKE_REQUESTS).where(INTAKE_REQUESTS.c.reference.in_(references)))
            return len(references)


def _erased_if_written(column):
    return case((column.is_(None), None), else_=ERASED)


async def _erase_json_texts(
    session, table, column, references: list[str], erased: Callable[[Any], dict], extra_columns=()
) -> None:
    """Rewrite the JSON column of the cases' rows where erasing changes it."""
    rows = (
        await session.exec(select(table.c.id, column, *extra_columns).where(table.c.reference.in_(references)))
    ).all()
    changes = []
    for row in rows:
        texts = getattr(row, column.name) or {}
        after = erased(row)
        if after != texts:
            changes.append({"row_id": row.id, "erased_texts": after})
    if changes:
        await session.exec(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({column.name: bindparam("erased_texts", type_=column.type)}),
            params=changes,
        )


def retention_activities(database: Database, policy: Policy) -> list[Callable]:
    """The activities RetentionWorkflow calls, bound to their dependencies, for a worker to register."""
    retention = PersonalDataRetention(database, policy)
    return [retention.erase_expired_personal_data]
