"""append-only history: the database refuses UPDATE and DELETE on authorization events, the workflow audit,
the policy trail, organization events and review decisions

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-24

Triggers, so that no code path, script or console session rewrites history (only whoever may drop or
disable triggers can). On PostgreSQL TRUNCATE is refused too. A later migration that rebuilds one of these
tables on SQLite (batch mode copies it to a new table) drops its triggers with it and must create them
again as `protect()` does; tests/test_migrations.py checks that they are there at head.
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLES = ("authorization_events", "workflow_audit", "workflow_policy_audit", "organization_events", "review_decisions")
_FUNCTION = "priorauth_refuse_history_change"


def protect(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {_FUNCTION}()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
                       f"SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END $$""")
    for table in TABLES:
        protect(table)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        names = (f"{table}_append_only", f"{table}_no_truncate") if postgresql else \
            (f"{table}_no_update", f"{table}_no_delete")
        for name in names:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}" if postgresql else f"DROP TRIGGER IF EXISTS {name}")
    if postgresql:
        op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}()")
