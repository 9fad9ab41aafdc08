"""Which action the policy allows, on a case in which state, by whom.

Pure standard library: the workflow's update validators and signal handlers call `check_action`,
so a refusal carries the same reason whether it comes through the API or an operator's signal.
"""

from dataclasses import dataclass
from enum import StrEnum

from domain.kinds import FINAL_STATUSES, Kind, Priority, Role, Status


class Action(StrEnum):
    """Something a person asks of a case; each is one step of the policy's processing."""

    TRIAGE = "triage"
    REJECT = "reject"
    REQUEST_INFO = "request_info"
    SUBMITTER_INFO = "submitter_info"
    REPLY = "reply"
    RESPOND = "respond"
    CLOSE = "close"
    CONTEST = "contest"
    # Level 2: the Director General directs a department (its own or another) on an escalated case.
    INSTRUCT = "instruct"
    # Evidence files for an open case, from its channel, the call centre or customer service (the files
    # themselves stay in PostgreSQL; the case is told their ids and sizes).
    ADD_EVIDENCE = "add_evidence"


# The submitter acts through the public tracking endpoints, not with an API key.
SUBMITTER = "submitter"


@dataclass(frozen=True)
class Rule:
    """Where an action may start, who may take it, and where it leads (None: decided by the workflow)."""

    from_statuses: frozenset[Status]
    roles: frozenset[str]
    to_status: Status | None


_OPEN_FOR_HANDLING = frozenset({Status.RECEIVED, Status.WITH_DEPARTMENT})

RULES: dict[Action, Rule] = {
    # Step 2, evaluation and classification: the customer-service team.
    Action.TRIAGE: Rule(_OPEN_FOR_HANDLING, frozenset({Role.CS_AGENT}), Status.WITH_DEPARTMENT),
    Action.REJECT: Rule(_OPEN_FOR_HANDLING, frozenset({Role.CS_AGENT}), Status.REJECTED),
    # Step 3, investigation: the department studies the case or contacts the submitter.
    Action.REQUEST_INFO: Rule(
        _OPEN_FOR_HANDLING,
        frozenset({Role.DEPARTMENT, Role.CS_AGENT, Role.DIRECTOR_GENERAL}),
        Status.AWAITING_SUBMITTER,
    ),
    # Back to wherever the case was before the question was asked.
    Action.SUBMITTER_INFO: Rule(
        frozenset({Status.AWAITING_SUBMITTER}), frozenset({Role.CHANNEL, Role.CS_AGENT, SUBMITTER}), None
    ),
    Action.REPLY: Rule(
        _OPEN_FOR_HANDLING, frozenset({Role.DEPARTMENT, Role.CS_AGENT, Role.DIRECTOR_GENERAL}), Status.REPLIED
    ),
    # Step 4, response: the customer-service team tells the submitter the outcome.
    Action.RESPOND: Rule(frozenset({Status.REPLIED}), frozenset({Role.CS_AGENT}), Status.RESPONDED),
    # Step 5, closure: on the submitter's acceptance, before the contest window ends.
    Action.CLOSE: Rule(frozenset({Status.RESPONDED}), frozenset({Role.CS_AGENT}), Status.CLOSED),
    Action.CONTEST: Rule(
        frozenset({Status.RESPONDED}), frozenset({Role.CHANNEL, Role.CS_AGENT, SUBMITTER}), Status.WITH_DEPARTMENT
    ),
    Action.INSTRUCT: Rule(_OPEN_FOR_HANDLING, frozenset({Role.DIRECTOR_GENERAL}), Status.WITH_DEPARTMENT),
    Action.ADD_EVIDENCE: Rule(
        frozenset(Status) - FINAL_STATUSES, frozenset({Role.CHANNEL, Role.CALL_CENTRE, Role.CS_AGENT}), None
    ),
}


class ActionRefused(Exception):
    """The case's state, the caller's role or the caller's department does not allow the action."""


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about a case."""

    status: Status
    department: str | None
    escalation_level: int


def check_action(
    action: Action, case: CaseFacts, role: str, department: str | None, *, old_rules: bool = False
) -> None:
    """Raise ActionRefused, with a reason a person can read, unless the action is allowed.

    old_rules: the rules before customer service lost the reply on escalated cases, for replaying
    cases that ran under them.
    """
    rule = RULES[action]
    if case.status in FINAL_STATUSES:
        raise ActionRefused(f"the case is {case.status}; no further action is possible")
    if role not in rule.roles:
        raise ActionRefused(f"the role {role} may not {action} a case")
    if case.status not in rule.from_statuses:
        allowed = ", ".join(sorted(rule.from_statuses))
        raise ActionRefused(f"cannot {action} a case that is {case.status} (only when {allowed})")
    if role == Role.DEPARTMENT and department != case.department:
        raise ActionRefused("the case is not routed to the caller's department")
    if role == Role.DIRECTOR_GENERAL and case.escalation_level < 2:
        raise ActionRefused("the Director General acts on a case only once it is escalated")
    # Level 2 of the policy: once escalated, the reply is the Director General's (or the department's).
    if action == Action.REPLY and role == Role.CS_AGENT and case.escalation_level >= 2 and not old_rules:
        raise ActionRefused("once a case is escalated, the reply is the Director General's or the department's")


def status_after(action: Action, *, before_pause: Status | None = None) -> Status:
    """Where the action leads; the submitter's information leads back to where the case was before the question."""
    return RULES[action].to_status or before_pause or Status.WITH_DEPARTMENT


def check_triage_values(department: str, kind: str | None, priority: str | None, known_departments: list[str]) -> None:
    """Raise ActionRefused naming every value of a triage that the policy does not know.

    An empty directory (a case begun before the directory travelled with it) refuses no department.
    """
    problems = []
    if known_departments and department not in known_departments:
        problems.append(f"unknown department {department!r}")
    if kind and kind not in Kind.__members__.values():
        problems.append(f"unknown kind {kind!r}")
    if priority and priority not in Priority.__members__.values():
        problems.append(f"unknown priority {priority!r}")
    if problems:
        raise ActionRefused("; ".join(problems))


def check_instruction_values(department: str | None, case: CaseFacts, known_departments: list[str]) -> None:
    """Raise ActionRefused unless the Director General's instruction goes to a department the policy knows."""
    if department and known_departments and department not in known_departments:
        raise ActionRefused(f"unknown department {department!r}")
    if not (department or case.department):
        raise ActionRefused("the case has no department yet; name the department to instruct")
