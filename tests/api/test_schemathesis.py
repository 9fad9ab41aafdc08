"""The whole API under schemathesis, authenticated as each role: no 5xx, every answer as the OpenAPI
document says (status, content type, headers, body), and bad input refused with a 4xx.

One test per operation and role (the keyless health and tracking routes once, without a key), each
running schemathesis' phases for that operation: the document's examples, its coverage cases (boundary
values, each constraint broken in turn, a missing key, undeclared methods) and `MAX_EXAMPLES` fuzzed
requests, positive and negative, deterministically (`SEED`).

The schema is the document the app serves at `/openapi.json`. Requests go through an app of this
module's own (the session's servers, with a worker on a calendar of hour-long working days so that no
deadline of the dozens of cases it makes falls due during the run; keys of its own, so the cases it
makes are nobody else's; the pace limits raised so that they do not hide what is behind them) over the same
httpx ASGI transport as
the other API tests. Schemathesis' tests are synchronous: each request is run to completion on the
session's event loop, where the database engine, the Temporal client and the worker live.

About half the generated requests to `/{reference}` routes are aimed at real cases (with their
tracking code for `/v1/track`), so that actions reach the workflow and full answers get validated;
the rest use whatever reference schemathesis made up (mostly 404s). The admin routes change what
other tests rely on, so they are kept to what is this module's own: a key to revoke is one of its
own disposable keys (or a key that does not exist), and a department of the policy file is swapped
for a look-alike code, so that no fuzzed body renames, readdresses or deactivates a real one.

Bounded on purpose: about 5 000 requests, some 3 minutes on a 2-core machine; the module's last line
of output says how many requests went to how many operations and callers, and what they got back.
"""

import asyncio
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import requests
import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase

from api.app import create_app
from api.auth import create_api_key, find_caller
from api.public_limit import PublicLimiter
from api.ratelimit import FailureLimiter, TrackingLimiter
from api.routes.admin import MAX_KEY_ID
from core.settings import Settings
from domain.kinds import Channel, Role
from tests.conftest import DEPARTMENT, TEST_CODEC_KEYS
from tests.helpers import bearer, complaint, eventually

ROLES = ("channel", "cs_agent", "department", "director_general", "auditor", "admin")
MAX_EXAMPLES = 12
SEED = 20260101
# Requests that take no API key (health, a submitter's tracking) run once, without one.
KEYLESS = r"^/(healthz|v1/track/)"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.negative_data_rejection,
]

REQUEST_ARGUMENTS = ("method", "url", "headers", "params", "cookies", "json", "data", "files")

# The document the app serves: it does not depend on the servers, so it is built at import, which
# schemathesis' pytest integration needs to collect one test per operation (its lazy `from_fixture`
# mode does not run on pytest 9.2). `test_the_app_serves_the_document_under_test` checks it is the served one.
DOCUMENT = create_app(settings=Settings(COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS)).openapi()
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "suppress-health-check": ["all"],
        # A body over the size limit is refused with 413 before any route reads it: a rejection too.
        "checks": {"negative_data_rejection": {"expected-statuses": [
            "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]}},
    }),
)

# (role, "METHOD /path", phase) -> requests sent; reported at the end of the module.
SENT: Counter[tuple[str, str, str]] = Counter()
# ("METHOD /path", status) -> answers.
ANSWERED: Counter[tuple[str, int]] = Counter()


@pytest.fixture(scope="module")
async def loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.fixture(scope="module")
async def client(calm_services, calm_worker) -> AsyncIterator[httpx.AsyncClient]:
    # The calm calendar: the fuzzer makes dozens of cases, and no deadline of theirs falls due meanwhile.
    app = create_app(services=calm_services)
    # Fuzzing submits many cases and guesses many tracking codes; the limits have tests of their own.
    app.state.intake_limiter = FailureLimiter(max_failures=1_000_000, window_seconds=60)
    app.state.tracking_limiter = TrackingLimiter(max_failures_per_address=1_000_000, max_failures_per_case=1_000_000,
                                                 window_seconds=600)
    app.state.public_limiter = PublicLimiter(per_window=1_000_000)
    # An address of its own: the public limit's count is shared through PostgreSQL with every other app.
    transport = httpx.ASGITransport(app=app, client=("192.0.2.80", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


@pytest.fixture(scope="module")
async def role_keys(database) -> dict[str, str]:
    keys = {}
    for role in ROLES:
        department = DEPARTMENT if role == "department" else None
        _, keys[role] = await create_api_key(
            database, role=Role(role), name=f"schemathesis {role}", department=department,
            channels=list(Channel) if role == "channel" else None,
        )
    return keys


@pytest.fixture(scope="module")
async def real_cases(client, role_keys) -> list[tuple[str, str]]:
    """(reference, tracking code) of cases of each kind, one of them routed to DEPARTMENT and one closed."""
    channel, agent = bearer(role_keys["channel"]), bearer(role_keys["cs_agent"])
    made = []
    for body in (complaint(), complaint(kind="report", priority="normal"), complaint(kind="suggestion"),
                 complaint(), complaint()):
        response = await client.post("/v1/cases", json=body, headers=channel)
        assert response.status_code == 201, response.text
        made.append((response.json()["reference"], response.json()["tracking_code"]))

    async def act(reference: str, action: str, body: dict) -> None:
        response = await client.post(f"/v1/cases/{reference}/{action}", json=body, headers=agent)
        assert response.status_code == 200, response.text

    async def readable(reference: str) -> bool:
        return (await client.get(f"/v1/cases/{reference}", headers=agent)).status_code == 200

    for reference, _ in made:
        await eventually(lambda reference=reference: readable(reference))
    routed, closed = made[3][0], made[4][0]
    await act(routed, "triage", {"department": DEPARTMENT})
    await act(closed, "triage", {"department": DEPARTMENT})
    await act(closed, "reply", {"summary": "Handled."})
    await act(closed, "respond", {"message": "It is done."})
    await act(closed, "close", {})
    return made


@pytest.fixture(scope="module")
async def revocable_key_ids(database, role_keys) -> list[int]:
    """Keys the admin routes may revoke: a few made for that, and the fuzzing admin's own (refused, 409)."""
    ids = [
        (await create_api_key(database, role=Role.CHANNEL, name=f"schemathesis disposable {n}", department=None,
                              channels=list(Channel)))[0]
        for n in range(4)
    ]
    return ids + [(await find_caller(database, role_keys["admin"])).key_id]


@pytest.fixture(scope="module")
def policy_codes(services) -> frozenset[str]:
    return frozenset(department.code for department in services.policy.departments)


@pytest.fixture(scope="module", autouse=True)
def report_counts(request) -> Iterator[None]:
    """At the end of the module, one line: how many requests, over how many operations x callers, by phase."""
    yield
    if not SENT:
        return
    pairs = {(caller, operation) for caller, operation, _ in SENT}
    by_phase: Counter[str] = Counter()
    for (_, _, phase), count in SENT.items():
        by_phase[phase] += count
    statuses: Counter[int] = Counter()
    for (_, status), count in ANSWERED.items():
        statuses[status] += count
    line = (
        f"schemathesis: {sum(SENT.values())} requests, {len({o for _, o in pairs})} operations, "
        f"{len({c for c, _ in pairs})} callers, {len(pairs)} operation x caller pairs ("
        + ", ".join(f"{phase} {count}" for phase, count in sorted(by_phase.items())) + "); answers: "
        + ", ".join(f"{status} x{count}" for status, count in sorted(statuses.items()))
    )
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        request.config.pluginmanager.get_plugin("terminalreporter").write_line(line)


def aim_at_a_real_case(case, real_cases: list[tuple[str, str]]) -> None:
    """Half of the requests to `/{reference}` routes go to a real case (deterministically, by the request)."""
    if "reference" not in case.path_parameters or case.meta is None:
        return
    tracking = case.path.startswith("/v1/track/")
    negative_header = tracking and case.meta.is_negative_at(ParameterLocation.HEADER)
    if case.meta.is_negative_at(ParameterLocation.PATH) or negative_header:
        return
    pick = zlib.crc32(repr(case).encode()) % (2 * len(real_cases))
    if pick >= len(real_cases):
        return
    reference, code = real_cases[pick]
    case.path_parameters = {**case.path_parameters, "reference": reference}
    if tracking:
        case.headers = {**(case.headers or {}), "X-Tracking-Code": code}


def keep_admin_changes_to_our_own(case, revocable_key_ids: list[int], policy_codes: frozenset[str]) -> None:
    """A key to revoke is one of this module's (or none); a department of the policy becomes a look-alike."""
    if case.meta is None or case.meta.is_negative_at(ParameterLocation.PATH):
        return
    parameters = case.path_parameters or {}
    if case.method.upper() == "DELETE" and "key_id" in parameters:
        pick = zlib.crc32(repr(case).encode()) % (2 * len(revocable_key_ids))
        # Half to a key of ours, half to ids no key has (from the top of the range down).
        key_id = revocable_key_ids[pick] if pick < len(revocable_key_ids) else MAX_KEY_ID - pick
        case.path_parameters = {**parameters, "key_id": key_id}
    if case.method.upper() == "PUT" and parameters.get("code") in policy_codes:
        case.path_parameters = {**parameters, "code": f"FUZZ_{parameters['code']}"}


def send(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient, case, headers: dict[str, str]) -> httpx.Response:
    """Send the request exactly as schemathesis would put it on the wire, through the ASGI client."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    wire = requests.Request(**{key: kwargs[key] for key in REQUEST_ARGUMENTS if key in kwargs}).prepare()
    body = wire.body.encode() if isinstance(wire.body, str) else wire.body
    request = client.request(wire.method, wire.url, headers=dict(wire.headers), content=body)
    return loop.run_until_complete(asyncio.wait_for(request, timeout=60))


def run(case, caller: str, headers: dict[str, str], loop, client, real_cases, admin_targets) -> None:
    aim_at_a_real_case(case, real_cases)
    keep_admin_changes_to_our_own(case, *admin_targets)
    response = send(loop, client, case, headers)
    phase = case.meta.phase.name.value if case.meta else TestPhase.EXAMPLES.value
    SENT[(caller, case.operation.label, phase)] += 1
    ANSWERED[(case.operation.label, response.status_code)] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)


@pytest.fixture(scope="module", params=ROLES)
def role(request) -> str:
    """Module-scoped, so that pytest runs the operations role by role."""
    return request.param


@pytest.fixture(scope="module")
def admin_targets(revocable_key_ids, policy_codes) -> tuple[list[int], frozenset[str]]:
    return revocable_key_ids, policy_codes


@schema.exclude(path_regex=KEYLESS).parametrize()
def test_every_keyed_operation_as_each_role(case, role, role_keys, loop, client, real_cases, admin_targets):
    run(case, role, bearer(role_keys[role]), loop, client, real_cases, admin_targets)


@schema.include(path_regex=KEYLESS).parametrize()
def test_every_keyless_operation(case, loop, client, real_cases, admin_targets):
    run(case, "submitter", {}, loop, client, real_cases, admin_targets)


async def test_the_app_serves_the_document_under_test(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == DOCUMENT
