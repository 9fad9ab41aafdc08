"""Staff accounts, their console sessions and the sign-in audit (api/service/staff.py holds the rules)."""

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from store.db import Database
from store.models import StaffAuditEntry, StaffSession, StaffUser


class LoginTaken(ValueError):
    """Another account already has this login (or this identity provider subject)."""


class UnknownStaffUser(LookupError):
    """No staff account has this login."""


async def add_user(database: Database, user: StaffUser) -> StaffUser:
    try:
        async with database.transaction() as session:
            session.add(user)
    except IntegrityError:
        raise LoginTaken(f"the login {user.login!r} is taken") from None
    return user


async def user_with_login(database: Database, login: str) -> StaffUser | None:
    async with database.session() as session:
        return (await session.exec(select(StaffUser).where(StaffUser.login == login))).first()


async def user_with_subject(database: Database, subject: str) -> StaffUser | None:
    async with database.session() as session:
        return (await session.exec(select(StaffUser).where(StaffUser.oidc_subject == subject))).first()


async def all_users(database: Database) -> list[StaffUser]:
    async with database.session() as session:
        return list((await session.exec(select(StaffUser).order_by(StaffUser.login))).all())


async def users_named(database: Database, ids: set[int]) -> dict[int, str]:
    """The names of these accounts, for a timeline's `@N` actors."""
    if not ids:
        return {}
    async with database.session() as session:
        rows = (await session.exec(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(ids)))).all()
        return {user_id: name for user_id, name in rows}


async def count_failed_sign_in(database: Database, user_id: int, *, lock_after: int, lock_until: datetime) -> bool:
    """Count a wrong password; at the `lock_after`th in a row the login locks until `lock_until`. True if it locked."""
    async with database.transaction() as session:
        user = await session.get(StaffUser, user_id, with_for_update=True)
        user.failed_attempts += 1
        locked = user.failed_attempts >= lock_after
        if locked:
            user.failed_attempts = 0
            user.locked_until = lock_until
        session.add(user)
        return locked


async def clear_failed_sign_ins(database: Database, user_id: int) -> None:
    async with database.transaction() as session:
        await session.exec(
            update(StaffUser).where(StaffUser.id == user_id).values(failed_attempts=0, locked_until=None))


async def set_user_fields(database: Database, login: str, **fields) -> StaffUser:
    """Change an account (disable it, give it a password); ends none of its sessions by itself."""
    async with database.transaction() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.login == login).with_for_update())).first()
        if user is None:
            raise UnknownStaffUser(f"no staff account has the login {login!r}")
        for name, value in fields.items():
            setattr(user, name, value)
        session.add(user)
    return user


async def add_session(database: Database, record: StaffSession) -> None:
    async with database.transaction() as session:
        session.add(record)


async def live_session(database: Database, token_hash: str, *, now: datetime,
                       idle: timedelta) -> tuple[StaffSession, StaffUser] | None:
    """The session and its account while it lives (not idle too long, not past its lifetime, the account enabled);
    touching it keeps it alive. A dead session's row is deleted."""
    async with database.transaction() as session:
        found = (await session.exec(
            select(StaffSession, StaffUser).join(StaffUser, StaffUser.id == StaffSession.user_id)
            .where(StaffSession.token_hash == token_hash).with_for_update(of=StaffSession)
        )).first()
        if found is None:
            return None
        record, user = found
        if record.expires_at <= now or record.last_seen_at + idle <= now or user.disabled_at is not None:
            await session.delete(record)
            return None
        record.last_seen_at = now
        session.add(record)
        return record, user


async def set_session_language(database: Database, token_hash: str, language: str) -> None:
    async with database.transaction() as session:
        await session.exec(update(StaffSession).where(StaffSession.token_hash == token_hash).values(language=language))


async def end_session(database: Database, token_hash: str) -> int | None:
    """Delete the session; the id of its account, or None if there was none."""
    async with database.transaction() as session:
        result = await session.exec(
            delete(StaffSession).where(StaffSession.token_hash == token_hash).returning(StaffSession.user_id))
        return result.scalar_one_or_none()


async def end_sessions_of(database: Database, user_id: int) -> None:
    async with database.transaction() as session:
        await session.exec(delete(StaffSession).where(StaffSession.user_id == user_id))


async def audit(database: Database, entry: StaffAuditEntry) -> None:
    async with database.transaction() as session:
        session.add(entry)


async def audit_entries(database: Database, *, login: str | None = None, limit: int = 200) -> list[StaffAuditEntry]:
    """The latest entries first."""
    query = select(StaffAuditEntry).order_by(StaffAuditEntry.id.desc()).limit(limit)
    if login is not None:
        query = query.where(StaffAuditEntry.login == login)
    async with database.session() as session:
        return list((await session.exec(query)).all())
