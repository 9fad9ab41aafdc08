"""The OpenAPI document and the docs page: every route is in it, every error it can answer is
documented with the one error shape, and every body (request, answer, error) has an example that is
valid against its schema.

No servers: the document does not depend on them, so these tests use an app built from settings alone.
"""

import re
from typing import Any

import httpx
import jsonschema_rs  # comes with schemathesis
import pytest
from fastapi.routing import APIRoute

from api.app import create_app
from core.settings import Settings
from tests.conftest import TEST_CODEC_KEYS

ERROR_REF = "#/components/schemas/ErrorResponse"
# The health check answers 503 with its own report (which of PostgreSQL and Temporal is down), by design.
OWN_ERROR_BODIES = {("GET", "/healthz", "503")}

APP = create_app(settings=Settings(COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS))


@pytest.fixture(scope="module")
async def document() -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://api.test") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def examples_of(document: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    """The examples of a media type: its own, else those of the schema it refers to."""
    if "example" in media:
        return [media["example"]]
    if "examples" in media:
        return [example["value"] for example in media["examples"].values()]
    schema = resolve(document, media.get("schema", {}))
    if "items" in schema and "examples" not in schema:  # a list of a documented model
        return [[example] for example in resolve(document, schema["items"]).get("examples", [])]
    return list(schema.get("examples", []))


async def test_the_docs_page_loads():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://api.test") as client:
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text
    assert redoc.status_code == 200 and "/openapi.json" in redoc.text


def api_routes(routes: list) -> list[APIRoute]:
    """The app's API routes, looking into the routers it includes (not the docs pages, which are no API)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            found.append(route)
        elif hasattr(route, "original_router"):  # an included router (FastAPI 0.16x)
            found += api_routes(route.original_router.routes)
    return found


def test_every_route_is_in_the_document(document):
    routes = {(method, route.path) for route in api_routes(APP.routes) for method in route.methods}
    assert {(method, path) for method, path, _ in operations(document)} == routes
    assert {("POST", "/v1/cases"), ("GET", "/v1/track/{reference}"), ("POST", "/v1/codec/decode")} <= routes


def test_every_error_is_documented_with_the_one_error_shape(document):
    problems = []
    for method, path, operation in operations(document):
        responses = operation["responses"]
        needed = set()
        if operation.get("security"):
            needed.add("401")
        if operation.get("parameters") or "requestBody" in operation:
            needed.add("422")
        if "requestBody" in operation:
            needed.add("413")
        if "{reference}" in path:
            needed.add("404")
        if path.startswith("/v1/track/"):
            needed.add("429")
        if missing := needed - set(responses):
            problems.append(f"{method} {path}: no {sorted(missing)}")
        for status, response in responses.items():
            if int(status) < 400 or (method, path, status) in OWN_ERROR_BODIES:
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") != ERROR_REF:
                problems.append(f"{method} {path} {status}: not an ErrorResponse")
    assert problems == []


def test_every_body_has_a_valid_example(document):
    """Every request body and every JSON answer, errors included, with examples valid against their schema."""
    problems = []
    for method, path, operation in operations(document):
        media_types = []
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]
            # A body of files (evidence) is multipart: its parts are bytes, with nothing to give as an example.
            if "multipart/form-data" not in content:
                media_types.append(("request", content["application/json"]))
        for status, response in operation["responses"].items():
            if "application/json" in response.get("content", {}):
                media_types.append((status, response["content"]["application/json"]))
        for where, media in media_types:
            examples = examples_of(document, media)
            if not examples:
                problems.append(f"{method} {path} {where}: no example")
            validator = jsonschema_rs.validator_for({**media.get("schema", {}), "components": document["components"]})
            problems += [
                f"{method} {path} {where}: example does not fit: {error.message}"
                for example in examples
                for error in validator.iter_errors(example)
            ]
    assert problems == []


def test_every_component_example_fits_its_schema(document):
    problems = []
    for name, schema in document["components"]["schemas"].items():
        validator = jsonschema_rs.validator_for(
            {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        )
        for example in schema.get("examples", []):
            problems += [f"{name}: {error.message}" for error in validator.iter_errors(example)]
    assert problems == []


def test_every_operation_says_what_it_does(document):
    undocumented = [f"{method} {path}" for method, path, operation in operations(document)
                    if not operation.get("description") or not re.search(r"\w", operation.get("summary", ""))]
    assert undocumented == []
