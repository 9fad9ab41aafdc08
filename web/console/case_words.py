"""The policy's words for what the console shows of a case: its kind, channel, status and priority, who took a
step of its timeline and what the step was, and why an action was refused.

The English here is the message id (`N_` marks it for the word check and translates nothing); the Arabic is
in web/locale/ar/LC_MESSAGES/cases.po.
"""

import re
from datetime import datetime

from domain.kinds import Channel, Kind, Priority, Role, Status, SubmitterCategory
from domain.lifecycle import SUBMITTER, Action
from domain.steps import (
    Addressee,
    CloseReason,
    DeliveryState,
    Detail,
    MessageState,
    Recipient,
    RejectionGround,
    Step,
)
from web.console.navigation import ROLE_NAMES
from web.i18n import Words


def N_(text: str) -> str:  # noqa: N802 (gettext's name for "a word to translate later")
    return text


KIND_WORDS = {Kind.COMPLAINT: N_("Complaint"), Kind.REPORT: N_("Report"), Kind.SUGGESTION: N_("Suggestion")}
CHANNEL_WORDS = {
    Channel.WEBSITE: N_("Website"), Channel.SOCIAL_MEDIA: N_("Social media"), Channel.EMAIL: N_("Email"),
    Channel.PHONE: N_("Phone"), Channel.TAJAWOB: N_("Tajawob platform"),
}
STATUS_WORDS = {
    Status.RECEIVED: N_("Received, to triage"),
    Status.WITH_DEPARTMENT: N_("With the department"),
    Status.AWAITING_SUBMITTER: N_("Waiting for the submitter"),
    Status.REPLIED: N_("Department replied, to answer"),
    Status.RESPONDED: N_("Submitter answered"),
    Status.CLOSED: N_("Closed"),
    Status.REJECTED: N_("Rejected"),
}
CATEGORY_WORDS = {
    SubmitterCategory.BENEFICIARY: N_("A beneficiary of the ministry's services"), SubmitterCategory.EMPLOYEE:
    N_("An employee"), SubmitterCategory.SUPPLIER: N_("A supplier or partner"), SubmitterCategory.COMMUNITY:
    N_("A member of the community"),
}
PRIORITY_WORDS = {
    Priority.CRITICAL: N_("Critical"), Priority.HIGH: N_("High"), Priority.NORMAL: N_("Normal"),
    Priority.LOW: N_("Low"),
}
# A rejection's ground, as the policy's evaluation checks it (domain.steps.RejectionGround).
GROUND_WORDS = {
    RejectionGround.NOT_COMPETENT: N_("Outside the ministry's competence"), RejectionGround.UNLAWFUL: N_("Unlawful"),
    RejectionGround.NOT_GENUINE: N_("Not genuine"), RejectionGround.DUPLICATE: N_("A duplicate of another case"),
}
# What each step of a timeline was, in the policy's words.
STEP_WORDS = {
    Step.RECEIVED: N_("Received and recorded"),
    Step.ROUTED: N_("Routed to the department"),
    Step.ROUTE_CONFIRMED: N_("Evaluated: stays with the department"),
    Action.TRIAGE: N_("Evaluated, classified and routed to the department"),
    Action.REJECT: N_("Rejected"),
    Action.REQUEST_INFO: N_("Asked the submitter for more details; every clock paused"),
    Action.SUBMITTER_INFO: N_("Passed on the submitter's details; the clocks resumed"),
    Action.REPLY: N_("Replied to customer service"),
    Action.INSTRUCT: N_("Instructed the department"),
    Action.RESPOND: N_("Sent the answer to the submitter"),
    Action.CLOSE: N_("Closed on the submitter's acceptance"),
    Action.CONTEST: N_("Contested the answer on the submitter's behalf; the case reopened"),
    Step.DEPARTMENT_REMINDED: N_("Reminded the department of its deadline"),
    Step.ESCALATED: N_("Escalated to the Director General (level 2)"),
    Step.BREACHED: N_("The answer's deadline passed"),
    Step.DIRECTOR_GENERAL_REMINDED: N_("Reminded the Director General"),
    Step.CLOSED: N_("Closed and archived"),
    Step.REFUSED: N_("An operator's signal was refused"),
    Step.DELIVERY_FAILED: N_("A message could not be delivered"),
    Action.ADD_EVIDENCE: N_("Added evidence files"),
}
# Why a case closed (a closed step's reason, the case's closed_reason).
CLOSE_REASON_WORDS = {
    CloseReason.ACCEPTED: N_("the submitter accepted the answer"), CloseReason.ARCHIVED: N_("archived after the "
                                                                                             "contest window"),
    CloseReason.NO_RESPONSE: N_("the submitter did not answer the question in time"),
    CloseReason.REJECTED: N_("rejected"),
}
# The texts people wrote on a step, in the order a page shows them.
TEXT_DETAILS = {
    Detail.REASON: N_("Reason"), Detail.QUESTION: N_("Question"), Detail.ANSWER: N_("Answer"),
    Detail.SUMMARY: N_("Reply"), Detail.INSTRUCTION: N_("Instruction"), Detail.MESSAGE: N_("Message"),
}
ADDRESSEE_WORDS = {
    Addressee.SUBMITTER: N_("The submitter"), Addressee.DIRECTOR_GENERAL: N_("The Director General"),
    Addressee.CUSTOMER_SERVICE: N_("Customer service"), Addressee.DEPARTMENT: N_("The department"),
}
MESSAGE_STATE_WORDS = {
    MessageState.PENDING: N_("Waiting to be sent"), MessageState.SENT: N_("Sent"),
    MessageState.FAILED: N_("Failed"), MessageState.NO_CONTACT: N_("No address to send to"),
}
DELIVERY_STATE_WORDS = {
    DeliveryState.PENDING: N_("waiting"), DeliveryState.SENDING: N_("sending"), DeliveryState.SENT: N_("sent"),
    DeliveryState.FAILED: N_("failed"), DeliveryState.REFUSED: N_("refused for good"),
}
TRANSPORT_WORDS = {"email": N_("Email"), "sms": N_("SMS"), "callback": N_("Channel callback")}


def word_of(words: Words, table: dict, value: str | None) -> str:
    """`value` in the reader's words; a value the table does not know is shown as it is."""
    if value is None:
        return "—"
    english = table.get(value)
    return words._(english) if english else value


def department_name(words: Words, names: dict[str, tuple[str, str]], code: str | None) -> str:
    """A department's name in the reader's language (from the directory), or its code if it has none."""
    if code is None:
        return words._("Not routed yet")
    name_ar, name_en = names.get(code, (code, code))
    return name_ar if words.language == "ar" else name_en


def recipient_words(words: Words, names: dict[str, tuple[str, str]], address: str) -> str:
    try:
        recipient = Recipient.parse(address)
    except ValueError:
        return address
    if recipient.who == Addressee.DEPARTMENT:
        return department_name(words, names, recipient.department)
    return word_of(words, ADDRESSEE_WORDS, recipient.who)


# An actor's label as the workflow writes it: `role/DEPT#key` for a key, `role/DEPT@user` for a person.
ACTOR = re.compile(r"(?P<role>[a-z_]+)(?:/(?P<department>[^#@]+))?(?:#(?P<key>[0-9]+))?(?:@(?P<user>[0-9]+))?")
OTHER_ACTORS = {"system": N_("The system"), SUBMITTER: N_("The submitter"), "operator": N_("An operator")}


def user_ids_of(labels: list[str]) -> set[int]:
    """The staff accounts that took steps, for store.staff.users_named."""
    found = (ACTOR.fullmatch(label) for label in labels)
    return {int(match["user"]) for match in found if match and match["user"]}


def actor_words(words: Words, label: str, people: dict[int, str], names: dict[str, tuple[str, str]]) -> str:
    """Who took a step: the person's name and role, a key's role, the system, or an operator (unverified)."""
    if label.startswith("operator for "):
        return words._("An operator (on behalf of someone, not verified)")
    match = ACTOR.fullmatch(label)
    if match is None:
        return label
    role = match["role"]
    role_text = words._(ROLE_NAMES[Role(role)]) if role in Role.__members__.values() else word_of(
        words, OTHER_ACTORS, role)
    if match["department"]:
        role_text = f"{role_text} · {department_name(words, names, match['department'])}"
    if match["user"]:
        person = people.get(int(match["user"]), words._("a former account"))
        return f"{person} ({role_text})"
    return role_text


def step_words(words: Words, action: str) -> str:
    return word_of(words, STEP_WORDS, action)


def instant_of(value: object) -> datetime | None:
    """A detail's instant (written as ISO 8601 text in the timeline), or None."""
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


# Why the workflow or the application layer refused an action, as the policy says it, most specific first.
REFUSALS = [
    (re.compile(r"the case is (closed|rejected); no further action"), N_("The case is finished; no further "
                                                                         "action is possible.")),
    (re.compile(r"case \S+ is closed"), N_("The case is finished; no further action is possible.")),
    (re.compile(r"the role \S+ may not"), N_("Your role may not take this action.")),
    (re.compile(r"cannot \S+ a case that is"), N_("The case's state does not allow this action now; it has "
                                                  "moved on. Open the case again to see where it stands.")),
    (re.compile(r"not routed to the caller's department"), N_("The case is not routed to your department.")),
    (re.compile(r"only once it is escalated"), N_("The Director General acts on a case only once it is "
                                                  "escalated.")),
    (re.compile(r"once a case is escalated, the reply"), N_("Once a case is escalated, the reply is the "
                                                            "Director General's or the department's.")),
    (re.compile(r"unknown department|not an active department"), N_("That is not an active department of the "
                                                                     "directory.")),
    (re.compile(r"has no department yet"), N_("The case has no department yet: choose the department to "
                                              "instruct.")),
    (re.compile(r"did not answer in time"), N_("The case engine did not answer in time; the action may have been "
                                               "taken. Send the same form again to learn its outcome: it is never "
                                               "taken twice.")),
    (re.compile(r"turned the request away"), N_("The case engine is busy; nothing was done. Try again.")),
]


def refusal_words(words: Words, reason: str) -> str:
    """A refusal's reason in the reader's words; one we do not know is shown as the engine gave it."""
    for pattern, english in REFUSALS:
        if pattern.search(reason):
            return words._(english)
    return words._("Refused: {reason}", reason=reason)


# Which message a case sent (the outbox's template).
MESSAGE_WORDS = {
    "acknowledgement": N_("Acknowledgement of receipt"), "answer": N_("The answer"),
    "breach": N_("Deadline passed"), "breach_reminder": N_("Reminder: deadline passed"),
    "case_assigned": N_("New case for the department"), "closure": N_("Closure"),
    "closure_no_response": N_("Closure without the submitter's answer"),
    "department_reminder": N_("Reminder to the department"), "department_replied": N_("The department replied"),
    "director_general_digest": N_("Director General's digest"), "escalation": N_("Escalation"),
    "info_received": N_("Details received"), "info_request": N_("Request for details"),
    "instruction": N_("Director General's instruction"), "rejection": N_("Rejection"), "reopened": N_("Reopened"),
}
