"""Typed responses of the workflow control plane.

Every model allows unknown fields, so a newer server that adds fields does not break an older client,
and enum fields fall back to the plain string when the server sends a value this client does not know yet.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class GateDecision(str, Enum):
    ALLOW = "allow"
    BLOCK = "block"
    REQUIRE_APPROVAL = "require_approval"


class StepType(str, Enum):
    LLM_CALL = "llm_call"
    TOOL_CALL = "tool_call"
    CONNECTOR_CALL = "connector_call"
    HUMAN_TASK = "human_task"


class RetryPolicy(str, Enum):
    IDEMPOTENT = "idempotent"
    REEVALUATE = "reevaluate"


class WorkflowSource(str, Enum):
    EXTERNAL = "external"
    LANGGRAPH = "langgraph"
    CREWAI = "crewai"
    AUTOGEN = "autogen"
    CUSTOM = "custom"
    PRIORAUTH = "priorauth"


class PriorCompletionStatus(str, Enum):
    NONE = "none"
    GATED_NOT_COMPLETED = "gated_not_completed"
    COMPLETED = "completed"


class WorkflowStatus(str, Enum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"


# The enum member when the value is known, else the string as sent (str enums compare equal to their value).
OpenGateDecision = Annotated[GateDecision | str, Field(union_mode="left_to_right")]
OpenStepType = Annotated[StepType | str, Field(union_mode="left_to_right")]
OpenWorkflowSource = Annotated[WorkflowSource | str, Field(union_mode="left_to_right")]
OpenWorkflowStatus = Annotated[WorkflowStatus | str, Field(union_mode="left_to_right")]
OpenPriorCompletionStatus = Annotated[PriorCompletionStatus | str, Field(union_mode="left_to_right")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Step(_Model):
    step_id: str
    step_name: str | None = None
    step_type: OpenStepType | None = None
    model: str | None = None
    provider: str | None = None
    idempotency_key: str | None = None
    gate_count: int = 0
    completion_count: int = 0
    last_decision: OpenGateDecision | None = None
    approval_id: str | None = None
    approval_status: str | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    completed_at: datetime | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None


class Workflow(_Model):
    workflow_id: str
    workflow_name: str | None = None
    source: OpenWorkflowSource | None = None
    trace_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: OpenWorkflowStatus | None = None
    status_reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    steps: list[Step] = Field(default_factory=list)  # filled by get_workflow only


class WorkflowPage(_Model):
    workflows: list[Workflow] = Field(default_factory=list)
    next_cursor: str | None = None


class RetryContext(_Model):
    """What a retrying agent needs to know: attempts so far, the prior decision, whether /complete fired."""

    gate_count: int = 0
    completion_count: int = 0
    prior_completion_status: OpenPriorCompletionStatus = PriorCompletionStatus.NONE
    prior_output_available: bool = False
    prior_output: Any = None
    prior_completion_at: datetime | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_decision: OpenGateDecision | None = None
    idempotency_key: str | None = None


class StepGateResponse(_Model):
    decision: OpenGateDecision
    step_id: str
    decision_id: str | None = None
    reason: str | None = None
    policy_ids: list[str] = Field(default_factory=list)
    policy_versions: dict[str, int] = Field(default_factory=dict)  # the version of each matched policy
    policy_set_version: int | None = None  # the organization's policy set the decision evaluated
    approval_id: str | None = None
    approval_url: str | None = None
    approval_status: str | None = None
    cached: bool = False
    decision_source: str | None = None
    severity: str | None = None
    warnings: list[str] = Field(default_factory=list)
    retry_context: RetryContext = Field(default_factory=RetryContext)

    @property
    def allowed(self) -> bool:
        return self.decision == GateDecision.ALLOW

    @property
    def blocked(self) -> bool:
        return self.decision == GateDecision.BLOCK

    @property
    def requires_approval(self) -> bool:
        return self.decision == GateDecision.REQUIRE_APPROVAL


class StepCompletion(_Model):
    workflow_id: str
    step_id: str
    status: str = "completed"
    completion_count: int = 0
    completed_at: datetime | None = None


class ApprovalResult(_Model):
    workflow_id: str
    step_id: str
    approval_id: str | None = None
    approval_status: str
    approved_by: str | None = None
    rejected_by: str | None = None
    decided_by_client: str | None = None  # the API client the reviewer authenticated with
    reason: str | None = None
    message: str | None = None


class PendingApproval(_Model):
    approval_id: str
    workflow_id: str
    step_id: str
    step_name: str | None = None
    severity: str | None = None
    reason: str | None = None
    policy_ids: list[str] = Field(default_factory=list)
    policy_versions: dict[str, int] = Field(default_factory=dict)
    requested_at: datetime | None = None
    expires_at: datetime | None = None


class AuditEntry(_Model):
    id: str
    step_id: str | None = None
    event: str
    actor: str | None = None
    client_id: str | None = None  # the API client of the request (None for the expiry sweep)
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None


class PolicyCondition(_Model):
    field: str
    operator: str
    value: Any = None


class PolicyAction(_Model):
    type: str
    config: dict[str, Any] = Field(default_factory=dict)


class Policy(_Model):
    policy_id: str
    name: str
    description: str | None = None
    type: str | None = None
    category: str | None = None
    priority: int | None = None
    enabled: bool = True
    conditions: list[PolicyCondition] = Field(default_factory=list)
    actions: list[PolicyAction] = Field(default_factory=list)
    version: int | None = None  # 1 when created, +1 with every update
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PolicyAuditEntry(_Model):
    """One change of a policy: `policy` is its body as of `version` (None once deleted)."""

    id: str
    event: str  # created | updated | deleted
    version: int
    policy_set_version: int | None = None
    client_id: str | None = None
    policy: dict[str, Any] | None = None
    created_at: datetime | None = None
