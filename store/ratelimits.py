"""Requests to the public endpoints per client address, in fixed windows (migration 0006_intake_codes.py)."""

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, String, case, delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel

from store.db import Database

# Longest stored address (an IPv6 address with a zone still fits).
MAX_CLIENT_LENGTH = 64


class PublicRequestCount(SQLModel, table=True):
    """How many requests one client address made in its current window; shared by every API process."""

    __tablename__ = "public_request_counts"

    client: str = Field(sa_column=Column(String(64), primary_key=True))
    window_start: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    requests: int = Field(sa_column=Column(Integer, nullable=False))


COUNTS = PublicRequestCount.__table__


async def count_request(database: Database, client: str, window: datetime) -> tuple[int, datetime]:
    """Count one request of `client` in the window that starts at `window`: (its requests so far, its window)."""
    upsert = insert(COUNTS).values(client=client[:MAX_CLIENT_LENGTH], window_start=window, requests=1)
    upsert = upsert.on_conflict_do_update(
        index_elements=[COUNTS.c.client],
        set_={
            # A newer window starts again at 1; the same one (or an older one, from a process whose clock
            # is behind) adds to the count.
            "requests": case((upsert.excluded.window_start > COUNTS.c.window_start, 1),
                             else_=COUNTS.c.requests + 1),
            "window_start": func.greatest(COUNTS.c.window_start, upsert.excluded.window_start),
        },
    ).returning(COUNTS.c.requests, COUNTS.c.window_start)
    async with database.transaction() as session:
        requests, window_start = (await session.exec(upsert)).one()
    return requests, window_start


async def forget_windows_before(database: Database, window: datetime) -> None:
    """Delete the counts of addresses whose window ended before this one."""
    async with database.transaction() as session:
        await session.exec(delete(COUNTS).where(COUNTS.c.window_start < window))
