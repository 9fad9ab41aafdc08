"""What intake's speed rests on keeps intake's promises (bench/intake.py measures the speed itself).

A submission draws its number from a sequence this process has seen made (no DDL per request), and
`complaints api --workers N` serves from several processes on one port.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from core.embedded import free_port, stop_process
from store import intake_claims
from tests.helpers import bearer, complaint, eventually

REPO = Path(__file__).resolve().parents[2]


async def next_number(database, sequence: str) -> int:
    async with intake_claims.intake_transaction(database) as unit:
        return await unit.next_reference_number(sequence)


async def test_a_reference_sequence_lost_behind_the_process_is_made_again(database):
    sequence = f"case_ref_test_{uuid.uuid4().hex[:8]}"
    await intake_claims.ensure_reference_sequence(database, sequence)
    first = await next_number(database, sequence)
    assert await next_number(database, sequence) == first + 1
    async with database.transaction() as session:  # a database restored from a backup older than the sequence
        await session.exec(text(f"drop sequence {sequence}"))

    with pytest.raises(intake_claims.SequenceMissing):
        await next_number(database, sequence)

    await intake_claims.ensure_reference_sequence(database, sequence)
    assert await next_number(database, sequence) >= 1
    async with database.transaction() as session:
        await session.exec(text(f"drop sequence {sequence}"))


def api_children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def test_the_api_serves_intake_from_several_processes(settings, keys, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "COMPLAINTS_DATA_DIR": str(settings.data_dir),
           "COMPLAINTS_CODEC_KEYS": settings.codec_keys.get_secret_value(),
           "TEMPORAL_ADDRESS": settings.temporal_address, "COMPLAINTS_TASK_QUEUE": settings.task_queue,
           "COMPLAINTS_POLICY": str(settings.policy_path), "COMPLAINTS_API_PORT": str(port)}
    log = tmp_path / "api.log"
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "api", "--workers", "2"], cwd=REPO, env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:

            async def healthy():
                assert process.poll() is None, log.read_text()
                try:
                    return (await api.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=120)  # two processes import the app
            answers = await asyncio.gather(*(api.post("/v1/cases", json=complaint(), headers=bearer(keys.channel))
                                             for _ in range(4)))
        assert [answer.status_code for answer in answers] == [201] * 4, [answer.text for answer in answers]
        assert len({answer.json()["reference"] for answer in answers}) == 4
        assert len(api_children(process.pid)) >= 2  # uvicorn's two workers (and its spawn helper, if any)
    finally:
        stop_process(process)
