"""workflow control plane

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workflow_policy_versions',
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_workflow_policy_versions'))
    )
    op.create_table('workflow_policies',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('body', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_workflow_policies_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_policies')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_workflow_policies_organization_id_name'))
    )
    op.create_table('workflows',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('workflow_name', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('trace_id', sa.String(length=200), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_workflows_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflows'))
    )
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.create_index('ix_workflows_org_id', ['organization_id', 'id'], unique=False)

    op.create_table('workflow_approvals',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('workflow_id', sa.String(length=64), nullable=False),
    sa.Column('step_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('policy_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('expired', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_workflow_approvals_workflow_id_workflows')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_approvals'))
    )
    with op.batch_alter_table('workflow_approvals', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_approvals_org_status', ['organization_id', 'status', 'requested_at'], unique=False)
        batch_op.create_index('ix_workflow_approvals_status_expiry', ['status', 'expires_at'], unique=False)

    op.create_table('workflow_audit',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('workflow_id', sa.String(length=64), nullable=False),
    sa.Column('step_id', sa.String(length=200), nullable=True),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_workflow_audit_workflow_id_workflows')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_audit'))
    )
    with op.batch_alter_table('workflow_audit', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_audit_workflow', ['workflow_id', 'id'], unique=False)

    op.create_table('workflow_steps',
    sa.Column('workflow_id', sa.String(length=64), nullable=False),
    sa.Column('step_id', sa.String(length=200), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('step_name', sa.String(length=200), nullable=False),
    sa.Column('step_type', sa.String(length=32), nullable=False),
    sa.Column('step_input', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('provider', sa.String(length=200), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('gate_count', sa.Integer(), nullable=False),
    sa.Column('completion_count', sa.Integer(), nullable=False),
    sa.Column('first_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=True),
    sa.Column('decision_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('policy_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=True),
    sa.Column('approval_id', sa.String(length=80), nullable=True),
    sa.Column('approval_status', sa.String(length=16), nullable=True),
    sa.Column('holds', sa.Integer(), nullable=False),
    sa.Column('output', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tokens_in', sa.BigInteger(), nullable=False),
    sa.Column('tokens_out', sa.BigInteger(), nullable=False),
    sa.Column('cost_micro_usd', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_workflow_steps_workflow_id_workflows')),
    sa.PrimaryKeyConstraint('workflow_id', 'step_id', name=op.f('pk_workflow_steps'))
    )
    with op.batch_alter_table('workflow_steps', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_steps_org_key', ['organization_id', 'idempotency_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('workflow_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_steps_org_key')

    op.drop_table('workflow_steps')
    with op.batch_alter_table('workflow_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_audit_workflow')

    op.drop_table('workflow_audit')
    with op.batch_alter_table('workflow_approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_approvals_status_expiry')
        batch_op.drop_index('ix_workflow_approvals_org_status')

    op.drop_table('workflow_approvals')
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_index('ix_workflows_org_id')

    op.drop_table('workflows')
    op.drop_table('workflow_policies')
    op.drop_table('workflow_policy_versions')
