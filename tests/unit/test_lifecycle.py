"""The transition table reads like the policy's steps: who may do what, when."""

import pytest

from domain.kinds import Role, Status
from domain.lifecycle import (
    RULES,
    SUBMITTER,
    Action,
    ActionRefused,
    CaseFacts,
    check_action,
    check_instruction_values,
    check_triage_values,
    status_after,
)


def case(status: Status, department: str | None = "HR", level: int = 1) -> CaseFacts:
    return CaseFacts(status=status, department=department, escalation_level=level)


@pytest.mark.parametrize(
    ("action", "status", "role"),
    [
        (Action.TRIAGE, Status.RECEIVED, Role.CS_AGENT),
        (Action.TRIAGE, Status.WITH_DEPARTMENT, Role.CS_AGENT),
        (Action.REJECT, Status.RECEIVED, Role.CS_AGENT),
        (Action.REQUEST_INFO, Status.WITH_DEPARTMENT, Role.DEPARTMENT),
        (Action.SUBMITTER_INFO, Status.AWAITING_SUBMITTER, Role.CHANNEL),
        (Action.SUBMITTER_INFO, Status.AWAITING_SUBMITTER, SUBMITTER),
        (Action.REPLY, Status.WITH_DEPARTMENT, Role.DEPARTMENT),
        (Action.REPLY, Status.RECEIVED, Role.CS_AGENT),
        (Action.RESPOND, Status.REPLIED, Role.CS_AGENT),
        (Action.CLOSE, Status.RESPONDED, Role.CS_AGENT),
        (Action.CONTEST, Status.RESPONDED, SUBMITTER),
        (Action.INSTRUCT, Status.WITH_DEPARTMENT, Role.DIRECTOR_GENERAL),
    ],
)
def test_the_policy_allows(action, status, role):
    level = 2 if role == Role.DIRECTOR_GENERAL else 1
    check_action(action, case(status, level=level), role, "HR")


@pytest.mark.parametrize(
    ("action", "facts", "role", "department", "reason"),
    [
        (Action.TRIAGE, case(Status.RECEIVED), Role.DEPARTMENT, "HR", "may not triage"),
        (Action.RESPOND, case(Status.WITH_DEPARTMENT), Role.CS_AGENT, None,
         "cannot respond a case that is with_department"),
        (Action.REPLY, case(Status.WITH_DEPARTMENT), Role.DEPARTMENT, "IT", "not routed to the caller's department"),
        (Action.REPLY, case(Status.WITH_DEPARTMENT), Role.DIRECTOR_GENERAL, None, "only once it is escalated"),
        (Action.REPLY, case(Status.CLOSED), Role.CS_AGENT, None, "the case is closed"),
        (Action.CONTEST, case(Status.REPLIED), SUBMITTER, None, "cannot contest"),
        (Action.CLOSE, case(Status.RESPONDED), Role.AUDITOR, None, "may not close"),
        (Action.TRIAGE, case(Status.REJECTED), Role.CS_AGENT, None, "the case is rejected"),
        (Action.INSTRUCT, case(Status.WITH_DEPARTMENT), Role.DIRECTOR_GENERAL, None, "only once it is escalated"),
        (Action.INSTRUCT, case(Status.WITH_DEPARTMENT, level=2), Role.CS_AGENT, None, "may not instruct"),
        (Action.REPLY, case(Status.WITH_DEPARTMENT, level=2), Role.CS_AGENT, None,
         "the reply is the Director General's"),
    ],
)
def test_the_policy_refuses_with_a_reason(action, facts, role, department, reason):
    with pytest.raises(ActionRefused, match=reason):
        check_action(action, facts, role, department)


def test_the_director_general_acts_once_escalated():
    check_action(Action.REPLY, case(Status.WITH_DEPARTMENT, level=2), Role.DIRECTOR_GENERAL, None)


def test_replaying_a_case_from_before_the_rule_lets_customer_service_reply_once_escalated():
    check_action(Action.REPLY, case(Status.WITH_DEPARTMENT, level=2), Role.CS_AGENT, None, old_rules=True)


def test_auditors_and_admins_change_nothing():
    for rule in RULES.values():
        assert Role.AUDITOR not in rule.roles and Role.ADMIN not in rule.roles


def test_no_action_leaves_a_final_state():
    for action in Action:
        for final in (Status.CLOSED, Status.REJECTED):
            with pytest.raises(ActionRefused):
                check_action(action, case(final), Role.CS_AGENT, None)


@pytest.mark.parametrize(
    ("action", "after"),
    [
        (Action.TRIAGE, Status.WITH_DEPARTMENT),
        (Action.REJECT, Status.REJECTED),
        (Action.REQUEST_INFO, Status.AWAITING_SUBMITTER),
        (Action.REPLY, Status.REPLIED),
        (Action.RESPOND, Status.RESPONDED),
        (Action.CLOSE, Status.CLOSED),
        (Action.CONTEST, Status.WITH_DEPARTMENT),
        (Action.INSTRUCT, Status.WITH_DEPARTMENT),
    ],
)
def test_each_action_leads_where_the_table_says(action, after):
    assert status_after(action) == after


def test_the_submitters_information_leads_back_to_where_the_question_was_asked():
    assert status_after(Action.SUBMITTER_INFO, before_pause=Status.RECEIVED) == Status.RECEIVED
    assert status_after(Action.SUBMITTER_INFO) == Status.WITH_DEPARTMENT


def test_a_triage_names_every_value_the_policy_does_not_know():
    with pytest.raises(ActionRefused, match="unknown department 'X'; unknown kind 'rumour'; unknown priority 'urgent'"):
        check_triage_values("X", "rumour", "urgent", ["HR"])
    check_triage_values("HR", "report", "high", ["HR"])
    check_triage_values("NEW", None, None, [])  # no directory came with the case: every department counts


def test_an_instruction_goes_to_a_known_department_or_the_cases_own():
    with pytest.raises(ActionRefused, match="unknown department 'X'"):
        check_instruction_values("X", case(Status.WITH_DEPARTMENT, level=2), ["HR"])
    with pytest.raises(ActionRefused, match="no department yet"):
        check_instruction_values(None, case(Status.RECEIVED, department=None, level=2), ["HR"])
    check_instruction_values(None, case(Status.WITH_DEPARTMENT, level=2), ["HR"])
