"""Channel keys: each is bound to the channels it may submit through, and its retries find only its own cases.

Keys are made here through the admin API and the command line (`complaints apikey create|list|revoke`);
the migration that bound the keys made before it is run on a scratch database of the session's server.
"""

import uuid

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from store.db import sqlalchemy_url
from store.migrate import alembic_config
from tests.api.test_admin import complaints_cli
from tests.helpers import bearer, complaint


async def admin_made_key(api, keys, **body) -> dict:
    response = await api.post("/v1/admin/keys", json={"name": f"test {uuid.uuid4().hex[:8]}", **body},
                              headers=bearer(keys.admin))
    assert response.status_code == 201, response.text
    return response.json()


def without_civil_id() -> dict:
    body = complaint()
    body["submitter"] = {"category": "beneficiary", "name": "Someone"}
    return body


async def test_a_website_key_cannot_submit_as_tajawob_and_skip_the_identity_check(api, keys):
    website = (await admin_made_key(api, keys, role="channel", channels=["website"]))["key"]

    as_tajawob = await api.post("/v1/cases", json={**without_civil_id(), "channel": "tajawob"}, headers=bearer(website))
    as_website = await api.post("/v1/cases", json=without_civil_id(), headers=bearer(website))

    assert as_tajawob.status_code == 403, as_tajawob.text
    assert as_tajawob.json()["error"]["code"] == "forbidden"
    assert "tajawob" in as_tajawob.json()["error"]["message"]
    assert as_website.status_code == 422  # its own channel: the identity check applies
    assert as_website.json()["error"]["fields"][0]["field"] == "submitter.civil_id"


async def test_a_key_bound_to_tajawob_submits_a_complaint_without_civil_id(api, keys):
    tajawob = (await admin_made_key(api, keys, role="channel", channels=["tajawob"]))["key"]

    created = await api.post("/v1/cases", json={**without_civil_id(), "channel": "tajawob"}, headers=bearer(tajawob))

    assert created.status_code == 201, created.text


async def test_the_admin_api_shows_a_keys_channels_and_refuses_them_where_they_mean_nothing(api, keys):
    made = await admin_made_key(api, keys, role="channel", channels=["email", "phone"])
    listed = (await api.get("/v1/admin/keys", headers=bearer(keys.admin))).json()
    missing = await api.post("/v1/admin/keys", json={"name": "no channels", "role": "channel"},
                             headers=bearer(keys.admin))
    on_staff = await api.post("/v1/admin/keys", json={"name": "agent", "role": "cs_agent", "channels": ["website"]},
                              headers=bearer(keys.admin))
    unknown = await api.post("/v1/admin/keys", json={"name": "x", "role": "channel", "channels": ["fax"]},
                             headers=bearer(keys.admin))

    assert made["channels"] == ["email", "phone"]
    assert next(key for key in listed if key["id"] == made["id"])["channels"] == ["email", "phone"]
    for refused in (missing, on_staff, unknown):
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["fields"][0]["field"].startswith("channels")


async def test_a_second_key_resending_the_first_keys_body_never_gets_its_case_or_code(api, keys):
    first_key = (await admin_made_key(api, keys, role="channel", channels=["website"]))["key"]
    second_key = (await admin_made_key(api, keys, role="channel", channels=["website"]))["key"]
    body = complaint(channel_ref=f"web-{uuid.uuid4().hex[:12]}")

    first = await api.post("/v1/cases", json=body, headers=bearer(first_key))
    by_another_key = await api.post("/v1/cases", json=body, headers=bearer(second_key))
    retry = await api.post("/v1/cases", json=body, headers=bearer(first_key))

    assert first.status_code == 201, first.text
    assert by_another_key.status_code == 201, by_another_key.text
    assert by_another_key.json()["reference"] != first.json()["reference"]
    assert by_another_key.json()["tracking_code"] != first.json()["tracking_code"]
    assert (retry.status_code, retry.json()["reference"]) == (200, first.json()["reference"])


# ---------------------------------------------------------------- the command line


async def test_the_command_line_makes_lists_and_revokes_channel_keys(api, settings):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    made = await complaints_cli(settings, "apikey", "create", "--role", "channel", "--name", name,
                                "--channel", "website", "--channel", "email")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    key_id = made.stdout.split("#", 1)[1].split()[0]

    listed = await complaints_cli(settings, "apikey", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["id", "name", "role", "department", "channels", "created", "revoked"]
    row = next(row.split() for row in rows if row.split()[0] == key_id)
    assert row[1:5] == [name, "channel", "-", "website,email"]
    assert row[-1] == "-"

    as_tajawob = await api.post("/v1/cases", json=complaint(channel="tajawob"), headers=bearer(key))
    assert as_tajawob.status_code == 403, as_tajawob.text

    revoked = await complaints_cli(settings, "apikey", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked key #{key_id}" in revoked.stdout
    assert (await api.post("/v1/cases", json=complaint(), headers=bearer(key))).status_code == 401
    row = next(row.split() for row in (await complaints_cli(settings, "apikey", "list")).stdout.splitlines()
               if row.split()[0] == key_id)
    assert row[-1] != "-"


async def test_the_command_line_refuses_a_channel_key_without_channels_and_an_unknown_key_id(settings):
    unbound = await complaints_cli(settings, "apikey", "create", "--role", "channel", "--name", "unbound")
    unknown = await complaints_cli(settings, "apikey", "revoke", "999999")

    assert unbound.returncode != 0 and "--channel" in unbound.stderr, unbound.stderr
    assert unknown.returncode != 0 and "no API key 999999" in unknown.stderr, unknown.stderr


# ---------------------------------------------------------------- keys and claims made before 0009


@pytest.fixture
def scratch_database(servers):
    """A database of its own on the session's server, for running migrations from an older revision."""
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(servers.database_url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"create database {name}")
    yield make_url(servers.database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"drop database {name} with (force)")


def test_keys_and_claims_made_before_the_binding_keep_what_is_safe(scratch_database):
    config = alembic_config(scratch_database)
    command.upgrade(config, "0008")
    engine = create_engine(sqlalchemy_url(scratch_database), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "insert into api_keys (id, name, role, key_hash, created_at) values "
                "(1, 'old portal', 'channel', 'h1', now()), (2, 'old agent', 'cs_agent', 'h2', now())"))
            connection.execute(text(
                "insert into cases (reference, kind, channel, submitter_category, subject, description, status, "
                "escalation_level, breached, tracking_code_hash, policy_version, received_at, department_due, "
                "answer_due, updated_at, last_step, submitted_by_key, language) values "
                "('C-2026-000001', 'complaint', 'website', 'beneficiary', 's', 'd', 'received', 1, false, 'x', "
                "'1', now(), now(), now(), now(), 0, '1', 'ar')"))
            connection.execute(text(
                "insert into intake_requests (idempotency_key, request_hash, reference, received_at) values "
                "('ref:website:web-1', 'f', 'C-2026-000001', now()), "
                "('ref:website:web-2', 'f', 'C-2026-000002', now())"))
        command.upgrade(config, "head")
        with engine.connect() as connection:
            channels = dict(connection.execute(text("select name, channels from api_keys")).all())
            claims = set(connection.execute(text("select idempotency_key from intake_requests")).scalars())
    finally:
        engine.dispose()

    # An old channel key keeps every channel except the one that vouches for the submitter's identity.
    assert channels == {"old portal": ["website", "social_media", "email", "phone"], "old agent": None}
    # A claim whose case names the key that made it is that key's; one that names none stays unreachable.
    assert claims == {"ref:1:website:web-1", "ref:website:web-2"}
