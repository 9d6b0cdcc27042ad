"""Python client of priorauth's workflow control plane: `from priorauth.client import WorkflowsClient`."""
from priorauth.client.errors import (
    AuthenticationError,
    ConflictError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyKeyReusedError,
    InvalidPolicyError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    WorkflowApiError,
)
from priorauth.client.models import (
    ApprovalResult,
    AuditEntry,
    GateDecision,
    PendingApproval,
    Policy,
    PolicyAction,
    PolicyAuditEntry,
    PolicyCondition,
    PriorCompletionStatus,
    RetryContext,
    RetryPolicy,
    Step,
    StepCompletion,
    StepGateResponse,
    StepType,
    Workflow,
    WorkflowPage,
    WorkflowSource,
    WorkflowStatus,
)
from priorauth.client.workflows import AsyncWorkflowsClient, WorkflowsClient

__all__ = [
    "ApprovalResult", "AsyncWorkflowsClient", "AuditEntry", "AuthenticationError", "ConflictError", "GateDecision",
    "IdempotencyKeyError", "IdempotencyKeyMismatchError", "IdempotencyKeyReusedError", "InvalidPolicyError",
    "InvalidRequestError", "NotFoundError", "PendingApproval", "PermissionDeniedError", "Policy", "PolicyAction",
    "PolicyAuditEntry", "PolicyCondition", "PriorCompletionStatus", "RetryContext", "RetryPolicy", "Step", "StepCompletion",
    "StepGateResponse", "StepType", "Workflow", "WorkflowApiError", "WorkflowPage", "WorkflowSource",
    "WorkflowStatus", "WorkflowsClient",
]
