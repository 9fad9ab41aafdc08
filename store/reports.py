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

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from domain.kinds import Status
from domain.lifecycle import Action
from domain.steps import CloseReason, RejectionGround, Step
from store.cases import CaseScope
from store.db import Database
from store.models import PeriodicReport
from store.tables import CASES

PERIODIC_REPORTS = PeriodicReport.__table__

# The dimensions a report splits by, and the case column each reads.
DIMENSIONS: dict[str, str] = {
    "kind": "kind",
    "channel": "channel",
    "department": "department",
    "submitter_category": "submitter_category",
    "priority": "priority",
}
# Memory for one report's sorts (a year of cases: a few MB each).
REPORT_WORK_MEM = "64MB"
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
    # Working days to the answer -> cases answered in the period that took them (pauses excluded).
    answer_days: dict[int, int] = field(default_factory=dict)


# The two periods every statement computes, as (prefix of their columns, bounds' parameters).
PERIODS = (("", ":start_at", ":end_at"), ("previous_", ":previous_start_at", ":previous_end_at"))


def _in(column: str, start: str, end: str) -> str:
    return f"({column} >= {start} AND {column} < {end})"


def _percentile(fraction: float, value: str, when: str) -> str:
    """The `fraction` percentile of `value` over the cases `when` holds, to the hundredth."""
    return f"round((percentile_cont({fraction}) WITHIN GROUP (ORDER BY {value}) FILTER (WHERE {when}))::numeric, 2)"


def _share(part: str, whole: str) -> str:
    return f"CASE WHEN {whole} > 0 THEN round(({part})::numeric / ({whole}), 4) END"


# A case's facts for the review, kept in `case_review_facts` (store/migrations/versions/0015_periodic_reports.py):
# what its timeline says, as instants. A case that is closed or rejected takes no step the review reads again, so
# its facts, once computed after it ended, are final; the others are computed again before each report. The
# report then reads one row a case instead of its whole timeline.
_FACT_COLUMNS = ("replied_at", "answered_at", "escalated_at", "first_breached_at", "rejected_at", "ground",
                 "no_response_at", "pause_starts", "pause_ends", "breaches", "contests")


def _refresh_statement() -> str:
    steps = ", ".join(f"'{step}'" for step in _STEPS_READ)
    final = ", ".join(f"'{status}'" for status in (Status.CLOSED, Status.REJECTED))
    columns = ", ".join(_FACT_COLUMNS)
    return f"""
WITH candidates AS (
  SELECT c.reference, c.status IN ({final}) AS final
  FROM cases c LEFT JOIN case_review_facts f USING (reference)
  WHERE f.reference IS NULL OR NOT f.final
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
  FROM timeline t JOIN candidates USING (reference)
  WHERE t.action IN ({steps})
  GROUP BY t.reference
)
INSERT INTO case_review_facts (reference, final, {columns})
SELECT c.reference, c.final, {", ".join(f"st.{column}" for column in _FACT_COLUMNS)}
FROM candidates c LEFT JOIN steps st USING (reference)
ON CONFLICT (reference) DO UPDATE SET final = excluded.final,
  {", ".join(f"{column} = excluded.{column}" for column in _FACT_COLUMNS)}
"""


async def bring_review_facts_up_to_date(database: Database) -> None:
    """Compute the facts of every case that is new or was still open when they were last computed."""
    async with database.transaction() as session:
        # One refresh at a time: two would only compute the same rows, and could deadlock on them.
        await session.exec(text("SELECT pg_advisory_xact_lock(hashtext('case_review_facts'))"))
        await session.exec(text(_refresh_statement()))


def _facts_sql(dimension: str | None, scope_sql: str, days: WorkingDayCount) -> str:
    """The facts of each case the scope holds: a WITH clause ending in `facts` (instants after the period's end
    are outside every period's figures)."""
    group = f"f.{DIMENSIONS[dimension]}" if dimension else "NULL::text"
    # The pauses before the step: they pair up in time order (a pause ends before the next begins).
    paused_before = ("(CASE WHEN st.pause_ends IS NULL THEN 0 ELSE (SELECT coalesce(sum({wd}), 0) "
                     "FROM unnest(st.pause_starts, st.pause_ends) AS p(s, e) WHERE p.e <= {x}) END)")
    # A case breaches again, or is contested again, after a reopening: how often in each period.
    in_periods = ",\n    ".join(
        f"(CASE WHEN st.{name} IS NULL THEN 0 ELSE (SELECT count(*) FROM unnest(st.{name}) AS e(at) "
        f"WHERE {_in('e.at', start, end)}) END) AS {prefix}{name}"
        for prefix, start, end in PERIODS for name in ("breaches", "contests"))

    def working_days_to(x: str) -> str:
        return (f"CASE WHEN {x} IS NOT NULL THEN {days.sql('f.received_at', x)} - "
                + paused_before.format(wd=days.sql("p.s", "p.e"), x=x) + " END")

    # MATERIALIZED: computed once a case; inlined, each figure using a case's working days would compute them again.
    return f"""
WITH facts AS MATERIALIZED (
  SELECT f.reference, f.received_at, f.closed_at, f.status, {group} AS grp,
    st.replied_at, st.answered_at, st.escalated_at, st.first_breached_at, st.rejected_at, st.ground,
    st.no_response_at,
    {in_periods},
    {working_days_to('st.replied_at')} AS reply_days,
    {working_days_to('st.answered_at')} AS answer_days
  FROM cases f JOIN case_review_facts st USING (reference)
  WHERE f.received_at < :end_at AND {scope_sql.replace("c.", "f.")}
)
"""


def _period_aggregates(prefix: str, start: str, end: str) -> str:
    """Every figure of one period, as aggregates over `facts` joined with `ratings`; columns named `<prefix><name>`."""
    def within(column: str) -> str:
        return _in(column, start, end)

    department_decided = within("least(f.replied_at, f.escalated_at)")
    answer_decided = within("least(f.answered_at, f.first_breached_at)")
    figures = {
        "received": f"count(*) FILTER (WHERE {within('f.received_at')})",
        "closed": f"count(*) FILTER (WHERE f.status = 'closed' AND {within('f.closed_at')})",
        "open_at_end": f"count(*) FILTER (WHERE f.received_at < {end} "
                       f"AND (f.closed_at IS NULL OR f.closed_at >= {end}))",
        "rejected": f"count(*) FILTER (WHERE {within('f.rejected_at')})",
        **{f"rejected_{ground}": f"count(*) FILTER (WHERE {within('f.rejected_at')} AND f.ground = '{ground}')"
           for ground in RejectionGround},
        "rejected_without_ground": f"count(*) FILTER (WHERE {within('f.rejected_at')} AND f.ground IS NULL)",
        "department_due": f"count(*) FILTER (WHERE {department_decided})",
        "department_on_time": f"count(*) FILTER (WHERE {department_decided} "
                              "AND (f.escalated_at IS NULL OR f.replied_at < f.escalated_at))",
        "answer_due": f"count(*) FILTER (WHERE {answer_decided})",
        "answer_on_time": f"count(*) FILTER (WHERE {answer_decided} "
                          "AND (f.first_breached_at IS NULL OR f.answered_at < f.first_breached_at))",
        "escalated": f"count(*) FILTER (WHERE {within('f.escalated_at')})",
        "breached": f"count(*) FILTER (WHERE f.{prefix}breaches > 0)",
        "reopened_after_contest": f"count(*) FILTER (WHERE f.{prefix}contests > 0)",
        "closed_no_response": f"count(*) FILTER (WHERE {within('f.no_response_at')})",
        "reply_working_days_median": _percentile(0.5, "f.reply_days", within("f.replied_at")),
        "reply_working_days_p90": _percentile(0.9, "f.reply_days", within("f.replied_at")),
        "answer_working_days_median": _percentile(0.5, "f.answer_days", within("f.answered_at")),
        "answer_working_days_p90": _percentile(0.9, "f.answer_days", within("f.answered_at")),
        "ratings": f"count(*) FILTER (WHERE {within('r.created_at')})",
        **{f"rating_{score}": f"count(*) FILTER (WHERE {within('r.created_at')} AND r.score = {score})"
           for score in range(1, 6)},
        "rating_average": f"round(avg(r.score) FILTER (WHERE {within('r.created_at')}), 2)",
        "closed_rated": f"count(*) FILTER (WHERE f.status = 'closed' AND {within('f.closed_at')} "
                        "AND r.reference IS NOT NULL)",
    }
    return ",\n    ".join(f"{sql} AS {prefix}{name}" for name, sql in figures.items())


def _shares(prefix: str) -> str:
    return ",\n  ".join(f"{_share(prefix + part, prefix + whole)} AS {prefix}{name}" for name, part, whole in (
        ("not_competent_share", "rejected_not_competent", "rejected"),
        ("department_on_time_share", "department_on_time", "department_due"),
        ("answer_on_time_share", "answer_on_time", "answer_due"),
        ("closed_rated_share", "closed_rated", "closed"),
    ))


def _figures_statement(dimension: str | None, scope_sql: str, days: WorkingDayCount) -> str:
    """Both periods' figures in one pass over the facts: a row overall, and one for each value of `dimension`."""
    aggregates = ",\n    ".join(_period_aggregates(prefix, start, end) for prefix, start, end in PERIODS)
    shares = ",\n  ".join(_shares(prefix) for prefix, _, _ in PERIODS)
    return _facts_sql(dimension, scope_sql, days) + f""",
counted AS (
  SELECT {"GROUPING(f.grp)" if dimension else "1"} AS every_group, f.grp,
    {aggregates},
    array_agg(f.answer_days) FILTER (WHERE {_in('f.answered_at', ':start_at', ':end_at')}) AS answer_days_taken
  FROM facts f LEFT JOIN ratings r ON r.reference = f.reference
  GROUP BY {"GROUPING SETS ((), (f.grp))" if dimension else "f.grp"}
)
SELECT counted.*,
  {shares}
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
    await bring_review_facts_up_to_date(database)
    scope_sql, scope_parameters = _scope_sql(scope)
    statement = text(_figures_statement(dimension, scope_sql, days))
    parameters = {"start_at": current.start, "end_at": current.end, "previous_start_at": previous.start,
                  "previous_end_at": previous.end, **scope_parameters, **days.parameters()}
    async with database.snapshot() as session:
        # The percentiles sort a year of cases in memory rather than in temporary files.
        await session.exec(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
        rows = (await session.exec(statement, params=parameters)).mappings().all()
    groups: dict[tuple[bool, str | None], GroupFigures] = {}
    for row in rows:
        key = (not row["every_group"], row["grp"] if not row["every_group"] else None)
        groups[key] = GroupFigures(
            group=key[1],
            current={name: _number(row[name]) for name in FIGURES},
            previous={name: _number(row[f"previous_{name}"]) for name in FIGURES},
            answer_days=dict(sorted(Counter(row["answer_days_taken"] or []).items())),
        )
    for figures in groups.values():
        figures.current = figures.current or _nothing()
        figures.previous = figures.previous or _nothing()
    overall = groups.pop((False, None), GroupFigures(group=None, current=_nothing(), previous=_nothing()))
    return [overall, *sorted(groups.values(), key=lambda figures: figures.group or "")]


async def received_by_week_and_kind(database: Database, scope: CaseScope, current: Span,
                                    week_starts: Sequence[datetime]) -> list[tuple[int, str, int]]:
    """(the week's number in `week_starts`, from 1, kind, cases received in it) for the weeks of the period;
    `week_starts` are the instants the weeks begin, in order (the caller's calendar says when a week starts)."""
    scope_sql, scope_parameters = _scope_sql(scope)
    statement = text(f"""
SELECT width_bucket(c.received_at, CAST(:week_starts AS timestamptz[])) AS week, c.kind, count(*)
FROM cases c WHERE c.received_at >= :start_at AND c.received_at < :end_at AND {scope_sql}
GROUP BY 1, 2 ORDER BY 1, 2""")
    parameters = {"start_at": current.start, "end_at": current.end, "week_starts": list(week_starts),
                  **scope_parameters}
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


_WORDS_STATEMENT = """
SELECT now.word, now.ndoc AS cases, coalesce(before.ndoc, 0) AS previous
FROM ts_stat(:current_query) AS now LEFT JOIN ts_stat(:previous_query) AS before USING (word)
WHERE now.ndoc >= :min_cases AND char_length(now.word) >= 3 AND NOT (now.word = ANY(:stop_words))
  AND now.word !~ '^[0-9]+$'
ORDER BY cases DESC, now.word LIMIT :top
"""


def _literal(value: Any) -> str:
    """A value written into the statement ts_stat runs (it takes SQL text, without parameters)."""
    if isinstance(value, datetime):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _subjects_of(span: Span, scope: CaseScope, *, erased_too: bool = False) -> str:
    """The statement that ts_stat reads: the subject words of the cases in scope received in `span` (an erased
    subject reads `[erased]`, whose word is no keyword)."""
    scope_sql = "TRUE" if scope.every_case else (
        f"c.department = {_literal(scope.department)}" if scope.department is not None else "FALSE")
    erased = "" if erased_too else f"AND c.subject <> {_literal(ERASED)} "
    return (f"SELECT c.subject_words FROM cases c WHERE c.received_at >= {_literal(span.start)}::timestamptz "
            f"AND c.received_at < {_literal(span.end)}::timestamptz {erased}AND {scope_sql}")


async def top_subject_words(database: Database, scope: CaseScope, current: Span, previous: Span) -> list[WordCount]:
    """The words of the subjects of cases received in the period, by how many cases use each (PostgreSQL's ts_stat
    over the subjects' tsvectors)."""
    parameters = {"current_query": _subjects_of(current, scope), "previous_query": _subjects_of(previous, scope),
                  "stop_words": list(STOP_WORDS), "min_cases": MIN_CASES_FOR_A_WORD, "top": TOP_WORDS}
    async with database.snapshot() as session:
        rows = (await session.exec(text(_WORDS_STATEMENT), params=parameters)).all()
    return [WordCount(word, cases, previous) for word, cases, previous in rows]


_ONE_WORD = re.compile(r"^\w+$")


async def subject_categories(database: Database, scope: CaseScope, current: Span, previous: Span,
                             keywords: Sequence[str]) -> list[WordCount]:
    """How many cases received in the period name each of the routing rules' keywords in their subject: a one-word
    keyword by ts_stat's count of the subjects with that word, a phrase as a phrase of their words."""
    singles = sorted({k.lower() for k in keywords if _ONE_WORD.match(k)})
    phrases = sorted({k for k in keywords if not _ONE_WORD.match(k)})
    found: list[WordCount] = []
    async with database.snapshot() as session:
        if singles:
            rows = (await session.exec(text("""
SELECT now.word, now.ndoc, coalesce(before.ndoc, 0)
FROM ts_stat(:current_query) AS now LEFT JOIN ts_stat(:previous_query) AS before USING (word)
WHERE now.word = ANY(:singles)"""), params={"current_query": _subjects_of(current, scope, erased_too=True),
                                             "previous_query": _subjects_of(previous, scope, erased_too=True),
                                             "singles": singles})).all()
            found += [WordCount(word, cases, before) for word, cases, before in rows]
        if phrases:
            scope_sql, scope_parameters = _scope_sql(scope)
            counts = ",\n  ".join(
                f"count(*) FILTER (WHERE c.received_at >= {start} AND c.received_at < {end} "
                f"AND c.subject_words @@ phraseto_tsquery('simple', :keyword_{number})) AS {prefix}k{number}"
                for number in range(len(phrases)) for prefix, start, end in PERIODS)
            parameters = {"start_at": current.start, "end_at": current.end, "previous_start_at": previous.start,
                          "previous_end_at": previous.end, **{f"keyword_{n}": w for n, w in enumerate(phrases)},
                          **scope_parameters}
            row = (await session.exec(text(f"""
SELECT {counts}
FROM cases c WHERE c.received_at >= :previous_start_at AND c.received_at < :end_at AND {scope_sql}
"""), params=parameters)).mappings().one()
            found += [WordCount(word, row[f"k{n}"], row[f"previous_k{n}"]) for n, word in enumerate(phrases)]
    return sorted((count for count in found if count.cases), key=lambda count: (-count.cases, count.word))


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
