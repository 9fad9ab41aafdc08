"""API keys: created by the CLI, stored as SHA-256 hashes, presented as `Authorization: Bearer <key>`."""

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.kinds import CALL_CENTRE_CHANNELS, Channel, Role
from store import keys
from store.db import Database
from store.keys import UnknownApiKey  # noqa: F401 (the admin routes catch it from here)
from store.models import ApiKey
from workflows.messages import Actor

KEY_PREFIX = "cmp_"


def hash_secret(secret: str) -> str:
    """Keys and tracking codes are long random strings, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who asks: an API key (`key_id`) or a person signed in to the console (`user_id`), never both."""

    key_id: int | None
    role: Role
    department: str | None
    # The channels a channel key or the call centre may submit through; empty for every other role.
    channels: frozenset[Channel] = frozenset()
    user_id: int | None = None
    # The public pages speak for themselves (no key, no person): their name in the record.
    site: str | None = None

    @property
    def principal(self) -> str:
        """The caller's name in the record (a case's `submitted_by_key`, idempotency claims)."""
        return self.as_actor().principal

    def as_actor(self) -> Actor:
        if self.user_id is not None:
            return Actor(role=self.role.value, department=self.department, user_id=str(self.user_id))
        if self.site is not None:
            return Actor(role=self.role.value, department=self.department, key_id=self.site)
        return Actor(role=self.role.value, department=self.department, key_id=str(self.key_id))


def staff_caller(user_id: int, role: Role, department: str | None) -> Caller:
    """A person in the console acts under the same rules as a key of their role."""
    channels = CALL_CENTRE_CHANNELS if role == Role.CALL_CENTRE else frozenset()
    return Caller(key_id=None, user_id=user_id, role=role, department=department, channels=channels)


# A case made on the public pages is `submitted_by_key` this, which no key's id (a number) can be.
PUBLIC_WEBSITE = "public-website"


def public_website_caller() -> Caller:
    """Anyone on the public submission page: a channel that speaks only for the website, as a website key would,
    but with no key (the page's own limits and proof of work stand in for one)."""
    return Caller(key_id=None, role=Role.CHANNEL, department=None, channels=frozenset({Channel.WEBSITE}),
                  site=PUBLIC_WEBSITE)


async def issue_api_key(database: Database, *, role: Role, name: str, department: str | None,
                        channels: Iterable[Channel] | None = None, created_by: int | None = None) -> tuple[ApiKey, str]:
    """Store a new key and return its record and the key; the key itself is shown once and never stored.

    A channel key is bound to the channels it may submit through (`channels`); no other key takes any.
    """
    if (role == Role.DEPARTMENT) != (department is not None):
        raise ValueError("a department key needs --department, and only a department key takes one")
    bound = list(dict.fromkeys(Channel(channel).value for channel in channels or ()))
    if (role == Role.CHANNEL) != bool(bound):
        raise ValueError("a channel key needs --channel (the channels it may submit through), "
                         "and only a channel key takes one")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(name=name, role=role.value, department=department, channels=bound or None,
                    key_hash=hash_secret(key), created_at=datetime.now(UTC), created_by=created_by)
    return await keys.add_key(database, record), key


async def create_api_key(database: Database, *, role: Role, name: str, department: str | None,
                         channels: Iterable[Channel] | None = None) -> tuple[int, str]:
    """Store a new key and return (id, key); the key itself is shown once and never stored."""
    record, key = await issue_api_key(database, role=role, name=name, department=department, channels=channels)
    return record.id, key


async def find_caller(database: Database, key: str) -> Caller | None:
    record = await keys.active_key_with_hash(database, hash_secret(key))
    if record is None:
        return None
    return Caller(key_id=record.id, role=Role(record.role), department=record.department,
                  channels=frozenset(Channel(channel) for channel in record.channels or ()))


async def list_api_keys(database: Database) -> list[ApiKey]:
    """Every key, revoked ones too, oldest first (records hold only the keys' hashes)."""
    return await keys.all_keys(database)


async def revoke_api_key(database: Database, key_id: int, revoked_by: int | None = None) -> ApiKey:
    """Revoke a key from its next request on; revoking a revoked key changes nothing. `revoked_by`: the admin key."""
    return await keys.revoke_key(database, key_id, revoked_by)
