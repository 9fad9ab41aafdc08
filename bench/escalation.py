"""How late do escalations and breaches fire? Rerun: `.venv/bin/python bench/escalation.py --cases 200`.

Starts its own PostgreSQL and Temporal dev server (temp data dir), a worker process on a compressed
calendar, submits complaints through the real API app, nobody answers, and measures for every case
how long after its deadline the workflow recorded `escalated` (department due) and `breached`
(answer due). With --kill-worker, the worker is SIGKILLed while the cases wait and started again,
and the run also checks that every timeline entry and outbox message exists exactly once.
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
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import DIRECTOR_GENERAL_EMAIL, running_stack  # noqa: E402
from domain.kinds import Role  # noqa: E402
from store.db import Database  # noqa: E402
from store.models import OutboxMessage, TimelineEntry  # noqa: E402


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


async def run(args: argparse.Namespace) -> None:
    async with running_stack(args.working_day_seconds, keep_data=args.keep_data, mail=args.mail) as stack:
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
        await asyncio.sleep(max(0.0, (last_answer_due - datetime.now(last_answer_due.tzinfo)).total_seconds())
                            + args.settle_seconds)
        problems, duplicates = await report(stack.database, references, due)
        if args.mail:
            report_mail(stack.data_dir / "mail")
        if problems:
            worker_log = stack.data_dir / "worker.log"
            print("worker log tail:\n" + "\n".join(worker_log.read_text().splitlines()[-15:]))
        if problems or duplicates:
            sys.exit(1)


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
    parser.add_argument("--down-seconds", type=float, default=2.0, help="how long the worker stays dead")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
