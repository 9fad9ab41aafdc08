"""Does every case get exactly one acknowledgement, even when the worker dies mid-send?

Rerun: `.venv/bin/python bench/delivery.py --cases 200 [--kill-worker]`.

Starts its own PostgreSQL and Temporal dev server (temp data dir), the dev mail sink (core/mailsink.py's
MailFolder under aiosmtpd) on 127.0.0.1 in this process, a case worker process and a sender process
(`complaints delivery`) that sends email there;
submits complaints, each from its own address, through the real API app, and counts the .eml files the
sink kept: acknowledgements per case, copies of one Message-ID, language, time from submission to
arrival, and how long after the server kept a message its delivery row was marked sent (a worker that
dies in that window sends the message again, with the same Message-ID). With --kill-worker the sender is
SIGKILLed at a random moment after --kill-at of the acknowledgements have arrived (while others are being
sent) and started again; an attempt the kill interrupted is retried once Temporal times it out.
"""

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from email import policy as email_policy
from email.parser import BytesParser
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from sqlmodel import func, select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.app import create_app  # noqa: E402
from api.auth import create_api_key  # noqa: E402
from api.deps import Services  # noqa: E402
from bench.escalation import describe  # noqa: E402
from bench.stack import start_worker  # noqa: E402
from core.codec import new_key_spec  # noqa: E402
from core.embedded import (  # noqa: E402
    EmbeddedPostgres,
    TemporalDevServer,
    free_port,
    start_in_background,
    stop_process,
)
from core.mailsink import MailFolder  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.temporal import connect_when_ready  # noqa: E402
from core.timekeeping import timekeeping  # noqa: E402
from domain.kinds import Channel, Role  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import upgrade_to_head  # noqa: E402
from store.models import Delivery, OutboxMessage  # noqa: E402

ACKNOWLEDGEMENT = "acknowledgement"
# The Arabic acknowledgement's subject begins "استلمنا" ("we received"): templates/messages/ar/acknowledgement.txt.
RECEIVED_AR = "استلمنا"
# Settings the worker must not inherit from this shell: the bench decides where every message goes.
_OWN_PREFIXES = ("COMPLAINTS_", "DATABASE_URL", "TEMPORAL_")


class SlowMailFolder(MailFolder):
    """The dev mail sink with a slow DATA phase, so that a kill lands while messages are on the wire.

    By default the delay comes before the message is kept: a client that vanishes meanwhile has sent
    nothing (aiosmtpd cancels the hook). With `slow_ack`, the message is kept first and the 250 is slow:
    a client killed then never learns that the server accepted it.
    """

    def __init__(self, folder: Path, delay: float, slow_ack: bool) -> None:
        super().__init__(folder)
        self.delay = delay
        self.slow_ack = slow_ack
        self.kept = 0
        self.in_data = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.in_data += 1
        try:
            if not self.slow_ack:
                await asyncio.sleep(self.delay)
            answer = await super().handle_DATA(server, session, envelope)
            self.kept += 1
            if self.slow_ack:
                await asyncio.sleep(self.delay)
            return answer
        finally:
            self.in_data -= 1


@dataclass
class Kept:
    """One .eml file the sink kept."""

    arrived: float  # seconds since the epoch, from the file's name
    to: str
    message_id: str
    subject: str
    language: str


@dataclass
class Kill:
    """When the worker was killed and started again, and what was on the wire then."""

    killed_at: float = 0.0
    restarted_at: float = 0.0
    polling_at: float = 0.0
    kept_before: int = 0
    in_data: int = 0


def kept_messages(folder: SlowMailFolder) -> list[Kept]:
    parser = BytesParser(policy=email_policy.default)
    kept = []
    for path in folder.messages():
        message = parser.parsebytes(path.read_bytes())
        kept.append(Kept(int(path.name.split("-")[0]) / 1e9, str(message["To"]), str(message["Message-ID"]),
                         str(message["Subject"]), str(message["Content-Language"])))
    return kept


def submitter_address(number: int) -> str:
    return f"submitter-{number:05d}@example.om"


async def submit_from_own_addresses(api: httpx.AsyncClient, key: str, count: int,
                                    rate: float | None) -> dict[str, tuple[str, float]]:
    """Submit `count` complaints, each from its own address; address -> (reference, when it was submitted)."""
    semaphore = asyncio.Semaphore(16)

    async def one(number: int) -> tuple[str, tuple[str, float]]:
        if rate:
            await asyncio.sleep(number / rate)
        address = submitter_address(number)
        body = {
            "kind": "complaint", "channel": "website", "channel_ref": f"bench-{number}",
            "submitter": {"category": "beneficiary", "civil_id": "12345678", "email": address},
            "subject": "Benchmark", "description": "Acknowledge this complaint.",
        }
        async with semaphore:
            submitted = time.time()
            response = await api.post("/v1/cases", json=body, headers={"Authorization": f"Bearer {key}"})
            response.raise_for_status()
            return address, (response.json()["reference"], submitted)

    return dict(await asyncio.gather(*(one(number) for number in range(count))))


async def acknowledgement_outbox(database: Database, references: list[str]) -> Counter:
    """How many of these cases' acknowledgements are in the outbox, by status (pending until delivery settles)."""
    async with database.session() as session:
        rows = (await session.exec(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.reference.in_(references), OutboxMessage.template == ACKNOWLEDGEMENT)
            .group_by(OutboxMessage.status)
        )).all()
    return Counter(dict(rows))


async def deliveries(database: Database, references: list[str]) -> list[Delivery]:
    async with database.session() as session:
        return list((await session.exec(select(Delivery).where(Delivery.reference.in_(references)))).all())


async def polling(worker_log: Path, since: int, timeout: float = 120.0) -> None:
    """Wait until the worker started after byte `since` of its log says it polls, so start-up is not measured."""
    deadline = time.monotonic() + timeout
    while b"worker polling task queue" not in worker_log.read_bytes()[since:]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not start polling within {timeout:.0f}s; see {worker_log}")
        await asyncio.sleep(0.2)


async def kill_and_restart(worker_box: list, mail: SlowMailFolder, threshold: int, jitter: float,
                           down_seconds: float, start, worker_log: Path, signum: int = signal.SIGKILL) -> Kill:
    """Signal (SIGKILL: kill; SIGTERM: stop, as a deploy does) the sender a random moment (up to `jitter` s)
    after `threshold` messages were kept; start a new one
    `down_seconds` later. The jitter keeps the kill from landing always just after a message was kept."""
    while mail.kept < threshold:
        await asyncio.sleep(0.02)
    await asyncio.sleep(random.uniform(0, jitter))
    kill = Kill(in_data=mail.in_data, kept_before=mail.kept)
    worker_box[-1].send_signal(signum)
    kill.killed_at = time.time()
    await asyncio.to_thread(worker_box[-1].wait)
    print(f"sender {signal.Signals(signum).name}ed after {kill.kept_before} messages, "
          f"with {kill.in_data} in the SMTP DATA phase; "
          f"restarting it in {down_seconds}s")
    await asyncio.sleep(down_seconds)
    since = worker_log.stat().st_size
    worker_box.append(start())
    kill.restarted_at = time.time()
    await polling(worker_log, since)
    kill.polling_at = time.time()
    return kill


async def quiet(mail: SlowMailFolder, seconds: float, longest: float = 60.0) -> None:
    """Wait until the server has kept nothing new for `seconds`: an abandoned attempt may still be sending."""
    deadline = time.monotonic() + longest
    kept, since = mail.kept, time.monotonic()
    while time.monotonic() - since < seconds and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        if mail.kept != kept:
            kept, since = mail.kept, time.monotonic()


async def wait_until_settled(database: Database, references: list[str], timeout: float) -> Counter:
    """Poll until every case's acknowledgement has left `pending` (sent, failed, no_contact) or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = await acknowledgement_outbox(database, references)
        settled = sum(count for status, count in statuses.items() if status != "pending")
        if settled == len(references) or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(1.0)


def report(cases: dict[str, tuple[str, float]], kept: list[Kept], rows: list[Delivery], outbox: Counter,
           kill: Kill | None, submitted_in: float) -> bool:
    """Print the figures; True when every case got exactly one acknowledgement."""
    to_cases = [message for message in kept if message.to in cases]
    acknowledgements = [message for message in to_cases if RECEIVED_AR in message.subject]
    per_address = Counter(message.to for message in acknowledgements)
    distribution = Counter(min(per_address.get(address, 0), 2) for address in cases)
    by_message_id = Counter(message.message_id for message in acknowledgements)
    extra_copies = sum(count - 1 for count in by_message_id.values() if count > 1)
    extra_raw = sum(count - 1 for count in per_address.values() if count > 1)
    not_arabic = [message for message in to_cases if message.language != "ar" or RECEIVED_AR not in message.subject]
    wrong_reference = [message for message in acknowledgements if cases[message.to][0] not in message.subject]

    print(f"cases {len(cases)}; messages kept by the SMTP server {len(kept)} "
          f"({len(kept) - len(to_cases)} to other addresses); acknowledgements {len(acknowledgements)}")
    print(f"acknowledgements per case: 0 -> {distribution[0]} cases, 1 -> {distribution[1]}, 2+ -> {distribution[2]}")
    print(f"duplicates: {extra_copies} extra copies of {sum(1 for count in by_message_id.values() if count > 1)} "
          f"Message-IDs; {extra_raw} extra acknowledgements by raw count per address")
    print(f"Arabic (Content-Language: ar, subject with {RECEIVED_AR}): {len(to_cases) - len(not_arabic)} of "
          f"{len(to_cases)}; subject without the case's reference: {len(wrong_reference)}")
    print(f"acknowledgement outbox rows by status: {dict(outbox)}")
    statuses = Counter(row.status for row in rows)
    print(f"delivery rows by status: {dict(statuses)}; attempts > 1 (claimed again after the kill, a timeout or a "
          f"failure): {sum(1 for row in rows if row.attempts > 1)}; rows by attempts: "
          f"{dict(sorted(Counter(row.attempts for row in rows).items()))}")
    first_copy: dict[str, Kept] = {}
    for message in sorted(acknowledgements, key=lambda message: message.arrived):
        first_copy.setdefault(message.message_id, message)
    sent_at = {row.idempotency_key: row.sent_at.timestamp() for row in rows if row.sent_at}
    # From the server keeping a message to its row marked sent: a worker that dies then sends it again.
    # The Message-ID is <idempotency key@sender's domain>.
    exposed = [sent_at[key] - first_copy[message_id].arrived for message_id, count in by_message_id.items()
               if count == 1 and (key := message_id.strip("<>").partition("@")[0]) in sent_at]
    if exposed:
        print(describe("kept->row marked sent", exposed))
    copies: dict[str, list[float]] = {}
    for message in acknowledgements:
        copies.setdefault(message.message_id, []).append(message.arrived)
    gaps = sorted(round((max(times) - min(times)) * 1000) for times in copies.values() if len(times) > 1)
    if gaps:
        print(f"ms between the first and last copy of each duplicated message: {gaps}")
    if kill is not None:
        report_kill(kill, acknowledgements, [first_copy[message_id] for message_id, count in by_message_id.items()
                                             if count > 1])
    first_to: dict[str, float] = {}
    for message in first_copy.values():
        first_to[message.to] = min(first_to.get(message.to, message.arrived), message.arrived)
    waits = [first_to[address] - submitted for address, (_, submitted) in cases.items() if address in first_to]
    if waits:
        print(describe("submitted->acknowledged", waits))
        span = max(message.arrived for message in acknowledgements) - min(submitted for _, submitted in cases.values())
        print(f"submitted in {submitted_in:.1f}s; last acknowledgement {span:.1f}s after the first submission: "
              f"{len(acknowledgements) / span:.1f} messages/s")
    return distribution[0] == 0 and distribution[2] == 0


def report_kill(kill: Kill, acknowledgements: list[Kept], duplicated_first_copies: list[Kept]) -> None:
    while_down = sum(1 for message in acknowledgements if kill.killed_at <= message.arrived < kill.restarted_at)
    after_restart = sum(1 for message in acknowledgements if message.arrived >= kill.restarted_at)
    print(f"kill: {kill.kept_before} kept before it, {kill.in_data} in the DATA phase at it; {while_down} kept "
          f"while the sender was down; {after_restart} sent after the restart "
          f"(the new sender polled {kill.polling_at - kill.killed_at:.1f}s after the kill)")
    if duplicated_first_copies:
        offsets = sorted(round((message.arrived - kill.killed_at) * 1000) for message in duplicated_first_copies)
        print(f"first copies of the duplicated messages were kept at these ms from the kill: {offsets}")


def abandoned_attempts(worker_log: Path) -> str:
    """What the worker's log says about delivery attempts that ended in an error (a timed-out one is cancelled)."""
    failed = cancelled = 0
    for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d )", worker_log.read_text(errors="replace")):
        if "Completing activity as failed" in entry and "deliver_message" in entry:
            failed += 1
            cancelled += entry.rstrip().endswith("CancelledError: Activity cancelled")
    return (f"delivery attempts the worker logged as failed: {failed}"
            f" (cancelled by Temporal, e.g. timed out: {cancelled})")


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-bench-delivery-"))
    postgres = EmbeddedPostgres(data_dir)
    temporal = TemporalDevServer(data_dir, port=free_port(), headless=True)
    mail = SlowMailFolder(data_dir / "mail", args.smtp_delay_ms / 1000, args.slow_ack)
    smtp = Controller(mail, hostname="127.0.0.1", port=free_port())
    processes, workers, senders = [], [], []
    smtp.start()
    try:
        processes.append((start_in_background(postgres, data_dir / "postgres.log"), postgres.stop_signal))
        postgres.ensure_database()
        upgrade_to_head(postgres.url)
        processes.append((start_in_background(temporal, data_dir / "temporal.log"), temporal.stop_signal))
        own = {
            "DATABASE_URL": postgres.url, "COMPLAINTS_CODEC_KEYS": new_key_spec("bench"),
            "COMPLAINTS_DATA_DIR": str(data_dir), "TEMPORAL_ADDRESS": temporal.address,
            "COMPLAINTS_TASK_QUEUE": "bench", "COMPLAINTS_POLICY": str(REPO / "policy.toml"),
            "COMPLAINTS_SMTP_HOST": "127.0.0.1", "COMPLAINTS_SMTP_PORT": str(smtp.port),
        }
        env = {name: value for name, value in os.environ.items() if not name.startswith(_OWN_PREFIXES)} | own
        workers.append(start_worker(env, data_dir / "worker.log"))
        sender_log = data_dir / "delivery.log"
        senders.append(start_worker(env, sender_log, "delivery"))
        await polling(data_dir / "worker.log", 0)
        await polling(sender_log, 0)
        settings = Settings(**own)
        database = Database(postgres.url)
        services = Services(settings, database, await connect_when_ready(settings), timekeeping(settings))
        _, key = await create_api_key(database, role=Role.CHANNEL, name="bench", department=None,
                                      channels=list(Channel))
        app = create_app(services=services)
        app.state.intake_limiter.max_failures = 1_000_000  # the benchmark is one key submitting fast, on purpose
        killing = None
        if args.kill_worker:
            killing = asyncio.create_task(kill_and_restart(
                senders, mail, max(1, int(args.kill_at * args.cases)), args.kill_jitter_ms / 1000, args.down_seconds,
                lambda: start_worker(env, sender_log, "delivery"), sender_log, signal.Signals[f"SIG{args.signal}"]))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as api:
            started = time.monotonic()
            cases = await submit_from_own_addresses(api, key, args.cases, args.rate)
            submitted_in = time.monotonic() - started
        print(f"submitted {len(cases)} complaints in {submitted_in:.1f}s; SMTP delay {args.smtp_delay_ms} ms "
              f"({'after keeping, before the 250' if args.slow_ack else 'before keeping'})")
        kill = None
        if killing:
            try:
                kill = await asyncio.wait_for(killing, args.settle_timeout)
            except TimeoutError:
                print(f"the sender was never killed: fewer than {args.kill_at:.0%} of the messages arrived in time")
        references = [reference for reference, _ in cases.values()]
        outbox = await wait_until_settled(database, references, args.settle_timeout)
        await quiet(mail, args.quiet_seconds)
        print(f"settled {time.monotonic() - started:.1f}s after the first submission")
        exact = report(cases, kept_messages(mail), await deliveries(database, references), outbox, kill, submitted_in)
        print(abandoned_attempts(sender_log))
        await database.dispose()
        if not exact:
            tail = re.sub(r"\x1b\[[0-9;]*m", "", sender_log.read_text(errors="replace")).splitlines()[-10:]
            print("sender log tail:\n" + "\n".join(line[:200] for line in tail))
            sys.exit(1)
    finally:
        for worker in workers + senders:
            stop_process(worker, signal.SIGTERM)
        smtp.stop()
        for process, stop_signal in reversed(processes):
            stop_process(process, stop_signal)
        if args.keep_data:
            print(f"data, logs and .eml files kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def describe_conditions() -> str:
    """The code and the machine a run measured: the figures depend on both."""
    head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    changed = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True)
    return (f"code at {head.stdout.strip()[:72]} with {len(changed.stdout.splitlines())} files changed; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rate", type=float, help="submissions per second (default: as fast as the API takes them)")
    parser.add_argument("--smtp-delay-ms", type=float, default=100.0, help="how long the SMTP server takes over DATA")
    parser.add_argument("--slow-ack", action="store_true",
                        help="keep the message first, then delay the 250 (a kill then loses an accepted message's 250)")
    parser.add_argument("--kill-worker", action="store_true",
                        help="SIGKILL the sender (complaints delivery) while acknowledgements go out")
    parser.add_argument("--signal", choices=("KILL", "TERM"), default="KILL",
                        help="with --kill-worker: KILL, or TERM as a deploy stops it (it finishes its sends first)")
    parser.add_argument("--kill-at", type=float, default=0.3,
                        help="fraction of the acknowledgements kept before the kill")
    parser.add_argument("--kill-jitter-ms", type=float, default=500.0,
                        help="the kill comes at a random moment up to this long after --kill-at is reached")
    parser.add_argument("--seed", type=int, help="seed for the kill's jitter (default: random)")
    parser.add_argument("--down-seconds", type=float, default=2.0, help="how long the sender stays dead")
    parser.add_argument("--settle-timeout", type=float, default=300.0,
                        help="how long to wait for every acknowledgement to leave pending")
    parser.add_argument("--quiet-seconds", type=float, default=5.0,
                        help="after settling, wait until the SMTP server has kept nothing new for this long")
    parser.add_argument("--keep-data", action="store_true", help="keep the servers' data, logs and .eml files")
    args = parser.parse_args()
    random.seed(args.seed)
    print(describe_conditions())
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
