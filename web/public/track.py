"""Following a case (`/track`): the reference and the tracking code in a form (POST: the code never travels in a
URL), then a short session for that one case behind the public pages' own cookie.

What the page shows and what the submitter may do are `api.service.tracking`'s, exactly as for `/v1/track`:
a wrong code answers like an unknown reference, both count against the case and the address in the same
limiter, and the actions are the same Updates with the submitter as actor. An anonymous reporter answers
the ministry's question here; the department sees the answer, never who sent it.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from api.deps import ServicesDep
from api.errors import ApiError
from api.schemas import ContestBody, SubmitterInfoBody
from api.service import tracking
from api.service.evidence import FileRefused, check_uploads, keep_files
from api.service.public_site import (
    leave_tracking_session,
    new_submission_key,
    open_tracking_session,
)
from domain.kinds import Status
from store.cases import find_case
from web.forms import file_refusal_in_words, uploads_of
from web.public.session import (
    TRACKING_COOKIE,
    CheckedTrackingFormDep,
    TrackingSessionDep,
    clear_tracking_cookie,
    client_address,
    public_page,
    set_tracking_cookie,
    tracking_limiter,
    within_public_limit,
    words_of,
)

router = APIRouter(prefix="/track", include_in_schema=False, dependencies=[Depends(within_public_limit)])

# What the page says after an action it sent (`?done=`), so that a reload does not send it again.
DONE_WORDS = {
    "answered": "Your answer was sent. The study of your case resumes.",
    "contested": "Your objection was sent. Your case was reopened and raised to the Director General.",
    "rated": "Thank you: your rating was recorded.",
}


@router.get("")
async def track_page(request: Request, services: ServicesDep, session: TrackingSessionDep) -> Response:
    if session is None:
        return _open_form(request)
    return await _case_page(request, services, session, done=request.query_params.get("done"))


@router.post("")
async def open_case(request: Request, services: ServicesDep, reference: Annotated[str, Form(max_length=40)] = "",
                    tracking_code: Annotated[str, Form(max_length=200)] = "") -> Response:
    reference = reference.strip().upper()
    try:
        case = await tracking.find_tracked_case(services, tracking_limiter(request), reference,
                                                client_address(request), tracking_code.strip())
    except ApiError as refused:
        words = words_of(request)
        error = (words._("Too many wrong tracking codes. Wait a few minutes, then try again.")
                 if refused.status == 429 else words._("No case has this reference and tracking code."))
        return _open_form(request, reference=reference, error=error, status_code=refused.status)
    token, record = await open_tracking_session(services, case.reference)
    response = RedirectResponse("/track", status_code=303)
    set_tracking_cookie(response, request, token, int((record.expires_at - record.created_at).total_seconds()))
    return response


@router.post("/answer")
async def answer(request: Request, services: ServicesDep, checked: CheckedTrackingFormDep) -> Response:
    session, form = checked
    try:
        body = SubmitterInfoBody(answer=str(form.get("answer", "")))
    except ValidationError:
        return await _case_page(request, services, session, status_code=422, field="answer",
                                error=words_of(request)._("Write your answer: at most 10,000 characters."))
    try:
        files = check_uploads(services, await uploads_of(form))
    except FileRefused as refused:
        return await _case_page(request, services, session, status_code=422, field="files", error=file_refusal_in_words(
            words_of(request), refused, services.settings.evidence_max_files, services.settings.evidence_max_mib))

    async def answer_with_files(case):
        # Stored first, named by the answer's step; an answer refused leaves files that no step names, never listed.
        evidence = await keep_files(services, case.reference, files, uploaded_by="submitter")
        return await tracking.answer_question(services, case, body.answer, body=body,
                                              idempotency_key=_action_key(form), evidence=evidence)

    return await _act(request, services, session, "answered", answer_with_files)


@router.post("/contest")
async def contest(request: Request, services: ServicesDep, checked: CheckedTrackingFormDep) -> Response:
    session, form = checked
    try:
        body = ContestBody(reason=str(form.get("reason", "")))
    except ValidationError:
        return await _case_page(request, services, session, status_code=422, field="reason",
                                error=words_of(request)._("Write why the answer does not satisfy you: at most 2,000 "
                                                          "characters."))
    return await _act(request, services, session, "contested", lambda case: tracking.contest_answer(
        services, case, body.reason, body=body, idempotency_key=_action_key(form)))


@router.post("/rating")
async def rating(request: Request, services: ServicesDep, checked: CheckedTrackingFormDep) -> Response:
    session, form = checked
    score = str(form.get("score", ""))
    comment = str(form.get("comment", "")).strip()
    if score not in {"1", "2", "3", "4", "5"} or len(comment) > 2000:
        return await _case_page(request, services, session, status_code=422, field="score",
                                error=words_of(request)._("Choose a rating from 1 to 5; a comment has at most 2,000 "
                                                          "characters."))
    return await _act(request, services, session, "rated", lambda case: tracking.rate(
        services, case, int(score), comment or None, datetime.now(UTC)))


@router.post("/leave")
async def leave(request: Request, services: ServicesDep) -> Response:
    await leave_tracking_session(services, request.cookies.get(TRACKING_COOKIE))
    response = RedirectResponse("/track", status_code=303)
    clear_tracking_cookie(response, request)
    return response


def _action_key(form) -> str | None:
    # The form's own random key: a double click sends the same Update, which the workflow takes once.
    key = str(form.get("action_key", ""))
    return key if 0 < len(key) <= 64 and key.isalnum() else None


async def _act(request: Request, services: ServicesDep, session, done: str, action) -> Response:
    case = await find_case(services.database, session.reference)
    try:
        await action(case)
    except ApiError as refused:
        words = words_of(request)
        error = (words._("The case engine did not answer in time. Send again: it will not be taken twice.")
                 if refused.status >= 500 else words._("This cannot be done in the case's present state."))
        return await _case_page(request, services, session, status_code=refused.status, error=error)
    return RedirectResponse(f"/track?done={done}", status_code=303)


def _open_form(request: Request, *, reference: str = "", error: str | None = None, status_code: int = 200) -> Response:
    return public_page(request, "public/track_open.html", status_code=status_code, reference=reference, error=error)


async def _case_page(request: Request, services: ServicesDep, session, *, status_code: int = 200,
                     done: str | None = None, error: str | None = None, field: str | None = None) -> Response:
    view = await tracking.tracking_view_of(services, session.reference)
    return public_page(request, "public/track.html", status_code=status_code, view=view, session=session,
                       csrf_token=session.csrf_token, action_key=new_submission_key(), Status=Status,
                       done=DONE_WORDS.get(done or ""), error=error, error_field=field,
                       ends_at=session.expires_at)
