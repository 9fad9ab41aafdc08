"""Intake: channels and the customer-service team submit cases."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, status

from api import errors
from api.deps import CallerDep, ServicesDep
from api.schemas import CaseCreate, CaseCreated
from api.service.intake import receive_submission
from domain.kinds import Status

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
    accepted = await receive_submission(services, request.app.state.intake_limiter, submission, caller,
                                        idempotency_key)
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return CaseCreated(
        reference=accepted.intake.reference,
        tracking_code=accepted.tracking_code,
        status=Status.RECEIVED,
        answer_due=accepted.intake.answer_due,
        department_due=accepted.intake.department_due,
    )

