"""Logs: one JSON line per event, with the process's service and the case's reference where there is one.

Every process `complaints` runs configures its logging here (core/cli.py), once. A line names the case it is
about (`case`) and never the person: the project's messages log references, steps and counts; uvicorn's access
lines lose the client's address and the query string (a tracking link carries its code there); Temporal's
workflow and activity lines carry their ids as fields (`temporal_workflow`, `temporal_activity`) instead of
quoting them in the message. `COMPLAINTS_LOG_FORMAT=text` gives one readable line per event instead, for a
developer's terminal.
"""

import logging
import sys
from contextvars import ContextVar

LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The case a request or an activity is about, set where the reference is known (the API's routes, intake);
# an activity's and a workflow's case come from their workflow id.
case_reference: ContextVar[str | None] = ContextVar("case_reference", default=None)
CASE_WORKFLOW_PREFIX = "case-"  # workflows/case.py: workflow_id(reference)
# uvicorn adds a copy of some messages with terminal colours, Temporal's core forwarding the entry it made the
# message from: the message itself is enough.
NOT_FIELDS = ("color_message", "temporal_log")
TEMPORAL_CORE_LOGGER = "temporalio.core"


def case_of_workflow(workflow_id: str | None) -> str | None:
    if workflow_id and workflow_id.startswith(CASE_WORKFLOW_PREFIX):
        return workflow_id[len(CASE_WORKFLOW_PREFIX):]
    return None


class CaseReference(logging.Filter):
    """Adds `case` to each record about a case: from the request or intake, else from the running activity or
    workflow."""

    def filter(self, record: logging.LogRecord) -> bool:
        reference = case_reference.get() or _case_of_activity() or _case_of_workflow_record(record)
        if reference and not hasattr(record, "case"):
            record.case = reference
        return True


def _case_of_activity() -> str | None:
    from temporalio import activity

    return case_of_workflow(activity.info().workflow_id) if activity.in_activity() else None


def _case_of_workflow_record(record: logging.LogRecord) -> str | None:
    details = getattr(record, "temporal_workflow", None)
    return case_of_workflow(details.get("workflow_id")) if isinstance(details, dict) else None


class AccessWithoutQuery(logging.Filter):
    """uvicorn's access line as method, path and status: no client address, no query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.protocols: (client address, method, path with its query, HTTP version, status code)
        if isinstance(record.args, tuple) and len(record.args) == 5:
            _, method, target, version, status = record.args
            path = str(target).split("?", 1)[0]
            record.msg, record.args = '"%s %s HTTP/%s" %d', (method, path, version, status)
            record.http_method, record.http_path, record.http_status = method, path, status
        return True


class _Configured(logging.StreamHandler):
    """The handler `configure` installs, so that a second call (worker.main after core.cli.main) changes nothing."""


def configure(service: str, log_format: str = "json", level: int = logging.INFO) -> None:
    """The process's logging: one line per event on stderr, JSON unless `log_format` is "text"."""
    root = logging.getLogger()
    if any(isinstance(handler, _Configured) for handler in root.handlers):
        return
    if log_format not in LOG_FORMATS:
        raise ValueError(f"COMPLAINTS_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = _Configured(sys.stderr)
    handler.addFilter(CaseReference())
    handler.setFormatter(_json_formatter(service) if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # a library's warning is a line like any other, not raw text on stderr
    logging.getLogger("uvicorn.access").addFilter(AccessWithoutQuery())
    _temporal_core_through_this_handler()
    if log_format == "json":
        _temporal_ids_as_fields()


def _json_formatter(service: str) -> logging.Formatter:
    from pythonjsonlogger.core import RESERVED_ATTRS
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "{levelname}{name}{message}", style="{", timestamp="time",
        rename_fields={"levelname": "level", "name": "logger"}, static_fields={"service": service},
        reserved_attrs=[*RESERVED_ATTRS, *NOT_FIELDS],
    )


def temporal_core_logging():
    """The Temporal SDK core's log lines (written in Rust, to stderr by default) forwarded to Python's logging, so
    that they are lines like the others. A Runtime made elsewhere (metrics) takes this as its `logging`."""
    from temporalio.runtime import LogForwardingConfig, LoggingConfig

    return LoggingConfig(filter=LoggingConfig.default.filter,
                         forwarding=LogForwardingConfig(logger=logging.getLogger(TEMPORAL_CORE_LOGGER)))


def _temporal_core_through_this_handler() -> None:
    from temporalio.runtime import Runtime, TelemetryConfig

    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=temporal_core_logging())), error_if_already_set=False)


def _temporal_ids_as_fields() -> None:
    """Temporal's workflow and activity loggers append their ids to the message; in JSON they are fields already."""
    from temporalio import activity, workflow

    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
