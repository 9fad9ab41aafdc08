"""The submitter's own view: reference + tracking code, on the real servers (1 working day = 1 s).

Tracking calls go through an app of this module's own with a fresh wrong-code limiter per test, so
that the wrong codes these tests send never rate-limit another test, and with the public per-address
limit lifted (it has tests of its own, tests/api/test_public_limits.py); staff act through `api`.
"""

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlmodel import select, update

from api.app import create_app
from api.public_limit import PublicLimiter
from api.ratelimit import FailureLimiter, GuessedCase, GuessingAddress, RateLimited, TrackingLimiter
from store.models import CaseRecord, TimelineEntry
from store.ratings import Rating
from tests.conftest import DEPARTMENT
from tests.helpers import bearer, complaint, eventually, read_case, submit
from workflows.case import CaseWorkflow
from workflows.messages import Actor, DepartmentReply

ARABIC = re.compile(r"[\u0600-\u06FF]")
UNKNOWN_REFERENCE = "C-2026-999999"
WRONG_CODE = "A" * 22

# What a stranger holding the code must never read.
SUBMITTER_DATA = ("Salim", "12345678", "salim@example.om", "+96891234567")
INTERNAL_SUMMARY = "Clerk Hamad misfiled the application in room 4."


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tracking_client(services, limiter: TrackingLimiter, address: str = "127.0.0.1") -> httpx.AsyncClient:
    app = create_app(services=services)
    app.state.tracking_limiter = limiter
    app.state.public_limiter = PublicLimiter(per_window=1_000_000)
    transport = httpx.ASGITransport(app=app, client=(address, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


@pytest.fixture
async def track(services, api) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the tracking routes; `api` keeps the worker running."""
    async with tracking_client(services, TrackingLimiter()) as client:
        yield client


def code(value: str) -> dict[str, str]:
    return {"X-Tracking-Code": value}


async def act(api, key: str, reference: str, action: str, body: dict | None = None, expect: int = 200) -> dict:
    response = await api.post(f"/v1/cases/{reference}/{action}", json=body or {}, headers=bearer(key))
    assert response.status_code == expect, response.text
    return response.json()


async def new_case(api, keys, **overrides) -> tuple[str, str]:
    created = await submit(api, keys.channel, complaint(**overrides))
    await eventually(lambda: read_case(api, keys.cs_agent, created["reference"]))
    return created["reference"], created["tracking_code"]


async def view(track, reference: str, tracking_code: str) -> dict:
    response = await track.get(f"/v1/track/{reference}", headers=code(tracking_code))
    assert response.status_code == 200, response.text
    return response.json()


def step_codes(tracking: dict) -> list[str]:
    return [step["step"] for step in tracking["steps"]]


def assert_nothing_internal(tracking: dict) -> None:
    text = json.dumps(tracking, ensure_ascii=False)
    for secret in (*SUBMITTER_DATA, INTERNAL_SUMMARY, "channel#", "cs_agent", "auditor", f"department/{DEPARTMENT}",
                   DEPARTMENT, "director_general#", "refused", "reminded"):
        assert secret not in text, f"{secret!r} is in the submitter's view"
    for step in tracking["steps"]:
        assert set(step) == {"at", "step", "text", "note"}


async def test_the_submitter_follows_the_case_in_arabic_and_english(api, track, keys):
    reference, tracking_code = await new_case(api, keys)

    received = await view(track, reference, tracking_code)
    assert received["status"] == "received"
    assert received["status_text"] == {"ar": "تم استلام طلبكم", "en": "Received"}
    assert received["answer_due"] is not None and received["question"] is None and received["answer"] is None
    assert step_codes(received) == ["received"]

    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "request-info", {"question": "Which office did you visit?"})
    asked = await view(track, reference, tracking_code)
    assert asked["status"] == "awaiting_submitter" and asked["can_answer"]
    assert asked["question"] == "Which office did you visit?"
    assert asked["info_due"] is not None
    assert asked["steps"][-1]["step"] == "information_requested"
    assert asked["steps"][-1]["note"] == "Which office did you visit?"

    answered = await track.post(f"/v1/track/{reference}/info", json={"answer": "The Seeb office."},
                                headers=code(tracking_code))
    assert answered.status_code == 200, answered.text
    await act(api, keys.department, reference, "reply", {"summary": INTERNAL_SUMMARY})
    await act(api, keys.cs_agent, reference, "respond", {"message": "Your passport is ready for collection."})

    tracking = await view(track, reference, tracking_code)
    assert tracking["status"] == "responded"
    assert tracking["status_text"] == {"ar": "تم إرسال الرد إليكم", "en": "Answered"}
    assert tracking["answer"] == "Your passport is ready for collection."
    assert tracking["contest_due"] is not None and tracking["can_contest"]
    assert tracking["question"] is None and tracking["answer_due"] is None
    codes = step_codes(tracking)
    assert codes == ["received", "referred", "information_requested", "information_received",
                     "answer_in_preparation", "answered"]
    for step in tracking["steps"]:
        assert ARABIC.search(step["text"]["ar"]) and step["text"]["en"].isascii() and step["at"]
    assert tracking["steps"][-1]["note"] == "Your passport is ready for collection."
    assert [step["at"] for step in tracking["steps"]] == sorted(step["at"] for step in tracking["steps"])
    assert_nothing_internal(tracking)


async def test_internal_steps_and_staff_are_left_out(api, track, keys, temporal_client):
    reference, tracking_code = await new_case(api, keys)
    handle = temporal_client.get_workflow_handle(f"case-{reference}")
    await handle.signal(CaseWorkflow.reply_signal, DepartmentReply(Actor("auditor", None, "ops"), "x"))

    # Nobody triages: the customer-service team is reminded, then the case escalates to the DG.
    async def escalated_with_everything_recorded() -> dict | None:
        case = await read_case(api, keys.auditor, reference)
        actions = {entry["action"] for entry in case["timeline"]}
        return case if {"refused", "department_reminded", "escalated"} <= actions else None

    await eventually(escalated_with_everything_recorded, timeout=20)

    tracking = await view(track, reference, tracking_code)
    codes = step_codes(tracking)
    assert codes[0] == "received" and "escalated" in codes
    assert set(codes) <= {"received", "referred", "escalated", "late"}
    assert_nothing_internal(tracking)


async def test_a_channel_reading_its_case_sees_what_the_submitter_sees(api, track, keys):
    reference, tracking_code = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "reply", {"summary": INTERNAL_SUMMARY})

    async def the_same_as_the_tracking_view() -> dict:
        as_channel = await read_case(api, keys.channel, reference)
        assert as_channel == await view(track, reference, tracking_code)
        return as_channel

    # Read twice, the two may straddle a step (a reminder, an escalation): retried until they agree.
    as_channel = await eventually(the_same_as_the_tracking_view)
    assert "answer_in_preparation" in step_codes(as_channel)
    # Neither the department's internal reply nor staff key labels, nor the submitter's details.
    assert_nothing_internal(as_channel)
    staff = await read_case(api, keys.cs_agent, reference)
    assert INTERNAL_SUMMARY in json.dumps(staff)
    assert any(entry["actor"].startswith("department") for entry in staff["timeline"])


async def test_a_rejection_shows_its_reason(api, track, keys):
    reference, tracking_code = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "reject", {"reason": "Outside the ministry's competence."})

    tracking = await view(track, reference, tracking_code)

    assert tracking["status"] == "rejected"
    assert tracking["rejection_reason"] == "Outside the ministry's competence."
    assert tracking["steps"][-1] == {**tracking["steps"][-1], "step": "rejected",
                                     "note": "Outside the ministry's competence."}
    assert tracking["answer_due"] is None and tracking["closed_at"] is not None
    assert not (tracking["can_answer"] or tracking["can_contest"] or tracking["can_rate"])


async def test_a_wrong_code_is_the_same_404_as_an_unknown_reference(api, track, keys):
    reference, tracking_code = await new_case(api, keys)

    wrong_code = await track.get(f"/v1/track/{reference}", headers=code(WRONG_CODE))
    unknown = await track.get(f"/v1/track/{UNKNOWN_REFERENCE}", headers=code(tracking_code))
    no_code = await track.get(f"/v1/track/{reference}")
    wrong_code_action = await track.post(f"/v1/track/{reference}/contest", json={"reason": "x"},
                                         headers=code(WRONG_CODE))
    # Even a bad body is not looked at before the code is right.
    bad_body_action = await track.post(f"/v1/track/{reference}/rating", json={"score": 9}, headers=code(WRONG_CODE))

    for response in (wrong_code, unknown, no_code, wrong_code_action, bad_body_action):
        assert response.status_code == 404
        assert response.content == wrong_code.content
    assert wrong_code.json()["error"]["code"] == "not_found"
    assert reference not in wrong_code.text
    # The right code on the right case still works.
    assert (await view(track, reference, tracking_code))["reference"] == reference


def limited_by(response: httpx.Response, retry_after: str) -> bool:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "too_many_attempts"
    assert response.headers["Retry-After"] == retry_after
    return True


async def test_an_address_over_its_limit_still_follows_a_case_nobody_guessed(api, services, keys):
    """Behind a carrier's shared address, one person's wrong codes do not lock out everyone else."""
    (shared_case, shared_code), (guessed_case, guessed_code) = await new_case(api, keys), await new_case(api, keys)
    clock = Clock()
    limiter = TrackingLimiter(max_failures_per_address=3, max_failures_per_case=3, window_seconds=60, clock=clock)
    async with tracking_client(services, limiter, "198.51.100.7") as carrier, \
            tracking_client(services, limiter, "203.0.113.9") as elsewhere:
        for tried in ("C-2026-999991", "C-2026-999992", "C-2026-999993"):
            clock.now += 5
            assert (await carrier.get(f"/v1/track/{tried}", headers=code(WRONG_CODE))).status_code == 404

        # The address is over its limit; the right code of a case that nobody guessed still works from it.
        assert (await view(carrier, shared_case, shared_code))["reference"] == shared_case
        # A wrong guess from it is refused: 429, not 404, whichever case it names (the first failure, at t+5,
        # leaves the 60 s window 50 s after now).
        assert limited_by(await carrier.get(f"/v1/track/{guessed_case}", headers=code(WRONG_CODE)), "50")
        assert limited_by(await carrier.get("/v1/track/C-2026-999994", headers=code(WRONG_CODE)), "50")
        # That guess made `guessed_case` a case being guessed: the over-limit address may not try it again,
        assert limited_by(await carrier.get(f"/v1/track/{guessed_case}", headers=code(guessed_code)), "50")
        # while another address, and the shared case from the same address, go on as before.
        assert (await view(elsewhere, guessed_case, guessed_code))["reference"] == guessed_case
        assert (await view(carrier, shared_case, shared_code))["reference"] == shared_case

        clock.now += 60  # every failure of the address and of the case has left the window
        assert (await view(carrier, guessed_case, guessed_code))["reference"] == guessed_case


async def test_a_case_being_guessed_is_locked_for_a_while_from_every_address(api, services, keys):
    (reference, tracking_code), (other_case, other_code) = await new_case(api, keys), await new_case(api, keys)
    clock = Clock()
    limiter = TrackingLimiter(max_failures_per_address=3, max_failures_per_case=3, window_seconds=60, clock=clock)
    guessers = [tracking_client(services, limiter, f"192.0.2.{n}") for n in (11, 12, 13)]
    async with tracking_client(services, limiter, "203.0.113.20") as submitter:
        await view(submitter, reference, tracking_code)  # a right code costs nothing
        for guesser in guessers:
            async with guesser:
                clock.now += 5
                # One wrong code each: no address is near its own limit.
                assert (await guesser.get(f"/v1/track/{reference}", headers=code(WRONG_CODE))).status_code == 404

        # Three addresses guessed it: the case is locked, for the right code too and for POSTs, from anywhere.
        assert limited_by(await submitter.get(f"/v1/track/{reference}", headers=code(tracking_code)), "50")
        assert limited_by(await submitter.post(f"/v1/track/{reference}/rating", json={"score": 5},
                                               headers=code(tracking_code)), "50")
        assert "case" in (await submitter.get(f"/v1/track/{reference}", headers=code(tracking_code))).json()["error"][
            "message"]
        # Other cases are not affected, from the same address.
        assert (await view(submitter, other_case, other_code))["reference"] == other_case

        clock.now += 30
        assert limited_by(await submitter.get(f"/v1/track/{reference}", headers=code(tracking_code)), "20")
        clock.now += 20
        assert (await view(submitter, reference, tracking_code))["reference"] == reference


async def test_wrong_codes_from_one_address_are_limited_across_cases(api, services, keys):
    reference, tracking_code = await new_case(api, keys)
    clock = Clock()
    limiter = TrackingLimiter(max_failures_per_address=3, max_failures_per_case=10, window_seconds=60, clock=clock)
    async with tracking_client(services, limiter, "192.0.2.30") as track:
        for path, tried in ((reference, WRONG_CODE), (UNKNOWN_REFERENCE, tracking_code), (reference, "guess")):
            clock.now += 5
            assert (await track.get(f"/v1/track/{path}", headers=code(tried))).status_code == 404
        # Over its limit, the address may not go on guessing this case (it was being guessed), with any code.
        assert limited_by(await track.get(f"/v1/track/{reference}", headers=code(WRONG_CODE)), "50")
        assert limited_by(await track.get(f"/v1/track/{reference}", headers=code(tracking_code)), "50")
        clock.now += 50
        assert (await view(track, reference, tracking_code))["reference"] == reference


def test_the_tracking_limiter_counts_cases_and_addresses_apart():
    clock = Clock()
    limiter = TrackingLimiter(max_failures_per_address=2, max_failures_per_case=2, window_seconds=10, clock=clock)
    limiter.succeeded(limiter.attempt("C-1", "a"))  # right: withdrawn from both counts
    limiter.attempt("C-1", "a")
    limiter.attempt("C-2", "a")
    # "a" is over its limit: a clean case may still be tried (and is refused if wrong), a guessed one not at all.
    clean = limiter.attempt("C-3", "a")
    assert clean.address_over_limit == 10
    with pytest.raises(GuessingAddress):
        limiter.attempt("C-1", "a")
    with pytest.raises(GuessingAddress):
        limiter.attempt("C-3", "a")  # the attempt above counts on C-3 until it proves right
    limiter.succeeded(clean)
    limiter.succeeded(limiter.attempt("C-3", "a"))
    # Another address guesses C-1 once more: C-1 is locked for everyone, "b" included.
    limiter.attempt("C-1", "b")
    with pytest.raises(GuessedCase) as locked:
        limiter.attempt("C-1", "c")
    assert locked.value.retry_after == 10
    assert limiter.attempt("C-4", "c").address_over_limit is None
    clock.now += 10
    assert limiter.attempt("C-1", "c").address_over_limit is None


def test_the_limiter_counts_failures_in_a_sliding_window():
    clock = Clock()
    limiter = FailureLimiter(max_failures=2, window_seconds=10, clock=clock)
    limiter.succeeded("a", limiter.attempt("a"))  # right: withdrawn
    limiter.attempt("a")
    clock.now += 4
    limiter.attempt("a")
    assert limiter.retry_after("b") is None
    with pytest.raises(RateLimited) as limited:
        limiter.attempt("a")
    assert limited.value.retry_after == 6 == limiter.retry_after("a")
    clock.now += 6  # the first failure leaves the window: one more try
    limiter.attempt("a")
    with pytest.raises(RateLimited) as limited:
        limiter.attempt("a")
    assert limited.value.retry_after == 4
    with pytest.raises(ValueError):
        FailureLimiter(max_failures=0)


async def test_an_answer_to_the_question_resumes_the_case(api, track, keys):
    reference, tracking_code = await new_case(api, keys)
    refused = await track.post(f"/v1/track/{reference}/info", json={"answer": "unasked"}, headers=code(tracking_code))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "action_refused"

    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "request-info", {"question": "Your file number?"})
    invalid = await track.post(f"/v1/track/{reference}/info", json={"answer": "", "extra": 1},
                               headers=code(tracking_code))
    assert invalid.status_code == 422
    assert {field["field"] for field in invalid.json()["error"]["fields"]} == {"answer", "extra"}

    resumed = await track.post(f"/v1/track/{reference}/info", json={"answer": "F-2291"}, headers=code(tracking_code))

    assert resumed.status_code == 200, resumed.text
    tracking = resumed.json()
    assert tracking["status"] == "with_department" and tracking["question"] is None
    assert tracking["steps"][-1]["step"] == "information_received"
    case = await read_case(api, keys.auditor, reference)
    assert case["status"] == "with_department"
    assert case["timeline"][-1]["action"] == "submitter_info"
    assert case["timeline"][-1]["actor"] == "submitter"
    assert case["timeline"][-1]["detail"]["answer"] == "F-2291"


async def test_a_contest_reopens_the_case_with_the_director_general(api, track, keys):
    reference, tracking_code = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    early = await track.post(f"/v1/track/{reference}/contest", json={"reason": "Too early"},
                             headers=code(tracking_code))
    assert early.status_code == 409
    await act(api, keys.department, reference, "reply", {"summary": INTERNAL_SUMMARY})
    await act(api, keys.cs_agent, reference, "respond", {"message": "It is done."})

    contested = await track.post(f"/v1/track/{reference}/contest", json={"reason": "It is not done."},
                                 headers=code(tracking_code))

    assert contested.status_code == 200, contested.text
    tracking = contested.json()
    assert tracking["status"] == "with_department"
    assert tracking["steps"][-1]["step"] == "reopened"
    assert tracking["answer"] is None and not tracking["can_contest"] and tracking["answer_due"] is not None
    case = await read_case(api, keys.auditor, reference)
    assert case["status"] == "with_department" and case["escalation_level"] == 2
    assert case["timeline"][-1]["actor"] == "submitter"
    again = await track.post(f"/v1/track/{reference}/contest", json={"reason": "Again"}, headers=code(tracking_code))
    assert again.status_code == 409 and again.json()["error"]["code"] == "action_refused"
    assert_nothing_internal(tracking)


async def test_a_closed_case_is_rated_once(api, track, keys, database):
    reference, tracking_code = await new_case(api, keys)
    rating = f"/v1/track/{reference}/rating"
    too_early = await track.post(rating, json={"score": 5}, headers=code(tracking_code))
    assert too_early.status_code == 409 and too_early.json()["error"]["code"] == "action_refused"

    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "reply", {"summary": INTERNAL_SUMMARY})
    await act(api, keys.cs_agent, reference, "respond", {"message": "Your passport is ready."})
    await act(api, keys.cs_agent, reference, "close")
    closed = await view(track, reference, tracking_code)
    assert closed["status"] == "closed" and closed["can_rate"]
    assert closed["answer"] == "Your passport is ready."
    assert closed["steps"][-1]["step"] == "closed"
    assert closed["steps"][-1]["text"]["en"] == "Your case was closed after you accepted the answer."

    for bad in ({"score": 0}, {"score": 6}, {"score": "5"}, {"score": 4.5}, {"score": True}, {},
                {"score": 3, "comment": ""}, {"score": 3, "stars": 3}):
        response = await track.post(rating, json=bad, headers=code(tracking_code))
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "validation_error"

    rated = await track.post(rating, json={"score": 4, "comment": "Quick and clear."}, headers=code(tracking_code))
    assert rated.status_code == 201, rated.text
    assert rated.json()["score"] == 4 and rated.json()["comment"] == "Quick and clear."
    again = await track.post(rating, json={"score": 1}, headers=code(tracking_code))
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"

    async with database.session() as session:
        stored = (await session.exec(select(Rating).where(Rating.reference == reference))).all()
    assert [(row.score, row.comment) for row in stored] == [(4, "Quick and clear.")]
    assert not (await view(track, reference, tracking_code))["can_rate"]


async def test_the_case_row_keeps_the_words_last_written_to_the_submitter(api, track, keys, database):
    """What the view shows once the workflow has ended is the case's own record, not a search of its timeline."""
    reference, tracking_code = await new_case(api, keys)

    async def words() -> tuple:
        async with database.session() as session:
            record = await session.get(CaseRecord, reference)
            await session.refresh(record)
            return record.question, record.answer, record.rejection_reason

    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "request-info", {"question": "Your file number?"})
    assert await words() == ("Your file number?", None, None)
    await track.post(f"/v1/track/{reference}/info", json={"answer": "F-2291"}, headers=code(tracking_code))
    assert await words() == (None, None, None)
    await act(api, keys.department, reference, "reply", {"summary": INTERNAL_SUMMARY})
    await act(api, keys.cs_agent, reference, "respond", {"message": "It is done."})
    assert await words() == (None, "It is done.", None)
    await track.post(f"/v1/track/{reference}/contest", json={"reason": "It is not done."}, headers=code(tracking_code))
    assert await words() == (None, None, None)

    rejected, rejected_code = await new_case(api, keys)
    await act(api, keys.cs_agent, rejected, "reject", {"reason": "A duplicate of C-2026-000001."})
    async with database.transaction() as session:
        # The view reads the row: a timeline that says otherwise does not change what it shows.
        await session.exec(
            update(TimelineEntry)
            .where(TimelineEntry.reference == rejected, TimelineEntry.action == "reject")
            .values(detail={"reason": "not what the case keeps"})
        )
    assert (await view(track, rejected, rejected_code))["rejection_reason"] == "A duplicate of C-2026-000001."
