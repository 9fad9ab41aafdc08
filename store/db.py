"""Engine and sessions for the application database (async psycopg 3)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
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
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A plain connection whose work commits together or not at all: for Core statements on the hot paths
        (a submission, a key's check), without the ORM session's work around each one."""
        async with self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A session whose reads all see one moment (REPEATABLE READ): a case's row and its timeline agree."""
        async with self._sessions() as session:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    async def answers(self) -> None:
        """Run the smallest statement there is: raises if PostgreSQL does not answer."""
        async with self.session() as session:
            await session.exec(text("select 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


# The embedded server's own administration (core/embedded.py), on its admin connection with plain psycopg.


def server_accepts(admin_url: str) -> None:
    """Connect and run one statement; raises psycopg.OperationalError while the server is not up."""
    import psycopg

    with psycopg.connect(admin_url, connect_timeout=2, autocommit=True) as connection:
        connection.execute("select 1")


def create_database_if_missing(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            connection.execute(f'create database "{name}"')
