"""What an operator sees of a case without opening its payloads: its search attributes, and its signals' names.

A module of its own so that the CLI, the dev server's flags and `ensure_search_attributes` can name
them without importing the workflow. No personal data goes into a search attribute: they are
stored in clear in Temporal's visibility store.
"""

from temporalio.common import SearchAttributeKey

from domain.lifecycle import Action

CASE_KIND = SearchAttributeKey.for_keyword("CaseKind")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CASE_DEPARTMENT = SearchAttributeKey.for_keyword("CaseDepartment")
CASE_CHANNEL = SearchAttributeKey.for_keyword("CaseChannel")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
BREACHED = SearchAttributeKey.for_bool("Breached")
ANSWER_DUE = SearchAttributeKey.for_datetime("AnswerDue")
DEPARTMENT_DUE = SearchAttributeKey.for_datetime("DepartmentDue")
CASE_PRIORITY = SearchAttributeKey.for_keyword("CasePriority")
CASE_SEARCH_ATTRIBUTES = (
    CASE_KIND, CASE_STATUS, CASE_DEPARTMENT, CASE_CHANNEL, ESCALATION_LEVEL, BREACHED, ANSWER_DUE,
    DEPARTMENT_DUE, CASE_PRIORITY,
)

DELIVER_FROM_NOW_SIGNAL = "deliver_from_now"
# The actions an operator may take by signal, to repair a case the API cannot reach (README, "Operators").
SIGNAL_NAMES = {
    Action.TRIAGE: "triage_signal",
    Action.REPLY: "reply_signal",
    Action.SUBMITTER_INFO: "submitter_info_signal",
}

# A ready list view per queue, for the Temporal UI's search box or `temporal workflow list --query`.
QUEUES = {
    "to triage": 'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Running" AND CaseStatus = "received"',
    "with a department":
        'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Running" AND CaseStatus = "with_department"',
    "escalated to the Director General":
        'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Running" AND EscalationLevel = 2',
    "breached": 'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Running" AND Breached = true',
    "critical reports": 'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Running" AND CasePriority = "critical"',
}
