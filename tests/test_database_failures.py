"""When the database fails: 503 `retryable` on every face, `/ready` beside `/health`, one-line CLI errors."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from priorauth.app import create_app
from tests.support.apps import PG_URL, _admin, http_client, make_settings, new_client, pg_url
from tests.test_errors import assert_envelope

A = "/v1/prior-auth/authorizations"
PASSWORD = "hunter2pw"


@asynccontextmanager
async def database_gone(application: FastAPI) -> AsyncIterator[None]:
    """The app's database cannot be reached until the block ends, as if its server went away."""
    db = application.state.db
    url = make_url(db.url)
    if db.is_sqlite:
        folder = Path(url.database).parent
        moved = folder.with_name(folder.name + "-gone")
        folder.rename(moved)
        await db.dispose()  # open connections would keep the renamed file; new ones find no directory
        try:
            yield
        finally:
            moved.rename(folder)
    else:
        admin, gone = url.set(database="postgres"), f"{url.database}_gone"
        await _admin(admin, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{url.database}'")
        await _admin(admin, f'ALTER DATABASE "{url.database}" RENAME TO "{gone}"')
        try:
            yield
        finally:
            await _admin(admin, f'ALTER DATABASE "{gone}" RENAME TO "{url.database}"')


async def test_a_database_outage_answers_503_retryable_on_every_face_and_ready_says_so(own_app, capsys):
    application = await own_app(worker_enabled=False)
    created = await new_client(application)
    async with http_client(application, created.secret) as c, http_client(application) as anon:
        assert (await c.get(A)).status_code == 200
        ready = await anon.get("/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        capsys.readouterr()

        async with database_gone(application):
            for _ in range(2):  # the first request meets the broken connections, the next cannot connect
                response = await c.get(A)
                error = assert_envelope(response, 503, "service_unavailable")
                assert error["retryable"] is True and response.headers["retry-after"]
            created_during = await c.post(A, json={"patient": {"name": "Ada Lovelace"}})
            assert assert_envelope(created_during, 503, "service_unavailable")["retryable"] is True
            coded = await c.get("/api/v1/workflows")  # the workflow face's envelope
            assert coded.status_code == 503, coded.text
            assert coded.json()["error"]["code"] == "SERVICE_UNAVAILABLE" and coded.json()["error"]["retryable"] is True
            detail = await c.get("/api/reviews")  # the review face's `{"detail": ...}`
            assert detail.status_code == 503 and detail.json()["retryable"] is True, detail.text
            assert "database" in detail.json()["detail"]

            health = await anon.get("/health")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})  # the process is alive
            not_ready = await anon.get("/ready")
            assert not_ready.status_code == 503 and not_ready.headers["retry-after"]
            assert not_ready.json()["status"] == "unavailable"
            assert not_ready.json()["reason"] == "database_unreachable", not_ready.text
            assert make_url(application.state.db.url).database not in not_ready.text

        # Back without a restart: the pool reconnects.
        assert (await c.get(A)).status_code == 200
        assert (await anon.get("/ready")).json() == {"status": "ready"}
    logged = capsys.readouterr().out
    assert "database_unavailable" in logged and "Lovelace" not in logged


async def test_ready_is_unavailable_until_the_schema_is_at_the_head_revision(own_app):
    application = await own_app(worker_enabled=False)
    db = application.state.db
    async with db.read() as session:
        head = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    async with http_client(application) as anon:
        assert (await anon.get("/ready")).status_code == 200
        for revision, says in (("0001", "priorauth migrate"), ("ffffffff", "unknown")):
            async with db.write() as session:
                await session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
            response = await anon.get("/ready")
            assert response.status_code == 503, response.text
            body = response.json()
            assert (body["status"], body["reason"]) == ("unavailable", "schema_not_current")
            assert revision in body["message"] and head in body["message"] and says in body["message"], body
        async with db.write() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        assert (await anon.get("/ready")).json() == {"status": "ready"}


async def test_a_wrong_statement_is_still_a_500_not_a_503():
    """Only a database that cannot be reached is a retryable 503: bad SQL or a refused write is a fault of ours."""
    application = create_app(make_settings("sqlite+aiosqlite:////nonexistent-never-opened/x.db",
                                           Path("/nonexistent-never-opened")))
    engine = create_async_engine("sqlite+aiosqlite://")

    @application.get("/bad-sql")
    async def bad_sql() -> dict:
        async with engine.connect() as conn:
            await conn.execute(text("SELEC 1"))  # sqlite3.OperationalError, like a lost file, but a syntax error
        return {}

    try:
        async with http_client(application) as c:
            response = await c.get("/bad-sql")
    finally:
        await engine.dispose()
    assert assert_envelope(response, 500, "internal_error")["retryable"] is True
    assert "SELEC" not in response.text


# ---------------------------------------------------------------- the CLI on a bad DATABASE_URL

def _bad_urls(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "a-directory").mkdir()
    urls = {
        "unparseable": f"not a database url {PASSWORD}",
        "unknown driver": f"mysql+nosuchdriver://app:{PASSWORD}@127.0.0.1/priorauth",
        "refused": f"postgresql://app:{PASSWORD}@127.0.0.1:1/priorauth",
        "unopenable": f"sqlite+aiosqlite:///{tmp_path}/a-directory",  # a directory, not a database file
    }
    if PG_URL:
        urls["wrong database"] = make_url(pg_url()).set(password=PASSWORD, database="priorauth_no_such_db") \
            .render_as_string(hide_password=False)
    return urls


@pytest.mark.parametrize(("command", "kind"), [
    (["serve", "--port", "1"], "refused"),
    (["migrate"], "unparseable"),
    (["worker"], "unknown driver"),
    (["npi", "import", "NPI_FILE"], "wrong database" if PG_URL else "unopenable"),
    (["clients", "list"], "unopenable"),
])
def test_a_bad_database_url_is_one_line_without_the_password(command, kind, tmp_path):
    npi_file = tmp_path / "npi.csv"
    npi_file.write_text("NPI\n1234567893\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PRIORAUTH_DATABASE_URL",)}
    env.update(DATABASE_URL=_bad_urls(tmp_path)[kind], PRIORAUTH_DATA_DIR=str(tmp_path / "data"), NO_COLOR="1",
               COLUMNS="200", TERM="dumb")
    args = [str(npi_file) if arg == "NPI_FILE" else arg for arg in command]
    done = subprocess.run([sys.executable, "-m", "priorauth", *args], capture_output=True, text=True, env=env,
                          timeout=60)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert output.startswith("error: cannot connect to the database: ") and "\n" not in output, output
    assert PASSWORD not in output and "Traceback" not in output
