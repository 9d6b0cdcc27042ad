"""Fixtures: the app on SQLite always, and on PostgreSQL too when PRIORAUTH_TEST_DATABASE_URL is set.

Each test gets its own organization and client, so tests never see each other's rows.
"""
from __future__ import annotations

import os
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from priorauth.app import create_app
from priorauth.auth.service import create_client
from priorauth.config import Settings

PG_URL = os.environ.get("PRIORAUTH_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _pg_url() -> str:
    return Settings(database_url=PG_URL).effective_database_url


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def make_settings(backend: str, data_dir, **overrides) -> Settings:
    url = _pg_url() if backend == "postgresql" else f"sqlite+aiosqlite:///{data_dir}/test.db"
    return Settings(**{"database_url": url, "data_dir": data_dir, "worker_poll_seconds": 0.05, "log_level": "WARNING",
                       **overrides})


@pytest.fixture(scope="session", params=BACKENDS)
async def app(request, tmp_path_factory):
    if request.param == "postgresql":
        await _reset_postgres(_pg_url())
    application = create_app(make_settings(request.param, tmp_path_factory.mktemp(request.param)))
    async with application.router.lifespan_context(application):
        application.state.backend = request.param
        yield application


def http_client(application, secret: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application, raise_app_exceptions=False),
                             base_url="http://testserver", headers=headers, timeout=60)


@pytest.fixture
async def credentials(app):
    return await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "tests", "admin")


@pytest.fixture
async def client(app, credentials):
    async with http_client(app, credentials.secret) as c:
        yield c


@pytest.fixture
async def anon(app):
    async with http_client(app) as c:
        yield c
