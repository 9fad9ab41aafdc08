"""With PostgreSQL down, the API says so at once (503 database_unavailable, Retry-After) and /healthz names the part."""

import asyncio
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.auth import create_api_key
from core.embedded import EmbeddedPostgres, start_in_background, stop_process
from domain.kinds import Role
from store.db import Database
from store.migrate import upgrade_to_head
from tests.conftest import services_for
from tests.helpers import bearer, complaint

# Longer than the API's own waits (connect 3 s, pool 5 s), shorter than SQLAlchemy's default 30 s wait:
# an answer within it is the API's 503, not a hang.
ANSWER_GUARD_SECONDS = 20


@pytest.fixture
def own_postgres():
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-outage-"))
    postgres = EmbeddedPostgres(data_dir)
    process = start_in_background(postgres, data_dir / "postgres.log")
    try:
        postgres.ensure_database()
        upgrade_to_head(postgres.url)
        yield postgres, process
    finally:
        stop_process(process, postgres.stop_signal)
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_requests_while_postgres_is_stopped_get_a_quick_503_that_says_so(own_postgres, settings, temporal_client):
    postgres, process = own_postgres
    database = Database(postgres.url)
    _, key = await create_api_key(database, role=Role.CS_AGENT, name="outage", department=None)
    services = services_for(settings.model_copy(update={"database_url": postgres.url}), database, temporal_client)
    transport = httpx.ASGITransport(app=create_app(services=services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            assert (await api.get("/v1/cases", headers=bearer(key))).status_code == 200
            stop_process(process, postgres.stop_signal)

            for answer in await asyncio.wait_for(asyncio.gather(
                api.get("/v1/cases", headers=bearer(key)),
                api.post("/v1/cases", json=complaint(), headers=bearer(key)),
            ), ANSWER_GUARD_SECONDS):
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "database_unavailable"
                assert int(answer.headers["Retry-After"]) >= 1

            health = await asyncio.wait_for(api.get("/healthz"), ANSWER_GUARD_SECONDS)
            assert health.status_code == 503
            assert health.json() == {"status": "degraded", "postgres": False, "temporal": True}
    finally:
        await database.dispose()

