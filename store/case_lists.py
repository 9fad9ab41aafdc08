"""The queries behind the staff's lists: the case list (`GET /v1/cases`) and who read a case (`…/reads`).

Who may see which rows is `api.service.visibility`'s rule; it comes in here as a `CaseScope`.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, tuple_
from sqlmodel import select

from store.cases import CaseScope
from store.db import Database
from store.models import ApiKey, CaseRead, CaseRecord, StaffUser


@dataclass(frozen=True)
class CaseFilters:
    """What a list keeps: every field given must match; `statuses` keeps a case in any of them."""

    statuses: tuple[str, ...] = ()
    kind: str | None = None
    channel: str | None = None
    department: str | None = None
    escalation_level: int | None = None
    breached: bool | None = None
    due_before: datetime | None = None
    # Received in [received_from, received_before): instants, the bounds of local days worked out by the caller.
    received_from: datetime | None = None
    received_before: datetime | None = None
    # A reference, or words that must all be in the subject (the caller decides whether it may search subjects).
    reference: str | None = None
    subject_words: tuple[str, ...] = ()

    def conditions(self) -> list[ColumnElement[bool]]:
        equal = {"kind": self.kind, "channel": self.channel, "department": self.department,
                 "escalation_level": self.escalation_level, "breached": self.breached}
        conditions = [getattr(CaseRecord, name) == value for name, value in equal.items() if value is not None]
        if self.statuses:
            conditions.append(CaseRecord.status.in_(self.statuses))
        if self.due_before is not None:
            conditions.append(CaseRecord.answer_due < self.due_before)
        if self.received_from is not None:
            conditions.append(CaseRecord.received_at >= self.received_from)
        if self.received_before is not None:
            conditions.append(CaseRecord.received_at < self.received_before)
        if self.reference is not None:
            conditions.append(CaseRecord.reference == self.reference.upper())
        if self.subject_words:
            conditions.append(and_(*(CaseRecord.subject.ilike(f"%{_literal(word)}%", escape="\\")
                                     for word in self.subject_words)))
        return conditions


def _literal(word: str) -> str:
    """`word` matched as written: LIKE's wildcards in it are plain characters."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The orders a list comes in, each a column then the reference, so that a page's last row is a keyset cursor.
ORDERS = {"answer_due": CaseRecord.answer_due, "department_due": CaseRecord.department_due}


async def list_cases(
    database: Database,
    scope: CaseScope,
    fields: list[str],
    filters: CaseFilters,
    limit: int,
    after: tuple[datetime, str] | None = None,
    order: str = "answer_due",
) -> list[dict[str, Any]]:
    """Up to `limit` cases as `fields`, soonest `order` (answer due, or department due) first, then by reference,
    after the key `after`."""
    due = ORDERS[order]
    query = select(*(getattr(CaseRecord, name) for name in fields)).where(scope.condition(), *filters.conditions())
    if after is not None:
        query = query.where(tuple_(due, CaseRecord.reference) > tuple_(*after))
    query = query.order_by(due, CaseRecord.reference).limit(limit)
    async with database.session() as session:
        return [dict(row._mapping) for row in (await session.exec(query)).all()]


async def reads_of_case(database: Database, reference: str) -> list[dict[str, Any]] | None:
    """Every recorded read of the case, oldest first, with the reading key's or person's name and department;
    None if no case."""
    query = (
        select(CaseRead.key_id, ApiKey.name.label("key_name"), CaseRead.user_id, StaffUser.name.label("user_name"),
               CaseRead.role, func.coalesce(ApiKey.department, StaffUser.department).label("department"),
               CaseRead.at)
        .join(ApiKey, ApiKey.id == CaseRead.key_id, isouter=True)
        .join(StaffUser, StaffUser.id == CaseRead.user_id, isouter=True)
        .where(CaseRead.reference == reference)
        .order_by(CaseRead.id)
    )
    async with database.session() as session:
        if await session.get(CaseRecord, reference) is None:
            return None
        return [dict(row._mapping) for row in (await session.exec(query)).all()]
