"""PostgreSQL tables: the case file, its timeline, the notification outbox and API keys.

Table models stay in the store layer; the API and workflows speak in their own dataclasses.
Alembic owns the schema (store/migrations); these classes describe it for queries.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Column,
    Computed,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

# A step's number is the prefix of its key ("0018-reject"); store/migrations/versions/0008_step_identity.py.
STEP_OF_KEY = "CASE WHEN {key} ~ '^[0-9]+-' THEN split_part({key}, '-', 1)::integer END"


# The outbox rows the sender takes up; the partial index and the sender's claim say it in the same words.
DUE_FROM_THE_SENDER = text("status = 'pending' AND dispatch IN ('unconfirmed', 'confirmed')")


def _utc_column(**kwargs: Any) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), **kwargs))


class CaseRecord(SQLModel, table=True):
    """The case file: who submitted what, through which channel, and where it stands."""

    __tablename__ = "cases"

    reference: str = Field(primary_key=True, max_length=20)
    kind: str = Field(max_length=20, index=True)
    channel: str = Field(max_length=20)
    channel_ref: str | None = Field(default=None, max_length=200)
    submitter_category: str = Field(max_length=20)
    submitter_name: str | None = Field(default=None, max_length=200)
    submitter_civil_id: str | None = Field(default=None, max_length=20)
    submitter_email: str | None = Field(default=None, max_length=320)
    submitter_phone: str | None = Field(default=None, max_length=32)
    subject: str = Field(max_length=300)
    description: str
    priority: str | None = Field(default=None, max_length=20)
    status: str = Field(max_length=30, index=True)
    department: str | None = Field(default=None, max_length=40, index=True)
    escalation_level: int = 1
    breached: bool = False
    tracking_code_hash: str = Field(max_length=64)
    policy_version: str = Field(max_length=40)
    received_at: datetime = _utc_column(nullable=False)
    department_due: datetime = _utc_column(nullable=False)
    answer_due: datetime = _utc_column(nullable=False, index=True)
    closed_at: datetime | None = _utc_column(nullable=True)
    updated_at: datetime = _utc_column(nullable=False)
    # The workflow step that last wrote this row, and the workflow task it ran in (activities/case_store.py).
    last_step: int = 0
    last_task: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # The API key whose submission made the case (its id, as in the timeline's actor label): a channel reads its own.
    submitted_by_key: str | None = Field(default=None, max_length=40, index=True)
    # The language the submitter is written to in: "ar" (the default) or "en".
    language: str = Field(default="ar", max_length=2)
    # When the retention workflow erased the submitter's personal data; the case and its numbers stay.
    personal_data_erased_at: datetime | None = _utc_column(nullable=True)
    # What the ministry last wrote to the submitter, as the workflow keeps it: the question while the case
    # waits for them, the answer until it is contested, a rejection's reason (the tracking view reads these).
    question: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    answer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rejection_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TimelineEntry(SQLModel, table=True):
    """One step in a case's life: append-only, written once per (case, step key)."""

    __tablename__ = "timeline"
    __table_args__ = (UniqueConstraint("reference", "step_key"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    reference: str = Field(foreign_key="cases.reference", max_length=20, index=True)
    step_key: str = Field(max_length=80)
    # The step's number, from its key (NULL for entries that are not workflow steps, e.g. a failed delivery).
    step: int | None = Field(default=None, sa_column=Column(Integer, Computed(STEP_OF_KEY.format(key="step_key"))))
    # The workflow task that wrote it: its history length then. A later task's write of the same number wins.
    written_in_task: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    at: datetime = _utc_column(nullable=False)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=40)
    from_status: str | None = Field(default=None, max_length=30)
    to_status: str | None = Field(default=None, max_length=30)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CaseRead(SQLModel, table=True):
    """One read of a case by an API key or a person in the console: who read it and when, for the auditor."""

    __tablename__ = "case_reads"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    reference: str = Field(foreign_key="cases.reference", max_length=20, index=True)
    # Exactly one of the two: the API key, or the staff account (store/migrations/versions/0013_staff_accounts.py).
    key_id: int | None = None
    user_id: int | None = Field(default=None, foreign_key="staff_users.id")
    role: str = Field(max_length=30)
    at: datetime = _utc_column(nullable=False)


class OutboxMessage(SQLModel, table=True):
    """A message for a person, written once; a delivery process sends it later."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("reference", "message_key"),
        # The rows the sender takes up (store/migrations/versions/0017_messages_sent_from_the_outbox.py).
        Index("ix_outbox_due_from_the_sender", "next_attempt_at", postgresql_where=DUE_FROM_THE_SENDER),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    reference: str = Field(foreign_key="cases.reference", max_length=20, index=True)
    message_key: str = Field(max_length=80)
    step: int | None = Field(default=None, sa_column=Column(Integer, Computed(STEP_OF_KEY.format(key="message_key"))))
    # `department:` and a code of up to 40 characters (departments.code).
    recipient: str = Field(max_length=60)
    template: str = Field(max_length=40)
    context: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # pending until delivery has run; then sent, failed (some transport failed) or no_contact.
    status: str = Field(default="pending", max_length=20)
    created_at: datetime = _utc_column(nullable=False)
    updated_at: datetime | None = _utc_column(nullable=True)
    # Messages sent from the outbox (migration 0017): NULL when the case workflow's activity sends the
    # message; else unconfirmed, confirmed (its step is in the history) or lost (its task was lost).
    dispatch: str | None = Field(default=None, max_length=12)
    written_in_task: int | None = None
    run_id: str | None = Field(default=None, max_length=64)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = _utc_column(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)


class Delivery(SQLModel, table=True):
    """One message on one transport (email, sms, callback): sent at most once, or failed with the reason."""

    __tablename__ = "deliveries"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    reference: str = Field(foreign_key="cases.reference", max_length=20, index=True)
    transport: str = Field(max_length=20)
    idempotency_key: str = Field(max_length=160, unique=True)
    # pending, sending, sent or failed.
    status: str = Field(max_length=20, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = _utc_column(nullable=True)
    updated_at: datetime = _utc_column(nullable=False)


class DepartmentEntry(SQLModel, table=True):
    """The live directory of departments: names and the address their staff are told at (seeded from the policy)."""

    __tablename__ = "departments"

    code: str = Field(primary_key=True, max_length=40)
    name_ar: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    customer_service: bool = False
    active: bool = True
    updated_at: datetime = _utc_column(nullable=False)


class ApiKey(SQLModel, table=True):
    """A caller's credential; only a hash of the key is kept."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_key_hash", "key_hash", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    role: str = Field(max_length=30)
    department: str | None = Field(default=None, max_length=40)
    # The channels a channel key may submit through (store/migrations/versions/0009_key_channels.py); None for others.
    channels: list[str] | None = Field(default=None, sa_column=Column(ARRAY(String(20)), nullable=True))
    key_hash: str = Field(max_length=64)
    created_at: datetime = _utc_column(nullable=False)
    revoked_at: datetime | None = _utc_column(nullable=True)
    # The admin key that issued or revoked it; None from the command line.
    created_by: int | None = Field(default=None, foreign_key="api_keys.id")
    revoked_by: int | None = Field(default=None, foreign_key="api_keys.id")


class IntakeRequest(SQLModel, table=True):
    """What a submission's idempotency keys point to, so a retried request returns the case already made."""

    __tablename__ = "intake_requests"

    idempotency_key: str = Field(primary_key=True, max_length=300)
    request_hash: str = Field(max_length=64)
    reference: str = Field(max_length=20, index=True)
    received_at: datetime = _utc_column(nullable=False)
    # The case's random tracking code, sealed with AES-GCM (api.tracking_codes), so that a retry answers with it
    # again; none on claims made before codes were random, whose codes are derived from the reference.
    tracking_code_sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class DirectorGeneralDigest(SQLModel, table=True):
    """One working day's digest to the Director General, claimed before it is sent so that it goes once."""

    __tablename__ = "director_general_digests"

    day_closes_at: datetime = _utc_column(primary_key=True)
    # sending, sent, nothing_breached, no_address, or pending again after a failed send
    status: str = Field(max_length=20)
    cases: int = 0
    attempts: int = 0
    updated_at: datetime = _utc_column(nullable=False)
    sent_at: datetime | None = _utc_column(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)


class StaffUser(SQLModel, table=True):
    """A person who works cases in the console; the same roles as API keys."""

    __tablename__ = "staff_users"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=120, unique=True)
    name: str = Field(max_length=120)
    role: str = Field(max_length=30)
    department: str | None = Field(default=None, max_length=40)
    # Argon2 (pwdlib); None for an account that signs in only through the identity provider.
    password_hash: str | None = Field(default=None, max_length=200)
    # A one-time password: the first sign-in asks for the person's own.
    password_change_required: bool = False
    oidc_subject: str | None = Field(default=None, max_length=255, unique=True)
    failed_attempts: int = 0
    locked_until: datetime | None = _utc_column(nullable=True)
    created_at: datetime = _utc_column(nullable=False)
    disabled_at: datetime | None = _utc_column(nullable=True)


class StaffSession(SQLModel, table=True):
    """A signed-in browser: the cookie's token is kept only as its SHA-256."""

    __tablename__ = "staff_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="staff_users.id", index=True)
    csrf_token: str = Field(max_length=64)
    language: str = Field(default="ar", max_length=5)
    created_at: datetime = _utc_column(nullable=False)
    last_seen_at: datetime = _utc_column(nullable=False)
    expires_at: datetime = _utc_column(nullable=False)


class StaffAuditEntry(SQLModel, table=True):
    """A sign-in, a failed one, a lock, a sign-out or an account change."""

    __tablename__ = "staff_audit"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    at: datetime = _utc_column(nullable=False, index=True)
    login: str = Field(max_length=120, index=True)
    user_id: int | None = None
    event: str = Field(max_length=30)
    address: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=300)


class EvidenceFile(SQLModel, table=True):
    """An evidence file, sealed (AES-GCM, the codec's keys, bound to its id); part of a case once a step names it."""

    __tablename__ = "evidence_files"

    id: str = Field(primary_key=True, max_length=36)
    reference: str = Field(max_length=20, index=True)
    file_name: str = Field(max_length=200)
    media_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    key_id: str = Field(max_length=40)
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    uploaded_at: datetime = _utc_column(nullable=False)
    position: int = 0
    # `submitter`, or the principal of the key or person who added it.
    uploaded_by: str = Field(max_length=60)


# ---------------------------------------------------------------- the public pages (migration 0016)


class PublicSession(SQLModel, table=True):
    """A browser following one case on the public tracking page, after its reference and tracking code.

    Apart from the console's sessions on purpose: another table, another cookie, no account. The cookie's
    token is kept only as its SHA-256; the row ends at `expires_at` (short) or when the submitter leaves.
    """

    __tablename__ = "public_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    reference: str = Field(max_length=40, index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _utc_column(nullable=False)
    expires_at: datetime = _utc_column(nullable=False, index=True)


class PeriodicReport(SQLModel, table=True):
    """A report of the periodic review (the monthly report, a policy-review reminder), kept as made and
    claimed before it is sent so that it goes once (store/reports.py)."""

    __tablename__ = "periodic_reports"

    # "monthly-2026-11", "policy-review-2027-06-01"
    key: str = Field(primary_key=True, max_length=60)
    period_start: datetime = _utc_column(nullable=False)
    period_end: datetime = _utc_column(nullable=False)
    # pending, sending, sent, no_address; pending again after a failed send
    status: str = Field(max_length=20)
    attempts: int = 0
    # The figures as computed (counts only), the email's HTML and the PDF.
    figures: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    html: str = Field(sa_column=Column(Text, nullable=False))
    pdf: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = _utc_column(nullable=False)
    updated_at: datetime = _utc_column(nullable=False)
    sent_at: datetime | None = _utc_column(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
