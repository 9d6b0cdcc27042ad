"""npi registry: the local NPPES table (public reference data, shared by every organization)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('npi_registry',
    sa.Column('npi', sa.String(length=10), nullable=False),
    sa.Column('entity_type', sa.SmallInteger(), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('deactivation_date', sa.Date(), nullable=True),
    sa.Column('reactivation_date', sa.Date(), nullable=True),
    sa.Column('primary_taxonomy', sa.String(length=20), nullable=True),
    sa.Column('state', sa.String(length=2), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('npi', name=op.f('pk_npi_registry'))
    )


def downgrade() -> None:
    op.drop_table('npi_registry')
