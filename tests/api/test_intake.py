"""The first path: a submission becomes a case, a running workflow and a database record."""

import re
import uuid
from datetime import datetime

from sqlalchemy import func
from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus

from store.models import CaseRecord, DepartmentEntry, TimelineEntry
from tests.helpers import bearer, complaint, eventually, read_case, submit
from workflows.case import CaseWorkflow


async def test_a_complaint_becomes_a_case_with_a_running_workflow(api, keys, temporal_client):
    created = await submit(api, keys.channel)

    assert re.fullmatch(r"C-20\d\d-\d{6}", created["reference"])
    assert created["status"] == "received"
    assert len(created["tracking_code"]) >= 20
    assert created["answer_due"] > created["department_due"]

    async def recorded():
        case = await read_case(api, keys.cs_agent, created["reference"])
        return case if case["timeline"] else None

    case = await eventually(recorded)
    assert case["status"] in {"received"}
    assert case["subject"] == "Renewal delayed"
    assert case["timeline"][0]["action"] == "received"
    assert case["timeline"][0]["actor"].startswith("channel#")

    description = await temporal_client.get_workflow_handle(f"case-{created['reference']}").describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.typed_search_attributes is not None


async def test_references_are_sequential_per_kind(api, keys):
    first = await submit(api, keys.channel, complaint(kind="suggestion"))
    second = await submit(api, keys.channel, complaint(kind="suggestion"))
    report = await submit(api, keys.channel, complaint(kind="report"))

    assert first["reference"].startswith("S-") and report["reference"].startswith("R-")
    assert int(second["reference"][-6:]) == int(first["reference"][-6:]) + 1


async def test_invalid_submission_names_every_bad_field_and_writes_nothing(api, keys, database):
    marker = f"marker-{uuid.uuid4().hex}"
    body = complaint(kind="grievance", subject="", status="closed", description=marker)
    body["submitter"]["email"] = "not-an-address"

    response = await api.post("/v1/cases", json=body, headers=bearer(keys.channel))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {problem["field"] for problem in error["fields"]} == {"kind", "subject", "status", "submitter.email"}
    async with database.session() as session:
        written = (await session.exec(select(func.count()).select_from(CaseRecord).where(
            CaseRecord.description == marker))).one()
    assert written == 0


async def test_a_missing_or_unknown_key_gets_401(api, keys):
    assert (await api.post("/v1/cases", json=complaint())).status_code == 401
    response = await api.get("/v1/departments", headers=bearer("cmp_not-a-key"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_only_channels_and_customer_service_submit(api, keys):
    response = await api.post("/v1/cases", json=complaint(), headers=bearer(keys.department))
    assert response.status_code == 403


async def test_an_unknown_case_is_404(api, keys):
    response = await api.get("/v1/cases/C-2026-999999", headers=bearer(keys.cs_agent))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_departments_are_the_active_ones_of_the_directory_seeded_from_the_policy(api, keys, services, database):
    response = await api.get("/v1/departments", headers=bearer(keys.auditor))
    assert response.status_code == 200
    codes = [department["code"] for department in response.json()]
    assert codes == sorted(codes)
    assert {department.code for department in services.policy.departments} <= set(codes)
    async with database.session() as session:
        directory = (await session.exec(select(DepartmentEntry))).all()
    assert set(codes) == {entry.code for entry in directory if entry.active}
    assert [d["code"] for d in response.json() if d["customer_service"]] == [services.policy.customer_service().code]


async def test_health_reports_both_servers(api):
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": True, "temporal": True}


async def test_the_receipt_is_recorded_once(api, keys, database):
    created = await submit(api, keys.channel)
    reference = created["reference"]
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    async with database.session() as session:
        entries = (
            await session.exec(
                select(func.count()).select_from(TimelineEntry).where(
                    TimelineEntry.reference == reference, TimelineEntry.action == "received"
                )
            )
        ).one()
    assert entries == 1


async def test_a_request_over_the_size_limit_is_refused_unread(api, keys):
    body = complaint(description="x" * 70_000)

    response = await api.post("/v1/cases", json=body, headers=bearer(keys.channel))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_a_key_that_submits_too_fast_is_slowed_down(services, database, worker):
    """A fresh app with a limit of 2 a minute: the third submission gets 429 with Retry-After."""
    import httpx

    from api.app import create_app
    from api.auth import create_api_key
    from domain.kinds import Channel, Role

    app = create_app(services=services)
    app.state.intake_limiter.max_failures = 2
    _, key = await create_api_key(database, role=Role.CHANNEL, name="fast", department=None, channels=list(Channel))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        statuses = [(await client.post("/v1/cases", json=complaint(), headers=bearer(key))) for _ in range(3)]

    assert [response.status_code for response in statuses] == [201, 201, 429]
    assert 0 < int(statuses[2].headers["Retry-After"]) <= 60


async def test_the_answer_due_the_submitter_is_told_is_the_one_the_workflow_holds(api, keys, temporal_client):
    # The API tells the deadlines in its 201; the workflow waits on them: one policy, one calendar, one function.
    created = await submit(api, keys.channel, complaint(kind="report", priority="high"))

    handle = temporal_client.get_workflow_handle(f"case-{created['reference']}")
    view = await handle.query(CaseWorkflow.view)

    assert datetime.fromisoformat(created["answer_due"]) == view.answer_due
    assert datetime.fromisoformat(created["department_due"]) == view.department_due
