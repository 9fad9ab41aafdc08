"""A canary: personal data goes into cases, and none of it reaches Temporal's storage unencrypted."""

import base64
import uuid

import httpx

from tests.conftest import DEPARTMENT
from tests.helpers import bearer, complaint, eventually, read_case, submit


def canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "name": f"Canaryname{tag}",
        "civil_id": str(int(tag, 16))[:12].rjust(8, "7"),
        "email": f"canary{tag}@example.om",
        "phone": "+968" + str(int(tag, 16))[:8],
        "description": f"canary-description-{tag}",
        "answer": f"canary-answer-{tag}",
    }


async def act(api, key, reference, action, body):
    response = await api.post(f"/v1/cases/{reference}/{action}", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text


def temporal_storage(servers) -> bytes:
    """The dev server's SQLite database with its write-ahead log, as raw bytes."""
    return b"".join(path.read_bytes() for path in sorted(servers.data_dir.glob("temporal.sqlite*")))


async def test_no_personal_data_reaches_temporal_in_the_clear(api, keys, servers):
    marker = canaries()
    submitter = {"category": "beneficiary", "name": marker["name"], "civil_id": marker["civil_id"],
                 "email": marker["email"], "phone": marker["phone"]}
    created = await submit(api, keys.channel, complaint(submitter=submitter, description=marker["description"]))
    reference = created["reference"]
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "request-info", {"question": "Which office?"})
    await act(api, keys.channel, reference, "submitter-info", {"answer": marker["answer"]})

    case = await read_case(api, keys.cs_agent, reference)
    assert case["submitter"]["civil_id"] == marker["civil_id"]  # the record has it: the canary is real

    storage = temporal_storage(servers)
    assert reference.encode() in storage  # the search reads what Temporal wrote
    leaked = [field for field, value in marker.items() if value.encode() in storage]
    assert leaked == []


async def test_the_codec_endpoint_opens_payloads_for_staff_only(api, keys, temporal_client):
    sealed = await temporal_client.data_converter.encode(["a secret"])
    body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in sealed[0].metadata.items()},
                          "data": base64.b64encode(sealed[0].data).decode()}]}
    assert b"a secret" not in sealed[0].data

    decoded = await api.post("/v1/codec/decode", json=body, headers=bearer(keys.auditor))
    anonymous = await api.post("/v1/codec/decode", json=body)
    department = await api.post("/v1/codec/decode", json=body, headers=bearer(keys.department))

    assert decoded.status_code == 200
    assert base64.b64decode(decoded.json()["payloads"][0]["data"]) == b'"a secret"'
    assert (anonymous.status_code, department.status_code) == (401, 403)


async def test_only_the_temporal_ui_may_call_from_a_browser(api, services):
    def preflight(origin: str) -> httpx.Request:
        return api.options("/v1/codec/decode", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})

    allowed = await preflight(services.settings.codec_ui_origin)
    other = await preflight("http://evil.example")

    assert allowed.headers.get("access-control-allow-origin") == services.settings.codec_ui_origin
    assert "access-control-allow-origin" not in other.headers
