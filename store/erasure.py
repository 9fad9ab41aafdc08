"""Erasing the personal data of closed cases (activities/retention.py decides what is erased, and when)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, func, select, update

from store.db import Database
from store.tables import CASES, INTAKE_REQUESTS, OUTBOX, RATINGS, TIMELINE


async def erase_closed_cases(
    database: Database,
    cutoff: datetime,
    batch_size: int,
    *,
    erased_case: dict[str, Any],
    erased_where_written: dict[str, str],
    erased_detail: Callable[[str, dict], dict],
    erased_context: Callable[[dict], dict],
) -> int:
    """Erase up to `batch_size` cases closed at or before `cutoff`, in one transaction; return how many.

    `erased_case` holds the case row's new values, `erased_where_written` those of columns erased only where
    written (an empty one stays empty); `erased_detail(action, detail)` and `erased_context(context)`
    rewrite a timeline entry's detail and an outbox message's context. Rating comments and intake claims go.
    """
    async with database.transaction() as session:
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
            .values(**erased_case, **_where_written(erased_where_written), personal_data_erased_at=func.now())
        )
        await _erase_json_texts(
            session, TIMELINE, TIMELINE.c.detail, references,
            lambda row: erased_detail(row.action, row.detail), extra_columns=[TIMELINE.c.action],
        )
        await _erase_json_texts(session, OUTBOX, OUTBOX.c.context, references, lambda row: erased_context(row.context))
        await session.exec(
            update(RATINGS)
            .where(RATINGS.c.reference.in_(references), RATINGS.c.comment.is_not(None))
            .values(comment=None)
        )
        # Intake's retry keys quote the channel's reference (and whatever a client sent as Idempotency-Key).
        await session.exec(delete(INTAKE_REQUESTS).where(INTAKE_REQUESTS.c.reference.in_(references)))
        return len(references)


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


def _where_written(erased: dict[str, str]) -> dict[str, Any]:
    return {name: case((CASES.c[name].is_(None), None), else_=value) for name, value in erased.items()}
