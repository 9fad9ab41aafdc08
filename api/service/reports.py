"""The periodic review: the figures of a period beside the period before, for the API, the console and the
monthly report alike (policy, "Duties of the ministry": review and analyse complaints periodically).

Who may read them: the Director General, auditors and the customer-service team every case's; a department
only its own department's; anyone else is refused (403). The figures are counts and references only.
"""

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, create_model

from api import errors
from api.auth import Caller
from api.errors import ApiError, FieldProblem
from domain.calendar import CompressedCalendar, WorkingCalendar, days_between
from domain.kinds import Role
from domain.policy import Policy
from domain.steps import RejectionGround
from store import reports as store
from store.cases import CaseScope
from store.db import Database
from store.reports import FIGURES, Span, WorkingDayCount

READS_EVERY_FIGURE = frozenset({Role.DIRECTOR_GENERAL, Role.AUDITOR, Role.CS_AGENT})


class GroupBy(StrEnum):
    """The dimension a report splits its figures by."""

    KIND = "kind"
    CHANNEL = "channel"
    DEPARTMENT = "department"
    SUBMITTER_CATEGORY = "submitter_category"
    PRIORITY = "priority"


# What each figure is, in Arabic and English: the report's words, the console's and the OpenAPI document's.
FIGURE_LABELS: dict[str, tuple[str, str]] = {
    "received": ("الحالات المستلمة", "received"),
    "closed": ("الحالات المغلقة", "closed"),
    "open_at_end": ("الحالات المفتوحة في نهاية الفترة", "open at the end of the period"),
    "rejected": ("الحالات المرفوضة", "rejected"),
    "rejected_not_competent": ("مرفوضة: خارج اختصاص الوزارة", "rejected: not the ministry's competence"),
    "rejected_unlawful": ("مرفوضة: غير مشروعة", "rejected: unlawful"),
    "rejected_not_genuine": ("مرفوضة: غير جدية", "rejected: not genuine"),
    "rejected_duplicate": ("مرفوضة: مكررة", "rejected: duplicate"),
    "rejected_without_ground": ("مرفوضة دون سبب مصنف", "rejected without a ground"),
    "not_competent_share": ("نسبة ما هو خارج الاختصاص من المرفوض", "share of rejections outside the competence"),
    "department_due": ("حالات حلّ موعد رد الجهة المختصة", "cases whose department reply fell due or came"),
    "department_on_time": ("ردت الجهة المختصة في الموعد", "department replied on time"),
    "department_on_time_share": ("نسبة رد الجهة المختصة في الموعد", "share of department replies on time"),
    "answer_due": ("حالات حلّ موعد الرد على مقدم الطلب", "cases whose answer fell due or came"),
    "answer_on_time": ("وصل الرد إلى مقدم الطلب في الموعد", "answered on time"),
    "answer_on_time_share": ("نسبة الرد على مقدم الطلب في الموعد", "share answered on time"),
    "escalated": ("صُعّدت إلى المدير العام", "escalated to the Director General"),
    "breached": ("تجاوزت موعد الرد", "breached the answer's due"),
    "reopened_after_contest": ("أعيد فتحها بعد اعتراض", "reopened after a contest"),
    "closed_no_response": ("أغلقت لعدم رد مقدم الطلب", "closed for no response"),
    "reply_working_days_median": ("أيام العمل حتى رد الجهة (الوسيط)", "working days to the department's reply, median"),
    "reply_working_days_p90": ("أيام العمل حتى رد الجهة (المئين 90)", "working days to the department's reply, p90"),
    "answer_working_days_median": ("أيام العمل حتى الرد (الوسيط)", "working days to the answer, median"),
    "answer_working_days_p90": ("أيام العمل حتى الرد (المئين 90)", "working days to the answer, p90"),
    "ratings": ("التقييمات المستلمة", "ratings received"),
    **{f"rating_{score}": (f"تقييمات بدرجة {score}", f"ratings of {score}") for score in range(1, 6)},
    "rating_average": ("متوسط التقييم", "average rating"),
    "closed_rated": ("حالات مغلقة قُيّمت", "closed cases rated"),
    "closed_rated_share": ("نسبة الحالات المغلقة التي قُيّمت", "share of closed cases rated"),
}
GROUND_LABELS: dict[str, tuple[str, str]] = {
    ground: FIGURE_LABELS[f"rejected_{ground}"] for ground in RejectionGround
}
# Longest from/to span a report covers (ten years): the working-day count holds one entry per working day.
MAX_DAYS = 3700


@dataclass(frozen=True)
class ReportPeriod:
    """Calendar days `first` to `last` (both included, in the policy's zone); `kind` says how it was asked for."""

    first: date
    last: date
    kind: str = "days"

    @classmethod
    def month(cls, year: int, month: int) -> "ReportPeriod":
        first = date(year, month, 1)
        return cls(first, _next_month(first) - timedelta(days=1), "month")

    @classmethod
    def quarter(cls, year: int, quarter: int) -> "ReportPeriod":
        first = date(year, 3 * quarter - 2, 1)
        return cls(first, _next_month(_next_month(_next_month(first))) - timedelta(days=1), "quarter")

    @classmethod
    def year(cls, year: int) -> "ReportPeriod":
        return cls(date(year, 1, 1), date(year, 12, 31), "year")

    def previous(self) -> "ReportPeriod":
        """The period of the same kind just before: the previous month, quarter, year, or as many days."""
        if self.kind == "month":
            before = self.first - timedelta(days=1)
            return ReportPeriod.month(before.year, before.month)
        if self.kind == "quarter":
            before = self.first - timedelta(days=1)
            return ReportPeriod.quarter(before.year, (before.month + 2) // 3)
        if self.kind == "year":
            return ReportPeriod.year(self.first.year - 1)
        length = self.last - self.first
        return ReportPeriod(self.first - length - timedelta(days=1), self.first - timedelta(days=1), "days")

    def span(self, zone: str) -> Span:
        start, end = days_between(self.first, self.last, zone)
        return Span(start, end)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def last_month(today: date) -> ReportPeriod:
    """The month before the one `today` falls in: what the monthly report covers."""
    before = today.replace(day=1) - timedelta(days=1)
    return ReportPeriod.month(before.year, before.month)


def _invalid(field: str, reason: str) -> ApiError:
    return ApiError(422, "validation_error", f"invalid request: {field}: {reason}", [FieldProblem(field=field,
                                                                                                  reason=reason)])


def period_from_query(*, first: date | None, last: date | None, month: str | None, quarter: str | None,
                      year: int | None, today: date) -> ReportPeriod:
    """The period one way of asking names (from+to, month, quarter or year); last month when none is given."""
    ways = [name for name, value in (("from", first or last), ("month", month), ("quarter", quarter),
                                     ("year", year)) if value is not None]
    if len(ways) > 1:
        raise _invalid(ways[1], f"name the period one way only, not both {ways[0]} and {ways[1]}")
    if first is not None or last is not None:
        if first is None or last is None:
            raise _invalid("from" if first is None else "to", "from and to come together")
        if last < first:
            raise _invalid("to", "is before from")
        if (last - first).days >= MAX_DAYS:
            raise _invalid("to", f"a period is at most {MAX_DAYS} days")
        return ReportPeriod(first, last)
    if month is not None:
        found = re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", month)
        if not found:
            raise _invalid("month", "must be a month like 2026-11")
        return ReportPeriod.month(int(found[1]), int(found[2]))
    if quarter is not None:
        found = re.fullmatch(r"(\d{4})-Q([1-4])", quarter)
        if not found:
            raise _invalid("quarter", "must be a quarter like 2026-Q4")
        return ReportPeriod.quarter(int(found[1]), int(found[2]))
    if year is not None:
        return ReportPeriod.year(year)
    return last_month(today)


def working_day_count(calendar: WorkingCalendar, start: datetime, end: datetime) -> WorkingDayCount:
    """How the store counts working days between instants in [start, end): the calendar's own day closes,
    or the compressed calendar's day length (domain/calendar.py: the deadlines' very arithmetic)."""
    if isinstance(calendar, CompressedCalendar):
        return WorkingDayCount(day_seconds=calendar.day.total_seconds())
    closes = []
    close = calendar.next_close_after(start - timedelta(microseconds=1))
    while close < end:
        closes.append(close)
        close = calendar.next_close_after(close)
    return WorkingDayCount(closes=tuple(closes))


# ---------------------------------------------------------------- what the API answers


class FigureValue(BaseModel):
    value: float | int | None = Field(description="In the period (None: no case to compute it from).")
    previous: float | int | None = Field(description="The same figure in the previous period.")


Figures = create_model(
    "Figures",
    __doc__="Every figure of the periodic review, each beside the previous period's.",
    **{name: (FigureValue, Field(description=FIGURE_LABELS[name][1])) for name in FIGURES},
)


class ReportGroup(BaseModel):
    group: str | None = Field(default=None,
                              description="The value of `group_by` (null: every case the caller sees).")
    figures: Figures


class PeriodOut(BaseModel):
    first: date
    last: date
    kind: str = Field(description="`month`, `quarter`, `year` or `days` (from/to).")


class SubjectCount(BaseModel):
    word: str
    cases: int
    previous: int


class WeekCount(BaseModel):
    week: date = Field(description="The Sunday that starts the week, in Muscat.")
    kind: str
    cases: int


class DaysCount(BaseModel):
    working_days: int | None
    cases: int


def _example_figures(scale: int) -> dict[str, dict[str, float | int]]:
    example = {name: {"value": scale * (number % 7 + 1), "previous": scale * (number % 5 + 1)}
               for number, name in enumerate(FIGURES)}
    for name in FIGURES:
        if name.endswith("_share"):
            example[name] = {"value": 0.8125, "previous": 0.75}
    example["rating_average"] = {"value": 4.12, "previous": 3.9}
    return example


EXAMPLE_SUMMARY = {
    "period": {"first": "2026-11-01", "last": "2026-11-30", "kind": "month"},
    "previous_period": {"first": "2026-10-01", "last": "2026-10-31", "kind": "month"},
    "group_by": "kind",
    "department": None,
    "groups": [{"group": None, "figures": _example_figures(3)}, {"group": "complaint", "figures": _example_figures(2)}],
    "subject_words": [{"word": "passport", "cases": 41, "previous": 35}],
    "subject_categories": [{"word": "جواز", "cases": 52, "previous": 47}],
    "received_by_week": [{"week": "2026-11-01", "kind": "complaint", "cases": 40}],
    "answer_working_days": [{"working_days": 3, "cases": 25}, {"working_days": 4, "cases": 11}],
    "open_cases_by_policy_version": {"2026.1": 120},
    "computed_at": "2026-12-01T04:00:00Z",
}


class ReportSummary(BaseModel):
    """The figures of a period beside the previous period's, overall (the first group) and split by `group_by`."""

    model_config = {"json_schema_extra": {"examples": [EXAMPLE_SUMMARY]}}

    period: PeriodOut
    previous_period: PeriodOut
    group_by: GroupBy | None
    department: str | None = Field(default=None,
                                   description="The department the figures are limited to (a department caller).")
    groups: list[ReportGroup]
    subject_words: list[SubjectCount] = Field(
        description=f"The most frequent words of subjects (each used by at least {store.MIN_CASES_FOR_A_WORD} cases).")
    subject_categories: list[SubjectCount] = Field(
        description="The routing rules' keywords (policy.toml) that subjects name, by cases.")
    received_by_week: list[WeekCount]
    answer_working_days: list[DaysCount]
    open_cases_by_policy_version: dict[str, int] = Field(
        description="The policy version the cases open at the period's end run under.")
    computed_at: datetime


@dataclass(frozen=True)
class ReportSources:
    """What the figures are computed from: the database, and the policy with its calendar."""

    database: Database
    policy: Policy
    calendar: WorkingCalendar


def scope_of_reader(caller: Caller) -> CaseScope:
    """The cases whose figures `caller` reads; 403 for a role that reads none."""
    if caller.role in READS_EVERY_FIGURE:
        return CaseScope(every_case=True)
    if caller.role == Role.DEPARTMENT and caller.department is not None:
        return CaseScope(department=caller.department)
    raise errors.forbidden("only the Director General, auditors, customer service and departments read the figures")


async def summary(sources: ReportSources, caller: Caller, period: ReportPeriod,
                  group_by: GroupBy | None = None) -> ReportSummary:
    """The figures `caller` may read for `period`, beside the previous period's."""
    return await figures_for(sources, scope_of_reader(caller), period, group_by)


async def figures_for(sources: ReportSources, scope: CaseScope, period: ReportPeriod,
                      group_by: GroupBy | None = None) -> ReportSummary:
    """The figures of the cases in `scope` (the monthly report's: every case)."""
    zone = sources.policy.timezone
    previous = period.previous()
    current_span, previous_span = period.span(zone), previous.span(zone)
    earliest = await store.earliest_receipt(sources.database, scope) or previous_span.start
    days = working_day_count(sources.calendar, min(earliest, previous_span.start), current_span.end)
    database = sources.database
    keywords = sorted({keyword for rule in sources.policy.routing for keyword in rule.keywords})
    # Five statements, each on a connection of its own: PostgreSQL runs them side by side.
    groups, words, categories, weeks, versions = await asyncio.gather(
        store.period_figures(database, scope, current_span, previous_span, str(group_by) if group_by else None,
                             days),
        store.top_subject_words(database, scope, current_span, previous_span),
        store.subject_categories(database, scope, current_span, previous_span, keywords),
        _received_by_week(database, scope, period, zone),
        store.open_cases_by_policy_version(database, scope, current_span.end),
    )
    return ReportSummary(
        period=PeriodOut(first=period.first, last=period.last, kind=period.kind),
        previous_period=PeriodOut(first=previous.first, last=previous.last, kind=previous.kind),
        group_by=group_by,
        department=scope.department,
        groups=[ReportGroup(group=group.group, figures=Figures(**{
            name: FigureValue(value=group.current.get(name), previous=group.previous.get(name)) for name in FIGURES
        })) for group in groups],
        subject_words=[SubjectCount(word=w.word, cases=w.cases, previous=w.previous) for w in words],
        subject_categories=[SubjectCount(word=w.word, cases=w.cases, previous=w.previous) for w in categories],
        received_by_week=weeks,
        answer_working_days=[DaysCount(working_days=taken, cases=cases)
                             for taken, cases in groups[0].answer_days.items()],
        open_cases_by_policy_version=versions,
        computed_at=datetime.now(UTC),
    )


def week_starts(period: ReportPeriod) -> list[date]:
    """The Sundays that start the weeks the period's days fall in (the ministry's week starts on Sunday)."""
    first = period.first - timedelta(days=(period.first.weekday() + 1) % 7)
    return [first + timedelta(weeks=n) for n in range((period.last - first).days // 7 + 1)]


async def _received_by_week(database: Database, scope: CaseScope, period: ReportPeriod, zone: str) -> list[WeekCount]:
    sundays = week_starts(period)
    instants = [ReportPeriod(sunday, sunday).span(zone).start for sunday in sundays]
    counts = await store.received_by_week_and_kind(database, scope, period.span(zone), instants)
    return [WeekCount(week=sundays[number - 1], kind=kind, cases=cases) for number, kind, cases in counts]


async def policy_versions(sources: ReportSources, caller: Caller, references: list[str]) -> dict[str, str]:
    """The policy version each of these cases runs under, for the ones `caller` reads figures of."""
    return await store.policy_versions_of(sources.database, scope_of_reader(caller), references)


# ---------------------------------------------------------------- the same figures as a table


EXPORT_COLUMNS = ("group", "figure", "value", "previous")


def figure_rows(report: ReportSummary) -> list[tuple[str, str, Any, Any]]:
    """One row per group and figure: what CSV and XLSX hold, in the JSON's order."""
    rows = []
    for group in report.groups:
        for name in FIGURES:
            pair: FigureValue = getattr(group.figures, name)
            rows.append((group.group if group.group is not None else "", name, pair.value, pair.previous))
    return rows


def as_csv(report: ReportSummary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in figure_rows(report):
        writer.writerow(["" if cell is None else cell for cell in row])
    return out.getvalue()


def as_xlsx(report: ReportSummary) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "figures"
    sheet.append(EXPORT_COLUMNS)
    for row in figure_rows(report):
        sheet.append(list(row))
    words = book.create_sheet("subject_words")
    words.append(("word", "cases", "previous"))
    for word in report.subject_words:
        words.append((word.word, word.cases, word.previous))
    versions = book.create_sheet("policy_versions")
    versions.append(("policy_version", "open_cases"))
    for version, count in report.open_cases_by_policy_version.items():
        versions.append((version, count))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
