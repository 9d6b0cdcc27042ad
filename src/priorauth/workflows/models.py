from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from priorauth.db import Base, JSONType, UTCDateTime


class Workflow(Base):
    __tablename__ = "workflows"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    workflow_name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32))
    trace_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    meta: Mapped[dict] = mapped_column("metadata", JSONType)
    status: Mapped[str] = mapped_column(String(16))  # in_progress | completed | aborted | failed
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_workflows_org_id", "organization_id", "id"),)


class WorkflowStep(Base):
    """One step of a workflow: its pinned idempotency key, counters, memoized decision and output."""

    __tablename__ = "workflow_steps"
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    step_name: Mapped[str] = mapped_column(String(200))
    step_type: Mapped[str] = mapped_column(String(32))
    step_input: Mapped[dict] = mapped_column(JSONType)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(200), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    gate_count: Mapped[int] = mapped_column(Integer)
    completion_count: Mapped[int] = mapped_column(Integer)
    first_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The memoized decision: what an idempotent retry gets back without evaluating policies.
    decision: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decision_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    policy_ids: Mapped[list] = mapped_column(JSONType)
    # What the decision was made under: {policy_id: version} of the matched policies, and the policy set.
    policy_versions: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    policy_set_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    approval_id: Mapped[str | None] = mapped_column(String(80), nullable=True)  # the current hold, if any
    approval_status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # pending|approved|rejected
    holds: Mapped[int] = mapped_column(Integer)  # approvals created for this step so far
    output: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    tokens_in: Mapped[int] = mapped_column(BigInteger)
    tokens_out: Mapped[int] = mapped_column(BigInteger)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger)  # money as integers: millionths of a dollar

    __table_args__ = (Index("ix_workflow_steps_org_key", "organization_id", "idempotency_key"),)


class WorkflowApproval(Base):
    __tablename__ = "workflow_approvals"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # app_ + UUIDv5(workflow:step) [#n]
    organization_id: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    step_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected
    severity: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    policy_ids: Mapped[list] = mapped_column(JSONType)
    policy_versions: Mapped[dict | None] = mapped_column(JSONType, nullable=True)  # {policy_id: version}
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # X-User-ID: the person, as named
    decided_by_client: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the credential used
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    expired: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_workflow_approvals_org_status", "organization_id", "status", "requested_at"),
                      Index("ix_workflow_approvals_status_expiry", "status", "expires_at"))


class WorkflowAuditEntry(Base):
    """Append-only: every gate, completion, approval, rejection, expiry and refused key of a workflow."""

    __tablename__ = "workflow_audit"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    step_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    event: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)  # a reviewer's X-User-ID, or a client id
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the authenticated API client
    data: Mapped[dict] = mapped_column(JSONType)  # PHI-shaped values redacted unless a policy keeps them
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_workflow_audit_workflow", "workflow_id", "id"),)


class WorkflowPolicy(Base):
    __tablename__ = "workflow_policies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict] = mapped_column(JSONType)  # the validated policy as the client sent it
    enabled: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)  # 1 when created, +1 with every PUT
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("organization_id", "name"),)


class WorkflowPolicyAuditEntry(Base):
    """Append-only: every create, update and delete of a policy, with the body of the version it made."""

    __tablename__ = "workflow_policy_audit"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    policy_id: Mapped[str] = mapped_column(String(64))  # no foreign key: the trail outlives a deleted policy
    event: Mapped[str] = mapped_column(String(16))  # created | updated | deleted
    version: Mapped[int] = mapped_column(Integer)  # the policy's version after the change (deleted: the last)
    policy_set_version: Mapped[int] = mapped_column(Integer)  # the organization's, after the change
    # The admin client that made the change (None: a policy older than versions, recorded by the migration).
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body: Mapped[dict | None] = mapped_column(JSONType, nullable=True)  # the policy as of `version`; None: deleted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_workflow_policy_audit_policy", "organization_id", "policy_id", "id"),)


class WorkflowPolicyVersion(Base):
    """Bumped with every policy change, so each process knows when its compiled policies are stale."""

    __tablename__ = "workflow_policy_versions"
    organization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
