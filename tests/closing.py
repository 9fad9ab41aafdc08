"""Stop the workflows of cases a test is done with, so that their timers stop firing.

A breached case reminds the Director General every working day (every 2 s here), each reminder a
step and an email; left running, a module's cases would load the worker for the rest of the session.
Terminating costs one call to Temporal and no work on the worker, unlike taking each case to its end.
"""

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from core.temporal import RUNNING_CASES
from workflows.case import workflow_id

REASON = "test over"


async def stop_cases(client: Client, references: list[str]) -> None:
    for reference in references:
        await _terminate(client, workflow_id(reference))
    references.clear()


async def stop_every_running_case(client: Client) -> None:
    """Every case still running, including those a fuzzer made without telling anyone."""
    running = client.list_workflows(RUNNING_CASES)
    async for execution in running:
        if execution.status == WorkflowExecutionStatus.RUNNING:
            await _terminate(client, execution.id)


async def _terminate(client: Client, workflow: str) -> None:
    try:
        await client.get_workflow_handle(workflow).terminate(reason=REASON)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it already finished on its own
            raise
