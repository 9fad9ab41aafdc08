"""Intake: channels and the customer-service team submit cases."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, status
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api import errors
from api.deps import CallerDep, ServicesDep
from api.ratelimit import RateLimited
from api.schemas import CaseCreate, CaseCreated
from api.service.intake import accept_submission, check_may_submit
from domain.kinds import Role, Status

router = APIRouter(prefix="/v1/cases", tags=["intake"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CaseCreated, "description": "A retry: the case this submission already made."},
    401: errors.UNAUTHORIZED_RESPONSE,
    403: {"model": errors.ErrorResponse,
          "description": "A key that does not submit cases, or a channel key sending a `channel` it is not bound to."},
    409: {"model": errors.ErrorResponse,
          "description": "A retry of a submission whose tracking code can no longer be opened (the server's "
                         "secret changed): the message names the case it made; no second case is made."},
    413: {"model": errors.ErrorResponse, "description": "The request body is too large."},
    422: {"model": errors.ErrorResponse,
          "description": "Invalid body (`fields` names each bad field), a complaint without a civil ID, a channel "
                         "key's submission with neither `channel_ref` nor `Idempotency-Key`, or a "
                         "`channel_ref` / `Idempotency-Key` already used for a different submission."},
    429: {"model": errors.ErrorResponse, "description": "Too many submissions from this key; see `Retry-After`."},
    503: {"model": errors.ErrorResponse,
          "description": "`outcome_unknown`: the case engine did not answer in time, and the case may have been "
                         "made. Retry with the same `channel_ref`, or the `Idempotency-Key` this answer names (also "
                         "in its `Idempotency-Key` header): the retry answers with that case, never a second one."},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseCreated, responses=RESPONSES)
async def submit_case(
    submission: CaseCreate,
    caller: CallerDep,
    services: ServicesDep,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Makes retries safe: the same key returns the case already made."),
    ] = None,
) -> CaseCreated:
    """Receive a complaint, report or suggestion: it becomes a case with a reference and a running workflow.

    A retry with the same `channel` + `channel_ref`, or the same `Idempotency-Key`, answers 200 with
    the case the first attempt made; the same key with a different body is refused (422).
    """
    check_may_submit(caller, submission)
    if idempotency_key is not None and "\x00" in idempotency_key:
        reason = "contains a NUL character, which is not allowed"
        raise errors.ApiError(422, "validation_error", f"invalid request: Idempotency-Key: {reason}",
                              [errors.FieldProblem(field="Idempotency-Key", reason=reason)])
    if caller.role == Role.CHANNEL and not submission.channel_ref and idempotency_key is None:
        raise _retry_key_required()
    _keep_pace(request, caller.principal)
    # Every submission is claimed under a key before its workflow starts, so any retry finds its case.
    key = idempotency_key if idempotency_key is not None or submission.channel_ref else uuid.uuid4().hex
    try:
        accepted = await accept_submission(services, submission, caller, key)
    except (RPCError, RPCTimeoutOrCancelledError):
        raise _case_may_have_been_made(submission, key) from None
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return CaseCreated(
        reference=accepted.intake.reference,
        tracking_code=accepted.tracking_code,
        status=Status.RECEIVED,
        answer_due=accepted.intake.answer_due,
        department_due=accepted.intake.department_due,
    )


def _retry_key_required() -> errors.ApiError:
    reason = "a channel sends channel_ref or an Idempotency-Key header, so that a retry never makes a second case"
    return errors.ApiError(422, "validation_error", f"invalid request: channel_ref: {reason}", [
        errors.FieldProblem(field="channel_ref", reason=reason),
        errors.FieldProblem(field="Idempotency-Key", reason=reason),
    ])


def _case_may_have_been_made(submission: CaseCreate, key: str | None) -> errors.ApiError:
    """The workflow's start had no answer: it may have begun (and its messages gone out), so say how to learn."""
    retry_with = f"the header Idempotency-Key: {key}" if key else f"the same channel_ref ({submission.channel_ref})"
    return errors.ApiError(
        503, "outcome_unknown",
        "the case engine did not answer in time; the case may have been made. Send the same request again "
        f"with {retry_with}: the retry answers with that case and never makes a second one",
        headers={"Retry-After": str(errors.RETRY_AFTER_SECONDS), **({"Idempotency-Key": key} if key else {})},
    )


def _keep_pace(request: Request, principal: str) -> None:
    """A channel integration gone wrong must not flood the case engine: so many submissions a minute per key."""
    try:
        request.app.state.intake_limiter.attempt(f"key:{principal}")
    except RateLimited as limited:
        raise errors.ApiError(
            429, "too_many_submissions", f"this key submitted too many cases; retry in {limited.retry_after} s",
            headers={"Retry-After": str(limited.retry_after)},
        ) from None
