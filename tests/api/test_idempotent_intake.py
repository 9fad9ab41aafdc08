"""Channels retry: the same submission makes one case, one workflow and one acknowledgement."""

import asyncio
import uuid
from collections import Counter

from sqlmodel import select

from store.models import OutboxMessage, TimelineEntry
from tests.helpers import bearer, complaint, eventually, read_case


def unique_ref() -> str:
    return f"web-{uuid.uuid4().hex[:12]}"


async def post(api, key, body, **headers):
    return await api.post("/v1/cases", json=body, headers={**bearer(key), **headers})


async def recorded_once(database, reference: str) -> bool:
    async with database.session() as session:
        actions = Counter((await session.exec(
            select(TimelineEntry.action).where(TimelineEntry.reference == reference))).all())
        templates = Counter((await session.exec(
            select(OutboxMessage.template).where(OutboxMessage.reference == reference))).all())
    assert actions["received"] == 1, actions
    assert templates["acknowledgement"] == 1, templates
    return True


async def test_a_retry_with_the_same_channel_ref_returns_the_same_case(api, keys, database, temporal_client):
    body = complaint(channel_ref=unique_ref())

    first = await post(api, keys.channel, body)
    again = await post(api, keys.channel, body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reference"] == first.json()["reference"]
    assert again.json()["tracking_code"] == first.json()["tracking_code"]
    assert again.json()["answer_due"] == first.json()["answer_due"]
    reference = first.json()["reference"]
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    assert await recorded_once(database, reference)
    workflows = [w async for w in temporal_client.list_workflows(f"WorkflowId = 'case-{reference}'")]
    assert len(workflows) == 1


async def test_the_idempotency_key_header_makes_retries_safe(api, keys):
    body = complaint(channel_ref=None)
    header = {"Idempotency-Key": uuid.uuid4().hex}

    first = await post(api, keys.channel, body, **header)
    again = await post(api, keys.channel, body, **header)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reference"] == first.json()["reference"]


async def test_the_same_key_with_another_body_is_refused(api, keys):
    channel_ref = unique_ref()
    assert (await post(api, keys.channel, complaint(channel_ref=channel_ref))).status_code == 201

    conflict = await post(api, keys.channel, complaint(channel_ref=channel_ref, subject="Something else"))

    assert conflict.status_code == 422
    assert conflict.json()["error"]["code"] == "idempotency_conflict"


async def test_concurrent_retries_make_one_case(api, keys, database):
    body = complaint(channel_ref=unique_ref())

    responses = await asyncio.gather(*(post(api, keys.channel, body) for _ in range(10)))

    assert sorted(response.status_code for response in responses) == [200] * 9 + [201]
    references = {response.json()["reference"] for response in responses}
    assert len(references) == 1
    reference = references.pop()
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    assert await recorded_once(database, reference)


async def test_a_complaint_needs_a_verified_identity(api, keys):
    anonymous = complaint()
    anonymous["submitter"] = {"category": "beneficiary", "name": "Someone"}

    refused = await post(api, keys.channel, anonymous)
    through_tajawob = await post(api, keys.channel, {**anonymous, "channel": "tajawob"})

    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "submitter.civil_id"
    assert through_tajawob.status_code == 201


async def test_reports_and_suggestions_may_come_without_identity(api, keys):
    nobody = {"category": "community"}
    report = await post(api, keys.channel, complaint(kind="report", submitter=nobody))
    suggestion = await post(api, keys.channel, complaint(kind="suggestion", submitter=nobody))
    assert (report.status_code, suggestion.status_code) == (201, 201)
