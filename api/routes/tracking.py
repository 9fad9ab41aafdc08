"""The submitter's own view of their case: reference + tracking code (`X-Tracking-Code`), no API key.

What the submitter sees is written for them, in Arabic and English: where the case stands, the steps
so far, when the answer is due, the question when one is asked, and the answer once sent. Never staff
identities (actor labels), the department's internal reply, reminders or refused signals, nor any
personal data: the code may have been shared or overheard, so the view holds nothing a stranger
should not read.

A wrong code and an unknown reference get the very same 404, and both count against the case and,
apart, against the caller's address in `api.ratelimit` (429 with `Retry-After` once over a limit: a
case being guessed is locked for everyone, an address that guessed too much may follow only cases
nobody was guessing). Every request, right or wrong, also counts against the address's share of
`api.public_limit` (429 `too_many_requests`). The submitter's actions go to the workflow as Updates
with `Actor(role="submitter")`, refused there like any staff action.
"""

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select
from temporalio.service import RPCError

from api.auth import hash_secret
from api.deps import Services, ServicesDep
from api.errors import ApiError, ErrorResponse
from api.public_limit import limit_public_requests
from api.ratelimit import GuessedCase, RateLimited, TrackingAttempt, TrackingLimiter
from api.schemas import ContestBody, StrictBody, SubmitterInfoBody, free_text
from api.updates import IdempotencyKey, send_update
from domain.kinds import FINAL_STATUSES, Kind, Status
from domain.lifecycle import SUBMITTER, Action
from domain.steps import CloseReason, Detail, Step
from store.models import CaseRecord, TimelineEntry
from store.ratings import Rating
from workflows.case import CaseWorkflow, workflow_id
from workflows.messages import Actor, CaseView, ContestRequest, SubmitterInfo

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

# The same body whatever was wrong, so that it tells nothing about which references exist.
_NOT_FOUND_MESSAGE = "no case with this reference and tracking code"
# Compared against when the reference is unknown, so that both failures take the same path.
_NO_CASE_HASH = hash_secret("no case has this code")


def _not_found() -> ApiError:
    return ApiError(404, "not_found", _NOT_FOUND_MESSAGE)


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
    limiter = _limiter(request)
    address = request.client.host if request.client else "unknown"
    try:
        attempt = limiter.attempt(reference, address)
    except RateLimited as limited:
        raise _too_many_attempts(limited) from None
    async with services.database.session() as session:
        record = await session.get(CaseRecord, reference)
    expected = record.tracking_code_hash if record is not None else _NO_CASE_HASH
    matches = hmac.compare_digest(hash_secret(tracking_code or ""), expected)
    if record is None or not matches:
        raise _wrong_code(attempt)
    limiter.succeeded(attempt)
    return record


def _wrong_code(attempt: TrackingAttempt) -> ApiError:
    # From an address over its limit a wrong code is refused, not answered: it may not go on guessing.
    if attempt.address_over_limit is not None:
        return _too_many_attempts(RateLimited(attempt.address_over_limit))
    return _not_found()


def _too_many_attempts(limited: RateLimited) -> ApiError:
    whose = "for this case" if isinstance(limited, GuessedCase) else "from this address"
    return ApiError(429, "too_many_attempts", f"too many wrong tracking codes {whose}; try again later",
                    headers={"Retry-After": str(limited.retry_after)})


TrackedCase = Annotated[CaseRecord, Depends(tracked_case)]


# ---------------------------------------------------------------- what the submitter reads


class Words(BaseModel):
    ar: str
    en: str


class TrackingStep(BaseModel):
    """One step of the case, in plain words."""

    at: datetime
    step: str = Field(description="A stable code for the step, e.g. `referred` or `answered`.")
    text: Words
    note: str | None = Field(
        default=None, description="What the ministry wrote to the submitter: a question, an answer, a reason."
    )


class TrackingView(BaseModel):
    """The case as its submitter follows it."""

    reference: str
    kind: Kind
    status: Status
    status_text: Words
    received_at: datetime
    answer_due: datetime | None = Field(description="When the answer is due; none once answered or finished.")
    question: str | None = Field(description="The question to answer, while the case waits for the submitter.")
    info_due: datetime | None = Field(description="Answer the question by then, or the case is closed.")
    answer: str | None = Field(description="The ministry's answer, once sent.")
    contest_due: datetime | None = Field(description="The answer may be contested until then.")
    rejection_reason: str | None
    closed_at: datetime | None
    can_answer: bool
    can_contest: bool
    can_rate: bool
    steps: list[TrackingStep]


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


STATUS_WORDS: dict[Status, Words] = {
    Status.RECEIVED: Words(ar="تم استلام طلبكم", en="Received"),
    Status.WITH_DEPARTMENT: Words(ar="قيد الدراسة لدى الجهة المختصة", en="Being studied by the competent department"),
    Status.AWAITING_SUBMITTER: Words(
        ar="بانتظار معلومات إضافية منكم", en="Waiting for more information from you"
    ),
    Status.REPLIED: Words(ar="جارٍ إعداد الرد عليكم", en="The answer to you is being prepared"),
    Status.RESPONDED: Words(ar="تم إرسال الرد إليكم", en="Answered"),
    Status.CLOSED: Words(ar="مغلق", en="Closed"),
    Status.REJECTED: Words(ar="لم يُقبل الطلب", en="Not accepted"),
}

# Timeline action -> (step code, words). Actions missing here are internal and never shown:
# reminders to the department or the Director General, refused signals, and anything added later
# until someone decides the submitter should see it.
_REFERRED = ("referred", Words(
    ar="تمت إحالة طلبكم إلى الجهة المختصة لدراسته.",
    en="Your case was referred to the competent department for study.",
))
STEP_WORDS: dict[Action | Step, tuple[str, Words]] = {
    Step.RECEIVED: ("received", Words(
        ar="تم استلام طلبكم وتسجيله برقم المرجع.",
        en="Your submission was received and recorded under this reference.",
    )),
    Step.ROUTED: _REFERRED,
    Action.TRIAGE: _REFERRED,
    Action.REQUEST_INFO: ("information_requested", Words(
        ar="طُلبت منكم معلومات إضافية لمتابعة طلبكم، وتتوقف المدد حتى وصولها.",
        en="More information was requested from you; the deadlines are paused until it arrives.",
    )),
    Action.SUBMITTER_INFO: ("information_received", Words(
        ar="تم استلام المعلومات الإضافية منكم، واستُؤنفت دراسة طلبكم.",
        en="Your additional information was received and the study of your case resumed.",
    )),
    # The department's reply itself is internal: only the fact that it came is the submitter's business.
    Action.REPLY: ("answer_in_preparation", Words(
        ar="أنهت الجهة المختصة دراسة طلبكم، ويجري إعداد الرد عليكم.",
        en="The competent department finished studying your case; the answer to you is being prepared.",
    )),
    Step.ESCALATED: ("escalated", Words(
        ar="رُفع طلبكم إلى المدير العام لمتابعته.",
        en="Your case was raised to the Director General for follow-up.",
    )),
    Step.BREACHED: ("late", Words(
        ar="تأخر الرد عن الموعد المحدد، ويتابع المدير العام طلبكم.",
        en="The answer is later than the policy allows; the Director General is following up your case.",
    )),
    Action.RESPOND: ("answered", Words(
        ar="أُرسل إليكم الرد على طلبكم، ويمكنكم الاعتراض عليه خلال المدة المحددة.",
        en="The answer to your case was sent to you; you may contest it within the set period.",
    )),
    Action.CONTEST: ("reopened", Words(
        ar="اعترضتم على الرد، فأُعيد فتح طلبكم ورُفع إلى المدير العام.",
        en="You contested the answer; your case was reopened and raised to the Director General.",
    )),
    Action.REJECT: ("rejected", Words(
        ar="تعذّر قبول طلبكم للسبب المبيّن.",
        en="Your submission could not be accepted, for the reason given.",
    )),
}

CLOSED_WORDS: dict[CloseReason, Words] = {
    CloseReason.ACCEPTED: Words(
        ar="أُغلق طلبكم بعد قبولكم الرد.", en="Your case was closed after you accepted the answer."
    ),
    CloseReason.ARCHIVED: Words(
        ar="أُغلق طلبكم وحُفظ بعد انتهاء مدة الاعتراض على الرد.",
        en="Your case was closed and archived after the period to contest the answer ended.",
    ),
    CloseReason.NO_RESPONSE: Words(
        ar="أُغلق طلبكم لعدم وصول المعلومات المطلوبة في المدة المحددة.",
        en="Your case was closed because the requested information did not arrive in time.",
    ),
}
CLOSED_OTHERWISE = Words(ar="أُغلق طلبكم.", en="Your case was closed.")

# The words the ministry addressed to the submitter, by action: shown with the step.
NOTE_FIELDS = {Action.REQUEST_INFO: Detail.QUESTION, Action.RESPOND: Detail.MESSAGE, Action.REJECT: Detail.REASON}

# While the case has not been answered, the answer's due date matters to the submitter.
_AWAITING_ANSWER = frozenset({Status.RECEIVED, Status.WITH_DEPARTMENT, Status.AWAITING_SUBMITTER, Status.REPLIED})


def _step(entry: TimelineEntry) -> TrackingStep | None:
    detail = entry.detail or {}
    if entry.action == Step.CLOSED:
        words = CLOSED_WORDS.get(detail.get(Detail.REASON), CLOSED_OTHERWISE)
        return TrackingStep(at=entry.at, step="closed", text=words)
    if entry.action not in STEP_WORDS:
        return None
    code, words = STEP_WORDS[entry.action]
    note_field = NOTE_FIELDS.get(entry.action)
    return TrackingStep(at=entry.at, step=code, text=words, note=detail.get(note_field) if note_field else None)


def _tracking_view(record: CaseRecord, view: CaseView | None, timeline: list[TimelineEntry],
                   rated: bool) -> TrackingView:
    current = Status(view.status if view else record.status)
    # The words the submitter was last written, as the case keeps them: its workflow while it runs, its row after.
    question, answer = (view.question, view.answer) if view else (record.question, record.answer)
    steps = [step for step in map(_step, timeline) if step is not None]
    return TrackingView(
        reference=record.reference,
        kind=Kind(view.kind if view else record.kind),
        status=current,
        status_text=STATUS_WORDS[current],
        received_at=record.received_at,
        answer_due=(view.answer_due if view else record.answer_due) if current in _AWAITING_ANSWER else None,
        question=question if current == Status.AWAITING_SUBMITTER else None,
        info_due=view.info_due if view and current == Status.AWAITING_SUBMITTER else None,
        answer=answer if current in {Status.RESPONDED, Status.CLOSED} else None,
        contest_due=view.contest_due if view and current == Status.RESPONDED else None,
        rejection_reason=record.rejection_reason if current == Status.REJECTED else None,
        closed_at=record.closed_at if current in FINAL_STATUSES else None,
        can_answer=current == Status.AWAITING_SUBMITTER,
        can_contest=current == Status.RESPONDED,
        can_rate=current == Status.CLOSED and not rated,
        steps=steps,
    )


async def tracking_view_of(services: Services, reference: str, view: CaseView | None = None) -> TrackingView:
    """The submitter's view of a case, from its row and timeline with the workflow's live state while it runs.

    Also what a channel key reads of the cases it submitted (`GET /v1/cases/{reference}`).
    """
    async with services.database.snapshot() as session:
        record = await session.get(CaseRecord, reference)
        timeline = list(
            (
                await session.exec(
                    select(TimelineEntry).where(TimelineEntry.reference == reference).order_by(TimelineEntry.id)
                )
            ).all()
        )
        rated = await session.get(Rating, reference) is not None
    if view is None and record.status not in FINAL_STATUSES:
        handle = services.temporal.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
        try:
            view = await handle.query(CaseWorkflow.view)
        except RPCError:
            view = None  # the row is the best we have
    return _tracking_view(record, view, timeline, rated)


def _submitter() -> Actor:
    return Actor(role=SUBMITTER)


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
    return await tracking_view_of(services, case.reference)


@router.post("/{reference}/info", response_model=TrackingView, responses=ACTION_ERRORS)
async def answer_question(
    reference: str, body: SubmitterInfoBody, case: TrackedCase, services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> TrackingView:
    """Answer the ministry's request for information; the case's clocks resume."""
    view = await send_update(services, case.reference, CaseWorkflow.submitter_info,
                             SubmitterInfo(_submitter(), body.answer),
                             body=body, idempotency_key=idempotency_key)
    return await tracking_view_of(services, case.reference, view)


@router.post("/{reference}/contest", response_model=TrackingView, responses=ACTION_ERRORS)
async def contest_answer(reference: str, body: ContestBody, case: TrackedCase, services: ServicesDep,
                         idempotency_key: IdempotencyKey = None) -> TrackingView:
    """Contest the answer within the contest window; the case reopens with the Director General."""
    view = await send_update(services, case.reference, CaseWorkflow.contest, ContestRequest(_submitter(), body.reason),
                             body=body, idempotency_key=idempotency_key)
    return await tracking_view_of(services, case.reference, view)


@router.post("/{reference}/rating", status_code=status.HTTP_201_CREATED, response_model=RatingPublic, responses=ERRORS)
async def rate(reference: str, body: RatingBody, case: TrackedCase, services: ServicesDep) -> RatingPublic:
    """Rate how a closed case was handled, once."""
    if case.status != Status.CLOSED:
        raise ApiError(409, "action_refused", f"only a closed case can be rated; this one is {case.status}")
    created_at = datetime.now(UTC)
    async with services.database.transaction() as session:
        inserted = await session.exec(
            insert(Rating)
            .values(reference=case.reference, score=body.score, comment=body.comment, created_at=created_at)
            .on_conflict_do_nothing(index_elements=["reference"])
            .returning(Rating.reference)
        )
        if inserted.first() is None:
            raise ApiError(409, "already_rated", "this case has already been rated")
    return RatingPublic(reference=case.reference, score=body.score, comment=body.comment, created_at=created_at)
