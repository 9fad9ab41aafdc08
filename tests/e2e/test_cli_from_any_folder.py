"""`complaints` run from a folder other than the clone's: it finds the stack's data dir, or says in one line
what to set.

Each command runs as a person runs it, a subprocess in another folder. To leave the real clone's `.data` alone
(a developer's `make dev` may be using it), they run the code of a copy of the clone made for the test, whose
`.data` the test fills.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import NotConfigured, Settings
from core.temporal import connect_when_ready
from tests.conftest import REPO

# What `make install` puts in a clone that the commands read: the packages, the policy, the message templates.
CLONE_CONTENT = ["core", "api", "domain", "store", "workflows", "activities", "templates", "worker.py",
                 "pyproject.toml", "policy.toml"]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    copy = tmp_path / "clone"
    copy.mkdir()
    for name in CLONE_CONTENT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    return copy


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "somewhere-else"
    folder.mkdir()
    return folder


def complaints(clone: Path, cwd: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    """`complaints ARGS` with the clone's code, run in `cwd`, with no setting but `settings` (and no .env)."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("COMPLAINTS_") and name not in {"DATABASE_URL", "TEMPORAL_ADDRESS"}}
    env.update(settings, PYTHONPATH=str(clone))
    return subprocess.run([sys.executable, "-c", "from core.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def publish_database(data_dir: Path, database_url: str) -> None:
    """What `complaints dev` writes for the other commands once its PostgreSQL runs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "postgres.url").write_text(database_url + "\n")


def assert_one_line_saying(result: subprocess.CompletedProcess, *what_to_set: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and all(setting in line for setting in what_to_set), line


async def test_apikey_create_elsewhere_finds_the_clones_data_dir(clone, elsewhere, servers, api):
    publish_database(clone / ".data", servers.database_url)

    created = complaints(clone, elsewhere, "apikey", "create", "--role", "cs_agent", "--name", "from elsewhere")

    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert (await api.get("/v1/cases", headers={"Authorization": f"Bearer {key}"})).status_code == 200
    assert not (elsewhere / ".data").exists()  # no second data dir, with secrets of its own, where it ran


async def test_apikey_create_elsewhere_finds_the_data_dir_it_is_given(clone, elsewhere, tmp_path, servers, api):
    publish_database(tmp_path / "stack", servers.database_url)

    created = complaints(clone, elsewhere, "apikey", "create", "--role", "auditor", COMPLAINTS_DATA_DIR="../stack")

    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert (await api.get("/v1/cases", headers={"Authorization": f"Bearer {key}"})).status_code == 200


@pytest.mark.parametrize("command", [["apikey", "create", "--role", "cs_agent"], ["migrate"], ["verify"], ["api"]])
def test_a_command_without_a_database_says_what_to_set(clone, elsewhere, command):
    result = complaints(clone, elsewhere, *command)

    assert_one_line_saying(result, str(clone / ".data" / "postgres.url"), "COMPLAINTS_DATA_DIR", "DATABASE_URL")


def test_a_data_dir_of_a_stopped_stack_says_so(clone, elsewhere, tmp_path):
    # The URL of a PostgreSQL that no longer runs: `complaints dev` was stopped.
    publish_database(clone / ".data", f"postgresql+psycopg://postgres@/complaints?host={tmp_path / 'gone'}")

    result = complaints(clone, elsewhere, "apikey", "create", "--role", "cs_agent")

    assert_one_line_saying(result, "the database does not answer", "complaints dev", "DATABASE_URL")


async def test_a_temporal_that_does_not_answer_is_named_with_what_to_set(tmp_path):
    nobody = Settings(_env_file=None, TEMPORAL_ADDRESS="127.0.0.1:9", COMPLAINTS_DATA_DIR=tmp_path)

    with pytest.raises(NotConfigured, match=r"Temporal does not answer at 127\.0\.0\.1:9 .*TEMPORAL_ADDRESS"):
        await connect_when_ready(nobody, timeout=0.5)
