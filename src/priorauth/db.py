"""Engines, sessions, the shared declarative base, and how to tell a lost database from a wrong statement.

SQLite gets two engines: a single-connection writer whose transactions start with BEGIN IMMEDIATE
(so concurrent writers queue instead of failing on lock upgrades) and a pool of WAL readers.
PostgreSQL uses one pool for both; row locks (`FOR UPDATE`) do the serialising there.
"""
from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Executable, MetaData, Row, Table, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from priorauth import events

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on the way in and out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _begin_unless_autocommit(conn: Connection) -> None:
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        conn.exec_driver_sql("BEGIN")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            self.reader = create_async_engine(url, pool_size=4, max_overflow=4)
            event.listen(self.writer.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.reader.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.writer.sync_engine, "begin", lambda c: c.exec_driver_sql("BEGIN IMMEDIATE"))
            event.listen(self.reader.sync_engine, "begin", _begin_unless_autocommit)
        else:
            # No pre-ping: it costs a round trip per checkout; recycling bounds stale connections instead.
            self.writer = create_async_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)
            self.reader = self.writer
        self._write_sessions = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back on any exception.

        The events published on the session reach their subscribers just before the commit."""
        async with self._write_sessions() as session:
            async with session.begin():
                yield session
                await events.before_commit(session)
            events.committed(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session, session.begin():
            yield session

    async def first(self, statement: Executable) -> Row | None:
        """The first row of one read statement, outside a transaction: no BEGIN and COMMIT round trips
        (authentication runs this on every request)."""
        async with self.reader.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return (await conn.execute(statement)).first()

    def insert(self, table: Table):
        """An INSERT that takes ON CONFLICT clauses (SQLite and PostgreSQL spell them alike)."""
        return (sqlite if self.is_sqlite else postgresql).insert(table)

    async def increment(self, session: AsyncSession, table: Table, key: dict[str, Any], column: str) -> int:
        """Add 1 to `column` of the row at `key` (created at 1) in one statement; returns the new value.

        The row stays locked until the transaction ends, so a rollback gives the number back."""
        upsert = self.insert(table).values(**key, **{column: 1}).on_conflict_do_update(
            index_elements=list(key), set_={column: table.c[column] + 1})
        return (await session.execute(upsert.returning(table.c[column]))).scalar_one()

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


# ---------------------------------------------------------------- when the database is not there

# SQLite result codes (the primary code, in the low byte) that say the file cannot be used now, not that the
# SQL is wrong: PERM, BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_UNAVAILABLE = {3, 5, 6, 8, 10, 13, 14, 15}
# PostgreSQL SQLSTATE classes and codes of the same kind: connection exception, insufficient resources,
# operator intervention (shutdown, cannot connect now), system error, bad credentials, no such database.
_PG_UNAVAILABLE_CLASSES = {"08", "53", "57", "58", "28"}
_PG_UNAVAILABLE_CODES = {"3D000"}
# Raised by the drivers before SQLAlchemy wraps anything (asyncpg connecting to a closed port or unknown host).
_NETWORK_ERRORS = (ConnectionError, socket.gaierror, TimeoutError)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps (SQLAlchemy's `orig`, then each `raise ... from`), down to the driver's error."""
    seen: set[int] = set()
    item: BaseException | None = exc
    while item is not None and id(item) not in seen:
        seen.add(id(item))
        yield item
        item = getattr(item, "orig", None) or item.__cause__


def root_cause(exc: BaseException) -> BaseException:
    """The driver's own error under SQLAlchemy's wrappers."""
    *_, last = _causes(exc)
    return last


def unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached or cannot serve right now (a retry may succeed),
    not that a statement or its data is wrong."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    for cause in _causes(exc):
        if isinstance(cause, _NETWORK_ERRORS):
            return True
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_UNAVAILABLE:
            return True
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and (state[:2] in _PG_UNAVAILABLE_CLASSES or state in _PG_UNAVAILABLE_CODES):
            return True
    return False


def connection_problem(exc: BaseException, url: str) -> str | None:
    """One line on why the database at `url` cannot be used (never the URL or its password), or None when
    `exc` is not about reaching the database."""
    if isinstance(exc, sa_exc.NoSuchModuleError):
        return f"unknown database driver ({str(exc).rsplit(':', 1)[-1]})"
    if isinstance(exc, sa_exc.ArgumentError):
        return "DATABASE_URL is not a database URL (like postgresql://user@host/db)"
    if not unavailable(exc):
        return None
    driver_error = root_cause(exc)
    reason = str(driver_error).strip().splitlines()[0] if str(driver_error).strip() else type(driver_error).__name__
    try:
        password = make_url(url).password
    except sa_exc.ArgumentError:
        password = None
    return reason.replace(password, "***") if password else reason
