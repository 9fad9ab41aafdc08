"""The servers a benchmark or drill runs against: its own PostgreSQL and Temporal dev server in a temp
data dir, the case worker and the sender as real processes (`complaints worker`, `complaints delivery`),
and the real API app in this process. Nothing is shared with `make dev` or the tests.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.app import create_app  # noqa: E402
from api.auth import create_api_key  # noqa: E402
from api.deps import Services  # noqa: E402
from core.codec import new_key_spec  # noqa: E402
from core.embedded import (  # noqa: E402
    EmbeddedPostgres,
    TemporalDevServer,
    free_port,
    start_in_background,
    stop_process,
)
from core.settings import Settings  # noqa: E402
from core.temporal import connect_when_ready  # noqa: E402
from core.timekeeping import policy_at, timekeeping  # noqa: E402
from domain.kinds import Channel, Role  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import seed_departments, upgrade_to_head  # noqa: E402

# Settings the workers must not inherit from this shell: the stack decides where everything goes.
_OWN_PREFIXES = ("COMPLAINTS_", "DATABASE_URL", "TEMPORAL_")


def cpu_seconds(process: subprocess.Popen | psutil.Process) -> float:
    times = psutil.Process(process.pid).cpu_times()
    return times.user + times.system


def start_worker(env: dict[str, str], log: Path, part: str = "worker") -> subprocess.Popen:
    """`complaints worker`, or with part="delivery" the sender."""
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", part], cwd=REPO, env=env,
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


@dataclass
class Stack:
    data_dir: Path
    postgres: EmbeddedPostgres
    temporal: TemporalDevServer
    env: dict[str, str]
    settings: Settings
    services: Services
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # The servers by name ("postgres", "temporal", "mailsink"): (process, its stop signal); a fault may replace one.
    servers: dict[str, tuple[subprocess.Popen, int]] = field(default_factory=dict)

    @property
    def database(self) -> Database:
        return self.services.database

    def start(self, part: str, name: str | None = None) -> subprocess.Popen:
        """Start (or start again) `complaints worker` or `complaints delivery`; its output goes to <name>.log.

        `name` (default: the part) tells processes of one part apart, e.g. a second case worker "worker-2"."""
        name = name or part
        process = start_worker(self.env, self.data_dir / f"{name}.log", part)
        self.processes[name] = process
        return process

    def kill(self, part: str) -> None:
        process = self.processes[part]
        process.send_signal(signal.SIGCONT)  # a stopped process must not stay stopped after its kill
        process.kill()
        process.wait()

    def restart_server(self, name: str) -> subprocess.Popen:
        """Start "postgres" or "temporal" again on its data (and port) after it died; wait until it answers."""
        server = self.postgres if name == "postgres" else self.temporal
        process = start_in_background(server, self.data_dir / f"{name}.log")
        self.servers[name] = (process, server.stop_signal)
        return process

    async def key(self, role: Role, department: str | None = None) -> tuple[int, str]:
        """A new API key: (its id, as timeline actors name it; the key)."""
        # A bench's channel key speaks for every channel, as the drill submits through several.
        channels = list(Channel) if role == Role.CHANNEL else None
        return await create_api_key(self.database, role=role, name=f"bench {role}", department=department,
                                    channels=channels)

    @contextlib.asynccontextmanager
    async def api(self) -> AsyncIterator[httpx.AsyncClient]:
        """The real app over ASGI; its per-key intake limit lifted, since a benchmark is one key submitting fast."""
        app = create_app(services=self.services)
        app.state.intake_limiter.max_failures = 1_000_000
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            yield client


DIRECTOR_GENERAL_EMAIL = "director.general@moi.test"


def mail_settings(data_dir: Path) -> tuple[list[str], dict[str, str]]:
    """`complaints mailsink` on a free port, and the settings that send the stack's email to it (the DG's too)."""
    port = free_port()
    command = [sys.executable, "-m", "core.cli", "mailsink", "--folder", str(data_dir / "mail"), "--port", str(port)]
    return command, {"COMPLAINTS_SMTP_HOST": "127.0.0.1", "COMPLAINTS_SMTP_PORT": str(port),
                     "COMPLAINTS_DIRECTOR_GENERAL_EMAIL": DIRECTOR_GENERAL_EMAIL}


@contextlib.asynccontextmanager
async def running_stack(working_day_seconds: float, *, keep_data: bool = False, mail: bool = False,
                        parts: tuple[str, ...] = ("worker", "delivery"), **settings: str) -> AsyncIterator[Stack]:
    """The servers and parts; with mail, a mail sink that keeps every message in <data dir>/mail."""
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-bench-"))
    postgres = EmbeddedPostgres(data_dir)
    temporal = TemporalDevServer(data_dir, port=free_port(), headless=True)
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    stack = None
    try:
        servers["postgres"] = (start_in_background(postgres, data_dir / "postgres.log"), postgres.stop_signal)
        postgres.ensure_database()
        upgrade_to_head(postgres.url)
        seed_departments(postgres.url, policy_at(REPO / "policy.toml").departments)
        servers["temporal"] = (start_in_background(temporal, data_dir / "temporal.log"), temporal.stop_signal)
        if mail:
            mailsink, mail_env = mail_settings(data_dir)
            servers["mailsink"] = (subprocess.Popen(mailsink, cwd=REPO, stdout=(data_dir / "mail.log").open("ab"),
                                                    stderr=subprocess.STDOUT), signal.SIGTERM)
            settings = {**mail_env, **settings}
        own = {"DATABASE_URL": postgres.url, "COMPLAINTS_CODEC_KEYS": new_key_spec("bench"),
               "COMPLAINTS_DATA_DIR": str(data_dir), "TEMPORAL_ADDRESS": temporal.address,
               "COMPLAINTS_TASK_QUEUE": "bench", "COMPLAINTS_WORKING_DAY_SECONDS": str(working_day_seconds),
               "COMPLAINTS_POLICY": str(REPO / "policy.toml"), **settings}
        env = {name: value for name, value in os.environ.items() if not name.startswith(_OWN_PREFIXES)} | own
        app_settings = Settings(**own)
        services = Services(app_settings, Database(postgres.url), await connect_when_ready(app_settings),
                            timekeeping(app_settings))
        stack = Stack(data_dir, postgres, temporal, env, app_settings, services, servers=servers)
        for part in parts:
            stack.start(part)
        yield stack
    finally:
        if stack is not None:
            for process in stack.processes.values():
                process.send_signal(signal.SIGCONT)
                stop_process(process, signal.SIGTERM)
            await stack.database.dispose()
        for process, stop_signal in reversed(servers.values()):
            process.send_signal(signal.SIGCONT)  # a server a fault stopped must not stay stopped
            stop_process(process, stop_signal)
        if keep_data:
            print(f"data and logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
