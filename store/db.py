"""Engine and sessions for the application database (async psycopg 3)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def sqlalchemy_url(database_url: str) -> str:
    """Accept plain `postgresql://` URLs from operators and pin the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix):]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


# A database that is down must be said quickly, not after SQLAlchemy's default 30 s wait for a connection:
# the API answers 503 database_unavailable, and a step's activity retries.
CONNECT_TIMEOUT_SECONDS = 3
POOL_TIMEOUT_SECONDS = 5


def make_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(database_url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
        pool_timeout=POOL_TIMEOUT_SECONDS, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        # Statement parameters are personal data: keep them out of SQL logs and error messages alike.
        hide_parameters=True,
    )


class Database:
    """Owns the engine; hands out sessions and transactions."""

    def __init__(self, database_url: str, *, pool_size: int = 10) -> None:
        self.engine = make_engine(database_url, pool_size=pool_size)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits together or not at all."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A session whose reads all see one moment (REPEATABLE READ): a case's row and its timeline agree."""
        async with self._sessions() as session:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
