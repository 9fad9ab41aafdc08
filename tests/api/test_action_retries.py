"""An action or a submission whose answer was lost can be retried: the retry gets the first outcome, never a
second step.

An error answer means the action did not happen, or says that it may have (503 outcome_unknown)
and gives the Idempotency-Key to retry with.
"""

import uuid

import httpx
import pytest
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowExecutionStatus

from api.app import create_app
from api.errors import ApiError
from api.schemas import TriageBody
from api.service import updates
from tests.conftest import running_workers, services_for
from tests.helpers import bearer, complaint, eventually, read_case, submit
from workflows.case import CaseWorkflow, workflow_id
from workflows.messages import Actor, TriageRequest

pytestmark = pytest.mark.usefixtures("worker")


def actions(case: dict, action: str) -> list[dict]:
    return [entry for entry in case["timeline"] if entry["action"] == action]


async def test_a_retried_action_gets_the_first_outcome_and_takes_no_second_step(api, keys):
    case = await submit(api, keys.channel)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    path = f"/v1/cases/{case['reference']}/triage"

    first = await api.post(path, json={"department": "HR"}, headers={**bearer(keys.cs_agent), **key})
    again = await api.post(path, json={"department": "HR"}, headers={**bearer(keys.cs_agent), **key})

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert len(actions(await read_case(api, keys.auditor, case["reference"]), "triage")) == 1


async def test_the_same_key_with_another_body_is_another_action(api, keys):
    case = await submit(api, keys.channel)
    key = {"Idempotency-Key": uuid.uuid4().hex, **bearer(keys.cs_agent)}
    path = f"/v1/cases/{case['reference']}/triage"

    assert (await api.post(path, json={"department": "HR"}, headers=key)).status_code == 200
    moved = await api.post(path, json={"department": "CIVIL_STATUS"}, headers=key)

    assert moved.status_code == 200 and moved.json()["department"] == "CIVIL_STATUS"


async def test_a_retry_after_the_action_closed_the_case_gets_the_first_outcome(api, keys, temporal_client):
    case = await submit(api, keys.channel)
    key = {"Idempotency-Key": uuid.uuid4().hex, **bearer(keys.cs_agent)}
    path = f"/v1/cases/{case['reference']}/reject"
    first = await api.post(path, json={"reason": "duplicate"}, headers=key)
    assert first.status_code == 200
    handle = temporal_client.get_workflow_handle(workflow_id(case["reference"]))

    async def ended() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    await eventually(ended, timeout=30)
    again = await api.post(path, json={"reason": "duplicate"}, headers=key)

    assert again.status_code == 200, again.text
    assert again.json() == first.json()


async def test_an_action_nobody_answered_says_it_may_have_happened_and_its_retry_gets_the_outcome(
        settings, database, temporal_client, keys, monkeypatch):
    # A case on a task queue no worker polls yet: its Update waits, and the API stops waiting after a second.
    quiet = settings.model_copy(update={"task_queue": "complaints-test-unanswered"})
    monkeypatch.setattr(updates, "UPDATE_TIMEOUT", updates.timedelta(seconds=1))
    services = services_for(quiet, database, temporal_client)
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
        case = await submit(api, keys.channel)
        path = f"/v1/cases/{case['reference']}/reject"

        unanswered = await api.post(path, json={"reason": "not genuine"}, headers=bearer(keys.cs_agent))

        assert unanswered.status_code == 503
        assert unanswered.json()["error"]["code"] == "outcome_unknown"
        assert "may have been applied" in unanswered.json()["error"]["message"]
        retry_key = unanswered.headers["Idempotency-Key"]
        assert unanswered.headers["Retry-After"]
        async with running_workers(temporal_client, quiet, database):
            monkeypatch.setattr(updates, "UPDATE_TIMEOUT", updates.timedelta(seconds=30))
            retried = await api.post(path, json={"reason": "not genuine"},
                                     headers={**bearer(keys.cs_agent), "Idempotency-Key": retry_key})
            assert retried.status_code == 200, retried.text
            assert retried.json()["status"] == "rejected"
            handle = temporal_client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case["reference"]))
            steps = await handle.query(CaseWorkflow.recorded_steps)
            assert [key for key in steps if key.endswith("-reject")] == [steps[-1]], "rejected once"


async def test_a_channel_submission_without_a_retry_key_is_refused_naming_both(api, keys):
    response = await api.post("/v1/cases", json=complaint(channel_ref=None), headers=bearer(keys.channel))

    assert response.status_code == 422
    fields = [problem["field"] for problem in response.json()["error"]["fields"]]
    assert fields == ["channel_ref", "Idempotency-Key"]


async def test_a_submission_whose_start_had_no_answer_says_so_and_its_retry_gets_the_case(
        api, services, keys, monkeypatch, database):
    """The workflow really starts; only its answer is lost on the way back, as when Temporal times out."""
    real_start = services.temporal.start_workflow

    async def start_then_lose_the_answer(*args, **kwargs):
        await real_start(*args, **kwargs)
        raise RPCTimeoutOrCancelledError("timed out")

    body = complaint(channel_ref=None)
    monkeypatch.setattr(services.temporal, "start_workflow", start_then_lose_the_answer)
    lost = await api.post("/v1/cases", json=body, headers={**bearer(keys.cs_agent)})
    monkeypatch.undo()

    assert lost.status_code == 503
    assert lost.json()["error"]["code"] == "outcome_unknown"
    assert "may have been made" in lost.json()["error"]["message"]
    retried = await api.post("/v1/cases", json=body,
                             headers={**bearer(keys.cs_agent), "Idempotency-Key": lost.headers["Idempotency-Key"]})
    assert retried.status_code == 200, retried.text
    reference = retried.json()["reference"]

    async def received() -> list[dict]:
        return actions(await read_case(api, keys.auditor, reference), "received")

    assert len(await eventually(received)) == 1


async def test_an_action_on_a_finished_case_is_case_closed_and_on_no_case_not_found(
        api, keys, temporal_client, services):
    """Temporal answers both with the same NOT_FOUND; the workflow's own status tells them apart."""
    case = await submit(api, keys.channel)
    rejected = await api.post(f"/v1/cases/{case['reference']}/reject", json={"reason": "duplicate"},
                              headers=bearer(keys.cs_agent))
    assert rejected.status_code == 200
    await temporal_client.get_workflow_handle(workflow_id(case["reference"])).result()
    request = TriageRequest(Actor(role="cs_agent"), "HR")
    body = TriageBody(department="HR")

    with pytest.raises(ApiError) as closed:
        await updates.send_update(services, case["reference"], CaseWorkflow.triage, request, body=body,
                                  idempotency_key=None)
    with pytest.raises(ApiError) as missing:
        await updates.send_update(services, "C-1999-999999", CaseWorkflow.triage, request, body=body,
                                  idempotency_key=None)

    assert (closed.value.status, closed.value.code) == (409, "case_closed")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
