"""The migrations build exactly the schema the models describe, and go down and up again."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from priorauth.migrate import alembic_config, upgrade
from priorauth.models import Base


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
APPEND_ONLY_GUARDS = {(table, op) for table in ("authorization_events", "workflow_audit", "organization_events",
                                                "review_decisions") for op in ("UPDATE", "DELETE")}


def _guarded(conn) -> set[tuple[str, str]]:
    """(table, operation) pairs that a BEFORE trigger refuses on SQLite."""
    rows = conn.exec_driver_sql("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'").all()
    return {(table, op) for table, sql in rows for op in ("UPDATE", "DELETE")
            if f"BEFORE {op} ON {table}" in sql and "RAISE(ABORT" in sql}
