"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organizations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_by', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_key_status', ['key', 'status', 'id'], unique=False)
        batch_op.create_index('ix_outbox_status_available', ['status', 'available_at'], unique=False)

    op.create_table('api_clients',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_api_clients_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_clients')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_api_clients_secret_hash'))
    )
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_clients_organization_id'), ['organization_id'], unique=False)

    op.create_table('authorizations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('workflow_state', sa.String(length=32), nullable=False),
    sa.Column('decision_state', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('payer_id', sa.String(length=200), nullable=True),
    sa.Column('case_data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('questionnaire', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('submission_channel', sa.String(length=32), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('latest_submission_attempt_id', sa.String(length=64), nullable=True),
    sa.Column('last_event_sequence', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_authorizations_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorizations')),
    sa.UniqueConstraint('organization_id', 'idempotency_key', name=op.f('uq_authorizations_organization_id_idempotency_key'))
    )
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.create_index('ix_authorizations_org_external', ['organization_id', 'external_id'], unique=False)
        batch_op.create_index('ix_authorizations_org_id', ['organization_id', 'id'], unique=False)

    op.create_table('files',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_files_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_files'))
    )
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_files_organization_id'), ['organization_id'], unique=False)

    op.create_table('authorization_actions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('authorization_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('blocking', sa.Boolean(), nullable=False),
    sa.Column('issue_key', sa.String(length=300), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('resolution', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_authorization_actions_authorization_id_authorizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorization_actions'))
    )
    with op.batch_alter_table('authorization_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorization_actions_authorization_id'), ['authorization_id'], unique=False)

    op.create_table('authorization_artifacts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('authorization_id', sa.String(length=64), nullable=False),
    sa.Column('submission_attempt_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('page_count', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_authorization_artifacts_authorization_id_authorizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorization_artifacts'))
    )
    with op.batch_alter_table('authorization_artifacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorization_artifacts_authorization_id'), ['authorization_id'], unique=False)

    op.create_table('authorization_attachments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('authorization_id', sa.String(length=64), nullable=False),
    sa.Column('file_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_authorization_attachments_authorization_id_authorizations')),
    sa.ForeignKeyConstraint(['file_id'], ['files.id'], name=op.f('fk_authorization_attachments_file_id_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorization_attachments'))
    )
    with op.batch_alter_table('authorization_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorization_attachments_authorization_id'), ['authorization_id'], unique=False)

    op.create_table('authorization_events',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('authorization_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_authorization_events_authorization_id_authorizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorization_events')),
    sa.UniqueConstraint('authorization_id', 'sequence', name=op.f('uq_authorization_events_authorization_id_sequence'))
    )
    op.create_table('submission_attempts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('authorization_id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('artifact_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('outbound', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_submission_attempts_authorization_id_authorizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submission_attempts')),
    sa.UniqueConstraint('organization_id', 'idempotency_key', name=op.f('uq_submission_attempts_organization_id_idempotency_key'))
    )
    with op.batch_alter_table('submission_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_attempts_authorization_id'), ['authorization_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('submission_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_attempts_authorization_id'))

    op.drop_table('submission_attempts')
    op.drop_table('authorization_events')
    with op.batch_alter_table('authorization_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorization_attachments_authorization_id'))

    op.drop_table('authorization_attachments')
    with op.batch_alter_table('authorization_artifacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorization_artifacts_authorization_id'))

    op.drop_table('authorization_artifacts')
    with op.batch_alter_table('authorization_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorization_actions_authorization_id'))

    op.drop_table('authorization_actions')
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_files_organization_id'))

    op.drop_table('files')
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.drop_index('ix_authorizations_org_id')
        batch_op.drop_index('ix_authorizations_org_external')

    op.drop_table('authorizations')
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_clients_organization_id'))

    op.drop_table('api_clients')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_available')
        batch_op.drop_index('ix_outbox_key_status')

    op.drop_table('outbox')
    op.drop_table('organizations')
