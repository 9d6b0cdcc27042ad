"""Engines, sessions and the shared declarative base.

SQLite gets two engines: a single-connection writer whose transactions start with BEGIN IMMEDIATE
(so concurrent writers queue instead of failing on lock upgrades) and a pool of WAL readers.
PostgreSQL uses one pool for both; row locks (`FOR UPDATE`) do the serialising there.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
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
            event.listen(self.reader.sync_engine, "begin", lambda c: c.exec_driver_sql("BEGIN"))
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


