"""How late do escalations and breaches fire? Rerun: `.venv/bin/python bench/escalation.py --cases 200`.

Starts its own PostgreSQL and Temporal dev server (temp data dir), a worker process on a compressed
calendar, submits complaints through the real API app, nobody answers, and measures for every case
how long after its deadline the workflow recorded `escalated` (department due) and `breached`
(answer due). With --kill-worker, the worker is SIGKILLed while the cases wait and started again,
and the run also checks that every timeline entry and outbox message exists exactly once.

It ends with the CPU the case workers and the sender spent per recorded step, and the workflow tasks
that timed out. `--workers 2` runs two case-worker processes; `--until-complete 600` waits (up to
600 s) for every case to escalate and breach instead of settling, printing the count every 10 s: the
1 000-case burst is `--cases 1000 --working-day-seconds 2 --until-complete 900`.
"""

import argparse
import asyncio
import email.policy
import statistics
import sys
import time
from collections import Counter
from datetime import datetime
from email.parser import BytesParser
from pathlib import Path

import httpx
from sqlmodel import func, select
from temporalio.api.enums.v1 import TimeoutType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import DIRECTOR_GENERAL_EMAIL, cpu_seconds, running_stack  # noqa: E402
from domain.kinds import Role  # noqa: E402
from store.db import Database  # noqa: E402
from store.models import OutboxMessage, TimelineEntry  # noqa: E402
from workflows.case import workflow_id  # noqa: E402


def describe(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (f"{name:<22} n={len(ordered):<4} median={statistics.median(ordered) * 1000:7.1f} ms  "
            f"p95={p95 * 1000:7.1f} ms  worst={ordered[-1] * 1000:7.1f} ms  earliest={ordered[0] * 1000:7.1f} ms")


async def submit_all(api: httpx.AsyncClient, key: str, count: int, rate: float | None) -> list[dict]:
    body = {
        "kind": "complaint", "channel": "website",
        "submitter": {"category": "beneficiary", "civil_id": "12345678"},
        "subject": "Benchmark", "description": "Nobody answers this complaint.",
    }
    semaphore = asyncio.Semaphore(16)

    async def one(number: int) -> dict:
        if rate:
            await asyncio.sleep(number / rate)
        async with semaphore:
            response = await api.post("/v1/cases", json={**body, "channel_ref": f"bench-{number}"},
                                      headers={"Authorization": f"Bearer {key}"})
            response.raise_for_status()
            return response.json()

    return await asyncio.gather(*(one(number) for number in range(count)))


async def entries_by_case(database: Database, references: list[str]) -> dict[str, list[TimelineEntry]]:
    async with database.session() as session:
        rows = (await session.exec(select(TimelineEntry).where(TimelineEntry.reference.in_(references)))).all()
    grouped: dict[str, list[TimelineEntry]] = {reference: [] for reference in references}
    for row in rows:
        grouped[row.reference].append(row)
    return grouped


async def run(args: argparse.Namespace) -> int:
    """The bench's exit status: 1 when a case missed or repeated a step, or a message was queued twice."""
    async with running_stack(args.working_day_seconds, keep_data=args.keep_data, mail=args.mail) as stack:
        for number in range(2, args.workers + 1):
            stack.start("worker", name=f"worker-{number}")
        _, key = await stack.key(Role.CHANNEL)
        async with stack.api() as api:
            started = time.monotonic()
            created = await submit_all(api, key, args.cases, args.rate)
            print(f"submitted {len(created)} complaints in {time.monotonic() - started:.1f}s "
                  f"(1 working day = {args.working_day_seconds}s: department due after 3, answer due after 5)")
        references = [case["reference"] for case in created]
        due = {case["reference"]: (datetime.fromisoformat(case["department_due"]),
                                   datetime.fromisoformat(case["answer_due"])) for case in created}
        if args.kill_worker:
            await asyncio.sleep(args.working_day_seconds * 2)
            stack.kill("worker")
            killed_at = time.monotonic()
            print(f"worker SIGKILLed; restarting it after {args.down_seconds}s")
            await asyncio.sleep(args.down_seconds)
            stack.start("worker")
            print(f"worker restarted {time.monotonic() - killed_at:.1f}s after the kill")
        last_answer_due = max(answer for _, answer in due.values())
        await asyncio.sleep(max(0.0, (last_answer_due - datetime.now(last_answer_due.tzinfo)).total_seconds()))
        if args.until_complete:
            await drain(stack.database, references, args.until_complete)
        else:
            await asyncio.sleep(args.settle_seconds)
        problems, duplicates = await report(stack.database, references, due)
        await report_cpu(stack, references)
        await report_workflow_tasks(stack, references)
        if args.mail:
            report_mail(stack.data_dir / "mail")
        if problems:
            worker_log = stack.data_dir / "worker.log"
            print("worker log tail:\n" + "\n".join(worker_log.read_text().splitlines()[-15:]))
    # Not sys.exit inside the stack: raised there, it left the stack's cleanup to asyncio's shutdown, which hung.
    return 1 if problems or duplicates else 0


async def report(database: Database, references: list[str], due: dict) -> tuple[list[str], list]:
    """Print the lateness of escalations and breaches; return the cases with a missing or repeated step,
    and the messages queued twice."""
    grouped = await entries_by_case(database, references)
    escalation, breach, problems = [], [], []
    for reference, entries in grouped.items():
        actions = Counter(entry.action for entry in entries)
        if actions["escalated"] != 1 or actions["breached"] != 1 or actions["received"] != 1:
            problems.append(f"{reference}: {dict(actions)}")
            continue
        at = {entry.action: entry.at for entry in entries}
        escalation.append((at["escalated"] - due[reference][0]).total_seconds())
        breach.append((at["breached"] - due[reference][1]).total_seconds())
    async with database.session() as session:
        messages = (await session.exec(select(OutboxMessage).where(OutboxMessage.reference.in_(references)))).all()
    per_case = Counter((message.reference, message.template) for message in messages)
    # The DG is reminded of a breach every working day; every other message of this path is sent once.
    duplicates = [key for key, count in per_case.items() if count > 1 and key[1] != "breach_reminder"]
    if escalation:
        print(describe("escalation lateness", escalation))
        print(describe("breach lateness", breach))
    print(f"cases with a missing or repeated step: {len(problems)}; duplicated outbox messages: {len(duplicates)}")
    for problem in problems[:10]:
        print("  ", problem)
    return problems, duplicates


async def cases_complete(database: Database, references: list[str]) -> int:
    """Cases whose escalation and breach are both recorded."""
    async with database.session() as session:
        done = (await session.exec(
            select(TimelineEntry.reference).where(TimelineEntry.reference.in_(references),
                                                  TimelineEntry.action.in_(("escalated", "breached")))
            .group_by(TimelineEntry.reference).having(func.count(func.distinct(TimelineEntry.action)) == 2)
        )).all()
    return len(done)


async def drain(database: Database, references: list[str], limit: float, every: float = 10.0) -> None:
    """After the last answer due: the cases complete every `every` seconds, until all are or `limit` passes."""
    started = time.monotonic()
    while True:
        complete = await cases_complete(database, references)
        elapsed = time.monotonic() - started
        print(f"  {elapsed:5.0f} s after the last answer due: {complete} of {len(references)} complete", flush=True)
        if complete == len(references) or elapsed > limit:
            return
        await asyncio.sleep(every)


async def report_workflow_tasks(stack, references: list[str]) -> None:
    """Over every case's history: how long its workflow tasks ran (started to completed: what a backlog must
    keep short), and those that timed out, by kind. START_TO_CLOSE is a task a worker took and never finished
    (its work runs again); SCHEDULE_TO_START one that waited on the worker's sticky queue past its 3 s and went
    to the shared queue (nothing lost, nothing run twice)."""
    semaphore = asyncio.Semaphore(16)

    async def figures_of(reference: str) -> tuple[list[float], Counter]:
        async with semaphore:
            history = await stack.services.temporal.get_workflow_handle(workflow_id(reference)).fetch_history()
        started, durations, timeouts = {}, [], Counter()
        for event in history.events:
            kind = event.WhichOneof("attributes")
            if kind == "workflow_task_started_event_attributes":
                started[event.event_id] = event.event_time.ToDatetime()
            elif kind == "workflow_task_completed_event_attributes":
                began = started[event.workflow_task_completed_event_attributes.started_event_id]
                durations.append((event.event_time.ToDatetime() - began).total_seconds())
            elif kind == "workflow_task_timed_out_event_attributes":
                timeouts[TimeoutType.Name(event.workflow_task_timed_out_event_attributes.timeout_type)
                         .removeprefix("TIMEOUT_TYPE_")] += 1
        return durations, timeouts

    results = await asyncio.gather(*(figures_of(reference) for reference in references))
    durations = [seconds for case_durations, _ in results for seconds in case_durations]
    timeouts = sum((case_timeouts for _, case_timeouts in results), Counter())
    print(describe("workflow task", durations) + f"  over 5 s: {sum(1 for seconds in durations if seconds > 5)}")
    print(f"workflow tasks timed out: {dict(timeouts) or 'none'}")


async def report_cpu(stack, references: list[str]) -> None:
    """CPU the case workers and the sender spent, in all and per step recorded: the cost of a step, which
    bounds how fast a backlog drains."""
    async with stack.database.session() as session:
        steps = (await session.exec(select(func.count()).select_from(TimelineEntry)
                                    .where(TimelineEntry.reference.in_(references)))).one()
    workers = sum(cpu_seconds(process) for name, process in stack.processes.items() if name.startswith("worker"))
    sender = cpu_seconds(stack.processes["delivery"])
    per_step = 1000 / max(steps, 1)
    print(f"steps recorded: {steps}; CPU: case workers {workers:.1f} s ({workers * per_step:.1f} ms a step), "
          f"sender {sender:.1f} s ({sender * per_step:.1f} ms a step)")


def report_mail(folder: Path) -> None:
    """How many emails the Director General got (digests apart) and everyone else."""
    parser = BytesParser(policy=email.policy.default)
    to_director_general, others = Counter(), 0
    for path in folder.glob("*.eml"):
        message = parser.parsebytes(path.read_bytes(), headersonly=True)
        if message["To"] == DIRECTOR_GENERAL_EMAIL:
            digest = message["Message-ID"].startswith("<digest.")
            to_director_general["daily digest" if digest else "about one case"] += 1
        else:
            others += 1
    print(f"emails to the Director General: {sum(to_director_general.values())} "
          f"({', '.join(f'{count} {kind}' for kind, count in sorted(to_director_general.items())) or 'none'}); "
          f"to everyone else: {others}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--working-day-seconds", type=float, default=4.0)
    parser.add_argument("--keep-data", action="store_true", help="keep the servers' data and logs")
    parser.add_argument("--rate", type=float, help="submissions per second (default: as fast as the API takes them)")
    parser.add_argument("--kill-worker", action="store_true", help="SIGKILL the worker while the cases wait")
    parser.add_argument("--settle-seconds", type=float, default=5.0, help="how long to wait after the last answer due")
    parser.add_argument("--mail", action="store_true", help="send email to a mail sink and count the DG's messages")
    parser.add_argument("--until-complete", type=float, metavar="SECONDS",
                        help="instead of settling, wait up to this long for every case to escalate and breach, "
                             "printing how many have every 10 s")
    parser.add_argument("--workers", type=int, default=1, help="case worker processes (the sender is one more)")
    parser.add_argument("--down-seconds", type=float, default=2.0, help="how long the worker stays dead")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
