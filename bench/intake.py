"""Intake's speed on the API side: `POST /v1/cases` vs a bare endpoint that only starts a workflow.

Rerun: `.venv/bin/python bench/intake.py [--requests 2000] [--concurrency 32] [--rounds 2] [--api-workers N]`.

Starts its own PostgreSQL and Temporal dev server (bench/stack.py), then two real uvicorn processes on
those servers: `complaints api` and a bare FastAPI app whose one endpoint starts a workflow that would
only wait on a timer. Alternating (project, bare, project, bare, ...), it times `--requests` posts at
`--concurrency` to each and prints throughput, median and p99 latency, the API process's CPU per request,
and the ratios of the medians. No worker runs during the timing, on either side: this measures the API
and what it asks of PostgreSQL and Temporal, not the worker's pace (bench-suite's `make bench` does).
With `--before DIR` the API of an earlier checkout runs beside them, on the same servers and key.
With `--py-spy FILE` the first project round is recorded by py-spy (`pip install py-spy`) into FILE.
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio import workflow

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.stack import running_stack  # noqa: E402
from core.embedded import free_port, stop_process  # noqa: E402
from domain.kinds import Role  # noqa: E402

BARE_TASK_QUEUE = "bare-intake"
SUBMISSION = {
    "kind": "complaint", "channel": "website",
    "submitter": {"category": "beneficiary", "civil_id": "12345678", "name": "Bench Mark",
                  "email": "bench.mark@mail.gov.kw"},
    "subject": "Late passport renewal",
    "description": "I applied for the renewal of my passport two months ago and have heard nothing since.",
}
WARM_UP_REQUESTS = 50


# The bare side: run in its own process as `bench/intake.py --serve-bare PORT` (TEMPORAL_ADDRESS from the env).

@workflow.defn
class BareTimer:
    @workflow.run
    async def run(self, submission: dict) -> None:
        await workflow.sleep(timedelta(days=30))


def bare_app():
    from fastapi import FastAPI, Request
    from temporalio.client import Client

    @contextlib.asynccontextmanager
    async def connect(app: FastAPI):
        app.state.temporal = await Client.connect(os.environ["TEMPORAL_ADDRESS"])
        yield

    app = FastAPI(lifespan=connect)

    @app.post("/v1/cases", status_code=201)
    async def start(request: Request) -> dict:
        handle = await app.state.temporal.start_workflow(
            BareTimer.run, await request.json(), id=f"bare-{uuid.uuid4().hex}", task_queue=BARE_TASK_QUEUE)
        return {"reference": handle.id}

    return app


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(), host="127.0.0.1", port=port, log_level="warning")


# The measurement.

@dataclass
class Run:
    side: str
    seconds: float
    latencies: list[float]
    cpu_seconds: float

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(0.99 * (len(ordered) - 1))]

    def line(self) -> str:
        median = statistics.median(self.latencies)
        return (f"{self.side:<8} {self.throughput:7.1f} req/s  median {median * 1000:6.1f} ms"
                f"  p99 {self.p99 * 1000:7.1f} ms  API CPU {self.cpu_seconds / len(self.latencies) * 1000:5.2f} ms/req")


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (uvicorn --workers forks)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


async def post_all(url: str, headers: dict[str, str], count: int, concurrency: int, tag: str) -> list[float]:
    """The latency of each 201; any other answer, or a connection the server dropped, is counted, said, and not
    retried (a retry would be another request)."""
    latencies: list[float] = []
    failed: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        numbers = iter(range(count))

        async def one_sender() -> None:
            for number in numbers:
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/cases", json={**SUBMISSION, "channel_ref": f"{tag}-{number}"})
                except httpx.TransportError:
                    failed["connection dropped"] += 1
                    continue
                if response.status_code != 201:
                    failed[f"{response.status_code} {response.text[:120]}"] += 1
                    continue
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one_sender() for _ in range(concurrency)))
    for what, count in failed.items():
        print(f"  {url}: {count} answers not counted: {what}", flush=True)
    return latencies


async def timed(side: str, url: str, headers: dict[str, str], pid: int, args: argparse.Namespace) -> Run:
    cpu_before, started = process_tree_cpu(pid), time.perf_counter()
    latencies = await post_all(url, headers, args.requests, args.concurrency, f"{side}-{uuid.uuid4().hex[:8]}")
    return Run(side, time.perf_counter() - started, latencies, process_tree_cpu(pid) - cpu_before)


async def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                await client.get("/openapi.json")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


@dataclass
class Side:
    name: str
    url: str
    headers: dict[str, str]
    process: subprocess.Popen
    log: Path


def serve(name: str, command: list[str], env: dict[str, str], stack, headers: dict[str, str],
          source: Path = REPO) -> Side:
    """A uvicorn process from `source` (this clone, or an older checkout for --before), on a free port."""
    port = free_port()
    log = stack.data_dir / f"{name}.log"
    environment = {**env, "COMPLAINTS_API_PORT": str(port)}
    process = subprocess.Popen([*command, *(["--serve-bare", str(port)] if name == "bare" else [])], cwd=source,
                               env=environment, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    return Side(name, f"http://127.0.0.1:{port}", headers, process, log)


def spy_on(side: Side, args: argparse.Namespace) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(side.process.pid), "--subprocesses",
         "--output", args.py_spy, "--format", args.py_spy_format, "--rate", "200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


async def main(args: argparse.Namespace) -> None:
    async with running_stack(1.0, parts=()) as stack:
        _, key = await stack.key(Role.CHANNEL)
        env = {**stack.env, "COMPLAINTS_INTAKE_PER_MINUTE": "100000000",
               **({"COMPLAINTS_API_WORKERS": str(args.api_workers)} if args.api_workers else {})}
        api_command, bearer = [sys.executable, "-m", "core.cli", "api"], {"Authorization": f"Bearer {key}"}
        sides = [serve("project", api_command, env, stack, bearer)]
        if args.before:
            sides.append(serve("before", api_command, env, stack, bearer, source=Path(args.before).resolve()))
        sides.append(serve("bare", [sys.executable, __file__], env, stack, {}))
        try:
            await asyncio.gather(*(wait_until_up(side.url, side.process, side.log) for side in sides))
            for side in sides:
                await post_all(side.url, side.headers, WARM_UP_REQUESTS, args.concurrency, f"warm-{uuid.uuid4().hex}")
            runs: list[Run] = []
            for round_number in range(args.rounds):
                for side in sides:
                    spy = spy_on(side, args) if side.name == "project" and round_number == 0 and args.py_spy else None
                    if spy:
                        await asyncio.sleep(1)
                    runs.append(await timed(side.name, side.url, side.headers, side.process.pid, args))
                    if spy:
                        spy.send_signal(signal.SIGINT)
                        spy.wait()
                    print(runs[-1].line(), flush=True)
            report(runs, args)
        finally:
            for side in sides:
                stop_process(side.process)


def report(runs: list[Run], args: argparse.Namespace) -> None:
    def median_of(side: str, figure) -> float:
        return statistics.median(figure(run) for run in runs if run.side == side)

    print(f"{args.requests} requests at concurrency {args.concurrency}, {args.rounds} rounds"
          f"{f', {args.api_workers} API workers' if args.api_workers else ''}; medians of the rounds:")
    for side in dict.fromkeys(run.side for run in runs if run.side != "bare"):
        throughput = median_of(side, lambda r: r.throughput) / median_of("bare", lambda r: r.throughput)
        p99 = median_of(side, lambda r: r.p99) / median_of("bare", lambda r: r.p99)
        print(f"  {side}: throughput {throughput:.2f}x the bare endpoint's (goal >= 0.8), "
              f"p99 {p99:.2f}x (goal <= 1.5)")
    if args.json:
        Path(args.json).write_text(json.dumps([{"side": r.side, "throughput": r.throughput, "p99": r.p99,
                                                "cpu_ms_per_request": r.cpu_seconds / len(r.latencies) * 1000}
                                               for r in runs], indent=1))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--api-workers", type=int, default=0, help="COMPLAINTS_API_WORKERS for `complaints api`")
    parser.add_argument("--py-spy", metavar="FILE", help="record the first project round with py-spy into FILE")
    parser.add_argument("--py-spy-format", default="flamegraph", choices=["flamegraph", "speedscope", "raw"])
    parser.add_argument("--before", metavar="DIR", help="also time `complaints api` run from DIR, a checkout of an "
                        "earlier commit (e.g. `git worktree add /tmp/before <commit>`), alternating with the others")
    parser.add_argument("--json", metavar="FILE", help="also write every run's figures to FILE")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments_given = arguments()
    if arguments_given.serve_bare:
        serve_bare(arguments_given.serve_bare)
    else:
        asyncio.run(main(arguments_given))
