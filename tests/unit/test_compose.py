"""docker-compose.yml and the Dockerfile, read without Docker: the compose file with PyYAML, the Dockerfile as text.

PyYAML resolves the file's `&anchor` / `<<: *anchor` merges as Compose does; `${VAR}` interpolation is left
as written, which is what these tests check. Names the app reads come from core/settings.py itself, so a
misspelt variable fails here, not in production.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

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


@pytest.fixture(scope="module")
def compose_text() -> str:
    assert COMPOSE.exists(), "docker-compose.yml is missing"
    return COMPOSE.read_text()


@pytest.fixture(scope="module")
def top(compose_text: str) -> dict[str, Any]:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def services(top: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return top["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    variables = service.get("environment") or {}
    if isinstance(variables, list):
        return dict(item.split("=", 1) for item in variables)
    return {key: str(value) for key, value in variables.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    return {name: dependency["condition"] for name, dependency in (service.get("depends_on") or {}).items()}


def settings_aliases() -> set[str]:
    return {info.alias for info in Settings.model_fields.values() if info.alias}


def test_the_whole_topology_is_there(services):
    assert set(services) == EXPECTED_SERVICES


def test_every_service_has_an_image_or_a_build(services):
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name} has neither image nor build"


def test_public_images_are_pinned(services):
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name} uses an unpinned image {image}"


def test_app_services_run_the_project_image_with_their_command(services):
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", f"{name} is not built from the project's Dockerfile"
    assert services["worker"]["command"] == ["complaints", "worker"]
    assert services["delivery"]["command"] == ["complaints", "delivery"]
    assert services["migrate"]["command"] == ["complaints", "migrate"]
    assert "command" not in services["api"], "the api runs the image's default command, `complaints api`"


def test_app_services_are_configured_for_the_cluster(services):
    app_db = services["app-db"]
    for name in APP_SERVICES:
        env = environment(services[name])
        for required in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "COMPLAINTS_TASK_QUEUE",
                         "COMPLAINTS_POLICY"):
            assert required in env, f"{name} does not get {required}"
        url = re.fullmatch(r"postgresql://(\w+):(\$\{\w+:\?[^}]*\})@([\w-]+):5432/(\w+)", env["DATABASE_URL"])
        assert url, f"{name}: DATABASE_URL is not a postgresql:// URL to a compose service: {env['DATABASE_URL']}"
        user, password, host, database = url.groups()
        assert host == "app-db"
        db_env = environment(app_db)
        assert (user, password, database) == (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"],
                                              db_env["POSTGRES_DB"])
        host, _, port = env["TEMPORAL_ADDRESS"].partition(":")
        assert host in services and services[host]["image"].startswith("temporalio/server:") and port == "7233"


def test_every_app_variable_is_spelled_as_core_settings_reads_it(services):
    known = settings_aliases()
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "COMPLAINTS_TASK_QUEUE"} <= known
    for name in APP_SERVICES:
        unknown = set(environment(services[name])) - known
        assert not unknown, f"{name} sets variables core/settings.py does not read: {sorted(unknown)}"


def test_migrate_is_what_registers_the_case_search_attributes(compose_text, services):
    # No separate registration job: `complaints migrate` adds them through the operator API.
    assert services["migrate"]["command"] == ["complaints", "migrate"]
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
        assert services[one_shot]["restart"] == "no", f"{one_shot} must run once, not be restarted"


def test_temporal_server_gets_the_dynamic_config_file_it_is_told_to_read(top, services):
    temporal = services["temporal"]
    path = environment(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    assert {"source": "temporal-dynamic-config", "target": path} in temporal["configs"], (
        "the server exits at start when its dynamic config file is missing"
    )
    assert "limit.maxIDLength" in yaml.safe_load(top["configs"]["temporal-dynamic-config"]["content"])


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
        assert services[name]["stop_grace_period"] == "60s"
