"""The HTTP contract: request bodies (unknown fields refused) and response models.

The text rules live here, one kind of text per kind of field (README.md, "Input rules"):
- free text (a description, staff's replies): any line breaks and tabs; no other control character;
- a one-line text (a subject): no line break or control character, no bidirectional control (which
  would change how the text around it reads), zero-width characters removed, and something visible;
- a name (a submitter's, a department's, a key's): a one-line text with at least one letter;
  a department's name holds no markup (`<`, `>`) either;
- an identifier (a `channel_ref`): one line, nothing invisible, kept exactly as sent.
"""

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints
from pydantic_core import PydanticCustomError

from domain.kinds import Channel, Kind, Priority, Status, SubmitterCategory
from domain.steps import RejectionGround

# Embeddings, overrides and isolates: each reorders the text after it (a name that reads backwards).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters that draw nothing: pasted from other programs by accident (a BOM, a zero-width space,
# a direction mark), so they are taken out of names and subjects rather than refused.
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u061c")
# Letters and symbols that draw nothing either: a name made of them is a name of nothing.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")
LINE_BREAKS = frozenset("\r\n")
FREE_TEXT_CONTROLS = frozenset("\t\r\n")
MARKUP = frozenset("<>")


def _refused(kind: str, reason: str) -> PydanticCustomError:
    return PydanticCustomError(kind, reason)


def _codepoint(character: str) -> str:
    return f"U+{ord(character):04X}"


def _refuse_controls(value: str, allowed: frozenset[str] = frozenset()) -> None:
    for character in value:
        if character in allowed or unicodedata.category(character) != "Cc":
            continue
        if character in LINE_BREAKS or character == "\t":
            raise _refused("line_break", f"contains a line break or tab ({_codepoint(character)}); "
                                         "this field is one line")
        raise _refused("control_character", f"contains the control character {_codepoint(character)}, "
                                            "which is not allowed in text")


def _refuse_bidi_controls(value: str) -> None:
    if found := next((character for character in value if character in BIDI_CONTROLS), None):
        raise _refused("bidi_control", f"contains the bidirectional control {_codepoint(found)}, which would "
                                       "change how the text around it reads")


def _shows(value: str, categories: str) -> bool:
    return any(unicodedata.category(c)[0] in categories and c not in BLANK_LETTERS for c in value)


def _free_text(value: str) -> str:
    _refuse_controls(value, FREE_TEXT_CONTROLS)
    return value


def _without_zero_width(value: Any) -> Any:
    return "".join(c for c in value if c not in ZERO_WIDTH) if isinstance(value, str) else value


def _one_line(value: str) -> str:
    _refuse_controls(value)
    _refuse_bidi_controls(value)
    if not _shows(value, "LNPS"):
        raise _refused("invisible", "holds nothing visible")
    return value


def _name(value: str) -> str:
    _one_line(value)
    if not _shows(value, "LN"):
        raise _refused("invisible", "holds no letter or digit")
    return value


def _plain_name(value: str) -> str:
    if found := next((character for character in value if character in MARKUP), None):
        raise _refused("markup", f"contains markup ({found}), which a name does not hold")
    return _name(value)


def _identifier(value: str) -> str:
    _refuse_controls(value)
    _refuse_bidi_controls(value)
    if found := next((character for character in value if character in ZERO_WIDTH), None):
        raise _refused("invisible", f"contains the invisible character {_codepoint(found)}")
    return value


def _constrained(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


def free_text(max_length: int) -> Any:
    """Text of several lines (a description, a reply): line breaks and tabs, no other control character."""
    return Annotated[str, _constrained(max_length), AfterValidator(_free_text)]


def one_line_text(max_length: int) -> Any:
    """One line of text that people read (a subject): zero-width characters are removed, then checked."""
    return Annotated[str, _constrained(max_length), AfterValidator(_one_line), BeforeValidator(_without_zero_width)]


def name_text(max_length: int, *, markup: bool = True) -> Any:
    """A name: one line with a letter or digit; `markup=False` refuses `<` and `>` as well."""
    rule = _name if markup else _plain_name
    return Annotated[str, _constrained(max_length), AfterValidator(rule), BeforeValidator(_without_zero_width)]


def identifier_text(max_length: int) -> Any:
    """A reference another system made (`channel_ref`): one line, nothing invisible, kept exactly as sent."""
    return Annotated[str, _constrained(max_length), AfterValidator(_identifier)]


class StrictBody(BaseModel):
    # A caller may not slip in status, department, deadlines or anything else we did not ask for.
    model_config = ConfigDict(extra="forbid")


class SubmitterIn(StrictBody):
    category: SubmitterCategory
    name: name_text(200) | None = None
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
    channel_ref: identifier_text(200) | None = None
    submitter: SubmitterIn
    subject: one_line_text(300)
    description: free_text(10_000)
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
    department: identifier_text(40)
    kind: Kind | None = None
    priority: Priority | None = None


class RejectBody(StrictBody):
    reason: free_text(2000)
    ground: RejectionGround | None = Field(
        default=None, description="Why, as a count the periodic review reports: `not_competent` (outside the "
        "ministry's competence), `unlawful`, `not_genuine` or `duplicate`.")


class RequestInfoBody(StrictBody):
    question: free_text(2000)


class SubmitterInfoBody(StrictBody):
    answer: free_text(10_000)


class ReplyBody(StrictBody):
    summary: free_text(10_000)


class RespondBody(StrictBody):
    message: free_text(10_000)


class CloseBody(StrictBody):
    pass


class ContestBody(StrictBody):
    reason: free_text(2000)


class InstructBody(StrictBody):
    instruction: free_text(5000)
    department: str | None = Field(
        default=None, max_length=40, description="Hand the case to this department; omit to instruct the case's own."
    )


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class CaseReadEntry(BaseModel):
    """One read of a case: which API key or staff member read it (id, name, role and department), and when."""

    key_id: int | None = Field(description="The API key that read it; null for a person in the staff console.")
    key_name: str | None = Field(description="The name the key was given when it was made (null if its row is gone).")
    user_id: int | None = Field(default=None, description="The staff account that read it in the console.")
    user_name: str | None = Field(default=None, description="That person's name.")
    role: str
    department: str | None = Field(description="The department of a `department` key; null for the other roles.")
    at: datetime


class CaseReadList(BaseModel):
    reference: str
    reads: list[CaseReadEntry]
