"""A workflow task lost between a step's commit and the task's completion leaves the record true.

The worker dies right after committing a step (tests/dying_worker.py); while no worker runs, customer
service rejects the case. Temporal runs the workflow again from its history on a new worker: the
Update runs first and takes the step number the lost task had used. The record must end as the
workflow does: rejected, with the steps of its history once each, and no message of the lost step.
"""

import asyncio
import os
import subprocess
import sys

import httpx
import pytest

from api.app import create_app
from core.verify import compare
from store.case_record import read_record
from tests.conftest import REPO, running_workers, services_for
from tests.helpers import bearer, complaint, eventually, submit
from workflows.case import CaseWorkflow, workflow_id

LOST_TASK_QUEUE = "complaints-test-lost-task"
# Temporal's default for a workflow task that was started and never completed.
WORKFLOW_TASK_TIMEOUT_SECONDS = 10


@pytest.fixture
def lost_settings(settings):
    return settings.model_copy(update={"task_queue": LOST_TASK_QUEUE})


def start_dying_worker(settings, die_after: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "TEMPORAL_ADDRESS": settings.temporal_address,
           "COMPLAINTS_TASK_QUEUE": settings.task_queue, "COMPLAINTS_CODEC_KEYS": settings.resolved_codec_keys(),
           "COMPLAINTS_WORKING_DAY_SECONDS": str(settings.working_day_seconds),
           "COMPLAINTS_POLICY": str(settings.policy_path), "COMPLAINTS_DATA_DIR": str(settings.data_dir)}
    return subprocess.Popen([sys.executable, "-m", "tests.dying_worker", die_after], cwd=REPO, env=env)


async def test_an_update_that_takes_a_lost_steps_number_leaves_the_record_as_the_workflow(
        lost_settings, database, temporal_client, keys):
    services = services_for(lost_settings, database, temporal_client)
    dying = start_dying_worker(lost_settings, "department_reminded")
    try:
        transport = httpx.ASGITransport(app=create_app(services=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            case = await submit(api, keys.channel, complaint())
            reference = case["reference"]
            # The department reminder falls due after two working days; the worker commits it and dies.
            await asyncio.to_thread(dying.wait, 60)
            lost = await read_record(database, reference)
            assert lost.step_keys[-1].endswith("department_reminded")

            rejection = asyncio.create_task(api.post(f"/v1/cases/{reference}/reject", json={"reason": "duplicate"},
                                                     headers=bearer(keys.cs_agent)))
            # No worker until Temporal has timed the lost task out: the task it schedules then carries the Update.
            await asyncio.sleep(WORKFLOW_TASK_TIMEOUT_SECONDS + 1)
            async with running_workers(temporal_client, lost_settings, database):
                answer = await rejection
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "rejected"
                handle = temporal_client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
                steps = await handle.query(CaseWorkflow.recorded_steps)
                assert steps[-1].endswith("-reject")
                assert steps[-1].split("-")[0] == lost.step_keys[-1].split("-")[0], "the Update took the lost number"

                divergence = await eventually(lambda: _agrees(database, temporal_client, reference), timeout=20)
                record = await read_record(database, reference)
                assert record.row["status"] == "rejected"
                assert record.step_keys == steps
                assert not any("department_reminder" in key for key in record.message_keys), divergence
    finally:
        dying.kill()
        dying.wait()


async def _agrees(database, temporal_client, reference) -> str:
    divergence = await compare(database, temporal_client, reference)
    assert not divergence.problems, divergence.problems
    return "agrees"
