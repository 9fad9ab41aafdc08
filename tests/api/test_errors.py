"""One error shape for every error, including those no route raises: an unreadable body, a body over
the size limit, a refused CORS preflight, an unexpected exception, a payload the codec cannot open.
"""

import base64
import json

import httpx
import pytest
from fastapi import APIRouter

from api.app import create_app
from api.limits import MAX_REQUEST_BYTES
from core.settings import Settings
from tests.conftest import TEST_CODEC_KEYS
from tests.helpers import bearer, complaint

REFERENCE = "C-2026-999999"


def shaped(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


async def test_a_body_that_is_not_json_is_a_422_naming_the_body(api, keys):
    for content in (b"{not json", b'{"answer": "\xff"}'):  # malformed; not UTF-8
        response = await api.post(f"/v1/cases/{REFERENCE}/submitter-info", content=content,
                                  headers={**bearer(keys.channel), "Content-Type": "application/json"})
        error = shaped(response, 422, "validation_error")
        assert [problem["field"] for problem in error["fields"]] == ["body"]


async def test_a_body_over_the_limit_is_a_413_on_every_route(api, keys):
    too_big = {"answer": "x" * (MAX_REQUEST_BYTES + 1)}
    for path in (f"/v1/cases/{REFERENCE}/submitter-info", f"/v1/track/{REFERENCE}/info", "/v1/codec/decode"):
        shaped(await api.post(path, json=too_big, headers=bearer(keys.cs_agent)), 413, "request_too_large")


async def test_a_refused_cors_preflight_has_the_error_shape(api):
    response = await api.options("/v1/codec/decode", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    shaped(response, 400, "bad_request")
    assert "access-control-allow-origin" not in response.headers


async def test_an_unexpected_exception_is_a_500_with_the_error_shape():
    app = create_app(settings=Settings(COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS))
    broken = APIRouter()

    @broken.get("/broken")
    async def fail() -> None:
        raise RuntimeError("a bug")

    app.include_router(broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        error = shaped(await client.get("/broken"), 500, "internal_error")
    assert "a bug" not in error["message"]


async def test_the_codec_refuses_what_it_cannot_open_with_422(api, keys, temporal_client):
    sealed = (await temporal_client.data_converter.encode(["a secret"]))[0]
    metadata = {key: base64.b64encode(value).decode() for key, value in sealed.metadata.items()}
    tampered = bytearray(sealed.data)
    tampered[-1] ^= 1
    unknown_key = {**metadata, "encryption-key-id": base64.b64encode(b"no-such-key").decode()}
    for payload in (
        {"metadata": metadata, "data": base64.b64encode(bytes(tampered)).decode()},
        {"metadata": unknown_key, "data": base64.b64encode(sealed.data).decode()},
        {"metadata": metadata, "data": ""},
    ):
        body = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "ImEi"}, payload]}
        response = await api.post("/v1/codec/decode", json=body, headers=bearer(keys.auditor))
        error = shaped(response, 422, "validation_error")
        assert [problem["field"] for problem in error["fields"]] == ["payloads.1"]


async def test_the_codec_names_what_is_wrong_with_a_body(api, keys):
    for content in (b"", b"[]", b'{"payloads": [{"data": 5}]}', b'{"payloads": null}'):
        response = await api.post("/v1/codec/encode", content=content,
                                  headers={**bearer(keys.cs_agent), "Content-Type": "application/json"})
        error = shaped(response, 422, "validation_error")
        assert error["fields"], error
    # The role is checked before the body is read.
    shaped(await api.post("/v1/codec/encode", content=b"", headers=bearer(keys.department)), 403, "forbidden")


async def test_a_nul_character_is_refused_with_422_naming_where_it_is(api, keys):
    """PostgreSQL cannot store NUL in text: refused before any route, in the path or anywhere in a body."""
    for path in ("/v1/cases/C-2026-0%00", "/v1/cases/C-2026-0%00/reads", "/v1/track/C-2026-0%00"):
        error = shaped(await api.get(path, headers=bearer(keys.auditor)), 422, "validation_error")
        assert [problem["field"] for problem in error["fields"]] == ["path"]
    body = complaint(channel_ref="web-\x00", submitter={"category": "beneficiary", "civil_id": "12345678",
                                                         "name": "Sa\x00lim"})
    error = shaped(await api.post("/v1/cases", json=body, headers=bearer(keys.channel)), 422, "validation_error")
    assert [problem["field"] for problem in error["fields"]] == ["channel_ref", "submitter.name"]
    error = shaped(await api.post(f"/v1/cases/{REFERENCE}/reply", json={"summary": "\x00"},
                                  headers=bearer(keys.cs_agent)), 422, "validation_error")
    assert [problem["field"] for problem in error["fields"]] == ["summary"]
    error = shaped(await api.post("/v1/cases", json=complaint(), headers={**bearer(keys.channel),
                                                                          "Idempotency-Key": "k\x00"}),
                   422, "validation_error")
    assert [problem["field"] for problem in error["fields"]] == ["Idempotency-Key"]


async def test_the_text_backslash_u0000_is_not_a_nul(api, keys):
    created = await api.post("/v1/cases", json=complaint(description=r"The form shows C:\u0000 and stops."),
                             headers=bearer(keys.channel))
    assert created.status_code == 201, created.text


# Found while fuzzing, in api/routes/cases.py (not this change's to edit): both end in a 500 from PostgreSQL.
async def test_an_escalation_level_out_of_range_is_a_422(api, keys):
    response = await api.get("/v1/cases", params={"escalation_level": 2**40}, headers=bearer(keys.cs_agent))
    shaped(response, 422, "validation_error")


async def test_a_forged_cursor_with_a_nul_is_a_422(api, keys):
    forged = base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", "C-\x00"]).encode()).decode()
    response = await api.get("/v1/cases", params={"cursor": forged.rstrip("=")}, headers=bearer(keys.cs_agent))
    shaped(response, 422, "validation_error")


@pytest.mark.parametrize("department", ["\x00", "HR\x00", "civil status", "C" * 30])
async def test_a_department_filter_that_is_no_code_is_a_422_naming_it(api, keys, department):
    response = await api.get("/v1/cases", params={"department": department}, headers=bearer(keys.cs_agent))
    assert [problem["field"] for problem in shaped(response, 422, "validation_error")["fields"]] == ["department"]
