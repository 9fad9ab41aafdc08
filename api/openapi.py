"""The OpenAPI document: what FastAPI builds from the routes, completed with what it cannot know.

- Every request body is refused with 413 over the size limit (`api.limits`, before any route runs).
- Every error answer gets an example of the one error shape, with the code the app gives for that status.
- Models that carry no example of their own get one here, so that `/docs` shows a realistic body for
  every request and response.

Only what is missing is added: an example or a response a route declares itself always wins. The
examples are added after FastAPI built the document, because FastAPI drops every `null` from what it
builds, which would leave examples without the nullable fields their schema requires.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.limits import MAX_REQUEST_BYTES
from api.routes.tracking import example_view

# The documentation pages, drawn by Swagger UI and ReDoc from the files the app serves (fastapi-offline's).
SWAGGER_UI_URL = "/docs"
REDOC_URL = "/redoc"
# They may load only from the app: ReDoc fetches its maker's logo from a CDN whatever its options, and the
# browser refuses it here. Swagger UI's set-up script is written inline by FastAPI; both style inline.
DOCS_PAGES_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)

ERROR_SCHEMA_REF = "#/components/schemas/ErrorResponse"


def _error(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or []}}


# status -> an example of the error the app answers with it.
ERROR_EXAMPLES: dict[int, dict[str, Any]] = {
    401: _error("unauthorized", "a valid API key is required (Authorization: Bearer <key>)"),
    403: _error("forbidden", "only channel and customer-service keys submit cases"),
    404: _error("not_found", "no case C-2026-000123"),
    409: _error("action_refused", "cannot respond to a case that is with_department"),
    413: _error("request_too_large", f"the request body is over {MAX_REQUEST_BYTES} bytes"),
    422: _error(
        "validation_error",
        "invalid request: subject: String should have at least 1 character",
        [{"field": "subject", "reason": "String should have at least 1 character"}],
    ),
    429: _error("too_many_submissions", "this key submitted too many cases; retry in 42 s"),
    503: _error("outcome_unknown", "the case engine did not answer in time; the action may have been applied. Send "
                "the same request again with the header Idempotency-Key: 3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b to get its "
                "outcome (it is never applied twice)"),
}
# The tracking routes' own wording for the same statuses.
TRACKING_ERROR_EXAMPLES: dict[int, dict[str, Any]] = {
    404: _error("not_found", "no case with this reference and tracking code"),
    409: _error("action_refused", "only a closed case can be rated; this one is responded"),
    429: _error("too_many_attempts", "too many wrong tracking codes from this address; try again later"),
}

RECEIVED = "2026-03-01T05:12:40Z"
DEPARTMENT_DUE = "2026-03-04T10:30:00Z"
ANSWER_DUE = "2026-03-08T10:30:00Z"

_CASE_STATE: dict[str, Any] = {
    "reference": "C-2026-000123",
    "kind": "complaint",
    "channel": "website",
    "status": "with_department",
    "priority": None,
    "department": "CIVIL_STATUS",
    "escalation_level": 1,
    "breached": False,
    "received_at": RECEIVED,
    "department_due": DEPARTMENT_DUE,
    "answer_due": ANSWER_DUE,
}

_API_KEY: dict[str, Any] = {
    "id": 12, "name": "Civil status desk, Seeb", "role": "department", "department": "CIVIL_STATUS", "channels": None,
    "created_at": "2026-03-01T07:30:00Z", "revoked_at": None, "created_by": 1, "revoked_by": None,
}

# Component name -> example, for the models of `api.schemas`, `api.routes.admin` and the workflow's `CaseView`.
_EVIDENCE_FILE = {
    "id": "3f0c8f1e-2b7a-5c1d-9e4f-6a8b0c2d4e6f", "file_name": "receipt.pdf", "media_type": "application/pdf",
    "size": 182344, "sha256": "9f2b5c0d3e8a41f7b6c2d9e0a1f4b7c8d3e6f9a2b5c8d1e4f7a0b3c6d9e2f5a8",
    "uploaded_at": "2026-03-01T06:05:00Z",
}

COMPONENT_EXAMPLES: dict[str, Any] = {
    "TriageBody": {"department": "CIVIL_STATUS", "kind": "complaint", "priority": None},
    "RejectBody": {"reason": "Outside the ministry's competence: this concerns the municipality.",
                   "ground": "not_competent"},
    "RequestInfoBody": {"question": "At which office did you apply, and on what date?"},
    "SubmitterInfoBody": {"answer": "At the Seeb office, on 8 February."},
    "ReplyBody": {"summary": "The renewal waited for a missing photograph; the passport was issued on 3 March."},
    "RespondBody": {"message": "Your passport was renewed on 3 March; collect it at the Seeb office."},
    "CloseBody": {},
    "ContestBody": {"reason": "The Seeb office says the passport has not arrived."},
    "InstructBody": {"instruction": "Answer the submitter by Thursday and copy me.", "department": None},
    "CaseCreated": {
        "reference": "C-2026-000123",
        "tracking_code": "q3Zk0Jb1R5mN8wXc2YtV4A",
        "status": "received",
        "answer_due": ANSWER_DUE,
        "department_due": DEPARTMENT_DUE,
    },
    "CaseView": {
        **_CASE_STATE,
        "policy_version": "2026.1",
        "info_due": None,
        "contest_due": None,
        "closed_reason": None,
        "question": None,
        "answer": None,
    },
    "CasePublic": {
        **_CASE_STATE,
        "channel_ref": "web-4711",
        "closed_at": None,
        "closed_reason": None,
        "policy_version": "2026.1",
        "subject": "Passport renewal delayed",
        "description": "I applied for renewal three weeks ago and have heard nothing.",
        "submitter": {
            "category": "beneficiary",
            "name": "Salim Al-Harthy",
            "civil_id": "12345678",
            "email": "salim@example.om",
            "phone": "+96891234567",
        },
        "timeline": [
            {"at": RECEIVED, "actor": "channel#3", "action": "received", "from_status": None,
             "to_status": "received", "detail": {"channel": "website", "policy_version": "2026.1"}},
            {"at": "2026-03-01T06:02:11Z", "actor": "cs_agent#5", "action": "triage", "from_status": "received",
             "to_status": "with_department",
             "detail": {"department": "CIVIL_STATUS", "kind": "complaint", "priority": None}},
        ],
    },
    "CaseSummary": {**_CASE_STATE, "subject": "Passport renewal delayed"},
    "CaseList": {
        "items": [{**_CASE_STATE, "subject": "Passport renewal delayed"}],
        "next_cursor": "WyIyMDI2LTAzLTA4VDEwOjMwOjAwKzAwOjAwIiwgIkMtMjAyNi0wMDAxMjMiXQ",
    },
    "CaseReadList": {
        "reference": "C-2026-000123",
        "reads": [
            {"key_id": 5, "key_name": "Customer service, Muscat", "role": "cs_agent", "department": None,
             "at": "2026-03-01T06:01:30Z"},
            {"key_id": 9, "key_name": "Civil status desk, Seeb", "role": "department", "department": "CIVIL_STATUS",
             "at": "2026-03-02T04:45:03Z"},
        ],
    },
    "EvidencePublic": _EVIDENCE_FILE,
    "EvidenceList": {"reference": "C-2026-000123", "items": [_EVIDENCE_FILE]},
    "DepartmentPublic": {
        "code": "CIVIL_STATUS",
        "name_ar": "المديرية العامة للأحوال المدنية",
        "name_en": "Directorate General of Civil Status",
        "customer_service": False,
    },
    "Health": {"status": "ok", "postgres": True, "temporal": True},
    "ApiKeyCreate": {"name": "Civil status desk, Seeb", "role": "department", "department": "CIVIL_STATUS"},
    "ApiKeyPublic": _API_KEY,
    "ApiKeyCreated": {**_API_KEY, "key": "cmp_8Hq2vVbq0m3ZkRr1yP6tWc4nX9sLd7aGf5eJuT2oIyE"},
    "DepartmentUpdate": {"name_ar": "المديرية العامة للأحوال المدنية", "name_en": "Directorate General of Civil Status",
                         "email": "civil.status@moi.gov.om", "active": True},
    "DepartmentRecord": {"code": "CIVIL_STATUS", "name_ar": "المديرية العامة للأحوال المدنية",
                         "name_en": "Directorate General of Civil Status", "email": "civil.status@moi.gov.om",
                         "customer_service": False, "active": True, "updated_at": "2026-03-01T07:30:00Z"},
    "TrackingView": example_view(),
    "ErrorResponse": ERROR_EXAMPLES[422],
}


def _has_example(node: dict[str, Any]) -> bool:
    return "example" in node or "examples" in node


def _add_component_examples(document: dict[str, Any]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    for name, example in COMPONENT_EXAMPLES.items():
        schema = schemas.get(name)
        if schema is not None and not _has_example(schema):
            schema["examples"] = [example]


def _json_content(response: dict[str, Any]) -> dict[str, Any] | None:
    return response.get("content", {}).get("application/json")


# Headers the app sends with some errors: status -> {name: header object}.
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`: the scheme to authenticate with.",
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Whole seconds to wait before trying again.",
                          "schema": {"type": "integer", "minimum": 1}}},
}


def _add_alternatives_examples(content: dict[str, Any] | None) -> None:
    """An answer that is one of several models (`anyOf`) gets an example of each, named by its model."""
    alternatives = (content or {}).get("schema", {}).get("anyOf", [])
    names = [alternative["$ref"].rsplit("/", 1)[1] for alternative in alternatives if "$ref" in alternative]
    if not names or _has_example(content) or not all(name in COMPONENT_EXAMPLES for name in names):
        return
    content["examples"] = {name: {"summary": name, "value": COMPONENT_EXAMPLES[name]} for name in names}


def _complete_operation(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    if "requestBody" in operation and "413" not in responses:
        responses["413"] = {
            "description": f"The request body is over {MAX_REQUEST_BYTES} bytes.",
            "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
        }
    for status, headers in ERROR_HEADERS.items():
        if str(status) in responses:
            responses[str(status)].setdefault("headers", headers)
    own = TRACKING_ERROR_EXAMPLES if path.startswith("/v1/track/") else {}
    for response in responses.values():
        _add_alternatives_examples(_json_content(response))
    for status, response in responses.items():
        content = _json_content(response)
        if content is None or content.get("schema", {}).get("$ref") != ERROR_SCHEMA_REF or _has_example(content):
            continue
        example = own.get(int(status)) or ERROR_EXAMPLES.get(int(status))
        if example is not None:
            content["example"] = example


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add to a document FastAPI built what this module says is missing; returns the same document."""
    _add_component_examples(document)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            _complete_operation(path, operation)
    return document


class DocsPagesPolicy:
    """Puts `DOCS_PAGES_POLICY` on the answers of the documentation pages, so they reach no other origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in (SWAGGER_UI_URL, REDOC_URL):
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = DOCS_PAGES_POLICY
            await send(message)

        await self.app(scope, receive, send_with_policy)


def install(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Make `app.openapi()` (and so `/openapi.json` and `/docs`) serve the completed document."""

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return openapi
