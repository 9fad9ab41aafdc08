"""The canary of issue 5: personal data goes into cases by every path there is, and none of it reaches Temporal's
storage, the histories Temporal serves, or any log, in the clear; the codec endpoint opens it for staff with a key.

Every marker is a unique token put in one place of one case: the submitter's name, civil ID, email and phone, the
subject, description and channel reference, and every free text that staff or the submitter write. Finding none of
them means something only if they are really there, so the test first finds each one in the case record and, once
decrypted, inside Temporal's histories; and it checks that its search sees what Temporal wrote.
"""

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from sqlmodel import select
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowHistory

from api.app import create_app
from store.models import OutboxMessage
from store.ratings import Rating
from tests.conftest import DEPARTMENT, Keys
from tests.helpers import bearer, complaint, eventually, read_case, submit
from tests.outside import REFUSED_MARK
from tests.workflows.test_lifecycle import act, days
from workflows.case import CaseWorkflow, workflow_id
from workflows.messages import Actor, DepartmentReply

# The stand-in for the submitters' mail server (aiosmtpd) logs every address and message it receives, as a
# real one would on its own machine: that is the message reaching its recipient, not the ministry's logs.
OUTSIDE_PARTY_LOGGERS = ("mail.log",)
# Set to DEBUG explicitly, in case anything raised their level: the SDK (workflow, activity and worker loggers)
# and the project's own modules. Libraries that choose their own level keep it, as they do in production:
# SQLAlchemy stays at WARNING (at INFO it would log every statement's parameters, personal data included).
LOGGERS_AT_DEBUG = ("temporalio", "complaints", "api", "activities", "workflows", "core", "store", "worker")
# The rating goes to PostgreSQL alone; everything else a case carries passes through its workflow.
NEVER_IN_TEMPORAL = ("rating",)


class Canary:
    """Unique marker tokens, each recorded under the place it was put (`case.field`)."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    def _record(self, where: str, token: str) -> str:
        assert where not in self.tokens, where
        self.tokens[where] = token
        return token

    def word(self, where: str) -> str:
        return self._record(where, f"canary{uuid.uuid4().hex[:16]}")

    def text(self, where: str) -> str:
        """A sentence, as people write one, with a marker inside."""
        return f"About this case ({self.word(where)}), please read carefully."

    def digits(self, where: str, count: int, prefix: str = "") -> str:
        return self._record(where, prefix + str(uuid.uuid4().int)[:count])

    def submitter(self, case: str, email_prefix: str = "") -> dict:
        return {
            "category": "beneficiary",
            "name": f"Salim {self.word(f'{case}.name')}",
            "civil_id": self.digits(f"{case}.civil_id", 12),
            "email": f"{email_prefix}{self.word(f'{case}.email')}@example.om",
            "phone": "+" + self.digits(f"{case}.phone", 11, prefix="968"),
        }

    def submission(self, case: str, submitter: dict | None = None, **fields) -> dict:
        """A complaint (unless `fields` say otherwise) with a marker in every personal field."""
        body = complaint(
            submitter=submitter or self.submitter(case),
            subject=self.text(f"{case}.subject"),
            description=self.text(f"{case}.description"),
            channel_ref=self.word(f"{case}.channel_ref"),
        )
        return {**body, **fields}

    def found_in(self, haystack: bytes, places: Iterable[str] | None = None) -> list[str]:
        """Where the markers found in `haystack` were put; the search ignores case, so an upper-cased leak counts."""
        haystack = haystack.lower()
        return [where for where in (places or self.tokens) if self.tokens[where].encode() in haystack]

    def missing_from(self, haystack: bytes, places: Iterable[str] | None = None) -> list[str]:
        found = set(self.found_in(haystack, places))
        return [where for where in (places or self.tokens) if where not in found]


@dataclass
class Callers:
    """Everyone who acts on a case: channels and staff with keys, submitters with a tracking code, operators."""

    api: httpx.AsyncClient
    track: httpx.AsyncClient
    keys: Keys
    temporal: Client
    codes: dict[str, str] = field(default_factory=dict)

    async def open_case(self, key: str, body: dict) -> str:
        created = await submit(self.api, key, body)
        reference = created["reference"]
        self.codes[reference] = created["tracking_code"]
        await eventually(lambda: read_case(self.api, self.keys.cs_agent, reference))
        return reference

    async def as_submitter(self, reference: str, action: str = "", body: dict | None = None, expect: int = 200) -> dict:
        """A tracking route: GET the view without an action, POST the action otherwise."""
        headers = {"X-Tracking-Code": self.codes[reference]}
        if action:
            response = await self.track.post(f"/v1/track/{reference}/{action}", json=body, headers=headers)
        else:
            response = await self.track.get(f"/v1/track/{reference}", headers=headers)
        assert response.status_code == expect, response.text
        return response.json()

    async def wait_until(self, reference: str, reached, timeout: float) -> dict:
        """The case, once `reached(case)` holds; polled gently, since every read is recorded."""
        async def check() -> dict | None:
            case = await read_case(self.api, self.keys.auditor, reference)
            return case if reached(case) else None

        return await eventually(check, timeout=timeout, interval=0.25)

    async def wait_for_step(self, reference: str, action: str, timeout: float = days(10)) -> dict:
        return await self.wait_until(reference, lambda case: any(e["action"] == action for e in case["timeline"]),
                                     timeout)

    async def wait_for_final(self, reference: str, status: str, timeout: float = days(15)) -> dict:
        def final(case: dict) -> bool:
            return case["status"] == status and case["timeline"][-1]["to_status"] == status

        return await self.wait_until(reference, final, timeout)


# ------------------------------------------------------------------ every path a case can take


async def accepted_after_a_contest(c: Callers, canary: Canary) -> str:
    """Website complaint: triage, a question answered through the channel, the department's reply, the answer, a
    contest through the channel (reopened at level 2), the DG's reply, a new answer, acceptance, a rating."""
    case, k = "accepted", c.keys
    reference = await c.open_case(k.channel, canary.submission(case))
    await act(c.api, k.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(c.api, k.department, reference, "request-info", {"question": canary.text(f"{case}.question")})
    await act(c.api, k.channel, reference, "submitter-info", {"answer": canary.text(f"{case}.answer")})
    await act(c.api, k.department, reference, "reply", {"summary": canary.text(f"{case}.reply")})
    await act(c.api, k.cs_agent, reference, "respond", {"message": canary.text(f"{case}.respond")})
    reopened = await act(c.api, k.channel, reference, "contest", {"reason": canary.text(f"{case}.contest")})
    assert reopened["escalation_level"] == 2
    await act(c.api, k.director_general, reference, "reply", {"summary": canary.text(f"{case}.dg_reply")})
    await act(c.api, k.cs_agent, reference, "respond", {"message": canary.text(f"{case}.second_respond")})
    await act(c.api, k.cs_agent, reference, "close")
    await c.wait_for_final(reference, "closed")
    await c.as_submitter(reference, "rating", {"score": 4, "comment": canary.text(f"{case}.rating")}, expect=201)
    return reference


async def escalated_and_instructed_over_tajawob(c: Callers, canary: Canary) -> str:
    """Tajawob complaint (the channel gets signed callbacks) that its department lets run late: escalation to the
    Director General, the DG's instruction, the department's reply, the answer; it closes when nobody contests."""
    case, k = "tajawob", c.keys
    reference = await c.open_case(k.channel, canary.submission(case, channel="tajawob"))
    await act(c.api, k.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await c.wait_for_step(reference, "escalated")
    await act(c.api, k.director_general, reference, "instruct", {"instruction": canary.text(f"{case}.instruction")})
    await act(c.api, k.department, reference, "reply", {"summary": canary.text(f"{case}.reply")})
    await act(c.api, k.cs_agent, reference, "respond", {"message": canary.text(f"{case}.respond")})
    await c.wait_for_final(reference, "closed")  # the contest window ends
    return reference


async def followed_and_contested_by_the_submitter(c: Callers, canary: Canary) -> str:
    """Website complaint the submitter follows with the tracking code: reads the question and answers it, contests
    the answer; an operator sends the DG's reply as a signal (as from the Temporal UI); the new answer is accepted."""
    case, k = "tracked", c.keys
    reference = await c.open_case(k.channel, canary.submission(case))
    await act(c.api, k.cs_agent, reference, "triage", {"department": DEPARTMENT})
    question = canary.text(f"{case}.question")
    await act(c.api, k.cs_agent, reference, "request-info", {"question": question})
    assert (await c.as_submitter(reference))["question"] == question
    await c.as_submitter(reference, "info", {"answer": canary.text(f"{case}.answer")})
    await act(c.api, k.department, reference, "reply", {"summary": canary.text(f"{case}.reply")})
    await act(c.api, k.cs_agent, reference, "respond", {"message": canary.text(f"{case}.respond")})
    await c.as_submitter(reference, "contest", {"reason": canary.text(f"{case}.contest")})

    summary = canary.text(f"{case}.operator_reply")
    await c.temporal.get_workflow_handle(workflow_id(reference)).signal(
        CaseWorkflow.reply_signal, DepartmentReply(Actor("director_general", None, "operator"), summary))
    await c.wait_until(reference, lambda view: summary in json.dumps(view["timeline"]), timeout=days(5))
    await act(c.api, k.cs_agent, reference, "respond", {"message": canary.text(f"{case}.second_respond")})
    await act(c.api, k.cs_agent, reference, "close")
    await c.wait_for_final(reference, "closed")
    return reference


async def refused_address_then_rejected(c: Callers, canary: Canary) -> str:
    """A suggestion taken by phone at the call centre, whose email address the mail server refuses for good (a
    delivery failure on the timeline); customer service rejects it with a reason."""
    case, k = "refused", c.keys
    submitter = canary.submitter(case, email_prefix=REFUSED_MARK)
    reference = await c.open_case(k.cs_agent, canary.submission(case, submitter, kind="suggestion", channel="phone"))
    await c.wait_for_step(reference, "delivery_failed")
    await act(c.api, k.cs_agent, reference, "reject", {"reason": canary.text(f"{case}.reject")})
    await c.wait_for_final(reference, "rejected")
    return reference


async def anonymous_report_left_to_breach(c: Callers, canary: Canary) -> str:
    """A critical report with no name, civil ID or contact: nobody replies, it escalates and breaches; then the
    DG replies, the answer is sent and accepted."""
    case, k = "anonymous", c.keys
    body = canary.submission(case, {"category": "community"}, kind="report", priority="critical")
    reference = await c.open_case(k.channel, body)
    await act(c.api, k.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await c.wait_for_step(reference, "breached")
    await act(c.api, k.director_general, reference, "reply", {"summary": canary.text(f"{case}.dg_reply")})
    await act(c.api, k.cs_agent, reference, "respond", {"message": canary.text(f"{case}.respond")})
    await act(c.api, k.cs_agent, reference, "close")
    await c.wait_for_final(reference, "closed")
    return reference


async def question_never_answered(c: Callers, canary: Canary) -> str:
    """The department asks a question the submitter never answers: the case closes by itself."""
    case, k = "unanswered", c.keys
    reference = await c.open_case(k.channel, canary.submission(case))
    await act(c.api, k.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(c.api, k.department, reference, "request-info", {"question": canary.text(f"{case}.question")})
    await c.wait_for_final(reference, "closed", timeout=days(25))
    return reference


JOURNEYS = (accepted_after_a_contest, escalated_and_instructed_over_tajawob, followed_and_contested_by_the_submitter,
            refused_address_then_rejected, anonymous_report_left_to_breach, question_never_answered)


# ------------------------------------------------------------------ where the markers must not be


def sqlite_files(data_dir: Path) -> bytes:
    """The dev server's SQLite database with its write-ahead log and index, byte for byte (deleted rows too)."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.glob("temporal.sqlite*")))


def sqlite_rows(database: Path) -> bytes:
    """Every value of every row, as SQLite reads it back: a value split over overflow pages reads whole here."""
    values: list[bytes] = []
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as connection:
        tables = [name for (name,) in connection.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            for row in connection.execute(f'select * from "{table}"'):
                values += [value if isinstance(value, bytes) else str(value).encode() for value in row]
    return b"\n".join(values)


def serialized(histories: Iterable[WorkflowHistory]) -> bytes:
    """The histories as Temporal hands them to any client, the Temporal UI without a codec among them."""
    return b"".join(event.SerializeToString() for history in histories for event in history.events)


def log_files(data_dir: Path) -> bytes:
    """The servers' own logs: the Temporal dev server's and PostgreSQL's."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.glob("*.log")))


def log_records(records: Iterable[logging.LogRecord]) -> bytes:
    """Each record as a handler would write it: the message, any traceback, and the extra fields a structured
    (JSON) handler would add."""
    formatter = logging.Formatter()
    written = [
        formatter.format(record) + repr(vars(record))
        for record in records if not record.name.startswith(OUTSIDE_PARTY_LOGGERS)
    ]
    return "\n".join(written).encode()


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload nested anywhere in a protobuf message: inputs, results, headers, memos, failures' details."""
    if isinstance(message, Payload):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue  # a number, a string, bytes or an enum
        if isinstance(value, Message):
            items = [value]
        elif hasattr(value, "values"):
            items = list(value.values())  # a map
        else:
            items = list(value)  # a repeated field
        for item in items:
            if isinstance(item, Message):
                yield from payloads_in(item)


async def opened(temporal: Client, histories: Iterable[WorkflowHistory]) -> bytes:
    """Every payload of the histories, decrypted with the codec the worker and the API use."""
    sealed = [payload for history in histories for event in history.events for payload in payloads_in(event)]
    return b"\n".join(payload.data for payload in await temporal.data_converter.payload_codec.decode(sealed))


def started_input(history: WorkflowHistory) -> Payload:
    return history.events[0].workflow_execution_started_event_attributes.input.payloads[0]


async def deliveries_settled(database, references: list[str]) -> None:
    """Wait until no message of these cases waits to be delivered: each is sent, failed or has no contact."""
    async def nothing_pending() -> bool:
        async with database.session() as session:
            pending = await session.exec(select(OutboxMessage.id).where(
                OutboxMessage.reference.in_(references), OutboxMessage.status == "pending"))
            return pending.first() is None

    await eventually(nothing_pending, timeout=days(30), interval=0.25)


@pytest.fixture
async def track(services, api) -> AsyncIterator[httpx.AsyncClient]:
    """The submitters' tracking routes, from an address of this test's own, so that no other test's calls count
    against its per-address limit; `api` keeps the worker running."""
    transport = httpx.ASGITransport(app=create_app(services=services), client=("192.0.2.15", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


@pytest.mark.timeout(600)  # the paths wait out real deadlines (escalation, breach, two windows) on a shared machine
async def test_no_marker_reaches_temporal_or_any_log_in_the_clear(
    api, track, keys, database, servers, temporal_client, http_sink, caplog, capfd
):
    caplog.set_level(logging.DEBUG)  # the root logger, and so every logger that does not set a level of its own
    for name in LOGGERS_AT_DEBUG:
        caplog.set_level(logging.DEBUG, logger=name)
    canary = Canary()
    callers = Callers(api, track, keys, temporal_client)
    async with asyncio.TaskGroup() as group:
        running = {journey.__name__: group.create_task(journey(callers, canary)) for journey in JOURNEYS}
    references = {name: task.result() for name, task in running.items()}
    await deliveries_settled(database, list(references.values()))
    tajawob = references["escalated_and_instructed_over_tajawob"]
    assert any(json.loads(callback.body)["reference"] == tajawob for callback in http_sink.at("/tajawob"))

    # The markers are really there: in the case records, and (sealed) in Temporal's histories.
    cases = [await read_case(api, keys.auditor, reference) for reference in references.values()]
    async with database.session() as session:
        ratings = (await session.exec(select(Rating.comment).where(Rating.reference.in_(references.values())))).all()
    assert canary.missing_from(json.dumps([cases, ratings]).encode()) == []
    histories = [await temporal_client.get_workflow_handle(workflow_id(r)).fetch_history() for r in references.values()]
    through_temporal = [where for where in canary.tokens if not where.endswith(NEVER_IN_TEMPORAL)]
    assert canary.missing_from(await opened(temporal_client, histories), through_temporal) == []

    places = {
        "Temporal's SQLite files": sqlite_files(servers.data_dir),
        "Temporal's SQLite rows": sqlite_rows(servers.data_dir / "temporal.sqlite"),
        "the histories Temporal serves": serialized(histories),
        "the servers' log files": log_files(servers.data_dir),
        "this process's log records": log_records(caplog.records),
        "this process's stdout and stderr": "".join(capfd.readouterr()).encode(),
    }
    # The search sees what Temporal wrote: a case's reference, and the very bytes of a sealed input, which a
    # payload in the clear would have been found as.
    assert references["accepted_after_a_contest"].encode() in places["Temporal's SQLite files"]
    assert started_input(histories[0]).data in places["Temporal's SQLite rows"]
    assert (servers.data_dir / "temporal.log").is_file()
    # It sees this process's logs too: the refused address's failure is logged by the worker (without the address).
    assert references["refused_address_then_rejected"].encode() in places["this process's log records"]

    hits = {place: canary.found_in(haystack) for place, haystack in places.items()}
    assert hits == {place: [] for place in places}


async def test_the_temporal_ui_shows_the_decoded_input_to_staff_with_a_key(api, keys, temporal_client):
    canary = Canary()
    created = await submit(api, keys.channel, canary.submission("ui"))
    history = await temporal_client.get_workflow_handle(workflow_id(created["reference"])).fetch_history()
    sealed = started_input(history)
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert canary.found_in(sealed.SerializeToString()) == []

    # What the Temporal UI posts to its codec endpoint: protobuf's JSON of the payloads, and the namespace.
    ui_request = json_format.MessageToDict(Payloads(payloads=[sealed]))
    for staff in (keys.auditor, keys.cs_agent):
        response = await api.post("/v1/codec/decode", json=ui_request,
                                  headers={**bearer(staff), "X-Namespace": "default"})
        assert response.status_code == 200, response.text
        (shown,) = json_format.ParseDict(response.json(), Payloads()).payloads
        assert shown.metadata["encoding"] == b"json/plain"
        assert json.loads(shown.data)["reference"] == created["reference"]
        assert canary.missing_from(shown.data) == []

    department = await api.post("/v1/codec/decode", json=ui_request, headers=bearer(keys.department))
    anonymous = await api.post("/v1/codec/decode", json=ui_request)
    assert (department.status_code, anonymous.status_code) == (403, 401)
    assert canary.found_in(department.content + anonymous.content) == []


async def test_only_the_temporal_ui_may_call_from_a_browser(api, services):
    def preflight(origin: str) -> httpx.Request:
        return api.options("/v1/codec/decode", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})

    allowed = await preflight(services.settings.resolved_codec_ui_origin())
    other = await preflight("http://evil.example")

    assert allowed.headers.get("access-control-allow-origin") == services.settings.resolved_codec_ui_origin()
    assert "access-control-allow-origin" not in other.headers
