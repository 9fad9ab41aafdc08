"""Traces (issue 15): one trace from `POST /v1/cases` through the workflow it starts and its first steps, and no
span carries a person's data.

The API, the case worker and the sender are built as production builds them, on the real servers, with the tracer
provider `core.tracing` makes for an OTLP endpoint, but exporting to memory behind the same gate.
"""

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from core import tracing
from core.settings import Settings
from core.temporal import connect
from tests.conftest import running_workers, services_for
from tests.e2e.test_confidentiality import Canary
from tests.helpers import bearer, created_references, eventually, read_case
from workflows.case import workflow_id

# The spans of a case's start, in the order they begin: the request, the client's start, the workflow's first
# task, and the local activities that record the case and its `received` step.
FIRST_SPANS = ("POST /v1/cases", "StartWorkflow:CaseWorkflow", "RunWorkflow:CaseWorkflow",
               "StartActivity:record_case", "RunActivity:record_case",
               "StartActivity:record_step", "RunActivity:record_step")


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(settings: Settings, database, exported) -> AsyncIterator[httpx.AsyncClient]:
    """The API over ASGI with a traced client, and the case worker and the sender on a task queue of their own."""
    provider = tracing.tracer_provider(SimpleSpanProcessor(tracing.gated(exported)), name="complaints-test")
    own = settings.model_copy(update={"task_queue": "complaints-traces"})
    client = await connect(own, tracer_provider=provider)
    app = create_app(services=services_for(own, database, client), tracer_provider=provider)
    async with running_workers(client, own, database), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test") as api:
        yield api
    provider.shutdown()


async def test_one_trace_from_the_request_through_the_first_steps_without_personal_data(traced, exported, keys,
                                                                                        mail_server):
    canary = Canary()
    body = canary.submission("traced")
    # A query string is no part of the contract, but a URL can carry one (a tracking link's code): none is kept.
    response = await traced.post(f"/v1/cases?code={canary.word('traced.query')}", json=body,
                                 headers=bearer(keys.channel))
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    created_references.append(reference)

    async def received() -> bool:
        case = await read_case(traced, keys.cs_agent, reference)
        names = {span.name for span in exported.get_finished_spans()}
        # The acknowledgement goes from the outbox (no activity, so no span of the case's trace): the steps are there.
        return case and case["timeline"] and set(FIRST_SPANS) <= names

    await eventually(received, timeout=60, interval=0.2)

    spans = exported.get_finished_spans()
    first = {name: next(span for span in spans if span.name == name) for name in FIRST_SPANS}
    request = first["POST /v1/cases"]
    case_spans = [span for span in spans if span.context.trace_id == request.context.trace_id]
    assert {span.name for span in case_spans} >= set(FIRST_SPANS)
    assert [span.context.trace_id for span in first.values()] == [request.context.trace_id] * len(FIRST_SPANS)
    # Each begins within the one before it: the request starts the workflow, whose task runs the steps.
    assert first["StartWorkflow:CaseWorkflow"].parent.span_id == request.context.span_id
    assert first["RunWorkflow:CaseWorkflow"].parent.span_id == first["StartWorkflow:CaseWorkflow"].context.span_id
    assert first["RunActivity:record_case"].parent.span_id == first["StartActivity:record_case"].context.span_id
    assert request.attributes["http.route"] == "/v1/cases"
    assert first["StartWorkflow:CaseWorkflow"].attributes["temporalWorkflowID"] == workflow_id(reference)
    assert first["RunWorkflow:CaseWorkflow"].resource.attributes["service.name"] == "complaints-test"

    # The canary: every marker is in the request that made these spans, none in what they export.
    assert canary.missing_from(json.dumps(body).encode() + str(response.request.url).encode()) == []
    written = "\n".join(span.to_json() for span in spans).encode()
    assert canary.found_in(written) == []
    assert b"code=" not in written and "http.target" not in request.attributes
