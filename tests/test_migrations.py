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
    command.downgrade(alembic_config(url), "base")
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    engine.dispose()
