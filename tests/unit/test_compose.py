"""docker-compose.yml and the Dockerfile, read as text: no Docker, no servers, no YAML library.

The compose file is read with a small indentation reader that understands what the file uses:
block mappings, `&anchor` / `<<: *anchor` merges, flow lists and `|` blocks. Names the app reads
come from core/settings.py itself, so a misspelt variable fails here, not in production.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.settings import Settings
from workflows.case_attributes import CASE_SEARCH_ATTRIBUTES

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"

APP_SERVICES = ("migrate", "worker", "delivery", "api")
EXPECTED_SERVICES = {
    "app-db",
    "temporal-db",
    "temporal-schema",
    "temporal",
    "temporal-namespace",
    "temporal-ui",
    *APP_SERVICES,
}
# The variables the images document (temporalio/temporal common/config/config_template_embedded.yaml,
# temporalio/ui server/config/docker.yaml, temporal-sql-tool's SQL_* flags, the postgres image).
TEMPORAL_SERVER_VARIABLES = {
    "DB", "DB_PORT", "POSTGRES_SEEDS", "POSTGRES_USER", "POSTGRES_PWD", "DBNAME", "VISIBILITY_DBNAME",
    "BIND_ON_IP", "TEMPORAL_BROADCAST_ADDRESS", "NUM_HISTORY_SHARDS", "DYNAMIC_CONFIG_FILE_PATH",
    "LOG_LEVEL", "SQL_MAX_CONNS", "SQL_MAX_IDLE_CONNS", "PROMETHEUS_ENDPOINT",
}
TEMPORAL_UI_VARIABLES = {
    "TEMPORAL_ADDRESS", "TEMPORAL_UI_PORT", "TEMPORAL_DEFAULT_NAMESPACE", "TEMPORAL_CORS_ORIGINS",
    "TEMPORAL_CODEC_ENDPOINT", "TEMPORAL_CODEC_PASS_ACCESS_TOKEN", "TEMPORAL_CODEC_INCLUDE_CREDENTIALS",
    "TEMPORAL_AUTH_ENABLED", "TEMPORAL_DISABLE_WRITE_ACTIONS",
}
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_INITDB_ARGS", "PGDATA"}


@dataclass
class Node:
    """One `key: value` line of the file and the lines indented under it."""

    value: str
    children: dict[str, "Node"] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)


def _meaningful(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _parse(lines: list[str]) -> dict[str, Node]:
    """The mapping at the indentation of the first line; nested blocks recursively."""
    lines = _meaningful(lines)
    if not lines:
        return {}
    level = _indent(lines[0])
    mapping: dict[str, Node] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        body_start = index + 1
        index = body_start
        while index < len(lines) and _indent(lines[index]) > level:
            index += 1
        body = lines[body_start:index]
        assert _indent(line) == level and not line.strip().startswith("- "), f"not a mapping entry: {line!r}"
        key, _, value = line.strip().partition(":")
        node = Node(value=value.strip())
        if body and node.value not in ("|", ">"):  # a block scalar's lines are text, not structure
            if body[0].strip().startswith("- "):
                node.items = _items(body)
            else:
                node.children = _parse(body)
        mapping[key.strip().strip('"')] = node
    return mapping


def _items(body: list[str]) -> list[str]:
    """A block sequence: each item's text, its continuation lines joined with newlines."""
    level = _indent(body[0])
    items: list[list[str]] = []
    for line in body:
        if _indent(line) == level:
            assert line.strip().startswith("- "), f"not a sequence item: {line!r}"
            items.append([line.strip()[2:].strip()])
        else:
            items[-1].append(line.strip())
    return ["\n".join(item) for item in items]


def _resolve_merges(mapping: dict[str, Node], anchors: dict[str, Node]) -> dict[str, Node]:
    merged: dict[str, Node] = {}
    if "<<" in mapping:
        alias = mapping["<<"].value
        assert alias.startswith("*"), f"merge key without an alias: {alias!r}"
        assert alias[1:] in anchors, f"unknown anchor {alias}"
        merged.update(anchors[alias[1:]].children)
    merged.update({key: node for key, node in mapping.items() if key != "<<"})
    return merged


@pytest.fixture(scope="module")
def compose_text() -> str:
    assert COMPOSE.exists(), "docker-compose.yml is missing"
    return COMPOSE.read_text()


@pytest.fixture(scope="module")
def top(compose_text: str) -> dict[str, Node]:
    return _parse(compose_text.splitlines())


@pytest.fixture(scope="module")
def services(top: dict[str, Node]) -> dict[str, dict[str, Node]]:
    anchors = {node.value.split()[0][1:]: node for node in top.values() if node.value.startswith("&")}
    return {name: _resolve_merges(node.children, anchors) for name, node in top["services"].children.items()}


def environment(service: dict[str, Node]) -> dict[str, str]:
    node = service.get("environment")
    if node is None:
        return {}
    if node.items:
        return dict(item.split("=", 1) for item in node.items)
    return {key: child.value.strip('"') for key, child in node.children.items()}


def depends_on(service: dict[str, Node]) -> dict[str, str]:
    node = service.get("depends_on")
    if node is None:
        return {}
    return {name: dep.children["condition"].value for name, dep in node.children.items()}


def settings_aliases() -> set[str]:
    return {info.alias for info in Settings.model_fields.values() if info.alias}


def test_the_reader_sees_what_a_yaml_parser_would():
    text = """
x-base: &base
  image: a:1
  environment:
    A: "1"
services:
  one:
    <<: *base
    command: ["x", "y"]
    depends_on:
      two:
        condition: service_healthy
  two:
    build: .
    environment:
      - B=2
"""
    top = _parse(text.splitlines())
    anchors = {"base": top["x-base"]}
    one = _resolve_merges(top["services"].children["one"].children, anchors)
    two = top["services"].children["two"].children
    assert one["image"].value == "a:1"
    assert environment(one) == {"A": "1"}
    assert depends_on(one) == {"two": "service_healthy"}
    assert environment(two) == {"B": "2"}


def test_the_whole_topology_is_there(services):
    assert set(services) == EXPECTED_SERVICES


def test_every_service_has_an_image_or_a_build(services):
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name} has neither image nor build"


def test_public_images_are_pinned(services):
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"].value
        assert ":" in image and not image.endswith(":latest"), f"{name} uses an unpinned image {image}"


def test_app_services_run_the_project_image_with_their_command(services):
    for name in APP_SERVICES:
        assert services[name]["build"].value == ".", f"{name} is not built from the project's Dockerfile"
    assert services["worker"]["command"].value == '["complaints", "worker"]'
    assert services["delivery"]["command"].value == '["complaints", "delivery"]'
    assert services["migrate"]["command"].value == '["complaints", "migrate"]'
    assert "command" not in services["api"], "the api runs the image's default command, `complaints api`"


def test_app_services_are_configured_for_the_cluster(services):
    app_db = services["app-db"]
    for name in APP_SERVICES:
        env = environment(services[name])
        for required in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "COMPLAINTS_TASK_QUEUE", "COMPLAINTS_POLICY"):
            assert required in env, f"{name} does not get {required}"
        url = re.fullmatch(r"postgresql://(\w+):(\$\{\w+:\?[^}]*\})@([\w-]+):5432/(\w+)", env["DATABASE_URL"])
        assert url, f"{name}: DATABASE_URL is not a postgresql:// URL to a compose service: {env['DATABASE_URL']}"
        user, password, host, database = url.groups()
        assert host == "app-db"
        db_env = environment(app_db)
        assert (user, password, database) == (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"], db_env["POSTGRES_DB"])
        host, _, port = env["TEMPORAL_ADDRESS"].partition(":")
        assert host in services and services[host]["image"].value.startswith("temporalio/server:") and port == "7233"


def test_every_app_variable_is_spelled_as_core_settings_reads_it(services):
    known = settings_aliases()
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "COMPLAINTS_TASK_QUEUE"} <= known
    for name in APP_SERVICES:
        unknown = set(environment(services[name])) - known
        assert not unknown, f"{name} sets variables core/settings.py does not read: {sorted(unknown)}"


def test_migrate_is_what_registers_the_case_search_attributes(compose_text, services):
    # No separate registration job: `complaints migrate` adds them through the operator API.
    assert services["migrate"]["command"].value == '["complaints", "migrate"]'
    for key in CASE_SEARCH_ATTRIBUTES:
        assert key.name in compose_text, f"the compose file's notes do not mention {key.name}"


def test_third_party_images_get_their_documented_variables(services):
    assert set(environment(services["temporal"])) <= TEMPORAL_SERVER_VARIABLES
    assert environment(services["temporal"])["DB"] == "postgres12"
    assert set(environment(services["temporal-ui"])) <= TEMPORAL_UI_VARIABLES
    for name in ("app-db", "temporal-db"):
        assert set(environment(services[name])) <= POSTGRES_IMAGE_VARIABLES
    assert set(environment(services["temporal-schema"])) <= {"SQL_PASSWORD", "SQL_USER", "SQL_HOST", "SQL_PORT"}


def test_each_password_is_one_variable_that_must_be_set(services):
    temporal_db = environment(services["temporal-db"])["POSTGRES_PASSWORD"]
    assert temporal_db == environment(services["temporal"])["POSTGRES_PWD"]
    assert temporal_db == environment(services["temporal-schema"])["SQL_PASSWORD"]
    for name, service in services.items():
        for key, value in environment(service).items():
            if key.endswith(("PASSWORD", "PWD")) and key != "COMPLAINTS_SMTP_PASSWORD":
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{name}.{key} is not ${{VAR:?message}}"


def test_the_app_runs_in_production_and_refuses_default_secrets(compose_text, services):
    assert ":-change-me}" not in compose_text, "a secret still defaults to change-me"
    for name in APP_SERVICES:
        env = environment(services[name])
        assert env["COMPLAINTS_ENV"] == "production"
        for secret in ("COMPLAINTS_SECRET_KEY", "COMPLAINTS_CODEC_KEYS"):
            assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", env[secret]), f"{name}.{secret} must be set, not defaulted"
        # Needed only with a user name; the app itself refuses a user name without it (core/settings.py).
        assert env["COMPLAINTS_SMTP_PASSWORD"] == "${COMPLAINTS_SMTP_PASSWORD:-}"


def test_start_order(services):
    assert depends_on(services["temporal-schema"]) == {"temporal-db": "service_healthy"}
    assert depends_on(services["temporal"]) == {"temporal-schema": "service_completed_successfully"}
    assert depends_on(services["temporal-namespace"]) == {"temporal": "service_healthy"}
    assert depends_on(services["temporal-ui"]) == {"temporal": "service_healthy"}
    assert depends_on(services["migrate"]) == {
        "app-db": "service_healthy",
        "temporal-namespace": "service_completed_successfully",
    }
    for name in ("worker", "delivery", "api"):
        assert depends_on(services[name]) == {"migrate": "service_completed_successfully"}
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}, which has no healthcheck"
    for one_shot in ("temporal-schema", "temporal-namespace", "migrate"):
        assert services[one_shot]["restart"].value == '"no"', f"{one_shot} must run once, not be restarted"


def test_temporal_server_gets_the_dynamic_config_file_it_is_told_to_read(top, services):
    temporal = services["temporal"]
    path = environment(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = [dict(line.split(": ", 1) for line in item.splitlines()) for item in temporal["configs"].items]
    assert {"source": "temporal-dynamic-config", "target": path} in mounts, (
        "the server exits at start when its dynamic config file is missing"
    )
    assert top["configs"].children["temporal-dynamic-config"].children["content"].value == "|"


def test_dockerfile_runs_the_api_as_a_non_root_user_on_all_interfaces():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r'^CMD \["complaints", "api"\]\s*$', text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0"), "the image must not run as root"
    assert "COMPLAINTS_API_HOST=0.0.0.0" in text and "COMPLAINTS_API_PORT=8000" in text
    assert "[test]" not in text, "no test extras in the image"
    for name in re.findall(r"\b(COMPLAINTS_[A-Z_]+|DATABASE_URL|TEMPORAL_[A-Z_]+)=", text):
        assert name in settings_aliases(), f"the Dockerfile sets {name}, which core/settings.py does not read"


def test_workers_get_time_to_finish_their_sends_when_stopped(services):
    from core.devstack import WORKER_STOP_TIMEOUT
    from worker import SHUTDOWN_GRACE

    assert 60 > WORKER_STOP_TIMEOUT > SHUTDOWN_GRACE.total_seconds()
    for name in ("worker", "delivery"):
        assert services[name]["stop_grace_period"].value == "60s"
