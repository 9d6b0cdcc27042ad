"""organization events (review decisions, approval requests, admin notices)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organization_events',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_organization_events_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_events'))
    )
    op.create_index('ix_organization_events_org_id', 'organization_events', ['organization_id', 'id'], unique=False)
    op.create_index('ix_organization_events_org_type', 'organization_events', ['organization_id', 'type', 'id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_organization_events_org_type', table_name='organization_events')
    op.drop_index('ix_organization_events_org_id', table_name='organization_events')
    op.drop_table('organization_events')
