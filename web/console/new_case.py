"""A new case typed in at the console: a complaint taken by phone, or an email or a social-media message.

The call centre and customer service submit exactly as `POST /v1/cases` does (api/service/intake.py
`receive_submission`: who may submit through which channel, the identity rule, the pace of
submissions, the idempotency claim), and get the same answer: the reference, the tracking code to
read out to the caller (shown on this one page), and the deadlines. A problem is shown next to the
field it names, with what was typed kept, and nothing is written. The form carries a random
idempotency key, so a double click or a resent form makes one case and shows it again.
"""

import secrets

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from api.deps import ServicesDep
from api.errors import ApiError
from api.schemas import CaseCreate
from api.service.evidence import check_uploads
from api.service.intake import receive_submission
from api.service.staff import StaffSessionInfo
from domain.kinds import CALL_CENTRE_CHANNELS, Channel, Kind, Priority, Role, SubmitterCategory
from web.console.forms import N_, problems_of_api_error, problems_of_validation
from web.console.session import CheckedFormDep, StaffDep, console_page
from web.forms import uploads_of
from web.i18n import Words, words_for

router = APIRouter(prefix="/console/cases", include_in_schema=False)

ENTERS_CASES = frozenset({Role.CALL_CENTRE, Role.CS_AGENT})
KIND_NAMES = {Kind.COMPLAINT: N_("Complaint"), Kind.REPORT: N_("Report"), Kind.SUGGESTION: N_("Suggestion")}
CHANNEL_NAMES = {Channel.PHONE: N_("Phone"), Channel.EMAIL: N_("Email"), Channel.SOCIAL_MEDIA: N_("Social media"),
                 Channel.WEBSITE: N_("Website"), Channel.TAJAWOB: N_("Tajawob")}
CATEGORY_NAMES = {
    SubmitterCategory.BENEFICIARY: N_("A beneficiary of the services"),
    SubmitterCategory.EMPLOYEE: N_("An employee"),
    SubmitterCategory.SUPPLIER: N_("A supplier or partner"),
    SubmitterCategory.COMMUNITY: N_("A member of the community"),
}
PRIORITY_NAMES = {Priority.CRITICAL: N_("Critical"), Priority.HIGH: N_("High"), Priority.NORMAL: N_("Normal"),
                  Priority.LOW: N_("Low")}
# The form's fields, by the names the API's errors give them; a problem with any other is the form's own.
FIELDS = ("kind", "channel", "channel_ref", "submitter.category", "submitter.name", "submitter.civil_id",
          "submitter.email", "submitter.phone", "subject", "description", "priority", "language")
IDEMPOTENCY_FIELD = "idempotency_key"


@router.get("/new")
async def new_case_form(request: Request, services: ServicesDep, staff: StaffDep) -> Response:
    if refused := _refused_unless_enters_cases(request, staff):
        return refused
    return _form(request, services, staff, values={"language": "ar", IDEMPOTENCY_FIELD: _new_key()})


@router.post("/new")
async def submit_new_case(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep) -> Response:
    if refused := _refused_unless_enters_cases(request, staff):
        return refused
    words = words_for(staff.language)
    values = {name: str(form.get(name) or "") for name in (*FIELDS, IDEMPOTENCY_FIELD)}
    key = values[IDEMPOTENCY_FIELD][:200] or None
    try:
        submission = CaseCreate.model_validate(_body_of(form))
        evidence = check_uploads(services, await uploads_of(form))
        accepted = await receive_submission(services, request.app.state.intake_limiter, submission, staff.caller, key,
                                            evidence)
    except ValidationError as invalid:
        return _form(request, services, staff, values=values, errors=problems_of_validation(words, invalid))
    except ApiError as error:
        if error.code == "idempotency_conflict":
            # This form's key already made a case from other values (sent, then changed): a new key, a new case.
            values[IDEMPOTENCY_FIELD] = _new_key()
        return _form(request, services, staff, values=values, errors=_problems(words, error),
                     status_code=error.status)
    answer = console_page(request, "console/new_case_answer.html", staff, accepted=accepted,
                          kind_name=KIND_NAMES[submission.kind], again=not accepted.created)
    # The tracking code is on this page only: no cache keeps it, and the browser's back button asks again.
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _body_of(form: FormData) -> dict:
    """The form as the JSON body of `POST /v1/cases`: a field left empty is a field not sent."""
    def given(name: str) -> str | None:
        return str(form.get(name) or "").strip() or None

    body = {
        "kind": given("kind") or "", "channel": given("channel") or "", "channel_ref": given("channel_ref"),
        "submitter": {"category": given("submitter.category") or "", "name": given("submitter.name"),
                      "civil_id": given("submitter.civil_id"), "email": given("submitter.email"),
                      "phone": given("submitter.phone")},
        "subject": str(form.get("subject") or ""), "description": str(form.get("description") or ""),
        "priority": given("priority"), "language": given("language") or "ar",
    }
    return body


def _problems(words: Words, error: ApiError) -> dict[str, str]:
    if error.status == 403:
        # check_may_submit: the one refusal a form can earn is a channel this person does not speak for.
        return {"channel": words._("You enter cases that came by phone, email or social media only.")}
    if error.status == 429:
        return {"form": words._("Too many cases entered in the last minute. Wait {seconds} seconds and send the "
                                "form again: nothing was lost.", seconds=(error.headers or {}).get("Retry-After", 60))}
    if error.code == "outcome_unknown":
        return {"form": words._("The case engine did not answer in time; the case may have been made. Send the "
                                "form again: it never makes a second case.")}
    # A refused file is named `files[i]`: the form has one file field, and the reason says which file.
    return {("files" if field.startswith("files[") else field): reason
            for field, reason in problems_of_api_error(words, error).items()}


def _refused_unless_enters_cases(request: Request, staff: StaffSessionInfo) -> Response | None:
    if staff.caller.role in ENTERS_CASES:
        return None
    words = words_for(staff.language)
    return console_page(request, "console/refused.html", staff, status_code=403,
                        reason=words._("Only the call centre and customer service enter new cases."))


def _new_key() -> str:
    return secrets.token_urlsafe(24)


def _form(request: Request, services: ServicesDep, staff: StaffSessionInfo, *, values: dict[str, str],
          errors: dict[str, str] | None = None, status_code: int | None = None) -> Response:
    errors = errors or {}
    channels = [channel for channel in CHANNEL_NAMES if channel in CALL_CENTRE_CHANNELS]
    words = words_for(staff.language)
    return console_page(
        request, "console/new_case.html", staff, status_code=status_code or (422 if errors else 200),
        values=values, errors=errors, form_errors=[reason for field, reason in errors.items() if field not in FIELDS],
        kinds=[(kind.value, words._(name)) for kind, name in KIND_NAMES.items()],
        channels=[(channel.value, words._(CHANNEL_NAMES[channel])) for channel in channels],
        categories=[(category.value, words._(name)) for category, name in CATEGORY_NAMES.items()],
        priorities=[(priority.value, words._(name)) for priority, name in PRIORITY_NAMES.items()],
        anonymous_reports=services.policy.anonymous_reports,
    )
