"""The submitter's own view of their case: reference + tracking code (`X-Tracking-Code`), no API key.

What the view holds and who may act is `api.service.tracking`'s. A wrong code and an unknown reference
get the very same 404, and both count against the case and, apart, against the caller's address in
`api.ratelimit` (429 with `Retry-After` once over a limit: a case being guessed is locked for everyone,
an address that guessed too much may follow only cases nobody was guessing). Every request, right or
wrong, also counts against the address's share of `api.public_limit` (429 `too_many_requests`).
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ServicesDep
from api.errors import ErrorResponse
from api.idempotency import IdempotencyKey
from api.public_limit import limit_public_requests
from api.ratelimit import TrackingLimiter
from api.schemas import ContestBody, StrictBody, SubmitterInfoBody, free_text
from api.service import tracking
from api.service.tracking import STATUS_WORDS, STEP_WORDS, TrackingView
from domain.kinds import Status
from domain.lifecycle import Action
from domain.steps import Step
from store.models import CaseRecord

# No key on these routes: every request counts against its address before anything else is looked at.
router = APIRouter(prefix="/v1/track", tags=["tracking"], dependencies=[Depends(limit_public_requests)])

TRACKING_CODE_HEADER = "X-Tracking-Code"

# The one limiter of this process, unless the app sets `app.state.tracking_limiter` (tests do).
default_limiter = TrackingLimiter()

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such case, or a wrong tracking code: the same answer."},
    409: {"model": ErrorResponse, "description": "The case's state does not allow the action."},
    422: {"model": ErrorResponse, "description": "Invalid body; `fields` names each bad field."},
    429: {
        "model": ErrorResponse,
        "description": "Too many wrong codes for this case or from this address (`too_many_attempts`), or too "
                       "many requests from this address (`too_many_requests`); see `Retry-After`.",
        "content": {"application/json": {"examples": {
            "too_many_attempts": {"summary": "Wrong tracking codes from this address", "value": {"error": {
                "code": "too_many_attempts",
                "message": "too many wrong tracking codes from this address; try again later", "fields": []}}},
            "case_being_guessed": {"summary": "Wrong tracking codes for this case", "value": {"error": {
                "code": "too_many_attempts",
                "message": "too many wrong tracking codes for this case; try again later", "fields": []}}},
            "too_many_requests": {"summary": "Requests from one address", "value": {"error": {
                "code": "too_many_requests", "message": "too many requests from this address; retry in 42 s",
                "fields": []}}},
        }}},
    },
}
# The actions go to the case's workflow, which may not answer in time.
ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    503: {"model": ErrorResponse, "description": "The case engine did not answer; nothing was recorded, try again."},
}


def _limiter(request: Request) -> TrackingLimiter:
    return getattr(request.app.state, "tracking_limiter", None) or default_limiter


async def tracked_case(
    reference: str,
    request: Request,
    services: ServicesDep,
    tracking_code: Annotated[
        str | None, Header(alias=TRACKING_CODE_HEADER, description="The tracking code given at submission.")
    ] = None,
) -> CaseRecord:
    """The case, if the caller holds its tracking code; every failure is the same 404 and counts against them."""
    address = request.client.host if request.client else "unknown"
    return await tracking.find_tracked_case(services, _limiter(request), reference, address, tracking_code)


TrackedCase = Annotated[CaseRecord, Depends(tracked_case)]


class RatingBody(StrictBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"score": 5, "comment": "A clear answer, and on time."}]}
    )

    score: Annotated[int, Field(strict=True, ge=1, le=5, description="1 (poor) to 5 (excellent).")]
    comment: free_text(2000) | None = None


class RatingPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reference": "C-2026-000123", "score": 5, "comment": "A clear answer, and on time.",
         "created_at": "2026-03-12T08:41:07Z"},
    ]})

    reference: str
    score: int
    comment: str | None
    created_at: datetime


# ---------------------------------------------------------------- routes


def example_view() -> dict[str, Any]:
    """For the OpenAPI document: a complaint being studied, after one question its submitter answered."""
    steps = [
        ("2026-03-01T05:12:40Z", Step.RECEIVED, None),
        ("2026-03-01T06:02:11Z", Action.TRIAGE, None),
        ("2026-03-02T04:50:00Z", Action.REQUEST_INFO, "At which office did you apply, and on what date?"),
        ("2026-03-02T09:15:31Z", Action.SUBMITTER_INFO, None),
    ]
    return {
        "reference": "C-2026-000123",
        "kind": "complaint",
        "status": "with_department",
        "status_text": STATUS_WORDS[Status.WITH_DEPARTMENT].model_dump(),
        "received_at": "2026-03-01T05:12:40Z",
        "answer_due": "2026-03-09T10:30:00Z",
        "question": None,
        "info_due": None,
        "answer": None,
        "contest_due": None,
        "rejection_reason": None,
        "closed_at": None,
        "can_answer": False,
        "can_contest": False,
        "can_rate": False,
        "steps": [
            {"at": at, "step": STEP_WORDS[action][0], "text": STEP_WORDS[action][1].model_dump(), "note": note}
            for at, action, note in steps
        ],
    }


@router.get("/{reference}", response_model=TrackingView, responses=ERRORS)
async def track(reference: str, case: TrackedCase, services: ServicesDep) -> TrackingView:
    """Where the case stands and its steps so far, in Arabic and English."""
    return await tracking.tracking_view_of(services, case.reference)


@router.post("/{reference}/info", response_model=TrackingView, responses=ACTION_ERRORS)
async def answer_question(
    reference: str, body: SubmitterInfoBody, case: TrackedCase, services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> TrackingView:
    """Answer the ministry's request for information; the case's clocks resume."""
    return await tracking.answer_question(services, case, body.answer, body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/contest", response_model=TrackingView, responses=ACTION_ERRORS)
async def contest_answer(reference: str, body: ContestBody, case: TrackedCase, services: ServicesDep,
                         idempotency_key: IdempotencyKey = None) -> TrackingView:
    """Contest the answer within the contest window; the case reopens with the Director General."""
    return await tracking.contest_answer(services, case, body.reason, body=body, idempotency_key=idempotency_key)


@router.post("/{reference}/rating", status_code=status.HTTP_201_CREATED, response_model=RatingPublic, responses=ERRORS)
async def rate(reference: str, body: RatingBody, case: TrackedCase, services: ServicesDep) -> RatingPublic:
    """Rate how a closed case was handled, once."""
    created_at = datetime.now(UTC)
    await tracking.rate(services, case, body.score, body.comment, created_at)
    return RatingPublic(reference=case.reference, score=body.score, comment=body.comment, created_at=created_at)
