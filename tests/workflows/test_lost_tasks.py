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
from sqlmodel import select

from api.app import create_app
from core.verify import compare
from store.case_record import read_record
from store.models import Delivery, OutboxMessage
from tests.conftest import REPO, running_workers, services_for
from tests.helpers import bearer, complaint, eventually, submit
from worker import build_outbox_sender
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


async def test_the_message_of_a_lost_task_is_never_sent_and_its_rerun_sends_it_once(
        lost_settings, database, temporal_client, keys):
    """The sender runs while the task that wrote the department's reminder is lost: it waits for the task's
    end in the history, finds it timed out, marks the row lost and never sends it; the rerun writes the step
    again, and that row is confirmed and settled, once."""
    services = services_for(lost_settings, database, temporal_client)
    dying = start_dying_worker(lost_settings, "department_reminded")
    stop_sending = asyncio.Event()
    sending = asyncio.create_task(build_outbox_sender(temporal_client, lost_settings, database).run(stop_sending))
    try:
        transport = httpx.ASGITransport(app=create_app(services=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            reference = (await submit(api, keys.channel, complaint()))["reference"]
            await asyncio.to_thread(dying.wait, 90)

            async def reminder_rows(dispatch: str | None = None):
                async with database.session() as session:
                    rows = (await session.exec(select(OutboxMessage).where(
                        OutboxMessage.reference == reference, OutboxMessage.template == "department_reminder")
                    )).all()
                return [row for row in rows if dispatch is None or row.dispatch == dispatch] or None

            # Temporal times the task out after WORKFLOW_TASK_TIMEOUT_SECONDS; the sender reads that in the history.
            (lost,) = await eventually(lambda: reminder_rows("lost"), timeout=WORKFLOW_TASK_TIMEOUT_SECONDS + 10)
            assert lost.status == "pending"
            async with database.session() as session:
                assert (await session.exec(select(Delivery).where(Delivery.outbox_id == lost.id))).all() == []

            async with running_workers(temporal_client, lost_settings, database):
                async def settled_once():
                    rows = await reminder_rows()
                    return rows if rows and [row.status != "pending" for row in rows] == [True] else None

                (rerun,) = await eventually(settled_once, timeout=60)
                # The rerun's own write replaced the lost one; it was confirmed in the history, then settled.
                assert rerun.written_in_task > lost.written_in_task and rerun.dispatch == "confirmed"
                assert rerun.attempts == 0
    finally:
        stop_sending.set()
        await sending
        dying.kill()
        dying.wait()
