"""The dataclasses that cross the workflow's boundary: its input, its messages, its activities' I/O.

Every field has a default or is set at intake, so that a history written by an older version
still decodes after a field is added. Standard library and `domain/` only.
"""

from dataclasses import dataclass, field
from datetime import datetime

from domain.policy import CaseTerms


@dataclass
class Actor:
    """Who acts: a role, a department for department staff, and the id of the API key or the staff account
    (no names)."""

    role: str
    department: str | None = None
    key_id: str = ""
    # Set on a step an operator took by signal: whom the operator says they act for (never verified).
    on_behalf_of: str | None = None
    # A person signed in to the console (store.models.StaffUser.id); `key_id` is then empty.
    user_id: str = ""

    @property
    def principal(self) -> str | None:
        """Whose submission a case is (`cases.submitted_by_key`): the key's id, or `user:N` for a person."""
        if self.key_id:
            return self.key_id
        return f"user:{self.user_id}" if self.user_id else None

    @property
    def label(self) -> str:
        if self.on_behalf_of is not None:
            return f"{self.role} for {self.on_behalf_of[:60]} (unverified)"
        scope = f"/{self.department}" if self.department else ""
        key = f"#{self.key_id}" if self.key_id else ""
        person = f"@{self.user_id}" if self.user_id else ""
        return f"{self.role}{scope}{key}{person}"


OPERATOR = "operator"


def operator_for(claimed: Actor) -> Actor:
    """The actor of a signalled step: the operator, with the actor the signal named kept as unverified."""
    return Actor(role=OPERATOR, on_behalf_of=claimed.label)


SYSTEM = Actor(role="system")


@dataclass
class Submitter:
    category: str
    name: str | None = None
    civil_id: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass
class EvidenceRef:
    """An evidence file as the case knows it: its id in PostgreSQL and its size, never its content or name."""

    id: str
    size: int


@dataclass
class CaseIntake:
    """Everything the case starts with; deadlines and policy terms are fixed here, at intake."""

    reference: str
    kind: str
    channel: str
    submitter: Submitter
    subject: str
    description: str
    tracking_code_hash: str
    received_at: datetime
    policy_version: str
    department_due: datetime
    answer_due: datetime
    department_reminder: datetime
    actor: Actor
    channel_ref: str | None = None
    priority: str | None = None
    department: str | None = None
    # The terms of every kind, so that a triage that changes the kind keeps this case's policy version.
    terms_by_kind: dict[str, CaseTerms] = field(default_factory=dict)
    department_codes: list[str] = field(default_factory=list)
    # The language the submitter is written to in: "ar" (default) or "en".
    language: str = "ar"
    # Files the submission came with (store/evidence.py).
    evidence: list[EvidenceRef] = field(default_factory=list)


# --- Messages from people (updates, and the same as signals) ---


@dataclass
class TriageRequest:
    actor: Actor
    department: str
    kind: str | None = None
    priority: str | None = None
    # The directory's active departments when the API sent this; None from an operator's signal,
    # which is then checked against the departments active when the case came in.
    active_departments: list[str] | None = None


@dataclass
class RejectRequest:
    actor: Actor
    reason: str
    # A RejectionGround's value; none on rejections sent before grounds existed.
    ground: str | None = None


@dataclass
class InfoRequest:
    actor: Actor
    question: str


@dataclass
class SubmitterInfo:
    actor: Actor
    answer: str
    # Files the submitter sent with the answer.
    evidence: list[EvidenceRef] = field(default_factory=list)


@dataclass
class EvidenceAddition:
    actor: Actor
    evidence: list[EvidenceRef] = field(default_factory=list)


@dataclass
class DepartmentReply:
    actor: Actor
    summary: str


@dataclass
class SubmitterResponse:
    actor: Actor
    message: str


@dataclass
class CloseRequest:
    actor: Actor


@dataclass
class Instruction:
    """The Director General directs a department (the case's own, or another one) on an escalated case."""

    actor: Actor
    instruction: str
    department: str | None = None
    active_departments: list[str] | None = None  # as on TriageRequest


@dataclass
class ContestRequest:
    actor: Actor
    reason: str


@dataclass
class CaseView:
    """A running case as the query shows it: state and deadlines, no personal data."""

    reference: str
    kind: str
    channel: str
    status: str
    escalation_level: int
    breached: bool
    received_at: datetime
    department_due: datetime
    answer_due: datetime
    policy_version: str
    priority: str | None = None
    department: str | None = None
    info_due: datetime | None = None
    contest_due: datetime | None = None
    closed_reason: str | None = None
    question: str | None = None
    answer: str | None = None


# --- Activities' inputs and outputs ---


@dataclass
class Notification:
    """A message for a person; recipient is a domain.steps.Recipient's address (`submitter`, `department:<code>`,
    `director_general`, `customer_service`): text, as every history already carries it."""

    recipient: str
    template: str
    context: dict = field(default_factory=dict)


@dataclass
class CaseSnapshot:
    """The case row's fields that steps change."""

    status: str
    kind: str
    priority: str | None
    department: str | None
    escalation_level: int
    breached: bool
    department_due: datetime
    answer_due: datetime
    closed_at: datetime | None = None
    # What the submitter was last written, for the record once the workflow has ended (the tracking view).
    question: str | None = None
    answer: str | None = None
    rejection_reason: str | None = None


@dataclass
class StepRecord:
    """One step: its timeline entry, the case row after it, and the messages it sends; written once."""

    reference: str
    step: int
    action: str
    at: datetime
    actor: str
    case: CaseSnapshot
    from_status: str | None = None
    to_status: str | None = None
    detail: dict = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    # The workflow task the step ran in: the history's length then. A task that Temporal lost and ran
    # again has a greater one, so the store knows which write of a step number is the truth.
    written_in_task: int = 0
    # The sender sends the step's messages from the outbox once the task is in the history of this run
    # (activities/delivery.py, OutboxDispatcher); False: the workflow starts a deliver_message activity each.
    sent_from_outbox: bool = False
    run_id: str = ""

    @property
    def step_key(self) -> str:
        return f"{self.step:04d}-{self.action}"


def message_key(step_key: str, number: int, template: str) -> str:
    """Names a step's message in the outbox: the same step always names its messages the same way."""
    return f"{step_key}-{number}-{template}"


@dataclass
class DeliveryRequest:
    """Deliver one outbox message; the message and its addresses are read from the store, not carried here."""

    reference: str
    message_key: str


@dataclass
class DeliveryFailure:
    """A message that could not be delivered after its retries, and why (no addresses, no text)."""

    reference: str
    message_key: str
    reason: str


@dataclass
class PausePeriod:
    started: datetime
    ended: datetime


@dataclass
class DeadlineRequest:
    terms: CaseTerms
    priority: str | None
    received_at: datetime
    pauses: list[PausePeriod] = field(default_factory=list)


@dataclass
class DepartmentDeadlines:
    department_due: datetime
    answer_due: datetime
    department_reminder: datetime


@dataclass
class WorkingDaysRequest:
    start: datetime
    working_days: int


@dataclass
class WorkingDaysResult:
    # Wrapped in a dataclass: inside the workflow sandbox a bare `datetime` result type cannot be decoded.
    due: datetime


@dataclass
class PauseExtension:
    deadlines: list[datetime]
    paused_from: datetime
    paused_until: datetime


@dataclass
class PauseExtensionResult:
    deadlines: list[datetime]
