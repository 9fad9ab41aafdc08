"""Tracking: a submitter follows their case with its reference and tracking code, and acts on it.

What the submitter sees is written for them, in Arabic and English: where the case stands, the steps
so far, when the answer is due, the question when one is asked, and the answer once sent. Never staff
identities (actor labels), the department's internal reply, reminders or refused signals, nor any
personal data: the code may have been shared or overheard, so the view holds nothing a stranger
should not read. A wrong code and an unknown reference are the very same 404, and both count
against the case and, apart, against the caller's address (`api.ratelimit`).

The submitter's actions go to the workflow as Updates with `Actor(role="submitter")`, refused there
like any staff action. The JSON routes (api/routes/tracking.py) and the public pages call these.
"""

import hmac
from datetime import datetime

from pydantic import BaseModel, Field

from api.auth import hash_secret
from api.deps import Services
from api.errors import ApiError
from api.ratelimit import GuessedCase, RateLimited, TrackingAttempt, TrackingLimiter
from api.service.updates import query_view, send_update
from domain.kinds import FINAL_STATUSES, Kind, Status
from domain.lifecycle import SUBMITTER, Action
from domain.steps import CloseReason, Detail, Step
from store.cases import find_case, read_case_file
from store.models import CaseRecord, TimelineEntry
from store.ratings import add_rating
from workflows.case import CaseWorkflow
from workflows.messages import Actor, CaseView, ContestRequest, EvidenceRef, SubmitterInfo

# The same body whatever was wrong, so that it tells nothing about which references exist.
_NOT_FOUND_MESSAGE = "no case with this reference and tracking code"
# Compared against when the reference is unknown, so that both failures take the same path.
_NO_CASE_HASH = hash_secret("no case has this code")


def _not_found() -> ApiError:
    return ApiError(404, "not_found", _NOT_FOUND_MESSAGE)


async def find_tracked_case(services: Services, limiter: TrackingLimiter, reference: str, address: str,
                            tracking_code: str | None) -> CaseRecord:
    """The case, if the caller holds its tracking code; every failure is the same 404 and counts against them."""
    try:
        attempt = limiter.attempt(reference, address)
    except RateLimited as limited:
        raise _too_many_attempts(limited) from None
    record = await find_case(services.database, reference)
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
    case_file = await read_case_file(services.database, reference)
    if view is None and case_file.record.status not in FINAL_STATUSES:
        view = await query_view(services, reference)
    return _tracking_view(case_file.record, view, case_file.timeline, case_file.rated)


def _submitter() -> Actor:
    return Actor(role=SUBMITTER)


# ---------------------------------------------------------------- what the submitter does


async def answer_question(services: Services, case: CaseRecord, answer: str, *, body: BaseModel,
                          idempotency_key: str | None, evidence: list[EvidenceRef] | None = None) -> TrackingView:
    """Answer the ministry's request for information (with files kept by api.service.evidence.keep_files);
    the case's clocks resume."""
    view = await send_update(services, case.reference, CaseWorkflow.submitter_info,
                             SubmitterInfo(_submitter(), answer, evidence=evidence or []),
                             body=body, idempotency_key=idempotency_key)
    return await tracking_view_of(services, case.reference, view)


async def contest_answer(services: Services, case: CaseRecord, reason: str, *, body: BaseModel,
                         idempotency_key: str | None) -> TrackingView:
    """Contest the answer within the contest window; the case reopens with the Director General."""
    view = await send_update(services, case.reference, CaseWorkflow.contest, ContestRequest(_submitter(), reason),
                             body=body, idempotency_key=idempotency_key)
    return await tracking_view_of(services, case.reference, view)


async def rate(services: Services, case: CaseRecord, score: int, comment: str | None, at: datetime) -> None:
    """Rate how a closed case was handled, once."""
    if case.status != Status.CLOSED:
        raise ApiError(409, "action_refused", f"only a closed case can be rated; this one is {case.status}")
    if not await add_rating(services.database, case.reference, score, comment, at):
        raise ApiError(409, "already_rated", "this case has already been rated")
