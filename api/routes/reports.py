"""The periodic review's figures: JSON, or the same as CSV or an Excel workbook."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from api.deps import CallerDep, ServicesDep
from api.errors import UNAUTHORIZED_RESPONSE, ErrorResponse
from api.service import reports
from api.service.reports import GroupBy, ReportSources, ReportSummary
from domain.calendar import MUSCAT

router = APIRouter(prefix="/v1/reports", tags=["reports"])

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The figures: JSON, or as `format` or `Accept` ask, CSV (`group,figure,value,previous`) "
                       "or XLSX.",
        "content": {CSV: {"schema": {"type": "string"}}, XLSX: {"schema": {"type": "string", "format": "binary"}}},
    },
    401: UNAUTHORIZED_RESPONSE,
    403: {"model": ErrorResponse, "description": "The caller's role reads no figures."},
    422: {"model": ErrorResponse, "description": "Invalid query; `fields` names each bad field."},
}


def _wanted(format: str | None, accept: str | None) -> str:
    if format:
        return format
    accept = accept or ""
    if XLSX in accept:
        return "xlsx"
    if CSV in accept and "application/json" not in accept:
        return "csv"
    return "json"


@router.get("/summary", response_model=ReportSummary, responses=RESPONSES)
async def summary(
    caller: CallerDep,
    services: ServicesDep,
    first: Annotated[date | None, Query(alias="from", description="First day (Muscat), with `to`.")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last day (Muscat), included, with `from`.")] = None,
    month: Annotated[str | None, Query(description="A month, `2026-11`.", max_length=7)] = None,
    quarter: Annotated[str | None, Query(description="A quarter, `2026-Q4`.", max_length=7)] = None,
    year: Annotated[int | None, Query(description="A year.", ge=2000, le=2999)] = None,
    group_by: Annotated[GroupBy | None, Query(description="Split every figure by this dimension too.")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"] | None, Query(description="Instead of `Accept`.")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    """The periodic review's figures for a period (last month unless one is named), each beside the previous
    period's: received, closed, open, rejected by ground, on-time shares, escalations, breaches, contests, working
    days to reply and answer, ratings, frequent subjects. The Director General, auditors and customer service read
    every case's; a department key its own department's."""
    period = reports.period_from_query(first=first, last=last, month=month, quarter=quarter, year=year,
                                       today=datetime.now(MUSCAT).date())
    sources = ReportSources(services.database, services.policy, services.calendar)
    report = await reports.summary(sources, caller, period, group_by)
    wanted = _wanted(format, accept)
    name = f"review-{period.first}-{period.last}"
    if wanted == "csv":
        return Response(reports.as_csv(report), media_type=f"{CSV}; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if wanted == "xlsx":
        return Response(reports.as_xlsx(report), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return report
