"""Messages reach people: the SMTP server, the SMS gateway and Tajawob's callback URL are real servers on 127.0.0.1.

The session's worker delivers to them (tests/conftest.py); each test uses its own addresses, so it
counts only its own messages.
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import update
from sqlmodel import select

from activities import delivery
from activities.transports import Envelope
from api.app import create_app
from core.temporal import deliver_from_now_on_running_cases
from store.models import Delivery, DepartmentEntry, OutboxMessage
from tests.conftest import (
    DEPARTMENT,
    DIRECTOR_GENERAL_EMAIL,
    TAJAWOB_CALLBACK_SECRET,
    running_workers,
    services_for,
)
from tests.helpers import eventually
from tests.outside import GREYLISTED_MARK, REFUSED_MARK
from tests.workflows.test_lifecycle import (
    act,
    days,
    new_case,
    timeline_actions,
    wait_for_status,
)
from workflows.case import (
    DELIVERY_RETRY,
    PATCH_DELIVERY,
    PATCH_SENT_FROM_OUTBOX,
    CaseWorkflow,
    delivery_task_queue,
    workflow_id,
)
from workflows.messages import Actor, DepartmentReply

DEPARTMENT_EMAIL = "civil.status@moi.test"
CUSTOMER_SERVICE_EMAIL = "customer.service@moi.test"


def unique_contact(tag: str = "") -> dict:
    token = uuid.uuid4().hex[:10]
    return {"email": f"{tag}{token}@example.om", "phone": f"+9689{int(token[:7], 16) % 10_000_000:07d}"}


def submitter(contact: dict, **extra) -> dict:
    return {"category": "beneficiary", "name": "Salim Al-Harthy", "civil_id": "12345678", **contact, **extra}


async def outbox_rows(database, reference: str) -> list[OutboxMessage]:
    async with database.session() as session:
        rows = await session.exec(select(OutboxMessage).where(OutboxMessage.reference == reference)
                                  .order_by(OutboxMessage.id))
        return list(rows.all())


async def deliveries(database, reference: str) -> list[Delivery]:
    async with database.session() as session:
        rows = await session.exec(select(Delivery).where(Delivery.reference == reference).order_by(Delivery.id))
        return list(rows.all())


async def settled(database, reference: str, count: int) -> list[OutboxMessage]:
    """The case's first `count` messages, once none of them is pending any more."""
    async def check():
        rows = await outbox_rows(database, reference)
        return rows if len(rows) >= count and all(row.status != "pending" for row in rows[:count]) else None

    return await eventually(check, timeout=30)


@pytest.fixture(scope="module", autouse=True)
async def department_addresses(database):
    """The admin's directory: the address the civil-status department is told at."""
    async with database.transaction() as session:
        await session.exec(update(DepartmentEntry).where(DepartmentEntry.code == DEPARTMENT)
                           .values(email=DEPARTMENT_EMAIL))
        await session.exec(
            update(DepartmentEntry).where(DepartmentEntry.customer_service).values(email=CUSTOMER_SERVICE_EMAIL)
        )


async def test_one_arabic_acknowledgement_by_email_and_one_sms(api, keys, database, mail_server, http_sink):
    contact = unique_contact()
    reference = await new_case(api, keys, submitter=submitter(contact))
    rows = await settled(database, reference, 1)
    assert (rows[0].template, rows[0].status) == ("acknowledgement", "sent")

    emails = mail_server.folder.to(contact["email"])
    assert len(emails) == 1
    email = emails[0]
    assert email["Content-Language"] == "ar"
    assert reference in email["Subject"] and "استلمنا" in email["Subject"]
    text = email.get_body(("plain",)).get_content()
    assert "بتوقيت مسقط" in text and reference in text
    assert 'dir="rtl"' in email.get_body(("html",)).get_content()
    assert email["Message-ID"].startswith(f"<{reference}.")

    sms = [request for request in http_sink.at("/sms") if json.loads(request.body)["to"] == contact["phone"]]
    assert len(sms) == 1
    assert reference in json.loads(sms[0].body)["text"]
    assert sms[0].headers["idempotency-key"] == f"{reference}.{rows[0].message_key}.sms"
    assert {(row.transport, row.status) for row in await deliveries(database, reference)} == {
        ("email", "sent"), ("sms", "sent")}


def delivery_queues(history) -> set[str]:
    """The task queues of the case's deliver_message activities (none when the sender sends from the outbox)."""
    return {
        event.activity_task_scheduled_event_attributes.task_queue.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name == "deliver_message"
    }


async def test_a_new_cases_messages_are_sent_from_the_outbox_once_without_an_activity(
    api, keys, database, mail_server, http_sink, temporal_client
):
    """The sender takes them up from the outbox: the case spends no workflow task or activity on a message."""
    contact = unique_contact()
    reference = await new_case(api, keys, submitter=submitter(contact))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    rows = await settled(database, reference, 2)
    assert [(row.template, row.status, row.dispatch) for row in rows[:2]] == [
        ("acknowledgement", "sent", "confirmed"), ("case_assigned", "sent", "confirmed")]
    history = await temporal_client.get_workflow_handle(workflow_id(reference)).fetch_history()
    assert delivery_queues(history) == set()
    markers = [event.marker_recorded_event_attributes for event in history.events
               if event.HasField("marker_recorded_event_attributes")]
    assert any(PATCH_SENT_FROM_OUTBOX in str(marker.details) for marker in markers)
    assert len(mail_server.folder.to(contact["email"])) == 1
    assert len([r for r in http_sink.at("/sms") if json.loads(r.body)["to"] == contact["phone"]]) == 1
    told = [m for m in mail_server.folder.to(DEPARTMENT_EMAIL) if reference in str(m["Subject"])]
    assert len(told) == 1
    assert sorted((row.transport, row.status, row.attempts) for row in await deliveries(database, reference)) == [
        ("email", "sent", 1), ("email", "sent", 1), ("sms", "sent", 1)]


@pytest.fixture
async def api_on_the_activity_path(temporal_client, settings, database):
    """An API and workers on their own task queue whose CaseWorkflow sends as cases begun before the outbox's
    sender did: `workflow.patched(PATCH_SENT_FROM_OUTBOX)` answers False, as it does when such a case replays."""
    async with api_of_a_release_without(temporal_client, settings, database, "complaints-test-activity-path",
                                        PATCH_SENT_FROM_OUTBOX) as client:
        yield client


@contextlib.asynccontextmanager
async def api_of_a_release_without(temporal_client, settings, database, task_queue: str, *patches: str):
    """An API and workers on a task queue of their own whose CaseWorkflow finds `patches` unset, as a case begun
    before them does when it replays."""
    older = settings.model_copy(update={"task_queue": task_queue})
    transport = httpx.ASGITransport(app=create_app(services=services_for(older, database, temporal_client)))
    async with (
        running_workers(temporal_client, older, database,
                        patch_activation_callback=lambda call: call.patch_id not in patches),
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as client,
    ):
        yield client


async def test_a_case_on_the_activity_path_sends_from_the_senders_own_task_queue(
    api_on_the_activity_path, keys, database, mail_server, temporal_client
):
    """Not from the case worker's: a busy case worker would stretch the moment between send and record."""
    contact = unique_contact()
    reference = await new_case(api_on_the_activity_path, keys, submitter=submitter(contact))
    (row,) = await settled(database, reference, 1)
    assert (row.status, row.dispatch) == ("sent", None)
    history = await temporal_client.get_workflow_handle(workflow_id(reference)).fetch_history()
    assert delivery_queues(history) == {delivery_task_queue("complaints-test-activity-path")}
    assert len(mail_server.folder.to(contact["email"])) == 1


async def test_a_message_that_keeps_failing_lands_as_failed_after_the_last_attempt(api, keys, database, http_sink):
    """The sender's retries are held on the row; after the last, the outcome is record_delivery_failure's."""
    contact = unique_contact()
    http_sink.statuses["/sms"] = 503
    try:
        reference = await new_case(api, keys, submitter=submitter(contact))

        async def retried_once():
            rows = await outbox_rows(database, reference)
            return rows if rows and rows[0].attempts == 1 else None

        (row,) = await eventually(retried_once, timeout=15)
        assert row.status == "pending" and row.next_attempt_at is not None and "503" in row.last_error
        # Skip ahead to the policy's last attempt instead of waiting out the backoff.
        async with database.transaction() as session:
            await session.exec(update(OutboxMessage).where(OutboxMessage.id == row.id)
                               .values(attempts=DELIVERY_RETRY.maximum_attempts - 1))
        rows = await settled(database, reference, 1)
    finally:
        http_sink.statuses.pop("/sms")
    assert rows[0].status == "failed"
    assert {d.transport: d.status for d in await deliveries(database, reference)} == {"email": "sent", "sms": "failed"}
    case = await eventually(lambda: _with_action(api, keys, reference, "delivery_failed"))
    (failed,) = [entry for entry in case["timeline"] if entry["action"] == "delivery_failed"]
    assert failed["detail"]["template"] == "acknowledgement" and "503" in failed["detail"]["reason"]
    assert len([r for r in http_sink.at("/sms") if json.loads(r.body)["to"] == contact["phone"]]) == 2


async def test_a_submitter_who_asked_for_english_is_written_to_in_english(api, keys, database, mail_server):
    contact = unique_contact()
    reference = await new_case(api, keys, submitter=submitter(contact), language="en")
    await settled(database, reference, 1)
    (email,) = mail_server.folder.to(contact["email"])
    assert email["Content-Language"] == "en"
    assert email["Subject"] == f"We received your complaint - {reference}"
    assert "Muscat time" in email.get_body(("plain",)).get_content()


async def test_tajawob_gets_a_signed_callback_for_its_submitters(api, keys, database, http_sink):
    channel_ref = f"tj-{uuid.uuid4().hex[:8]}"
    reference = await new_case(api, keys, channel="tajawob", channel_ref=channel_ref,
                               submitter={"category": "beneficiary", "civil_id": "12345678"})
    await settled(database, reference, 1)
    (callback,) = [request for request in http_sink.at("/tajawob")
                   if json.loads(request.body)["reference"] == reference]
    timestamp = callback.headers["x-complaints-timestamp"]
    expected = hmac.new(TAJAWOB_CALLBACK_SECRET.encode(), timestamp.encode() + b"." + callback.body, hashlib.sha256)
    assert callback.headers["x-complaints-signature"] == "sha256=" + expected.hexdigest()
    body = json.loads(callback.body)
    assert (body["event"], body["channel_ref"], body["language"], body["kind"]) == (
        "acknowledgement", channel_ref, "ar", "complaint")
    assert "12345678" not in callback.body.decode()


async def test_a_submitter_without_contact_gets_nothing_pushed(api, keys, database, mail_server, http_sink):
    reference = await new_case(api, keys, kind="report", submitter={"category": "employee"})
    rows = await settled(database, reference, 1)
    assert rows[0].status == "no_contact"
    assert await deliveries(database, reference) == []
    assert not [r for r in http_sink.received if reference.encode() in r.body]
    assert not [m for m in mail_server.folder.parsed() if reference in m["Subject"]]


async def test_a_refused_address_is_marked_failed_on_the_case_and_the_case_goes_on(api, keys, database, http_sink):
    contact = unique_contact(tag=REFUSED_MARK)
    reference = await new_case(api, keys, submitter=submitter(contact))
    rows = await settled(database, reference, 1)
    assert rows[0].status == "failed"
    by_transport = {row.transport: row for row in await deliveries(database, reference)}
    assert by_transport["email"].status == "failed" and "SMTP [550]" in by_transport["email"].last_error
    assert contact["email"] not in by_transport["email"].last_error
    assert by_transport["sms"].status == "sent"  # the other transport went out, once
    assert len([r for r in http_sink.at("/sms") if json.loads(r.body)["to"] == contact["phone"]]) == 1

    case = await eventually(lambda: _with_action(api, keys, reference, "delivery_failed"))
    failed = next(entry for entry in case["timeline"] if entry["action"] == "delivery_failed")
    assert failed["detail"]["template"] == "acknowledgement" and "refused the recipient" in failed["detail"]["reason"]
    # The case is not held up: customer service can still triage it.
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})

    # Counted, and listed for customer service to chase; not for a department.
    summary = await api.get("/v1/deliveries/summary", params={"limit": 500}, headers=keys.header("cs_agent"))
    assert summary.status_code == 200, summary.text
    assert summary.json()["messages"]["failed"] >= 1 and summary.json()["deliveries"]["email"]["failed"] >= 1
    (listed,) = [item for item in summary.json()["failed"] if item["reference"] == reference]
    assert (listed["template"], listed["transport"]) == ("acknowledgement", "email")
    assert (await api.get("/v1/deliveries/summary", headers=keys.header("department"))).status_code == 403


async def _with_action(api, keys, reference: str, action: str) -> dict | None:
    from tests.helpers import read_case

    case = await read_case(api, keys.auditor, reference)
    return case if any(entry["action"] == action for entry in case["timeline"]) else None


async def test_a_gateway_that_is_down_for_a_while_gets_the_message_once_it_is_back(api, keys, database, http_sink):
    contact = unique_contact()
    http_sink.statuses["/sms"] = 503
    try:
        reference = await new_case(api, keys, submitter=submitter(contact))
        mine = lambda: [r for r in http_sink.at("/sms") if json.loads(r.body)["to"] == contact["phone"]]  # noqa: E731
        await eventually(lambda: _async(len(mine()) >= 1), timeout=15)
    finally:
        http_sink.statuses.pop("/sms")
    rows = await settled(database, reference, 1)
    assert rows[0].status == "sent"
    statuses = [request.status for request in mine()]
    assert statuses[-1] == 200 and statuses.count(200) == 1 and 503 in statuses
    keys_sent = {request.headers["idempotency-key"] for request in mine()}
    assert len(keys_sent) == 1  # every attempt carried the same key


async def test_a_greylisted_address_gets_the_message_on_a_later_attempt(api, keys, database, mail_server):
    contact = unique_contact(tag=GREYLISTED_MARK)
    reference = await new_case(api, keys, submitter=submitter(contact))
    rows = await settled(database, reference, 1)
    assert rows[0].status == "sent"
    assert mail_server.folder.turned_away[contact["email"]] == 1
    assert len(mail_server.folder.to(contact["email"])) == 1


async def test_a_refused_address_is_not_asked_again_while_another_transport_is_retried(
    api, keys, database, mail_server, http_sink
):
    contact = unique_contact(tag=REFUSED_MARK)
    http_sink.statuses["/sms"] = 503
    try:
        reference = await new_case(api, keys, submitter=submitter(contact))
        tried = lambda: [r for r in http_sink.at("/sms") if json.loads(r.body)["to"] == contact["phone"]]  # noqa: E731
        await eventually(lambda: _async(len(tried()) >= 2), timeout=30)  # a retry of the message has run
    finally:
        http_sink.statuses.pop("/sms")
    rows = await settled(database, reference, 1)
    assert rows[0].status == "failed"  # the email never can go
    assert mail_server.folder.turned_away[contact["email"]] == 1
    acknowledgement = [row for row in await deliveries(database, reference) if row.outbox_id == rows[0].id]
    assert {row.transport: row.status for row in acknowledgement} == {"email": "failed", "sms": "sent"}


class TakesThenHangs:
    """A receiver that takes the message, then keeps the connection past the send's deadline."""

    name = "email"

    async def send(self, envelope, accepted) -> None:
        await accepted()
        await asyncio.sleep(5)


async def test_a_message_the_receiver_took_stays_recorded_when_the_deadline_cuts_in(
    api, keys, database, settings, monkeypatch
):
    reference = await new_case(api, keys, submitter=submitter(unique_contact()))
    rows = await settled(database, reference, 1)
    (row,) = [row for row in await deliveries(database, reference)
              if row.outbox_id == rows[0].id and row.transport == "email"]
    async with database.transaction() as session:
        await session.exec(update(Delivery).where(Delivery.id == row.id).values(status="sending", sent_at=None))
    monkeypatch.setattr(delivery, "SEND_DEADLINE_SECONDS", 0.5)
    sender = delivery.DeliveryActivities(database, settings)
    envelope = Envelope(address="x@example.om", message=None, idempotency_key=row.idempotency_key,
                        reference=reference, template="acknowledgement", facts={})

    await sender._send_and_record(TakesThenHangs(), envelope)  # no DeliveryFailed: the receiver has it

    (after,) = [again for again in await deliveries(database, reference) if again.id == row.id]
    assert after.status == "sent" and after.sent_at is not None
    await sender.close()


async def _async(value):
    return value


async def test_staff_are_told_the_department_of_a_new_case_and_the_director_general_of_an_escalation(
    api, keys, database, mail_server
):
    reference = await new_case(api, keys, submitter=submitter(unique_contact()))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await wait_for_status(api, keys, reference, "with_department")
    assigned = await eventually(lambda: _async([m for m in mail_server.folder.to(DEPARTMENT_EMAIL)
                                                if reference in m["Subject"] and "حالة جديدة" in m["Subject"]]))
    assert len(assigned) == 1
    assert "المديرية العامة للأحوال المدنية" in assigned[0].get_body(("plain",)).get_content()

    escalations = await eventually(
        lambda: _async([m for m in mail_server.folder.to(DIRECTOR_GENERAL_EMAIL) if reference in m["Subject"]]),
        timeout=days(8),
    )
    assert "رُفعت إليكم" in escalations[0]["Subject"]


async def test_the_director_general_instructs_a_department_on_an_escalated_case(
    api, keys, database, mail_server, temporal_client
):
    reference = await new_case(api, keys, submitter=submitter(unique_contact()))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    refused = await act(api, keys.director_general, reference, "instruct", {"instruction": "Reply today."}, expect=409)
    assert "only once it is escalated" in refused["error"]["message"]
    await eventually(lambda: _with_action(api, keys, reference, "escalated"), timeout=days(8))

    # Once escalated, the reply is the Director General's or the department's, not customer service's.
    refused = await act(api, keys.cs_agent, reference, "reply", {"summary": "Done."}, expect=409)
    assert "Director General" in refused["error"]["message"]
    # The same through a signal: refused on the timeline (and the rule's patch marker lands in the history).
    handle = temporal_client.get_workflow_handle(f"case-{reference}")
    await handle.signal(CaseWorkflow.reply_signal, DepartmentReply(Actor("cs_agent", None, "ops"), "Done."))
    case = await eventually(lambda: _with_action(api, keys, reference, "refused"))
    (refused_entry,) = [entry for entry in case["timeline"] if entry["action"] == "refused"]
    assert "Director General" in refused_entry["detail"]["reason"]

    view = await act(api, keys.director_general, reference, "instruct", {"instruction": "Reply today, please."})
    assert view["status"] == "with_department" and view["department"] == DEPARTMENT
    instructions = await eventually(lambda: _async(
        [m for m in mail_server.folder.to(DEPARTMENT_EMAIL) if reference in m["Subject"] and "توجيه" in m["Subject"]]))
    assert "Reply today, please." in instructions[0].get_body(("plain",)).get_content()
    assert "instruct" in await timeline_actions(database, reference)
    await act(api, keys.department, reference, "reply", {"summary": "Renewed."})


async def test_every_message_is_delivered_once_when_a_case_runs_its_whole_course(api, keys, database, mail_server):
    contact = unique_contact()
    reference = await new_case(api, keys, submitter=submitter(contact))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "reply", {"summary": "Renewed."})
    await act(api, keys.cs_agent, reference, "respond", {"message": "Your passport is ready."})
    await act(api, keys.cs_agent, reference, "close")
    await wait_for_status(api, keys, reference, "closed")
    rows = await settled(database, reference, 5)
    templates = [row.template for row in rows]
    assert templates[:2] == ["acknowledgement", "case_assigned"]
    assert templates[-3:] == ["department_replied", "answer", "closure"]
    assert [row.status for row in rows] == ["sent"] * len(rows)
    subjects = [m["Subject"] for m in mail_server.folder.to(contact["email"])]
    assert len(subjects) == 3 and len(set(subjects)) == 3  # acknowledgement, answer, closure
    answer = next(m for m in mail_server.folder.to(contact["email"]) if "الرد على" in m["Subject"])
    assert "Your passport is ready." in answer.get_body(("plain",)).get_content()
    entries = await timeline_actions(database, reference)
    assert "delivery_failed" not in entries


async def test_email_goes_over_starttls_with_a_login_when_configured(tmp_path, settings):
    import ssl

    from activities.messages import MessageRenderer
    from activities.transports import DeliveryFailed, EmailTransport, Envelope
    from tests.outside import PasswordCheck, self_signed_certificate, start_mail_server

    certificate, key = self_signed_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate, key)
    logins = PasswordCheck("complaints", "s3cret")
    server = start_mail_server(tmp_path / "mail", tls_context=tls, require_starttls=True, authenticator=logins,
                               auth_require_tls=True, auth_required=True)
    try:
        message = MessageRenderer().render("acknowledgement", "ar", {
            "reference": "C-2026-999999", "kind": "complaint", "answer_due": "2026-12-03T10:30:00+00:00"})
        accepted: list[str] = []

        async def kept() -> None:
            accepted.append(envelope.idempotency_key)

        envelope = Envelope("someone@example.om", message, "C-2026-999999.0001-received-0-acknowledgement.email",
                            "C-2026-999999", "acknowledgement", {})
        secured = settings.model_copy(update={
            "smtp_host": server.host, "smtp_port": server.port, "smtp_starttls": True,
            "smtp_username": "complaints", "smtp_ca_file": certificate,
        })
        with pytest.raises(DeliveryFailed, match="login to the mail server failed"):
            await EmailTransport(secured.model_copy(update={"smtp_password": SecretStr("wrong")})).send(envelope, kept)
        await EmailTransport(secured.model_copy(update={"smtp_password": SecretStr("s3cret")})).send(envelope, kept)
        with pytest.raises(DeliveryFailed, match="could not reach the mail server|SMTP 530"):
            # Without STARTTLS the server refuses to go on: nothing is sent in the clear.
            plain = secured.model_copy(update={"smtp_starttls": False, "smtp_password": SecretStr("s3cret")})
            await EmailTransport(plain).send(envelope, kept)
    finally:
        server.controller.stop()
    assert logins.logins == ["complaints"]
    assert accepted == [envelope.idempotency_key]  # told once, for the one message the server kept
    (received,) = server.folder.parsed()
    assert received["Subject"] == message.subject


@pytest.fixture
async def api_of_an_older_release(temporal_client, settings, database):
    """An API and workers on their own task queue whose CaseWorkflow behaves as before delivery existed:
    `workflow.patched(PATCH_DELIVERY)` answers False at a case's first step, as it does when a case
    begun before the upgrade is replayed."""
    # Such a case also began before messages were sent from the outbox.
    async with api_of_a_release_without(temporal_client, settings, database, "complaints-test-older",
                                        PATCH_DELIVERY, PATCH_SENT_FROM_OUTBOX) as client:
        yield client


async def test_a_case_begun_before_delivery_delivers_from_the_upgrade_signal_on(
    api_of_an_older_release, keys, database, mail_server, temporal_client
):
    api = api_of_an_older_release
    contact = unique_contact()
    reference = await new_case(api, keys, submitter=submitter(contact))
    await asyncio.sleep(1)  # time enough for an acknowledgement, were it sent
    assert mail_server.folder.to(contact["email"]) == []
    assert [row.status for row in await outbox_rows(database, reference)] == ["pending"]

    assert await deliver_from_now_on_running_cases(temporal_client) >= 1
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})

    async def department_told() -> list:
        return [m for m in mail_server.folder.to(DEPARTMENT_EMAIL) if reference in str(m["Subject"])]

    assert len(await eventually(department_told)) == 1
    # What was queued before the signal stays unsent: an acknowledgement weeks late would mislead.
    assert mail_server.folder.to(contact["email"]) == []
    assert [row.status for row in await outbox_rows(database, reference)][0] == "pending"
