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
    command.downgrade(alembic_config(url), "base")
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    engine.dispose()


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
