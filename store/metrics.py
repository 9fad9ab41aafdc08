"""The case figures operators watch, read at scrape time (api/metrics.py): one cheap query each, counts only.

Nothing here returns a reference or a person's data; the groups are the few values a status, a kind, a
department code, an escalation level or a message state can take.
"""

from dataclasses import dataclass

from sqlalchemy import and_, func, select

from domain.kinds import FINAL_STATUSES, Status
from store.db import Database
from store.tables import CASES, OUTBOX

OPEN = CASES.c.status.not_in([str(status) for status in FINAL_STATUSES])
# The department has not answered yet: the case is received or with it (awaiting the submitter stops the clock).
UNANSWERED = CASES.c.status.in_([Status.RECEIVED, Status.WITH_DEPARTMENT])


@dataclass(frozen=True)
class CaseFigures:
    """Counts by group: open cases by (status, kind, department, escalation level), overdue and breached open
    cases by department, messages by state. A department of None: not yet handed to one."""

    open_cases: dict[tuple[str, str, str | None, int], int]
    overdue: dict[str | None, int]
    breached: dict[str | None, int]
    messages: dict[str, int]


async def case_figures(database: Database) -> CaseFigures:
    """The figures as PostgreSQL has them now, in one snapshot (the four counts agree with each other)."""
    async with database.snapshot() as session:
        open_cases = (await session.exec(
            select(CASES.c.status, CASES.c.kind, CASES.c.department, CASES.c.escalation_level, func.count())
            .where(OPEN).group_by(CASES.c.status, CASES.c.kind, CASES.c.department, CASES.c.escalation_level)
        )).all()
        overdue = (await session.exec(
            select(CASES.c.department, func.count())
            .where(and_(UNANSWERED, CASES.c.department_due < func.now())).group_by(CASES.c.department)
        )).all()
        breached = (await session.exec(
            select(CASES.c.department, func.count())
            .where(and_(OPEN, CASES.c.breached.is_(True))).group_by(CASES.c.department)
        )).all()
        messages = (await session.exec(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status))).all()
    return CaseFigures(
        open_cases={(status, kind, department, level): count for status, kind, department, level, count in open_cases},
        overdue=dict(overdue), breached=dict(breached), messages=dict(messages),
    )
