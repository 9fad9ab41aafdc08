"""After a backlog (no worker for days), a breached case reminds the Director General once, then daily from then on."""

import asyncio

import httpx
import pytest
from sqlmodel import select

from api.app import create_app
from store.models import TimelineEntry
from tests.conftest import WORKING_DAY_SECONDS, running_workers, services_for
from tests.helpers import eventually, submit

BACKLOG_QUEUE = "complaints-test-backlog"
DAYS_WITHOUT_A_WORKER = 4


@pytest.fixture
def backlog_settings(settings):
    return settings.model_copy(update={"task_queue": BACKLOG_QUEUE})


async def reminders(database, reference: str) -> list:
    async with database.session() as session:
        return list((await session.exec(
            select(TimelineEntry.at).where(TimelineEntry.reference == reference,
                                           TimelineEntry.action == "director_general_reminded")
            .order_by(TimelineEntry.at))).all())


async def test_reminders_missed_during_a_backlog_are_not_sent_one_after_another(
        backlog_settings, database, temporal_client, keys):
    services = services_for(backlog_settings, database, temporal_client)
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
        async with running_workers(temporal_client, backlog_settings, database):
            reference = (await submit(api, keys.channel))["reference"]
            # Answer due after five working days: the case breaches, and the next reminder is a day later.
            await eventually(lambda: _has_breached(database, reference), timeout=8 * WORKING_DAY_SECONDS)
        await asyncio.sleep(DAYS_WITHOUT_A_WORKER * WORKING_DAY_SECONDS)
        before = len(await reminders(database, reference))
        async with running_workers(temporal_client, backlog_settings, database):
            await eventually(lambda: _reminded_since(database, reference, before), timeout=4 * WORKING_DAY_SECONDS)
            # Half a working day more: the missed days would have come back to back by now.
            await asyncio.sleep(WORKING_DAY_SECONDS / 2)
            after = await reminders(database, reference)
    assert len(after) - before == 1, f"{len(after) - before} reminders right after the backlog"


async def _has_breached(database, reference: str) -> bool:
    async with database.session() as session:
        return (await session.exec(select(TimelineEntry.id).where(
            TimelineEntry.reference == reference, TimelineEntry.action == "breached"))).first() is not None


async def _reminded_since(database, reference: str, before: int) -> bool:
    return len(await reminders(database, reference)) > before
