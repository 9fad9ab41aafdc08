"""The policy's words for what happens to a case: its timeline's steps and their details, why it closed,
whom a message is for, and how far a message got.

The values are the ones already written in every history, timeline row and outbox row: these enums
name them, they do not change them. Pure standard library: workflow code imports this module.
"""

from dataclasses import dataclass
from enum import StrEnum


class Step(StrEnum):
    """A timeline entry that is not a person's action (those are domain.lifecycle.Action, by the same value)."""

    RECEIVED = "received"
    ROUTED = "routed"
    # A triage that keeps the department the case was routed to at intake: the evaluation, with no new message.
    ROUTE_CONFIRMED = "route_confirmed"
    DEPARTMENT_REMINDED = "department_reminded"
    ESCALATED = "escalated"
    BREACHED = "breached"
    DIRECTOR_GENERAL_REMINDED = "director_general_reminded"
    CLOSED = "closed"
    # A signal whose action the case did not take, with why.
    REFUSED = "refused"
    # A message that could not be delivered after its retries (written by the sender, not the workflow).
    DELIVERY_FAILED = "delivery_failed"


class CloseReason(StrEnum):
    """Why a case ended (the case's `closed_reason`; a closed step's `reason`)."""

    ACCEPTED = "accepted"
    ARCHIVED = "archived"
    NO_RESPONSE = "no_response"
    REJECTED = "rejected"


class RejectionGround(StrEnum):
    """Why a case was rejected, as the policy's evaluation step checks it (policy, "Duties of the ministry"):
    the ministry is not the competent body, the request is unlawful, not genuine, or a duplicate."""

    NOT_COMPETENT = "not_competent"
    UNLAWFUL = "unlawful"
    NOT_GENUINE = "not_genuine"
    DUPLICATE = "duplicate"


class Detail(StrEnum):
    """The keys of a timeline entry's details and of a message's context."""

    REFERENCE = "reference"
    STATUS = "status"
    CHANNEL = "channel"
    POLICY_VERSION = "policy_version"
    DEPARTMENT = "department"
    KIND = "kind"
    PRIORITY = "priority"
    ESCALATION_LEVEL = "escalation_level"
    # A rejection's ground (RejectionGround): a count for the periodic review, unlike its free-text reason.
    GROUND = "ground"
    DEPARTMENT_DUE = "department_due"
    ANSWER_DUE = "answer_due"
    INFO_DUE = "info_due"
    CONTEST_DUE = "contest_due"
    REMINDER_AT = "reminder_at"
    IN_DAILY_DIGEST = "in_daily_digest"
    ACTION = "action"
    TEMPLATE = "template"
    RECIPIENT = "recipient"
    # What people wrote: erased with the personal data (activities/retention.py).
    REASON = "reason"
    QUESTION = "question"
    ANSWER = "answer"
    SUMMARY = "summary"
    MESSAGE = "message"
    INSTRUCTION = "instruction"
    # Evidence files: their ids and sizes only (store/evidence.py keeps the files).
    EVIDENCE = "evidence"


class Addressee(StrEnum):
    """Who a message is for."""

    SUBMITTER = "submitter"
    DEPARTMENT = "department"
    DIRECTOR_GENERAL = "director_general"
    CUSTOMER_SERVICE = "customer_service"


_DEPARTMENT_PREFIX = f"{Addressee.DEPARTMENT}:"


@dataclass(frozen=True)
class Recipient:
    """Whom a message is for, and which department when it is for one.

    On the wire (Notification.recipient, in every workflow history) and in the outbox it stays the
    text it always was, `department:<code>` or the addressee's name: `address` writes it and `parse`
    is the one place that reads it back.
    """

    who: Addressee
    department: str | None = None

    def __post_init__(self) -> None:
        if (self.who == Addressee.DEPARTMENT) != bool(self.department):
            raise ValueError(f"a message to {self.who} names a department only when it is for one")

    @classmethod
    def of_department(cls, code: str) -> "Recipient":
        return cls(Addressee.DEPARTMENT, code)

    @property
    def address(self) -> str:
        return f"{_DEPARTMENT_PREFIX}{self.department}" if self.who == Addressee.DEPARTMENT else str(self.who)

    @classmethod
    def parse(cls, address: str) -> "Recipient":
        """The recipient an address names; ValueError for text that names none."""
        if address.startswith(_DEPARTMENT_PREFIX):
            return cls.of_department(address[len(_DEPARTMENT_PREFIX):])
        return cls(Addressee(address))


class MessageState(StrEnum):
    """How far a message (an outbox row) got."""

    PENDING = "pending"
    SENT = "sent"
    # Some transport failed after the retries.
    FAILED = "failed"
    # The recipient has no address on any transport configured.
    NO_CONTACT = "no_contact"


class OutboxDispatch(StrEnum):
    """Who sends a message and how far its step is known (outbox.dispatch; NULL: the workflow's activity)."""

    # The sender sends it once the workflow task that wrote it is in the history.
    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    # The task that wrote it was lost; its rerun writes the step again, so this row is never sent.
    LOST = "lost"


# A message in one of these states is settled: delivery never takes it up again.
SETTLED_MESSAGES = frozenset({MessageState.SENT, MessageState.FAILED, MessageState.NO_CONTACT})


class DeliveryState(StrEnum):
    """How far one message on one transport (a delivery row) got."""

    PENDING = "pending"
    # Claimed by an attempt of the sender, until its lease ends.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # The transport refused it for good (a permanent failure): never tried again.
    REFUSED = "refused"


class DigestState(StrEnum):
    """How far a working day's digest to the Director General got (a row of director_general_digests)."""

    SENDING = "sending"
    # Given back after a failed send, for the next attempt.
    PENDING = "pending"
    SENT = "sent"
    NOTHING_BREACHED = "nothing_breached"
    NO_ADDRESS = "no_address"
    # Not a row's state: what an attempt answers when an earlier one sent the day's digest.
    ALREADY_SENT = "already_sent"
