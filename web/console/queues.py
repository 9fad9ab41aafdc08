"""The work queues: each role's lists of the cases it works, with their deadline badges.

A queue is a fixed part of the list filters (api/service/cases.py list_cases, the JSON list's own code) and an
order; a person narrows it with the filter form and the search box and pages through it 50 at a time by
keyset. An htmx request (the every-30-seconds refresh while the tab is visible) gets only the rows block.
"""

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from api.deps import Services, ServicesDep
from api.errors import ApiError
from api.service.cases import list_cases, search_filters
from domain.calendar import days_between
from domain.kinds import FINAL_STATUSES, Channel, Kind, Role, Status
from store.case_lists import CaseFilters
from store.departments import active_departments, all_departments
from web.console.badges import ANSWER_CLOCK, DEPARTMENT_CLOCK, deadline_badge
from web.console.case_words import (
    CHANNEL_WORDS,
    KIND_WORDS,
    N_,
    STATUS_WORDS,
    department_name,
    refusal_words,
    word_of,
)
from web.console.session import StaffDep, console_page
from web.i18n import Words, words_for
from web.templating import wants_fragment

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = 50
OPEN = tuple(status for status in Status if status not in FINAL_STATUSES)
# The cases still waiting on the department (or, at level 2, on the Director General).
AWAITING_DEPARTMENT = (Status.RECEIVED, Status.WITH_DEPARTMENT, Status.AWAITING_SUBMITTER)


@dataclass(frozen=True)
class Queue:
    """One role's queue: the filters it always applies, its order, and what its page offers."""

    name: str
    role: Role
    title: str
    fixed: CaseFilters = field(default_factory=CaseFilters)
    order: str = "answer_due"
    triage_form: bool = False  # rows with checkboxes for the bulk triage form

    @property
    def statuses(self) -> tuple[str, ...]:
        """The statuses a person may narrow the queue to."""
        return self.fixed.statuses or tuple(Status)


QUEUES = (
    Queue("triage", Role.CS_AGENT, N_("New cases to triage"), CaseFilters(statuses=(Status.RECEIVED,)),
          triage_form=True),
    Queue("replies", Role.CS_AGENT, N_("Replies to answer"), CaseFilters(statuses=(Status.REPLIED,))),
    Queue("waiting", Role.CS_AGENT, N_("Waiting for the submitter"),
          CaseFilters(statuses=(Status.AWAITING_SUBMITTER,))),
    Queue("department", Role.DEPARTMENT, N_("Open cases of the department"), CaseFilters(statuses=AWAITING_DEPARTMENT),
          order="department_due"),
    Queue("escalated", Role.DIRECTOR_GENERAL, N_("Escalated cases"),
          CaseFilters(statuses=AWAITING_DEPARTMENT, escalation_level=2)),
    Queue("breached", Role.DIRECTOR_GENERAL, N_("Breached cases"), CaseFilters(statuses=OPEN, breached=True)),
    Queue("all", Role.AUDITOR, N_("Every case")),
    Queue("entered", Role.CALL_CENTRE, N_("Cases I entered")),
)


def queues_of(role: Role) -> list[Queue]:
    return [queue for queue in QUEUES if queue.role == role]


@router.get("/queues")
async def first_queue(request: Request, staff: StaffDep) -> Response:
    queues = queues_of(staff.caller.role)
    if not queues:
        return not_found_page(request, staff)
    return RedirectResponse(f"/console/queues/{queues[0].name}", status_code=303)


@router.get("/queues/{name}")
async def queue_page(request: Request, name: str, services: ServicesDep, staff: StaffDep) -> Response:
    queue = next((each for each in queues_of(staff.caller.role) if each.name == name), None)
    if queue is None:
        return not_found_page(request, staff)  # another role's queue reads as no queue at all
    words = words_for(staff.language)
    chosen, problems = _chosen_filters(request, queue, words)
    page, problem = None, None
    if not problems:
        try:
            page = await list_cases(services, staff.caller, _filters_of(queue, chosen, staff, services), PAGE,
                                    request.query_params.get("cursor") or None, order=queue.order)
        except ApiError as refused:
            problem = refusal_words(words, refused.message)
    names = {entry.code: (entry.name_ar, entry.name_en) for entry in await all_departments(services.database)}
    now = datetime.now(UTC)
    rows = [_row(words, services, case, names, now) for case in (page.items if page else [])]
    context = dict(
        now=now,
        queue=queue, queues=queues_of(staff.caller.role), rows=rows, chosen=chosen,
        problems=[*problems, *([problem] if problem else [])], names=names,
        next_url=_url(request, cursor=page.next_cursor) if page and page.next_cursor else None,
        first_url=_url(request, cursor=None) if request.query_params.get("cursor") else None,
        refresh_url=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        kinds=KIND_WORDS, channels=CHANNEL_WORDS, status_words=STATUS_WORDS,
        shows_subject=staff.caller.role != Role.CALL_CENTRE,
        departments=await active_departments(services.database) if queue.triage_form else [],
    )
    status_code = 422 if context["problems"] else 200
    block = "rows" if wants_fragment(request) else None
    return console_page(request, "console/queue.html", staff, status_code=status_code, block=block, **context)


@dataclass
class Row:
    reference: str
    kind: str
    subject: str | None
    department: str
    status: str
    department_badge: object
    answer_badge: object


def _row(words: Words, services: Services, case, names, now: datetime) -> Row:
    return Row(
        reference=case.reference, kind=word_of(words, KIND_WORDS, case.kind), subject=case.subject,
        department=department_name(words, names, case.department),
        status=word_of(words, STATUS_WORDS, case.status),
        department_badge=deadline_badge(words, services.calendar, case.department_due, now, status=case.status,
                                        clock=DEPARTMENT_CLOCK),
        answer_badge=deadline_badge(words, services.calendar, case.answer_due, now, status=case.status,
                                    clock=ANSWER_CLOCK),
    )


# The filter form's fields, as the query string carries them (the JSON list's names where it has them).
FILTER_FIELDS = ("status", "kind", "department", "channel", "escalation_level", "breached", "due_before", "q")


def _chosen_filters(request: Request, queue: Queue, words: Words) -> tuple[dict, list[str]]:
    """What the person asked for, checked; the problems in their words (an empty field asks for nothing)."""
    query = request.query_params
    chosen: dict = {"status": [value for value in query.getlist("status") if value]}
    problems: list[str] = []
    for value in chosen["status"]:
        if value not in queue.statuses:
            problems.append(N_("Choose a status from the list."))
    for name, allowed in (("kind", set(Kind)), ("channel", set(Channel))):
        value = query.get(name) or None
        if value is not None and value not in allowed:
            problems.append(N_("Choose a value from the list."))
        chosen[name] = value
    chosen["department"] = query.get("department") or None
    level = query.get("escalation_level") or None
    if level is not None and level not in ("1", "2"):
        problems.append(N_("Choose a value from the list."))
    chosen["escalation_level"] = level
    breached = query.get("breached") or None
    if breached is not None and breached not in ("yes", "no"):
        problems.append(N_("Choose a value from the list."))
    chosen["breached"] = breached
    chosen["due_before"] = query.get("due_before") or None
    if chosen["due_before"] is not None:
        try:
            chosen["due_before_day"] = date.fromisoformat(chosen["due_before"])
        except ValueError:
            problems.append(N_("Write the day as YYYY-MM-DD."))
    chosen["q"] = (query.get("q") or "").strip()[:200]
    return chosen, [words._(problem) for problem in dict.fromkeys(problems)]


def _filters_of(queue: Queue, chosen: dict, staff, services: Services) -> CaseFilters:
    """The queue's own filters, narrowed by what the person chose (never widened past the queue)."""
    fixed = queue.fixed
    due_before = None
    if chosen.get("due_before_day"):
        due_before, _ = days_between(chosen["due_before_day"], None, services.policy.timezone)
    level = int(chosen["escalation_level"]) if chosen["escalation_level"] else None
    breached = {"yes": True, "no": False}.get(chosen["breached"] or "")
    return replace(
        fixed,
        statuses=tuple(chosen["status"]) or fixed.statuses,
        kind=chosen["kind"] or fixed.kind,
        channel=chosen["channel"] or fixed.channel,
        department=chosen["department"] or fixed.department,
        escalation_level=fixed.escalation_level if fixed.escalation_level is not None else level,
        breached=fixed.breached if fixed.breached is not None else breached,
        due_before=due_before,
        **search_filters(staff.caller, chosen["q"]),
    )


def _url(request: Request, *, cursor: str | None) -> str:
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != "cursor" and value]
    if cursor:
        kept.append(("cursor", cursor))
    return request.url.path + (f"?{urlencode(kept)}" if kept else "")


def not_found_page(request: Request, staff) -> Response:
    return console_page(request, "console/case_not_found.html", staff, status_code=404)
