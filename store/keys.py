"""API keys: only their hashes are kept (api/auth.py makes and checks the keys themselves)."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import select

from store.db import Database
from store.models import ApiKey


class UnknownApiKey(LookupError):
    """No API key has this id."""


async def add_key(database: Database, record: ApiKey) -> ApiKey:
    async with database.transaction() as session:
        session.add(record)
    return record


@dataclass(frozen=True)
class KeyGrant:
    """What an active key may do: all a request needs of its record."""

    id: int
    role: str
    department: str | None
    channels: list[str] | None


async def active_key_with_hash(database: Database, key_hash: str) -> KeyGrant | None:
    """Read at every request, so a revoked key is refused from its next request on; a Core query, as it is on
    every request's path."""
    async with database.connection() as connection:
        row = (await connection.execute(
            select(ApiKey.id, ApiKey.role, ApiKey.department, ApiKey.channels)
            .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        )).first()
    return KeyGrant(row.id, row.role, row.department, row.channels) if row else None


async def all_keys(database: Database) -> list[ApiKey]:
    """Every key, revoked ones too, oldest first."""
    async with database.session() as session:
        return list((await session.exec(select(ApiKey).order_by(ApiKey.id))).all())


async def revoke_key(database: Database, key_id: int, revoked_by: int | None = None) -> ApiKey:
    """Revoke a key from its next request on; revoking a revoked key changes nothing."""
    async with database.transaction() as session:
        record = await session.get(ApiKey, key_id, with_for_update=True)
        if record is None:
            raise UnknownApiKey(f"no API key {key_id}")
        if record.revoked_at is None:
            record.revoked_at, record.revoked_by = datetime.now(UTC), revoked_by
    return record
