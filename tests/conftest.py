"""Fixtures: a real PostgreSQL and a real Temporal dev server for the whole session, a worker on a compressed calendar.

Nothing here is fake: the servers are the same binaries `complaints dev` runs.
"""

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.auth import create_api_key
from api.deps import Services
from core.embedded import (
    EmbeddedPostgres,
    TemporalDevServer,
    free_port,
    start_in_background,
    stop_process,
)
from core.settings import Settings
from core.temporal import connect_when_ready
from core.timekeeping import policy_at, timekeeping
from domain.kinds import Channel, Role
from store.db import Database
from store.migrate import seed_departments, upgrade_to_head
from tests.closing import stop_every_running_case
from tests.outside import HttpSink, MailServer, serve_http_sink, start_mail_server
from worker import build_delivery_worker, build_outbox_sender, build_worker

REPO = Path(__file__).resolve().parent.parent
# Long enough that an HTTP round trip is a small part of a day, short enough to watch escalations.
WORKING_DAY_SECONDS = 2.0
# A fixed key for tests only: the committed replay histories are sealed with it.
TEST_CODEC_KEYS = "test1:dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="


@dataclass
class RunningServers:
    database_url: str
    temporal_address: str
    data_dir: Path


@pytest.fixture(scope="session")
def servers() -> Iterator[RunningServers]:
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-test-"))
    postgres = EmbeddedPostgres(data_dir)
    temporal = TemporalDevServer(data_dir, port=free_port(), headless=True)
    postgres_process = start_in_background(postgres, data_dir / "postgres.log")
    temporal_process = None
    try:
        postgres.ensure_database()
        upgrade_to_head(postgres.url)
        seed_departments(postgres.url, policy_at(REPO / "policy.toml").departments)
        temporal_process = start_in_background(temporal, data_dir / "temporal.log")
        yield RunningServers(postgres.url, temporal.address, data_dir)
    finally:
        if temporal_process:
            stop_process(temporal_process, temporal.stop_signal)
        stop_process(postgres_process, postgres.stop_signal)
        if not os.environ.get("KEEP_TEST_DATA"):
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mail_server(servers: RunningServers) -> Iterator[MailServer]:
    """The SMTP server every message of the session goes to; it keeps them as .eml files."""
    server = start_mail_server(servers.data_dir / "mail")
    yield server
    server.controller.stop()


@pytest.fixture(scope="session")
async def http_sink() -> AsyncIterator[HttpSink]:
    """The SMS gateway (/sms) and Tajawob's callback URL (/tajawob), recording what they receive."""
    sink = HttpSink()
    server, task = await serve_http_sink(sink)
    yield sink
    server.should_exit = True
    await task


DIRECTOR_GENERAL_EMAIL = "director.general@moi.test"
TAJAWOB_CALLBACK_SECRET = "tajawob-test-secret"


@pytest.fixture(scope="session")
def settings(servers: RunningServers, mail_server: MailServer, http_sink: HttpSink) -> Settings:
    return Settings(
        COMPLAINTS_SMTP_HOST=mail_server.host,
        COMPLAINTS_SMTP_PORT=mail_server.port,
        COMPLAINTS_SMS_URL=http_sink.url("/sms"),
        COMPLAINTS_CHANNEL_CALLBACKS={"tajawob": {"url": http_sink.url("/tajawob"), "secret": TAJAWOB_CALLBACK_SECRET}},
        COMPLAINTS_DIRECTOR_GENERAL_EMAIL=DIRECTOR_GENERAL_EMAIL,
        DATABASE_URL=servers.database_url,
        TEMPORAL_ADDRESS=servers.temporal_address,
        COMPLAINTS_TASK_QUEUE="complaints-test",
        COMPLAINTS_DATA_DIR=servers.data_dir,
        COMPLAINTS_POLICY=REPO / "policy.toml",
        COMPLAINTS_WORKING_DAY_SECONDS=WORKING_DAY_SECONDS,
        COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS,
    )


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.resolved_database_url())
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def temporal_client(settings: Settings):
    return await connect_when_ready(settings)


@pytest.fixture(scope="session")
async def worker(temporal_client, settings: Settings, database: Database) -> AsyncIterator[None]:
    """The case worker and the sender for the session, built exactly as `complaints worker` and
    `complaints delivery` build them."""
    async with running_workers(temporal_client, settings, database):
        yield


@contextlib.asynccontextmanager
async def running_workers(temporal_client, settings: Settings, database: Database,
                          **worker_options) -> AsyncIterator[None]:
    """The case worker (with `worker_options`, e.g. a patch activation callback) and the sender, until the block
    ends."""
    workers = [build_worker(temporal_client, settings, database, **worker_options),
               build_delivery_worker(temporal_client, settings, database)]
    tasks = [asyncio.create_task(running.run()) for running in workers]
    # The outbox's sender runs beside the delivery worker, as in `complaints delivery`.
    stop_sending = asyncio.Event()
    tasks.append(asyncio.create_task(build_outbox_sender(temporal_client, settings, database).run(stop_sending)))
    for task in tasks:
        # A worker that stops on its own would leave every later test waiting on timeouts: say why, loudly.
        task.add_done_callback(_report_worker_stop)
    try:
        yield
    finally:  # also when the block fails: a worker left running keeps the session from ending
        stop_sending.set()
        for running in workers:
            await running.shutdown()
        await asyncio.gather(*tasks)


# For modules that make many cases and test no deadline (the fuzzer): on this calendar nothing falls
# due while they run, so their cases stay where the requests put them and never remind anyone.
CALM_WORKING_DAY_SECONDS = 3600.0


@pytest.fixture(scope="session")
def calm_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"task_queue": "complaints-test-calm",
                                       "working_day_seconds": CALM_WORKING_DAY_SECONDS})


@pytest.fixture(scope="session")
async def calm_worker(temporal_client, calm_settings: Settings, database: Database) -> AsyncIterator[None]:
    async with running_workers(temporal_client, calm_settings, database):
        yield


@pytest.fixture(scope="session")
def calm_services(calm_settings: Settings, database: Database, temporal_client) -> Services:
    return services_for(calm_settings, database, temporal_client)


@pytest.fixture(scope="module", autouse=True)
async def stop_the_cases_of_the_module(request):
    """Stop every case still running when a module ends, so breached ones stop reminding the DG every 2 s.

    Left running, they pile up over the session: each reminder is a step and an email, and by the
    last modules the worker spends its time on reminders nobody reads, and updates time out.
    """
    items = [item for item in request.session.items if item.module is request.module]
    if not any("temporal_client" in item.fixturenames for item in items):
        yield  # unit tests and the dev stack's own test start no case here
        return
    temporal_client = request.getfixturevalue("temporal_client")
    yield
    await stop_every_running_case(temporal_client)


def _report_worker_stop(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        import traceback

        traceback.print_exception(task.exception())
        print("THE SESSION WORKER STOPPED; later tests will time out", flush=True)


@pytest.fixture(scope="session")
def services(settings: Settings, database: Database, temporal_client) -> Services:
    return services_for(settings, database, temporal_client)


def services_for(settings: Settings, database: Database, temporal_client) -> Services:
    return Services(
        settings=settings,
        database=database,
        temporal=temporal_client,
        timekeeping=timekeeping(settings),
    )


@pytest.fixture(scope="session")
async def api(services: Services, worker) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over ASGI, on the real servers, with the worker running."""
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


@dataclass
class Keys:
    """One API key per role; department keys for two departments."""

    channel: str
    cs_agent: str
    department: str
    other_department: str
    director_general: str
    auditor: str
    admin: str

    def header(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


DEPARTMENT = "CIVIL_STATUS"
OTHER_DEPARTMENT = "HR"


@pytest.fixture(scope="session")
async def keys(database: Database) -> Keys:
    async def key(role: Role, department: str | None = None) -> str:
        # The session's channel key speaks for every channel; tests/api/test_channel_keys.py binds keys to fewer.
        channels = list(Channel) if role == Role.CHANNEL else None
        _, secret = await create_api_key(database, role=role, name=f"test {role}", department=department,
                                         channels=channels)
        return secret

    return Keys(
        channel=await key(Role.CHANNEL),
        cs_agent=await key(Role.CS_AGENT),
        department=await key(Role.DEPARTMENT, DEPARTMENT),
        other_department=await key(Role.DEPARTMENT, OTHER_DEPARTMENT),
        director_general=await key(Role.DIRECTOR_GENERAL),
        auditor=await key(Role.AUDITOR),
        admin=await key(Role.ADMIN),
    )
