"""The bare side of `make bench`: the least an app on the same Temporal server could do for each figure.

- `BareReceipt`: a workflow whose first task is its last (what "a case's first step" costs at the least);
- `BareTimer`: a workflow that only waits on a timer until a given instant (a deadline and nothing else);
- `BareUpdates`: a workflow with a bare Update that changes a counter and returns it (a staff action's least);
- `app`: a FastAPI app with an endpoint that only starts a `BareReceipt` and one that only sends the Update,
  served by uvicorn as a process like the project's API (`uvicorn bench.bare:app`);
- `python bench/bare.py worker`: a worker for the three workflows, polling the way the case worker polls.

No codec, no database, no activities: plain Temporal with the default data converter. Settings come from
BARE_TEMPORAL_ADDRESS and BARE_TASK_QUEUE.
"""

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from fastapi import FastAPI
    from temporalio.client import Client
    from temporalio.worker import PollerBehaviorSimpleMaximum, Worker


def _address() -> str:
    return os.environ["BARE_TEMPORAL_ADDRESS"]


def _task_queue() -> str:
    return os.environ.get("BARE_TASK_QUEUE", "bare")


@workflow.defn(name="BareReceipt")
class BareReceipt:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name="BareTimer")
class BareTimer:
    @workflow.run
    async def run(self, due_at: str) -> None:
        remaining = datetime.fromisoformat(due_at) - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining)


@workflow.defn(name="BareUpdates")
class BareUpdates:
    def __init__(self) -> None:
        self.count = 0
        self.finished = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.finished)
        return self.count

    @workflow.update
    def touch(self) -> int:
        self.count += 1
        return self.count

    @workflow.signal
    def finish(self) -> None:
        self.finished = True


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    app.state.client = await Client.connect(_address())
    yield


app = FastAPI(lifespan=_lifespan)


@app.post("/bare/cases", status_code=201)
async def start_case() -> dict:
    """Start a workflow, and nothing else."""
    workflow_id = f"bare-case-{uuid.uuid4().hex}"
    await app.state.client.start_workflow(BareReceipt.run, id=workflow_id, task_queue=_task_queue())
    return {"id": workflow_id}


@app.post("/bare/updates/{workflow_id}")
async def touch(workflow_id: str) -> dict:
    """Send the bare Update and answer with its result."""
    count = await app.state.client.get_workflow_handle(workflow_id).execute_update(BareUpdates.touch)
    return {"count": count}


async def run_worker() -> None:
    client = await Client.connect(_address())
    # The case worker's polling (worker.py, measured in DESIGN.md), so the figures compare what runs, not how
    # the tasks are fetched.
    worker = Worker(client, task_queue=_task_queue(), workflows=[BareReceipt, BareTimer, BareUpdates],
                    workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(maximum=20),
                    nonsticky_to_sticky_poll_ratio=1.0)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    if sys.argv[1:] != ["worker"]:
        sys.exit("usage: bench/bare.py worker")
    asyncio.run(run_worker())
