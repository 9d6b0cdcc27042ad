"""workflow policy versions and audit; the credential beside the named reviewer

Each policy gets a version (existing ones start at 1, with one audit entry holding their body), gate
decisions and approvals record the policy versions they used, and approvals and audit entries record
the authenticated API client beside the free-text reviewer.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('workflow_policy_audit',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('policy_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('policy_set_version', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('body', JSON, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_workflow_policy_audit_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_policy_audit'))
    )
    op.create_index('ix_workflow_policy_audit_policy', 'workflow_policy_audit', ['organization_id', 'policy_id', 'id'],
                    unique=False)
    # Existing policies become version 1 (the default fills the rows, then goes: the service sets it).
    with op.batch_alter_table('workflow_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
    with op.batch_alter_table('workflow_policies', schema=None) as batch_op:
        batch_op.alter_column('version', server_default=None)
    # ... with one audit entry each, so that their body is on record: no client (written by this migration),
    # at their last change, with an id made of the policy's own time-ordered id so it sorts before later ones.
    op.execute(
        "INSERT INTO workflow_policy_audit (id, organization_id, policy_id, event, version, policy_set_version, "
        "client_id, body, created_at) "
        "SELECT 'aud_' || substr(p.id, 5), p.organization_id, p.id, 'created', 1, COALESCE(v.version, 0), NULL, "
        "p.body, p.updated_at FROM workflow_policies p "
        "LEFT JOIN workflow_policy_versions v ON v.organization_id = p.organization_id")
    with op.batch_alter_table('workflow_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_versions', JSON, nullable=True))
        batch_op.add_column(sa.Column('policy_set_version', sa.Integer(), nullable=True))
    with op.batch_alter_table('workflow_approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_versions', JSON, nullable=True))
        batch_op.add_column(sa.Column('decided_by_client', sa.String(length=64), nullable=True))
    with op.batch_alter_table('workflow_audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('workflow_audit', schema=None) as batch_op:
        batch_op.drop_column('client_id')
    with op.batch_alter_table('workflow_approvals', schema=None) as batch_op:
        batch_op.drop_column('decided_by_client')
        batch_op.drop_column('policy_versions')
    with op.batch_alter_table('workflow_steps', schema=None) as batch_op:
        batch_op.drop_column('policy_set_version')
        batch_op.drop_column('policy_versions')
    with op.batch_alter_table('workflow_policies', schema=None) as batch_op:
        batch_op.drop_column('version')
    op.drop_index('ix_workflow_policy_audit_policy', table_name='workflow_policy_audit')
    op.drop_table('workflow_policy_audit')
