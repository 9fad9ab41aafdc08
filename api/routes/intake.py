"""Intake: channels and the customer-service team submit cases."""

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from api import errors
from api.deps import CallerDep, ServicesDep
from api.intake import accept_submission
from api.ratelimit import RateLimited
from api.routes.cases import ERRORS
from api.schemas import CaseCreate, CaseCreated
from domain.kinds import Role, Status

router = APIRouter(prefix="/v1/cases", tags=["intake"])

INTAKE_ROLES = {Role.CHANNEL, Role.CS_AGENT}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseCreated,
    responses={**ERRORS, 429: {"model": errors.ErrorResponse, "description": "Too many submissions; see Retry-After."},
               413: {"model": errors.ErrorResponse, "description": "The request body is too large."}, 200: {"model": CaseCreated, "description": "A retry: the case this submission already made."}},
)
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
    _keep_pace(request, caller.key_id)
    accepted = await accept_submission(services, submission, caller, idempotency_key)
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
