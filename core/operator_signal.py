"""`complaints signal`: an operator's repair of a case, sent through the project's data converter.

A signal typed into the Temporal UI or `temporal workflow signal --input` reaches Temporal's storage
in clear text unless the CLI is given the codec (README, "Operators"); this command seals it like
every other payload. The workflow records the step as the operator's, and keeps the actor given
here as the one the operator acts for, unverified (workflows/case.py, _act_on_signal).
"""

import argparse
import asyncio

from temporalio.client import Client

from domain.kinds import Role
from domain.lifecycle import SUBMITTER, Action
from workflows.case import workflow_id
from workflows.case_attributes import SIGNAL_NAMES
from workflows.messages import Actor, DepartmentReply, SubmitterInfo, TriageRequest

# How long to wait for the case to record the step before saying it has not yet.
RECORDED_WITHIN_SECONDS = 15


def add_signal_command(commands) -> None:
    command = commands.add_parser(
        "signal", help="repair a case as an operator: route it, or record a reply or an answer given elsewhere",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("reference", metavar="REFERENCE")
    command.add_argument("action", choices=sorted(SIGNAL_NAMES))
    command.add_argument("--for", dest="on_behalf_of", metavar="ROLE[/DEPARTMENT]",
                         help="whom you act for: cs_agent (default for triage), department/CODE, director_general, "
                              "submitter (default for submitter_info); checked as that role would be")
    command.add_argument("--department", help="triage: the department to route the case to")
    command.add_argument("--kind", help="triage: a new kind")
    command.add_argument("--priority", help="triage: a new priority")
    command.add_argument("--text", help="reply: the department's summary; submitter_info: the submitter's answer")
    command.set_defaults(run=run_signal_command)


def run_signal_command(args: argparse.Namespace) -> None:
    from core.cli import _exit_without_client_teardown
    from core.settings import get_settings
    from core.temporal import connect_when_ready

    try:
        request = signal_request(args)
    except ValueError as problem:
        raise SystemExit(f"error: {problem}") from None

    async def send() -> list[str]:
        return await send_signal(await connect_when_ready(get_settings()), args.reference, args.action, request)

    new_steps = asyncio.run(send())
    if new_steps:
        print(f"{args.reference}: recorded " + ", ".join(new_steps))
    else:
        print(f"{args.reference}: signal sent; no step recorded within {RECORDED_WITHIN_SECONDS} s "
              "(is a worker running?)")
    _exit_without_client_teardown()


def signal_request(args: argparse.Namespace) -> TriageRequest | DepartmentReply | SubmitterInfo:
    """The request the workflow takes for this action, from the command's options; ValueError names what is missing."""
    default_actor = {Action.TRIAGE: Role.CS_AGENT, Action.SUBMITTER_INFO: SUBMITTER}.get(args.action)
    claimed = args.on_behalf_of or default_actor
    if claimed is None:
        raise ValueError(f"{args.action} needs --for: whom you record it for "
                         "(department/CODE, director_general, cs_agent)")
    role, _, department = claimed.partition("/")
    actor = Actor(role=role, department=department or None)
    if args.action == Action.TRIAGE:
        if not args.department:
            raise ValueError("triage needs --department CODE")
        return TriageRequest(actor=actor, department=args.department, kind=args.kind, priority=args.priority)
    if not args.text:
        raise ValueError(f"{args.action} needs --text")
    if args.action == Action.REPLY:
        return DepartmentReply(actor=actor, summary=args.text)
    return SubmitterInfo(actor=actor, answer=args.text)


async def send_signal(client: Client, reference: str, action: str, request) -> list[str]:
    """Send the signal sealed by the client's codec; the steps the case recorded after it (waits a little)."""
    handle = client.get_workflow_handle(workflow_id(reference))
    before = await handle.query("recorded_steps")
    await handle.signal(SIGNAL_NAMES[action], request)
    for _ in range(RECORDED_WITHIN_SECONDS * 4):
        steps = await handle.query("recorded_steps")
        if len(steps) > len(before):
            return steps[len(before):]
        await asyncio.sleep(0.25)
    return []
