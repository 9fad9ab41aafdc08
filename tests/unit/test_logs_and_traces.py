"""Logs and traces without servers: what a log line and an exported span hold, and that tracing costs nothing
until an OTLP endpoint is set (the trace through the real servers is tests/workflows/test_traces.py)."""

import dataclasses
import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from core import logs, tracing

PERSON = "Salim Canary, salim.canary@example.om"


@pytest.fixture
def untraced_process(monkeypatch):
    """The process as it starts: no provider built yet, no OTLP setting, no service name set."""
    for name in (*tracing.ENDPOINT_SETTINGS, "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracing, "_process_provider", None)
    monkeypatch.setattr(tracing, "_process_provider_built", False)
    monkeypatch.setattr(tracing, "_process_service", tracing.DEFAULT_SERVICE_NAME)


def test_without_an_endpoint_there_is_no_provider_and_no_interceptor(untraced_process):
    assert tracing.process_tracer_provider() is None
    assert tracing.temporal_interceptors(None) == []


@pytest.mark.parametrize(("command", "service"), [("api", "complaints-api"), ("worker", "complaints-worker"),
                                                  ("delivery", "complaints-sender")])
def test_with_an_endpoint_each_process_traces_under_its_own_name(untraced_process, monkeypatch, command, service):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    tracing.name_this_process(command)
    provider = tracing.process_tracer_provider()
    try:
        assert provider.resource.attributes["service.name"] == service
        assert type(tracing.temporal_interceptors(provider)[0]).__name__ == "TracingInterceptor"
    finally:
        provider.shutdown()


def test_otel_service_name_overrides_the_process_name(untraced_process, monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "complaints-api-blue")
    tracing.name_this_process("api")
    assert tracing.service_name() == "complaints-api-blue"


def test_a_span_leaves_with_its_route_status_and_ids_and_nothing_a_person_wrote():
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing.gated(exported)))
    with provider.get_tracer("test").start_as_current_span("POST /v1/cases", kind=SpanKind.SERVER, attributes={
        "http.method": "POST", "http.route": "/v1/cases", "http.status_code": 422,
        "http.target": "/v1/cases?code=SECRET", "http.url": "http://api.test/v1/cases?code=SECRET",
        "http.user_agent": PERSON, "net.peer.ip": "192.0.2.1", "temporalWorkflowID": "case-CMP-2026-000001",
    }, record_exception=False) as span:
        span.record_exception(ValueError(f"refused: {PERSON}"))
        span.set_status(Status(StatusCode.ERROR, f"ValueError: refused: {PERSON}"))
    provider.shutdown()

    (sent,) = exported.get_finished_spans()
    assert dict(sent.attributes) == {"http.method": "POST", "http.route": "/v1/cases", "http.status_code": 422,
                                     "temporalWorkflowID": "case-CMP-2026-000001"}
    assert [dict(event.attributes) for event in sent.events] == [{"exception.type": "ValueError",
                                                                  "exception.escaped": "False"}]
    assert (sent.status.status_code, sent.status.description) == (StatusCode.ERROR, None)
    assert "Canary" not in sent.to_json() and "SECRET" not in sent.to_json()


def json_lines(configure_as: str = "json") -> tuple[logging.Logger, io.StringIO]:
    """A logger writing through the handler `logs.configure` installs, into a buffer instead of stderr."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(logs.CaseReference())
    handler.setFormatter(logs._json_formatter("complaints-test") if configure_as == "json"
                         else logging.Formatter(logs.TEXT_FORMAT))
    logger = logging.getLogger(f"complaints.test.{configure_as}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, written


def test_a_log_line_is_one_json_object_naming_the_case_set_by_the_request():
    logger, written = json_lines()
    token = logs.case_reference.set("CMP-2026-000042")
    try:
        logger.info("case received: a %s through %s", "complaint", "website")
    finally:
        logs.case_reference.reset(token)
    logger.info("worker polling")

    first, second = (json.loads(line) for line in written.getvalue().splitlines())
    assert first["message"] == "case received: a complaint through website"
    assert (first["case"], first["service"], first["level"], first["logger"]) == (
        "CMP-2026-000042", "complaints-test", "INFO", "complaints.test.json")
    assert "time" in first and "case" not in second


async def test_an_activity_line_names_the_case_of_its_workflow():
    logger, written = json_lines()

    @activity.defn
    async def record_step() -> None:
        logger.info("step recorded")

    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id="case-CMP-2026-7")
    await environment.run(record_step)
    assert json.loads(written.getvalue())["case"] == "CMP-2026-7"


def test_uvicorn_access_lines_keep_method_path_and_status_only():
    logger, written = json_lines()
    logger.addFilter(logs.AccessWithoutQuery())
    logger.info('%s - "%s %s HTTP/%s" %d', "192.0.2.7:5555", "GET", "/track?reference=CMP-1&code=SECRET", "1.1", 200)
    line = json.loads(written.getvalue())
    assert line["message"] == '"GET /track HTTP/1.1" 200'
    assert (line["http_method"], line["http_path"], line["http_status"]) == ("GET", "/track", 200)
    assert "192.0.2.7" not in written.getvalue() and "SECRET" not in written.getvalue()


def test_text_logs_for_a_terminal_are_one_readable_line():
    logger, written = json_lines("text")
    logger.info("worker polling task queue %s", "complaints")
    assert written.getvalue().rstrip().endswith("INFO complaints.test.text worker polling task queue complaints")


def test_an_unknown_log_format_is_refused_by_name():
    with pytest.raises(ValueError, match="COMPLAINTS_LOG_FORMAT must be one of json, text"):
        logs.configure("complaints-test", "xml")
