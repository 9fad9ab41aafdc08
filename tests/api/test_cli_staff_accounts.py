"""`complaints user create` from a script (stdin not a terminal): its last line is a one-time password that signs
in, and the account must choose its own at once."""

import asyncio
import os
import subprocess
import sys
import uuid

import pytest

from api.service.staff import SignInRefused, sign_in
from store.staff import user_with_login
from tests.conftest import REPO

pytestmark = pytest.mark.asyncio


async def complaints_cli(settings, *arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "COMPLAINTS_DATA_DIR": str(settings.data_dir),
           "COMPLAINTS_CODEC_KEYS": settings.codec_keys.get_secret_value()}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", *arguments, env=env, cwd=REPO, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return subprocess.CompletedProcess(arguments, process.returncode, stdout.decode(), stderr.decode())


async def test_user_create_without_a_terminal_prints_a_one_time_password_that_signs_in(settings, database):
    login = f"cli-{uuid.uuid4().hex[:8]}"
    made = await complaints_cli(settings, "user", "create", "--login", login, "--name", "Aisha Al-Rawahi",
                                "--role", "call_centre")
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip().splitlines()[-1]
    assert len(password) >= 12 and " " not in password
    _, session = await sign_in(database, settings, login, password, address=None)
    assert session.user.login == login and session.caller.role == "call_centre"
    assert (await user_with_login(database, login)).password_change_required
    with pytest.raises(SignInRefused):
        await sign_in(database, settings, login, password + "x", address=None)


async def test_user_create_refuses_a_department_officer_without_a_department(settings, database):
    login = f"cli-{uuid.uuid4().hex[:8]}"
    refused = await complaints_cli(settings, "user", "create", "--login", login, "--role", "department")
    assert refused.returncode != 0 and "--department" in refused.stderr
    assert await user_with_login(database, login) is None
