"""The migrations build exactly the schema the models describe, and go down and up again."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
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
