"""Steps whose writes outlast Temporal's workflow-task heartbeat leave histories that replay.

When local activities run longer than 8 s (80 % of the 10 s workflow task timeout: PostgreSQL stopped,
overloaded or holding a lock, or every local-activity slot taken in a burst), the worker heartbeats
the workflow task: it completes it with the commands it has so far and goes on in a new one. The
SDK replays such a history differently from the live run (it merges a task that completed empty with
the next, and shows the later task's clock from its start), so these tests replay the histories of
real cases that went through it, as a new worker would after a restart.
"""

import asyncio

import httpx
import psycopg
import pytest
from temporalio.client import WorkflowHistory

from api.app import create_app
from core.temporal import data_converter
from core.verify import replay_failure
from tests.conftest import DEPARTMENT, WORKING_DAY_SECONDS, running_workers, services_for
from tests.helpers import bearer, complaint, eventually, submit
from workflows.case import workflow_id

SLOW_QUEUE = "complaints-test-slow-steps"
# Past the heartbeat at 8 s, short of a second one at 16 s.
LOCK_SECONDS = 11
# More cases at once than the case worker has local-activity slots (worker.CASE_WORKER_CONNECTIONS).
BURST = 18

# The SDK heartbeats a workflow task at 80 % of its 10 s timeout, and the next task is scheduled at once.
HEARTBEAT_AFTER_SECONDS = 7.5


@pytest.fixture
def slow_settings(settings):
    return settings.model_copy(update={"task_queue": SLOW_QUEUE})


@pytest.fixture
async def api(slow_settings, database, temporal_client):
    services = services_for(slow_settings, database, temporal_client)
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client, \
            running_workers(temporal_client, slow_settings, database):
        yield client


async def test_a_triage_whose_step_is_held_past_the_heartbeat_replays(api, slow_settings, temporal_client, keys):
    reference = (await submit(api, keys.channel, complaint()))["reference"]
    await eventually(lambda: _status(api, keys, reference, "received"))
    # The department's reminder falls due two working days after intake, while the triage's step is held.
    assert LOCK_SECONDS > 2 * WORKING_DAY_SECONDS
    async with await psycopg.AsyncConnection.connect(slow_settings.database_url) as lock:
        await lock.execute("SELECT 1 FROM cases WHERE reference = %s FOR UPDATE", (reference,))
        triage = asyncio.create_task(api.post(f"/v1/cases/{reference}/triage", json={"department": DEPARTMENT},
                                              headers=bearer(keys.cs_agent), timeout=60))
        await asyncio.sleep(LOCK_SECONDS)
        await lock.rollback()
    answer = await triage
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "with_department"
    history = await temporal_client.get_workflow_handle(workflow_id(reference)).fetch_history()

    assert _heartbeats(history) >= 1, "the triage's step was not held past a workflow-task heartbeat"
    assert await replay_failure(history, data_converter(slow_settings)) is None


async def test_a_burst_whose_first_writes_wait_past_the_heartbeat_replays(api, slow_settings, temporal_client,
                                                                          keys):
    async with await psycopg.AsyncConnection.connect(slow_settings.database_url) as lock:
        # No new case row until the lock goes: every case's first local activity waits, or waits for a slot.
        await lock.execute("LOCK TABLE cases IN SHARE MODE")
        references = [(await submit(api, keys.channel, complaint()))["reference"] for _ in range(BURST)]
        await asyncio.sleep(LOCK_SECONDS)
        await lock.rollback()
    # Two working days on, each case has been reminded in the task after its first.
    await asyncio.sleep(2 * WORKING_DAY_SECONDS)
    histories = await asyncio.gather(*(_history_once_received(api, keys, temporal_client, reference)
                                       for reference in references))

    # Those beyond the worker's workflow-task slots start once a slot is free, and need not heartbeat.
    assert sum(1 for history in histories if _heartbeats(history)) >= BURST // 2
    failures = {history.workflow_id: failure for history in histories
                if (failure := await replay_failure(history, data_converter(slow_settings)))}
    assert not failures


async def _history_once_received(api, keys, temporal_client, reference: str) -> WorkflowHistory:
    await eventually(lambda: _status(api, keys, reference, "received"), timeout=30)
    return await temporal_client.get_workflow_handle(workflow_id(reference)).fetch_history()


async def _status(api, keys, reference: str, status: str) -> bool:
    response = await api.get(f"/v1/cases/{reference}", headers=bearer(keys.cs_agent))
    return response.status_code == 200 and response.json()["status"] == status


def _heartbeats(history: WorkflowHistory) -> int:
    """Workflow tasks that lasted until the heartbeat and had the next one scheduled at once."""
    events = history.events  # event i + 1 is events[i]
    count = 0
    for event in events:
        if event.WhichOneof("attributes") != "workflow_task_completed_event_attributes":
            continue
        completed = event.event_time.ToDatetime()
        started = events[event.workflow_task_completed_event_attributes.started_event_id - 1].event_time.ToDatetime()
        next_scheduled = next((later.event_time.ToDatetime() for later in events[event.event_id:]
                               if later.WhichOneof("attributes") == "workflow_task_scheduled_event_attributes"), None)
        lasted_until_the_heartbeat = (completed - started).total_seconds() >= HEARTBEAT_AFTER_SECONDS
        count += int(lasted_until_the_heartbeat and next_scheduled is not None
                     and (next_scheduled - completed).total_seconds() < 1)
    return count
