"""Backup and restore of the application database, as docs/operations.md tells an operator to do them.

Cases are made, the database is dumped with the embedded PostgreSQL's own `pg_dump`, dropped, made anew
empty and restored with `pg_restore`; then the cases continue (a staff step is recorded on a restored case,
a new case takes the next reference) and `complaints verify` finds every record equal to its workflow.

The test has a database of its own on the session's PostgreSQL and a Temporal of its own: references start
again at 1 in a new database, and its cases' workflow ids must meet no other test's.
"""

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from temporalio.client import Client

from api.app import create_app
from api.auth import create_api_key
from core.embedded import TemporalDevServer, free_port, postgres_binaries, start_in_background, stop_process
from core.settings import Settings
from core.temporal import connect_when_ready
from core.timekeeping import policy_at
from domain.kinds import Channel, Role
from store.case_record import read_record
from store.db import Database, create_database_if_missing
from store.migrate import seed_departments, upgrade_to_head
from tests.conftest import CALM_WORKING_DAY_SECONDS, REPO, running_workers, services_for
from tests.helpers import bearer, complaint, eventually
from workflows.case import CaseWorkflow, workflow_id

pytestmark = pytest.mark.asyncio

CASES = 3


@pytest.fixture(scope="module")
def own_temporal() -> Iterator[str]:
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-restore-"))
    server = TemporalDevServer(data_dir, port=free_port(), headless=True)
    process = start_in_background(server, data_dir / "temporal.log")
    try:
        yield server.address
    finally:
        stop_process(process, server.stop_signal)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def database_url(servers) -> str:
    """A database of the test's own on the session's server, migrated and seeded as `complaints migrate` does."""
    name = f"complaints_restore_{secrets.token_hex(4)}"
    url = _url_of(servers.database_url, name)
    create_database_if_missing(_url_of(servers.database_url, "postgres"), name)
    upgrade_to_head(url)
    seed_departments(url, policy_at(REPO / "policy.toml").departments)
    return url


def _url_of(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _run(program: str, *args: str) -> None:
    done = subprocess.run([str(postgres_binaries() / program), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{program}: {done.stderr}"


def dump(url: str, file: Path) -> None:
    """What the nightly backup runs: one consistent snapshot, in the custom format pg_restore reads."""
    _run("pg_dump", "--format=custom", "--no-owner", f"--file={file}", f"--dbname={url}")


def wipe(url: str) -> None:
    """The disaster: the database is gone, and an empty one of the same name is all there is."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_url_of(url, "postgres"), autocommit=True) as connection:
        connection.execute(f'drop database "{name}" with (force)')
        connection.execute(f'create database "{name}"')


def restore(url: str, file: Path) -> None:
    _run("pg_restore", "--exit-on-error", "--no-owner", f"--dbname={url}", str(file))


@dataclass
class Stack:
    api: httpx.AsyncClient
    database: Database
    temporal: Client


@contextlib.asynccontextmanager
async def running_stack(settings: Settings) -> AsyncIterator[Stack]:
    """The worker, the sender and the API on the test's database and Temporal, until the block ends."""
    database = Database(settings.database_url)
    temporal = await connect_when_ready(settings)
    try:
        async with running_workers(temporal, settings, database):
            transport = httpx.ASGITransport(app=create_app(services=services_for(settings, database, temporal)))
            async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
                yield Stack(api, database, temporal)
    finally:
        await database.dispose()


async def recorded(stack: Stack, reference: str) -> list[str]:
    """The case's steps once its record holds exactly those of its workflow's history (waiting for that)."""
    handle = stack.temporal.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))

    async def equal() -> list[str] | None:
        steps = await handle.query(CaseWorkflow.recorded_steps)
        record = await read_record(stack.database, reference)
        return steps if record is not None and record.step_keys == steps else None

    return await eventually(equal)


async def submit(stack: Stack, channel_key: str) -> str:
    answer = await stack.api.post("/v1/cases", json=complaint(), headers=bearer(channel_key))
    assert answer.status_code == 201, answer.text
    return answer.json()["reference"]


def verify(settings: Settings) -> subprocess.CompletedProcess:
    """`complaints verify`, as the operator runs it after a restore."""
    env = {**os.environ, "DATABASE_URL": settings.database_url, "TEMPORAL_ADDRESS": settings.temporal_address,
           "COMPLAINTS_CODEC_KEYS": settings.resolved_codec_keys(), "COMPLAINTS_DATA_DIR": str(settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "core.cli", "verify"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def tables(url: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()[0]


async def test_a_restored_database_carries_on_with_its_cases(settings, database_url, own_temporal, tmp_path):
    configured = settings.model_copy(update={
        "database_url": database_url, "temporal_address": own_temporal, "task_queue": "complaints-restore",
        "working_day_seconds": CALM_WORKING_DAY_SECONDS})
    backup = tmp_path / "complaints.dump"
    async with running_stack(configured) as stack:
        _, channel_key = await create_api_key(stack.database, role=Role.CHANNEL, name="restore channel",
                                              department=None, channels=list(Channel))
        _, agent_key = await create_api_key(stack.database, role=Role.CS_AGENT, name="restore agent", department=None)
        references = [await submit(stack, channel_key) for _ in range(CASES)]
        before = {reference: await recorded(stack, reference) for reference in references}
        # The nightly backup, taken while the service runs.
        await asyncio.to_thread(dump, database_url, backup)
    schema = tables(database_url)

    await asyncio.to_thread(wipe, database_url)
    assert tables(database_url) == 0
    await asyncio.to_thread(restore, database_url, backup)
    assert tables(database_url) == schema

    async with running_stack(configured) as stack:
        # The keys were in the backup too; the restored cases take their next step, recorded once.
        first = references[0]
        triaged = await stack.api.post(f"/v1/cases/{first}/triage", json={"department": "HR"},
                                       headers=bearer(agent_key))
        assert triaged.status_code == 200, triaged.text
        after = await eventually(lambda: _longer(stack, first, before[first]))
        assert after[:len(before[first])] == before[first] and len(after) == len(before[first]) + 1
        # The reference sequence came back with the rows: a new case takes the next number, no one's workflow id.
        newest = await submit(stack, channel_key)
        assert newest not in references
        await recorded(stack, newest)
        # Every case with a row or a workflow: the restored rows equal what their workflows say.
        found = await asyncio.to_thread(verify, configured)
    assert found.returncode == 0, found.stdout + found.stderr
    assert f"{CASES + 1} cases checked; 0 records differ" in found.stdout


async def _longer(stack: Stack, reference: str, steps: list[str]) -> list[str] | None:
    now = await recorded(stack, reference)
    return now if len(now) > len(steps) else None
