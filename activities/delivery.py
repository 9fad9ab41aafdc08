"""Delivery of the outbox: each message to each of its recipient's transports, once.

A message (an outbox row) becomes one delivery row per transport. Before a transport is used, its
row is claimed for this attempt of the activity; a row already sent is never sent again, so a retry
after a crash or a failure on another transport sends only what is missing. The idempotency key of
the row goes with the message (Message-ID, Idempotency-Key header) for receivers that deduplicate.

Two callers share this one path: the `deliver_message` activity (cases begun before messages were
sent from the outbox) and the outbox's sender (activities/outbox_sender.py), which holds its retries
on the outbox row instead of in Temporal.
"""

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from jinja2 import TemplateError
from sqlalchemy.exc import DBAPIError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messages import MessageRenderer
from activities.transports import (
    CallbackTransport,
    DeliveryFailed,
    EmailTransport,
    Envelope,
    SmsTransport,
)
from core.settings import Settings
from domain.steps import SETTLED_MESSAGES, Addressee, MessageState, Recipient
from store import deliveries
from store.db import Database
from workflows.messages import DeliveryFailure, DeliveryRequest

log = logging.getLogger("complaints.delivery")

DELIVERY_FAILED = "DeliveryFailed"
# Well inside the workflow's heartbeat timeout.
HEARTBEAT_EVERY_SECONDS = 3
# One send, all included (connecting, STARTTLS, login, the message); the transports' own timeouts are per step.
SEND_DEADLINE_SECONDS = 30
# How long a claimed row stays with its attempt: longer than any send can last, plus recording it.
CLAIM_LEASE = timedelta(seconds=45)
# Pauses before writing a send's record again on a fresh connection (about 6 s in all, inside the lease).
RECORD_RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0, 2.5)
_DIRECTOR_GENERAL = {"ar": "المدير العام", "en": "the Director General"}
# The facts of a case a channel's callback carries besides the text; never personal data.
_CALLBACK_FACTS = ("kind", "status", "answer_due")


@dataclass(frozen=True)
class Route:
    """One transport to one address."""

    transport: str
    address: str


@dataclass
class Plan:
    """What one message needs: its text in the recipient's language, and where it still has to go."""

    outbox_id: int
    reference: str
    message_key: str
    template: str
    language: str
    context: dict
    channel: str
    channel_ref: str | None
    routes: list[Route]


class DeliveryActivities:
    """Sends the messages the case workflow queued; every method is safe to retry."""

    def __init__(self, database: Database, settings: Settings, renderer: MessageRenderer | None = None) -> None:
        self._database = database
        self._settings = settings
        self._renderer = renderer or MessageRenderer(settings.templates_dir, settings.public_url)
        self._http = httpx.AsyncClient()
        self._email = EmailTransport(settings)
        self._sms = SmsTransport(settings, self._http)

    async def close(self) -> None:
        await self._http.aclose()

    @activity.defn(name="deliver_message")
    async def deliver_message(self, request: DeliveryRequest) -> None:
        """Deliver one outbox message on every transport its recipient has; raise if any of them failed."""
        row = await deliveries.message_to_deliver(self._database, request.reference, request.message_key)
        if row is None:
            # record_step writes the row before the workflow asks for delivery; its absence is a bug, not a wait.
            raise ApplicationError(f"no outbox message {request.message_key} for {request.reference}",
                                   type="MissingMessage", non_retryable=True)
        await self.send_message(row)

    async def send_message(self, row) -> None:
        """Deliver a message (a row of deliveries.message_to_deliver) on every transport its recipient has.

        The one home of planning, claiming, sending and marking: the deliver_message activity and the
        outbox's sender (activities/outbox_sender.py) both call it. Raises ApplicationError (DeliveryFailed,
        non_retryable when every failure is for good) if any transport failed.
        """
        if row.status in SETTLED_MESSAGES:
            return  # settled by an earlier attempt
        plan = await self._plan(row)
        if not plan.routes:
            await self._finish(plan.outbox_id, MessageState.NO_CONTACT)
            return
        rendered = self._render(plan)
        failures = []
        for route in plan.routes:
            try:
                await self._deliver_once(plan, route, rendered)
            except DeliveryFailed as failure:
                failures.append(failure)
        if failures:
            raise ApplicationError(
                "; ".join(failure.reason for failure in failures),
                type=DELIVERY_FAILED,
                non_retryable=all(failure.permanent for failure in failures),
            )
        await self._finish(plan.outbox_id, MessageState.SENT)

    @activity.defn(name="record_delivery_failure")
    async def record_delivery_failure(self, failure: DeliveryFailure) -> None:
        """After the last attempt: mark what was not sent as failed and put it on the case's timeline."""
        await self.give_up(failure)

    async def give_up(self, failure: DeliveryFailure) -> None:
        """The outcome after the last attempt, for the activity path and the outbox's sender alike."""
        recorded = await deliveries.record_failure(self._database, failure.reference, failure.message_key,
                                                   failure.reason, CLAIM_LEASE, datetime.now(UTC))
        if not recorded:
            return
        log.warning("delivery of %s %s failed for good: %s", failure.reference, failure.message_key, failure.reason)

    # ------------------------------------------------------------------ planning

    async def _plan(self, row) -> Plan:
        """Where the message goes and in which words; makes its delivery rows (a retry finds them there)."""
        language, department_name, routes = await self._routes(row)
        if routes:  # a message with nowhere to go is settled as no_contact without a transaction of its own here
            await deliveries.add_deliveries(
                self._database, row.id, row.reference,
                {route.transport: _idempotency_key(row.reference, row.message_key, route.transport)
                 for route in routes},
                datetime.now(UTC),
            )
        # The department of the step that queued the message; messages queued before it was kept: the case's now.
        case_department = row.context.get("department") or row.case_department
        case_department_name = await self._department_name(case_department, language)
        context = {**row.context, "department_name": department_name, "case_department_name": case_department_name}
        return Plan(row.id, row.reference, row.message_key, row.template, language, context, row.channel,
                    row.channel_ref, routes)

    async def _routes(self, row) -> tuple[str, str, list[Route]]:
        """The language, the addressee's name for staff templates, and the transports for this recipient."""
        settings = self._settings
        recipient = Recipient.parse(row.recipient)
        if recipient.who == Addressee.SUBMITTER:
            routes = []
            if row.personal_data_erased_at is None:
                if row.submitter_email and settings.smtp_host:
                    routes.append(Route("email", row.submitter_email))
                if row.submitter_phone and settings.sms_url:
                    routes.append(Route("sms", row.submitter_phone))
            if row.channel in settings.channel_callbacks:
                routes.append(Route("callback", row.channel))
            return row.language, "", routes
        language = settings.staff_language
        if recipient.who == Addressee.DIRECTOR_GENERAL:
            address = settings.director_general_email
            name = _DIRECTOR_GENERAL[language]
        else:
            department = await deliveries.department_of_recipient(self._database, recipient)
            address = department.email if department else None
            name = (department.name_ar if language == "ar" else department.name_en) if department else row.recipient
        routes = [Route("email", address)] if address and settings.smtp_host else []
        return language, name, routes

    async def _department_name(self, code: str | None, language: str) -> str:
        """The name of the case's department in the message's language, for the Director General's messages."""
        if code is None:
            return {"ar": "الجهة المختصة", "en": "the competent department"}.get(language, "the competent department")
        department = await deliveries.department_of_recipient(self._database, Recipient.of_department(code))
        if department is None:
            return code
        return department.name_ar if language == "ar" else department.name_en

    def _render(self, plan: Plan):
        try:
            return self._renderer.render(plan.template, plan.language, plan.context)
        except (LookupError, TemplateError, ValueError) as error:
            # A broken template cannot fix itself by retrying; the ministry fixes the file.
            raise ApplicationError(f"template {plan.language}/{plan.template}: {type(error).__name__}: {error}"[:400],
                                   type=DELIVERY_FAILED, non_retryable=True) from None

    # ------------------------------------------------------------------ sending

    async def _deliver_once(self, plan: Plan, route: Route, rendered) -> None:
        key = _idempotency_key(plan.reference, plan.message_key, route.transport)
        _heartbeat(route.transport)
        claim = await self._claim(key)
        if claim is None:
            return
        envelope = Envelope(
            address=route.address,
            message=rendered,
            idempotency_key=key,
            reference=plan.reference,
            template=plan.template,
            facts={"channel_ref": plan.channel_ref, **{name: plan.context.get(name) for name in _CALLBACK_FACTS}},
        )
        # Shielded: if Temporal cancels this attempt mid-send (a missed heartbeat), the send still
        # finishes and is recorded, instead of leaving a sent message that looks unsent.
        sending = asyncio.ensure_future(self._send_and_record(self._transport(route, plan), envelope))
        try:
            await _heartbeating(asyncio.shield(sending), route.transport)
        except DeliveryFailed as failure:
            await self._note_failure(key, claim, failure)
            raise

    async def _send_and_record(self, transport, envelope: Envelope) -> None:
        """Send within SEND_DEADLINE_SECONDS; once the receiver has the message, record it whatever follows."""
        deadline = asyncio.get_running_loop().time() + SEND_DEADLINE_SECONDS
        try:
            async with asyncio.timeout_at(deadline):
                # Taken (and pinged) before the send and committing by itself: once the server has the
                # message, recording it is one statement, with no wait for the pool in between.
                connection = await deliveries.recording_connection(self._database)
        except TimeoutError:
            raise DeliveryFailed(f"{transport.name}: no database connection within {SEND_DEADLINE_SECONDS} s") from None
        recording: asyncio.Task | None = None

        async def record_sent() -> None:
            nonlocal recording
            recording = asyncio.ensure_future(self._record_sent(connection, envelope.idempotency_key))
            await asyncio.shield(recording)

        try:
            try:
                async with asyncio.timeout_at(deadline):
                    await transport.send(envelope, record_sent)
            except TimeoutError:
                if recording is None:
                    raise DeliveryFailed(f"{transport.name}: no answer within {SEND_DEADLINE_SECONDS} s") from None
            if recording is not None:
                await recording  # the deadline may have cut in while the record was being written
        finally:
            await connection.close()

    async def _record_sent(self, connection, key: str) -> None:
        """Mark the row sent; on a connection that broke during the send, again on fresh ones.

        Until this lands, the message looks unsent and its lease's end would let another attempt send it.
        """
        try:
            await deliveries.mark_sent_on(connection, key)
            return
        except DBAPIError:
            log.warning("recording a sent message failed on its connection; trying a new one", exc_info=False)
        for pause in RECORD_RETRY_PAUSES:
            await asyncio.sleep(pause)
            try:
                await deliveries.mark_sent(self._database, key)
                return
            except DBAPIError:
                continue
        raise ApplicationError("a sent message could not be recorded as sent", type="RecordFailed")

    async def _claim(self, key: str) -> int | None:
        """Take the row for this attempt and return the claim's number; None when it was sent already.

        A row another attempt is sending stays with that attempt for the claim's lease: an attempt
        Temporal gave up on may still be alive and about to record its send. After the lease, that
        send has finished or timed out for certain, so the row is free again. A row refused for good
        is not tried again: its refusal counts as this attempt's.
        """
        try:
            return await deliveries.claim_delivery(self._database, key, CLAIM_LEASE)
        except deliveries.DeliveryRefused as refused:
            raise DeliveryFailed(refused.reason or "refused earlier", permanent=True) from None
        except deliveries.DeliveryBusy:
            raise ApplicationError("another attempt is sending this message", type="DeliveryBusy") from None

    def _transport(self, route: Route, plan: Plan):
        if route.transport == "email":
            return self._email
        if route.transport == "sms":
            return self._sms
        return CallbackTransport(self._settings.channel_callbacks[plan.channel], self._http)

    async def _note_failure(self, key: str, claim: int, failure: DeliveryFailed) -> None:
        """Give the row back (or mark it refused for good), if it is still this attempt's claim."""
        await deliveries.release_delivery(self._database, key, claim, refused=failure.permanent, reason=failure.reason,
                                          now=datetime.now(UTC))

    async def _finish(self, outbox_id: int, status: str) -> None:
        await deliveries.settle_message(self._database, outbox_id, status, datetime.now(UTC))


async def _heartbeating(sending: Awaitable[None], detail: str) -> None:
    """Await a send while telling Temporal every few seconds that this worker is alive.

    A dead worker is then noticed within the heartbeat timeout; a slow server never is mistaken for one.
    """
    task = asyncio.ensure_future(sending)
    while True:
        _heartbeat(detail)
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_SECONDS)
        if done:
            return task.result()


def _heartbeat(detail: str) -> None:
    # The outbox's sender sends outside any activity: the delivery row's lease stands in for the heartbeat.
    if activity.in_activity():
        activity.heartbeat(detail)


def _idempotency_key(reference: str, message_key: str, transport: str) -> str:
    return f"{reference}.{message_key}.{transport}"
