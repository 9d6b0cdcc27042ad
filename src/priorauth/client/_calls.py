"""Each operation of the API as a pure description: which request to send, how to read its answer.

Both the sync and the async client send these, so the two cannot drift apart. No I/O here.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import to_jsonable_python

from priorauth.client.errors import error_from_response, invalid_response
from priorauth.client.models import (
    ApprovalResult,
    AuditEntry,
    PendingApproval,
    Policy,
    PolicyAuditEntry,
    RetryPolicy,
    StepCompletion,
    StepGateResponse,
    StepType,
    Workflow,
    WorkflowPage,
    WorkflowSource,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

PREFIX = "/api/v1"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def outcome(call: Call[T], response: httpx.Response) -> T:
    """The typed answer, or the error the response stands for."""
    if not response.is_success:
        raise error_from_response(response)
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:  # includes UnicodeDecodeError
        raise invalid_response(response, "not JSON") from None
    try:
        return call.read(body)
    except (PydanticValidationError, TypeError, KeyError, AttributeError):
        # Chained without the cause: pydantic's text would echo the body's values, which may be PHI.
        raise invalid_response(response, "not the documented shape") from None


# --- readers -------------------------------------------------------------------------------------

def _one(model: type[M]) -> Callable[[Any], M]:
    return model.model_validate


def _many(key: str, model: type[M]) -> Callable[[Any], list[M]]:
    return lambda body: [model.model_validate(item) for item in body[key]]


def _nothing(body: Any) -> None:
    return None


# --- request helpers ------------------------------------------------------------------------------

def _segment(name: str, value: str) -> str:
    """One path segment, escaped, so an id can never reach another route."""
    if not isinstance(value, str) or value in ("", ".", ".."):  # dot segments would be resolved away
        raise ValueError(f"{name} must be a non-empty string other than '.' or '..'")
    return quote(value, safe="")


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """Enums as their values, dates as ISO strings, models as dicts: what the JSON body needs."""
    return to_jsonable_python(fields)


def _present(**fields: Any) -> dict[str, Any]:
    """Only the fields given: the server refuses unknown fields and applies its own defaults."""
    return _jsonable({k: v for k, v in fields.items() if v is not None})


def _workflow_path(workflow_id: str, *rest: str) -> str:
    return "/".join([f"{PREFIX}/workflows", _segment("workflow_id", workflow_id), *rest])


def _step_path(workflow_id: str, step_id: str, action: str) -> str:
    return _workflow_path(workflow_id, "steps", _segment("step_id", step_id), action)


def _user_header(user_id: str) -> dict[str, str]:
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValueError("user_id must be a non-empty string (sent as X-User-ID)")
    return {"X-User-ID": user_id}


# --- workflows ------------------------------------------------------------------------------------

def create_workflow(workflow_name: str, source: WorkflowSource | str = WorkflowSource.EXTERNAL,
                    trace_id: str | None = None, metadata: dict[str, Any] | None = None) -> Call[Workflow]:
    body = _present(workflow_name=workflow_name, source=source, trace_id=trace_id, metadata=metadata)
    return Call("POST", f"{PREFIX}/workflows", _one(Workflow), json=body)


def get_workflow(workflow_id: str) -> Call[Workflow]:
    return Call("GET", _workflow_path(workflow_id), _one(Workflow))


def list_workflows(status: str | None = None, limit: int | None = None,
                   cursor: str | None = None) -> Call[WorkflowPage]:
    return Call("GET", f"{PREFIX}/workflows", _one(WorkflowPage),
                params=_present(status=status, limit=limit, cursor=cursor))


def complete_workflow(workflow_id: str) -> Call[None]:
    return Call("POST", _workflow_path(workflow_id, "complete"), _nothing)


def abort_workflow(workflow_id: str, reason: str | None = None) -> Call[Workflow]:
    return Call("POST", _workflow_path(workflow_id, "abort"), _one(Workflow), json=_present(reason=reason))


def fail_workflow(workflow_id: str, reason: str | None = None) -> Call[Workflow]:
    return Call("POST", _workflow_path(workflow_id, "fail"), _one(Workflow), json=_present(reason=reason))


def resume_workflow(workflow_id: str) -> Call[Workflow]:
    return Call("POST", _workflow_path(workflow_id, "resume"), _one(Workflow))


def audit(workflow_id: str) -> Call[list[AuditEntry]]:
    return Call("GET", _workflow_path(workflow_id, "audit"), _many("entries", AuditEntry))


# --- steps ----------------------------------------------------------------------------------------

def step_gate(workflow_id: str, step_id: str, step_name: str, step_type: StepType | str,
              step_input: dict[str, Any] | None = None, model: str | None = None, provider: str | None = None,
              idempotency_key: str | None = None,
              retry_policy: RetryPolicy | str | None = None) -> Call[StepGateResponse]:
    body = _present(step_name=step_name, step_type=step_type, step_input=step_input, model=model,
                    provider=provider, idempotency_key=idempotency_key, retry_policy=retry_policy)
    return Call("POST", _step_path(workflow_id, step_id, "gate"), _one(StepGateResponse), json=body)


def mark_step_completed(workflow_id: str, step_id: str, output: dict[str, Any] | None = None,
                        idempotency_key: str | None = None, tokens_in: int | None = None,
                        tokens_out: int | None = None, cost_usd: float | None = None) -> Call[StepCompletion]:
    body = _present(output=output, idempotency_key=idempotency_key, tokens_in=tokens_in, tokens_out=tokens_out,
                    cost_usd=cost_usd)
    return Call("POST", _step_path(workflow_id, step_id, "complete"), _one(StepCompletion), json=body)


# --- approvals ------------------------------------------------------------------------------------

def approve_step(workflow_id: str, step_id: str, user_id: str) -> Call[ApprovalResult]:
    return Call("POST", _step_path(workflow_id, step_id, "approve"), _one(ApprovalResult),
                headers=_user_header(user_id))


def reject_step(workflow_id: str, step_id: str, user_id: str, reason: str) -> Call[ApprovalResult]:
    return Call("POST", _step_path(workflow_id, step_id, "reject"), _one(ApprovalResult),
                json={"reason": reason}, headers=_user_header(user_id))


def pending_approvals(severity: str | None = None, workflow_id: str | None = None) -> Call[list[PendingApproval]]:
    return Call("GET", f"{PREFIX}/workflows/approvals/pending", _many("approvals", PendingApproval),
                params=_present(severity=severity, workflow_id=workflow_id))


# --- policies -------------------------------------------------------------------------------------

def _policy_path(policy_id: str) -> str:
    return f"{PREFIX}/policies/{_segment('policy_id', policy_id)}"


def create_policy(**fields: Any) -> Call[Policy]:
    return Call("POST", f"{PREFIX}/policies", _one(Policy), json=_jsonable(fields))


def get_policy(policy_id: str) -> Call[Policy]:
    return Call("GET", _policy_path(policy_id), _one(Policy))


def list_policies() -> Call[list[Policy]]:
    return Call("GET", f"{PREFIX}/policies", _many("policies", Policy))


def update_policy(policy_id: str, /, **fields: Any) -> Call[Policy]:
    return Call("PUT", _policy_path(policy_id), _one(Policy), json=_jsonable(fields))


def delete_policy(policy_id: str) -> Call[None]:
    return Call("DELETE", _policy_path(policy_id), _nothing)


def policy_audit(policy_id: str) -> Call[list[PolicyAuditEntry]]:
    return Call("GET", f"{_policy_path(policy_id)}/audit", _many("entries", PolicyAuditEntry))
