"""The HTTP contract: request bodies (unknown fields refused) and response models."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from domain.kinds import Channel, Kind, Priority, Status, SubmitterCategory


def _text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)]


class StrictBody(BaseModel):
    # A caller may not slip in status, department, deadlines or anything else we did not ask for.
    model_config = ConfigDict(extra="forbid")


class SubmitterIn(StrictBody):
    category: SubmitterCategory
    name: _text(200) | None = None
    civil_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{6,12}$")] | None = Field(
        default=None, description="Omani civil ID number: 6 to 12 digits."
    )
    email: EmailStr | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{7,15}$")] | None = Field(
        default=None, description="Digits, optionally with a leading +."
    )


class CaseCreate(StrictBody):
    """A submission from a channel: a complaint, a report or a suggestion."""

    kind: Kind
    channel: Channel
    channel_ref: _text(200) | None = None
    submitter: SubmitterIn
    subject: _text(300)
    description: _text(10_000)
    priority: Priority | None = None
    language: Literal["ar", "en"] = Field(
        default="ar", description="The language the submitter is written to in: Arabic (default) or English."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "complaint",
                    "channel": "website",
                    "channel_ref": "web-4711",
                    "submitter": {"category": "beneficiary", "name": "Salim Al-Harthy", "civil_id": "12345678",
                                  "email": "salim@example.om", "phone": "+96891234567"},
                    "subject": "Passport renewal delayed",
                    "description": "I applied for renewal three weeks ago and have heard nothing.",
                    "priority": None,
                    "language": "ar",
                }
            ]
        },
    )


class CaseCreated(BaseModel):
    reference: str
    tracking_code: str = Field(description="The submitter's secret for following the case; shown only once.")
    status: Status
    answer_due: datetime
    department_due: datetime


class TimelineEntryPublic(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    detail: dict


class SubmitterPublic(BaseModel):
    category: str
    name: str | None
    civil_id: str | None
    email: str | None
    phone: str | None


class CaseSummary(BaseModel):
    """A case in a list: where it stands, when it is due and, for staff, its subject; no personal data, no
    description."""

    reference: str
    kind: Kind
    channel: Channel
    status: Status
    priority: Priority | None
    department: str | None
    escalation_level: int
    breached: bool
    received_at: datetime
    department_due: datetime
    answer_due: datetime
    subject: str | None = Field(default=None, description="For staff; null in a channel key's list.")


class CasePublic(CaseSummary):
    """One case in full, for those who may see it: the summary plus its content and timeline."""

    channel_ref: str | None = Field(description="The channel's own reference; hidden (null) wherever the submitter is.")
    closed_at: datetime | None = None
    closed_reason: str | None = None
    policy_version: str
    subject: str
    description: str
    submitter: SubmitterPublic | None
    timeline: list[TimelineEntryPublic]


class DepartmentPublic(BaseModel):
    code: str
    name_ar: str
    name_en: str
    customer_service: bool


class Health(BaseModel):
    status: str
    postgres: bool
    temporal: bool


class TriageBody(StrictBody):
    department: _text(40)
    kind: Kind | None = None
    priority: Priority | None = None


class RejectBody(StrictBody):
    reason: _text(2000)


class RequestInfoBody(StrictBody):
    question: _text(2000)


class SubmitterInfoBody(StrictBody):
    answer: _text(10_000)


class ReplyBody(StrictBody):
    summary: _text(10_000)


class RespondBody(StrictBody):
    message: _text(10_000)


class CloseBody(StrictBody):
    pass


class ContestBody(StrictBody):
    reason: _text(2000)


class InstructBody(StrictBody):
    instruction: _text(5000)
    department: str | None = Field(
        default=None, max_length=40, description="Hand the case to this department; omit to instruct the case's own."
    )


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class CaseReadEntry(BaseModel):
    """One read of a case: which API key read it (its id, name, role and department), and when."""

    key_id: int
    key_name: str | None = Field(description="The name the key was given when it was made (null if its row is gone).")
    role: str
    department: str | None = Field(description="The department of a `department` key; null for the other roles.")
    at: datetime


class CaseReadList(BaseModel):
    reference: str
    reads: list[CaseReadEntry]
