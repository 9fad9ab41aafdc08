"""An operator's signal, sent either documented way, reaches Temporal's storage sealed: its text is not in the
SQLite files."""

import asyncio
import json
import os
import subprocess
import sys
import uuid

from core.embedded import temporal_executable
from tests.conftest import DEPARTMENT, REPO
from tests.e2e.test_confidentiality import sqlite_files
from tests.helpers import bearer, eventually
from tests.workflows.test_lifecycle import act, new_case, timeline_actions
from workflows.case import workflow_id


def cli_environment(settings) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url, "TEMPORAL_ADDRESS": settings.temporal_address,
            "COMPLAINTS_TASK_QUEUE": settings.task_queue, "COMPLAINTS_CODEC_KEYS": settings.resolved_codec_keys(),
            "COMPLAINTS_POLICY": str(settings.policy_path), "COMPLAINTS_DATA_DIR": str(settings.data_dir)}


async def routed_case(api, keys) -> str:
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    return reference


async def test_a_signal_from_complaints_signal_or_the_cli_with_the_codec_is_sealed(
        api, keys, settings, served_api, database):
    marker_of = {way: f"marker-{way}-{uuid.uuid4().hex}" for way in ("command", "temporal-cli")}
    by_command, by_cli = await routed_case(api, keys), await routed_case(api, keys)

    command = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "core.cli", "signal", by_command, "reply",
        "--for", f"department/{DEPARTMENT}", "--text", marker_of["command"],
    ], cwd=REPO, env=cli_environment(settings), capture_output=True, text=True, timeout=120)
    assert command.returncode == 0, command.stderr
    assert f"{by_command}: recorded" in command.stdout and command.stdout.strip().endswith("-reply")

    reply = {"actor": {"role": "department", "department": DEPARTMENT}, "summary": marker_of["temporal-cli"]}
    cli = await asyncio.to_thread(subprocess.run, [
        temporal_executable(), "workflow", "signal", "--address", settings.temporal_address,
        "--workflow-id", workflow_id(by_cli), "--name", "reply_signal", "--input", json.dumps(reply),
        "--codec-endpoint", f"{served_api}/v1/codec", "--codec-auth", f"Bearer {keys.cs_agent}",
    ], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr

    for reference in (by_command, by_cli):
        await eventually(lambda: _replied(database, reference))  # noqa: B023
        case = (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.auditor))).json()
        assert case["timeline"][-1]["actor"] == f"operator for department/{DEPARTMENT} (unverified)"
    stored = sqlite_files(settings.data_dir)
    for way, marker in marker_of.items():
        assert marker.encode() not in stored, f"the signal sent by {way} is in Temporal's storage in clear text"


async def _replied(database, reference: str) -> bool:
    return "reply" in await timeline_actions(database, reference)
