"""Every path of the case lifecycle, on the real Temporal server with a compressed calendar (1 working day = 2 s).

Complaint: department due after 3 working days, answer due after 5, reminder after 2.
"""

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from store.models import OutboxMessage, TimelineEntry
from tests.conftest import DEPARTMENT, OTHER_DEPARTMENT, WORKING_DAY_SECONDS
from tests.helpers import bearer, complaint, eventually, read_case, submit
from workflows.case import CaseWorkflow
from workflows.messages import Actor, DepartmentReply

DAY = timedelta(seconds=WORKING_DAY_SECONDS)


def days(count: float) -> float:
    """A wait bound in seconds: generous, because a busy machine runs late; a test never waits it out when all is
    well."""
    return count * WORKING_DAY_SECONDS


async def act(api, key: str, reference: str, action: str, body: dict | None = None, expect: int = 200) -> dict:
    response = await api.post(f"/v1/cases/{reference}/{action}", json=body or {}, headers=bearer(key))
    assert response.status_code == expect, response.text
    return response.json()


async def new_case(api, keys, **overrides) -> str:
    created = await submit(api, keys.channel, complaint(**overrides))
    await eventually(lambda: read_case(api, keys.cs_agent, created["reference"]))
    return created["reference"]


async def timeline_actions(database, reference: str) -> list[str]:
    async with database.session() as session:
        entries = await session.exec(
            select(TimelineEntry.action).where(TimelineEntry.reference == reference).order_by(TimelineEntry.id)
        )
        return list(entries.all())


async def outbox(database, reference: str) -> Counter:
    async with database.session() as session:
        rows = await session.exec(select(OutboxMessage).where(OutboxMessage.reference == reference))
        return Counter((row.recipient, row.template) for row in rows.all())


async def wait_for_status(api, keys, reference: str, status: str, timeout: float = 30) -> dict:
    async def reached() -> dict | None:
        case = await read_case(api, keys.auditor, reference)
        # The query shows a new state a moment before its step is in the timeline; wait for both.
        recorded = case["timeline"] and case["timeline"][-1]["to_status"] == status
        return case if case["status"] == status and recorded else None

    return await eventually(reached, timeout=timeout)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_reply_in_time_never_escalates(api, keys, database):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "reply", {"summary": "Renewal processed today."})
    await act(api, keys.cs_agent, reference, "respond", {"message": "Your renewal is ready."})
    case = await read_case(api, keys.auditor, reference)

    # Past the department's deadline, nothing has escalated.
    await eventually(lambda: _after(at(case["department_due"]) + DAY / 2), timeout=days(8))
    case = await read_case(api, keys.auditor, reference)
    assert case["escalation_level"] == 1 and not case["breached"]

    closed = await act(api, keys.cs_agent, reference, "close")
    assert closed["status"] == "closed" and closed["closed_reason"] == "accepted"
    # A slow machine may remind the department before it replies; that is allowed, escalation is not.
    actions = [action for action in await timeline_actions(database, reference) if action != "department_reminded"]
    assert actions == ["received", "triage", "reply", "respond", "closed"]
    messages = await outbox(database, reference)
    messages.pop((f"department:{DEPARTMENT}", "department_reminder"), None)
    assert messages == Counter({
        ("submitter", "acknowledgement"): 1,
        (f"department:{DEPARTMENT}", "case_assigned"): 1,
        ("customer_service", "department_replied"): 1,
        ("submitter", "answer"): 1,
        ("submitter", "closure"): 1,
    })


async def _after(instant: datetime) -> bool:
    from datetime import UTC

    return datetime.now(UTC) >= instant


async def test_no_reply_escalates_once_at_department_due_then_breaches(api, keys, database):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})

    escalated = await eventually(
        lambda: _with(read_case(api, keys.auditor, reference), lambda c: c["escalation_level"] == 2), timeout=days(8)
    )
    breached = await eventually(
        lambda: _with(read_case(api, keys.auditor, reference), lambda c: c["breached"]), timeout=days(8)
    )
    # The DG is reminded each working day while the case stays unanswered.
    await eventually(
        lambda: _count(database, reference, "director_general_reminded", at_least=2), timeout=days(8)
    )

    entries = {entry["action"]: entry for entry in (await read_case(api, keys.auditor, reference))["timeline"]}
    assert at(entries["escalated"]["at"]) >= at(escalated["department_due"])
    assert at(entries["breached"]["at"]) >= at(breached["answer_due"])
    actions = await timeline_actions(database, reference)
    assert actions.count("escalated") == 1 and actions.count("breached") == 1
    assert actions.index("department_reminded") < actions.index("escalated") < actions.index("breached")
    messages = await outbox(database, reference)
    assert messages[("director_general", "escalation")] == 1
    assert messages[("director_general", "breach")] == 1
    assert messages[(f"department:{DEPARTMENT}", "department_reminder")] == 1

    # Once escalated, the Director General replies; the answer ends the breach reminders.
    await act(api, keys.director_general, reference, "reply", {"summary": "Handled by the DG's office."})
    responded = await act(api, keys.cs_agent, reference, "respond", {"message": "Done."})
    assert responded["status"] == "responded"


async def _with(case_coroutine, predicate):
    case = await case_coroutine
    return case if predicate(case) else None


async def _count(database, reference: str, action: str, at_least: int) -> bool:
    return (await timeline_actions(database, reference)).count(action) >= at_least


async def test_an_untriaged_case_escalates_too(api, keys, database):
    reference = await new_case(api, keys)
    case = await eventually(
        lambda: _with(read_case(api, keys.auditor, reference), lambda c: c["escalation_level"] == 2), timeout=days(8)
    )
    assert case["status"] == "received"
    assert (await outbox(database, reference))[("customer_service", "department_reminder")] == 1


async def test_an_information_request_pauses_every_clock(api, keys, database):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    before = await read_case(api, keys.auditor, reference)

    asked = await act(api, keys.department, reference, "request-info", {"question": "Which office did you visit?"})
    assert asked["status"] == "awaiting_submitter" and asked["question"] == "Which office did you visit?"
    # Longer than the department's whole deadline: paused, it must not escalate.
    await eventually(lambda: _after(at(before["department_due"]) + DAY), timeout=days(8))
    waiting = await read_case(api, keys.auditor, reference)
    assert waiting["escalation_level"] == 1 and waiting["status"] == "awaiting_submitter"

    resumed = await act(api, keys.channel, reference, "submitter-info", {"answer": "The Seeb office."})

    assert resumed["status"] == "with_department"
    moved_by = at(resumed["department_due"]) - at(before["department_due"])
    assert moved_by >= 3 * DAY
    assert at(resumed["answer_due"]) - at(before["answer_due"]) == moved_by
    assert await timeline_actions(database, reference) == ["received", "triage", "request_info", "submitter_info"]


async def test_no_answer_from_the_submitter_closes_the_case(api, keys, database):
    reference = await new_case(api, keys)
    asked = await act(api, keys.cs_agent, reference, "request-info", {"question": "Your file number?"})

    case = await wait_for_status(api, keys, reference, "closed", timeout=days(20))

    assert at(case["timeline"][-1]["at"]) >= at(asked["info_due"])
    assert case["timeline"][-1]["detail"] == {"reason": "no_response"}
    assert (await outbox(database, reference))[("submitter", "closure_no_response")] == 1


async def test_a_rejection_closes_the_case_and_tells_the_submitter_why(api, keys, database, temporal_client):
    reference = await new_case(api, keys)
    rejected = await act(api, keys.cs_agent, reference, "reject", {"reason": "duplicate of C-2026-000001"})

    assert rejected["status"] == "rejected"
    result = await temporal_client.get_workflow_handle(f"case-{reference}").result()
    assert result["status"] == "rejected"
    messages = await outbox(database, reference)
    assert messages[("submitter", "rejection")] == 1
    refused = await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT}, expect=409)
    assert refused["error"]["code"] == "case_closed"


async def test_a_contested_answer_reopens_at_level_two(api, keys, database):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "reply", {"summary": "Done."})
    await act(api, keys.cs_agent, reference, "respond", {"message": "It is done."})

    reopened = await act(api, keys.channel, reference, "contest", {"reason": "It is not done."})

    assert reopened["status"] == "with_department" and reopened["escalation_level"] == 2
    assert at(reopened["answer_due"]) > datetime.now(at(reopened["received_at"]).tzinfo)
    await act(api, keys.director_general, reference, "reply", {"summary": "Now it is."})
    responded = await act(api, keys.cs_agent, reference, "respond", {"message": "Now it is done."})
    # Nobody contests the second answer: the case closes when the window ends, and is archived.
    case = await wait_for_status(api, keys, reference, "closed", timeout=days(15))
    assert at(case["closed_at"]) >= at(responded["contest_due"])
    assert (await timeline_actions(database, reference))[-1] == "closed"
    assert (await outbox(database, reference))[("director_general", "reopened")] == 1


async def test_a_priority_change_moves_a_reports_deadlines(api, keys):
    reference = await new_case(api, keys, kind="report", priority="low")
    low = await read_case(api, keys.auditor, reference)

    critical = await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT, "priority": "critical"})

    received = at(low["received_at"])
    assert at(low["department_due"]) - received == 10 * DAY
    assert at(critical["department_due"]) - received == 1 * DAY
    assert at(critical["answer_due"]) - received == 2 * DAY


@pytest.mark.parametrize(
    ("role", "action", "body", "reason"),
    [
        ("director_general", "reply", {"summary": "x"}, "only once it is escalated"),
        ("cs_agent", "respond", {"message": "x"}, "cannot respond a case that is with_department"),
        ("auditor", "triage", {"department": DEPARTMENT}, "may not triage"),
    ],
)
async def test_a_refused_update_is_409_and_records_nothing(api, keys, database, role, action, body, reason):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": OTHER_DEPARTMENT})
    before = await timeline_actions(database, reference)

    refused = await act(api, getattr(keys, role), reference, action, body, expect=409)

    assert refused["error"]["code"] == "action_refused"
    assert reason in refused["error"]["message"]
    assert await timeline_actions(database, reference) == before


async def test_a_signal_the_state_does_not_allow_is_recorded_as_refused(api, keys, database, temporal_client):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    handle = temporal_client.get_workflow_handle(f"case-{reference}")

    await handle.signal(CaseWorkflow.reply_signal, DepartmentReply(Actor("department", OTHER_DEPARTMENT, "ops"), "x"))
    await handle.signal(CaseWorkflow.reply_signal, DepartmentReply(Actor("department", DEPARTMENT, "ops"), "Fixed."))

    case = await wait_for_status(api, keys, reference, "replied")
    refused = [entry for entry in case["timeline"] if entry["action"] == "refused"]
    assert len(refused) == 1
    assert refused[0]["detail"]["action"] == "reply"
    assert "not routed to the caller's department" in refused[0]["detail"]["reason"]
