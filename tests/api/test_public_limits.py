"""The public (keyless) routes' limit per client address: counted in PostgreSQL, shared by every API process.

Each test uses client addresses of its own (the count outlives an app, by design) and a clock of its
own, so that no window ends in the middle of a test. The wrong-code limiter is lifted unless a test
is about it.
"""

import dataclasses
import itertools

import httpx
import pytest
from sqlmodel import select

from api.app import create_app
from api.public_limit import PublicLimiter
from api.ratelimit import TrackingLimiter
from core.settings import Settings
from store.ratelimits import PublicRequestCount
from tests.closing import stop_cases
from tests.conftest import TEST_CODEC_KEYS
from tests.helpers import complaint, eventually, read_case, submit

UNKNOWN_REFERENCE = "C-2026-999996"
# The start of a minute, as seconds since 1970 (windows are aligned to the epoch).
MINUTE = 1_900_000_020.0
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def public_client(services, limiter: PublicLimiter, address: str,
                  tracking_limiter: TrackingLimiter | None = None) -> httpx.AsyncClient:
    app = create_app(services=services)
    app.state.public_limiter = limiter
    app.state.tracking_limiter = tracking_limiter or TrackingLimiter(max_failures_per_address=1_000_000,
                                                                     max_failures_per_case=1_000_000)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 4321)), base_url="http://api.test")


@pytest.fixture(scope="module")
async def case(api, keys, temporal_client) -> tuple[str, str]:
    """(reference, tracking code) of a real case."""
    created = await submit(api, keys.channel, complaint())
    await eventually(lambda: read_case(api, keys.cs_agent, created["reference"]))
    yield created["reference"], created["tracking_code"]
    await stop_cases(temporal_client, [created["reference"]])


def code(value: str) -> dict[str, str]:
    return {"X-Tracking-Code": value}


async def test_every_request_counts_and_the_one_over_the_limit_gets_429(services, case):
    reference, tracking_code = case
    clock = Clock(MINUTE + 15)
    limiter = PublicLimiter(per_window=3, window_seconds=60, clock=clock)
    address, other_address = next(_addresses), next(_addresses)
    track, other = public_client(services, limiter, address), public_client(services, limiter, other_address)
    async with track, other:
        # Right or wrong, reads and actions: each is one request.
        assert (await track.get(f"/v1/track/{reference}", headers=code(tracking_code))).status_code == 200
        assert (await track.get(f"/v1/track/{UNKNOWN_REFERENCE}", headers=code(tracking_code))).status_code == 404
        assert (await track.post(f"/v1/track/{reference}/rating", json={"score": 5},
                                 headers=code(tracking_code))).status_code == 409

        limited = await track.get(f"/v1/track/{reference}", headers=code(tracking_code))
        assert limited.status_code == 429
        assert limited.json() == {"error": {"code": "too_many_requests",
                                            "message": "too many requests from this address; retry in 45 s",
                                            "fields": []}}
        assert limited.headers["Retry-After"] == "45"
        clock.now += 20
        for path, body in (("info", {"answer": "x"}), ("contest", {"reason": "x"}), ("rating", {"score": 5})):
            refused = await track.post(f"/v1/track/{reference}/{path}", json=body, headers=code(tracking_code))
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "25"
        # Another address has its own count.
        assert (await other.get(f"/v1/track/{reference}", headers=code(tracking_code))).status_code == 200

        clock.now += 25  # the next window
        assert (await track.get(f"/v1/track/{reference}", headers=code(tracking_code))).status_code == 200


async def test_the_count_is_shared_by_every_api_process(services, case):
    """Two apps, each with its own limiter (as two processes would have): together they allow the limit once."""
    reference, tracking_code = case
    clock = Clock(MINUTE + 60 * 5)
    address = next(_addresses)
    first = public_client(services, PublicLimiter(per_window=4, clock=clock), address)
    second = public_client(services, PublicLimiter(per_window=4, clock=clock), address)
    async with first, second:
        statuses = [(await app.get(f"/v1/track/{reference}", headers=code(tracking_code))).status_code
                    for app in (first, second, first, second, first, second)]
    assert statuses == [200, 200, 200, 200, 429, 429]


async def test_a_process_whose_clock_is_behind_counts_into_the_newer_window(services, case, database):
    reference, tracking_code = case
    ahead, behind = Clock(MINUTE + 60 * 10 + 5), Clock(MINUTE + 60 * 9 + 50)
    address = next(_addresses)
    fast = public_client(services, PublicLimiter(per_window=2, clock=ahead), address)
    slow = public_client(services, PublicLimiter(per_window=2, clock=behind), address)
    async with fast, slow:
        assert (await fast.get(f"/v1/track/{reference}", headers=code(tracking_code))).status_code == 200
        assert (await slow.get(f"/v1/track/{reference}", headers=code(tracking_code))).status_code == 200
        limited = await slow.get(f"/v1/track/{reference}", headers=code(tracking_code))
    assert limited.status_code == 429
    # The newer window ends 60 s after MINUTE + 600, which is 70 s after the slow clock's now.
    assert limited.headers["Retry-After"] == "70"
    async with database.session() as session:
        row = await session.get(PublicRequestCount, address)
    assert (row.window_start.timestamp(), row.requests) == (MINUTE + 600, 3)


async def test_rows_of_ended_windows_are_swept(services, case, database):
    reference, tracking_code = case
    clock = Clock(MINUTE + 60 * 20)
    limiter = PublicLimiter(per_window=10, clock=clock, sweep_every=2)
    old, new = next(_addresses), next(_addresses)
    async with public_client(services, limiter, old) as early, public_client(services, limiter, new) as late:
        await early.get(f"/v1/track/{reference}", headers=code(tracking_code))
        clock.now += 60
        await late.get(f"/v1/track/{reference}", headers=code(tracking_code))  # the second request: a sweep
    async with database.session() as session:
        left = set((await session.exec(
            select(PublicRequestCount.client).where(PublicRequestCount.client.in_([old, new])))).all())
    assert left == {new}


async def test_wrong_codes_keep_their_own_stricter_limit(services, case):
    reference, tracking_code = case
    limiter = PublicLimiter(per_window=100, clock=Clock(MINUTE + 60 * 30))
    async with public_client(services, limiter, next(_addresses), TrackingLimiter(max_failures_per_address=2)) as track:
        for _ in range(2):
            assert (await track.get(f"/v1/track/{reference}", headers=code("wrong"))).status_code == 404
        limited = await track.get(f"/v1/track/{reference}", headers=code(tracking_code))
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "too_many_attempts"


async def test_the_limit_is_a_setting(services):
    assert Settings(COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS).public_per_minute == 60
    configured = Settings(COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS, COMPLAINTS_PUBLIC_PER_MINUTE="7")
    assert configured.public_per_minute == 7
    app = create_app(services=dataclasses.replace(services, settings=configured))
    assert (app.state.public_limiter.per_window, app.state.public_limiter.window_seconds) == (7, 60)
    with pytest.raises(ValueError):
        Settings(COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS, COMPLAINTS_PUBLIC_PER_MINUTE="0")


async def test_every_public_route_documents_its_429_with_retry_after():
    document = create_app(settings=Settings(COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS)).openapi()
    public = [(path, operation) for path, operations in document["paths"].items()
              for operation in operations.values() if not operation.get("security")]
    tracked = [path for path, _ in public if path.startswith("/v1/track/")]
    assert len(tracked) == 4
    for path, operation in public:
        if path == "/healthz":
            continue  # polled by orchestrators and the dev stack: not limited (see api.public_limit)
        too_many = operation["responses"]["429"]
        assert "Retry-After" in too_many["headers"]
        examples = too_many["content"]["application/json"]["examples"]
        assert {example["value"]["error"]["code"] for example in examples.values()} == {
            "too_many_requests", "too_many_attempts"}
