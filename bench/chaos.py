"""Fault suite: what the system survives. `make chaos` runs it in full; `--short` is its quick version in `make test`.

Rerun: `.venv/bin/python bench/chaos.py` (about ten minutes) or `.venv/bin/python bench/chaos.py --short`.

Starts the dev stack's real processes (bench/stack.py: PostgreSQL, the Temporal dev server on its SQLite
file, the worker, the sender, the mail sink) and the API as its own process (`complaints api`, uvicorn),
then runs one phase per fault. In each phase complaints are submitted through the API over HTTP, each
with its own email address and a channel_ref, retried on an error or a broken connection with the same
Idempotency-Key; customer service rejects and triages some and the department replies (bench/drill.py's
staff); on a compressed calendar they are reminded, escalate and breach while the faults land:

- the worker SIGKILLed and started again;
- the sender SIGKILLed and started again;
- the Temporal server SIGKILLed and started again on its file;
- PostgreSQL stopped (SIGSTOP of the postmaster and every backend) and continued;
- PostgreSQL's postmaster SIGKILLed, and the server started again once its backends are gone;
- the API SIGKILLed in the middle of a burst of submissions, and started again.

With the faults over and the stack settled, it counts for the cases of each phase: accepted (a 201 or
200 at last), in PostgreSQL, with a workflow; steps missing from the record, or extra (a number written
twice, a step the history lacks; bench/drill.py's check against the history's `record_step` markers);
messages lost (a delivery marked sent that the SMTP server never kept, or one never sent) and
duplicated (copies of one Message-ID) per thousand kept; and the differences `complaints verify`
lists (core/verify.py), plus staff answers that lie (bench/drill.py). It prints a table and exits 1 if
any count that must be zero is not. Duplicates are reported, not failed: a sender killed between the
SMTP server's 250 and its record sends the message again, with the same Message-ID.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy as email_policy
from email.parser import BytesParser
from pathlib import Path

import httpx
from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.delivery import polling  # noqa: E402
from bench.drill import (  # noqa: E402
    Answer,
    act_on,
    action_problems,
    check_every_case,
    complaint,
    with_retries,
)
from bench.stack import Stack, running_stack  # noqa: E402
from core.embedded import free_port  # noqa: E402
from core.mailsink import MailFolder  # noqa: E402
from core.verify import find_divergences  # noqa: E402
from domain.kinds import Role  # noqa: E402
from store.models import CaseRecord, Delivery, OutboxMessage  # noqa: E402
from workflows.case import workflow_id  # noqa: E402

DEPARTMENT = "CIVIL_STATUS"
# A submission is retried this many times (pauses of 1, 2, ... s: about 3.5 minutes in all), so a channel
# outlasts a 60-second outage of any part and an API that takes long to start again on a loaded machine, as
# a channel's integration would. Staff give up sooner (bench/drill.py's retries); closing time in between.
SUBMISSION_ATTEMPTS = 20
CLOSING_ATTEMPTS = 12


@dataclass
class Sizes:
    """How big a run is: the full one, or the short one of `make test`."""

    cases_per_phase: int
    phase_seconds: float
    working_day_seconds: float
    worker_kills: int
    sender_kills: int
    temporal_kills: int
    postgres_stop_seconds: float
    postgres_kills: int
    api_kills: int
    burst_cases: int
    settle_seconds: float


FULL = Sizes(cases_per_phase=20, phase_seconds=60, working_day_seconds=30, worker_kills=10, sender_kills=5,
             temporal_kills=1, postgres_stop_seconds=60, postgres_kills=1, api_kills=1, burst_cases=60,
             settle_seconds=60)
SHORT = Sizes(cases_per_phase=8, phase_seconds=8, working_day_seconds=2, worker_kills=1, sender_kills=1,
              temporal_kills=0, postgres_stop_seconds=8, postgres_kills=0, api_kills=1, burst_cases=20,
              settle_seconds=20)


@dataclass
class Phase:
    """One fault, what it did, and the submissions made while it lasted."""

    name: str
    count: int
    inflict: Callable[["Chaos"], Awaitable[None]]
    burst: bool = False
    injected: int = 0
    submissions: list[Answer] = field(default_factory=list)
    numbers: range = range(0)

    @property
    def references(self) -> list[str]:
        return sorted({answer.reference for answer in self.submissions if answer.reference})


# ---------------------------------------------------------------------------------------------- the processes


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a postmaster's backends), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command may hold spaces and parentheses: the parent pid is the second field after the last ")".
            if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


async def gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]:
            return True
        await asyncio.sleep(0.1)
    return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


class Chaos:
    """The running stack with the API as a process of its own, and the faults that can befall each part."""

    def __init__(self, stack: Stack, api_port: int, rng: random.Random, sizes: Sizes) -> None:
        self.stack = stack
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.rng = rng
        self.sizes = sizes
        self.log: list[str] = []
        self.burst_started = asyncio.Event()
        self.burst_accepted = 0

    def note(self, what: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {what}")
        print(f"  {time.strftime('%H:%M:%S')} {what}", flush=True)

    async def api_ready(self, timeout: float = 180) -> None:
        """Until the API answers /healthz at all (a 503 counts: it is up, a part behind it is not)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.api_url) as client:
            while True:
                try:
                    await client.get("/healthz", timeout=5)
                    return
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the API did not answer within {timeout:.0f} s") from None
                    await asyncio.sleep(0.2)

    async def kill_part(self, part: str) -> None:
        """SIGKILL the worker, the sender or the API, and start it again 1-2 s later."""
        await asyncio.to_thread(self.stack.kill, part)
        self.note(f"{part} SIGKILLed")
        await asyncio.sleep(self.rng.uniform(1, 2))
        log = self.stack.data_dir / f"{part}.log"
        since = log.stat().st_size
        self.stack.start(part)
        # Back at work before the next fault, so that each kill lands on a worker that has tasks in hand.
        await (self.api_ready() if part == "api" else polling(log, since, timeout=180))

    async def kill_temporal(self) -> None:
        process, _ = self.stack.servers["temporal"]
        process.kill()
        await asyncio.to_thread(process.wait)
        self.note("Temporal server SIGKILLed")
        await asyncio.sleep(self.rng.uniform(2, 4))
        await asyncio.to_thread(self.stack.restart_server, "temporal")
        self.note("Temporal server started again on its file")

    async def stop_postgres(self, seconds: float) -> None:
        postmaster, _ = self.stack.servers["postgres"]
        # Every process of the server: a stopped postmaster alone would leave the open connections answering.
        processes = [postmaster.pid, *children_of(postmaster.pid)]
        signal_all(processes, signal.SIGSTOP)
        self.note(f"PostgreSQL SIGSTOPped ({len(processes)} processes) for {seconds:.0f} s")
        await asyncio.sleep(seconds)
        signal_all(processes, signal.SIGCONT)
        self.note("PostgreSQL continued")

    async def kill_postgres(self) -> None:
        postmaster, _ = self.stack.servers["postgres"]
        backends = children_of(postmaster.pid)
        postmaster.kill()
        await asyncio.to_thread(postmaster.wait)
        self.note("PostgreSQL's postmaster SIGKILLed")
        # The orphaned backends notice the postmaster's death and exit; a new server cannot start beside them.
        if not await gone(backends, 30):
            signal_all(backends, signal.SIGKILL)
            await gone(backends, 10)
        await asyncio.sleep(self.rng.uniform(1, 3))
        await asyncio.to_thread(self.stack.restart_server, "postgres")
        self.note("PostgreSQL started again (crash recovery)")

    async def kill_api_in_burst(self) -> None:
        """SIGKILL the API once a third of the burst has been answered, while the rest is in flight."""
        await self.burst_started.wait()
        while self.burst_accepted < self.sizes.burst_cases // 3:
            await asyncio.sleep(0.02)
        await asyncio.sleep(self.rng.uniform(0, 0.3))
        await self.kill_part("api")


def phases(sizes: Sizes) -> list[Phase]:
    every = [
        Phase("worker SIGKILL", sizes.worker_kills, lambda chaos: chaos.kill_part("worker")),
        Phase("sender SIGKILL", sizes.sender_kills, lambda chaos: chaos.kill_part("delivery")),
        Phase("Temporal SIGKILL+restart", sizes.temporal_kills, lambda chaos: chaos.kill_temporal()),
        Phase(f"PostgreSQL SIGSTOP {sizes.postgres_stop_seconds:.0f} s", 1,
              lambda chaos: chaos.stop_postgres(sizes.postgres_stop_seconds)),
        Phase("PostgreSQL SIGKILL+restart", sizes.postgres_kills, lambda chaos: chaos.kill_postgres()),
        Phase("API SIGKILL in a burst", sizes.api_kills, lambda chaos: chaos.kill_api_in_burst(), burst=True),
    ]
    return [phase for phase in every if phase.count]


# ---------------------------------------------------------------------------------------------- the clients


def submitter_address(number: int) -> str:
    return f"chaos-{number:05d}@example.om"


def complaint_with_email(number: int) -> dict:
    """The drill's complaint, from an address of its own, so that its acknowledgement goes over SMTP too."""
    body = complaint(number)
    return {**body, "submitter": {**body["submitter"], "email": submitter_address(number)}}


async def submit(api: httpx.AsyncClient, key: str, number: int, delay: float) -> Answer:
    await asyncio.sleep(delay)
    answer = Answer("submit", None)
    await with_retries(api, "/v1/cases", complaint_with_email(number), {"Authorization": f"Bearer {key}"}, answer,
                       attempts=SUBMISSION_ATTEMPTS)
    if answer.final in (200, 201):
        answer.reference = answer.bodies[-1]["reference"]
    return answer


async def run_phase(chaos: Chaos, phase: Phase, api: httpx.AsyncClient, keys: dict[str, str], first: int,
                    staff: list[asyncio.Task]) -> None:
    """Submissions spread over the phase (or one burst), the phase's faults among them; staff act later."""
    sizes = chaos.sizes
    print(f"{phase.name}: {phase.count} fault(s)", flush=True)
    count = sizes.burst_cases if phase.burst else sizes.cases_per_phase
    phase.numbers = range(first, first + count)
    spread = 0 if phase.burst else sizes.phase_seconds

    async def faults() -> None:
        gap = sizes.phase_seconds / (phase.count + 1)
        for _ in range(phase.count):
            if not phase.burst:
                await asyncio.sleep(chaos.rng.uniform(0.5, 1.0) * gap)
            await phase.inflict(chaos)
            phase.injected += 1

    async def one(number: int) -> Answer:
        answer = await submit(api, keys["channel"], number, spread * (number - first) / count)
        chaos.burst_accepted += int(answer.reference is not None)
        return answer

    chaos.burst_accepted = 0
    if phase.burst:
        chaos.burst_started.set()
    injecting = asyncio.create_task(faults())
    phase.submissions = list(await asyncio.gather(*(one(number) for number in phase.numbers)))
    await injecting
    chaos.burst_started.clear()
    accepted = phase.references
    print(f"  {len(accepted)} of {count} accepted", flush=True)
    staff.append(asyncio.create_task(act_on(api, chaos.rng, accepted, keys, sizes.working_day_seconds)))


async def close_every_case(api: httpx.AsyncClient, key: str, references: list[str]) -> list[Answer]:
    """Customer service ends every case still open: rejects those being handled, responds to and closes those the
    department answered. Every workflow then ends, and its record is compared with a workflow at rest rather
    than one that takes a Director General reminder every working day."""
    semaphore = asyncio.Semaphore(16)
    headers = {"Authorization": f"Bearer {key}"}

    async def close(reference: str) -> list[Answer]:
        async with semaphore:
            response = await api.get(f"/v1/cases/{reference}", headers=headers, timeout=60)
            status = response.json().get("status") if response.status_code == 200 else None
            steps = {"received": [("reject", {"reason": "closing time"})],
                     "with_department": [("reject", {"reason": "closing time"})],
                     "replied": [("respond", {"message": "the department's answer"}), ("close", {})],
                     "responded": [("close", {})]}.get(status, [])
            return [await with_retries(api, f"/v1/cases/{reference}/{what}", body, headers, Answer(what, reference),
                                       CLOSING_ATTEMPTS) for what, body in steps]

    answers = [answer for answers in await asyncio.gather(*(close(reference) for reference in references))
               for answer in answers]
    print(f"closing time: {Counter(f'{answer.what} {answer.final}' for answer in answers)}", flush=True)
    return answers


async def until_every_workflow_ended(stack: Stack, references: list[str], seconds: float) -> int:
    """Wait for the closed cases' workflows to end; the number still running when time is up."""
    deadline = time.monotonic() + seconds
    running = list(references)
    while running and time.monotonic() < deadline:
        await asyncio.sleep(1)
        states = await asyncio.gather(*(still_running(stack, reference) for reference in running))
        running = [reference for reference, state in zip(running, states, strict=True) if state]
    return len(running)


async def still_running(stack: Stack, reference: str) -> bool:
    try:
        description = await stack.services.temporal.get_workflow_handle(workflow_id(reference)).describe()
    except Exception:  # noqa: BLE001 (no workflow: nothing to wait for; the count says so)
        return False
    return description.status == WorkflowExecutionStatus.RUNNING


# ---------------------------------------------------------------------------------------------- the counts


@dataclass
class Row:
    fault: str
    planned: int
    injected: int
    submitted: int = 0
    accepted: int = 0
    in_postgres: int = 0
    workflows: int = 0
    steps_missing: int = 0
    steps_extra: int = 0
    messages_kept: int = 0
    messages_lost: int = 0
    messages_duplicated: int = 0
    verify_differences: int = 0
    other: Counter = field(default_factory=Counter)

    def per_thousand(self, count: int) -> str:
        return f"{1000 * count / self.messages_kept:.1f}" if self.messages_kept else "-"

    @property
    def must_be_zero(self) -> int:
        """How many things went wrong: every case accepted, recorded and running once, nothing lost or extra."""
        return (self.injected != self.planned) + (self.accepted != self.submitted) \
            + (self.accepted != self.in_postgres or self.in_postgres != self.workflows) + self.steps_missing \
            + self.steps_extra + self.messages_lost + self.verify_differences + sum(self.other.values())


def kept_message_ids(folder: Path) -> Counter:
    """Copies of each Message-ID the SMTP server kept, by the delivery's idempotency key."""
    parser = BytesParser(policy=email_policy.default)
    copies: Counter[str] = Counter()
    for path in MailFolder(folder).messages():
        message_id = str(parser.parsebytes(path.read_bytes(), headersonly=True)["Message-ID"] or "")
        copies[message_id.strip("<>").partition("@")[0]] += 1
    return copies


async def case_rows(stack: Stack) -> dict[str, list[str]]:
    """The case rows by subject ("Drill <n>"): a submission that made two cases has two."""
    async with stack.database.snapshot() as session:
        rows = (await session.exec(select(CaseRecord.subject, CaseRecord.reference))).all()
    by_subject: dict[str, list[str]] = {}
    for subject, reference in rows:
        by_subject.setdefault(subject, []).append(reference)
    return by_subject


async def has_workflow(stack: Stack, reference: str) -> bool:
    try:
        await stack.services.temporal.get_workflow_handle(workflow_id(reference)).describe()
        return True
    except Exception:  # noqa: BLE001 (not found, or not answering: either way it is not counted)
        return False


async def settle(stack: Stack, seconds: float) -> None:
    """Wait until no message is pending (or `seconds`), then until the SMTP server has kept nothing new for 3 s."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with stack.database.snapshot() as session:
            pending = len((await session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "pending")))
                          .all())
        if not pending:
            break
        await asyncio.sleep(1)
    folder, count, since = stack.data_dir / "mail", -1, time.monotonic()
    while time.monotonic() - since < 3 and time.monotonic() < deadline + 30:
        now = len(list(folder.glob("*.eml")))
        if now != count:
            count, since = now, time.monotonic()
        await asyncio.sleep(0.5)


async def message_counts(stack: Stack, references: set[str]) -> tuple[Counter, Counter, Counter]:
    """By case: messages kept, lost, and extra copies.

    Lost: an email delivery marked sent whose Message-ID the server never kept, a message still pending a
    minute after it was queued, or one that failed (the sink refuses nothing, so a failure is ours).
    """
    async with stack.database.snapshot() as session:
        deliveries = (await session.exec(select(Delivery).where(Delivery.transport == "email"))).all()
        outbox = (await session.exec(select(OutboxMessage))).all()
    copies = kept_message_ids(stack.data_dir / "mail")  # after the rows: a row marked sent was kept before
    kept, lost, extra = Counter(), Counter(), Counter()
    stale = datetime.now(UTC) - timedelta(seconds=60)
    for row in deliveries:
        if row.reference not in references:
            continue
        kept[row.reference] += min(copies[row.idempotency_key], 1)
        extra[row.reference] += max(copies[row.idempotency_key] - 1, 0)
        lost[row.reference] += int(row.status == "sent" and not copies[row.idempotency_key])
    for message in outbox:
        if message.reference in references:
            lost[message.reference] += int(message.status == "failed"
                                           or (message.status == "pending" and message.created_at < stale))
    return kept, lost, extra


async def count(stack: Stack, all_phases: list[Phase], staff_answers: list[Answer], key_ids: dict[str, int],
                closing_rejections: list[Answer]) -> list[Row]:
    by_subject = await case_rows(stack)
    references = {reference for phase in all_phases for reference in phase.references}
    references |= {reference for refs in by_subject.values() for reference in refs}
    kept, lost, extra = await message_counts(stack, references)
    rows = []
    for phase in all_phases:
        row = Row(phase.name, phase.count, phase.injected, submitted=len(phase.numbers), accepted=len(phase.references))
        made = sorted({reference for number in phase.numbers for reference in by_subject.get(f"Drill {number}", [])})
        row.in_postgres = len(made)
        everyone = sorted(set(made) | set(phase.references))
        row.workflows = sum(await asyncio.gather(*(has_workflow(stack, reference) for reference in everyone)))
        totals, _examples, _timed_out = await check_every_case(stack, everyone)
        row.steps_missing = totals["recorded steps missing"] + totals["cases never received"]
        row.steps_extra = totals["step numbers written twice"] + totals["phantom steps"] \
            + totals["two reject entries"] + totals["orphan outbox rows"]
        _checked, divergences = await find_divergences(stack.database, stack.services.temporal, everyone)
        row.verify_differences = len(divergences)
        for divergence in divergences:
            print(f"  verify: {divergence.reference}: {'; '.join(divergence.problems)}")
        row.messages_kept = sum(kept[reference] for reference in everyone)
        row.messages_lost = sum(lost[reference] for reference in everyone)
        row.messages_duplicated = sum(extra[reference] for reference in everyone)
        answers = [answer for answer in staff_answers if answer.reference in set(everyone)]
        wrong: dict[str, Answer] = {}
        actions = await action_problems(stack, answers, key_ids, wrong)
        actions += await action_problems(stack, [answer for answer in closing_rejections
                                                 if answer.reference in set(everyone)],
                                         {**key_ids, "cs": key_ids["closing"]}, wrong)
        for name, answer in wrong.items():
            print(f"  {name}: {answer.what} {answer.reference} answered {answer.statuses} "
                  f"{[body.get('error', {}).get('code') for body in answer.bodies]}")
        submissions_with_errors = sum(1 for number, answer in zip(phase.numbers, phase.submissions, strict=True)
                                      if answer.reference is None and by_subject.get(f"Drill {number}"))
        row.other = Counter({name: value for name, value in {
            "workflows that answer no query": totals["workflows that answer no query"],
            "errors that made a case": submissions_with_errors,
            "submissions that made two cases": sum(1 for number in phase.numbers
                                                   if len(by_subject.get(f"Drill {number}", [])) > 1),
            "staff errors that took effect": actions["errors that took effect"],
            "staff actions applied twice": actions["actions applied twice"],
            "staff 200s that did not happen": actions["200s that did not happen"],
        }.items() if value})
        rows.append(row)
    return rows


SUMMED = ("submitted", "accepted", "in_postgres", "workflows", "steps_missing", "steps_extra", "messages_kept",
          "messages_lost", "messages_duplicated", "verify_differences")


def print_table(rows: list[Row]) -> None:
    header = ("fault", "injected", "accepted/submitted", "in PG", "workflows", "steps missing", "steps extra",
              "msgs kept", "lost ‰", "dup ‰", "verify diffs")
    lines = [header]
    total = Row("all phases", sum(row.planned for row in rows), sum(row.injected for row in rows))
    for row in rows:
        for name in SUMMED:
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.other.update(row.other)
    for row in [*rows, total]:
        lines.append((row.fault, str(row.injected), f"{row.accepted}/{row.submitted}", str(row.in_postgres),
                      str(row.workflows),
                      str(row.steps_missing), str(row.steps_extra), str(row.messages_kept),
                      f"{row.messages_lost} ({row.per_thousand(row.messages_lost)})",
                      f"{row.messages_duplicated} ({row.per_thousand(row.messages_duplicated)})",
                      str(row.verify_differences)))
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    for number, line in enumerate(lines):
        print("| " + " | ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)) + " |")
        if number == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in [*rows, total]:
        if row.other:
            print(f"{row.fault}: " + ", ".join(f"{name} {value}" for name, value in sorted(row.other.items())))


async def run(sizes: Sizes, seed: int, keep_data: bool) -> list[Row]:
    rng = random.Random(seed)
    api_port = free_port()
    started = time.monotonic()
    async with running_stack(sizes.working_day_seconds, keep_data=keep_data, mail=True,
                             parts=("worker", "delivery", "api"), COMPLAINTS_API_PORT=str(api_port),
                             # One channel key submits every case here: lift its per-minute limit.
                             COMPLAINTS_INTAKE_PER_MINUTE="1000000") as stack:
        chaos = Chaos(stack, api_port, rng, sizes)
        key_ids, keys = {}, {}
        # Closing time acts with a key of its own, so that its rejections are not taken for the staff's.
        for name, role, department in (("channel", Role.CHANNEL, None), ("cs", Role.CS_AGENT, None),
                                       ("department", Role.DEPARTMENT, DEPARTMENT), ("closing", Role.CS_AGENT, None)):
            key_ids[name], keys[name] = await stack.key(role, department)
        await chaos.api_ready()
        print(f"stack up in {time.monotonic() - started:.0f} s; data in {stack.data_dir}", flush=True)
        all_phases = phases(sizes)
        staff: list[asyncio.Task] = []
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=chaos.api_url, limits=limits) as api:
            first = 0
            for phase in all_phases:
                await run_phase(chaos, phase, api, keys, first, staff)
                first = phase.numbers.stop
            print(f"faults over at {time.monotonic() - started:.0f} s; waiting for the staff's last actions",
                  flush=True)
            staff_answers = [answer for answers in await asyncio.gather(*staff) for answer in answers]
            accepted = sorted({reference for phase in all_phases for reference in phase.references})
            print(f"closing time at {time.monotonic() - started:.0f} s", flush=True)
            closing = await close_every_case(api, keys["closing"], accepted)
            closing_rejections = [answer for answer in closing if answer.what == "reject"]
        running = await until_every_workflow_ended(stack, accepted, sizes.settle_seconds)
        print(f"{len(accepted) - running} of {len(accepted)} workflows ended at {time.monotonic() - started:.0f} s",
              flush=True)
        print(f"settling (up to {sizes.settle_seconds:.0f} s) at {time.monotonic() - started:.0f} s", flush=True)
        await settle(stack, sizes.settle_seconds)
        rows = await count(stack, all_phases, staff_answers, key_ids, closing_rejections)
        print(f"faults: {len(chaos.log)} events in {time.monotonic() - started:.0f} s (seed {seed}, "
              f"working day {sizes.working_day_seconds:g} s)")
        print_table(rows)
        if any(row.must_be_zero for row in rows):
            print_worker_complaints(stack.data_dir)
        return rows


def print_worker_complaints(data_dir: Path, most: int = 30) -> None:
    """The warnings and errors the case worker logged, so that a failed run (in CI, whose data is gone) says why."""
    lines = []
    for line in (data_dir / "worker.log").read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            lines.append(f"{entry['level']} {entry.get('logger', '')}: {entry.get('message', '')[:400]}"
                         + (f" | {entry['exc_info'].splitlines()[-1][:300]}" if entry.get("exc_info") else ""))
    counted = Counter(lines)
    print(f"the case worker's warnings and errors ({len(lines)}, the {most} most frequent):")
    for line, times in counted.most_common(most):
        print(f"  {times} x {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the quick version of `make test`: fewer cases and faults")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(run(SHORT if args.short else FULL, args.seed, args.keep_data))
    failed = [row.fault for row in rows if row.must_be_zero]
    print("CHAOS FAILED: " + ", ".join(failed) if failed else "every count that must be zero is zero")
    sys.stdout.flush()
    # Skip interpreter teardown: a Temporal client can abort or hang it (temporalio/sdk-python#300).
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
