"""The API's /metrics, on a port of its own beside the API: requests by route and status, and the case figures.

The figures are read from PostgreSQL at each scrape (store/metrics.py), so every API process reports the same
numbers. Labels are route templates, statuses, kinds, department codes and levels, never a reference or a
person's data: each label takes a handful of values.
"""

import asyncio
import logging
from collections.abc import Iterator, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

import uvicorn
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.errors import ErrorBody, ErrorResponse
from core.settings import Settings
from domain.steps import MessageState
from store.db import Database
from store.metrics import CaseFigures, case_figures

log = logging.getLogger("complaints.metrics")

# Seconds; from a cached read (a few ms) to an Update that waits on the workflow (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# A department of None: the case is not yet handed to one.
NO_DEPARTMENT = "none"
# The figures' own connections, apart from the API's pool: a scrape never waits behind requests.
FIGURES_POOL_SIZE = 1

Network = IPv4Network | IPv6Network


def instrument(app: FastAPI) -> CollectorRegistry:
    """Count and time every request of `app` by route template, method and status; the registry they are in.

    A registry per app, not the process's global one: each app (a test makes many) has its own counts.
    """
    registry = CollectorRegistry()
    instrumentator = Instrumentator(registry=registry, should_group_status_codes=False)
    instrumentator.add(metrics.requests(registry=registry))
    instrumentator.add(metrics.latency(registry=registry, buckets=LATENCY_BUCKETS))
    instrumentator.instrument(app)
    return registry


def may_read_metrics(address: str | None, allowed: Sequence[Network]) -> bool:
    """127.0.0.1 (any loopback address) and the addresses of the allowed networks; no one else."""
    try:
        peer = ip_address(address or "")
    except ValueError:
        return False
    peer = getattr(peer, "ipv4_mapped", None) or peer  # ::ffff:10.0.0.5 is 10.0.0.5
    return peer.is_loopback or any(peer in network for network in allowed)


class CaseFiguresCollector(Collector):
    """The figures of one scrape as Prometheus gauges; with `figures` None (the database did not answer) only
    complaints_case_figures_up 0, so that an alert tells a silent database from an empty one."""

    def __init__(self, figures: CaseFigures | None) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("complaints_case_figures_up", "1: the case figures were read from PostgreSQL at "
                               "this scrape; 0: it did not answer.")
        up.add_metric([], 0 if self.figures is None else 1)
        yield up
        if self.figures is None:
            return
        yield self._open_cases(self.figures)
        yield _by_department("complaints_overdue_cases", "Cases whose department due has passed without the "
                             "department's answer.", self.figures.overdue)
        yield _by_department("complaints_breached_cases", "Open cases whose answer due has passed.",
                             self.figures.breached)
        messages = GaugeMetricFamily("complaints_messages", "Messages for people in the outbox, by state.",
                                     labels=["state"])
        for state in MessageState:
            messages.add_metric([state], self.figures.messages.get(state, 0))
        yield messages

    @staticmethod
    def _open_cases(figures: CaseFigures) -> Metric:
        family = GaugeMetricFamily("complaints_open_cases", "Open cases by status, kind, department and "
                                   "escalation level.", labels=["status", "kind", "department", "escalation_level"])
        for (status, kind, department, level), count in sorted(figures.open_cases.items(), key=str):
            family.add_metric([status, kind, department or NO_DEPARTMENT, str(level)], count)
        return family


def _by_department(name: str, documentation: str, counts: dict[str | None, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=["department"])
    for department, count in sorted(counts.items(), key=str):
        family.add_metric([department or NO_DEPARTMENT], count)
    return family


async def _figures_or_none(database: Database) -> CaseFigures | None:
    try:
        return await case_figures(database)
    except Exception:  # the scrape still reports requests, and says the figures are missing
        log.warning("the case figures could not be read from PostgreSQL", exc_info=True)
        return None


def metrics_app(request_metrics: CollectorRegistry, database: Database, allowed: Sequence[Network]) -> Starlette:
    """The app of the metrics port: GET /metrics for 127.0.0.1 and the allowed networks, 403 for anyone else."""

    async def scrape(request: Request) -> Response:
        address = request.client.host if request.client else None
        if not may_read_metrics(address, allowed):
            refusal = ErrorBody(code="forbidden", message="metrics are for 127.0.0.1 and "
                                "COMPLAINTS_METRICS_ALLOWED_NETWORKS only")
            return JSONResponse(ErrorResponse(error=refusal).model_dump(), status_code=403)
        figures = CollectorRegistry()
        figures.register(CaseFiguresCollector(await _figures_or_none(database)))
        return Response(generate_latest(request_metrics) + generate_latest(figures), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", scrape)])


async def serve_api(app: FastAPI, settings: Settings) -> None:
    """The API, and its /metrics on COMPLAINTS_API_METRICS_PORT (when set) until the API stops."""
    # log_config=None: uvicorn's loggers write through the process's handler (core/logs.py), JSON like the rest.
    api = uvicorn.Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_level="info",
                                        log_config=None))
    if settings.api_metrics_port is None:
        await api.serve()
        return
    database = Database(settings.resolved_database_url(), pool_size=FIGURES_POOL_SIZE)
    exporting_config = uvicorn.Config(
        metrics_app(app.state.request_metrics, database, settings.metrics_allowed_networks),
        host=settings.metrics_host, port=settings.api_metrics_port, lifespan="off", log_config=None, log_level=None,
    )
    # A Config sets uvicorn's loggers for the whole process when it is made (access_log=False there would silence
    # the API's access lines too); the scrapes go unlogged through this server's own flag, read per connection.
    exporting_config.access_log = False
    exporter = uvicorn.Server(exporting_config)
    # Both servers take SIGTERM: the exporter's handler stops it and passes the signal on to the API's.
    exporting = asyncio.create_task(exporter.serve())
    try:
        await api.serve()
    finally:
        exporter.should_exit = True
        await exporting
        await database.dispose()
