"""The operations files (ops/): the alert rules and the dashboard, read as Prometheus and Grafana read them, and
the metric names their PromQL expressions use."""

import json
import re
from pathlib import Path

import yaml

OPS = Path(__file__).resolve().parent.parent / "ops"
ALERTS = OPS / "prometheus" / "alerts.yml"
PROMETHEUS = OPS / "prometheus" / "prometheus.yml"
DASHBOARD = OPS / "grafana" / "complaints.json"

# What PromQL writes between a metric's name and the rest, or that is not a name: dropped before looking.
_NOT_NAMES = [
    r'"(?:[^"\\]|\\.)*"',  # strings (label values)
    r"\{[^}]*\}",  # label matchers
    r"\[[^\]]*\]",  # ranges
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",  # label lists
]
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                       "bool", "offset", "inf", "nan"})
_IDENTIFIER = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def metric_names_in(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (function names, keywords and labels left out)."""
    for pattern in _NOT_NAMES:
        expression = re.sub(pattern, " ", expression)
    return {name for name in _IDENTIFIER.findall(expression) if name.lower() not in _KEYWORDS}


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def alert_expressions() -> list[str]:
    return [rule["expr"] for rule in alert_rules()]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]
