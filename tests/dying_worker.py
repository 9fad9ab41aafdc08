"""A case worker that dies (SIGKILL-like, no cleanup) right after it has committed one chosen step.

Run as `python -m tests.dying_worker ACTION` with the usual settings in the environment. The step is
in PostgreSQL, but the workflow task that ran it never completes: Temporal times the task out and
runs the workflow again from its history on the next worker, as after a crash in production.
"""

import asyncio
import os
import sys

from temporalio import activity

from activities.case_store import CaseStore
from core.settings import get_settings
from core.temporal import connect_when_ready
from store.db import Database
from worker import build_worker
from workflows.messages import StepRecord


class DyingCaseStore(CaseStore):
    def __init__(self, database: Database, die_after: str) -> None:
        super().__init__(database)
        self._die_after = die_after

    @activity.defn(name="record_step")
    async def record_step(self, record: StepRecord) -> None:
        await super().record_step(record)
        if record.action == self._die_after:
            os._exit(9)


async def main(die_after: str) -> None:
    settings = get_settings()
    database = Database(settings.resolved_database_url())
    client = await connect_when_ready(settings)
    worker = build_worker(client, settings, database, case_store=DyingCaseStore(database, die_after))
    print("polling", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
