"""The periodic review in the console: the figures of a period beside the previous one's as number cards, the
five charts drawn on the server with the table each is drawn from (for screen readers and print), the open cases
by policy version, and the same figures as CSV or Excel. One definition of every figure: api/service/reports.py.
"""

import base64
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import Services, ServicesDep
from api.errors import ApiError
from api.service import report_charts, reports
from api.service.reports import FIGURE_LABELS, GROUND_LABELS, GroupBy, ReportPeriod, ReportSources, ReportSummary
from domain.calendar import MUSCAT
from store.departments import all_departments
from web.console.queues import not_found_page
from web.console.session import StaffDep, console_page
from web.i18n import Words, words_for

router = APIRouter(prefix="/console/review", include_in_schema=False)

# The cards, in the order the ministry reads them; shares are shown as percentages.
CARDS = ("received", "closed", "open_at_end", "rejected", "not_competent_share", "department_on_time_share",
         "answer_on_time_share", "escalated", "breached", "reopened_after_contest", "answer_working_days_median",
         "rating_average", "closed_rated_share")
SHARE = "department_on_time_share"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    previous: str
    change: str
    tone: str  # up, down, same


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    image: str  # a data: URL of the SVG
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]


PeriodQuery = dict[str, Any]


def _period(month: str | None, year: int | None, first: date | None, last: date | None) -> ReportPeriod:
    return reports.period_from_query(first=first, last=last, month=month or None, quarter=None, year=year,
                                     today=datetime.now(MUSCAT).date())


@router.get("")
async def review_page(request: Request, services: ServicesDep, staff: StaffDep,
                      month: Annotated[str | None, Query(max_length=7)] = None,
                      year: Annotated[int | None, Query(ge=2000, le=2999)] = None,
                      first: Annotated[date | None, Query(alias="from")] = None,
                      last: Annotated[date | None, Query(alias="to")] = None) -> Response:
    words = words_for(staff.language)
    try:
        period = _period(month, year, first, last)
        report, by_department = await _reports(services, staff, period)
    except ApiError as refused:
        if refused.status == 403:
            return not_found_page(request, staff)
        return console_page(request, "console/review.html", staff, status_code=422, error=refused.message,
                            query=request.url.query, form=_form_values(month, year, first, last))
    names = {entry.code: (entry.name_ar, entry.name_en) for entry in await all_departments(services.database)}
    return console_page(
        request, "console/review.html", staff, report=report, period_words=_period_words(words, report),
        cards=_cards(words, report), charts=_charts(words, report, by_department, names),
        subject_words=report.subject_words[:10], versions=sorted(report.open_cases_by_policy_version.items()),
        query=request.url.query, form=_form_values(month, year, first, last))


@router.get("/export")
async def export(services: ServicesDep, staff: StaffDep, format: Annotated[str, Query(pattern="^(csv|xlsx)$")],
                 month: Annotated[str | None, Query(max_length=7)] = None,
                 year: Annotated[int | None, Query(ge=2000, le=2999)] = None,
                 first: Annotated[date | None, Query(alias="from")] = None,
                 last: Annotated[date | None, Query(alias="to")] = None) -> Response:
    """The page's figures as the API gives them (`GET /v1/reports/summary?format=`), for the signed-in reader."""
    period = _period(month, year, first, last)
    report = await reports.summary(_sources(services), staff.caller, period)
    name = f"review-{period.first}-{period.last}"
    if format == "csv":
        return Response(reports.as_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return Response(reports.as_xlsx(report), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


def _sources(services: Services) -> ReportSources:
    return ReportSources(services.database, services.policy, services.calendar)


async def _reports(services: Services, staff, period: ReportPeriod) -> tuple[ReportSummary, ReportSummary]:
    sources = _sources(services)
    return (await reports.summary(sources, staff.caller, period),
            await reports.summary(sources, staff.caller, period, GroupBy.DEPARTMENT))


def _form_values(month, year, first, last) -> dict[str, str]:
    return {"month": month or "", "year": str(year or ""), "from": first.isoformat() if first else "",
            "to": last.isoformat() if last else ""}


def _label(words: Words, pair: tuple[str, str]) -> str:
    return pair[0] if words.language == "ar" else pair[1]


def _period_words(words: Words, report: ReportSummary) -> tuple[str, str]:
    def span(period) -> str:
        return f"{words.day(_noon(period.first))} – {words.day(_noon(period.last))}"
    return span(report.period), span(report.previous_period)


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=MUSCAT)


def _shown(words: Words, name: str, value) -> str:
    if value is None:
        return "—"
    if name.endswith("_share"):
        return f"{words.number(round(value * 100))}%"
    return words.number(round(value, 1) if isinstance(value, float) else value)


def _cards(words: Words, report: ReportSummary) -> list[Card]:
    figures = report.groups[0].figures
    cards = []
    for name in CARDS:
        pair = getattr(figures, name)
        change, tone = "", "same"
        if pair.value is not None and pair.previous is not None:
            difference = pair.value - pair.previous
            tone = "up" if difference > 0 else "down" if difference < 0 else "same"
            shown = _shown(words, name, abs(difference))
            change = {"up": f"+{shown}", "down": f"−{shown}", "same": "±0"}[tone]
        cards.append(Card(_label(words, FIGURE_LABELS[name]), _shown(words, name, pair.value),
                          _shown(words, name, pair.previous), change, tone))
    return cards


def _svg(chart: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(chart).decode()


def _charts(words: Words, report: ReportSummary, by_department: ReportSummary,
            names: dict[str, tuple[str, str]]) -> list[Chart]:
    language = words.language
    drawn = report_charts.every_chart(report, by_department, names, language=language, format="svg")
    title = {name: _label(words, pair) for name, pair in report_charts.TITLES.items()}
    figures = report.groups[0].figures
    kinds = report_charts.KIND_LABELS
    weeks = sorted({count.week for count in report.received_by_week})
    per_week = {(count.week, count.kind): count.cases for count in report.received_by_week}
    tables = {
        "cases_per_week": ((words._("Week"), *(_label(words, pair) for pair in kinds.values())),
                           [(words.day(_noon(week)), *(words.number(per_week.get((week, kind), 0)) for kind in kinds))
                            for week in weeks]),
        "on_time_by_department": ((words._("Department"), words._("Share on time")),
                                  [(_label(words, names.get(group.group or "", (group.group or "—",) * 2)),
                                    _shown(words, SHARE, group.figures.department_on_time_share.value))
                                   for group in by_department.groups[1:]]),
        "answer_days": ((words._("Working days"), words._("Cases")),
                        [(words.number(bucket.working_days), words.number(bucket.cases))
                         for bucket in report.answer_working_days if bucket.working_days is not None]),
        "rejections": ((words._("Ground"), words._("Cases")),
                       [(_label(words, label), words.number(getattr(figures, f"rejected_{ground}").value or 0))
                        for ground, label in GROUND_LABELS.items()]),
        "ratings": ((words._("Score"), words._("Ratings")),
                    [(words.number(score), words.number(getattr(figures, f"rating_{score}").value or 0))
                     for score in range(1, 6)]),
    }
    return [Chart(name, title[name], _svg(drawn[name]), *tables[name]) for name in report_charts.TITLES]
