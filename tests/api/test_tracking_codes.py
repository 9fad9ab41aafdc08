"""Tracking codes: 128 random bits, kept by the case only as a SHA-256 hash; a retried submission gets the
same code back from the AES-GCM sealed copy its first attempt committed; codes of cases made before
codes were random (derived from the reference) keep working.
"""

import asyncio
import hashlib
import uuid
from base64 import urlsafe_b64decode
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import select

from api.app import create_app
from api.auth import find_caller
from api.public_limit import PublicLimiter
from api.ratelimit import TrackingLimiter
from api.schemas import CaseCreate
from api.service.intake import allocate_reference, idempotency_keys, request_hash
from api.tracking_codes import (
    CodeSeal,
    SealedCodeUnreadable,
    derived_tracking_code,
    new_tracking_code,
)
from domain.kinds import Kind
from store.models import CaseRecord, IntakeRequest
from tests.closing import stop_cases
from tests.helpers import bearer, complaint, eventually, read_case

_made: list[str] = []


@pytest.fixture(autouse=True)
async def stop_made_cases(temporal_client):
    yield
    await stop_cases(temporal_client, _made)
    _made.clear()


async def post(api, key: str, body: dict, **headers) -> httpx.Response:
    response = await api.post("/v1/cases", json=body, headers={**bearer(key), **headers})
    assert response.status_code in (200, 201), response.text
    if response.status_code == 201:
        _made.append(response.json()["reference"])
    return response


async def claims(database, reference: str) -> list[IntakeRequest]:
    async with database.session() as session:
        return list((await session.exec(select(IntakeRequest).where(IntakeRequest.reference == reference))).all())


def secret(settings) -> bytes:
    return settings.resolved_secret_key()


async def test_a_code_is_random_and_the_case_keeps_only_its_hash(api, keys, settings, database):
    first = (await post(api, keys.channel, complaint())).json()
    second = (await post(api, keys.channel, complaint())).json()

    for created in (first, second):
        code, reference = created["tracking_code"], created["reference"]
        assert len(code) == 22 and len(urlsafe_b64decode(code + "==")) == 16
        assert code != derived_tracking_code(secret(settings), reference)
        case = await eventually(lambda reference=reference: read_case(api, keys.cs_agent, reference))
        assert code not in str(case)
        async with database.session() as session:
            record = await session.get(CaseRecord, reference)
        assert record.tracking_code_hash == hashlib.sha256(code.encode()).hexdigest()
        assert code not in str(record.model_dump())
    assert first["tracking_code"] != second["tracking_code"]


async def test_a_retry_gets_the_same_code_from_its_sealed_copy(api, keys, settings, database):
    body = complaint(channel_ref=f"web-{uuid.uuid4().hex[:12]}")
    idempotency = {"Idempotency-Key": uuid.uuid4().hex}

    first = await post(api, keys.channel, body, **idempotency)
    by_ref = await post(api, keys.channel, body)
    concurrent = await asyncio.gather(*(post(api, keys.channel, body, **idempotency) for _ in range(5)))

    code, reference = first.json()["tracking_code"], first.json()["reference"]
    assert first.status_code == 201 and by_ref.status_code == 200
    assert {r.json()["tracking_code"] for r in (by_ref, *concurrent)} == {code}
    kept = await claims(database, reference)
    assert len(kept) == 2 and all(claim.tracking_code_sealed for claim in kept)
    for claim in kept:
        assert code.encode() not in claim.tracking_code_sealed
        assert CodeSeal(secret(settings)).open(claim.tracking_code_sealed, reference) == code


async def test_a_retry_whose_sealed_code_no_longer_opens_is_a_409_naming_its_case(api, keys, database):
    body = complaint(channel_ref=f"web-{uuid.uuid4().hex[:12]}")
    reference = (await post(api, keys.channel, body)).json()["reference"]
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    async with database.transaction() as session:  # as if the secret had changed since
        await session.exec(update(IntakeRequest).where(IntakeRequest.reference == reference)
                           .values(tracking_code_sealed=b"\x00" * 44))

    retry = await api.post("/v1/cases", json=body, headers=bearer(keys.channel))

    assert retry.status_code == 409, retry.text
    assert retry.json()["error"]["code"] == "tracking_code_unavailable"
    assert reference in retry.json()["error"]["message"]
    async with database.session() as session:  # and no second case
        made = (await session.exec(select(CaseRecord).where(CaseRecord.channel_ref == body["channel_ref"]))).all()
    assert [case.reference for case in made] == [reference]


def test_a_sealed_code_opens_only_with_its_secret_and_its_reference():
    code = new_tracking_code()
    sealed = CodeSeal(b"the secret").seal(code, "C-2026-000001")

    assert CodeSeal(b"the secret").open(sealed, "C-2026-000001") == code
    assert sealed != CodeSeal(b"the secret").seal(code, "C-2026-000001")  # a fresh nonce each time
    for secret_key, reference, stored in (
        (b"another secret", "C-2026-000001", sealed),
        (b"the secret", "C-2026-000002", sealed),
        (b"the secret", "C-2026-000001", sealed[:-1] + bytes([sealed[-1] ^ 1])),
        (b"the secret", "C-2026-000001", b"short"),
    ):
        with pytest.raises(SealedCodeUnreadable) as unreadable:
            CodeSeal(secret_key).open(stored, reference)
        assert code not in str(unreadable.value)


async def test_a_submission_claimed_before_codes_were_random_keeps_its_derived_code(
    api, keys, services, settings, database
):
    """A claim committed before the change (no sealed code) whose workflow never started: its retry
    starts the case with the code derived from its reference, and that code follows the case."""
    body = complaint(channel_ref=f"web-{uuid.uuid4().hex[:12]}")
    submission = CaseCreate.model_validate(body)
    [claimed_as] = idempotency_keys(submission, await find_caller(database, keys.channel), None)
    received_at = datetime.now(UTC)
    reference = await allocate_reference(database, Kind.COMPLAINT, received_at.year)
    async with database.transaction() as session:
        session.add(IntakeRequest(idempotency_key=claimed_as, request_hash=request_hash(submission),
                                  reference=reference, received_at=received_at))

    retried = await post(api, keys.channel, body)

    assert retried.status_code == 200 and retried.json()["reference"] == reference
    _made.append(reference)
    code = retried.json()["tracking_code"]
    assert code == derived_tracking_code(secret(settings), reference)
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    app = create_app(services=services)
    app.state.public_limiter = PublicLimiter(per_window=1_000_000)
    app.state.tracking_limiter = TrackingLimiter()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as track:
        followed = await track.get(f"/v1/track/{reference}", headers={"X-Tracking-Code": code})
        wrong = await track.get(f"/v1/track/{reference}", headers={"X-Tracking-Code": new_tracking_code()})
    assert followed.status_code == 200 and followed.json()["reference"] == reference
    assert wrong.status_code == 404
