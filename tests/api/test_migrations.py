"""A migration fills what it adds for the rows already written, as the code before it read them."""

import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from store.db import sqlalchemy_url
from store.migrate import alembic_config

CASE = (
    "insert into cases (reference, kind, channel, submitter_category, subject, description, status, escalation_level,"
    " breached, tracking_code_hash, policy_version, received_at, department_due, answer_due, updated_at, last_step,"
    " last_task, language) values (:reference, 'complaint', 'website', 'beneficiary', 's', 'd', :status, 1, false,"
    " 'h', '2026.1', now(), now(), now(), now(), 0, 0, 'ar')"
)
STEP = (
    "insert into timeline (reference, step_key, at, actor, action, detail)"
    " values (:reference, :key, now(), 'system', :action, cast(:detail as json))"
)


@pytest.fixture
def database_url(settings):
    """A database of its own on the test server, dropped afterwards."""
    main = sqlalchemy_url(settings.resolved_database_url())
    name = f"migration_{uuid.uuid4().hex[:12]}"
    admin = create_engine(main, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"create database {name}"))
    try:
        yield make_url(main).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"drop database {name} with (force)"))
        admin.dispose()


def test_0011_gives_each_case_the_words_its_timeline_last_wrote_to_the_submitter(database_url):
    config = alembic_config(database_url)
    command.upgrade(config, "0010")
    engine = create_engine(database_url, poolclass=pool.NullPool)
    cases = {
        "C-2026-000001": ("awaiting_submitter", [("request_info", '{"question": "Old?"}'),
                                                 ("submitter_info", '{"answer": "A"}'),
                                                 ("request_info", '{"question": "Which office?"}')]),
        "C-2026-000002": ("closed", [("respond", '{"message": "It is done."}'), ("closed", '{"reason": "accepted"}')]),
        "C-2026-000003": ("with_department", [("respond", '{"message": "First."}'), ("contest", '{"reason": "No."}')]),
        "C-2026-000004": ("rejected", [("reject", '{"reason": "A duplicate."}')]),
        "C-2026-000005": ("with_department", [("request_info", '{"question": "Answered?"}'),
                                              ("submitter_info", '{"answer": "Yes"}')]),
    }
    try:
        with engine.begin() as connection:
            for reference, (status, steps) in cases.items():
                connection.execute(text(CASE), {"reference": reference, "status": status})
                for number, (action, detail) in enumerate(steps, start=1):
                    connection.execute(text(STEP), {"reference": reference, "key": f"{number:04d}-{action}",
                                                    "action": action, "detail": detail})
        command.upgrade(config, "0011")
        with engine.connect() as connection:
            rows = connection.execute(
                text("select reference, question, answer, rejection_reason from cases order by reference")
            ).all()
    finally:
        engine.dispose()

    assert [tuple(row) for row in rows] == [
        ("C-2026-000001", "Which office?", None, None),
        ("C-2026-000002", None, "It is done.", None),
        ("C-2026-000003", None, None, None),
        ("C-2026-000004", None, None, "A duplicate."),
        ("C-2026-000005", None, None, None),
    ]
