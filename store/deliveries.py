"""The outbox's deliveries: one row per message and transport, claimed before a send and marked once sent.

activities/delivery.py decides where a message goes and sends it; these are its reads and writes,
and the figures that `GET /v1/deliveries/summary` reports.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.steps import Addressee, DeliveryState, Detail, MessageState, OutboxDispatch, Recipient, Step
from store.db import Database
from store.models import DUE_FROM_THE_SENDER, Delivery, OutboxMessage
from store.tables import CASES, DELIVERIES, DEPARTMENTS, OUTBOX, TIMELINE
from workflows.messages import SYSTEM


class DeliveryRefused(Exception):
    """The row was refused for good by an earlier attempt; `reason` is its last error."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryBusy(Exception):
    """Another attempt holds the row and may still be sending it."""


def _messages_with_their_case():
    """An outbox row with what its case says about reaching the submitter: what delivery plans from."""
    return (
        select(OUTBOX, CASES.c.language, CASES.c.channel, CASES.c.channel_ref, CASES.c.submitter_email,
               CASES.c.submitter_phone, CASES.c.personal_data_erased_at,
               CASES.c.department.label("case_department"))
        .join(CASES, CASES.c.reference == OUTBOX.c.reference)
    )


async def message_to_deliver(database: Database, reference: str, message_key: str):
    """The outbox row with what its case says about reaching the submitter; None if there is no such message."""
    async with database.session() as session:
        return (await session.exec(
            _messages_with_their_case().where(OUTBOX.c.reference == reference, OUTBOX.c.message_key == message_key)
        )).first()


# ---------------------------------------------------------------- the outbox's sender (migration 0017)

async def claim_due_messages(database: Database, limit: int, lease: timedelta) -> list:
    """Take up to `limit` messages due from the sender, each for `lease`, and return them as message_to_deliver does.

    SKIP LOCKED lets several senders claim side by side; the lease (the row's next attempt time, moved
    on) keeps a row with this sender until its attempt has ended, or the sender died and the lease ran out.
    """
    async with database.transaction() as session:
        due = (
            select(OUTBOX.c.id).where(DUE_FROM_THE_SENDER, OUTBOX.c.next_attempt_at <= func.now())
            .order_by(OUTBOX.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
        ).cte("due")
        ids = list((await session.exec(
            update(OUTBOX).where(OUTBOX.c.id == due.c.id).values(next_attempt_at=func.now() + lease)
            .returning(OUTBOX.c.id)
        )).scalars())
        if not ids:
            return []
        return list((await session.exec(_messages_with_their_case().where(OUTBOX.c.id.in_(ids)))).all())


def _unconfirmed_of_step(reference: str, run_id: str | None, written_in_task: int):
    return (
        OUTBOX.c.reference == reference, OUTBOX.c.written_in_task == written_in_task,
        OUTBOX.c.run_id.is_(None) if run_id is None else OUTBOX.c.run_id == run_id,
        OUTBOX.c.dispatch == OutboxDispatch.UNCONFIRMED,
    )


async def settle_step_of_messages(database: Database, reference: str, run_id: str | None, written_in_task: int,
                                  dispatch: OutboxDispatch) -> None:
    """Every message the task wrote: confirmed (its step is in the history) or lost (the task was lost)."""
    async with database.transaction() as session:
        await session.exec(update(OUTBOX).where(*_unconfirmed_of_step(reference, run_id, written_in_task))
                           .values(dispatch=dispatch))


async def confirm_step_later(database: Database, reference: str, run_id: str | None, written_in_task: int,
                             after: timedelta) -> None:
    """The history does not reach the task's end yet: look again shortly (not an attempt)."""
    async with database.transaction() as session:
        await session.exec(update(OUTBOX).where(*_unconfirmed_of_step(reference, run_id, written_in_task))
                           .values(next_attempt_at=func.now() + after))


async def retry_message_later(database: Database, outbox_id: int, attempts: int, after: timedelta,
                              reason: str) -> None:
    """An attempt failed: count it and hold the next one back by the backoff."""
    async with database.transaction() as session:
        await session.exec(
            update(OUTBOX).where(OUTBOX.c.id == outbox_id, OUTBOX.c.status == MessageState.PENDING)
            .values(attempts=attempts, next_attempt_at=func.now() + after, last_error=reason[:500])
        )


async def department_of_recipient(database: Database, recipient: Recipient):
    """The directory's row of a staff recipient (customer service, or a department), or None."""
    if recipient.who == Addressee.CUSTOMER_SERVICE:
        condition = DEPARTMENTS.c.customer_service.is_(True)
    else:
        condition = DEPARTMENTS.c.code == recipient.department
    async with database.session() as session:
        return (await session.exec(select(DEPARTMENTS).where(condition))).first()


async def add_deliveries(database: Database, outbox_id: int, reference: str, keys_by_transport: dict[str, str],
                         now: datetime) -> None:
    """One pending row per transport, keyed by its idempotency key; a retry finds them there."""
    async with database.transaction() as session:
        for transport, key in keys_by_transport.items():
            await session.exec(
                insert(DELIVERIES)
                .values(outbox_id=outbox_id, reference=reference, transport=transport,
                        idempotency_key=key, status=DeliveryState.PENDING, updated_at=now)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )


async def claim_delivery(database: Database, key: str, lease: timedelta) -> int | None:
    """Take the row for this attempt and return the claim's number; None when it was sent already.

    A row another attempt is sending stays with that attempt for the lease (DeliveryBusy); a row
    refused for good is DeliveryRefused.
    """
    async with database.transaction() as session:
        claimed = await session.exec(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.idempotency_key == key,
                DELIVERIES.c.status.not_in((DeliveryState.SENT, DeliveryState.REFUSED)),
                or_(DELIVERIES.c.status != DeliveryState.SENDING, DELIVERIES.c.updated_at < func.now() - lease),
            )
            .values(status=DeliveryState.SENDING, attempts=DELIVERIES.c.attempts + 1, updated_at=func.now())
            .returning(DELIVERIES.c.attempts)
        )
        claim = claimed.first()
        if claim is not None:
            return claim.attempts
        row = (await session.exec(
            select(DELIVERIES.c.status, DELIVERIES.c.last_error).where(DELIVERIES.c.idempotency_key == key)
        )).first()
    if row is not None and row.status == DeliveryState.SENT:
        return None
    if row is not None and row.status == DeliveryState.REFUSED:
        raise DeliveryRefused(row.last_error)
    raise DeliveryBusy("another attempt is sending this message")


async def recording_connection(database: Database) -> AsyncConnection:
    """A connection of its own, committing each statement by itself, to record a send the moment it happens."""
    connection = await database.engine.connect().start()
    try:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
    except BaseException:
        await connection.close()
        raise
    return connection


def _mark_sent(key: str):
    return (
        update(DELIVERIES).where(DELIVERIES.c.idempotency_key == key)
        .values(status=DeliveryState.SENT, sent_at=func.now(), updated_at=func.now(), last_error=None)
    )


async def mark_sent_on(connection: AsyncConnection, key: str) -> None:
    await connection.execute(_mark_sent(key))


async def mark_sent(database: Database, key: str) -> None:
    async with database.transaction() as session:
        await session.exec(_mark_sent(key))


async def release_delivery(database: Database, key: str, claim: int, *, refused: bool, reason: str,
                           now: datetime) -> None:
    """Give the row back (or mark it refused for good), if it is still this attempt's claim."""
    async with database.transaction() as session:
        await session.exec(
            update(DELIVERIES)
            .where(DELIVERIES.c.idempotency_key == key, DELIVERIES.c.status == DeliveryState.SENDING,
                   DELIVERIES.c.attempts == claim)
            .values(status=DeliveryState.REFUSED if refused else DeliveryState.PENDING, last_error=reason[:500],
                    updated_at=now)
        )


async def settle_message(database: Database, outbox_id: int, status: str, now: datetime) -> None:
    async with database.transaction() as session:
        await session.exec(update(OUTBOX).where(OUTBOX.c.id == outbox_id).values(status=status, updated_at=now))


async def record_failure(database: Database, reference: str, message_key: str, reason: str, lease: timedelta,
                         now: datetime) -> bool:
    """Mark what was not sent of the message as failed and put it on the case's timeline; False if no message."""
    async with database.transaction() as session:
        outbox = (await session.exec(
            select(OUTBOX.c.id, OUTBOX.c.template, OUTBOX.c.recipient)
            .where(OUTBOX.c.reference == reference, OUTBOX.c.message_key == message_key)
        )).first()
        if outbox is None:
            return False
        await session.exec(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.outbox_id == outbox.id,
                DELIVERIES.c.status != DeliveryState.SENT,
                # A row an abandoned attempt may still be sending is left to it: its record decides.
                or_(DELIVERIES.c.status != DeliveryState.SENDING, DELIVERIES.c.updated_at < func.now() - lease),
            )
            .values(status=DeliveryState.FAILED, updated_at=now)
        )
        await session.exec(
            update(OUTBOX).where(OUTBOX.c.id == outbox.id).values(status=MessageState.FAILED, updated_at=now)
        )
        await session.exec(
            insert(TIMELINE)
            .values(
                reference=reference,
                step_key=f"delivery-failed-{message_key}"[:80],
                at=now,
                actor=SYSTEM.label,
                action=Step.DELIVERY_FAILED,
                detail={Detail.TEMPLATE: outbox.template, Detail.RECIPIENT: outbox.recipient, Detail.REASON: reason},
            )
            .on_conflict_do_nothing(index_elements=["reference", "step_key"])
        )
    return True


@dataclass(frozen=True)
class DeliveryFigures:
    """Messages by state, deliveries by transport and state, and the latest deliveries that failed for good."""

    messages: dict[str, int]
    deliveries: dict[str, dict[str, int]]
    failed: list[tuple[Delivery, str, str]]


async def delivery_figures(database: Database, failed_limit: int) -> DeliveryFigures:
    async with database.session() as session:
        messages = (await session.exec(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )).all()
        deliveries = (await session.exec(
            select(Delivery.transport, Delivery.status, func.count()).group_by(Delivery.transport, Delivery.status)
        )).all()
        failed = (await session.exec(
            select(Delivery, OutboxMessage.template, OutboxMessage.recipient)
            .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
            .where(Delivery.status == DeliveryState.FAILED)
            .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
            .limit(failed_limit)
        )).all()
    by_transport: dict[str, dict[str, int]] = {}
    for transport, status, count in deliveries:
        by_transport.setdefault(transport, {})[status] = count
    return DeliveryFigures(dict(messages), by_transport, [tuple(row) for row in failed])


async def messages_of_case(database: Database, reference: str) -> list[tuple[OutboxMessage, list[Delivery]]]:
    """The case's messages, oldest first, each with its deliveries (one per transport)."""
    async with database.session() as session:
        messages = (await session.exec(
            select(OutboxMessage).where(OutboxMessage.reference == reference).order_by(OutboxMessage.id)
        )).scalars().all()
        deliveries = (await session.exec(
            select(Delivery).where(Delivery.reference == reference).order_by(Delivery.id)
        )).scalars().all()
    by_message: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        by_message.setdefault(delivery.outbox_id, []).append(delivery)
    return [(message, by_message.get(message.id, [])) for message in messages]
