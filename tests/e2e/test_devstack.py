"""`complaints dev` end to end, as a person uses it: the real PostgreSQL, Temporal, worker and API, supervised.

Start the stack on a fresh data dir, create a key, submit a complaint, watch its workflow run; kill the worker and
see it come back without losing work; stop the stack and find nothing left behind; start it again and find the
case and its running workflow where they were.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from core.embedded import free_port
from tests.e2e.test_confidentiality import Canary
from tests.helpers import bearer, complaint
from tests.otlp_receiver import OtlpReceiver

REPO = Path(__file__).resolve().parents[2]
TEMPORAL = Path(sys.executable).parent / "temporal"
READY_TIMEOUT = 90
STOP_TIMEOUT = 90
# The lines of the project's own processes in the stack's output, as the supervisor relays them.
PYTHON_PARTS = ("[worker] ", "[delivery] ", "[api] ")


def _wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Retry `check` until it returns something truthy; fail naming `what` and the last error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except (AssertionError, httpx.HTTPError, psutil.Error, subprocess.SubprocessError) as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")
        time.sleep(interval)


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class Stack:
    """One `complaints dev` process and what it started."""

    def __init__(self, data_dir: Path, api_port: int, temporal_port: int, ui_port: int, *, clone: Path = REPO,
                 python: str = sys.executable, log_path: Path | None = None) -> None:
        self.data_dir = data_dir
        self.api_port = api_port
        self.temporal_port = temporal_port
        self.ui_port = ui_port
        self.api = f"http://127.0.0.1:{api_port}"
        # The project folder it runs in, with the Python of that folder's .venv.
        self.clone = clone
        self.python = python
        self.log_path = log_path or data_dir / "dev.log"
        self.env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "TEMPORAL_ADDRESS"}}
        self.env.update(
            COMPLAINTS_DATA_DIR=str(data_dir),
            COMPLAINTS_API_HOST="127.0.0.1",
            COMPLAINTS_API_PORT=str(api_port),
            COMPLAINTS_TEMPORAL_PORT=str(temporal_port),
            COMPLAINTS_TEMPORAL_UI_PORT=str(ui_port),
            PYTHONUNBUFFERED="1",
        )
        self.process: subprocess.Popen | None = None
        # Every process seen under the supervisor, so that cleanup can reach them even if it dies.
        self.seen: dict[int, psutil.Process] = {}

    # -- running ------------------------------------------------------------------------------------------------

    def start(self) -> float:
        """Start `complaints dev`; return the seconds until /healthz answers 200."""
        log = self.log_path.open("ab")
        log.write(f"\n===== complaints dev started at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        started = time.monotonic()
        self.process = subprocess.Popen(
            [self.python, "-m", "core.cli", "dev"],
            cwd=self.clone,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.seen[self.process.pid] = psutil.Process(self.process.pid)

        refused_after_ready: list[str] = []

        def healthy() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"complaints dev exited with {self.process.returncode} before it was ready")
            self.remember_children()
            announced = "[dev] ready in" in self.log().rsplit("===== complaints dev started", 1)[-1]
            try:
                return httpx.get(f"{self.api}/healthz", timeout=2).status_code == 200
            except httpx.ConnectError as error:
                if announced:
                    refused_after_ready.append(repr(error))
                raise

        _wait_for(healthy, READY_TIMEOUT, "GET /healthz answering 200")
        seconds = time.monotonic() - started
        # Once it says "ready", the URLs it prints must answer.
        assert not refused_after_ready, f"the API refused connections after `ready`: {refused_after_ready}"
        return seconds

    def remember_children(self) -> list[psutil.Process]:
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            children = self.seen[self.process.pid].children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for child in children:
            self.seen.setdefault(child.pid, child)
        return children

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cli(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [self.python, "-m", "core.cli", *args], cwd=self.clone, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"complaints {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def temporal_workflows(self, reference: str) -> str:
        result = subprocess.run(
            [str(TEMPORAL), "workflow", "list", "--address", f"127.0.0.1:{self.temporal_port}",
             "--query", f"WorkflowId='case-{reference}'"],
            capture_output=True, text=True, timeout=30,
        )
        assert result.returncode == 0, f"temporal workflow list failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def worker_processes(self) -> list[psutil.Process]:
        """The supervisor's direct children that are `complaints worker`."""
        workers = []
        for child in self.seen[self.process.pid].children():
            try:
                cmdline = child.cmdline()
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            if any("core.cli" in arg for arg in cmdline) and "worker" in cmdline:
                workers.append(child)
        return workers

    # -- stopping -----------------------------------------------------------------------------------------------

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C or a service manager would; return the exit code."""
        assert self.process is not None
        self.remember_children()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"complaints dev did not exit within {STOP_TIMEOUT}s of SIGTERM") from None

    def leftovers(self) -> list[str]:
        """Every live process that belongs to this stack: seen under it, or naming its data dir or ports."""
        found: dict[int, str] = {}
        for process in self.seen.values():
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    found[process.pid] = " ".join(process.cmdline())
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                pass
        data_dir = str(self.data_dir)
        ports = {str(self.api_port), str(self.temporal_port), str(self.ui_port)}
        for process in psutil.process_iter(["pid", "cmdline", "status"]):
            if process.info["pid"] == os.getpid() or process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = process.info["cmdline"] or []
            mentions = any(data_dir in arg for arg in cmdline) or any(
                arg in ports or arg.rsplit(":", 1)[-1] in ports for arg in cmdline
            )
            if not mentions:
                try:
                    mentions = process.environ().get("COMPLAINTS_DATA_DIR") == data_dir
                except (psutil.Error, OSError):
                    pass
            if mentions:
                found[process.info["pid"]] = " ".join(cmdline)
        return [f"{pid}: {cmdline}" for pid, cmdline in sorted(found.items())]

    def end(self, passed: bool) -> None:
        """After a test, passed or not: nothing of the stack left running, and its output shown if it failed."""
        try:
            self.kill_everything()
        finally:
            if not passed:
                print(f"\n----- complaints dev output ({self.log_path}) -----\n{self.log()}\n----- end -----")

    def kill_everything(self) -> None:
        """Cleanup after a failure: stop the supervisor, then kill whatever of this stack is still alive."""
        if self.process is not None and self.process.poll() is None:
            self.remember_children()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, psutil.Error):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        survivors = []
        for process in self.seen.values():
            with contextlib.suppress(ProcessLookupError, psutil.Error):
                if process.is_running():
                    process.kill()
                    survivors.append(process)
        # PostgreSQL runs as another user and outside the supervisor's signals; find it by its data dir.
        pgdata = str((self.data_dir / "postgres").resolve())  # the cluster, wherever the data dir's link points
        for process in psutil.process_iter(["cmdline"]):
            if any(pgdata in arg for arg in process.info["cmdline"] or []):
                with contextlib.suppress(ProcessLookupError, psutil.Error):
                    process.kill()
                    survivors.append(process)
        psutil.wait_procs(survivors, timeout=10)


def _submit(stack: Stack, key: str, **overrides: Any) -> str:
    response = httpx.post(f"{stack.api}/v1/cases", json=complaint(**overrides), headers=bearer(key), timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["reference"]


def _mail_about(data_dir: Path, reference: str) -> EmailMessage | None:
    parser = BytesParser(policy=email_policy.default)
    for path in (data_dir / "mail").glob("*.eml"):
        message = parser.parsebytes(path.read_bytes())
        if reference in message["Subject"]:
            return message
    return None


def _recorded_case(stack: Stack, key: str, reference: str, timeout: float = 60) -> dict:
    """GET the case until the worker has recorded it and its timeline."""

    def read() -> dict | None:
        response = httpx.get(f"{stack.api}/v1/cases/{reference}", headers=bearer(key), timeout=10)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        case = response.json()
        return case if case["timeline"] else None

    return _wait_for(read, timeout, f"case {reference} recorded with a timeline", interval=0.3)


def _assert_running_in_temporal(stack: Stack, reference: str) -> None:
    listing = stack.temporal_workflows(reference)
    lines = [line for line in listing.splitlines() if f"case-{reference}" in line]
    assert len(lines) == 1, f"expected one workflow case-{reference}:\n{listing}"
    assert "Running" in lines[0], f"workflow case-{reference} is not running:\n{listing}"


def _canary_moves(stack: Stack, key: str, auditor: str, canary: Canary) -> str:
    """A case with a marker in every personal field, received, triaged and acknowledged by email: every process
    has handled it. A query string (as a tracking link's) carries a marker too."""
    response = httpx.post(f"{stack.api}/v1/cases?code={canary.word('devstack.query')}",
                          json=canary.submission("devstack"), headers=bearer(key), timeout=30)
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    # The markers are really in the case (all but the query's): finding none elsewhere means something.
    recorded = json.dumps(_recorded_case(stack, auditor, reference)).encode()
    assert canary.missing_from(recorded, [place for place in canary.tokens if place != "devstack.query"]) == []
    cs_agent = stack.cli("apikey", "create", "--role", "cs_agent", "--name", "e2e-cs").strip().splitlines()[-1]
    triaged = httpx.post(f"{stack.api}/v1/cases/{reference}/triage", json={"department": "CIVIL_STATUS"},
                         headers=bearer(cs_agent), timeout=30)
    assert triaged.status_code == 200, triaged.text
    _wait_for(lambda: _mail_about(stack.data_dir, reference), 60, "the canary's acknowledgement in .data/mail")
    return reference


def _assert_logs_and_traces_without_the_canary(stack: Stack, receiver: OtlpReceiver, canary: Canary,
                                               reference: str) -> None:
    """Every process's lines are JSON; none of them, no other log file of the data dir, and no span exported over
    OTLP holds a marker; the case's trace runs from the API through the worker."""
    lines = [line.split("] ", 1) for line in stack.log().splitlines() if line.startswith(PYTHON_PARTS)]
    records = [json.loads(text) for _, text in lines]
    assert {record["service"] for record in records} == {"complaints-worker", "complaints-sender", "complaints-api"}
    assert any(record.get("case") == reference and record["service"] == "complaints-worker" for record in records)
    assert any(record.get("http_path") == f"/v1/cases/{reference}/triage" for record in records)
    logs = b"".join(path.read_bytes() for path in sorted(stack.data_dir.rglob("*.log")))
    assert reference.encode() in logs  # the search sees the case's lines
    spans = receiver.spans()
    started = next(span for span in spans if span.attributes.get("temporalWorkflowID") == f"case-{reference}")
    services = {(span.service, span.name) for span in spans if span.trace_id == started.trace_id}
    assert services >= {("complaints-api", "POST /v1/cases"), ("complaints-worker", "RunActivity:record_case"),
                        ("complaints-api", "StartWorkflow:CaseWorkflow")}, services
    assert {"logs": canary.found_in(logs), "spans": canary.found_in(b"".join(receiver.bodies))} == {
        "logs": [], "spans": []}


def _assert_nothing_left(stack: Stack, exit_code: int) -> None:
    assert exit_code == 0, f"complaints dev exited with {exit_code} on SIGTERM"
    seen = list(stack.seen.values())
    assert len(seen) >= 5, f"expected supervisor, postgres, temporal, worker and api; saw {seen}"
    # Children are reaped by the supervisor before it exits; allow a moment for PostgreSQL's own children.
    deadline = time.monotonic() + 10
    while (leftovers := stack.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers == [], "processes left behind after complaints dev stopped:\n" + "\n".join(leftovers)
    assert not (stack.data_dir / "postgres" / "postmaster.pid").exists(), "PostgreSQL did not shut down cleanly"
    assert "[dev] stopped" in stack.log()


# What each process's metrics hold from its start (the SDK's pollers) or, for the API, from the database.
METRICS_OF = {"worker": "temporal_num_pollers", "sender": "temporal_num_pollers", "API": "complaints_open_cases"}


def _announced_metrics(log: str) -> dict[str, str]:
    announced = dict(re.findall(r"metrics\s+(worker|sender|API)\s+(http://127\.0\.0\.1:\d+/metrics)", log))
    assert set(announced) == set(METRICS_OF), log
    return announced


def _assert_metrics(urls: dict[str, str]) -> bool:
    for part, url in urls.items():
        response = httpx.get(url, timeout=5)
        assert response.status_code == 200 and METRICS_OF[part] in response.text, (part, response.text[:500])
    return True


@pytest.mark.timeout(900)
def test_dev_stack_serves_survives_a_worker_crash_stops_cleanly_and_restarts_with_its_state() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-e2e-"))
    api_port, temporal_port, ui_port = _free_ports(3)
    stack = Stack(data_dir, api_port, temporal_port, ui_port)
    # Traces go to a collector of the test's own, quickly (the default batches every 5 s).
    receiver = OtlpReceiver()
    collector = receiver.start()
    stack.env.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="200")
    canary = Canary()
    passed = False
    try:
        # 1-2. First start on an empty data dir.
        first_start = stack.start()
        print(f"\nfirst start ready in {first_start:.1f} s")
        _wait_for(lambda: "Ctrl-C stops everything" in stack.log(), 10, "the stack announcing itself")
        log = stack.log()
        assert re.search(rf"API docs\s+http://127\.0\.0\.1:{api_port}/docs", log), log
        assert re.search(rf"Temporal UI\s+http://127\.0\.0\.1:{ui_port}\b", log), log
        assert re.search(rf"Temporal\s+127\.0\.0\.1:{temporal_port}\b", log), log
        assert httpx.get(f"{stack.api}/healthz", timeout=5).json() == {"status": "ok", "postgres": True,
                                                                       "temporal": True}
        assert httpx.get(f"{stack.api}/docs", timeout=5).status_code == 200

        # 3. A key from the CLI, a complaint through the API, recorded by the worker.
        output = stack.cli("apikey", "create", "--role", "channel", "--channel", "website", "--name", "e2e")
        key = output.strip().splitlines()[-1]
        assert re.fullmatch(r"\S{20,}", key), output
        # A channel reads its cases as their submitters do; the case file with its timeline is staff's.
        auditor = stack.cli("apikey", "create", "--role", "auditor", "--name", "e2e-audit").strip().splitlines()[-1]
        assert httpx.get(f"{stack.api}/v1/departments", timeout=10).status_code == 401
        first = _submit(stack, key)
        first_case = _recorded_case(stack, auditor, first)
        assert first_case["timeline"][0]["action"] == "received"
        # The acknowledgement went to the local mail sink, as a file a person can open.
        assert re.search(r"email\s+kept as \.eml files in \S+mail", log), log
        acknowledgement = _wait_for(lambda: _mail_about(data_dir, first), 60, "the acknowledgement in .data/mail")
        assert "استلمنا" in acknowledgement["Subject"]

        # 4. Its workflow runs in the embedded Temporal, whose UI answers.
        _assert_running_in_temporal(stack, first)
        ui = _wait_for(lambda: httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=5).status_code == 200, 30,
                       "Temporal UI answering 200")
        assert ui
        # The UI's port was moved, and the codec lets the UI at that port (only) call it from a browser.
        ui_origin = f"http://127.0.0.1:{ui_port}"
        preflight = httpx.options(f"{stack.api}/v1/codec/decode", timeout=5, headers={
            "Origin": ui_origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.headers.get("access-control-allow-origin") == ui_origin, preflight.headers
        # And the UI knows its codec: the API's, at the address the UI's page is on (same site for the cookie).
        codec = httpx.get(f"{ui_origin}/api/v1/settings", timeout=5).json()["Codec"]
        assert codec["Endpoint"] == f"{stack.api}/v1/codec", codec

        # 4b. Every process exports its metrics where the stack says (README "Metrics").
        metrics = _announced_metrics(log)
        _assert_metrics(metrics)

        # 4c. The confidentiality canary, over logs and traces (checked once the stack has stopped).
        canary_reference = _canary_moves(stack, key, auditor, canary)

        # 5. Kill the worker: the supervisor starts another, and a case submitted meanwhile is recorded.
        stack.remember_children()
        workers = _wait_for(stack.worker_processes, 10, "the worker process")
        assert len(workers) == 1, workers
        crashed = workers[0]
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(10)
        second = _submit(stack, key, subject="Second complaint", description="Sent while the worker was down.")
        replacements = _wait_for(
            lambda: [w for w in stack.worker_processes() if w.pid != crashed.pid], 30, "a new worker process"
        )
        assert len(replacements) == 1, replacements
        stack.remember_children()
        assert "worker exited with -9; restarting" in stack.log()
        # The new worker binds the same metrics port again.
        _wait_for(lambda: _assert_metrics({"worker": metrics["worker"]}), 30, "the new worker's metrics")
        second_case = _recorded_case(stack, auditor, second)
        assert second_case["timeline"][0]["action"] == "received"
        assert second_case["subject"] == "Second complaint"
        _assert_running_in_temporal(stack, second)
        third = _submit(stack, key, kind="suggestion", subject="After the restart")
        _recorded_case(stack, auditor, third)

        # 6. SIGTERM stops everything, PostgreSQL too.
        _assert_nothing_left(stack, stack.stop())

        # 7. A second start on the same data dir finds the cases, the key and the running workflows.
        stack.seen.clear()
        second_start = stack.start()
        print(f"second start ready in {second_start:.1f} s")
        again = _recorded_case(stack, auditor, first, timeout=30)
        assert again["reference"] == first
        assert again["subject"] == first_case["subject"]
        assert again["timeline"][: len(first_case["timeline"])] == first_case["timeline"]
        _assert_running_in_temporal(stack, first)
        _assert_running_in_temporal(stack, second)
        # The workflows are alive, not only listed: a new worker serves them and new cases alike.
        fourth = _submit(stack, key, subject="After the second start")
        _recorded_case(stack, auditor, fourth)
        _assert_nothing_left(stack, stack.stop())
        _assert_logs_and_traces_without_the_canary(stack, receiver, canary, canary_reference)
        passed = True
    finally:
        try:
            stack.end(passed)
        finally:
            collector.shutdown()
            if not os.environ.get("KEEP_TEST_DATA"):
                shutil.rmtree(data_dir, ignore_errors=True)
