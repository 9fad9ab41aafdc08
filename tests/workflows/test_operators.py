"""What operators see and do in Temporal: signals recorded as theirs, the list view's attributes, readable details."""

import argparse

from temporalio.client import WorkflowHandle

from core.operator_signal import send_signal, signal_request
from tests.conftest import DEPARTMENT
from tests.helpers import eventually
from tests.workflows.test_lifecycle import act, new_case, outbox, timeline_actions, wait_for_status
from workflows.case import CaseWorkflow, workflow_id
from workflows.case_attributes import QUEUES
from workflows.messages import Actor, RejectRequest


def handle_of(temporal_client, reference: str) -> WorkflowHandle:
    return temporal_client.get_workflow_handle(workflow_id(reference))


def cli_args(reference: str, action: str, **options) -> argparse.Namespace:
    defaults = {"on_behalf_of": None, "department": None, "kind": None, "priority": None, "text": None}
    return argparse.Namespace(reference=reference, action=action, **{**defaults, **options})


async def test_a_signalled_reply_is_the_operators_step_for_the_department_unverified(api, keys, database,
                                                                                    temporal_client):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    request = signal_request(cli_args(reference, "reply", on_behalf_of=f"department/{DEPARTMENT}",
                                      text="Sent by the department by letter."))
    recorded = await send_signal(temporal_client, reference, "reply", request)
    assert [key.split("-", 1)[1] for key in recorded] == ["reply"]

    case = await wait_for_status(api, keys, reference, "replied")
    reply = case["timeline"][-1]
    assert reply["actor"] == f"operator for department/{DEPARTMENT} (unverified)"


async def test_a_signal_may_not_decide_what_only_the_api_decides(api, keys, database, temporal_client):
    reference = await new_case(api, keys)
    await handle_of(temporal_client, reference).signal(
        CaseWorkflow.reject_signal, RejectRequest(Actor("cs_agent", None, "ops"), "typed into the UI"))

    async def refused():
        case = await api.get(f"/v1/cases/{reference}", headers={"Authorization": f"Bearer {keys.auditor}"})
        entries = [entry for entry in case.json()["timeline"] if entry["action"] == "refused"]
        return entries or None

    entries = await eventually(refused)
    assert entries[0]["detail"]["action"] == "reject"
    assert "a signal may only reply, submitter_info, triage" in entries[0]["detail"]["reason"]
    assert entries[0]["actor"] == "operator for cs_agent#ops (unverified)"
    assert "reject" not in await timeline_actions(database, reference)


def test_the_command_says_what_a_signal_needs():
    for args, missing in ((cli_args("C-1", "triage"), "--department"), (cli_args("C-1", "reply", text="x"), "--for"),
                          (cli_args("C-1", "submitter_info"), "--text")):
        try:
            signal_request(args)
        except ValueError as problem:
            assert missing in str(problem)
        else:
            raise AssertionError(f"{args.action} without {missing} was accepted")


async def test_the_list_view_has_department_due_and_priority_and_each_queue_query_runs(api, keys, temporal_client):
    reference = await new_case(api, keys, kind="report", priority="critical")
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})

    async def listed():
        query = (f'WorkflowId = "{workflow_id(reference)}" AND CasePriority = "critical" '
                 'AND DepartmentDue > "2000-01-01T00:00:00Z"')
        return [execution async for execution in temporal_client.list_workflows(query)] or None

    await eventually(listed)
    for name, query in QUEUES.items():
        # The server accepts every documented queue query (a typo in one is an error here, not a blank UI).
        assert (await temporal_client.count_workflows(query)).count >= 0, name
    assert (await temporal_client.count_workflows(
        QUEUES["critical reports"] + f' AND WorkflowId = "{workflow_id(reference)}"')).count == 1


async def test_current_details_read_in_muscat_time_to_the_minute(api, keys, temporal_client):
    reference = await new_case(api, keys)
    metadata = await handle_of(temporal_client, reference).query("__temporal_workflow_metadata")
    details = metadata.current_details
    assert "Muscat" in details and "+00:00" not in details
    due_line = next(line for line in details.splitlines() if line.startswith("- answer due: "))
    assert len(due_line.removeprefix("- answer due: ").removesuffix(" Muscat")) == len("2026-12-01 14:30")


async def test_a_triage_that_keeps_the_routed_department_sends_no_second_new_case_message(api, keys, database):
    reference = await new_case(api, keys, subject="Passport renewal delayed")
    await eventually(lambda: _has(database, reference, "routed"))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await wait_for_status(api, keys, reference, "with_department")

    assert await timeline_actions(database, reference) == ["received", "routed", "route_confirmed"]
    assert (await outbox(database, reference))[(f"department:{DEPARTMENT}", "case_assigned")] == 1
    # The channel reads the case as its submitter does: referred once.
    tracking = await api.get(f"/v1/cases/{reference}", headers={"Authorization": f"Bearer {keys.channel}"})
    assert [step["step"] for step in tracking.json()["steps"]].count("referred") == 1


async def _has(database, reference: str, action: str) -> bool:
    return action in await timeline_actions(database, reference)
