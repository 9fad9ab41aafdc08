"""Submitting on the website (`/`): one form for a complaint, a report or a suggestion, and its answer.

Abuse: every request counts against its address (`api.public_limit`, as the API's keyless routes); the
form carries an ALTCHA proof of work that the browser solves (web/static/vendor/altcha). A browser
without JavaScript cannot solve it: its form is still taken, but only
`COMPLAINTS_PUBLIC_WITHOUT_PROOF_PER_HOUR` times an hour from one address. A hidden field that people
leave empty (the honeypot) filled in makes no case. The form's hidden random key is the idempotency
key: a double click or a resent form answers with the case the first one made.

The receipt: the answer page prints as one (print style sheet); "Download receipt" posts the answer
page's facts back, signed by the server (`ReceiptSeal`; the code in the body, never in a URL), and gets
the same receipt as a file. It is made from the POST alone: no case is read (its row may not be written
yet, a moment after the submission), and no receipt is kept on the server.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import JSONResponse, Response

from api.deps import ServicesDep
from api.errors import ApiError, FieldProblem
from api.public_limit import PublicLimiter
from api.ratelimit import RateLimited
from api.service.evidence import FileRefused, check_uploads
from api.service.public_site import (
    ProofOfWork,
    ReceiptSeal,
    SubmissionInvalid,
    answer_days,
    is_submission_key,
    new_submission_key,
    submission_from_form,
    submit_on_website,
)
from domain.kinds import Kind, SubmitterCategory
from web.forms import file_refusal_in_words, uploads_of
from web.i18n import Words
from web.public.session import (
    PublicRefused,
    client_address,
    language_of,
    public_page,
    within_public_limit,
    words_of,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(within_public_limit)])

HONEYPOT = "homepage"
FORM_FIELDS = ("kind", "category", "name", "civil_id", "email", "phone", "subject", "description")

# The policy's words ("Definitions", "Scope"): the English here, the Arabic in public.po.
KIND_WORDS = {
    Kind.COMPLAINT: ("Complaint", "An expression of displeasure or dissatisfaction about a service, an employee or a "
                                  "procedure."),
    Kind.REPORT: ("Report", "Information about a violation or an illegal behaviour."),
    Kind.SUGGESTION: ("Suggestion", "An idea or recommendation to improve a service or a procedure."),
}
CATEGORY_WORDS = {
    SubmitterCategory.BENEFICIARY: "A beneficiary of the ministry's services",
    SubmitterCategory.EMPLOYEE: "An employee",
    SubmitterCategory.SUPPLIER: "A supplier or partner",
    SubmitterCategory.COMMUNITY: "A member of the community",
}


def _proof(request: Request) -> ProofOfWork:
    state = request.app.state
    if getattr(state, "proof_of_work", None) is None:
        settings = state.services.settings
        state.proof_of_work = ProofOfWork(settings.resolved_secret_key(), settings.public_proof_cost)
    return state.proof_of_work


def _without_proof_limiter(request: Request) -> PublicLimiter:
    state = request.app.state
    if getattr(state, "without_proof_limiter", None) is None:
        per_hour = state.services.settings.public_without_proof_per_hour
        state.without_proof_limiter = PublicLimiter(per_window=per_hour, window_seconds=3600)
    return state.without_proof_limiter


@router.get("/")
async def submission_form(request: Request) -> Response:
    return _form(request, values={"kind": request.query_params.get("kind", "")}, problems={},
                 submission_key=new_submission_key())


@router.get("/proof-of-work/challenge")
async def proof_of_work_challenge(request: Request) -> Response:
    """A new challenge for the form's widget (the only JSON these pages answer)."""
    return JSONResponse(_proof(request).challenge(), headers={"Cache-Control": "no-store"})


@router.post("/")
async def submit(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in FORM_FIELDS}
    key = str(form.get("submission_key", ""))
    key = key if is_submission_key(key) else new_submission_key()
    words = words_of(request)
    problems = _form_problems(form, words)
    try:
        submission = submission_from_form(values, language_of(request),
                                          anonymous_reports=services.policy.anonymous_reports)
    except SubmissionInvalid as invalid:
        problems |= {problem.field: _in_words(words, problem) for problem in invalid.fields}
    evidence = []
    try:
        evidence = check_uploads(services, await uploads_of(form))
    except FileRefused as refused:
        problems["files"] = file_refusal_in_words(words, refused, services.settings.evidence_max_files,
                                                  services.settings.evidence_max_mib)
    if problems:
        return _form(request, values=values, problems=problems, submission_key=key, status_code=422)
    if not await _proof_or_slow_lane(request, services, str(form.get("altcha", ""))):
        problems["altcha"] = words._("The check that a person sends this form did not pass. Wait for it to finish, "
                                     "then send again.")
        return _form(request, values=values, problems=problems, submission_key=key, status_code=422)
    try:
        accepted = await submit_on_website(services, submission, key, evidence)
    except ApiError as refused:
        if refused.code == "idempotency_conflict":
            # This form was sent before with other words: a new key, so that sending it again makes a new case.
            problems["form"] = words._("This form was already sent with other content. Check it, then send it again.")
            key = new_submission_key()
        else:
            problems["form"] = words._("The case could not be recorded just now. Send the form again: it will not "
                                       "make a second case.")
        return _form(request, values=values, problems=problems, submission_key=key, status_code=refused.status)
    facts = {"reference": accepted.intake.reference, "tracking_code": accepted.tracking_code,
             "kind": accepted.intake.kind, "received_at": accepted.intake.received_at.isoformat(),
             "answer_due": accepted.intake.answer_due.isoformat(),
             "answer_days": str(answer_days(services, submission.kind))}
    response = _receipt_page(request, "public/submitted.html", facts, again=not accepted.created,
                             sealed=_seal(request).seal(facts))
    return response


@router.post("/receipt")
async def receipt(request: Request, sealed: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """The receipt as a file, made again from the answer page's signed facts."""
    facts = _seal(request).open(sealed)
    if facts is None:
        raise PublicRefused(400, words_of(request)._("This receipt did not come from this site."))
    response = _receipt_page(request, "public/receipt.html", facts)
    response.headers["Content-Disposition"] = f'attachment; filename="receipt-{facts["reference"]}.html"'
    return response


def _receipt_page(request: Request, template: str, facts: dict[str, str], **context) -> Response:
    response = public_page(request, template, kind_words=KIND_WORDS, **facts | {
        "received_at": datetime.fromisoformat(facts["received_at"]),
        "answer_due": datetime.fromisoformat(facts["answer_due"]), "answer_days": int(facts["answer_days"])},
        **context)
    # The tracking code is on this page: no cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    return response


def _seal(request: Request) -> ReceiptSeal:
    return ReceiptSeal(request.app.state.services.settings.resolved_secret_key())


def _form_problems(form, words: Words) -> dict[str, str]:
    problems = {}
    if str(form.get(HONEYPOT, "")):
        problems[HONEYPOT] = words._("Leave this field empty.")
    if form.get("duties") != "yes":
        problems["duties"] = words._("Confirm that you have read the submitter's duties.")
    return problems


async def _proof_or_slow_lane(request: Request, services: ServicesDep, payload: str) -> bool:
    """A solved proof of work; or, without one (JavaScript off), a place in the stricter per-address limit."""
    if payload:
        return _proof(request).passes(payload)
    try:
        await _without_proof_limiter(request).count(services.database, f"no-proof:{client_address(request)}")
    except RateLimited as limited:
        words = words_of(request)
        raise PublicRefused(429, words._("Too many forms from your connection without the automatic check. Turn on "
                                         "JavaScript in your browser, or try again in an hour."),
                            {"Retry-After": str(limited.retry_after)}) from None
    return True


# The reasons of api.schemas and domain.identity, in words a submitter reads, by field.
FIELD_WORDS = {
    "kind": "Choose what you are sending: a complaint, a report or a suggestion.",
    "submitter.category": "Choose who you are.",
    "subject": "Write a subject: one line, at most 300 characters.",
    "description": "Write what happened, or what you suggest: at most 10,000 characters.",
    "submitter.name": "Write your name in letters, on one line (at most 200 characters).",
    "submitter.civil_id": "Write the civil ID number in digits only: 6 to 12 digits.",
    "submitter.email": "Write a valid email address, such as name@example.om.",
    "submitter.phone": "Write the phone number in digits only (7 to 15), with + first if you like.",
}


def _in_words(words: Words, problem: FieldProblem) -> str:
    if problem.field == "submitter.civil_id" and problem.reason.startswith("a complaint needs"):
        return words._("A complaint needs your civil ID number: the policy asks whoever complains to prove their "
                       "identity.")
    if problem.field == "submitter.civil_id" and "anonymous" in problem.reason:
        return words._("The ministry does not take anonymous reports now: write your civil ID number.")
    if problem.field == "submitter.email" and problem.reason.startswith("a complaint needs"):
        return words._("A complaint needs an email address or a phone number, so that the ministry can answer you.")
    return words._(FIELD_WORDS.get(problem.field, "Check this field."))


# The template's name for a problem of each field (the flat form names of the submitter's fields).
_FORM_NAME = {"submitter.category": "category", "submitter.name": "name", "submitter.civil_id": "civil_id",
              "submitter.email": "email", "submitter.phone": "phone"}


def _form(request: Request, *, values: dict, problems: dict[str, str], submission_key: str,
          status_code: int = 200) -> Response:
    problems = {_FORM_NAME.get(field, field): reason for field, reason in problems.items()}
    return public_page(request, "public/submit.html", status_code=status_code, values=values, problems=problems,
                       submission_key=submission_key, kinds=KIND_WORDS, categories=CATEGORY_WORDS,
                       honeypot=HONEYPOT)
