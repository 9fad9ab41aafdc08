"""The alert rules, the Prometheus configuration and the Grafana dashboard are well formed (what Prometheus and
Grafana would refuse); tests/e2e/test_metrics.py checks that the metrics they name are exported."""

import re

import yaml

from tests.ops_files import (
    ALERTS,
    PROMETHEUS,
    alert_expressions,
    alert_rules,
    dashboard,
    dashboard_expressions,
    metric_names_in,
)

DURATION = re.compile(r"^\d+[smhd]$")
# What issue 15 asks the rules to tell: worker down, tasks waiting to start, messages failing, cases overdue.
ASKED_FOR = {"up", "temporal_workflow_task_schedule_to_start_latency_bucket", "complaints_messages",
             "complaints_overdue_cases"}


def test_every_alert_rule_has_a_name_an_expression_a_severity_and_a_summary():
    rules = alert_rules()
    assert len({rule["alert"] for rule in rules}) == len(rules)
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["expr"].strip() and rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert DURATION.match(rule.get("for", "0s")), rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


def test_the_rules_cover_what_the_issue_asks_for():
    used = set().union(*(metric_names_in(expression) for expression in alert_expressions()))
    assert ASKED_FOR <= used


def test_prometheus_scrapes_the_three_processes_and_loads_the_rules():
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {job["job_name"]: [target for static in job["static_configs"] for target in static["targets"]]
               for job in config["scrape_configs"]}
    assert targets == {"complaints-worker": ["worker:9464"], "complaints-sender": ["delivery:9465"],
                       "complaints-api": ["api:9466"]}
    assert config["rule_files"] == [f"/etc/prometheus/{ALERTS.name}"]


def test_the_dashboard_is_a_grafana_dashboard_whose_panels_each_query_prometheus():
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"]["type"] == "prometheus" and panel["targets"], panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
    titles = " ".join(panel["title"].lower() for panel in panels)
    for asked in ("intake", "latency p99", "open cases by status", "open cases by department", "overdue",
                  "breached", "pending and failed", "schedule-to-start p99", "sticky cache", "activity failures"):
        assert asked in titles
    assert all(expression.count("(") == expression.count(")") for expression in dashboard_expressions())


def test_the_names_are_read_out_of_promql():
    expression = ('histogram_quantile(0.99, sum by (le, task_queue) (rate(x_bucket{job="a", le!="b"}[5m]))) > 5 '
                  'and on (job) up{job=~"w|s"} == 0 unless absent(y_total offset 5m)')
    assert metric_names_in(expression) == {"x_bucket", "up", "y_total"}
