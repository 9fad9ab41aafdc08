"""The periodic review's figures: a known set of cases on a compressed calendar, each figure compared with what the
test works out by hand from the cases' own timelines; CSV, XLSX and JSON agree.

The set lives in a department of its own, and is read with that department's key, so that the other tests' cases
(in the same database) are not in its figures. Its cases run on a worker of this module's own, whose working day
lasts 5 s rather than the session's 2 s: each path takes its steps well inside the deadline it means to meet (or
miss) even on a loaded machine.
"""

import asyncio
import csv
import io
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook

from api.app import create_app
from api.auth import create_api_key
from api.service.reports import ReportPeriod, last_month, period_from_query
from domain.calendar import MUSCAT
from domain.kinds import Role
from store.reports import FIGURES
from tests.conftest import running_workers, services_for
from tests.helpers import bearer, complaint, eventually, read_case, submit

WORKING_DAY_SECONDS = 5.0
DAY = timedelta(seconds=WORKING_DAY_SECONDS)
GROUNDS = ("not_competent", "unlawful", "not_genuine", "duplicate")


async def _act(api, key, reference, action, body=None):
    response = await api.post(f"/v1/cases/{reference}/{action}", json=body or {}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


async def _step(api, keys, reference, action, timeout=60.0):
    async def seen():
        return any(entry["action"] == action for entry in (await read_case(api, keys.cs_agent, reference))["timeline"])
    await eventually(seen, timeout=timeout, interval=0.2)


async def _rate(api, created, score):
    response = await api.post(f"/v1/track/{created['reference']}/rating", json={"score": score},
                              headers={"X-Tracking-Code": created["tracking_code"]})
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
async def api(settings, database, temporal_client):
    """The app and a worker on this module's calendar, on a task queue of their own."""
    slower = settings.model_copy(update={"task_queue": "complaints-test-review",
                                         "working_day_seconds": WORKING_DAY_SECONDS})
    async with running_workers(temporal_client, slower, database):
        transport = httpx.ASGITransport(app=create_app(services=services_for(slower, database, temporal_client)))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client


@pytest.fixture(scope="module")
async def known_set(api, keys, database, temporal_client):
    """Ten complaints of a department of their own, each taking one path; returns (department key, references)."""
    department = f"REVIEW_{uuid.uuid4().hex[:8].upper()}"
    response = await api.put(f"/v1/admin/departments/{department}", headers=keys.header("admin"),
                             json={"name_ar": "دائرة المراجعة", "name_en": "Review test department", "active": True})
    assert response.status_code in (200, 201), response.text
    _, department_key = await create_api_key(database, role=Role.DEPARTMENT, name="review", department=department)
    agent = keys.cs_agent

    async def new(subject="Passport renewal delayed at the office"):
        created = await submit(api, keys.channel, complaint(subject=subject))
        await eventually(lambda: read_case(api, agent, created["reference"]))
        await _act(api, agent, created["reference"], "triage", {"department": department})
        return created

    async def answer_and_close(reference):
        await _act(api, agent, reference, "respond", {"message": "Done."})
        await _act(api, agent, reference, "close")

    async def on_time():
        created = await new()
        await _act(api, department_key, created["reference"], "reply", {"summary": "Handled."})
        await answer_and_close(created["reference"])
        await _rate(api, created, 5)
        return created["reference"]

    async def late_reply():
        created = await new()
        await _step(api, keys, created["reference"], "escalated")
        await _act(api, department_key, created["reference"], "reply", {"summary": "Late, but handled."})
        await answer_and_close(created["reference"])
        await _rate(api, created, 2)
        return created["reference"]

    async def breached():
        created = await new("Passport office closed early")
        await _step(api, keys, created["reference"], "breached")
        # Stopped where it stands: its figures must not move while the test reads them.
        await temporal_client.get_workflow_handle(f"case-{created['reference']}").terminate("review test")
        return created["reference"]

    async def rejected(ground):
        created = await new("Municipality streetlights")
        await _act(api, agent, created["reference"], "reject", {"reason": "Not ours.", "ground": ground})
        return created["reference"]

    async def contested():
        created = await new()
        await _act(api, department_key, created["reference"], "reply", {"summary": "Handled."})
        await _act(api, agent, created["reference"], "respond", {"message": "Done."})
        await _act(api, agent, created["reference"], "contest", {"reason": "It is not done."})
        await temporal_client.get_workflow_handle(f"case-{created['reference']}").terminate("review test")
        return created["reference"]

    async def paused():
        created = await new()
        await _act(api, department_key, created["reference"], "request-info", {"question": "Which office?"})
        await asyncio.sleep(2.2 * WORKING_DAY_SECONDS)
        await _act(api, agent, created["reference"], "submitter-info", {"answer": "Seeb."})
        await _act(api, department_key, created["reference"], "reply", {"summary": "Handled."})
        await answer_and_close(created["reference"])
        await _rate(api, created, 4)
        return created["reference"]

    async def no_response():
        created = await new()
        await _act(api, agent, created["reference"], "request-info", {"question": "Which office?"})
        await _step(api, keys, created["reference"], "closed", timeout=120)
        return created["reference"]

    references = await asyncio.gather(on_time(), late_reply(), breached(), *(rejected(g) for g in GROUNDS),
                                      contested(), paused(), no_response())
    return department_key, references


def _at(entry) -> datetime:
    return datetime.fromisoformat(entry["at"])


def _quantile(values: list[int], q: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    # To the hundredth, as the report gives it.
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 2)


def _working_days_to(case, action) -> int | None:
    """Working days (2 s each) from receipt to the first `action`, less the whole days spent waiting for the
    submitter before it."""
    received, timeline = datetime.fromisoformat(case["received_at"]), case["timeline"]
    at = next((_at(entry) for entry in timeline if entry["action"] == action), None)
    if at is None:
        return None
    starts = [_at(entry) for entry in timeline if entry["action"] == "request_info"]
    ends = [_at(entry) for entry in timeline if entry["action"] == "submitter_info"]
    paused = sum((end - start) // DAY for start, end in zip(starts, ends, strict=False) if end <= at)
    return (at - received) // DAY - paused


def _by_hand(cases: list[dict], ratings: dict[str, int]) -> dict[str, float | int | None]:
    """Every figure of the known set, from the cases' timelines."""
    def actions(case):
        return [entry["action"] for entry in case["timeline"]]

    def first(case, action):
        return next((_at(entry) for entry in case["timeline"] if entry["action"] == action), None)

    closed = [case for case in cases if case["status"] == "closed"]
    rejected = [case for case in cases if "reject" in actions(case)]
    grounds = {ground: sum(1 for case in rejected for entry in case["timeline"]
                           if entry["action"] == "reject" and entry["detail"].get("ground") == ground)
               for ground in GROUNDS}
    department_due = [case for case in cases if {"reply", "escalated"} & set(actions(case))]
    department_on_time = [case for case in department_due
                          if first(case, "reply") is not None
                          and (first(case, "escalated") is None or first(case, "reply") < first(case, "escalated"))]
    answer_due = [case for case in cases if {"respond", "breached"} & set(actions(case))]
    answer_on_time = [case for case in answer_due
                      if first(case, "respond") is not None
                      and (first(case, "breached") is None or first(case, "respond") < first(case, "breached"))]
    reply_days = [d for case in cases if (d := _working_days_to(case, "reply")) is not None]
    answer_days = [d for case in cases if (d := _working_days_to(case, "respond")) is not None]
    scores = list(ratings.values())
    closed_rated = sum(1 for case in closed if case["reference"] in ratings)
    share = lambda part, whole: round(part / whole, 4) if whole else None  # noqa: E731
    return {
        "received": len(cases),
        "closed": len(closed),
        "open_at_end": sum(1 for case in cases if case["closed_at"] is None),
        "rejected": len(rejected),
        **{f"rejected_{ground}": count for ground, count in grounds.items()},
        "rejected_without_ground": len(rejected) - sum(grounds.values()),
        "not_competent_share": share(grounds["not_competent"], len(rejected)),
        "department_due": len(department_due),
        "department_on_time": len(department_on_time),
        "department_on_time_share": share(len(department_on_time), len(department_due)),
        "answer_due": len(answer_due),
        "answer_on_time": len(answer_on_time),
        "answer_on_time_share": share(len(answer_on_time), len(answer_due)),
        "escalated": sum(1 for case in cases if "escalated" in actions(case)),
        "breached": sum(1 for case in cases if "breached" in actions(case)),
        "reopened_after_contest": sum(1 for case in cases if "contest" in actions(case)),
        "closed_no_response": sum(1 for case in cases for entry in case["timeline"]
                                  if entry["action"] == "closed" and entry["detail"].get("reason") == "no_response"),
        "reply_working_days_median": _quantile(reply_days, 0.5),
        "reply_working_days_p90": _quantile(reply_days, 0.9),
        "answer_working_days_median": _quantile(answer_days, 0.5),
        "answer_working_days_p90": _quantile(answer_days, 0.9),
        "ratings": len(scores),
        **{f"rating_{score}": scores.count(score) for score in range(1, 6)},
        "rating_average": round(sum(scores) / len(scores), 2) if scores else None,
        "closed_rated": closed_rated,
        "closed_rated_share": share(closed_rated, len(closed)),
    }


def _around_today() -> dict[str, str]:
    today = datetime.now(MUSCAT).date()
    return {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}


async def test_every_figure_of_the_known_set_is_the_one_worked_out_by_hand(api, keys, known_set):
    department_key, references = known_set
    response = await api.get("/v1/reports/summary", params=_around_today(), headers=bearer(department_key))
    assert response.status_code == 200, response.text
    report = response.json()
    cases = [await read_case(api, keys.cs_agent, reference) for reference in references]
    ratings = {references[0]: 5, references[1]: 2, references[8]: 4}
    expected = _by_hand(cases, ratings)
    overall = report["groups"][0]
    assert overall["group"] is None
    assert {name: pair["value"] for name, pair in overall["figures"].items()} == expected
    # The shape of the set, as built: so that a by-hand figure that is trivially zero cannot hide a bug.
    assert (expected["received"], expected["closed"], expected["rejected"], expected["escalated"],
            expected["breached"], expected["reopened_after_contest"], expected["closed_no_response"],
            expected["ratings"]) == (10, 4, 4, 2, 1, 1, 1, 3)
    assert expected["department_on_time"] == 3 and expected["answer_on_time"] == 4
    # Nothing of the department in the three days before.
    previous = {name: pair["previous"] for name, pair in overall["figures"].items()}
    assert all(previous[name] in (0, None) for name in FIGURES)
    assert report["department"] and report["open_cases_by_policy_version"] == {cases[0]["policy_version"]: 2}
    assert {"word": "passport", "cases": 6, "previous": 0} in report["subject_words"]
    assert sum(week["cases"] for week in report["received_by_week"]) == 10
    assert sum(bucket["cases"] for bucket in report["answer_working_days"]) == expected["answer_due"] - 1


async def test_split_by_kind_holds_the_same_figures_for_the_one_kind(api, known_set):
    department_key, _ = known_set
    response = await api.get("/v1/reports/summary", params={**_around_today(), "group_by": "kind"},
                             headers=bearer(department_key))
    groups = response.json()["groups"]
    assert [group["group"] for group in groups] == [None, "complaint"]
    assert groups[0]["figures"] == groups[1]["figures"]


async def test_csv_xlsx_and_json_agree(api, known_set):
    department_key, _ = known_set
    params = {**_around_today(), "group_by": "channel"}
    report = (await api.get("/v1/reports/summary", params=params, headers=bearer(department_key))).json()
    from_json = [(group["group"] or "", name, pair["value"], pair["previous"])
                 for group in report["groups"] for name, pair in group["figures"].items()]

    as_csv = await api.get("/v1/reports/summary", params={**params, "format": "csv"}, headers=bearer(department_key))
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["group", "figure", "value", "previous"]
    number = lambda cell: None if cell == "" else float(cell)  # noqa: E731
    assert [(g, f, number(v), number(p)) for g, f, v, p in rows[1:]] == [
        (g, f, None if v is None else float(v), None if p is None else float(p)) for g, f, v, p in from_json]

    xlsx_headers = {**bearer(department_key),
                    "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    as_xlsx = await api.get("/v1/reports/summary", params=params, headers=xlsx_headers)
    assert as_xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(as_xlsx.content))["figures"]
    cells = [tuple(cell.value for cell in row) for row in sheet.iter_rows(min_row=2)]
    assert [(g or "", f, v, p) for g, f, v, p in cells] == from_json


async def test_who_reads_the_figures(api, keys, database, known_set):
    department_key, _ = known_set
    params = _around_today()
    mine = (await api.get("/v1/reports/summary", params=params, headers=bearer(department_key))).json()
    for role in ("director_general", "auditor", "cs_agent"):
        response = await api.get("/v1/reports/summary", params=params, headers=keys.header(role))
        assert response.status_code == 200, response.text
        everyone = response.json()
        assert everyone["department"] is None
        received = everyone["groups"][0]["figures"]["received"]["value"]
        assert received >= mine["groups"][0]["figures"]["received"]["value"]
    # Another department, with no case: none of the known set's figures.
    other = f"REVIEW_OTHER_{uuid.uuid4().hex[:6].upper()}"
    response = await api.put(f"/v1/admin/departments/{other}", headers=keys.header("admin"),
                             json={"name_ar": "دائرة أخرى", "name_en": "Another department", "active": True})
    assert response.status_code in (200, 201), response.text
    _, other_key = await create_api_key(database, role=Role.DEPARTMENT, name="review other", department=other)
    theirs = (await api.get("/v1/reports/summary", params=params, headers=bearer(other_key))).json()
    assert theirs["department"] == other and theirs["groups"][0]["figures"]["received"]["value"] == 0
    for role in ("channel", "admin"):
        response = await api.get("/v1/reports/summary", params=params, headers=keys.header(role))
        assert response.status_code == 403, response.text


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-11-01"}, "to"),
    ({"from": "2026-11-02", "to": "2026-11-01"}, "to"),
    ({"month": "2026-13"}, "month"),
    ({"quarter": "2026-Q5"}, "quarter"),
    ({"month": "2026-11", "year": 2026}, "year"),
    ({"group_by": "submitter"}, "group_by"),
])
async def test_a_bad_period_is_a_422_naming_the_field(api, keys, params, field):
    response = await api.get("/v1/reports/summary", params=params, headers=keys.header("auditor"))
    assert response.status_code == 422, response.text
    assert [problem["field"] for problem in response.json()["error"]["fields"]] == [field]


def test_periods_and_the_ones_before():
    from datetime import date

    assert ReportPeriod.month(2026, 1).previous() == ReportPeriod.month(2025, 12)
    assert ReportPeriod.quarter(2026, 1) == ReportPeriod(date(2026, 1, 1), date(2026, 3, 31), "quarter")
    assert ReportPeriod.quarter(2026, 1).previous() == ReportPeriod(date(2025, 10, 1), date(2025, 12, 31), "quarter")
    assert ReportPeriod.year(2026).previous() == ReportPeriod.year(2025)
    assert ReportPeriod(date(2026, 11, 10), date(2026, 11, 19)).previous() == ReportPeriod(
        date(2026, 10, 31), date(2026, 11, 9))
    assert last_month(date(2026, 12, 1)) == ReportPeriod.month(2026, 11)
    assert period_from_query(first=None, last=None, month=None, quarter="2026-Q4", year=None,
                             today=date(2026, 12, 1)) == ReportPeriod.quarter(2026, 4)
