"""Who may read the API's /metrics (127.0.0.1, any loopback address, and COMPLAINTS_METRICS_ALLOWED_NETWORKS), what
the figures look like, and a metrics port that cannot be had."""

import socket
from ipaddress import ip_network

import httpx
import pytest
from prometheus_client import CollectorRegistry

from api.metrics import CaseFiguresCollector, may_read_metrics, metrics_app
from core.metrics import sdk_metrics_runtime
from core.settings import NotConfigured, Settings
from store.metrics import CaseFigures

COMPOSE_NETWORK = [ip_network("172.18.0.0/16"), ip_network("fd00:1::/64")]


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.5", "::1", "::ffff:127.0.0.1", "172.18.3.4",
                                     "::ffff:172.18.0.9", "fd00:1::7"])
def test_loopback_and_the_allowed_networks_may_read(address):
    assert may_read_metrics(address, COMPOSE_NETWORK)


@pytest.mark.parametrize("address", ["172.19.0.1", "10.0.0.1", "192.0.2.2", "fd00:2::1", "::ffff:10.0.0.1", "",
                                     None, "not-an-address", "testclient"])
def test_anyone_else_may_not(address):
    assert not may_read_metrics(address, COMPOSE_NETWORK)


def test_with_no_network_allowed_only_loopback_may_read():
    assert may_read_metrics("127.0.0.1", []) and not may_read_metrics("172.18.3.4", [])


def test_the_setting_takes_comma_separated_cidrs():
    settings = Settings(COMPLAINTS_METRICS_ALLOWED_NETWORKS="172.18.0.0/16, fd00:1::/64")
    assert settings.metrics_allowed_networks == COMPOSE_NETWORK
    with pytest.raises(ValueError, match="metrics_allowed_networks|COMPLAINTS_METRICS_ALLOWED_NETWORKS"):
        Settings(COMPLAINTS_METRICS_ALLOWED_NETWORKS="172.18.0.0/33")


async def test_an_outsider_gets_403_in_the_error_format_before_anything_is_read():
    # No database at all: a refusal must not touch it.
    app = metrics_app(CollectorRegistry(), database=None, allowed=COMPOSE_NETWORK)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics.test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_silent_database_is_said_and_no_figure_is_made_up():
    registry = CollectorRegistry()
    registry.register(CaseFiguresCollector(None))
    assert registry.get_sample_value("complaints_case_figures_up") == 0
    assert registry.get_sample_value("complaints_messages", {"state": "pending"}) is None


def test_the_figures_are_labelled_by_their_groups_and_a_case_without_department_is_none():
    figures = CaseFigures(open_cases={("received", "complaint", None, 2): 3, ("with_department", "report", "HR", 1): 1},
                          overdue={None: 3}, breached={"HR": 1}, messages={"sent": 7})
    registry = CollectorRegistry()
    registry.register(CaseFiguresCollector(figures))
    assert registry.get_sample_value("complaints_open_cases", {"status": "received", "kind": "complaint",
                                                               "department": "none", "escalation_level": "2"}) == 3
    assert registry.get_sample_value("complaints_overdue_cases", {"department": "none"}) == 3
    assert registry.get_sample_value("complaints_breached_cases", {"department": "HR"}) == 1
    # Every state is there, zero when empty, so that an alert on failed messages has a series to watch.
    assert registry.get_sample_value("complaints_messages", {"state": "failed"}) == 0
    assert registry.get_sample_value("complaints_messages", {"state": "sent"}) == 7


def test_a_taken_sdk_metrics_port_is_said_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(NotConfigured, match=f"127.0.0.1:{port}.*METRICS_PORT"):
            sdk_metrics_runtime(Settings(), port)
    assert sdk_metrics_runtime(Settings(), None) is None
