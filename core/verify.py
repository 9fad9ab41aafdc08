"""`complaints verify` and `complaints repair`: is every case's record in PostgreSQL what its workflow says?

The workflow is the truth (Temporal owns the process); the record must follow it: the case row's
status, kind, priority, department, level, breach and deadlines equal the workflow's state, and the
timeline holds exactly the steps the workflow recorded, once each, with no message of a step it
never took. A case whose workflow is mid-step may differ for a moment, so a difference is looked
at again before it is reported.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, RPCTimeoutOrCancelledError, WorkflowHistory, WorkflowQueryFailedError
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from core import tracing
from core.temporal import CASES_QUERY
from store import case_record
from store.db import Database
from workflows.case import CaseWorkflow, workflow_id

LOOKS = 3
LOOK_AGAIN_SECONDS = 1.0
CONCURRENT_CASES = 8
# A workflow whose every task fails answers no query; say so rather than wait on it.
QUERY_TIMEOUT = timedelta(seconds=10)


@dataclass
class Divergence:
    reference: str
    problems: list[str] = field(default_factory=list)
    # What the workflow says, for the repair; None when it could not be asked.
    state: dict | None = None
    step_keys: list[str] | None = None


async def find_divergences(database: Database, client: Client,
                           references: list[str] | None = None) -> tuple[int, list[Divergence]]:
    """(cases checked, the cases whose record differs from their workflow): these cases, or every case."""
    references = references or await case_references_everywhere(database, client)
    semaphore = asyncio.Semaphore(CONCURRENT_CASES)

    async def check(reference: str) -> Divergence | None:
        async with semaphore:
            for _look in range(LOOKS):
                divergence = await compare(database, client, reference)
                if not divergence.problems:
                    return None
                await asyncio.sleep(LOOK_AGAIN_SECONDS)
            return divergence

    found = await asyncio.gather(*(check(reference) for reference in references))
    return len(references), [divergence for divergence in found if divergence]


async def case_references_everywhere(database: Database, client: Client) -> list[str]:
    """Every case that has a row, a workflow, or both."""
    references = set(await case_record.case_references(database))
    async for execution in client.list_workflows(CASES_QUERY):
        references.add(execution.id.removeprefix("case-"))
    return sorted(references)


async def compare(database: Database, client: Client, reference: str) -> Divergence:
    divergence = Divergence(reference)
    record = await case_record.read_record(database, reference)
    handle = client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
    try:
        view = await handle.query(CaseWorkflow.view, rpc_timeout=QUERY_TIMEOUT)
        step_keys = await handle.query(CaseWorkflow.recorded_steps, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        divergence.problems.append("no workflow" if error.status == RPCStatusCode.NOT_FOUND
                                   else f"the workflow answers no query ({error.status.name})")
        return divergence
    except WorkflowQueryFailedError as error:
        divergence.problems.append(f"the workflow answers no query (its worker says: {error.message}; "
                                   f"{await _replays_here(handle, client)})")
        return divergence
    except RPCTimeoutOrCancelledError as error:
        divergence.problems.append(f"the workflow answers no query ({type(error).__name__})")
        return divergence
    divergence.state = {name: getattr(view, name) for name in case_record.FOLLOWED_FIELDS}
    divergence.step_keys = step_keys
    if record is None:
        divergence.problems.append("no case row")
        return divergence
    divergence.problems.extend(
        f"{name}: record says {record.row[name]!r}, workflow {divergence.state[name]!r}"
        for name in case_record.FOLLOWED_FIELDS if record.row[name] != divergence.state[name]
    )
    divergence.problems.extend(step_problems(record, step_keys))
    return divergence


async def replay_failure(history: WorkflowHistory, converter: DataConverter) -> Exception | None:
    """What a worker of this release meets replaying the history (None: it replays), with the case worker's
    sandbox: a workflow whose history no longer replays answers no query and stops on its next task."""
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=converter, workflow_runner=tracing.workflow_runner())
    return (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure


async def _replays_here(handle, client: Client) -> str:
    try:
        failure = await replay_failure(await handle.fetch_history(), client.data_converter)
    except RPCError as error:
        return f"its history could not be read: {error.status.name if error.status else error}"
    return f"its history does not replay on this release: {failure}" if failure else "its history replays here"


def step_problems(record: case_record.Record, step_keys: list[str]) -> list[str]:
    recorded = set(step_keys)
    problems = [f"step {key} is not in the workflow's history" for key in record.step_keys if key not in recorded]
    problems += [f"step {key} of the history is missing" for key in step_keys if key not in record.step_keys]
    problems += [f"step {key} is recorded {record.step_keys.count(key)} times"
                 for key in sorted(set(record.step_keys)) if record.step_keys.count(key) > 1]
    lost = sorted({case_record.message_step_key(key) for key in record.message_keys} - recorded)
    problems += [f"messages of step {key}, which the workflow never took" for key in lost]
    return problems


async def repair(database: Database, divergences: list[Divergence]) -> list[str]:
    """Bring each divergent record to its workflow; one line per case of what changed or why it could not."""
    lines = []
    for divergence in divergences:
        if divergence.state is None or divergence.step_keys is None:
            lines.append(f"{divergence.reference}: not repaired ({'; '.join(divergence.problems)})")
            continue
        if "no case row" in divergence.problems:
            lines.append(f"{divergence.reference}: not repaired (no case row; its workflow still writes it)")
            continue
        steps, messages = await case_record.bring_to_workflow(
            database, divergence.reference, divergence.state, divergence.step_keys)
        missing = [problem for problem in divergence.problems if problem.endswith("is missing")]
        lines.append(f"{divergence.reference}: row set to the workflow's state; {steps} lost steps and "
                     f"{messages} unsent messages removed"
                     + (f"; cannot restore: {'; '.join(missing)}" if missing else ""))
    return lines
