"""Administration: API keys and the department directory, through the API as an admin key.

Departments made here get codes of this module's own (`ADM_...`) and end inactive, so that the
active directory other tests see is the policy file's. Who else may call these routes: test_access.py.
"""

import asyncio
import hashlib
import itertools
import os
import subprocess
import sys
from datetime import datetime

import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError

from api.auth import find_caller
from domain.policy import Department
from store.migrate import seed_departments
from store.models import ApiKey, DepartmentEntry, OutboxMessage
from tests.closing import stop_cases
from tests.conftest import REPO
from tests.helpers import bearer, complaint, eventually, read_case, submit
from workflows.case import CaseWorkflow, workflow_id
from workflows.messages import Actor, TriageRequest

_numbers = itertools.count(1)
_made: list[str] = []


@pytest.fixture(autouse=True)
async def stop_made_cases(temporal_client):
    yield
    await stop_cases(temporal_client, _made)
    _made.clear()


def new_code() -> str:
    return f"ADM_{next(_numbers)}_{datetime.now():%H%M%S%f}"


async def make_key(api, keys, **body) -> dict:
    response = await api.post("/v1/admin/keys", json={"name": "test admin-made", **body}, headers=bearer(keys.admin))
    assert response.status_code == 201, response.text
    return response.json()


async def put_department(api, keys, code: str, expect: int | None = None, **body) -> dict:
    document = {"name_ar": "دائرة تجريبية", "name_en": "A test department", "active": True, **body}
    response = await api.put(f"/v1/admin/departments/{code}", json=document, headers=bearer(keys.admin))
    if expect is not None:
        assert response.status_code == expect, response.text
    return response.json()


def field_problems(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    return [problem["field"] for problem in response.json()["error"]["fields"]]


async def stored_key(database, key_id: int) -> ApiKey:
    async with database.session() as session:
        return await session.get(ApiKey, key_id)


# ---------------------------------------------------------------- keys


async def test_a_new_key_is_shown_once_works_and_is_stored_only_as_its_hash(api, keys, database):
    made = await make_key(api, keys, role="channel", channels=["website"])

    assert made["key"].startswith("cmp_") and len(made["key"]) > 40
    assert made["role"] == "channel" and made["department"] is None and made["revoked_at"] is None
    assert made["channels"] == ["website"]
    # Who issued it is on record: an admin can make a key of any role.
    assert made["created_by"] == (await find_caller(database, keys.admin)).key_id and made["revoked_by"] is None
    assert (await stored_key(database, made["id"])).key_hash == hashlib.sha256(made["key"].encode()).hexdigest()
    caller = await find_caller(database, made["key"])
    assert (caller.key_id, caller.role.value, caller.department) == (made["id"], "channel", None)
    assert (await api.get("/v1/cases", headers=bearer(made["key"]))).status_code == 200

    listing = await api.get("/v1/admin/keys", headers=bearer(keys.admin))
    assert listing.status_code == 200
    listed = next(item for item in listing.json() if item["id"] == made["id"])
    assert listed == {name: value for name, value in made.items() if name != "key"}
    assert made["key"] not in listing.text and "key_hash" not in listing.text
    ids = [item["id"] for item in listing.json()]
    assert ids == sorted(ids)


async def test_a_department_key_names_an_active_department(api, keys, database):
    made = await make_key(api, keys, role="department", department="CIVIL_STATUS")
    caller = await find_caller(database, made["key"])
    assert (caller.role.value, caller.department) == ("department", "CIVIL_STATUS")

    inactive = new_code()
    await put_department(api, keys, inactive, expect=201, active=False)
    for body, reason in (
        ({"role": "department", "department": inactive}, "not an active department of the directory"),
        ({"role": "department", "department": "NO_SUCH_DEPARTMENT"}, "not an active department of the directory"),
        ({"role": "department"}, "a department key names its department"),
        ({"role": "channel", "department": "CIVIL_STATUS"}, "only a department key names a department"),
    ):
        response = await api.post("/v1/admin/keys", json={"name": "x", **body}, headers=bearer(keys.admin))
        assert field_problems(response) == ["department"], body
        assert response.json()["error"]["fields"][0]["reason"] == reason


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "x", "role": "superuser"}, ["role"]),
        ({"name": "  ", "role": "channel"}, ["name"]),
        ({"role": "channel"}, ["name"]),
        ({"name": "x", "role": "channel", "key_hash": "0" * 64}, ["key_hash"]),
        ({"name": "x", "role": "department", "department": "civil_status"}, ["department"]),
    ],
)
async def test_a_bad_key_request_names_the_field(api, keys, database, body, fields):
    async with database.session() as session:
        before = len((await session.exec(select(ApiKey.id))).all())
    response = await api.post("/v1/admin/keys", json=body, headers=bearer(keys.admin))
    assert field_problems(response) == fields
    async with database.session() as session:
        assert len((await session.exec(select(ApiKey.id))).all()) == before


async def test_a_revoked_key_is_refused_from_its_next_request_on(api, keys, database):
    made = await make_key(api, keys, role="cs_agent")
    assert (await api.get("/v1/cases", headers=bearer(made["key"]))).status_code == 200

    revoked = await api.delete(f"/v1/admin/keys/{made['id']}", headers=bearer(keys.admin))

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["id"] == made["id"] and revoked.json()["revoked_at"] is not None
    assert revoked.json()["revoked_by"] == (await find_caller(database, keys.admin)).key_id
    refused = await api.get("/v1/cases", headers=bearer(made["key"]))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert await find_caller(database, made["key"]) is None
    # Revoking again changes nothing, not even the time.
    again = await api.delete(f"/v1/admin/keys/{made['id']}", headers=bearer(keys.admin))
    assert again.status_code == 200 and again.json() == revoked.json()
    listing = (await api.get("/v1/admin/keys", headers=bearer(keys.admin))).json()
    assert next(item for item in listing if item["id"] == made["id"])["revoked_at"] == revoked.json()["revoked_at"]


async def test_an_admin_cannot_revoke_its_own_key(api, keys, database):
    own = (await find_caller(database, keys.admin)).key_id

    refused = await api.delete(f"/v1/admin/keys/{own}", headers=bearer(keys.admin))

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "action_refused"
    assert (await stored_key(database, own)).revoked_at is None
    assert (await api.get("/v1/admin/keys", headers=bearer(keys.admin))).status_code == 200
    # Another admin may.
    other_admin = await make_key(api, keys, role="admin")
    own_revoke = await api.delete(f"/v1/admin/keys/{other_admin['id']}", headers=bearer(other_admin["key"]))
    assert own_revoke.status_code == 409
    assert (await api.delete(f"/v1/admin/keys/{other_admin['id']}", headers=bearer(keys.admin))).status_code == 200


async def test_an_unknown_or_impossible_key_id(api, keys):
    unknown = await api.delete("/v1/admin/keys/2147483000", headers=bearer(keys.admin))
    assert unknown.status_code == 404 and unknown.json()["error"] == {
        "code": "not_found", "message": "no API key 2147483000", "fields": []}
    for impossible in ("0", "-3", "2147483648", "abc"):
        response = await api.delete(f"/v1/admin/keys/{impossible}", headers=bearer(keys.admin))
        assert field_problems(response) == ["key_id"]


# ---------------------------------------------------------------- departments


async def test_the_directory_starts_as_the_policy_files_departments(api, keys, services):
    response = await api.get("/v1/admin/departments", headers=bearer(keys.admin))
    assert response.status_code == 200
    listed = {item["code"]: item for item in response.json()}
    codes = [item["code"] for item in response.json()]
    assert codes == sorted(codes)
    for department in services.policy.departments:
        entry = listed[department.code]
        assert (entry["name_ar"], entry["name_en"], entry["customer_service"], entry["active"]) == (
            department.name_ar, department.name_en, department.customer_service, True)


async def test_a_department_is_added_changed_and_deactivated(api, keys, database):
    code = new_code()

    added = await api.put(f"/v1/admin/departments/{code}", headers=bearer(keys.admin), json={
        "name_ar": "دائرة جديدة", "name_en": "A new department", "email": "new.dept@moi.gov.om", "active": True})
    assert added.status_code == 201, added.text
    assert added.json() | {"updated_at": None} == {
        "code": code, "name_ar": "دائرة جديدة", "name_en": "A new department", "email": "new.dept@moi.gov.om",
        "customer_service": False, "active": True, "updated_at": None}
    public = (await api.get("/v1/departments", headers=bearer(keys.channel))).json()
    assert {"code": code, "name_ar": "دائرة جديدة", "name_en": "A new department", "customer_service": False} in public

    changed = await put_department(api, keys, code, expect=200, name_en="The renamed department")
    assert changed["name_en"] == "The renamed department" and changed["email"] is None  # a PUT replaces
    assert datetime.fromisoformat(changed["updated_at"]) > datetime.fromisoformat(added.json()["updated_at"])
    key = await make_key(api, keys, role="department", department=code)

    deactivated = await put_department(api, keys, code, expect=200, name_en="The renamed department", active=False)
    assert deactivated["active"] is False
    assert code not in {d["code"] for d in (await api.get("/v1/departments", headers=bearer(keys.channel))).json()}
    listed = (await api.get("/v1/admin/departments", headers=bearer(keys.admin))).json()
    assert next(item for item in listed if item["code"] == code)["active"] is False
    async with database.session() as session:
        assert (await session.get(DepartmentEntry, code)).name_en == "The renamed department"
    # Its existing keys are not revoked by it; new ones cannot name it.
    assert (await find_caller(database, key["key"])).department == code
    refused = await api.post("/v1/admin/keys", headers=bearer(keys.admin),
                             json={"name": "x", "role": "department", "department": code})
    assert field_problems(refused) == ["department"]


async def test_the_customer_service_department_cannot_be_deactivated(api, keys, services, database):
    service = services.policy.customer_service()

    refused = await put_department(api, keys, service.code, name_ar=service.name_ar, name_en=service.name_en,
                                   active=False)

    assert refused["error"]["code"] == "action_refused" and service.code in refused["error"]["message"]
    async with database.session() as session:
        entry = await session.get(DepartmentEntry, service.code)
    assert entry.active and entry.customer_service and entry.name_en == service.name_en


@pytest.mark.parametrize(
    ("code", "body", "fields"),
    [
        ("NEW_ONE", {"name_ar": "أ", "name_en": "A", "email": "not an address", "active": True}, ["email"]),
        ("NEW_ONE", {"name_ar": "أ", "name_en": "A", "active": "maybe"}, ["active"]),
        ("NEW_ONE", {"name_ar": "أ", "name_en": "A", "active": 0}, ["active"]),
        ("NEW_ONE", {"name_ar": "أ", "name_en": "A", "active": "true"}, ["active"]),
        ("NEW_ONE", {"name_ar": "", "name_en": "A", "active": True}, ["name_ar"]),
        ("NEW_ONE", {"name_ar": "أ", "name_en": "A", "active": True, "customer_service": True}, ["customer_service"]),
        ("new_one", {"name_ar": "أ", "name_en": "A", "active": True}, ["code"]),
        ("1ST", {"name_ar": "أ", "name_en": "A", "active": True}, ["code"]),
        ("A" * 41, {"name_ar": "أ", "name_en": "A", "active": True}, ["code"]),
    ],
)
async def test_a_bad_department_names_the_field(api, keys, database, code, body, fields):
    response = await api.put(f"/v1/admin/departments/{code}", json=body, headers=bearer(keys.admin))
    assert field_problems(response) == fields
    async with database.session() as session:
        assert await session.get(DepartmentEntry, "NEW_ONE") is None


async def test_migrating_adds_missing_departments_and_never_undoes_an_edit(api, keys, settings, database, services):
    edited = new_code()
    await put_department(api, keys, edited, expect=201, name_en="Edited by an admin", active=False)
    missing = new_code()

    added = seed_departments(settings.resolved_database_url(), [
        Department(code=edited, name_ar="اسم آخر", name_en="From the policy file"),
        Department(code=missing, name_ar="دائرة", name_en="Missing until now"),
    ])

    assert added == [missing]
    async with database.session() as session:
        kept = await session.get(DepartmentEntry, edited)
        new = await session.get(DepartmentEntry, missing)
    assert (kept.name_en, kept.active) == ("Edited by an admin", False)
    assert (new.name_en, new.active, new.customer_service) == ("Missing until now", True, False)
    assert seed_departments(settings.resolved_database_url(), services.policy.departments) == []
    await put_department(api, keys, missing, expect=200, active=False)


async def test_new_cases_may_be_routed_only_to_active_departments(api, keys, services):
    active, inactive = new_code(), new_code()
    await put_department(api, keys, active, expect=201)
    await put_department(api, keys, inactive, expect=201, active=False)
    try:
        created = await submit(api, keys.channel, complaint())
        reference = created["reference"]
        _made.append(reference)
        await eventually(lambda: read_case(api, keys.cs_agent, reference))
        handle = services.temporal.get_workflow_handle_for(CaseWorkflow.run, workflow_id(reference))
        cs_agent = Actor(role="cs_agent", key_id="test")

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(CaseWorkflow.triage, TriageRequest(cs_agent, department=inactive))
        assert f"unknown department {inactive!r}" in str(refused.value.cause)
        routed = await handle.execute_update(CaseWorkflow.triage, TriageRequest(cs_agent, department=active))
        assert routed.department == active
    finally:
        await put_department(api, keys, active, expect=200, active=False)


async def test_a_department_added_while_a_case_runs_can_take_it(api, keys):
    created = await submit(api, keys.channel, complaint())
    reference = created["reference"]
    _made.append(reference)
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    added = new_code()
    await put_department(api, keys, added, expect=201)
    try:
        routed = await api.post(f"/v1/cases/{reference}/triage", json={"department": added},
                                headers=bearer(keys.cs_agent))
        assert routed.status_code == 200, routed.text
        assert routed.json()["department"] == added
    finally:
        await put_department(api, keys, added, expect=200, active=False)


async def test_a_routing_rule_to_an_inactive_department_leaves_the_case_to_customer_service(api, keys):
    departments = {d["code"]: d for d in (await api.get("/v1/admin/departments", headers=bearer(keys.admin))).json()}
    it = departments["IT"]
    def website_problem() -> dict:
        return complaint(subject="The e-service login fails", description="The website login fails.")

    before = await submit(api, keys.channel, website_problem())
    _made.append(before["reference"])
    await put_department(api, keys, "IT", expect=200, name_ar=it["name_ar"], name_en=it["name_en"], active=False)
    try:
        after = await submit(api, keys.channel, website_problem())
        _made.append(after["reference"])
    finally:
        await put_department(api, keys, "IT", expect=200, name_ar=it["name_ar"], name_en=it["name_en"],
                             email=it["email"], active=True)

    async def recorded(reference: str, action: str) -> dict | None:
        case = await read_case(api, keys.cs_agent, reference)
        return case if action in {entry["action"] for entry in case["timeline"]} else None

    routed = await eventually(lambda: recorded(before["reference"], "routed"))
    left = await eventually(lambda: recorded(after["reference"], "received"))
    assert routed["department"] == "IT"
    assert left["department"] is None and "routed" not in {entry["action"] for entry in left["timeline"]}


async def test_the_command_line_makes_department_keys_for_the_directorys_active_departments(api, keys, settings):
    added, deactivated = new_code(), new_code()
    await put_department(api, keys, added, expect=201)
    await put_department(api, keys, deactivated, expect=201, active=False)
    try:
        made = await complaints_cli(settings, "apikey", "create", "--role", "department", "--department", added)
        assert made.returncode == 0, made.stderr
        assert "created key #" in made.stdout and added in made.stdout
        refused = await complaints_cli(settings, "apikey", "create", "--role", "department",
                                       "--department", deactivated)
        assert refused.returncode != 0
        assert f"--department {deactivated!r} is not an active department of the directory" in refused.stderr
    finally:
        await put_department(api, keys, added, expect=200, active=False)


async def complaints_cli(settings, *arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "COMPLAINTS_DATA_DIR": str(settings.data_dir),
           "COMPLAINTS_CODEC_KEYS": settings.codec_keys.get_secret_value()}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", *arguments, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return subprocess.CompletedProcess(arguments, process.returncode, stdout.decode(), stderr.decode())


async def test_a_department_code_longer_than_the_directory_keeps_is_refused(api, keys):
    response = await api.put(f"/v1/admin/departments/{'C' * 41}", json={"name_ar": "د", "name_en": "D", "active": True},
                             headers=bearer(keys.admin))
    assert response.status_code == 422, response.text
    assert [problem["field"] for problem in response.json()["error"]["fields"]] == ["code"]


async def test_a_department_with_a_forty_character_code_gets_its_cases_and_their_messages(api, keys, database):
    code = f"LONG_{new_code()}".ljust(40, "X")[:40]
    await put_department(api, keys, code, expect=201, email="long.department@moi.gov.om")
    reference = (await submit(api, keys.channel, complaint()))["reference"]
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    triaged = await api.post(f"/v1/cases/{reference}/triage", json={"department": code}, headers=bearer(keys.cs_agent))
    assert triaged.status_code == 200, triaged.text

    async def assigned():
        async with database.session() as session:
            return (await session.exec(select(OutboxMessage.recipient).where(
                OutboxMessage.reference == reference, OutboxMessage.template == "case_assigned"))).first()

    assert await eventually(assigned) == f"department:{code}"
