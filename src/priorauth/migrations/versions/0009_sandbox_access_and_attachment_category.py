"""attachment category as long as the wire allows (100); organizations.sandbox_enabled

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The wire allows 100 characters; PostgreSQL refused 65-100 with a 500. Rows carry over unchanged.
    with op.batch_alter_table('authorization_attachments', schema=None) as batch_op:
        batch_op.alter_column('category', existing_type=sa.String(length=64), type_=sa.String(length=100),
                              existing_nullable=True)
    # Off for every existing organization: only admin clients may play the sandbox payer until an admin turns it on.
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sandbox_enabled', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('sandbox_enabled')
    op.execute("UPDATE authorization_attachments SET category = substr(category, 1, 64) WHERE length(category) > 64")
    with op.batch_alter_table('authorization_attachments', schema=None) as batch_op:
        batch_op.alter_column('category', existing_type=sa.String(length=100), type_=sa.String(length=64),
                              existing_nullable=True)
