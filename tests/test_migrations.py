"""The migrations build exactly the schema the models describe, and go down and up again."""
from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from priorauth.migrate import alembic_config, upgrade
from priorauth.models import Base
from tests.support.apps import own_database


def test_migrations_match_the_models_and_round_trip(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/m.db"
    upgrade(url)
    engine = sa.create_engine(f"sqlite:///{tmp_path}/m.db")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    command.downgrade(alembic_config(url), "base")
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    engine.dispose()


async def test_0009_widens_the_attachment_category_and_keeps_rows(backend, tmp_path):
    """On the test's database: rows written before 0009 carry over (an existing organization gets the sandbox
    off), a 100-character category then fits, and going down cuts it back to 64 instead of failing."""
    async with own_database(backend, tmp_path) as url:
        config = alembic_config(url)
        before = ScriptDirectory.from_config(config).get_revision("0009").down_revision
        await asyncio.to_thread(command.upgrade, config, before)
        engine = create_async_engine(url, poolclass=sa.pool.NullPool)  # fresh connections across schema changes
        try:
            async with engine.begin() as conn:
                for statement in (
                        "INSERT INTO organizations (id, name, created_at) VALUES ('acme', 'acme', CURRENT_TIMESTAMP)",
                        "INSERT INTO files (id, organization_id, filename, content_type, size, sha256, content, "
                        "created_at) VALUES ('file_1', 'acme', 'a.pdf', 'application/pdf', 1, 'x', :content, "
                        "CURRENT_TIMESTAMP)",
                        "INSERT INTO authorizations (id, organization_id, workflow_state, decision_state, version, "
                        "case_data, questionnaire, last_event_sequence, created_at, updated_at) VALUES ('auth_1', "
                        "'acme', 'needs_input', 'unknown', 1, '{}', '{}', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                        "INSERT INTO authorization_attachments (id, organization_id, authorization_id, file_id, "
                        "category, created_at) VALUES ('att_1', 'acme', 'auth_1', 'file_1', 'imaging', "
                        "CURRENT_TIMESTAMP)"):
                    await conn.execute(sa.text(statement), {"content": b"x"} if ":content" in statement else {})
            await asyncio.to_thread(command.upgrade, config, "head")
            async with engine.begin() as conn:
                await conn.execute(sa.text("INSERT INTO authorization_attachments (id, organization_id, "
                                           "authorization_id, file_id, category, created_at) VALUES ('att_2', "
                                           "'acme', 'auth_1', 'file_1', :category, CURRENT_TIMESTAMP)"),
                                   {"category": "c" * 100})
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.text(
                    "SELECT id, category FROM authorization_attachments ORDER BY id"))).all()
                sandbox = (await conn.execute(sa.text("SELECT id, sandbox_enabled FROM organizations"))).all()
            assert [tuple(row) for row in rows] == [("att_1", "imaging"), ("att_2", "c" * 100)]
            assert [(org, bool(enabled)) for org, enabled in sandbox] == [("acme", False)]
            await asyncio.to_thread(command.downgrade, config, before)
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.text(
                    "SELECT id, category FROM authorization_attachments ORDER BY id"))).all()
            assert [tuple(row) for row in rows] == [("att_1", "imaging"), ("att_2", "c" * 64)]
        finally:
            await engine.dispose()
