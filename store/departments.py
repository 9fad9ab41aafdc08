"""The department directory (`departments`): seeded from the policy file, kept by admins through the API.

Only active departments are offered to callers and to triage; an inactive one keeps its row, so the
cases and keys that name it still make sense.
"""

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import select

from store.db import Database
from store.models import DepartmentEntry


class CustomerServiceStaysActive(Exception):
    """The customer-service department triages every case: it cannot be deactivated."""


async def active_departments(database: Database) -> list[DepartmentEntry]:
    async with database.session() as session:
        return list(
            (await session.exec(select(DepartmentEntry).where(DepartmentEntry.active).order_by(DepartmentEntry.code)))
            .all()
        )


# The codes a case may be routed to now, by code.
ACTIVE_CODES = select(DepartmentEntry.code).where(DepartmentEntry.active).order_by(DepartmentEntry.code)


async def active_department_codes(database: Database) -> list[str]:
    """The codes a case may be routed to now."""
    async with database.connection() as connection:
        return list((await connection.execute(ACTIVE_CODES)).scalars())


async def all_departments(database: Database) -> list[DepartmentEntry]:
    """Every department of the directory, inactive ones too, by code."""
    async with database.session() as session:
        return list((await session.exec(select(DepartmentEntry).order_by(DepartmentEntry.code))).all())


async def find_department(database: Database, code: str) -> DepartmentEntry | None:
    async with database.session() as session:
        return await session.get(DepartmentEntry, code)


async def put_department(database: Database, code: str, values: dict) -> tuple[DepartmentEntry, bool]:
    """Add the department with these values, or change it to them: (its row, whether it was added)."""
    async with database.transaction() as session:
        added = await session.exec(
            insert(DepartmentEntry)
            .values(code=code, customer_service=False, **values)
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(DepartmentEntry.code)
        )
        created = added.first() is not None
        record = await session.get(DepartmentEntry, code, with_for_update=True)
        if not created:
            if record.customer_service and not values["active"]:
                raise CustomerServiceStaysActive(code)
            for name, value in values.items():
                setattr(record, name, value)
    return record, created
