"""`GET /v1/cases`: filters, cursor pagination in answer-due order, the department's work queue, the
Director General's escalation queue, and the record of who read a case.

On the compressed calendar (1 working day = 2 s) a complaint's department is due after 3 working
days and its answer after 5: an untouched case escalates, then breaches, within seconds.
"""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.auth import create_api_key, find_caller
from domain.kinds import Channel, Role
from tests.closing import stop_cases
from tests.conftest import DEPARTMENT, OTHER_DEPARTMENT, WORKING_DAY_SECONDS
from tests.helpers import bearer, complaint, eventually, read_case, submit

SUMMARY_FIELDS = {
    "reference", "kind", "channel", "status", "priority", "department", "escalation_level", "breached",
    "received_at", "department_due", "answer_due", "subject",
}
MUSCAT = ZoneInfo("Asia/Muscat")


def muscat_day(instant: str) -> date:
    return at(instant).astimezone(MUSCAT).date()


def days(count: float) -> float:
    return count * WORKING_DAY_SECONDS


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def page(api, key: str, expect: int = 200, **params) -> dict:
    response = await api.get("/v1/cases", params=params, headers=bearer(key))
    assert response.status_code == expect, response.text
    return response.json()


async def every_page(api, key: str, **params) -> list[dict]:
    """The whole list, page after page."""
    items, cursor = [], None
    while True:
        body = await page(api, key, **params, **({"cursor": cursor} if cursor else {}))
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def act(api, key: str, reference: str, action: str, body: dict) -> dict:
    response = await api.post(f"/v1/cases/{reference}/{action}", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


# The cases a test made, stopped after it (a breached case would remind the DG every 2 s for the session).
_made: list[str] = []


@pytest.fixture(autouse=True)
async def stop_made_cases(temporal_client):
    yield
    await stop_cases(temporal_client, _made)


async def new_case(api, key: str, keys, *, track: bool = True, **overrides) -> str:
    created = await submit(api, key, complaint(**overrides))
    await eventually(lambda: read_case(api, keys.cs_agent, created["reference"]))
    if track:
        _made.append(created["reference"])
    return created["reference"]


def in_order(items: list[dict]) -> bool:
    keys = [(at(item["answer_due"]), item["reference"]) for item in items]
    return keys == sorted(keys)


# A channel key of this module's own: it sees exactly the cases it submitted, so its list is known.
SUBMISSIONS = [
    {"kind": "suggestion"},
    {"kind": "report", "priority": "low", "channel": "phone"},
    {"kind": "complaint"},
    {"kind": "report", "priority": "normal", "channel": "email"},
    {"kind": "suggestion", "channel": "phone"},
    {"kind": "report", "priority": "low"},
    {"kind": "complaint", "subject": "Queue number never called at the Seeb office"},
]


@pytest.fixture(scope="module")
async def own_channel(api, keys, database, temporal_client) -> AsyncIterator[tuple[str, list[str]]]:
    """(key, references) of a channel that submitted SUBMISSIONS and nothing else."""
    _, key = await create_api_key(database, role=Role.CHANNEL, name="test list channel", department=None,
                                  channels=list(Channel))
    references = [await new_case(api, key, keys, track=False, **overrides) for overrides in SUBMISSIONS]
    yield key, references
    await stop_cases(temporal_client, list(references))


async def test_pages_follow_each_other_in_answer_due_order_without_gaps_or_duplicates(api, own_channel):
    key, references = own_channel

    whole = (await page(api, key, limit=100))
    pages = [await page(api, key, limit=2)]
    while pages[-1]["next_cursor"]:
        pages.append(await page(api, key, limit=2, cursor=pages[-1]["next_cursor"]))

    assert whole["next_cursor"] is None
    assert [len(p["items"]) for p in pages] == [2, 2, 2, 1]
    paged = [item["reference"] for p in pages for item in p["items"]]
    assert paged == [item["reference"] for item in whole["items"]]
    assert len(set(paged)) == len(paged) and set(paged) == set(references)
    assert in_order(whole["items"])
    assert all(set(item) == SUMMARY_FIELDS for item in whole["items"])


async def test_a_page_that_ends_the_list_has_no_cursor(api, own_channel):
    key, references = own_channel
    exact = await page(api, key, limit=len(references))
    assert len(exact["items"]) == len(references) and exact["next_cursor"] is None
    shorter = await page(api, key, limit=len(references) - 1)
    assert shorter["next_cursor"] is not None
    assert [item["reference"] for item in (await page(api, key, cursor=shorter["next_cursor"]))["items"]] == [
        exact["items"][-1]["reference"]
    ]


async def test_filters_keep_exactly_the_matching_cases(api, keys, own_channel):
    key, references = own_channel
    await act(api, keys.cs_agent, references[0], "triage", {"department": DEPARTMENT})
    await act(api, keys.cs_agent, references[1], "triage", {"department": OTHER_DEPARTMENT})
    await act(api, keys.cs_agent, references[4], "reject", {"reason": "A duplicate."})
    whole = (await page(api, key))["items"]
    middle = sorted(at(item["answer_due"]) for item in whole)[3]
    today = muscat_day(whole[0]["received_at"])

    filters = [
        ({"kind": "report"}, lambda item: item["kind"] == "report"),
        ({"kind": "suggestion"}, lambda item: item["kind"] == "suggestion"),
        ({"status": "with_department"}, lambda item: item["status"] == "with_department"),
        ({"status": "rejected"}, lambda item: item["status"] == "rejected"),
        ({"department": DEPARTMENT}, lambda item: item["department"] == DEPARTMENT),
        ({"department": OTHER_DEPARTMENT}, lambda item: item["department"] == OTHER_DEPARTMENT),
        ({"escalation_level": 1}, lambda item: item["escalation_level"] == 1),
        ({"escalation_level": 2}, lambda item: item["escalation_level"] == 2),
        ({"breached": "false"}, lambda item: not item["breached"]),
        ({"due_before": middle.isoformat()}, lambda item: at(item["answer_due"]) < middle),
        ({"kind": "report", "department": OTHER_DEPARTMENT}, lambda item: item["reference"] == references[1]),
        ({"channel": "phone"}, lambda item: item["channel"] == "phone"),
        ({"channel": "website"}, lambda item: item["channel"] == "website"),
        ({"channel": "phone", "kind": "report"}, lambda item: item["reference"] == references[1]),
        # Several statuses at once: the parameter repeated.
        ({"status": ["with_department", "rejected"]}, lambda item: item["status"] in {"with_department", "rejected"}),
        ({"status": ["received", "rejected"], "kind": "suggestion"},
         lambda item: item["status"] in {"received", "rejected"} and item["kind"] == "suggestion"),
        # Received between two days, both included, as days in Muscat.
        ({"received_from": str(today), "received_to": str(today)},
         lambda item: muscat_day(item["received_at"]) == today),
        ({"received_from": str(today)}, lambda item: muscat_day(item["received_at"]) >= today),
        ({"received_to": str(today - timedelta(days=1))}, lambda item: False),
        ({"received_from": str(today + timedelta(days=1))}, lambda item: False),
    ]
    async def same_as_filtering_by_hand(params: dict, matches) -> bool:
        # Both lists are read again each time: a case may escalate between the two reads.
        filtered = (await page(api, key, **params))["items"]
        expected = [item["reference"] for item in (await page(api, key))["items"] if matches(item)]
        assert [item["reference"] for item in filtered] == expected, params
        return True

    for params, matches in filters:
        await eventually(lambda: same_as_filtering_by_hand(params, matches), timeout=days(2))  # noqa: B023

    assert {item["reference"] for item in (await page(api, key, channel="phone"))["items"]} == {
        references[1], references[4]}
    assert {item["reference"] for item in (await page(api, key, status=["with_department", "rejected"]))["items"]} == {
        references[0], references[1], references[4]}
    routed = (await page(api, key, department=DEPARTMENT))["items"]
    assert [item["reference"] for item in routed] == [references[0]]
    assert [item["reference"] for item in (await page(api, key, status="rejected"))["items"]] == [references[4]]
    assert len((await page(api, key, due_before=middle.isoformat()))["items"]) == 3


async def test_a_department_lists_its_own_cases_only(api, keys):
    ours = await new_case(api, keys.channel, keys)
    theirs = await new_case(api, keys.channel, keys)
    await act(api, keys.cs_agent, ours, "triage", {"department": DEPARTMENT})
    await act(api, keys.cs_agent, theirs, "triage", {"department": OTHER_DEPARTMENT})

    queue = await every_page(api, keys.department, status="with_department")
    other_queue = await every_page(api, keys.other_department, status="with_department")

    assert {item["department"] for item in queue} == {DEPARTMENT}
    assert ours in {item["reference"] for item in queue} and theirs not in {item["reference"] for item in queue}
    assert theirs in {item["reference"] for item in other_queue}
    assert ours not in {item["reference"] for item in other_queue}
    assert in_order(queue)
    # Asking for another department's cases finds none of them.
    assert (await page(api, keys.department, department=OTHER_DEPARTMENT))["items"] == []
    assert theirs in {item["reference"] for item in await every_page(api, keys.cs_agent, department=OTHER_DEPARTMENT)}


async def test_the_director_general_lists_escalated_then_breached_cases(api, keys):
    late = await new_case(api, keys.channel, keys)
    await act(api, keys.cs_agent, late, "triage", {"department": DEPARTMENT})

    async def escalated_queue() -> list[dict]:
        items = await every_page(api, keys.director_general, escalation_level=2)
        return items if late in {item["reference"] for item in items} else []

    queue = await eventually(escalated_queue, timeout=days(8))
    assert all(item["escalation_level"] == 2 for item in queue) and in_order(queue)
    on_time = await new_case(api, keys.channel, keys)
    escalated = {item["reference"] for item in await every_page(api, keys.director_general, escalation_level=2)}
    assert on_time not in escalated
    # The department still has its escalated case; another department never had it.
    assert late in {item["reference"] for item in await every_page(api, keys.department, escalation_level=2)}
    assert late not in {item["reference"] for item in await every_page(api, keys.other_department, escalation_level=2)}

    async def breached_queue() -> list[dict]:
        items = await every_page(api, keys.director_general, breached="true", status="with_department")
        return items if late in {item["reference"] for item in items} else []

    breached = await eventually(breached_queue, timeout=days(8))
    assert all(item["breached"] for item in breached)
    assert late not in {item["reference"] for item in await every_page(api, keys.director_general, breached="false")}


async def test_every_read_of_a_case_by_staff_is_recorded_for_the_auditor(api, keys, database):
    reference = await new_case(api, keys.channel, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    before = (await reads_of(api, keys, reference))["reads"]
    started = datetime.now(UTC)

    readers = ["cs_agent", "department", "director_general", "auditor", "channel", "cs_agent"]
    for role in readers:
        await read_case(api, getattr(keys, role), reference)
    # The channel that submitted the case reads it back: an integration, not staff, so not recorded.
    staff = [role for role in readers if role != "channel"]
    # Refused reads and lists are not reads of the case.
    assert (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.other_department))).status_code == 404
    assert (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.admin))).status_code == 403
    await page(api, keys.cs_agent, limit=5)

    reads = (await reads_of(api, keys, reference))["reads"]
    assert reads[: len(before)] == before
    new = reads[len(before):]
    expected = [((await find_caller(database, getattr(keys, role))).key_id, role) for role in staff]
    assert [(read["key_id"], read["role"]) for read in new] == expected
    # Each key as the auditor can resolve it: its name, and the department of a department's key.
    assert [(read["key_name"], read["department"]) for read in new] == [
        (f"test {role}", DEPARTMENT if role == "department" else None) for role in staff
    ]
    assert all(started <= at(read["at"]) <= datetime.now(UTC) + timedelta(seconds=1) for read in new)
    assert [at(read["at"]) for read in new] == sorted(at(read["at"]) for read in new)


async def test_a_channel_reading_its_own_cases_leaves_no_read_record(api, keys):
    reference = await new_case(api, keys.channel, keys)
    before = (await reads_of(api, keys, reference))["reads"]

    for _ in range(3):
        assert (await read_case(api, keys.channel, reference))["reference"] == reference

    assert (await reads_of(api, keys, reference))["reads"] == before
    assert all(read["role"] != "channel" for read in before)


async def reads_of(api, keys, reference: str) -> dict:
    response = await api.get(f"/v1/cases/{reference}/reads", headers=bearer(keys.auditor))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("role", ["channel", "cs_agent", "department", "director_general", "admin"])
async def test_only_the_auditor_reads_who_read_a_case(api, keys, role):
    reference = await new_case(api, keys.channel, keys)
    response = await api.get(f"/v1/cases/{reference}/reads", headers=bearer(getattr(keys, role)))
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


async def test_the_reads_of_an_unknown_case_are_404(api, keys):
    response = await api.get("/v1/cases/C-2026-999997/reads", headers=bearer(keys.auditor))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"escalation_level": 0}, "escalation_level"),
        ({"status": "lost"}, "status"),
        ({"kind": "grievance"}, "kind"),
        ({"due_before": "yesterday"}, "due_before"),
        ({"due_before": "0.5"}, "due_before"),
        ({"due_before": "2026-12-01"}, "due_before"),
        ({"department": "NOWHERE"}, "department"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"channel": "fax"}, "channel"),
        ({"status": ["with_department", "lost"]}, "status"),
        ({"received_from": "yesterday"}, "received_from"),
        ({"received_from": "2026-12-01T10:00:00+04:00"}, "received_from"),
        ({"received_to": "1764547200"}, "received_to"),
        ({"received_to": "2026-02-30"}, "received_to"),
        ({"received_to": "2026-W49-2"}, "received_to"),
        ({"received_from": "2026-12-02", "received_to": "2026-12-01"}, "received_to"),
        # A parameter the list does not have is refused, not ignored.
        ({"q": "passport"}, "q"),
        ({"statuses": "closed"}, "statuses"),
        ({"sort": "subject"}, "sort"),
    ],
)
async def test_a_bad_filter_is_422_naming_it(api, keys, params, field):
    body = await page(api, keys.cs_agent, expect=422, **params)
    assert body["error"]["code"] == "validation_error"
    assert [problem["field"] for problem in body["error"]["fields"]] == [field]


async def test_an_admin_lists_no_cases(api, keys):
    body = await page(api, keys.admin, expect=403)
    assert body["error"]["code"] == "forbidden"


async def test_a_channel_lists_only_what_it_submitted(api, keys, own_channel):
    key, references = own_channel
    assert {item["reference"] for item in await every_page(api, key)} == set(references)
    assert not set(references) & {item["reference"] for item in await every_page(api, keys.channel, kind="suggestion")}


async def test_staff_lists_show_the_subject_and_a_channels_does_not(api, keys, own_channel):
    key, references = own_channel
    subjects = {item["reference"]: item["subject"] for item in await every_page(api, keys.cs_agent)}
    assert subjects[references[6]] == "Queue number never called at the Seeb office"
    assert subjects[references[0]] == "Renewal delayed"
    await act(api, keys.cs_agent, references[6], "triage", {"department": DEPARTMENT})
    queue = {item["reference"]: item for item in await every_page(api, keys.department)}
    assert queue[references[6]]["subject"] == "Queue number never called at the Seeb office"
    # A channel reads its cases as their submitters do, and the submitter's view has no subject.
    assert {item["subject"] for item in await every_page(api, key)} == {None}


async def test_days_at_the_edge_of_the_calendar_leave_the_list_open(api, keys, own_channel):
    key, references = own_channel
    items = await every_page(api, key, received_from="0001-01-01", received_to="9999-12-31")
    assert {item["reference"] for item in items} == set(references)


async def test_a_bad_value_of_a_repeated_parameter_says_which_one(api, keys):
    body = await page(api, keys.cs_agent, expect=422, status=["with_department", "lost"])
    assert body["error"]["fields"][0]["field"] == "status"
    assert body["error"]["fields"][0]["reason"].endswith("(value 2 of status)")


async def test_an_unknown_parameter_is_named_in_the_message(api, keys):
    body = await page(api, keys.cs_agent, expect=422, channel="phone", q="passport")
    assert body["error"]["fields"] == [{"field": "q", "reason": "Extra inputs are not permitted"}]
    assert "q:" in body["error"]["message"]
