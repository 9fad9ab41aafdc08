"""The periodic review's figures, computed in PostgreSQL from the case rows and the timeline, and the stored reports.

One statement reads the timeline once for every figure of a period and of the period before it, overall
and split by one of the case's dimensions (kind, channel, department, submitter category, priority).
The facts come from the steps the workflow recorded:

- the department replied on time when its first `reply` came before any `escalated` step (the workflow
  escalates exactly at the department's due, so an open case past its due counts as late);
- the submitter had the answer on time when the first `respond` came before any `breached` step (likewise
  marked at the answer's due);
- working days are counted on the case's calendar (the Omani one, or a compressed one), from receipt, less
  the working days that closed while the case waited for the submitter (`request_info` to `submitter_info`),
  as its deadlines were moved. The count itself is the calendar's (`WorkingDayCount`, made from
  domain/calendar.py by the application layer): SQL only looks the instants up in it.

No figure carries a submitter's identity or a case's text: counts, and words of subjects only when several
cases share them.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from domain.lifecycle import Action
from domain.steps import CloseReason, RejectionGround, Step
from store.cases import CaseScope
from store.db import Database
from store.models import PeriodicReport
from store.tables import CASES

PERIODIC_REPORTS = PeriodicReport.__table__

# The dimensions a report splits by, and the case column each reads.
DIMENSIONS: dict[str, str] = {
    "kind": "c.kind",
    "channel": "c.channel",
    "department": "c.department",
    "submitter_category": "c.submitter_category",
    "priority": "c.priority",
}
# A word of the subjects is shown only when at least this many cases use it: a rare word may be a name.
MIN_CASES_FOR_A_WORD = 3
TOP_WORDS = 10
# Words that say nothing about the subject (Arabic and English).
STOP_WORDS = (
    "the", "and", "for", "with", "from", "not", "was", "are", "has", "have", "that", "this", "about", "into",
    "في", "من", "على", "إلى", "الى", "عن", "مع", "لم", "لا", "تم", "بعد", "قبل", "هذا", "هذه", "التي", "الذي",
)
# The subject a case keeps once its personal data is erased (activities/retention.py).
ERASED = "[erased]"


@dataclass(frozen=True)
class WorkingDayCount:
    """How SQL counts the working days that closed in [a, b): look the instants up among the calendar's day
    closes (`closes`, sorted, covering every instant counted), or, on a compressed calendar, whole days of
    `day_seconds` each."""

    closes: tuple[datetime, ...] = ()
    day_seconds: float | None = None

    def sql(self, a: str, b: str) -> str:
        if self.day_seconds is not None:
            return f"floor(extract(epoch from ({b}) - ({a})) / :day_seconds)::integer"
        # width_bucket(x, closes) is how many closes are <= x; a microsecond less makes it "< x".
        return (f"(width_bucket(({b}) - interval '1 microsecond', CAST(:closes AS timestamptz[]))"
                f" - width_bucket(({a}) - interval '1 microsecond', CAST(:closes AS timestamptz[])))")

    def parameters(self) -> dict[str, Any]:
        return {"day_seconds": self.day_seconds} if self.day_seconds is not None else {"closes": list(self.closes)}


@dataclass(frozen=True)
class Span:
    """[start, end) in UTC."""

    start: datetime
    end: datetime


# The figures of one group in one period, by name; the order is the order of every export.
FIGURES: tuple[str, ...] = (
    "received", "closed", "open_at_end",
    "rejected", *(f"rejected_{ground}" for ground in RejectionGround), "rejected_without_ground", "not_competent_share",
    "department_due", "department_on_time", "department_on_time_share",
    "answer_due", "answer_on_time", "answer_on_time_share",
    "escalated", "breached", "reopened_after_contest", "closed_no_response",
    "reply_working_days_median", "reply_working_days_p90", "answer_working_days_median", "answer_working_days_p90",
    "ratings", *(f"rating_{score}" for score in range(1, 6)), "rating_average", "closed_rated", "closed_rated_share",
)

_STEPS_READ = (Action.REPLY, Action.RESPOND, Step.ESCALATED, Step.BREACHED, Action.REJECT, Step.CLOSED,
               Action.REQUEST_INFO, Action.SUBMITTER_INFO, Action.CONTEST)


@dataclass
class GroupFigures:
    """The figures of one group (None: every case the caller sees) in the period and in the one before."""

    group: str | None
    current: dict[str, float | int | None] = field(default_factory=dict)
    previous: dict[str, float | int | None] = field(default_factory=dict)


def _in(column: str) -> str:
    return f"({column} >= p.start_at AND {column} < p.end_at)"


def _any_in(array: str) -> str:
    return f"EXISTS (SELECT 1 FROM unnest({array}) AS e(at) WHERE {_in('e.at')})"


def _share(part: str, whole: str) -> str:
    return f"CASE WHEN {whole} > 0 THEN round(({part})::numeric / ({whole}), 4) END"


def _facts_sql(dimension: str | None, scope_sql: str, days: WorkingDayCount) -> str:
    """The facts of each case the scope holds, as of the period's end: a WITH clause ending in `facts`."""
    group = DIMENSIONS[dimension] if dimension else "NULL::text"
    steps = ", ".join(f"'{step}'" for step in _STEPS_READ)
    paused_before = (
        "(SELECT coalesce(sum({wd}), 0) FROM unnest(st.pause_starts, st.pause_ends) AS p(s, e) WHERE p.e <= {x})"
    )

    def working_days_to(x: str) -> str:
        return (f"CASE WHEN {x} IS NOT NULL THEN {days.sql('f.received_at', x)} - "
                + paused_before.format(wd=days.sql("p.s", "p.e"), x=x) + " END")

    return f"""
WITH scope AS (
  SELECT c.reference, c.received_at, c.closed_at, c.status, {group} AS grp
  FROM cases c WHERE c.received_at < :end_at AND {scope_sql}
),
steps AS (
  SELECT t.reference,
    min(t.at) FILTER (WHERE t.action = '{Action.REPLY}') AS replied_at,
    min(t.at) FILTER (WHERE t.action = '{Action.RESPOND}') AS answered_at,
    min(t.at) FILTER (WHERE t.action = '{Step.ESCALATED}') AS escalated_at,
    min(t.at) FILTER (WHERE t.action = '{Step.BREACHED}') AS first_breached_at,
    min(t.at) FILTER (WHERE t.action = '{Action.REJECT}') AS rejected_at,
    min(t.detail->>'ground') FILTER (WHERE t.action = '{Action.REJECT}') AS ground,
    min(t.at) FILTER (WHERE t.action = '{Step.CLOSED}' AND t.detail->>'reason' = '{CloseReason.NO_RESPONSE}')
      AS no_response_at,
    array_agg(t.at ORDER BY t.at) FILTER (WHERE t.action = '{Action.REQUEST_INFO}') AS pause_starts,
    array_agg(t.at ORDER BY t.at) FILTER (WHERE t.action = '{Action.SUBMITTER_INFO}') AS pause_ends,
    array_agg(t.at) FILTER (WHERE t.action = '{Step.BREACHED}') AS breaches,
    array_agg(t.at) FILTER (WHERE t.action = '{Action.CONTEST}') AS contests
  FROM timeline t JOIN scope USING (reference)
  WHERE t.at < :end_at AND t.action IN ({steps})
  GROUP BY t.reference
),
facts AS (
  SELECT f.*, st.replied_at, st.answered_at, st.escalated_at, st.first_breached_at, st.rejected_at, st.ground,
    st.no_response_at, coalesce(st.breaches, '{{}}') AS breaches, coalesce(st.contests, '{{}}') AS contests,
    {working_days_to('st.replied_at')} AS reply_days,
    {working_days_to('st.answered_at')} AS answer_days
  FROM scope f LEFT JOIN steps st USING (reference)
)
"""


def _figures_statement(dimension: str | None, scope_sql: str, days: WorkingDayCount) -> str:
    grounds = ",\n".join(
        f"count(*) FILTER (WHERE {_in('f.rejected_at')} AND f.ground = '{ground}') AS rejected_{ground}"
        for ground in RejectionGround
    )
    ratings = ",\n".join(f"count(*) FILTER (WHERE {_in('r.created_at')} AND r.score = {score}) AS rating_{score}"
                         for score in range(1, 6))
    department_decided = "least(f.replied_at, f.escalated_at)"
    answer_decided = "least(f.answered_at, f.first_breached_at)"
    return _facts_sql(dimension, scope_sql, days) + f""",
periods(period, start_at, end_at) AS (
  VALUES ('current', CAST(:start_at AS timestamptz), CAST(:end_at AS timestamptz)),
         ('previous', CAST(:previous_start_at AS timestamptz), CAST(:previous_end_at AS timestamptz))
),
counted AS (
  SELECT p.period, GROUPING(f.grp) AS every_group, f.grp,
    count(*) FILTER (WHERE {_in('f.received_at')}) AS received,
    count(*) FILTER (WHERE f.status = 'closed' AND {_in('f.closed_at')}) AS closed,
    count(*) FILTER (WHERE f.received_at < p.end_at AND (f.closed_at IS NULL OR f.closed_at >= p.end_at))
      AS open_at_end,
    count(*) FILTER (WHERE {_in('f.rejected_at')}) AS rejected,
    {grounds},
    count(*) FILTER (WHERE {_in('f.rejected_at')} AND f.ground IS NULL) AS rejected_without_ground,
    count(*) FILTER (WHERE {_in(department_decided)}) AS department_due,
    count(*) FILTER (WHERE {_in(department_decided)} AND (f.escalated_at IS NULL OR f.replied_at < f.escalated_at))
      AS department_on_time,
    count(*) FILTER (WHERE {_in(answer_decided)}) AS answer_due,
    count(*) FILTER (WHERE {_in(answer_decided)}
                     AND (f.first_breached_at IS NULL OR f.answered_at < f.first_breached_at)) AS answer_on_time,
    count(*) FILTER (WHERE {_in('f.escalated_at')}) AS escalated,
    count(*) FILTER (WHERE {_any_in('f.breaches')}) AS breached,
    count(*) FILTER (WHERE {_any_in('f.contests')}) AS reopened_after_contest,
    count(*) FILTER (WHERE {_in('f.no_response_at')}) AS closed_no_response,
    round((percentile_cont(0.5) WITHIN GROUP (ORDER BY f.reply_days) FILTER (WHERE {_in('f.replied_at')}))::numeric, 2)
      AS reply_working_days_median,
    round((percentile_cont(0.9) WITHIN GROUP (ORDER BY f.reply_days) FILTER (WHERE {_in('f.replied_at')}))::numeric, 2)
      AS reply_working_days_p90,
    round((percentile_cont(0.5) WITHIN GROUP (ORDER BY f.answer_days) FILTER (WHERE {_in('f.answered_at')}))::numeric, 2)
      AS answer_working_days_median,
    round((percentile_cont(0.9) WITHIN GROUP (ORDER BY f.answer_days) FILTER (WHERE {_in('f.answered_at')}))::numeric, 2)
      AS answer_working_days_p90,
    count(*) FILTER (WHERE {_in('r.created_at')}) AS ratings,
    {ratings},
    round(avg(r.score) FILTER (WHERE {_in('r.created_at')}), 2) AS rating_average,
    count(*) FILTER (WHERE f.status = 'closed' AND {_in('f.closed_at')} AND r.reference IS NOT NULL) AS closed_rated
  FROM facts f CROSS JOIN periods p LEFT JOIN ratings r ON r.reference = f.reference
  GROUP BY GROUPING SETS ((p.period), (p.period, f.grp))
)
SELECT counted.*,
  {_share('rejected_not_competent', 'rejected')} AS not_competent_share,
  {_share('department_on_time', 'department_due')} AS department_on_time_share,
  {_share('answer_on_time', 'answer_due')} AS answer_on_time_share,
  {_share('closed_rated', 'closed')} AS closed_rated_share
FROM counted
"""


def _scope_sql(scope: CaseScope) -> tuple[str, dict[str, Any]]:
    if scope.every_case:
        return "TRUE", {}
    if scope.department is not None:
        return "c.department = :scope_department", {"scope_department": scope.department}
    return "FALSE", {}


def _number(value: Any) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return float(value)


def _nothing() -> dict[str, float | int | None]:
    """The figures of a period without a case: counts of 0, and no median, share or average."""
    return {name: None if name.endswith(("_share", "_median", "_p90", "_average")) else 0 for name in FIGURES}


async def period_figures(database: Database, scope: CaseScope, current: Span, previous: Span,
                         dimension: str | None, days: WorkingDayCount) -> list[GroupFigures]:
    """Every figure of `current` and `previous`, overall (first) and for each value of `dimension`."""
    scope_sql, scope_parameters = _scope_sql(scope)
    statement = text(_figures_statement(dimension, scope_sql, days))
    parameters = {"start_at": current.start, "end_at": current.end, "previous_start_at": previous.start,
                  "previous_end_at": previous.end, **scope_parameters, **days.parameters()}
    async with database.snapshot() as session:
        rows = (await session.exec(statement, params=parameters)).mappings().all()
    groups: dict[tuple[bool, str | None], GroupFigures] = {}
    for row in rows:
        key = (not row["every_group"], row["grp"] if not row["every_group"] else None)
        figures = groups.setdefault(key, GroupFigures(group=key[1]))
        values = {name: _number(row[name]) for name in FIGURES}
        if row["period"] == "current":
            figures.current = values
        else:
            figures.previous = values
    for figures in groups.values():
        figures.current = figures.current or _nothing()
        figures.previous = figures.previous or _nothing()
    overall = groups.pop((False, None), GroupFigures(group=None, current=_nothing(), previous=_nothing()))
    return [overall, *sorted(groups.values(), key=lambda figures: figures.group or "")]


async def answer_days_distribution(database: Database, scope: CaseScope, current: Span,
                                   days: WorkingDayCount) -> dict[int, int]:
    """How many cases answered in the period took each number of working days (pauses excluded)."""
    scope_sql, scope_parameters = _scope_sql(scope)
    statement = text(_facts_sql(None, scope_sql, days) + """
SELECT answer_days, count(*) FROM facts WHERE answered_at >= :start_at AND answered_at < :end_at
GROUP BY answer_days ORDER BY answer_days""")
    parameters = {"start_at": current.start, "end_at": current.end, **scope_parameters, **days.parameters()}
    async with database.snapshot() as session:
        rows = (await session.exec(statement, params=parameters)).all()
    return {days_taken: count for days_taken, count in rows}


async def received_by_week_and_kind(database: Database, scope: CaseScope, current: Span,
                                    zone: str) -> list[tuple[str, str, int]]:
    """(the Sunday that starts the week in `zone`, kind, cases received): the weeks of the period."""
    scope_sql, scope_parameters = _scope_sql(scope)
    # date_trunc('week') starts weeks on Monday; the ministry's week starts on Sunday.
    statement = text(f"""
SELECT to_char((date_trunc('week', (c.received_at AT TIME ZONE :zone) + interval '1 day') - interval '1 day')::date,
               'YYYY-MM-DD') AS week, c.kind, count(*)
FROM cases c WHERE c.received_at >= :start_at AND c.received_at < :end_at AND {scope_sql}
GROUP BY 1, 2 ORDER BY 1, 2""")
    parameters = {"start_at": current.start, "end_at": current.end, "zone": zone, **scope_parameters}
    async with database.snapshot() as session:
        rows = (await session.exec(statement, params=parameters)).all()
    return [(week, kind, count) for week, kind, count in rows]


async def earliest_receipt(database: Database, scope: CaseScope) -> datetime | None:
    """When the first case the scope holds was received: where the working-day count must start."""
    async with database.session() as session:
        return (await session.exec(select(func.min(CASES.c.received_at)).where(scope.condition()))).scalar_one()


@dataclass(frozen=True)
class WordCount:
    word: str
    cases: int
    previous: int


def _words_statement(scope_sql: str) -> str:
    return f"""
WITH words AS (
  SELECT DISTINCT c.reference, c.received_at, w.word
  FROM cases c, regexp_split_to_table(lower(c.subject), '[[:space:][:punct:]،؛؟«»]+') AS w(word)
  WHERE c.received_at >= :previous_start_at AND c.received_at < :end_at AND {scope_sql}
    AND c.subject <> :erased AND char_length(w.word) >= 3 AND NOT (w.word = ANY(:stop_words))
    AND w.word !~ '^[0-9]+$'
)
SELECT word,
  count(*) FILTER (WHERE received_at >= :start_at) AS cases,
  count(*) FILTER (WHERE received_at < :previous_end_at) AS previous
FROM words GROUP BY word
HAVING count(*) FILTER (WHERE received_at >= :start_at) >= :min_cases
ORDER BY cases DESC, word LIMIT :top
"""


async def top_subject_words(database: Database, scope: CaseScope, current: Span, previous: Span) -> list[WordCount]:
    """The words of the subjects of cases received in the period, by how many cases use each."""
    scope_sql, scope_parameters = _scope_sql(scope)
    parameters = {"start_at": current.start, "end_at": current.end, "previous_start_at": previous.start,
                  "previous_end_at": previous.end, "erased": ERASED, "stop_words": list(STOP_WORDS),
                  "min_cases": MIN_CASES_FOR_A_WORD, "top": TOP_WORDS, **scope_parameters}
    async with database.snapshot() as session:
        rows = (await session.exec(text(_words_statement(scope_sql)), params=parameters)).all()
    return [WordCount(word, cases, previous) for word, cases, previous in rows]


async def subject_categories(database: Database, scope: CaseScope, current: Span, previous: Span,
                             keywords: Sequence[str]) -> list[WordCount]:
    """How many cases received in the period name each of the routing rules' keywords in their subject."""
    if not keywords:
        return []
    scope_sql, scope_parameters = _scope_sql(scope)
    statement = text(f"""
SELECT k.keyword,
  count(*) FILTER (WHERE c.received_at >= :start_at) AS cases,
  count(*) FILTER (WHERE c.received_at < :previous_end_at) AS previous
FROM cases c JOIN unnest(CAST(:keywords AS text[])) AS k(keyword)
  ON strpos(lower(c.subject), lower(k.keyword)) > 0
WHERE c.received_at >= :previous_start_at AND c.received_at < :end_at AND {scope_sql}
GROUP BY k.keyword HAVING count(*) FILTER (WHERE c.received_at >= :start_at) > 0
ORDER BY cases DESC, k.keyword
""")
    parameters = {"start_at": current.start, "end_at": current.end, "previous_start_at": previous.start,
                  "previous_end_at": previous.end, "keywords": list(keywords), **scope_parameters}
    async with database.snapshot() as session:
        rows = (await session.exec(statement, params=parameters)).all()
    return [WordCount(word, cases, previous) for word, cases, previous in rows]


async def open_cases_by_policy_version(database: Database, scope: CaseScope, at: datetime) -> dict[str, int]:
    """Which policy version the cases open at `at` run under (a case keeps the version it was received under)."""
    async with database.session() as session:
        rows = (await session.exec(
            select(CASES.c.policy_version, func.count())
            .where(scope.condition(), CASES.c.received_at < at,
                   or_(CASES.c.closed_at.is_(None), CASES.c.closed_at >= at))
            .group_by(CASES.c.policy_version).order_by(CASES.c.policy_version)
        )).all()
    return {version: count for version, count in rows}


async def policy_versions_of(database: Database, scope: CaseScope, references: Sequence[str]) -> dict[str, str]:
    """The policy version each of these cases (those the scope holds) runs under."""
    async with database.session() as session:
        rows = (await session.exec(
            select(CASES.c.reference, CASES.c.policy_version)
            .where(scope.condition(), CASES.c.reference.in_(list(references)))
        )).all()
    return dict(rows)


# ---------------------------------------------------------------- stored reports, sent once


class ReportBusy(Exception):
    """Another attempt holds this report and may still be sending it."""


# States after which a report is never sent again.
SETTLED = ("sent", "no_address")


async def store_report(database: Database, key: str, span: Span, figures: dict, html: str, pdf: bytes) -> None:
    """Keep the report as made; a second making of the same report (a retry, a second run) keeps the first."""
    async with database.transaction() as session:
        await session.exec(
            insert(PERIODIC_REPORTS)
            .values(key=key, period_start=span.start, period_end=span.end, status="pending", attempts=0,
                    figures=figures, html=html, pdf=pdf, created_at=func.now(), updated_at=func.now())
            .on_conflict_do_nothing(index_elements=["key"])
        )


async def stored_report(database: Database, key: str) -> dict | None:
    async with database.session() as session:
        row = (await session.exec(select(PERIODIC_REPORTS).where(PERIODIC_REPORTS.c.key == key))).mappings().first()
    return dict(row) if row else None


async def claim_report(database: Database, key: str, lease_seconds: float) -> int | str:
    """Take the report for this attempt's send: the claim's number, or the status it was settled with."""
    now = func.now()
    async with database.transaction() as session:
        claimed = (await session.exec(
            update(PERIODIC_REPORTS)
            .where(PERIODIC_REPORTS.c.key == key, PERIODIC_REPORTS.c.status.not_in(SETTLED),
                   or_(PERIODIC_REPORTS.c.status != "sending",
                       PERIODIC_REPORTS.c.updated_at < now - text(f"interval '{float(lease_seconds)} seconds'")))
            .values(status="sending", attempts=PERIODIC_REPORTS.c.attempts + 1, updated_at=now)
            .returning(PERIODIC_REPORTS.c.attempts)
        )).first()
        if claimed is not None:
            return claimed.attempts
        status = (await session.exec(select(PERIODIC_REPORTS.c.status)
                                     .where(PERIODIC_REPORTS.c.key == key))).scalar_one()
    if status in SETTLED:
        return status
    raise ReportBusy(f"the report {key} is being sent by another attempt")


async def settle_report(database: Database, key: str, claim: int, status: str) -> None:
    async with database.transaction() as session:
        await session.exec(
            update(PERIODIC_REPORTS)
            .where(PERIODIC_REPORTS.c.key == key, PERIODIC_REPORTS.c.attempts == claim)
            .values(status=status, updated_at=func.now(), last_error=None,
                    sent_at=func.now() if status == "sent" else None)
        )


async def release_report(database: Database, key: str, claim: int, reason: str) -> None:
    async with database.transaction() as session:
        await session.exec(
            update(PERIODIC_REPORTS)
            .where(PERIODIC_REPORTS.c.key == key, PERIODIC_REPORTS.c.attempts == claim,
                   PERIODIC_REPORTS.c.status == "sending")
            .values(status="pending", last_error=reason[:500], updated_at=func.now())
        )
