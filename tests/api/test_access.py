"""Who may do what on which case: every case route and admin route × every caller, as the issue's role table says.

| role | may |
| `channel` | submit; read the cases it submitted (as their submitter reads them); pass on submitter information and contests |
| `cs_agent` | everything on every case except the Director General's reply; triage, reject, respond, close |
| `department` | read and act on the cases routed to its own department only: reply, request information |
| `director_general` | read every case; reply to (and ask about) escalated cases; instruct a department |
| `auditor` | read everything, including the timeline and who read it; change nothing |
| `admin` | manage keys and departments; no case content |

A caller who may not see a case gets the very 404 of a case that does not exist, on reads and
actions alike; a role that reads no case content (admin) gets 403. Callers are the session's keys,
plus a second channel key (`other_channel`) that submitted none of these cases; every case here is
submitted by `channel` and routed to `DEPARTMENT`, so `other_department` is the foreign department.

The admin routes (keys and departments) are no case's: only `admin` may use them, every other role
gets 403 and changes nothing, as on the other routes that are not about one case.
"""  # noqa: E501 - the table's rows are one line each

import time
from datetime import datetime, timedelta
from itertools import product

import pytest
from sqlmodel import select

from api.auth import create_api_key
from api.routes.admin import router as admin_router
from domain.kinds import Channel, Role
from store.models import ApiKey, DepartmentEntry, TimelineEntry
from tests.closing import stop_cases
from tests.conftest import DEPARTMENT, OTHER_DEPARTMENT, WORKING_DAY_SECONDS
from tests.helpers import bearer, complaint, eventually, read_case, submit

CALLERS = (
    "channel", "other_channel", "cs_agent", "department", "other_department", "director_general", "auditor", "admin",
)

# route -> (method, path after /v1/cases/{reference}, body, the state of the case it is tried on)
ROUTES = {
    "read": ("GET", "", None, "open"),
    "reads": ("GET", "/reads", None, "open"),
    "list": ("GET", None, None, "open"),
    "triage": ("POST", "/triage", {"department": DEPARTMENT}, "open"),
    "reject": ("POST", "/reject", {"reason": "Not within the ministry's competence."}, "open"),
    "request-info": ("POST", "/request-info", {"question": "Which office?"}, "open"),
    "reply": ("POST", "/reply", {"summary": "Handled."}, "open"),
    "submitter-info": ("POST", "/submitter-info", {"answer": "The Seeb office."}, "awaiting"),
    "respond": ("POST", "/respond", {"message": "It is done."}, "replied"),
    "close": ("POST", "/close", {}, "responded"),
    "contest": ("POST", "/contest", {"reason": "It is not done."}, "responded"),
    "instruct": ("POST", "/instruct", {"instruction": "Answer the submitter today."}, "open"),
}
ACTIONS = {route for route, (method, *_) in ROUTES.items() if method == "POST"}

# The role table, route by route. 200: allowed (an action is taken, on a case of its own);
# 404: the case is not the caller's to see; 403: the role may not use the route at all;
# 409: the caller sees the case, and the workflow refuses the action (nothing is recorded).
EXPECTED: dict[str, dict[str, int]] = {
    #                 channel other_ch cs   dept other_dept DG  auditor admin
    "read":           dict(zip(CALLERS, (200, 404, 200, 200, 404, 200, 200, 403), strict=True)),
    "reads":          dict(zip(CALLERS, (403, 403, 403, 403, 403, 403, 200, 403), strict=True)),
    "list":           dict(zip(CALLERS, (200, 200, 200, 200, 200, 200, 200, 403), strict=True)),
    "triage":         dict(zip(CALLERS, (409, 404, 200, 409, 404, 409, 409, 403), strict=True)),
    "reject":         dict(zip(CALLERS, (409, 404, 200, 409, 404, 409, 409, 403), strict=True)),
    "request-info":   dict(zip(CALLERS, (409, 404, 200, 200, 404, 200, 409, 403), strict=True)),
    # The open case is escalated: its reply is the department's or the Director General's.
    "reply":          dict(zip(CALLERS, (409, 404, 409, 200, 404, 200, 409, 403), strict=True)),
    "submitter-info": dict(zip(CALLERS, (200, 404, 200, 409, 404, 409, 409, 403), strict=True)),
    "respond":        dict(zip(CALLERS, (409, 404, 200, 409, 404, 409, 409, 403), strict=True)),
    "close":          dict(zip(CALLERS, (409, 404, 200, 409, 404, 409, 409, 403), strict=True)),
    "contest":        dict(zip(CALLERS, (200, 404, 200, 409, 404, 409, 409, 403), strict=True)),
    "instruct":       dict(zip(CALLERS, (409, 404, 409, 409, 404, 200, 409, 403), strict=True)),
}
# Whether the case is in the caller's `GET /v1/cases`.
LISTED = dict(zip(CALLERS, (True, False, True, True, False, True, True, False), strict=True))


def not_found_body(reference: str) -> dict:
    return {"error": {"code": "not_found", "message": f"no case {reference}", "fields": []}}


@pytest.fixture(scope="module")
async def callers(keys, database) -> dict[str, str]:
    _, other_channel = await create_api_key(database, role=Role.CHANNEL, name="test other channel", department=None,
                                            channels=list(Channel))
    return {**{name: getattr(keys, name) for name in CALLERS if name != "other_channel"},
            "other_channel": other_channel}


# Cases made for one test, stopped after it; shared ones once replaced (in the next test's teardown) and at the end.
_made: list[str] = []


@pytest.fixture(autouse=True)
async def stop_made_cases(temporal_client):
    yield
    await stop_cases(temporal_client, _made)


@pytest.fixture(scope="module", autouse=True)
async def stop_shared_cases(temporal_client):
    yield
    await stop_cases(temporal_client, [reference for reference, _ in _shared.values()] + _report)
    _shared.clear()
    _report.clear()


async def act(api, key: str, reference: str, action: str, body: dict) -> dict:
    response = await api.post(f"/v1/cases/{reference}/{action}", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


async def case_in(api, keys, state: str, **overrides) -> str:
    """A new case submitted by `channel` and routed to DEPARTMENT, brought to `state`.

    `open` is a contested case: with the department again and escalated (level 2), so that the
    Director General may act on it too.
    """
    created = await submit(api, keys.channel, complaint(**overrides))
    reference = created["reference"]
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "reply", {"summary": "Done."})
    await act(api, keys.cs_agent, reference, "respond", {"message": "It is done."})
    reopened = await act(api, keys.channel, reference, "contest", {"reason": "It is not done."})
    assert reopened["status"] == "with_department" and reopened["escalation_level"] == 2
    if state == "awaiting":
        await act(api, keys.cs_agent, reference, "request-info", {"question": "Your file number?"})
    if state in {"replied", "responded"}:
        await act(api, keys.department, reference, "reply", {"summary": "Done now."})
    if state == "responded":
        await act(api, keys.cs_agent, reference, "respond", {"message": "It is done now."})
    return reference


# One case per state for the tries that change nothing (reads, 403, 404, 409), made again once it
# is old enough that a deadline could move it on (a contest window is 5 working days).
_shared: dict[str, tuple[str, float]] = {}
FRESH_FOR = 2 * WORKING_DAY_SECONDS


async def shared_case(api, keys, state: str) -> str:
    reference, made = _shared.get(state, (None, 0.0))
    if reference is None or time.monotonic() - made > FRESH_FOR:
        if reference is not None:
            _made.append(reference)
        made = time.monotonic()
        reference = await case_in(api, keys, state)
        _shared[state] = (reference, made)
    return reference


async def steps_by_people(database, reference: str) -> list[str]:
    """The timeline's entries made by someone (the workflow's own reminders and escalations left out)."""
    async with database.session() as session:
        entries = await session.exec(
            select(TimelineEntry.step_key).where(TimelineEntry.reference == reference, TimelineEntry.actor != "system")
        )
        return sorted(entries.all())


async def listed(api, key: str, case: dict) -> bool:
    """Whether the case is in the caller's list, narrowed by filters it matches, page after page."""
    due_before = datetime.fromisoformat(case["answer_due"]) + timedelta(microseconds=1)
    params = {"status": case["status"], "escalation_level": case["escalation_level"], "limit": 100,
              "due_before": due_before.isoformat()}
    while True:
        response = await api.get("/v1/cases", params=params, headers=bearer(key))
        assert response.status_code == 200, response.text
        page = response.json()
        if any(item["reference"] == case["reference"] for item in page["items"]):
            return True
        if page["next_cursor"] is None:
            return False
        params["cursor"] = page["next_cursor"]


@pytest.mark.parametrize(
    ("route", "caller"), list(product(ROUTES, CALLERS)),
    ids=[f"{route}-{caller}" for route, caller in product(ROUTES, CALLERS)],
)
async def test_route_by_role(api, keys, callers, database, route, caller):
    method, path, body, state = ROUTES[route]
    expected = EXPECTED[route][caller]
    key = callers[caller]
    # An action that succeeds changes its case: it gets a case of its own.
    fresh = route in ACTIONS and expected == 200
    if fresh:
        reference = await case_in(api, keys, state)
        _made.append(reference)
    else:
        reference = await shared_case(api, keys, state)
    before = await steps_by_people(database, reference)

    if route == "list":
        response = await api.get("/v1/cases", headers=bearer(key))
    elif method == "GET":
        response = await api.get(f"/v1/cases/{reference}{path}", headers=bearer(key))
    else:
        response = await api.post(f"/v1/cases/{reference}{path}", json=body, headers=bearer(key))

    assert response.status_code == expected, response.text
    if expected == 404:
        assert response.json() == not_found_body(reference)
    if expected == 403:
        assert response.json()["error"]["code"] == "forbidden"
    if expected == 409:
        assert response.json()["error"]["code"] == "action_refused"
    if route in ACTIONS and expected != 200:
        assert await steps_by_people(database, reference) == before
    if route == "read" and expected == 200:
        # A channel reads the submitter's view (its steps), staff the case file (its timeline).
        shown = "steps" if caller == "channel" else "timeline"
        assert response.json()["reference"] == reference and response.json()[shown]
    if route == "list" and expected == 200:
        case = await read_case(api, keys.auditor, reference)
        assert await listed(api, key, case) is LISTED[caller]


async def test_the_table_covers_every_route_and_caller():
    assert set(EXPECTED) == set(ROUTES)
    assert all(set(row) == set(CALLERS) for row in EXPECTED.values())


@pytest.mark.parametrize("caller", ["other_channel", "other_department"])
@pytest.mark.parametrize("route", ["read", *sorted(ACTIONS)])
async def test_a_hidden_case_answers_exactly_as_an_unknown_one(api, callers, route, caller):
    """The 404 for a case the caller may not see is the one for a reference that does not exist."""
    method, path, body, _state = ROUTES[route]
    unknown = "C-2026-999998"
    if method == "GET":
        response = await api.get(f"/v1/cases/{unknown}{path}", headers=bearer(callers[caller]))
    else:
        response = await api.post(f"/v1/cases/{unknown}{path}", json=body, headers=bearer(callers[caller]))
    assert response.status_code == 404 and response.json() == not_found_body(unknown)


@pytest.mark.parametrize(
    ("caller", "sees_submitter"),
    [("cs_agent", True), ("auditor", True), ("department", False), ("director_general", False)],
)
async def test_the_identity_of_a_reporter_is_hidden_from_departments_and_the_director_general(
    api, keys, callers, caller, sees_submitter
):
    reference = await shared_report(api, keys)

    case = await read_case(api, callers[caller], reference)

    assert (case["submitter"] is not None) is sees_submitter
    # A channel's reference (a Tajawob one, say) can lead back to the person: hidden exactly as the submitter.
    assert (case["channel_ref"] is not None) is sees_submitter
    if not sees_submitter:
        text = str(case)
        assert "Salim" not in text and "12345678" not in text and "salim@example.om" not in text
        assert "test-" not in text


_report: list[str] = []


async def shared_report(api, keys) -> str:
    if not _report:
        created = await submit(api, keys.channel, complaint(kind="report", priority="low"))
        await eventually(lambda: read_case(api, keys.cs_agent, created["reference"]))
        await act(api, keys.cs_agent, created["reference"], "triage", {"department": DEPARTMENT})
        _report.append(created["reference"])
    return _report[0]


async def test_a_report_made_a_complaint_at_triage_still_hides_its_reporter(api, keys):
    created = await submit(api, keys.channel, complaint(kind="report", priority="low"))
    reference = created["reference"]
    _made.append(reference)
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT, "kind": "complaint"})

    for caller in (keys.department, keys.director_general):
        case = await read_case(api, caller, reference)
        assert case["kind"] == "complaint" and case["submitter"] is None and case["channel_ref"] is None
    assert (await read_case(api, keys.cs_agent, reference))["submitter"]["name"] == "Salim Al-Harthy"


async def test_a_complaint_shows_its_submitter_to_the_department(api, keys):
    reference = await shared_case(api, keys, "open")
    case = await read_case(api, keys.department, reference)
    assert case["submitter"]["name"] == "Salim Al-Harthy" and case["channel_ref"].startswith("test-")


async def test_a_rerouted_case_leaves_the_first_department(api, keys, callers):
    reference = await case_in(api, keys, "open")
    _made.append(reference)
    assert (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.other_department))).status_code == 404

    await act(api, keys.cs_agent, reference, "triage", {"department": OTHER_DEPARTMENT})

    assert (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.department))).status_code == 404
    assert (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.other_department))).status_code == 200


# ---------------------------------------------------------------- the admin routes

# route -> (method, path); `{key_id}` is a key made for the try, `{code}` a department code of its own.
ADMIN_ROUTES = {
    "create-key": ("POST", "/v1/admin/keys"),
    "list-keys": ("GET", "/v1/admin/keys"),
    "revoke-key": ("DELETE", "/v1/admin/keys/{key_id}"),
    "list-departments": ("GET", "/v1/admin/departments"),
    "put-department": ("PUT", "/v1/admin/departments/{code}"),
}
ADMIN_EXPECTED: dict[str, dict[str, int]] = {
    route: {caller: (201 if route in {"create-key", "put-department"} else 200) if caller == "admin" else 403
            for caller in CALLERS}
    for route in ADMIN_ROUTES
}


@pytest.mark.parametrize(
    ("route", "caller"), list(product(ADMIN_ROUTES, CALLERS)),
    ids=[f"{route}-{caller}" for route, caller in product(ADMIN_ROUTES, CALLERS)],
)
async def test_admin_route_by_role(api, callers, database, route, caller):
    method, template = ADMIN_ROUTES[route]
    expected = ADMIN_EXPECTED[route][caller]
    marker = f"access {route} {caller}"
    target_id, _ = await create_api_key(database, role=Role.CHANNEL, name=marker, department=None,
                                        channels=list(Channel))
    code = f"ACCESS_{route.replace('-', '_')}_{caller}".upper()
    path = template.format(key_id=target_id, code=code)
    bodies = {
        "create-key": {"name": marker, "role": "auditor"},
        # Made inactive, so that no list of active departments changes.
        "put-department": {"name_ar": "دائرة", "name_en": marker, "active": False},
    }

    response = await api.request(method, path, json=bodies.get(route), headers=bearer(callers[caller]))

    assert response.status_code == expected, response.text
    if expected == 403:
        assert response.json()["error"]["code"] == "forbidden"
    async with database.session() as session:
        made = (await session.exec(select(ApiKey).where(ApiKey.name == marker, ApiKey.role == "auditor"))).all()
        target = await session.get(ApiKey, target_id)
        department = await session.get(DepartmentEntry, code)
    assert len(made) == (1 if route == "create-key" and expected == 201 else 0)
    assert (target.revoked_at is not None) is (route == "revoke-key" and expected == 200)
    assert (department is not None) is (route == "put-department" and expected == 201)
    if route == "list-keys" and expected == 200:
        assert target_id in {item["id"] for item in response.json()}
    if route == "list-departments" and expected == 200:
        assert DEPARTMENT in {item["code"] for item in response.json()}


async def test_the_admin_table_covers_every_admin_route_and_caller():
    served = {(method, route.path) for route in admin_router.routes for method in route.methods}
    assert served == set(ADMIN_ROUTES.values())
    assert all(set(row) == set(CALLERS) for row in ADMIN_EXPECTED.values())



# ---------------------------------------------------------------- delivery figures

DELIVERY_SUMMARY_EXPECTED = dict(zip(CALLERS, (403, 403, 200, 403, 403, 403, 200, 200), strict=True))


@pytest.mark.parametrize("caller", CALLERS)
async def test_delivery_figures_by_role(api, callers, caller):
    response = await api.get("/v1/deliveries/summary", headers=bearer(callers[caller]))
    assert response.status_code == DELIVERY_SUMMARY_EXPECTED[caller], response.text
    if response.status_code == 200:
        assert set(response.json()) == {"messages", "deliveries", "failed"}
