"""The Temporal SDK's own metrics (task latencies, sticky cache, activity failures) for Prometheus to scrape."""

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core.settings import Settings

# Seconds, as Prometheus and every other duration here are (the SDK's default is milliseconds, without a unit).
SDK_PROMETHEUS_OPTIONS = {"durations_as_seconds": True}


def sdk_metrics_runtime(settings: Settings, port: int | None) -> Runtime | None:
    """A Runtime whose clients and workers export their metrics on `port` (/metrics); None: the port is unset.

    One per process: the exporter binds its port when the Runtime is made.
    """
    if port is None:
        return None
    exporter = PrometheusConfig(bind_address=f"{settings.metrics_host}:{port}", **SDK_PROMETHEUS_OPTIONS)
    return Runtime(telemetry=TelemetryConfig(metrics=exporter))
