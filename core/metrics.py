"""The Temporal SDK's own metrics (task latencies, sticky cache, activity failures) for Prometheus to scrape."""

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core import logs
from core.settings import NotConfigured, Settings

# Seconds, as Prometheus and every other duration here are (the SDK's default is milliseconds, without a unit).
SDK_PROMETHEUS_OPTIONS = {"durations_as_seconds": True}


def sdk_metrics_runtime(settings: Settings, port: int | None) -> Runtime | None:
    """A Runtime whose clients and workers export their metrics on `port` (/metrics); None: the port is unset.

    One per process: the exporter binds its port when the Runtime is made.
    """
    if port is None:
        return None
    address = f"{settings.metrics_host}:{port}"
    exporter = PrometheusConfig(bind_address=address, **SDK_PROMETHEUS_OPTIONS)
    try:
        # The SDK core's own log lines stay JSON like the process's others (core/logs.py).
        return Runtime(telemetry=TelemetryConfig(metrics=exporter, logging=logs.temporal_core_logging()))
    except ValueError as error:  # the SDK's word for a port it cannot bind
        raise NotConfigured(f"no metrics exporter at {address} ({error}): set another COMPLAINTS_*_METRICS_PORT, "
                            "or leave it unset for none") from error
