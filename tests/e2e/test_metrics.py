"""Every process's metrics, scraped from the real processes: `complaints worker`, `complaints delivery` and
`complaints api`, started as an operator starts them, on the session's Temporal and a database of their own.

The SDK's own figures are there (schedule-to-start latency, the sticky cache, activity failures: email goes to a
closed port); the case figures match what was done (a complaint left to escalate and breach, a suggestion still
within its time) and the outbox; an address outside the allowed networks gets 403; the canary's personal data and
the cases' references appear in no scrape; and every metric the alert rules and the dashboard use is exported.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from api.auth import create_api_key
from api.service.intake import reference_sequence
from core.embedded import free_port
from core.timekeeping import policy_at
from domain.calendar import MUSCAT
from domain.kinds import Channel, Kind, Role
from store.db import Database, sqlalchemy_url
from store.deliveries import delivery_figures
from store.migrate import seed_departments, upgrade_to_head
from tests.conftest import REPO, TEST_CODEC_KEYS, RunningServers
from tests.e2e.test_confidentiality import Canary
from tests.helpers import bearer, eventually, read_case
from tests.ops_files import alert_expressions, dashboard_expressions, metric_names_in

# The session's calendar: the complaint's department due falls within 6 s and its answer due within 10 s; the
# suggestion's department due no sooner than 18 s, long after the test has looked.
WORKING_DAY_SECONDS = 2.0
# Series that Prometheus itself makes for every target.
PROMETHEUS_OWN = {"up"}
# The SDK exports an activity's figures once one has run: a new case runs none (its steps are local activities, its
# messages go from the outbox); the digest, the reports, retention and older cases' messages do, elsewhere.
AFTER_AN_ACTIVITY = {"temporal_activity_execution_failed", "temporal_activity_schedule_to_start_latency_bucket"}
# An allowed network that holds none of this machine's addresses (TEST-NET-3).
ELSEWHERE = "203.0.113.0/24"


@dataclass
class Processes:
    api: str
    worker_metrics: str
    sender_metrics: str
    api_metrics: str
    database: Database
    log: Path


def number_references_apart(url: str) -> None:
    """This database's cases run on the session's Temporal, where other modules' databases have made their own
    C-2026-000001: a reference drawn here from a low number would name a workflow that is already there."""
    engine = create_engine(url, poolclass=pool.NullPool)
    year = datetime.now(MUSCAT).year
    with engine.begin() as connection:
        for kind in Kind:
            connection.execute(text(f"create sequence {reference_sequence(kind, year)} start with 900000"))
    engine.dispose()


@pytest.fixture(scope="module")
def metrics_database_url(servers: RunningServers) -> Iterator[str]:
    """A database of their own, so that the case figures are exactly this module's."""
    main = sqlalchemy_url(servers.database_url)
    name = f"metrics_{uuid.uuid4().hex[:12]}"
    admin = create_engine(main, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"create database {name}"))
    url = make_url(main).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        seed_departments(url, policy_at(REPO / "policy.toml").departments)
        number_references_apart(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"drop database {name} with (force)"))
        admin.dispose()


@pytest.fixture(scope="module")
async def processes(servers: RunningServers, metrics_database_url: str, http_sink, tmp_path_factory,
                    temporal_client) -> AsyncIterator[Processes]:
    """The three processes with their metrics ports, until the module ends. (temporal_client: the module's
    cases are stopped at its end.)"""
    folder = tmp_path_factory.mktemp("metrics")
    ports = dict(api=free_port(), worker=free_port(), sender=free_port(), api_metrics=free_port())
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMPLAINTS_")}
    env.update(
        DATABASE_URL=metrics_database_url, TEMPORAL_ADDRESS=servers.temporal_address,
        COMPLAINTS_TASK_QUEUE=f"metrics-{uuid.uuid4().hex[:8]}", COMPLAINTS_DATA_DIR=str(folder),
        COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS, COMPLAINTS_WORKING_DAY_SECONDS=str(WORKING_DAY_SECONDS),
        COMPLAINTS_POLICY=str(REPO / "policy.toml"), PYTHONUNBUFFERED="1",
        # Email fails at once (nothing listens there): the sender's activity failures. SMS reaches the sink.
        COMPLAINTS_SMTP_HOST="127.0.0.1", COMPLAINTS_SMTP_PORT=str(free_port()),
        COMPLAINTS_SMS_URL=http_sink.url("/sms"),
        COMPLAINTS_API_HOST="127.0.0.1", COMPLAINTS_API_PORT=str(ports["api"]),
        # Every address of the machine, so that its own non-loopback address can be turned away.
        COMPLAINTS_METRICS_HOST="0.0.0.0", COMPLAINTS_METRICS_ALLOWED_NETWORKS=ELSEWHERE,
        COMPLAINTS_WORKER_METRICS_PORT=str(ports["worker"]), COMPLAINTS_SENDER_METRICS_PORT=str(ports["sender"]),
        COMPLAINTS_API_METRICS_PORT=str(ports["api_metrics"]),
    )
    log = folder / "processes.log"
    started = []
    with log.open("ab") as output:
        for part in ("worker", "delivery", "api"):
            started.append(subprocess.Popen([sys.executable, "-m", "core.cli", part], cwd=REPO, env=env,
                                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True))
    database = Database(metrics_database_url, pool_size=2)
    running = Processes(
        api=f"http://127.0.0.1:{ports['api']}", worker_metrics=f"http://127.0.0.1:{ports['worker']}/metrics",
        sender_metrics=f"http://127.0.0.1:{ports['sender']}/metrics",
        api_metrics=f"http://127.0.0.1:{ports['api_metrics']}/metrics", database=database, log=log,
    )
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            async def all_answer() -> bool:
                for process in started:
                    assert process.poll() is None, f"a process exited:\n{log.read_text()[-3000:]}"
                for url in (f"{running.api}/healthz", running.worker_metrics, running.sender_metrics,
                            running.api_metrics):
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get(url)).status_code == 200:
                            continue
                    return False
                return True

            await eventually(all_answer, timeout=60, interval=0.2)
        yield running
    finally:
        # The workers would let their sends finish (up to 45 s); nothing here needs them to, the API stops at once.
        *workers, api = started
        for process in workers:
            process.kill()
        api.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        await database.dispose()


async def scrape(url: str, *, address: str = "127.0.0.1") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, transport=httpx.AsyncHTTPTransport(local_address=address)) as client:
        return await client.get(url)


def samples(body: str) -> dict[tuple[str, frozenset], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def exported_names(body: str) -> set[str]:
    """Every family and sample name (histograms' _bucket, _sum and _count too)."""
    names = set()
    for family in text_string_to_metric_families(body):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def value(figures: dict, name: str, **labels: str) -> float:
    return figures.get((name, frozenset(labels.items())), 0)


def own_address() -> str:
    """This machine's address on its network (a UDP socket's local end: nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("203.0.113.1", 9))
        return probe.getsockname()[0]


async def case_as_staff_read_it(processes: Processes, reference: str) -> dict:
    _, key = await create_api_key(processes.database, role=Role.CS_AGENT, name="metrics reader", department=None)
    async with httpx.AsyncClient(base_url=processes.api, timeout=30) as api:
        return await read_case(api, key, reference)


@dataclass
class Scenario:
    escalated: str
    calm: str
    canary: Canary


@pytest.fixture(scope="module")
async def scenario(processes: Processes) -> Scenario:
    """A complaint left alone until it escalates and breaches, and a suggestion still within its time."""
    _, key = await create_api_key(processes.database, role=Role.CHANNEL, name="metrics test", department=None,
                                 channels=list(Channel))
    canary = Canary()
    references = []
    async with httpx.AsyncClient(base_url=processes.api, timeout=30) as api:
        for case, kind in (("escalated", "complaint"), ("calm", "suggestion")):
            response = await api.post("/v1/cases", json=canary.submission(case, kind=kind), headers=bearer(key))
            assert response.status_code == 201, response.text
            references.append(response.json()["reference"])

    async def breached() -> bool:
        figures = samples((await scrape(processes.api_metrics)).text)
        return value(figures, "complaints_breached_cases", department="none") == 1

    await eventually(breached, timeout=40, interval=0.5)
    return Scenario(*references, canary)


async def test_the_case_figures_are_what_was_done(processes: Processes, scenario: Scenario) -> None:
    figures = samples((await scrape(processes.api_metrics)).text)
    open_cases = {labels: count for (name, labels), count in figures.items() if name == "complaints_open_cases"}
    # The levels as the cases' own pages give them: on a starved machine the suggestion may have escalated too.
    levels = {case: (await case_as_staff_read_it(processes, reference))["escalation_level"]
              for case, reference in (("complaint", scenario.escalated), ("suggestion", scenario.calm))}
    assert levels["complaint"] >= 2
    assert open_cases == {
        frozenset(dict(status="received", kind=kind, department="none", escalation_level=str(level)).items()): 1
        for kind, level in levels.items()
    }
    escalated = sum(1 for level in levels.values() if level >= 2)  # their department's due has passed
    assert value(figures, "complaints_overdue_cases", department="none") == escalated
    assert value(figures, "complaints_breached_cases", department="none") == 1
    assert value(figures, "complaints_case_figures_up") == 1

    async def messages_match_the_outbox() -> bool:
        # The outbox moves while the sender retries; the two reads agree whenever nothing moved in between.
        scraped = samples((await scrape(processes.api_metrics)).text)
        outbox = (await delivery_figures(processes.database, failed_limit=1)).messages
        states = {"pending", "sent", "failed", "no_contact"}
        return all(value(scraped, "complaints_messages", state=state) == outbox.get(state, 0) for state in states)

    await eventually(messages_match_the_outbox, timeout=15, interval=0.2)
    scraped = samples((await scrape(processes.api_metrics)).text)
    assert value(scraped, "complaints_messages", state="pending") + value(scraped, "complaints_messages",
                                                                          state="sent") > 0


async def test_the_api_counts_requests_by_route_template_and_status(processes: Processes, scenario: Scenario) -> None:
    figures = samples((await scrape(processes.api_metrics)).text)
    assert value(figures, "http_requests_total", handler="/v1/cases", method="POST", status="201") == 2
    assert value(figures, "http_request_duration_seconds_count", handler="/v1/cases", method="POST",
                 status="201") == 2


async def test_the_workers_export_the_sdk_figures(processes: Processes, scenario: Scenario) -> None:
    async def sdk_figures_there() -> bool:
        worker = exported_names((await scrape(processes.worker_metrics)).text)
        sender = exported_names((await scrape(processes.sender_metrics)).text)
        assert {"temporal_workflow_task_schedule_to_start_latency_bucket", "temporal_sticky_cache_size",
                "temporal_sticky_cache_hit"} <= worker
        # Every email fails (nothing listens at the SMTP port): the sender's attempts fail and are retried.
        assert {"temporal_request", "complaints_outbox_attempts_failed"} <= sender
        return True

    await eventually(sdk_figures_there, timeout=20, interval=0.5)


async def test_an_address_outside_the_allowed_networks_gets_403(processes: Processes) -> None:
    outside = own_address()
    assert outside != "127.0.0.1"
    refused = await scrape(processes.api_metrics.replace("127.0.0.1", outside), address=outside)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "complaints_open_cases" not in refused.text


async def test_no_scrape_holds_personal_data_or_a_reference(processes: Processes, scenario: Scenario) -> None:
    bodies = [(await scrape(url)).content
              for url in (processes.worker_metrics, processes.sender_metrics, processes.api_metrics)]
    everything = b"\n".join(bodies)
    assert scenario.canary.found_in(everything) == []
    for reference in (scenario.escalated, scenario.calm):
        assert reference.encode() not in everything
    # The search works: the markers are there to be found in what the cases hold.
    async with httpx.AsyncClient(base_url=processes.api, timeout=10) as api:
        _, auditor = await create_api_key(processes.database, role=Role.AUDITOR, name="metrics auditor",
                                            department=None)
        case = (await api.get(f"/v1/cases/{scenario.escalated}", headers=bearer(auditor))).content
    assert scenario.canary.found_in(case) != []


async def test_every_metric_the_rules_and_the_dashboard_use_is_exported(processes: Processes,
                                                                       scenario: Scenario) -> None:
    async def all_exported() -> bool:
        exported = PROMETHEUS_OWN | AFTER_AN_ACTIVITY
        for url in (processes.worker_metrics, processes.sender_metrics, processes.api_metrics):
            exported |= exported_names((await scrape(url)).text)
        used = {name for expression in alert_expressions() + dashboard_expressions()
                for name in metric_names_in(expression)}
        assert used - exported == set()
        return True

    await eventually(all_exported, timeout=20, interval=0.5)
