"""`complaints verify` lists where a record differs from its workflow, and `complaints repair` brings it back.

The divergence is the one a lost workflow task left before the store knew tasks: a phantom step
(with its message and its row change) that the workflow's history does not hold.
"""

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update

from activities.case_store import CaseStore
from api.app import create_app
from store.case_record import CASES, read_record
from tests.conftest import REPO
from tests.helpers import eventually, submit
from workflows.case import CaseWorkflow, workflow_id
from workflows.messages import CaseSnapshot, Notification, StepRecord

# Hour-long working days: no step of the case's own falls due while the test looks (one would replace the phantom).
pytestmark = pytest.mark.usefixtures("calm_worker")


@pytest.fixture
async def calm_api(calm_services):
    transport = httpx.ASGITransport(app=create_app(services=calm_services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


def complaints(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "TEMPORAL_ADDRESS": settings.temporal_address,
           "COMPLAINTS_CODEC_KEYS": settings.resolved_codec_keys(), "COMPLAINTS_DATA_DIR": str(settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


async def test_verify_lists_a_phantom_step_and_repair_removes_it(calm_api, keys, database, temporal_client, settings):
    reference = (await submit(calm_api, keys.channel))["reference"]
    handle = temporal_client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
    steps = await eventually(lambda: handle.query(CaseWorkflow.recorded_steps))
    await eventually(lambda: _recorded(database, reference, steps))
    number = len(steps) + 1
    # What a lost task left before this release: a step the history never held, and its row change.
    snapshot = CaseSnapshot("rejected", "complaint", None, None, 1, False, *(await _dues(database, reference)))
    phantom = StepRecord(reference, number, "reject", datetime.now(UTC), "cs_agent#1", snapshot, "received",
                         "rejected", notifications=[Notification("submitter", "rejection")], written_in_task=10**9)
    await CaseStore(database).record_step(phantom)
    async with database.transaction() as session:  # and the row guard that then refused the true steps
        await session.exec(update(CASES).where(CASES.c.reference == reference).values(last_task=0))

    found = await asyncio.to_thread(complaints, settings, "verify", reference)
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"step {phantom.step_key} is not in the workflow's history" in found.stdout
    assert "status: record says 'rejected', workflow 'received'" in found.stdout
    assert "run `complaints repair`" in found.stdout

    repaired = await asyncio.to_thread(complaints, settings, "repair", reference)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "1 lost steps and 1 unsent messages removed" in repaired.stdout

    clean = await asyncio.to_thread(complaints, settings, "verify", reference)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "1 cases checked; 0 records differ" in clean.stdout
    record = await read_record(database, reference)
    assert record.row["status"] == "received" and record.step_keys == steps


async def _recorded(database, reference: str, steps: list[str]) -> bool:
    record = await read_record(database, reference)
    return record is not None and record.step_keys == steps


async def _dues(database, reference: str):
    record = await read_record(database, reference)
    return record.row["department_due"], record.row["answer_due"]

