"""reviews, their human decisions, and the authorization-number counters

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('reviews',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('patient_name', sa.String(length=200), nullable=False),
    sa.Column('recommendation', sa.String(length=32), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('confidence_level', sa.String(length=8), nullable=False),
    sa.Column('response', JSON, nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_reviews_organization_id_organizations')),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_reviews'))
    )
    op.create_index('ix_reviews_org_reviewed', 'reviews', ['organization_id', 'reviewed_at'], unique=False)
    op.create_table('review_decisions',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('authorization_number', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('final_recommendation', sa.String(length=32), nullable=False),
    sa.Column('original_recommendation', sa.String(length=32), nullable=False),
    sa.Column('was_overridden', sa.Boolean(), nullable=False),
    sa.Column('override_rationale', sa.Text(), nullable=True),
    sa.Column('denial_reason', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_by_client', sa.String(length=64), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('letter', JSON, nullable=False),
    sa.Column('letter_pdf', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['reviews.request_id'], name=op.f('fk_review_decisions_request_id_reviews')),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_review_decisions')),
    sa.UniqueConstraint('organization_id', 'authorization_number', name=op.f('uq_review_decisions_organization_id_authorization_number'))
    )
    op.create_table('authorization_number_counters',
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.String(length=8), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('organization_id', 'day', name=op.f('pk_authorization_number_counters'))
    )


def downgrade() -> None:
    op.drop_table('authorization_number_counters')
    op.drop_table('review_decisions')
    op.drop_index('ix_reviews_org_reviewed', table_name='reviews')
    op.drop_table('reviews')
