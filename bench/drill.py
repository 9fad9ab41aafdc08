"""Fault drill: does the record in PostgreSQL stay the truth while workers die and starve?

Rerun: `.venv/bin/python bench/drill.py --cases 300 --seed 1` (about four minutes).

Starts its own servers (bench/stack.py), submits complaints on a compressed calendar through the real
API with client retries, and while their deadlines fall due (reminders, escalations, breaches,
Director General reminders) customer service rejects and triages some and departments reply, each
action retried on a 5xx with the same Idempotency-Key. Meanwhile the worker is SIGKILLed and started
again, and SIGSTOPped long enough for its workflow tasks to time out (a starved worker), so
tasks are lost between a step's commit and the task's completion. Then, with the faults over, it checks
every case:

1. its timeline holds exactly the steps its history recorded (numbers 1..M, once each), and every
   outbox row belongs to one of them;
2. its case row equals the workflow's state (status, level, breached, department, deadlines);
3. a staff action answered with an error that does not say it may have been applied did not happen,
   and no action happened twice;
4. every submission made exactly one case, and none answered with an error made one;
5. no Director General reminder followed another within half a working day (no catch-up burst);
and prints the counts. It exits 1 if any count that must be zero is not.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlmodel import select
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowQueryFailedError
from temporalio.service import RPCError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, running_stack  # noqa: E402
from core.verify import replay_failure  # noqa: E402
from domain.kinds import Role  # noqa: E402
from store.models import CaseRecord, OutboxMessage, TimelineEntry  # noqa: E402
from workflows.case import CaseWorkflow, workflow_id  # noqa: E402

DEPARTMENT = "CIVIL_STATUS"
ATTEMPTS = 6


@dataclass
class Answer:
    """What a client finally got for one request, after its retries."""

    what: str
    reference: str | None
    statuses: list[int] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)

    @property
    def final(self) -> int:
        return self.statuses[-1] if self.statuses else 0

    @property
    def says_it_may_have_happened(self) -> bool:
        last = self.bodies[-1] if self.bodies else {}
        return bool(last.get("error", {}).get("may_have_been_applied"))


async def with_retries(api: httpx.AsyncClient, path: str, body: dict, headers: dict, answer: Answer,
                       attempts: int = ATTEMPTS) -> Answer:
    """POST until an answer that is not a 5xx (or `attempts`), always with the same Idempotency-Key."""
    headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
    for attempt in range(attempts):
        try:
            response = await api.post(path, json=body, headers=headers, timeout=60)
            answer.statuses.append(response.status_code)
            answer.bodies.append(response.json())
            if response.status_code < 500:
                return answer
        except httpx.HTTPError:
            answer.statuses.append(0)
            answer.bodies.append({})
        await asyncio.sleep(1 + attempt)
    return answer


def complaint(number: int) -> dict:
    return {"kind": "complaint", "channel": "website", "channel_ref": f"drill-{number}",
            "submitter": {"category": "beneficiary", "civil_id": "12345678"},
            "subject": f"Drill {number}", "description": "A complaint of the fault drill."}


async def submit_all(api, key: str, count: int, rate: float) -> list[Answer]:
    async def one(number: int) -> Answer:
        await asyncio.sleep(number / rate)
        answer = Answer("submit", None)
        await with_retries(api, "/v1/cases", complaint(number), {"Authorization": f"Bearer {key}"}, answer)
        if answer.final in (200, 201):
            answer.reference = answer.bodies[-1]["reference"]
        return answer

    return await asyncio.gather(*(one(number) for number in range(count)))


async def act_on(api, rng: random.Random, references: list[str], keys: dict[str, str], day: float,
                 attempts: int = ATTEMPTS) -> list[Answer]:
    """Customer service rejects a quarter of the cases and triages another quarter (which its department then
    answers), at moments spread over the days when deadlines fall due; the other half nobody answers."""

    async def act(reference: str, what: str, path: str, body: dict, role: str, delay: float) -> Answer:
        await asyncio.sleep(delay)
        return await with_retries(api, f"/v1/cases/{reference}/{path}", body,
                                  {"Authorization": f"Bearer {keys[role]}"}, Answer(what, reference), attempts)

    async def triage_then_reply(reference: str, delay: float) -> list[Answer]:
        triaged = await act(reference, "triage", "triage", {"department": DEPARTMENT}, "cs", delay)
        replied = await act(reference, "reply", "reply", {"summary": f"answer to {reference}"}, "department",
                            rng.uniform(0.5, 3) * day)
        return [triaged, replied]

    jobs = []
    for reference in references:
        fate = rng.random()
        if fate < 0.25:
            jobs.append(act(reference, "reject", "reject", {"reason": "not genuine"}, "cs", rng.uniform(1, 6) * day))
        elif fate < 0.5:
            jobs.append(triage_then_reply(reference, rng.uniform(0.2, 2.5) * day))
    answers = []
    for result in await asyncio.gather(*jobs):
        answers.extend(result if isinstance(result, list) else [result])
    return answers


async def inflict(stack: Stack, rng: random.Random, until: float, kills: int, stops: int, stop_seconds: float,
                  log: list[str]) -> None:
    """SIGKILL the worker `kills` times (started again 1-2 s later) and SIGSTOP it `stops` times."""
    faults = ["kill"] * kills + ["stop"] * stops
    rng.shuffle(faults)
    gap = max(1.0, (until - time.monotonic()) / (len(faults) + 1))
    for fault in faults:
        await asyncio.sleep(rng.uniform(0.5, 1.5) * gap)
        worker = stack.processes["worker"]
        if fault == "kill":
            stack.kill("worker")
            await asyncio.sleep(rng.uniform(1, 2))
            stack.start("worker")
        else:
            worker.send_signal(signal.SIGSTOP)
            await asyncio.sleep(stop_seconds)
            worker.send_signal(signal.SIGCONT)
        log.append(f"{time.strftime('%H:%M:%S')} {fault}")


def marker_activity(event: dict) -> str | None:
    details = event.get("markerRecordedEventAttributes", {}).get("details", {})
    for payload in details.get("data", {}).get("payloads", []):
        try:
            return json.loads(base64.b64decode(payload["data"]))["activity_type"]
        except (KeyError, ValueError):
            return None
    return None


async def history_facts(stack: Stack, reference: str) -> tuple[int, Counter]:
    """(steps the history recorded, its workflow tasks that timed out by kind) for one case.

    START_TO_CLOSE is a task a worker took and never completed (lost: its work runs again);
    SCHEDULE_TO_START a task that waited on a worker's sticky queue and moved to the shared one (nothing lost).
    """
    history = await stack.services.temporal.get_workflow_handle(workflow_id(reference)).fetch_history()
    events = json.loads(history.to_json())["events"]
    steps = sum(1 for event in events if event["eventType"] == "EVENT_TYPE_MARKER_RECORDED"
                and marker_activity(event) == "record_step")
    timed_out = Counter(event["workflowTaskTimedOutEventAttributes"].get("timeoutType", "?")
                        .removeprefix("TIMEOUT_TYPE_")
                        for event in events if event["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT")
    return steps, timed_out


def step_number(key: str) -> int | None:
    """A workflow step's number from its key ("0018-reject"); None for other entries (a failed delivery's)."""
    prefix = key.split("-", 1)[0]
    return int(prefix) if prefix.isdigit() else None


async def record_of(stack: Stack, reference: str) -> tuple[CaseRecord, list[TimelineEntry], list[OutboxMessage]]:
    async with stack.database.snapshot() as session:
        row = await session.get(CaseRecord, reference)
        timeline = (await session.exec(select(TimelineEntry).where(TimelineEntry.reference == reference))).all()
        outbox = (await session.exec(select(OutboxMessage).where(OutboxMessage.reference == reference))).all()
    return row, list(timeline), list(outbox)


# A workflow whose task fails again and again answers no query; it is counted, not waited for.
QUERY_SECONDS = 10
ROW_FIELDS = ("status", "escalation_level", "breached", "department", "department_due", "answer_due")


async def case_problems(stack: Stack, reference: str) -> tuple[dict[str, int], Counter]:
    """The divergences of one case between its record and its workflow, by kind; and its timed-out tasks."""
    row, timeline, outbox = await record_of(stack, reference)
    recorded, timed_out = await history_facts(stack, reference)
    problems: Counter[str] = Counter()
    handle = stack.services.temporal.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
    try:
        view = await handle.query(CaseWorkflow.view, rpc_timeout=timedelta(seconds=QUERY_SECONDS))
    except (RPCTimeoutOrCancelledError, RPCError, WorkflowQueryFailedError) as error:
        await explain_no_answer(stack, reference, error)
        return {"workflows that answer no query": 1}, timed_out
    numbers = Counter(number for entry in timeline if (number := step_number(entry.step_key)) is not None)
    problems["phantom steps"] = sum(count for number, count in numbers.items() if number > recorded)
    problems["step numbers written twice"] = sum(count - 1 for count in numbers.values() if count > 1)
    problems["recorded steps missing"] = sum(1 for number in range(1, recorded + 1) if number not in numbers)
    problems["orphan outbox rows"] = sum(1 for message in outbox if step_number(message.message_key) > recorded)
    problems["cases never received"] = int(row is None)
    actions = Counter(entry.action for entry in timeline)
    problems["two reject entries"] = int(actions["reject"] > 1)
    problems["row differs from workflow"] = int(row is None or any(
        getattr(row, name) != getattr(view, name) for name in ROW_FIELDS))
    return {name: count for name, count in problems.items() if count}, timed_out


async def explain_no_answer(stack: Stack, reference: str, error: Exception) -> None:
    """Say why a workflow answers no query: its worker's message, and whether its history replays here.

    The history is kept in <data dir>/unanswered/, for a replay test (tests/replay/histories) to take up."""
    history = await stack.services.temporal.get_workflow_handle(workflow_id(reference)).fetch_history()
    folder = stack.data_dir / "unanswered"
    folder.mkdir(exist_ok=True)
    (folder / f"{reference}.json").write_text(history.to_json())
    failure = await replay_failure(history, stack.services.temporal.data_converter)
    print(f"  {reference} answers no query: {type(error).__name__}: {error}; "
          f"its history of {len(history.events)} events replays here "
          f"{'with ' + repr(failure) if failure else 'without a failure'}", flush=True)


async def check_every_case(stack: Stack, references: list[str], retries: int = 3) -> tuple[Counter, dict, Counter]:
    """Counts of divergences over every case (a case still busy is checked again a moment later)."""
    totals: Counter[str] = Counter()
    examples: dict[str, str] = {}
    timed_out_tasks: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(8)

    async def one(reference: str) -> None:
        async with semaphore:
            for _attempt in range(retries):
                problems, timed_out = await case_problems(stack, reference)
                if not problems:
                    break
                await asyncio.sleep(1.5)
        timed_out_tasks.update(timed_out)
        for name, count in problems.items():
            totals[name] += count
            examples.setdefault(name, reference)
        totals["cases with any divergence"] += int(bool(problems))

    started = time.monotonic()
    await asyncio.gather(*(one(reference) for reference in references))
    print(f"checked {len(references)} cases in {time.monotonic() - started:.0f} s")
    return totals, examples, timed_out_tasks


async def action_problems(stack: Stack, answers: list[Answer], key_ids: dict[str, int],
                          examples: dict[str, Answer] | None = None) -> Counter:
    """Counts of staff answers that lie about what happened; `examples` gets the first answer of each kind."""
    counts: Counter[str] = Counter()
    examples = {} if examples is None else examples
    actor_of = {"reject": f"cs_agent#{key_ids['cs']}", "triage": f"cs_agent#{key_ids['cs']}",
                "reply": f"department/{DEPARTMENT}#{key_ids['department']}"}
    for answer in answers:
        _, timeline, _ = await record_of(stack, answer.reference)
        happened = sum(1 for entry in timeline if entry.action == answer.what and entry.actor == actor_of[answer.what])
        counts[f"{answer.what} answered {answer.final}"] += 1
        wrong = [name for name, true in (("actions applied twice", happened > 1),
                                         # A final 0 is no answer at all (the API unreachable): it claims nothing.
                                         ("errors that took effect", answer.final not in (200, 0) and happened
                                          and not answer.says_it_may_have_happened),
                                         ("200s that did not happen", answer.final == 200 and not happened)) if true]
        for name in wrong:
            counts[name] += 1
            examples.setdefault(name, answer)
        if any(status == 503 for status in answer.statuses):
            counts["actions that met a 503 on the way"] += 1
    return counts


async def reminder_bursts(stack: Stack, references: list[str], day: float) -> int:
    async with stack.database.session() as session:
        rows = (await session.exec(
            select(TimelineEntry.reference, TimelineEntry.at)
            .where(TimelineEntry.reference.in_(references), TimelineEntry.action == "director_general_reminded")
            .order_by(TimelineEntry.reference, TimelineEntry.at))).all()
    by_case = defaultdict(list)
    for reference, at in rows:
        by_case[reference].append(at)
    return sum(1 for ats in by_case.values() for earlier, later in zip(ats, ats[1:], strict=False)
               if later - earlier < timedelta(seconds=day / 2))


async def intake_problems(stack: Stack, submissions: list[Answer]) -> Counter:
    counts: Counter[str] = Counter(f"submissions answered {answer.final}" for answer in submissions)
    async with stack.database.session() as session:
        subjects = Counter((await session.exec(select(CaseRecord.subject))).all())
    counts["submissions that made two cases"] = sum(1 for count in subjects.values() if count > 1)
    for number, answer in enumerate(submissions):
        if answer.final not in (200, 201) and subjects[f"Drill {number}"]:
            counts["errors that made a case"] += 1
    return counts


MUST_BE_ZERO = ("cases with any divergence", "workflows that answer no query", "cases never received",
                "phantom steps", "step numbers written twice", "recorded steps missing",
                "orphan outbox rows", "two reject entries", "row differs from workflow", "actions applied twice",
                "errors that took effect", "200s that did not happen", "submissions that made two cases",
                "errors that made a case", "reminder bursts")


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    day = args.working_day_seconds
    async with running_stack(day, keep_data=args.keep_data) as stack:
        key_ids, keys = {}, {}
        for name, role, department in (("channel", Role.CHANNEL, None), ("cs", Role.CS_AGENT, None),
                                       ("department", Role.DEPARTMENT, DEPARTMENT)):
            key_ids[name], keys[name] = await stack.key(role, department)
        async with stack.api() as api:
            started = time.monotonic()
            # Deadlines: department reminder after 2 days, department due after 3, answer due after 5, then the DG
            # daily.
            fault_log: list[str] = []
            faults = asyncio.create_task(inflict(stack, rng, started + args.fault_days * day, args.kills, args.stops,
                                                 args.stop_seconds, fault_log))
            submissions = await submit_all(api, keys["channel"], args.cases, args.rate)
            references = [answer.reference for answer in submissions if answer.reference]
            print(f"{len(references)} of {args.cases} complaints accepted in {time.monotonic() - started:.0f} s")
            answers = await act_on(api, rng, references, keys, day)
            await faults
            print(f"faults: {', '.join(fault_log)}")
        print(f"faults over at {time.monotonic() - started:.0f} s; "
              f"letting the worker catch up for {args.settle_seconds:.0f} s")
        await asyncio.sleep(args.settle_seconds)
        totals, examples, timed_out = await check_every_case(stack, references)
        totals.update(await action_problems(stack, answers, key_ids))
        totals.update(await intake_problems(stack, submissions))
        totals["reminder bursts"] = await reminder_bursts(stack, references, day)
        print("workflow tasks timed out over all cases: "
              + ", ".join(f"{count} {kind.lower().replace('_', '-')}" for kind, count in sorted(timed_out.items())))
        for name in sorted(totals):
            flag = "  <-- must be 0" if name in MUST_BE_ZERO and totals[name] else ""
            print(f"  {name:<40} {totals[name]:>6}{flag}" + (f"  e.g. {examples[name]}" if name in examples else ""))
        failed = [name for name in MUST_BE_ZERO if totals[name]]
        print("DRILL FAILED: " + ", ".join(failed) if failed else "drill passed: every count that must be 0 is 0")
        return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--working-day-seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=20.0, help="submissions per second")
    parser.add_argument("--kills", type=int, default=8, help="SIGKILLs of the worker")
    parser.add_argument("--stops", type=int, default=4, help="SIGSTOPs of the worker (a starved worker)")
    parser.add_argument("--stop-seconds", type=float, default=12.0,
                        help="how long a stopped worker stays stopped (past the 10 s workflow task timeout)")
    parser.add_argument("--fault-days", type=float, default=9.0, help="working days over which faults are spread")
    parser.add_argument("--settle-seconds", type=float, default=30.0)
    parser.add_argument("--keep-data", action="store_true")
    code = asyncio.run(run(parser.parse_args()))
    sys.stdout.flush()
    # Skip interpreter teardown: a Temporal client can abort or hang it (temporalio/sdk-python#300).
    os._exit(code)


if __name__ == "__main__":
    main()
