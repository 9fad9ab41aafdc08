"""An action goes to its case's workflow as one Update, whose id makes a retry the same Update.

An answer lost on the way (a timeout, a restart) leaves the caller not knowing whether the action
happened. The Update's id is derived from the caller, the action, its body and an `Idempotency-Key`
(the caller's, or one the API makes and returns), so that a retry with the same key is the same
Update: Temporal answers it with the first outcome instead of taking a second step.
"""

import hashlib
import uuid
from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from api import errors
from api.deps import Services
from workflows.case import CaseWorkflow, workflow_id
from workflows.messages import CaseView

# A case whose worker is down must not hold a caller forever; the update is not lost, only the wait.
UPDATE_TIMEOUT = timedelta(seconds=30)

# Answers after which the Update may or may not have reached the workflow.
_OUTCOME_UNKNOWN = {RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED, RPCStatusCode.UNAVAILABLE,
                    RPCStatusCode.UNKNOWN, RPCStatusCode.INTERNAL, RPCStatusCode.ABORTED}


def update_id(sender: str, action: str, body: BaseModel, idempotency_key: str) -> str:
    """One id per (sender, action, body, key): the same key with another body is another action."""
    digest = hashlib.sha256(f"{sender}\n{idempotency_key}\n{body.model_dump_json()}".encode()).hexdigest()[:32]
    return f"{action}-{digest}"


async def send_update(services: Services, reference: str, update, request, *, body: BaseModel,
                      idempotency_key: str | None) -> CaseView:
    """Send an action to the case's workflow and wait for its answer; refusals become 409, silence 503."""
    key = idempotency_key or uuid.uuid4().hex
    handle = services.temporal.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
    try:
        return await handle.execute_update(update, request,
                                           id=update_id(request.actor.label, update.__name__, body, key),
                                           rpc_timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as failure:
        raise errors.from_update_failure(failure) from None
    except RPCTimeoutOrCancelledError:
        raise outcome_unknown(key) from None
    except RPCError as failure:
        if failure.status in _OUTCOME_UNKNOWN:
            raise outcome_unknown(key) from None
        raise errors.from_rpc_error(failure, reference, case_finished=await _has_finished(handle, failure)) from None


async def _has_finished(handle: WorkflowHandle, failure: RPCError) -> bool:
    """True when the case's workflow exists and is no longer running (the answer to a NOT_FOUND)."""
    if failure.status != RPCStatusCode.NOT_FOUND:
        return False
    try:
        description = await handle.describe(rpc_timeout=UPDATE_TIMEOUT)
    except RPCError:
        return False  # never was, or gone past the namespace's retention: nothing to act on either way
    return description.status != WorkflowExecutionStatus.RUNNING


def outcome_unknown(key: str) -> errors.ApiError:
    return errors.ApiError(
        503, "outcome_unknown",
        "the case engine did not answer in time; the action may have been applied. Send the same request "
        f"again with the header Idempotency-Key: {key} to get its outcome (it is never applied twice)",
        headers={"Idempotency-Key": key, "Retry-After": str(errors.RETRY_AFTER_SECONDS)},
    )


async def query_view(services: Services, reference: str) -> CaseView | None:
    """The running case's live state from its workflow; None when the workflow does not answer (the row is
    the best there is then)."""
    handle = services.temporal.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
    try:
        return await handle.query(CaseWorkflow.view)
    except RPCError:
        return None
