"""Retention: the scheduled workflow erases the personal data of long-closed cases, and nothing else.

The cases are rows written straight into PostgreSQL, closed decades ago: the other tests of the
session close their cases today, so a cut-off years in the past reaches only the rows made here.
"""

import os
import re
import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import ScheduleOverlapPolicy
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.retention import ERASED, PersonalDataRetention, retention_activities
from core.retention_schedule import ScheduleChange, ensure_retention_schedule
from core.timekeeping import timekeeping
from store.tables import CASES, INTAKE_REQUESTS, OUTBOX, RATINGS, TIMELINE
from workflows.retention import RetentionWorkflow
from workflows.retention_messages import ErasureBatch, RetentionRun

HISTORIES = Path(__file__).resolve().parent.parent / "replay" / "histories"

TWENTY_YEARS = 20 * 365
PERSONAL = {
    "submitter_name": "Salim Al-Harthy",
    "submitter_civil_id": "12345678",
    "submitter_email": "salim@example.om",
    "submitter_phone": "+96891234567",
    "subject": "Passport renewal delayed",
    "description": "Applied three weeks ago at the Seeb office; nobody answers.",
}
DUE = "2001-03-08T10:30:00+00:00"

# A closed complaint's life: what the workflow writes in the timeline, then what erasure leaves of it.
CLOSED_TIMELINE = [
    ("received", {"channel": "website", "policy_version": "2026.1"}),
    ("triage", {"department": "CIVIL_STATUS", "kind": "complaint", "priority": None}),
    ("request_info", {"question": "Salim, at which office did you apply?", "info_due": DUE}),
    ("submitter_info", {"answer": "Seeb, on 3 March", "department_due": DUE, "answer_due": DUE}),
    ("refused", {"action": "reply", "reason": "not routed to the caller's department"}),
    ("reply", {"summary": "The file of Mr Al-Harthy was misplaced"}),
    ("respond", {"message": "Your passport is ready for collection", "contest_due": DUE}),
    ("contest", {"reason": "It was not ready when I went", "answer_due": DUE}),
    ("escalated", {"escalation_level": 2, "department_due": DUE}),
    ("instruct", {"department": "CIVIL_STATUS", "instruction": "Call Mr Al-Harthy on his mobile today"}),
    ("delivery_failed", {"template": "answer", "recipient": "submitter", "reason": "550 no mailbox salim@example.om"}),
    ("closed", {"reason": "accepted"}),
]
CLOSED_TIMELINE_ERASED = [
    ("received", {"channel": "website", "policy_version": "2026.1"}),
    ("triage", {"department": "CIVIL_STATUS", "kind": "complaint", "priority": None}),
    ("request_info", {"question": ERASED, "info_due": DUE}),
    ("submitter_info", {"answer": ERASED, "department_due": DUE, "answer_due": DUE}),
    ("refused", {"action": "reply", "reason": ERASED}),
    ("reply", {"summary": ERASED}),
    ("respond", {"message": ERASED, "contest_due": DUE}),
    ("contest", {"reason": ERASED, "answer_due": DUE}),
    ("escalated", {"escalation_level": 2, "department_due": DUE}),
    ("instruct", {"department": "CIVIL_STATUS", "instruction": ERASED}),
    ("delivery_failed", {"template": "answer", "recipient": "submitter", "reason": ERASED}),
    ("closed", {"reason": "accepted"}),
]
REJECTED_TIMELINE = [
    ("received", {"channel": "website", "policy_version": "2026.1"}),
    ("reject", {"reason": "Mr Al-Harthy's neighbour is not a matter for this ministry"}),
]
REJECTED_TIMELINE_ERASED = [
    ("received", {"channel": "website", "policy_version": "2026.1"}),
    ("reject", {"reason": ERASED}),
]
# What the workflow puts in the outbox: (template, extra context), then what erasure leaves.
MESSAGES = [
    ("acknowledgement", {}),
    ("info_request", {"question": "Salim, at which office did you apply?"}),
    ("answer", {"message": "Your passport is ready for collection"}),
    ("rejection", {"reason": "Mr Al-Harthy's neighbour is not a matter for this ministry"}),
]
MESSAGES_ERASED = [
    ("acknowledgement", {}),
    ("info_request", {"question": ERASED}),
    ("answer", {"message": ERASED}),
    ("rejection", {"reason": ERASED}),
]


def new_reference() -> str:
    return f"C-RT-{secrets.token_hex(5)}"


async def insert_case(
    database,
    *,
    closed_at: datetime | None,
    received_at: datetime,
    status: str = "closed",
    timeline=CLOSED_TIMELINE,
    rating_comment: str | None = "The officer at the counter was rude to my father",
) -> str:
    """A case row as the workflow leaves it, with its timeline, outbox, rating and intake key."""
    reference = new_reference()
    async with database.transaction() as session:
        await session.exec(insert(CASES).values(
            reference=reference, kind="complaint", channel="website", channel_ref=f"web-{reference}",
            submitter_category="beneficiary", **PERSONAL, priority=None, status=status,
            department="CIVIL_STATUS", escalation_level=2, breached=True, tracking_code_hash="0" * 64,
            policy_version="2026.1", received_at=received_at, department_due=received_at + timedelta(days=3),
            answer_due=received_at + timedelta(days=5), closed_at=closed_at,
            updated_at=closed_at or received_at, last_step=len(timeline), submitted_by_key="7",
        ))
        for number, (action, detail) in enumerate(timeline, start=1):
            await session.exec(insert(TIMELINE).values(
                reference=reference, step_key=f"{number:04d}-{action}", at=received_at + timedelta(hours=number),
                actor="cs_agent#2", action=action, detail=detail,
            ))
        for number, (template, extra) in enumerate(MESSAGES):
            context = {"reference": reference, "kind": "complaint", "status": "closed", "answer_due": DUE, **extra}
            await session.exec(insert(OUTBOX).values(
                reference=reference, message_key=f"{number:04d}-{template}", recipient="submitter",
                template=template, context=context, status="sent", created_at=received_at,
            ))
        if closed_at is not None:
            await session.exec(insert(RATINGS).values(
                reference=reference, score=2, comment=rating_comment, created_at=closed_at,
            ))
        await session.exec(insert(INTAKE_REQUESTS).values(
            idempotency_key=f"ref:website:web-{reference}", request_hash="1" * 64, reference=reference,
            received_at=received_at,
        ))
    return reference


async def snapshot(database, reference: str) -> dict:
    """Everything PostgreSQL holds about a case."""
    async with database.session() as session:
        async def rows(table, order):
            result = await session.exec(select(table).where(table.c.reference == reference).order_by(order))
            return [dict(row._mapping) for row in result.all()]

        return {
            "case": (await rows(CASES, CASES.c.reference))[0],
            "timeline": await rows(TIMELINE, TIMELINE.c.id),
            "outbox": await rows(OUTBOX, OUTBOX.c.id),
            "ratings": await rows(RATINGS, RATINGS.c.reference),
            "intake_requests": await rows(INTAKE_REQUESTS, INTAKE_REQUESTS.c.idempotency_key),
        }


def assert_erased(before: dict, after: dict, timeline_erased) -> None:
    """The personal data is gone, and the case's record and numbers are exactly as they were."""
    case = after["case"]
    assert case["personal_data_erased_at"] is not None
    assert case == {
        **before["case"],
        "submitter_name": None, "submitter_civil_id": None, "submitter_email": None, "submitter_phone": None,
        "subject": ERASED, "description": ERASED, "channel_ref": None,
        "personal_data_erased_at": case["personal_data_erased_at"],
    }
    assert [(row["action"], row["detail"]) for row in after["timeline"]] == timeline_erased
    assert [{**row, "detail": None} for row in after["timeline"]] == [
        {**row, "detail": None} for row in before["timeline"]]
    reference = case["reference"]
    assert [(row["template"], row["context"]) for row in after["outbox"]] == [
        (template, {"reference": reference, "kind": "complaint", "status": "closed", "answer_due": DUE, **extra})
        for template, extra in MESSAGES_ERASED
    ]
    assert [{**row, "context": None} for row in after["outbox"]] == [
        {**row, "context": None} for row in before["outbox"]]
    assert after["ratings"] == [{**rating, "comment": None} for rating in before["ratings"]]
    assert after["intake_requests"] == []
    text = repr(after)
    for value in PERSONAL.values():
        assert value not in text
    assert "Salim" not in text and "Al-Harthy" not in text and f"web-{reference}" not in text


@pytest.fixture
def policy(settings):
    return timekeeping(settings).policy


@pytest.fixture
async def retention_queue(temporal_client, database, policy):
    """A worker of our own for RetentionWorkflow and its activity, on a task queue no other test uses."""
    queue = f"retention-{uuid.uuid4()}"
    worker = Worker(
        temporal_client, task_queue=queue, workflows=[RetentionWorkflow],
        activities=retention_activities(database, policy)
    )
    async with worker:
        yield queue


async def test_the_workflow_erases_exactly_the_expired_cases(request, temporal_client, database, retention_queue):
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=40 * 365)
    expired = [
        await insert_case(database, received_at=long_ago, closed_at=long_ago + timedelta(days=9)),
        await insert_case(database, received_at=long_ago, closed_at=long_ago + timedelta(days=1),
                          status="rejected", timeline=REJECTED_TIMELINE),
        await insert_case(database, received_at=long_ago, closed_at=long_ago + timedelta(days=20), rating_comment=None),
    ]
    # Closed ten years ago: inside a twenty-year retention. Open: never closed, however old.
    recent = await insert_case(database, received_at=now - timedelta(days=3660), closed_at=now - timedelta(days=3650))
    still_open = await insert_case(database, received_at=long_ago, closed_at=None, status="with_department")
    before = {reference: await snapshot(database, reference) for reference in [*expired, recent, still_open]}

    # Batches of two: the workflow needs a second batch for the third case.
    handle = await temporal_client.start_workflow(
        RetentionWorkflow.run, RetentionRun(personal_data_days=TWENTY_YEARS, batch_size=2),
        id=f"retention-{uuid.uuid4()}", task_queue=retention_queue,
    )
    outcome = await handle.result()

    assert outcome.erased == 3
    assert now - timedelta(days=TWENTY_YEARS) <= outcome.cutoff <= datetime.now(UTC) - timedelta(days=TWENTY_YEARS)
    for reference, timeline in zip(expired, [CLOSED_TIMELINE_ERASED, REJECTED_TIMELINE_ERASED, CLOSED_TIMELINE_ERASED],
                                   strict=True):
        assert_erased(before[reference], await snapshot(database, reference), timeline)
    assert await snapshot(database, recent) == before[recent]
    assert await snapshot(database, still_open) == before[still_open]
    activities = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert activities == ["erase_expired_personal_data"] * 2

    if os.environ.get("RECORD_HISTORIES"):
        name = re.sub(r"[^A-Za-z0-9_]+", "-", request.node.name).strip("-")
        (HISTORIES / f"{name}-0.json").write_text((await handle.fetch_history()).to_json())


async def test_a_long_run_continues_as_new_and_finishes_the_job(temporal_client, database, retention_queue):
    long_ago = datetime.now(UTC) - timedelta(days=50 * 365)
    expired = [await insert_case(database, received_at=long_ago, closed_at=long_ago) for _ in range(3)]

    handle = await temporal_client.start_workflow(
        RetentionWorkflow.run, RetentionRun(personal_data_days=TWENTY_YEARS, batch_size=1, batches_per_run=2),
        id=f"retention-{uuid.uuid4()}", task_queue=retention_queue,
    )
    outcome = await handle.result()

    assert outcome.erased == 3
    first_run = await temporal_client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id).describe()
    last_run = await temporal_client.get_workflow_handle(handle.id).describe()
    assert first_run.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
    assert last_run.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
    assert last_run.run_id != first_run.run_id
    for reference in expired:
        assert (await snapshot(database, reference))["case"]["personal_data_erased_at"] is not None


async def test_a_retried_batch_changes_nothing(database, policy):
    long_ago = datetime.now(UTC) - timedelta(days=30 * 365)
    reference = await insert_case(database, received_at=long_ago, closed_at=long_ago)
    erase = PersonalDataRetention(database, policy).erase_expired_personal_data
    batch = ErasureBatch(cutoff=datetime.now(UTC) - timedelta(days=TWENTY_YEARS), batch_size=100)

    first = await ActivityEnvironment().run(erase, batch)
    erased = await snapshot(database, reference)
    again = await ActivityEnvironment().run(erase, batch)

    assert first.erased >= 1 and not first.more
    assert erased["case"]["personal_data_erased_at"] is not None
    assert again.erased == 0 and not again.more
    assert await snapshot(database, reference) == erased


async def test_a_case_another_run_holds_is_skipped_not_waited_for(database, policy):
    long_ago = datetime.now(UTC) - timedelta(days=30 * 365)
    held = await insert_case(database, received_at=long_ago, closed_at=long_ago)
    free = await insert_case(database, received_at=long_ago, closed_at=long_ago)
    erase = PersonalDataRetention(database, policy).erase_expired_personal_data
    batch = ErasureBatch(cutoff=datetime.now(UTC) - timedelta(days=TWENTY_YEARS), batch_size=100)

    async with database.transaction() as other_run:
        await other_run.exec(select(CASES.c.reference).where(CASES.c.reference == held).with_for_update())
        result = await ActivityEnvironment().run(erase, batch)
        assert result.erased == 1
        assert (await snapshot(database, free))["case"]["personal_data_erased_at"] is not None
        held_meanwhile = await snapshot(database, held)
        assert held_meanwhile["case"]["personal_data_erased_at"] is None
        assert held_meanwhile["case"]["submitter_name"] == PERSONAL["submitter_name"]

    assert (await ActivityEnvironment().run(erase, batch)).erased == 1
    assert (await snapshot(database, held))["case"]["personal_data_erased_at"] is not None


async def test_a_cut_off_later_than_the_policy_allows_erases_nothing_early(database, policy):
    now = datetime.now(UTC)
    within = await insert_case(database, received_at=now - timedelta(days=110), closed_at=now - timedelta(days=100))
    beyond = await insert_case(
        database, received_at=now - timedelta(days=410),
        closed_at=now - timedelta(days=policy.personal_data_retention_days + 35)
    )
    before = await snapshot(database, within)

    # A stale schedule that asks for everything closed until now: the worker's policy still holds.
    await ActivityEnvironment().run(
        PersonalDataRetention(database, policy).erase_expired_personal_data, ErasureBatch(cutoff=now, batch_size=100)
    )

    assert await snapshot(database, within) == before
    assert (await snapshot(database, beyond))["case"]["personal_data_erased_at"] is not None


async def test_the_schedule_is_made_once_and_follows_the_policy(temporal_client, settings, policy):
    schedule_id = f"retention-test-{uuid.uuid4()}"
    queue = f"retention-schedule-{uuid.uuid4()}"
    queue_settings = settings.model_copy(update={"task_queue": queue})
    handle = temporal_client.get_schedule_handle(schedule_id)

    async def scheduled_run(description) -> RetentionRun:
        [run] = await temporal_client.data_converter.decode(description.schedule.action.args, [RetentionRun])
        return run

    try:
        made = await ensure_retention_schedule(temporal_client, queue_settings, policy, schedule_id=schedule_id)
        first = await handle.describe()
        again = await ensure_retention_schedule(temporal_client, queue_settings, policy, schedule_id=schedule_id)
        second = await handle.describe()

        assert (made, again) == (ScheduleChange.CREATED, ScheduleChange.UNCHANGED)
        action = first.schedule.action
        assert (action.workflow, action.task_queue) == ("RetentionWorkflow", queue)
        assert await scheduled_run(first) == RetentionRun(personal_data_days=policy.personal_data_retention_days)
        # The input is sealed by the payload codec like every other payload.
        assert action.args[0].metadata["encoding"] == b"binary/encrypted"
        assert first.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert first.schedule.spec.time_zone_name == "Asia/Muscat"
        muscat = [moment.astimezone(ZoneInfo("Asia/Muscat")) for moment in first.info.next_action_times]
        assert muscat and all((moment.hour, moment.minute, moment.second) == (1, 0, 0) for moment in muscat)
        assert [b - a for a, b in pairwise(muscat)] == [timedelta(days=1)] * (len(muscat) - 1)
        assert second.info.last_updated_at == first.info.last_updated_at
        assert second.schedule.state.paused is False

        # An operator paused it; the policy then shortened retention.
        await handle.pause(note="paused by an operator")
        shorter = replace(policy, personal_data_retention_days=30)
        updated = await ensure_retention_schedule(temporal_client, queue_settings, shorter, schedule_id=schedule_id)
        third = await handle.describe()
        settled = await ensure_retention_schedule(temporal_client, queue_settings, shorter, schedule_id=schedule_id)

        assert (updated, settled) == (ScheduleChange.UPDATED, ScheduleChange.UNCHANGED)
        assert await scheduled_run(third) == RetentionRun(personal_data_days=30)
        assert third.schedule.action.task_queue == queue
        assert (third.schedule.state.paused, third.schedule.state.note) == (True, "paused by an operator")
    finally:
        await handle.delete()
