"""A case's page: its facts, both deadlines with their badges, the whole timeline in the policy's words, the
messages sent and how far they got, and exactly the actions this person may take now, as forms.

Which actions a person may take is domain.lifecycle's rule (`check_action`), asked here and enforced again
by the workflow. An action goes through the same application functions as the JSON routes; a refusal is
shown in words next to its form and nothing changes. Without JavaScript a form posts and the browser is sent
back to the case (POST/redirect/GET); with htmx the case's part of the page is swapped in place.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import RedirectResponse, Response

from api.deps import Services, ServicesDep
from api.errors import ApiError
from api.schemas import (
    CasePublic,
    CloseBody,
    ContestBody,
    InstructBody,
    RejectBody,
    ReplyBody,
    RequestInfoBody,
    RespondBody,
    SubmitterInfoBody,
    TriageBody,
)
from api.service import cases
from api.service.evidence import list_evidence
from api.service.tracking import TrackingView
from domain.kinds import Kind, Priority, Status
from domain.lifecycle import Action, ActionRefused, CaseFacts, check_action
from domain.steps import Detail, Step
from store.departments import active_departments, all_departments
from store.staff import users_named
from web.console.badges import ANSWER_CLOCK, DEPARTMENT_CLOCK, deadline_badge
from web.console.case_words import (
    CATEGORY_WORDS,
    CHANNEL_WORDS,
    CLOSE_REASON_WORDS,
    DELIVERY_STATE_WORDS,
    GROUND_WORDS,
    KIND_WORDS,
    MESSAGE_STATE_WORDS,
    MESSAGE_WORDS,
    N_,
    PRIORITY_WORDS,
    STATUS_WORDS,
    TEXT_DETAILS,
    TRANSPORT_WORDS,
    actor_words,
    department_name,
    instant_of,
    recipient_words,
    refusal_words,
    step_words,
    user_ids_of,
    word_of,
)
from web.console.evidence import evidence_line, may_add_evidence
from web.console.queues import not_found_page
from web.console.session import CheckedFormDep, StaffDep, console_page
from web.i18n import Words, words_for
from web.templating import wants_fragment

router = APIRouter(prefix="/console", include_in_schema=False)


class CaseReference(Convertor):
    """A case's reference in a path (`C-2026-000123`): /console/cases/new is another page's."""

    regex = r"[CRS]-[0-9]{4}-[0-9]{1,12}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("case_reference", CaseReference())


@dataclass(frozen=True)
class ActionForm:
    """An action as a form: its words, the JSON body it is checked as, and its free-text field if it has one."""

    action: Action
    title: str
    body: type[BaseModel]
    text_field: str | None = None
    text_label: str | None = None
    done: str = ""

    @property
    def slug(self) -> str:
        return self.action.value.replace("_", "-")


FORMS = (
    ActionForm(Action.TRIAGE, N_("Triage: classify and route"), TriageBody,
               done=N_("The case was triaged and routed.")),
    ActionForm(Action.REJECT, N_("Reject"), RejectBody, "reason", N_("The reason the submitter will be told"),
               N_("The case was rejected; the submitter is told why.")),
    ActionForm(Action.REQUEST_INFO, N_("Ask the submitter for more details"), RequestInfoBody, "question",
               N_("The question"), N_("The question was sent; every clock is paused until the answer.")),
    ActionForm(Action.SUBMITTER_INFO, N_("Pass on the submitter's answer"), SubmitterInfoBody, "answer",
               N_("The submitter's answer"), N_("The answer was passed on; the clocks resumed.")),
    ActionForm(Action.REPLY, N_("Reply"), ReplyBody, "summary", N_("The reply to customer service"),
               N_("The reply was recorded.")),
    ActionForm(Action.INSTRUCT, N_("Instruct the department"), InstructBody, "instruction", N_("The instruction"),
               N_("The instruction was sent to the department.")),
    ActionForm(Action.RESPOND, N_("Answer the submitter"), RespondBody, "message", N_("The answer to the submitter"),
               N_("The answer was sent to the submitter.")),
    ActionForm(Action.CLOSE, N_("Close on the submitter's acceptance"), CloseBody,
               done=N_("The case was closed.")),
    ActionForm(Action.CONTEST, N_("Contest the answer on the submitter's behalf"), ContestBody, "reason",
               N_("Why the submitter contests the answer"), N_("The contest was recorded; the case reopened.")),
)
FORM_OF = {form.slug: form for form in FORMS}

@dataclass
class Refusal:
    slug: str
    reason: str


@router.get("/cases/{reference:case_reference}")
async def case_view(request: Request, reference: str, services: ServicesDep, staff: StaffDep) -> Response:
    done = FORM_OF.get(request.query_params.get("done", ""))
    return await _render(request, services, staff, reference, outcome=done)


@router.post("/cases/{reference:case_reference}/{slug}")
async def case_action(request: Request, reference: str, slug: str, services: ServicesDep, staff: StaffDep,
                      form: CheckedFormDep) -> Response:
    action_form = FORM_OF.get(slug)
    if action_form is None:
        return not_found_page(request, staff)
    words = words_for(staff.language)
    try:
        body = action_form.body.model_validate(_body_values(action_form, form))
        await _send(services, staff, reference, action_form, body, _attempt_key(form))
    except ValidationError as invalid:
        return await _render(request, services, staff, reference, status_code=422,
                             refusal=Refusal(slug, _invalid_words(words, invalid)))
    except ApiError as refused:
        if refused.status in (403, 404):
            return not_found_page(request, staff)
        return await _render(request, services, staff, reference, status_code=refused.status,
                             refusal=Refusal(slug, refusal_words(words, refused.message)))
    if wants_fragment(request):
        return await _render(request, services, staff, reference, outcome=action_form)
    return RedirectResponse(f"/console/cases/{reference}?done={slug}", status_code=303)


def _body_values(action_form: ActionForm, form) -> dict:
    """The form's fields that the action's body has; an empty choice asks for nothing (the body's default)."""
    values = {name: form.get(name) for name in action_form.body.model_fields if form.get(name) not in (None, "")}
    if action_form.text_field and action_form.text_field not in values:
        values[action_form.text_field] = ""  # a required text left empty: the body says what is wrong
    return values


def _attempt_key(form) -> str | None:
    """The form's own key (made when the page was drawn): sent twice, it is the same action, taken once."""
    key = str(form.get("attempt") or "")
    return key if re.fullmatch(r"[0-9a-f]{32}", key) else None


async def _send(services: Services, staff, reference: str, action_form: ActionForm, body, key: str | None) -> None:
    await cases.act_on(services, staff.caller, reference, action_form.action, body, idempotency_key=key)


def _invalid_words(words: Words, invalid: ValidationError) -> str:
    kinds = {problem["type"] for problem in invalid.errors()}
    if kinds & {"missing", "string_too_short"}:
        return words._("Fill in the form: a text is missing.")
    if "string_too_long" in kinds:
        return words._("The text is too long.")
    if kinds & {"enum", "literal_error"}:
        return words._("Choose a value from the list.")
    return words._("The text cannot be taken as written: {reason}",
                   reason="; ".join(problem["msg"] for problem in invalid.errors()))


def allowed_forms(case: CasePublic, caller) -> list[ActionForm]:
    """The forms of the actions the policy lets this caller take on the case as it stands."""
    facts = CaseFacts(Status(case.status), case.department, case.escalation_level)
    allowed = []
    for action_form in FORMS:
        try:
            check_action(action_form.action, facts, caller.role.value, caller.department)
        except ActionRefused:
            continue
        allowed.append(action_form)
    return allowed


async def _render(request: Request, services: Services, staff, reference: str, *, outcome: ActionForm | None = None,
                  refusal: Refusal | None = None, status_code: int = 200) -> Response:
    words = words_for(staff.language)
    try:
        case = await cases.read_case(services, staff.caller, reference)  # records the read
    except ApiError as refused:
        if refused.status in (403, 404):
            return not_found_page(request, staff)
        raise
    names = {entry.code: (entry.name_ar, entry.name_en) for entry in await all_departments(services.database)}
    if isinstance(case, TrackingView):
        return console_page(request, "console/case_tracking.html", staff, case=case, status_word=(
            case.status_text.ar if words.language == "ar" else case.status_text.en))
    people = await users_named(services.database, user_ids_of([entry.actor for entry in case.timeline]))
    forms = allowed_forms(case, staff.caller)
    context = dict(
        case=case, facts=_facts(words, case, names),
        category=word_of(words, CATEGORY_WORDS, case.submitter.category) if case.submitter else None,
        deadlines=_deadlines(words, services, case),
        timeline=[_step(words, entry, people, names) for entry in case.timeline],
        messages=[_message(words, message, names)
                  for message in await cases.case_messages(services, staff.caller, reference)],
        evidence=[evidence_line(words, file) for file in await list_evidence(services, staff.caller, reference)],
        may_add_evidence=may_add_evidence(case, staff.caller),
        forms=forms, outcome=words._(outcome.done) if outcome else None, refusal=refusal,
        refusal_elsewhere=refusal is not None and refusal.slug not in {each.slug for each in forms},
        attempt=uuid.uuid4().hex,
        departments=await active_departments(services.database), kinds=KIND_WORDS, priorities=PRIORITY_WORDS,
        grounds=GROUND_WORDS,
        printed_at=words.when(datetime.now(UTC)),
    )
    # htmx swaps only what answers 2xx: a refusal comes back as the case's part, with its reason, all the same.
    block = "case_part" if wants_fragment(request) else None
    return console_page(request, "console/case.html", staff, block=block,
                        status_code=200 if block else status_code, **context)


@dataclass
class Line:
    label: str
    value: str
    css: str = ""


def _facts(words: Words, case: CasePublic, names) -> list[Line]:
    lines = [
        Line(words._("Kind"), word_of(words, KIND_WORDS, case.kind)),
        Line(words._("Channel"), word_of(words, CHANNEL_WORDS, case.channel)),
        Line(words._("Status"), word_of(words, STATUS_WORDS, case.status)),
        Line(words._("Priority"), word_of(words, PRIORITY_WORDS, case.priority)),
        Line(words._("Department"), department_name(words, names, case.department)),
        Line(words._("Escalation level"), words._("Level 2: the Director General") if case.escalation_level >= 2
             else words._("Level 1")),
        Line(words._("Breached"), words._("Yes") if case.breached else words._("No")),
        Line(words._("Received"), words.when(case.received_at)),
        Line(words._("Policy version"), case.policy_version, "reference"),
    ]
    if case.closed_at:
        lines.append(Line(words._("Closed"), words.when(case.closed_at)))
    if case.channel_ref:
        lines.append(Line(words._("Channel's reference"), case.channel_ref, "reference"))
    return lines


@dataclass
class Deadline:
    label: str
    when: str
    badge: object


def _deadlines(words: Words, services: Services, case: CasePublic) -> list[Deadline]:
    now = datetime.now(UTC)
    return [
        Deadline(words._("Department due"), words.when(case.department_due),
                 deadline_badge(words, services.calendar, case.department_due, now, status=case.status,
                                clock=DEPARTMENT_CLOCK)),
        Deadline(words._("Answer due"), words.when(case.answer_due),
                 deadline_badge(words, services.calendar, case.answer_due, now, status=case.status,
                                clock=ANSWER_CLOCK)),
    ]


@dataclass
class TimelineStep:
    when: str
    at: str
    who: str
    what: str
    facts: list[Line] = field(default_factory=list)
    texts: list[Line] = field(default_factory=list)


def _step(words: Words, entry, people, names) -> TimelineStep:
    detail = entry.detail or {}
    facts = []
    if detail.get(Detail.DEPARTMENT):
        facts.append(Line(words._("Department"), department_name(words, names, detail[Detail.DEPARTMENT])))
    if detail.get(Detail.KIND) in Kind.__members__.values():
        facts.append(Line(words._("Kind"), word_of(words, KIND_WORDS, detail[Detail.KIND])))
    if detail.get(Detail.PRIORITY) in Priority.__members__.values():
        facts.append(Line(words._("Priority"), word_of(words, PRIORITY_WORDS, detail[Detail.PRIORITY])))
    for key, label in ((Detail.DEPARTMENT_DUE, N_("Department due")), (Detail.ANSWER_DUE, N_("Answer due")),
                       (Detail.INFO_DUE, N_("Details due")), (Detail.CONTEST_DUE, N_("May be contested until"))):
        if instant := instant_of(detail.get(key)):
            facts.append(Line(words._(label), words.when(instant)))
    if entry.action == Step.CLOSED:
        # A closed step's reason is the policy's code, not what a person wrote.
        facts.append(Line(words._("Reason"), word_of(words, CLOSE_REASON_WORDS, detail.get(Detail.REASON))))
        detail = {key: value for key, value in detail.items() if key != Detail.REASON}
    texts = [Line(words._(label), str(detail[key])) for key, label in TEXT_DETAILS.items() if detail.get(key)]
    return TimelineStep(when=words.when(entry.at), at=entry.at.isoformat(), who=actor_words(words, entry.actor,
                        people, names), what=step_words(words, entry.action), facts=facts, texts=texts)


@dataclass
class MessageLine:
    when: str
    what: str
    to: str
    state: str
    tone: str
    deliveries: list[str]


def _message(words: Words, message, names) -> MessageLine:
    return MessageLine(
        when=words.when(message.at), what=word_of(words, MESSAGE_WORDS, message.template),
        to=recipient_words(words, names, message.recipient),
        state=word_of(words, MESSAGE_STATE_WORDS, message.status), tone=message.status,
        deliveries=[f"{word_of(words, TRANSPORT_WORDS, transport)}: {word_of(words, DELIVERY_STATE_WORDS, state)}"
                    for transport, state in message.deliveries],
    )
