"""Intake: channels and the customer-service team submit cases."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, status
from temporalio.service import RPCError

from api import errors
from api.deps import CallerDep, ServicesDep
from api.intake import accept_submission
from api.ratelimit import RateLimited
from api.routes.cases import ERRORS
from api.schemas import CaseCreate, CaseCreated
from domain.kinds import Role, Status

router = APIRouter(prefix="/v1/cases", tags=["intake"])

INTAKE_ROLES = {Role.CHANNEL, Role.CS_AGENT}


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CaseCreated, "description": "A retry: the case this submission already made."},
    401: ERRORS[401],
    403: ERRORS[403],
    409: {"model": errors.ErrorResponse,
          "description": "A retry of a submission whose tracking code can no longer be opened (the server's "
                         "secret changed): the message names the case it made; no second case is made."},
    413: {"model": errors.ErrorResponse, "description": "The request body is too large."},
    422: {"model": errors.ErrorResponse,
          "description": "Invalid body (`fields` names each bad field), a complaint without a civil ID, or a "
                         "`channel_ref` / `Idempotency-Key` already used for a different submission."},
    429: {"model": errors.ErrorResponse, "description": "Too many submissions from this key; see `Retry-After`."},
    503: {"model": errors.ErrorResponse,
          "description": "The case engine did not answer; retry. With the same `channel_ref` or "
                         "`Idempotency-Key`, the retry gets the case this attempt began."},
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
    if caller.role not in INTAKE_ROLES:
        raise errors.forbidden("only channel and customer-service keys submit cases")
    if idempotency_key is not None and "\x00" in idempotency_key:
        reason = "contains a NUL character, which is not allowed"
        raise errors.ApiError(422, "validation_error", f"invalid request: Idempotency-Key: {reason}",
                              [errors.FieldProblem(field="Idempotency-Key", reason=reason)])
    _keep_pace(request, caller.key_id)
    try:
        accepted = await accept_submission(services, submission, caller, idempotency_key)
    except RPCError:
        raise errors.ApiError(503, "temporal_unavailable", "the case engine did not answer; try again") from None
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return CaseCreated(
        reference=accepted.intake.reference,
        tracking_code=accepted.tracking_code,
        status=Status.RECEIVED,
        answer_due=accepted.intake.answer_due,
        department_due=accepted.intake.department_due,
    )


def _keep_pace(request: Request, key_id: int) -> None:
    """A channel integration gone wrong must not flood the case engine: so many submissions a minute per key."""
    try:
        request.app.state.intake_limiter.attempt(f"key:{key_id}")
    except RateLimited as limited:
        raise errors.ApiError(
            429, "too_many_submissions", f"this key submitted too many cases; retry in {limited.retry_after} s",
            headers={"Retry-After": str(limited.retry_after)},
        ) from None
