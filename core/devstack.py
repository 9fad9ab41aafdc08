"""`complaints dev`: PostgreSQL, Temporal, the worker and the API on one machine, supervised.

Starts what is not configured elsewhere, applies migrations, restarts a child that dies, and
stops everything in reverse order on Ctrl-C or SIGTERM. State lives under the data dir, so a
second start finds every case and running workflow where the first left them.
"""

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.embedded import EmbeddedPostgres, TemporalDevServer, free_port, wait_for_port
from core.settings import Settings, private_folder, write_private

# The workers finish the sends they have started before they exit (worker.py, SHUTDOWN_GRACE: 45 s).
WORKER_STOP_TIMEOUT = 50.0

RESTART_BACKOFF_SECONDS = (0.5, 1, 2, 5, 10, 30)
# A child that stayed up this long has recovered; its next crash starts the backoff anew.
STABLE_AFTER_SECONDS = 60
PR_SET_PDEATHSIG = 1
# Each process's metrics port (README "Metrics"), as the stack names them.
METRICS_PORTS = (("worker", "COMPLAINTS_WORKER_METRICS_PORT", "worker_metrics_port"),
                 ("sender", "COMPLAINTS_SENDER_METRICS_PORT", "sender_metrics_port"),
                 ("API", "COMPLAINTS_API_METRICS_PORT", "api_metrics_port"))


def _die_with_parent() -> None:
    """Children get SIGTERM if the supervisor itself is killed, so nothing is left behind."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def codec_endpoint(settings: Settings) -> str:
    """The codec endpoint the Temporal UI calls from the operator's browser: the API, at the address the UI's own
    page is on (127.0.0.1), so that the console's SameSite cookie goes with the UI's calls (same site)."""
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    return f"http://{host}:{settings.api_port}/v1/codec"


@dataclass
class Child:
    """One supervised process: how to start it, how to stop it, how to know it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str]
    stop_signal: int = signal.SIGTERM
    popen_kwargs: dict = field(default_factory=dict)
    wait_ready: object = None  # a blocking callable, run in a thread
    stop_timeout: float = 20.0
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    crashes: int = 0

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Own process group: Ctrl-C reaches only the supervisor, which stops children in order.
            start_new_session=True,
            preexec_fn=None if self.popen_kwargs.get("user") else _die_with_parent,
            **self.popen_kwargs,
        )
        self.started_at = time.monotonic()
        asyncio.create_task(self._relay_output(self.process))
        if self.wait_ready:
            await asyncio.to_thread(self.wait_ready)

    async def _relay_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            sys.stdout.write(f"[{self.name}] {line.decode(errors='replace')}")
            sys.stdout.flush()

    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        timeout = self.stop_timeout
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(self.stop_signal)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            say(f"{self.name} did not stop within {timeout:.0f}s; killing it")
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


class DevStack:
    """Starts and supervises the children in dependency order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: list[Child] = []
        self.stopping = asyncio.Event()
        self.env = dict(os.environ)
        self.mail_folder: Path | None = None
        self.metrics_ports: dict[str, str] = {}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stopping.set)
        started = time.monotonic()
        try:
            await self._start_all()
            self._announce(time.monotonic() - started)
            await self._supervise()
        finally:
            await self._stop_all()

    async def _start_all(self) -> None:
        settings = self.settings
        private_folder(settings.data_dir)
        # Made here, once, before the worker and the API both look for them.
        settings.resolved_secret_key()
        settings.resolved_codec_keys()
        if not settings.database_url:
            await self._start_postgres()
        if not settings.temporal_address:
            await self._start_temporal()
        await self._migrate()
        if not settings.smtp_host:
            await self._start_mailsink()
        child_env = {**self.env, "PYTHONUNBUFFERED": "1", **self._metrics_ports()}
        for part in ("worker", "delivery", "api"):
            stopping = {} if part == "api" else {"stop_timeout": WORKER_STOP_TIMEOUT}
            await self._start(Child(part, [sys.executable, "-m", "core.cli", part], child_env, **stopping))
        await self._wait_for_api(self.children[-1])

    def _metrics_ports(self) -> dict[str, str]:
        """Every process exports metrics: on the ports set, else on free ones (kept across restarts)."""
        for _, setting, attribute in METRICS_PORTS:
            self.metrics_ports[setting] = str(getattr(self.settings, attribute) or free_port())
        return self.metrics_ports

    async def _wait_for_api(self, api: Child, timeout: float = 60) -> None:
        """Say "ready" only once the API listens, so the URLs announced answer; a crash is left to supervision."""
        deadline = time.monotonic() + timeout
        while not (api.exited() or self.stopping.is_set() or time.monotonic() > deadline):
            try:
                _, writer = await asyncio.open_connection(self.settings.api_host, self.settings.api_port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return

    async def _start_postgres(self) -> None:
        postgres = EmbeddedPostgres(self.settings.data_dir)
        await asyncio.to_thread(postgres.prepare)

        def ready() -> None:
            postgres.wait_ready()
            postgres.ensure_database()

        await self._start(Child("postgres", postgres.command(), dict(self.env), postgres.stop_signal,
                                postgres.popen_kwargs(), ready))
        write_private(self.settings.embedded_database_url_file, postgres.url + "\n")
        self.env["DATABASE_URL"] = postgres.url

    async def _start_temporal(self) -> None:
        settings = self.settings
        temporal = TemporalDevServer(
            settings.data_dir, port=settings.temporal_port, ui_port=settings.temporal_ui_port,
            namespace=settings.temporal_namespace,
            codec_endpoint=codec_endpoint(settings),
        )
        temporal.prepare()
        await self._start(Child("temporal", temporal.command(), dict(self.env), temporal.stop_signal,
                                temporal.popen_kwargs(), temporal.wait_ready))
        self.env["TEMPORAL_ADDRESS"] = temporal.address

    async def _start_mailsink(self) -> None:
        """No SMTP server configured: email goes to a local one that keeps .eml files in the data dir."""
        port = free_port()
        folder = self.settings.data_dir.resolve() / "mail"
        argv = [sys.executable, "-m", "core.cli", "mailsink", "--folder", str(folder), "--port", str(port)]
        await self._start(Child("mailsink", argv, {**self.env, "PYTHONUNBUFFERED": "1"},
                                wait_ready=lambda: wait_for_port("127.0.0.1", port, timeout=30)))
        self.env.update(COMPLAINTS_SMTP_HOST="127.0.0.1", COMPLAINTS_SMTP_PORT=str(port),
                        COMPLAINTS_SMTP_STARTTLS="false")
        self.mail_folder = folder

    async def _migrate(self) -> None:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "core.cli", "migrate", env=self.env)
        if await process.wait() != 0:
            raise RuntimeError("migrations failed; see above")

    async def _start(self, child: Child) -> None:
        self.children.append(child)
        say(f"starting {child.name}")
        await child.start()

    def _announce(self, seconds: float) -> None:
        settings = self.settings
        api = f"http://{settings.api_host}:{settings.api_port}"
        say(f"ready in {seconds:.1f}s")
        say(f"API docs      {api}/docs")
        say(f"health        {api}/healthz")
        if not settings.temporal_address:
            say(f"Temporal UI   http://127.0.0.1:{settings.temporal_ui_port}  (codec {codec_endpoint(settings)}: "
                "decoded for customer service and auditors signed in to the console, README \"Operators\")")
        say(f"Temporal      {self.env.get('TEMPORAL_ADDRESS')}  namespace {settings.temporal_namespace}")
        host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "::", "") else settings.metrics_host
        for part, setting, _ in METRICS_PORTS:
            say(f"metrics       {part:<6} http://{host}:{self.metrics_ports[setting]}/metrics")
        say(f"data          {settings.data_dir.resolve()}")
        if self.mail_folder:
            say(f"email         kept as .eml files in {self.mail_folder}")
        say("create a key: complaints apikey create --role channel --name web-portal")
        say("Ctrl-C stops everything")

    async def _supervise(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.5)
            if self.stopping.is_set():
                return
            for child in self.children:
                if child.exited():
                    await self._restart(child)

    async def _restart(self, child: Child) -> None:
        if time.monotonic() - child.started_at > STABLE_AFTER_SECONDS:
            child.crashes = 0
        delay = RESTART_BACKOFF_SECONDS[min(child.crashes, len(RESTART_BACKOFF_SECONDS) - 1)]
        child.crashes += 1
        say(f"{child.name} exited with {child.process.returncode}; restarting in {delay}s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)
        if not self.stopping.is_set():
            await child.start()

    async def _stop_all(self) -> None:
        for child in reversed(self.children):
            say(f"stopping {child.name}")
            await child.stop()
        say("stopped")


def run_dev(settings: Settings) -> None:
    # Whatever the stack and its children write (Temporal's SQLite files, logs) is the owner's only: a
    # shared host's other users have no business in the data dir.
    os.umask(0o077)
    asyncio.run(DevStack(settings).run())
