"""The public tracking page's sessions, one case each (api/service/public_site.py holds the rules)."""

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import select

from store.db import Database
from store.models import PublicSession


async def add_public_session(database: Database, record: PublicSession) -> None:
    async with database.transaction() as session:
        session.add(record)


async def live_public_session(database: Database, token_hash: str, *, now: datetime) -> PublicSession | None:
    """The session while it lives; a dead one's row is deleted (and, now and then, every other dead one)."""
    async with database.transaction() as session:
        record = (await session.exec(select(PublicSession).where(PublicSession.token_hash == token_hash))).first()
        if record is None:
            return None
        if record.expires_at <= now:
            await session.exec(delete(PublicSession).where(PublicSession.expires_at <= now))
            return None
        return record


async def end_public_session(database: Database, token_hash: str) -> None:
    async with database.transaction() as session:
        await session.exec(delete(PublicSession).where(PublicSession.token_hash == token_hash))
