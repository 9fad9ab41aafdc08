"""Keeps the one DirectorGeneralDigestWorkflow of the ministry running; the worker calls this at startup."""

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from core.settings import Settings
from workflows.digest import DIGEST_WORKFLOW_ID, DirectorGeneralDigestWorkflow
from workflows.digest_messages import DigestRun


async def ensure_director_general_digest(client: Client, settings: Settings, *,
                                         workflow_id: str = DIGEST_WORKFLOW_ID) -> None:
    """Start the digest loop unless it runs already; a second worker, or a restart, joins the running one."""
    await client.start_workflow(
        DirectorGeneralDigestWorkflow.run,
        DigestRun(),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A loop that was terminated (by an operator) may be started again by the next worker.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary="Once a working day: the list of breached cases to the Director General",
    )
