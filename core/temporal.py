"""The one way to reach Temporal: a client with the project's data converter, and its search attributes."""

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
)
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from core import tracing
from core.codec import codec_from
from core.settings import NotConfigured, Settings
from workflows.case_attributes import CASE_SEARCH_ATTRIBUTES, DELIVER_FROM_NOW_SIGNAL

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

CASES_QUERY = 'WorkflowType = "CaseWorkflow"'
RUNNING_CASES = f'{CASES_QUERY} AND ExecutionStatus = "Running"'


def data_converter(settings: Settings) -> DataConverter:
    """The converter every client, worker and replayer uses: payloads and failure messages encrypted."""
    return DataConverter(
        payload_codec=codec_from(settings.resolved_codec_keys(), settings.codec_active_key),
        # Failure messages and stack traces can quote personal data; they are encoded like payloads.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, *, runtime: Runtime | None = None,
                  tracer_provider: "TracerProvider | None" = None) -> Client:
    """`runtime`: the process's own (core/metrics.py, its metrics exporter); None: the SDK's default."""
    return await Client.connect(
        settings.resolved_temporal_address(),
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=runtime,
        # Traces (core/tracing.py): none without an OTLP endpoint; a worker built on this client traces too.
        interceptors=tracing.temporal_interceptors(tracer_provider or tracing.process_tracer_provider()),
        **connection_security(settings),
    )


def connection_security(settings: Settings) -> dict:
    """TLS (mTLS with a client certificate) and the API key, as Temporal Cloud or a TLS-protected cluster needs.

    A certificate without its key (or the reverse) is refused before any connection, naming both settings: a
    half-configured TLS would otherwise show as a server that "does not answer" after a minute of retries.
    """
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if (cert is None) != (key is None):
        pair = ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY")
        given, missing = pair if cert else pair[::-1]
        raise NotConfigured(f"{given} is set but {missing} is not: mTLS needs the client certificate and its key")
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    if not (cert or ca or settings.temporal_tls_server_name or settings.temporal_tls):
        return {"api_key": api_key}  # with an API key, the SDK turns TLS on with the system's CAs
    return {"api_key": api_key, "tls": TLSConfig(
        client_cert=_pem(cert, "TEMPORAL_TLS_CERT"), client_private_key=_pem(key, "TEMPORAL_TLS_KEY"),
        server_root_ca_cert=_pem(ca, "TEMPORAL_TLS_CA"), domain=settings.temporal_tls_server_name)}


def _pem(path: Path | None, setting: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise NotConfigured(f"{setting}: cannot read {path} ({error.strerror})") from None


async def connect_when_ready(settings: Settings, timeout: float = 60, *, runtime: Runtime | None = None,
                             tracer_provider: "TracerProvider | None" = None) -> Client:
    """Connect, waiting for a server that is still starting (the dev stack starts everything at once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await connect(settings, runtime=runtime, tracer_provider=tracer_provider)
            await client.count_workflows()
            return client
        except NotConfigured:
            raise  # a setting to fix, not a server still starting
        except Exception as error:
            if time.monotonic() > deadline:
                raise NotConfigured(
                    f"Temporal does not answer at {settings.resolved_temporal_address()} (waited {timeout:.0f} s): "
                    "start "
                    "the stack with `complaints dev`, or set TEMPORAL_ADDRESS to a running server"
                ) from error
            await asyncio.sleep(0.25)


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the case's search attributes on a server that lacks them (the dev server has them from its flags)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in CASE_SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


async def deliver_from_now_on_running_cases(client: Client) -> int:
    """Signal every running case to deliver its messages from now on; the number signalled.

    Once, after the upgrade that brought delivery: cases begun before it would push nothing for the
    rest of their lives (workflows/case.py, deliver_from_now). Running it again changes nothing.
    """
    signalled = 0
    async for execution in client.list_workflows(RUNNING_CASES):
        try:
            await client.get_workflow_handle(execution.id).signal(DELIVER_FROM_NOW_SIGNAL)
            signalled += 1
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it ended meanwhile
                raise
    return signalled
