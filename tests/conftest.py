"""Fixtures: the app on SQLite always, and on PostgreSQL too when PRIORAUTH_TEST_DATABASE_URL is set.

Each test gets its own organization and client, so tests never see each other's rows. Tests never
change the shared app (its state, its settings): a test that needs other settings asks `own_app` for
an app of its own. Monkeypatching is kept to code that only the test's own requests run, never code
the shared app's background worker runs, and is undone when the test ends.
"""
from __future__ import annotations

import itertools
from contextlib import AsyncExitStack

import pytest

from priorauth.app import create_app
from tests.support.apps import (BACKENDS, http_client, make_settings, new_client, pg_url, reset_postgres,
                                running_app)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
async def app(backend, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(backend)
    if backend == "postgresql":
        url = pg_url()
        await reset_postgres(url)
    else:
        url = f"sqlite+aiosqlite:///{data_dir}/test.db"
    application = create_app(make_settings(url, data_dir))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def own_app(backend, tmp_path):
    """Start an app of the test's backend with other settings, on a database of its own:
    `application = await own_app(env="production")`. Stopped and dropped when the test ends."""
    numbers = itertools.count()
    async with AsyncExitStack() as stack:
        async def start(**overrides):
            return await stack.enter_async_context(running_app(backend, tmp_path / f"app{next(numbers)}", **overrides))
        yield start


@pytest.fixture
async def credentials(app):
    return await new_client(app)


@pytest.fixture
async def client(app, credentials):
    async with http_client(app, credentials.secret) as c:
        yield c


@pytest.fixture
async def anon(app):
    async with http_client(app) as c:
        yield c
