"""Apps for tests: the settings they run with, databases of their own, and HTTP clients.

The suite shares one app per backend (see conftest.py). A test that needs other settings never
changes that app: it runs an app of its own with `running_app`, on a database of its own, so nothing
it does (its settings, its background worker) can reach another test.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from priorauth.app import create_app
from priorauth.auth.service import CreatedClient, create_client
from priorauth.config import Settings
from priorauth.webhooks.urls import resolve_and_check

PG_URL = os.environ.get("PRIORAUTH_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

# Failed webhook deliveries are retried within about a second, so delivery tests end quickly and a
# test's leftover failing deliveries are finished long before the suite is.
FAST_RETRIES = "0.05,0.05,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1"


def pg_url() -> str:
    return Settings(database_url=PG_URL).effective_database_url


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def reset_postgres(url: str) -> None:
    """An empty public schema in the shared test database."""
    await _admin(url, "DROP SCHEMA public CASCADE")
    await _admin(url, "CREATE SCHEMA public")


async def create_own_database(backend: str, data_dir: Path) -> str:
    """A database URL nobody else uses: a SQLite file under data_dir, or a PostgreSQL database created
    next to the shared test database (the test role needs CREATEDB)."""
    if backend == "sqlite":
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{data_dir}/own.db"
    base = make_url(pg_url())
    url = base.set(database=f"{base.database}_{uuid.uuid4().hex[:10]}")
    await _admin(base.set(database="postgres"), f'CREATE DATABASE "{url.database}"')
    return url.render_as_string(hide_password=False)


async def drop_own_database(url: str) -> None:
    if not url.startswith("sqlite"):
        parsed = make_url(url)
        await _admin(parsed.set(database="postgres"), f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


@asynccontextmanager
async def own_database(backend: str, data_dir: Path) -> AsyncIterator[str]:
    url = await create_own_database(backend, data_dir)
    try:
        yield url
    finally:
        await drop_own_database(url)


def make_settings(database_url: str, data_dir: Path, **overrides) -> Settings:
    """The settings every test app runs with, plus the test's own overrides."""
    # webhook_allow_private: the suite's webhook receivers run on 127.0.0.1, which the SSRF guard refuses.
    # Tests of the guard run apps of their own with webhook_allow_private=False (the real default).
    defaults = {"database_url": database_url, "data_dir": data_dir, "worker_poll_seconds": 0.05,
                "log_level": "WARNING", "webhook_retry_schedule": FAST_RETRIES, "webhook_allow_private": True}
    return Settings(**(defaults | overrides))


@asynccontextmanager
async def running_app(backend: str, data_dir: Path, *, resolve=resolve_and_check,
                      **overrides) -> AsyncIterator[FastAPI]:
    """An app of its own, on a database of its own, started and (at the end) stopped. `resolve`: a DNS
    stand-in for webhook hosts (e.g. `partial(resolve_and_check, getaddrinfo=fake_dns(...))`)."""
    async with own_database(backend, data_dir) as url:
        application = create_app(make_settings(url, data_dir, **overrides), resolve=resolve)
        async with application.router.lifespan_context(application):
            yield application


def http_client(application: FastAPI, secret: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application, raise_app_exceptions=False),
                             base_url="http://testserver", headers=headers, timeout=60)


async def new_client(application: FastAPI, role: str = "admin", organization: str | None = None) -> CreatedClient:
    """An API client of a new organization (or of `organization`) on `application`."""
    return await create_client(application.state.db, organization or f"org-{uuid.uuid4().hex[:12]}", "tests", role)
