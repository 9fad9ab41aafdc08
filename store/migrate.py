"""Bring a database's schema up to date with Alembic, from code (no alembic.ini needed), and seed what it needs."""

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool
from sqlalchemy.dialects.postgresql import insert

from domain.policy import Department
from store.db import sqlalchemy_url
from store.tables import DEPARTMENTS

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser treats % as interpolation; URLs may carry %-escapes.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def seed_departments(database_url: str, departments: Iterable[Department]) -> list[str]:
    """Add the policy file's departments that the directory lacks; return their codes.

    A department already in the directory is left as it is: admins edit it through the API, and a
    migration must never undo that.
    """
    now = datetime.now(UTC)
    rows = [
        {"code": d.code, "name_ar": d.name_ar, "name_en": d.name_en, "customer_service": d.customer_service,
         "active": True, "updated_at": now}
        for d in departments
    ]
    if not rows:
        return []
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            added = connection.execute(
                insert(DEPARTMENTS).values(rows).on_conflict_do_nothing(index_elements=["code"])
                .returning(DEPARTMENTS.c.code)
            )
            return [row.code for row in added]
    finally:
        engine.dispose()
