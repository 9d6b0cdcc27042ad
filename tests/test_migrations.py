"""The migrations build exactly the schema the models describe, and go down and up again."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from priorauth.db import JSONType, UTCDateTime
from priorauth.migrate import alembic_config, upgrade
from priorauth.models import Base
from tests.support.apps import own_database


def test_migrations_match_the_models_and_round_trip(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/m.db"
    upgrade(url)
    engine = sa.create_engine(f"sqlite:///{tmp_path}/m.db")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert _guarded(conn) == APPEND_ONLY_GUARDS
    command.downgrade(alembic_config(url), "base")
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    with engine.connect() as conn:
        assert _guarded(conn) == APPEND_ONLY_GUARDS
    engine.dispose()


# A migration that rebuilds one of these tables (SQLite's batch mode copies it to a new table) drops its
# triggers with it: it must create them again (see migrations/versions/0010_append_only.py).
APPEND_ONLY_GUARDS = {(table, op) for table in ("authorization_events", "workflow_audit", "workflow_policy_audit",
                                                "organization_events", "review_decisions")
                      for op in ("UPDATE", "DELETE")}


def _guarded(conn) -> set[tuple[str, str]]:
    """(table, operation) pairs that a BEFORE trigger refuses on SQLite."""
    rows = conn.exec_driver_sql("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'").all()
    return {(table, op) for table, sql in rows for op in ("UPDATE", "DELETE")
            if f"BEFORE {op} ON {table}" in sql and "RAISE(ABORT" in sql}


async def test_0007_gives_existing_policies_a_version_and_their_body_a_trail_entry(backend, tmp_path):
    """Policies from before versioning become version 1, with one audit entry holding their body."""
    body = {"name": "legacy", "type": "context_aware", "category": "dynamic-x", "conditions": [],
            "actions": [{"type": "block", "config": {"severity": "high"}}]}
    when = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
    organizations = sa.table("organizations", sa.column("id"), sa.column("name"), sa.column("created_at", UTCDateTime))
    policies = sa.table("workflow_policies", sa.column("id"), sa.column("organization_id"), sa.column("name"),
                        sa.column("body", JSONType), sa.column("enabled"), sa.column("created_at", UTCDateTime),
                        sa.column("updated_at", UTCDateTime))
    versions = sa.table("workflow_policy_versions", sa.column("organization_id"), sa.column("version"))
    async with own_database(backend, tmp_path) as url:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0006")
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(organizations.insert().values(id="acme", name="acme", created_at=when))
                await conn.execute(policies.insert().values(id="pol_01jc0000000000000000000000", organization_id="acme",
                                                            name="legacy", body=body, enabled=True, created_at=when,
                                                            updated_at=when))
                await conn.execute(versions.insert().values(organization_id="acme", version=3))
            await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
            async with engine.connect() as conn:
                assert (await conn.execute(sa.text("SELECT version FROM workflow_policies"))).scalar_one() == 1
                entry = (await conn.execute(sa.select(
                    sa.table("workflow_policy_audit", sa.column("id"), sa.column("policy_id"), sa.column("event"),
                             sa.column("version"), sa.column("policy_set_version"), sa.column("client_id"),
                             sa.column("body", JSONType), sa.column("created_at", UTCDateTime))))).one()
            assert entry.id == "aud_01jc0000000000000000000000" and entry.policy_id == "pol_01jc0000000000000000000000"
            assert (entry.event, entry.version, entry.policy_set_version, entry.client_id) == ("created", 1, 3, None)
            assert entry.body == body and entry.created_at == when
        finally:
            await engine.dispose()


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
