"""docker-compose.yml and the Dockerfile, read without Docker: the compose file with PyYAML, the Dockerfile as text.

PyYAML resolves the file's `&anchor` / `<<: *anchor` merges as Compose does; `${VAR}` interpolation is left
as written, which is what these tests check. Names the app reads come from core/settings.py itself, so a
misspelt variable fails here, not in production. The whole file is checked against the Compose
Specification's JSON Schema, vendored beside this test (nothing is downloaded when the tests run).
"""

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from core.settings import Settings
from workflows.case_attributes import CASE_SEARCH_ATTRIBUTES

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
# compose-spec/compose-spec, schema/compose-spec.json at commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6
# (2026-06-23; the file itself last changed in a08f8d51631b7127ddac3d2c65537db429d0f1d0, 2025-10-28).
# To update: copy the file from a newer commit and write its commit here.
COMPOSE_SPEC_SCHEMA = Path(__file__).with_name("compose-spec.json")

APP_SERVICES = ("migrate", "worker", "delivery", "api")
EXPECTED_SERVICES = {
    "app-db",
    "temporal-db",
    "temporal-schema",
    "temporal",
    "temporal-namespace",
    "temporal-ui",
    "temporal-ui-proxy",
    "prometheus",
    "grafana",
    *APP_SERVICES,
}
# Set in docker-compose.yml for the metrics that obs-metrics adds to core/settings.py (issue 15); until that
# branch is merged, core/settings.py does not read them yet. Drop this set once it is.
METRICS_PORTS = ("COMPLAINTS_WORKER_METRICS_PORT", "COMPLAINTS_SENDER_METRICS_PORT", "COMPLAINTS_API_METRICS_PORT")
METRICS_SETTINGS_OF_OBS_METRICS = {*METRICS_PORTS, "COMPLAINTS_METRICS_HOST", "COMPLAINTS_METRICS_ALLOWED_NETWORKS"}
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
# oauth2-proxy's options as environment variables (its docs' "Config Options": OAUTH2_PROXY_ + the flag's name).
OAUTH2_PROXY_VARIABLES = {f"OAUTH2_PROXY_{option}" for option in (
    "HTTP_ADDRESS", "PROVIDER", "OIDC_ISSUER_URL", "CLIENT_ID", "CLIENT_SECRET", "COOKIE_SECRET", "REDIRECT_URL",
    "SCOPE", "EMAIL_DOMAINS", "OIDC_GROUPS_CLAIM", "ALLOWED_GROUPS", "UPSTREAMS", "PASS_AUTHORIZATION_HEADER",
    "COOKIE_REFRESH", "COOKIE_EXPIRE", "COOKIE_SECURE", "SKIP_PROVIDER_BUTTON", "REVERSE_PROXY")}
# Grafana's [section] key settings as GF_<SECTION>_<KEY>.
GRAFANA_VARIABLES = {"GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD", "GF_USERS_ALLOW_SIGN_UP",
                     "GF_AUTH_ANONYMOUS_ENABLED"}
# An exact release: major.minor at least (postgres numbers its releases so), an optional `v`, and an
# optional digest after it.
PINNED_IMAGE = re.compile(r"^[a-z0-9./_-]+:v?\d+\.\d+(\.\d+)?(@sha256:[0-9a-f]{64})?$")


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


@pytest.fixture(scope="module")
def compose_spec() -> jsonschema.Draft7Validator:
    schema = json.loads(COMPOSE_SPEC_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _problems(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in validator.iter_errors(document)]


def test_the_file_follows_the_compose_specification(compose_spec, top):
    assert _problems(compose_spec, top) == []


def test_the_schema_check_refuses_a_misspelt_key(compose_spec, top):
    # The schema closes each service's keys, so a typo that Compose would refuse fails here first.
    broken = copy.deepcopy(top)
    broken["services"]["worker"]["stop_grace_periods"] = "60s"
    assert any("stop_grace_periods" in problem for problem in _problems(compose_spec, broken))


def test_every_service_has_an_image_or_a_build(services):
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name} has neither image nor build"


def test_public_images_are_pinned_to_a_release(services):
    for name, service in services.items():
        if "build" in service:
            continue
        assert PINNED_IMAGE.match(service["image"]), f"{name} uses an image without an exact release tag"


def test_the_pinning_check_refuses_floating_tags():
    for floating in ("postgres", "postgres:18", "postgres:latest", "prom/prometheus:v3", "grafana/grafana:main"):
        assert not PINNED_IMAGE.match(floating), floating
    for pinned in ("postgres:18.1", "prom/prometheus:v3.5.0", "quay.io/oauth2-proxy/oauth2-proxy:v7.13.0",
                   "temporalio/server:1.32.0@sha256:" + "0" * 64):
        assert PINNED_IMAGE.match(pinned), pinned


def test_history_shards_are_set_once_for_the_ministrys_volume(services, compose_text):
    shards = int(environment(services["temporal"])["NUM_HISTORY_SHARDS"])
    # A power of two (Temporal's advice), well above the ~10 000 cases open at once over a handful per shard.
    assert shards >= 128 and shards & (shards - 1) == 0
    assert "63 000" in compose_text and "54 entities" in compose_text, "the file says how the count was chosen"


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
    known = settings_aliases() | METRICS_SETTINGS_OF_OBS_METRICS
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
    assert set(environment(services["temporal-ui-proxy"])) <= OAUTH2_PROXY_VARIABLES
    assert set(environment(services["grafana"])) <= GRAFANA_VARIABLES


def test_each_password_is_one_variable_that_must_be_set(services):
    temporal_db = environment(services["temporal-db"])["POSTGRES_PASSWORD"]
    assert temporal_db == environment(services["temporal"])["POSTGRES_PWD"]
    assert temporal_db == environment(services["temporal-schema"])["SQL_PASSWORD"]
    for name, service in services.items():
        for key, value in environment(service).items():
            if key.endswith(("PASSWORD", "PWD", "SECRET")) and key != "COMPLAINTS_SMTP_PASSWORD":
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
    assert depends_on(services["temporal-ui-proxy"]) == {"temporal-ui": "service_started", "api": "service_healthy"}
    assert depends_on(services["grafana"]) == {"prometheus": "service_healthy"}
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


# --- Prometheus and Grafana: what they load comes from the repository.

def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """The repository's files a service mounts: {container path: repository path}."""
    mounts = {}
    for volume in service.get("volumes") or []:
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[target] = source
    return mounts


def test_every_file_a_service_mounts_is_in_the_repository(services):
    mounted = {source for service in services.values() for source in bind_mounts(service).values()}
    assert {"./ops/prometheus/prometheus.yml", "./ops/prometheus/alerts.yml", "./ops/grafana/complaints.json",
            "./ops/grafana/provisioning/datasources/prometheus.yml",
            "./ops/grafana/provisioning/dashboards/complaints.yml"} <= mounted
    for source in mounted:
        assert (REPO / source).is_file(), f"{source} is mounted but not in the repository"
    for service in services.values():
        for target in bind_mounts(service):
            assert target.startswith("/etc/"), f"{target}: the repository's files are configuration, read-only"
        assert all(volume.endswith(":ro") for volume in service.get("volumes") or [] if volume.startswith("./"))


def test_prometheus_loads_the_mounted_rules_and_scrapes_every_process(services):
    prometheus = services["prometheus"]
    mounts = bind_mounts(prometheus)
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config = yaml.safe_load((REPO / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    assert "/etc/prometheus/alerts.yml" in config["rule_files"], "the mounted alert rules are not loaded"
    assert yaml.safe_load((REPO / mounts["/etc/prometheus/alerts.yml"]).read_text())["groups"]
    scraped = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            scraped |= set(static["targets"])
        for dns in job.get("dns_sd_configs", []):
            scraped |= {f"{name}:{dns['port']}" for name in dns["names"]}
    # The worker, the sender and the API on the metrics ports the app services are told.
    app = environment(services["worker"])
    expected = {f"worker:{app['COMPLAINTS_WORKER_METRICS_PORT']}", f"delivery:{app['COMPLAINTS_SENDER_METRICS_PORT']}",
                f"api:{app['COMPLAINTS_API_METRICS_PORT']}"}
    assert expected <= scraped


def test_the_metrics_endpoints_answer_prometheus_on_the_compose_network(top, services):
    # Each process listens on 127.0.0.1 unless told otherwise, and the API's /metrics answers only the
    # networks it is given: here every address of the compose network, whose subnet the file fixes.
    app = environment(services["api"])
    assert app["COMPLAINTS_METRICS_HOST"] == "0.0.0.0"
    subnet, = (pool["subnet"] for pool in top["networks"]["default"]["ipam"]["config"])
    assert app["COMPLAINTS_METRICS_ALLOWED_NETWORKS"] == subnet
    for name in ("worker", "delivery", "api"):
        assert "ports" not in services[name] or all(
            port.split(":")[-1] not in {app[key] for key in METRICS_PORTS} for port in services[name]["ports"]
        ), f"{name} publishes a metrics port on the host"


def test_grafana_gets_the_prometheus_datasource_and_the_repositorys_dashboard(services):
    grafana = bind_mounts(services["grafana"])
    provisioned = yaml.safe_load((REPO / grafana[
        "/etc/grafana/provisioning/datasources/prometheus.yml"]).read_text())["datasources"]
    assert [(source["uid"], source["type"], source["url"]) for source in provisioned] == [
        ("prometheus", "prometheus", "http://prometheus:9090")]
    assert "127.0.0.1:9090:9090" in services["prometheus"]["ports"]
    provider, = yaml.safe_load((REPO / grafana[
        "/etc/grafana/provisioning/dashboards/complaints.yml"]).read_text())["providers"]
    dashboard_target = next(target for target in grafana if target.endswith("/complaints.json"))
    assert dashboard_target.rsplit("/", 1)[0] == provider["options"]["path"]
    assert provider["allowUiUpdates"] is False, "the repository is the dashboard's one home"
    dashboard = json.loads((REPO / grafana[dashboard_target]).read_text())
    assert dashboard["title"] and dashboard["panels"]
    # A provisioned dashboard gets no import dialog: `${DS_PROMETHEUS}` of an export would stay unresolved.
    unresolved = [source for source in _datasources(dashboard) if not _resolves(source, dashboard)]
    assert unresolved == [], "the dashboard names datasources Grafana does not have; use uid `prometheus`"


BUILT_IN_DATASOURCES = {"grafana", "-- Grafana --", "-- Mixed --", "-- Dashboard --"}


def _datasources(node: Any) -> list[str]:
    """Every datasource a dashboard's panels, targets, variables and annotations name (uid, or legacy name)."""
    if isinstance(node, list):
        return [found for item in node for found in _datasources(item)]
    if not isinstance(node, dict):
        return []
    found = []
    source = node.get("datasource")
    if isinstance(source, dict) and source.get("uid"):
        found.append(source["uid"])
    elif isinstance(source, str):
        found.append(source)
    return found + [found for key, value in node.items() if key != "datasource" for found in _datasources(value)]


def _resolves(source: str, dashboard: dict[str, Any]) -> bool:
    variables = {variable["name"] for variable in dashboard.get("templating", {}).get("list", [])
                 if variable.get("type") == "datasource"}
    return (source in {"prometheus", "Prometheus", *BUILT_IN_DATASOURCES}
            or (source.startswith("$") and source.strip("${}") in variables))


# --- The Temporal UI, behind a proxy that signs operators in and hands the codec their token.

def test_the_temporal_ui_is_reached_only_through_its_signing_in_proxy(services):
    assert "ports" not in services["temporal-ui"]
    proxy = services["temporal-ui-proxy"]
    assert PINNED_IMAGE.match(proxy["image"]) and proxy["image"].startswith("quay.io/oauth2-proxy/oauth2-proxy:")
    assert proxy["ports"] == ["127.0.0.1:8080:4180"]
    assert environment(proxy)["OAUTH2_PROXY_HTTP_ADDRESS"] == "0.0.0.0:4180"


def test_the_proxy_routes_the_codec_to_the_api_with_the_bearer_token_the_codec_checks(services):
    proxy, ui, api = (environment(services[name]) for name in ("temporal-ui-proxy", "temporal-ui", "api"))
    upstreams = proxy["OAUTH2_PROXY_UPSTREAMS"].split(",")
    assert set(upstreams) == {"http://api:8000/v1/codec/", "http://temporal-ui:8080/"}
    # Its own path to the API, everything else to the UI; the API serves the codec at /v1/codec.
    from api.routes.codec import router
    assert router.prefix == "/v1/codec"
    # The proxy passes `Authorization: Bearer <ID token>`; the codec verifies it as the proxy client's token.
    assert proxy["OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER"] == "true"
    assert proxy["OAUTH2_PROXY_PROVIDER"] == "oidc"
    assert api["COMPLAINTS_OIDC_ISSUER"] == proxy["OAUTH2_PROXY_OIDC_ISSUER_URL"]
    assert api["COMPLAINTS_OIDC_CODEC_AUDIENCE"] == proxy["OAUTH2_PROXY_CLIENT_ID"]
    assert api["COMPLAINTS_OIDC_ROLE_CLAIM"] == proxy["OAUTH2_PROXY_OIDC_GROUPS_CLAIM"]
    # The UI calls the codec on its own origin (the proxy's), where the proxy's cookie goes with the call.
    public = proxy["OAUTH2_PROXY_REDIRECT_URL"].removesuffix("/oauth2/callback")
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"{public}/v1/codec"
    assert api["COMPLAINTS_CODEC_UI_ORIGIN"] == public
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "false"


def test_the_proxy_lets_in_only_roles_that_exist(services):
    from domain.kinds import Role

    allowed = set(environment(services["temporal-ui-proxy"])["OAUTH2_PROXY_ALLOWED_GROUPS"].split(","))
    assert allowed <= {role.value for role in Role}
    from api.routes.codec import MAY_DECODE
    assert {role.value for role in MAY_DECODE} <= allowed, "those who may decode must be able to reach the UI"
