"""The policy's vocabulary: kinds of submission, channels, submitters, priorities and case states.

Pure standard library: workflow code imports this module inside Temporal's sandbox.
"""

from enum import StrEnum


class Kind(StrEnum):
    """What was submitted (policy, "Definitions")."""

    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"


class Channel(StrEnum):
    """Where it came from (policy, "Channels for submitting")."""

    WEBSITE = "website"
    SOCIAL_MEDIA = "social_media"
    EMAIL = "email"
    PHONE = "phone"
    TAJAWOB = "tajawob"


class SubmitterCategory(StrEnum):
    """Who submitted it (policy, "Scope")."""

    BENEFICIARY = "beneficiary"
    EMPLOYEE = "employee"
    SUPPLIER = "supplier"
    COMMUNITY = "community"


class Priority(StrEnum):
    """How urgent a report is; it decides a report's response times."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Status(StrEnum):
    """Where a case stands in the policy's processing steps."""

    RECEIVED = "received"
    WITH_DEPARTMENT = "with_department"
    AWAITING_SUBMITTER = "awaiting_submitter"
    REPLIED = "replied"
    RESPONDED = "responded"
    CLOSED = "closed"
    REJECTED = "rejected"


class Role(StrEnum):
    """What an API key or a staff account is allowed to be."""

    CHANNEL = "channel"
    # A person who types in what reached the ministry by phone, email or social media (CALL_CENTRE_CHANNELS).
    CALL_CENTRE = "call_centre"
    CS_AGENT = "cs_agent"
    DEPARTMENT = "department"
    DIRECTOR_GENERAL = "director_general"
    AUDITOR = "auditor"
    ADMIN = "admin"


# The channels whose submissions a person enters by hand: the call centre speaks for these and no other.
CALL_CENTRE_CHANNELS = frozenset({Channel.PHONE, Channel.EMAIL, Channel.SOCIAL_MEDIA})

REFERENCE_PREFIX = {Kind.COMPLAINT: "C", Kind.REPORT: "R", Kind.SUGGESTION: "S"}

FINAL_STATUSES = frozenset({Status.CLOSED, Status.REJECTED})
