"""Traces: one trace from an HTTP request through the workflow it starts and the steps the workers run.

Spans go out over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
set; otherwise nothing here is imported or built, and a request costs what it did before. Each process names
itself (`OTEL_SERVICE_NAME`, else complaints-api, complaints-worker or complaints-sender).

A span leaves the process with only the attributes named in KEPT_ATTRIBUTES: the route's template, the method,
the status, Temporal's workflow, run and activity ids (a case's reference, no more). Never a URL or its query
string (tracking links carry codes), a header, a body, a payload, or an error's message, which can quote what a
person wrote or an address a mail server refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanProcessor
    from temporalio.client import Interceptor
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

ENDPOINT_SETTINGS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# The service name of each process `complaints` runs, by its command; OTEL_SERVICE_NAME overrides it.
SERVICE_NAMES = {"api": "complaints-api", "worker": "complaints-worker", "delivery": "complaints-sender"}
DEFAULT_SERVICE_NAME = "complaints"

KEPT_ATTRIBUTES = frozenset({
    # HTTP server spans, in the old and the new semantic conventions: the route's template, never the path.
    "http.method", "http.request.method", "http.route", "http.status_code", "http.response.status_code",
    "http.scheme", "url.scheme", "http.flavor", "network.protocol.version", "error.type",
    # An exception event keeps its type; its message and stack trace stay behind.
    "exception.type", "exception.escaped",
})
# Temporal's interceptor names its ids temporalWorkflowID, temporalRunID, temporalActivityID, temporalUpdateID...
KEPT_ATTRIBUTE_PREFIXES = ("temporal",)
# Requests that only ask whether the process is up or how it is doing: a span each would drown the traces.
UNTRACED_URLS = "healthz,metrics"

_process_service = DEFAULT_SERVICE_NAME
_process_provider: TracerProvider | None = None
_process_provider_built = False


def tracing_wanted() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_SETTINGS)


def name_this_process(command: str) -> None:
    """Called once by `complaints <command>` before it connects to anything."""
    global _process_service
    _process_service = SERVICE_NAMES.get(command, f"{DEFAULT_SERVICE_NAME}-{command}")


def service_name() -> str:
    return os.environ.get("OTEL_SERVICE_NAME") or _process_service


def process_tracer_provider() -> TracerProvider | None:
    """The process's tracer provider, exporting over OTLP; None (and nothing imported) without an endpoint."""
    global _process_provider, _process_provider_built
    if not _process_provider_built:
        _process_provider_built = True
        if tracing_wanted():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            # The exporter reads the endpoint, headers and timeout from the OTEL_EXPORTER_OTLP_* settings itself.
            _process_provider = tracer_provider(BatchSpanProcessor(gated(OTLPSpanExporter())))
    return _process_provider


def tracer_provider(processor: SpanProcessor, name: str | None = None) -> TracerProvider:
    """A provider for this process's service whose spans reach `processor` (tests hand in an in-memory one).

    Not installed as OpenTelemetry's global provider: the Temporal client and the app are given it, so that a
    test's provider and the process's never meet."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name or service_name()}))
    provider.add_span_processor(processor)
    return provider


def temporal_interceptors(provider: TracerProvider | None) -> list[Interceptor]:
    """Temporal's OpenTelemetry interceptor, on the client and so on every worker built from it."""
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("temporalio"))]


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox with OpenTelemetry passed through: the interceptor's workflow half uses the process's
    tracing context, which a fresh import inside the sandbox would not see (and could not read its settings for)."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("opentelemetry"))


def instrument_app(app: FastAPI, provider: TracerProvider | None) -> None:
    """A server span for each request, named by its route's template; only the HTTP exchange, not its send and
    receive events."""
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_URLS,
                                       exclude_spans=["receive", "send"])


def _kept(attributes) -> dict:
    return {key: value for key, value in (attributes or {}).items()
            if key in KEPT_ATTRIBUTES or key.startswith(KEPT_ATTRIBUTE_PREFIXES)}


def without_personal_data(span: ReadableSpan) -> ReadableSpan:
    """The span with only the kept attributes, its events' too, and its status without a description."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Link, Status

    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=_kept(span.attributes),
        events=[Event(event.name, _kept(event.attributes), event.timestamp) for event in span.events],
        links=[Link(link.context, _kept(link.attributes)) for link in span.links],
        kind=span.kind, status=Status(span.status.status_code), start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def gated(exporter: SpanExporter) -> SpanExporter:
    """`exporter` behind the one gate every span leaves through: each span `without_personal_data`."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class WithoutPersonalData(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return exporter.export([without_personal_data(span) for span in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return exporter.force_flush(timeout_millis)

    return WithoutPersonalData()
