"""The department directory (table `departments`): seeded from the policy file, kept by admins through the API.

Only active departments are offered to callers and to triage; an inactive one keeps its row, so the
cases and keys that name it still make sense.
"""

from sqlmodel import select

from store.db import Database
from store.models import DepartmentEntry


async def active_departments(database: Database) -> list[DepartmentEntry]:
    async with database.session() as session:
        return list(
            (await session.exec(select(DepartmentEntry).where(DepartmentEntry.active).order_by(DepartmentEntry.code)))
            .all()
        )


async def active_department_codes(database: Database) -> list[str]:
    """The codes a case may be routed to now."""
    return [department.code for department in await active_departments(database)]
