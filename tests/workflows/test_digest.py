"""The Director General's daily digest: one message a working day listing every breached case, sent once.

Compressed calendar (1 working day = 2 s): a complaint breaches 5 working days after intake.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from activities.digest import DigestActivities
from core.director_general_digest import ensure_director_general_digest
from domain.calendar import CompressedCalendar
from store.models import CaseRecord, DirectorGeneralDigest, TimelineEntry
from tests import helpers
from tests.conftest import DEPARTMENT, DIRECTOR_GENERAL_EMAIL, WORKING_DAY_SECONDS
from tests.helpers import eventually
from tests.workflows.test_lifecycle import act, days, new_case, outbox
from workflows.digest_messages import DigestRequest


def digests_listing(mail_server, reference: str) -> list:
    return [message for message in mail_server.folder.to(DIRECTOR_GENERAL_EMAIL)
            if "الحالات المتأخرة" in message["Subject"] and reference in message.get_body(("plain",)).get_content()]


async def _async(value):
    return value


async def test_breached_cases_reach_the_director_general_in_one_digest_a_day_not_one_message_each(
        api, keys, database, mail_server, temporal_client, settings):
    first = await new_case(api, keys)
    second = await new_case(api, keys)
    for reference in (first, second):
        await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    digest_id = f"digest-test-{uuid.uuid4().hex[:8]}"
    helpers.created_workflow_ids.append(digest_id)
    await ensure_director_general_digest(temporal_client, settings, workflow_id=digest_id)
    # Starting it again, as every worker does at its start, joins the running loop.
    await ensure_director_general_digest(temporal_client, settings, workflow_id=digest_id)
    try:
        both = await eventually(
            lambda: _async([message for message in digests_listing(mail_server, first)
                            if second in message.get_body(("plain",)).get_content()]),
            timeout=days(12),
        )
        body = both[0].get_body(("plain",)).get_content()
        assert "المديرية العامة للأحوال المدنية" in body and "أيام التأخير" in body
        # Reminded on the timeline of each case, while the reminders themselves are the digest.
        await eventually(lambda: _reminded_in_digest(database, first), timeout=days(4))
        for reference in (first, second):
            messages = await outbox(database, reference)
            assert messages[("director_general", "breach_reminder")] == 0
            assert messages[("director_general", "breach")] == 1
    finally:
        await temporal_client.get_workflow_handle(digest_id).terminate("test over")

    # One message per working day's close: never two with the same day (Message-ID).
    ids = [message["Message-ID"] for message in mail_server.folder.to(DIRECTOR_GENERAL_EMAIL)
           if message["Message-ID"].startswith("<digest.")]
    assert len(ids) == len(set(ids))
    async with database.session() as session:
        rows = (await session.exec(select(DirectorGeneralDigest).where(DirectorGeneralDigest.status == "sent"))).all()
    assert len(rows) >= len(both)


async def _reminded_in_digest(database, reference: str) -> bool:
    async with database.session() as session:
        details = (await session.exec(select(TimelineEntry.detail).where(
            TimelineEntry.reference == reference, TimelineEntry.action == "director_general_reminded"))).all()
    return bool(details) and all(detail.get("in_daily_digest") for detail in details)


async def test_a_days_digest_is_sent_once_however_often_it_is_asked_for(api, keys, database, mail_server, settings):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    # The digest reads the case rows: wait for the row, which the breach step writes after the workflow's view changes.
    await eventually(lambda: _breached_row(database, reference), timeout=days(12))
    activities = DigestActivities(database, settings, CompressedCalendar(WORKING_DAY_SECONDS))
    # A day of its own, so that no digest loop of another test has sent it.
    day = datetime(2031, 1, 1, 10, 30, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10_000)
    outcomes = await asyncio.gather(*(activities.send_director_general_digest(DigestRequest(day)) for _ in range(3)),
                                    return_exceptions=True)
    again = await activities.send_director_general_digest(DigestRequest(day))
    sent = [outcome for outcome in outcomes if not isinstance(outcome, Exception) and outcome.status == "sent"]
    assert len(sent) == 1 and again.status == "already_sent"
    # The others were told another attempt holds it (retried by Temporal), or that it was sent.
    assert all(isinstance(outcome, Exception) or outcome.status in ("sent", "already_sent") for outcome in outcomes)
    key = f"<digest.{day:%Y%m%dT%H%M%S}@"
    copies = [message for message in mail_server.folder.to(DIRECTOR_GENERAL_EMAIL)
              if message["Message-ID"].startswith(key)]
    assert len(copies) == 1 and reference in copies[0].get_body(("plain",)).get_content()


async def _breached_row(database, reference: str) -> bool:
    async with database.session() as session:
        return bool((await session.exec(select(CaseRecord.breached).where(CaseRecord.reference == reference))).first())
