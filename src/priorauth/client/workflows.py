"""Python clients of priorauth's workflow control plane (`/api/v1/workflows`, `/api/v1/policies`).

    with WorkflowsClient("https://pa.example.org", client_id="cli_…", client_secret="pa_sk_…") as wf:
        workflow = wf.create_workflow("prior-auth-request", trace_id="case-42")
        gate = wf.step_gate(workflow.workflow_id, "submit-pa", "Submit prior authorization", StepType.TOOL_CALL,
                            step_input={...}, idempotency_key="pa:P-88120:J0135")

`AsyncWorkflowsClient` has the same methods, awaitable. Neither retries on its own: the server's step
idempotency (same `idempotency_key`, `retry_context` on every gate) is what makes a retry safe, so the
caller decides when to retry. Request bodies are never logged: they may carry PHI.
"""
from __future__ import annotations

import base64
from typing import Any

import httpx

from priorauth.client import _calls
from priorauth.client._calls import Call, T, outcome
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

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "priorauth-workflows-client/0.1"


def _auth_header(secret: str | None, client_id: str | None, client_secret: str | None) -> dict[str, str]:
    if secret is not None and (client_id is not None or client_secret is not None):
        raise ValueError("pass either secret= (Bearer) or client_id= and client_secret= (Basic), not both")
    if secret is not None:
        return {"Authorization": f"Bearer {secret}"}
    if (client_id is None) != (client_secret is None):
        raise ValueError("client_id= and client_secret= go together")
    if client_id is not None:
        token = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    return {}


class _Config:
    """What both clients share: where to send, and the headers every request carries."""

    def __init__(self, base_url: str | None, secret: str | None, client_id: str | None, client_secret: str | None,
                 headers: dict[str, str] | None, injected: bool, transport: Any):
        if injected and transport is not None:
            raise ValueError("pass transport= or http_client=, not both")
        if base_url is None and not injected:
            raise ValueError("base_url is required unless an http_client with its own base_url is given")
        auth = _auth_header(secret, client_id, client_secret)
        own_auth = any(name.lower() == "authorization" for name in headers or {})
        if not auth and not injected and not own_auth:
            raise ValueError("pass secret= or client_id= and client_secret=")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {}), **auth}

    def url(self, path: str) -> str:
        # Without a base_url, the path is relative and the injected client's base_url applies.
        return f"{self.base_url}{path}" if self.base_url else path

    def request_args(self, call: Call[Any]) -> dict[str, Any]:
        return {"method": call.method, "url": self.url(call.path), "params": call.params or None,
                "json": call.json, "headers": {**self.headers, **call.headers}}


class WorkflowsClient:
    """Synchronous client (httpx.Client). Use as a context manager, or call `close()`.

    Authenticate with `secret=` (Bearer) or `client_id=` + `client_secret=` (HTTP Basic). Pass `http_client=`
    to bring a configured `httpx.Client` (then it is yours to close), or `transport=` to swap the transport.
    """

    def __init__(self, base_url: str | None = None, *, secret: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 headers: dict[str, str] | None = None, http_client: httpx.Client | None = None,
                 transport: httpx.BaseTransport | None = None):
        self._config = _Config(base_url, secret, client_id, client_secret, headers, http_client is not None, transport)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._config.base_url!r})"  # never the credentials

    def __enter__(self) -> WorkflowsClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _send(self, call: Call[T]) -> T:
        return outcome(call, self._http.request(**self._config.request_args(call)))

    # --- workflows ---

    def create_workflow(self, workflow_name: str, source: WorkflowSource | str = WorkflowSource.EXTERNAL,
                        trace_id: str | None = None, metadata: dict[str, Any] | None = None) -> Workflow:
        """Start a workflow; the answer carries its `workflow_id` (`wf_…`) with status `in_progress`."""
        return self._send(_calls.create_workflow(workflow_name, source, trace_id, metadata))

    def get_workflow(self, workflow_id: str) -> Workflow:
        """The workflow with its `steps`."""
        return self._send(_calls.get_workflow(workflow_id))

    def list_workflows(self, status: str | None = None, limit: int | None = None,
                       cursor: str | None = None) -> WorkflowPage:
        """One page of workflows; pass its `next_cursor` back as `cursor` for the next page."""
        return self._send(_calls.list_workflows(status, limit, cursor))

    def complete_workflow(self, workflow_id: str) -> None:
        """Mark the workflow completed (it must be `in_progress`)."""
        return self._send(_calls.complete_workflow(workflow_id))

    def abort_workflow(self, workflow_id: str, reason: str | None = None) -> Workflow:
        return self._send(_calls.abort_workflow(workflow_id, reason))

    def fail_workflow(self, workflow_id: str, reason: str | None = None) -> Workflow:
        return self._send(_calls.fail_workflow(workflow_id, reason))

    def resume_workflow(self, workflow_id: str) -> Workflow:
        """Back to `in_progress` after an abort or a failure."""
        return self._send(_calls.resume_workflow(workflow_id))

    def audit(self, workflow_id: str) -> list[AuditEntry]:
        """Every gate, completion, approval, rejection and refused key of the workflow, oldest first."""
        return self._send(_calls.audit(workflow_id))

    # --- steps ---

    def step_gate(self, workflow_id: str, step_id: str, step_name: str, step_type: StepType | str,
                  step_input: dict[str, Any] | None = None, model: str | None = None, provider: str | None = None,
                  idempotency_key: str | None = None, retry_policy: RetryPolicy | str | None = None
                  ) -> StepGateResponse:
        """Ask whether the step may run. Safe to repeat: `retry_context` tells what happened before.

        `idempotency_key` pins the step to one business transaction; a later gate or completion with
        another key raises `IdempotencyKeyMismatchError`. `retry_policy="reevaluate"` re-runs the
        policies instead of returning the memoized decision (what a caller wants right after an approval).
        """
        return self._send(_calls.step_gate(workflow_id, step_id, step_name, step_type, step_input, model, provider,
                                           idempotency_key, retry_policy))

    def mark_step_completed(self, workflow_id: str, step_id: str, output: dict[str, Any] | None = None,
                            idempotency_key: str | None = None, tokens_in: int | None = None,
                            tokens_out: int | None = None, cost_usd: float | None = None) -> StepCompletion:
        """Record that the step ran; `output` is what later gates report as `retry_context.prior_output`."""
        return self._send(_calls.mark_step_completed(workflow_id, step_id, output, idempotency_key, tokens_in,
                                                     tokens_out, cost_usd))

    # --- approvals ---

    def approve_step(self, workflow_id: str, step_id: str, user_id: str) -> ApprovalResult:
        """Approve the step's pending hold as `user_id` (sent as X-User-ID, recorded in the audit log)."""
        return self._send(_calls.approve_step(workflow_id, step_id, user_id))

    def reject_step(self, workflow_id: str, step_id: str, user_id: str, reason: str) -> ApprovalResult:
        """Reject the step's pending hold as `user_id`; the server aborts the workflow."""
        return self._send(_calls.reject_step(workflow_id, step_id, user_id, reason))

    def pending_approvals(self, severity: str | None = None, workflow_id: str | None = None) -> list[PendingApproval]:
        """Holds awaiting a reviewer, oldest first."""
        return self._send(_calls.pending_approvals(severity, workflow_id))

    # --- policies ---

    def create_policy(self, **fields: Any) -> Policy:
        """Create a policy (admin role): name, description, type, category, priority, enabled, conditions,
        actions."""
        return self._send(_calls.create_policy(**fields))

    def get_policy(self, policy_id: str) -> Policy:
        return self._send(_calls.get_policy(policy_id))

    def list_policies(self) -> list[Policy]:
        return self._send(_calls.list_policies())

    def update_policy(self, policy_id: str, /, **fields: Any) -> Policy:
        """Replace the policy (admin role; PUT: send all of its fields)."""
        return self._send(_calls.update_policy(policy_id, **fields))

    def delete_policy(self, policy_id: str) -> None:
        """Delete the policy (admin role); its audit trail stays."""
        return self._send(_calls.delete_policy(policy_id))

    def policy_audit(self, policy_id: str) -> list[PolicyAuditEntry]:
        """Every change of the policy, oldest first, with the body of each version (also after a delete)."""
        return self._send(_calls.policy_audit(policy_id))


class AsyncWorkflowsClient:
    """Asynchronous client (httpx.AsyncClient): the methods of `WorkflowsClient`, awaitable.

    Use `async with`, or call `aclose()`.
    """

    def __init__(self, base_url: str | None = None, *, secret: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 headers: dict[str, str] | None = None, http_client: httpx.AsyncClient | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._config = _Config(base_url, secret, client_id, client_secret, headers, http_client is not None, transport)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._config.base_url!r})"

    async def __aenter__(self) -> AsyncWorkflowsClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        return outcome(call, await self._http.request(**self._config.request_args(call)))

    async def create_workflow(self, workflow_name: str, source: WorkflowSource | str = WorkflowSource.EXTERNAL,
                              trace_id: str | None = None, metadata: dict[str, Any] | None = None) -> Workflow:
        return await self._send(_calls.create_workflow(workflow_name, source, trace_id, metadata))

    async def get_workflow(self, workflow_id: str) -> Workflow:
        return await self._send(_calls.get_workflow(workflow_id))

    async def list_workflows(self, status: str | None = None, limit: int | None = None,
                             cursor: str | None = None) -> WorkflowPage:
        return await self._send(_calls.list_workflows(status, limit, cursor))

    async def complete_workflow(self, workflow_id: str) -> None:
        return await self._send(_calls.complete_workflow(workflow_id))

    async def abort_workflow(self, workflow_id: str, reason: str | None = None) -> Workflow:
        return await self._send(_calls.abort_workflow(workflow_id, reason))

    async def fail_workflow(self, workflow_id: str, reason: str | None = None) -> Workflow:
        return await self._send(_calls.fail_workflow(workflow_id, reason))

    async def resume_workflow(self, workflow_id: str) -> Workflow:
        return await self._send(_calls.resume_workflow(workflow_id))

    async def audit(self, workflow_id: str) -> list[AuditEntry]:
        return await self._send(_calls.audit(workflow_id))

    async def step_gate(self, workflow_id: str, step_id: str, step_name: str, step_type: StepType | str,
                        step_input: dict[str, Any] | None = None, model: str | None = None,
                        provider: str | None = None, idempotency_key: str | None = None,
                        retry_policy: RetryPolicy | str | None = None) -> StepGateResponse:
        return await self._send(_calls.step_gate(workflow_id, step_id, step_name, step_type, step_input, model,
                                                 provider, idempotency_key, retry_policy))

    async def mark_step_completed(self, workflow_id: str, step_id: str, output: dict[str, Any] | None = None,
                                  idempotency_key: str | None = None, tokens_in: int | None = None,
                                  tokens_out: int | None = None, cost_usd: float | None = None) -> StepCompletion:
        return await self._send(_calls.mark_step_completed(workflow_id, step_id, output, idempotency_key, tokens_in,
                                                           tokens_out, cost_usd))

    async def approve_step(self, workflow_id: str, step_id: str, user_id: str) -> ApprovalResult:
        return await self._send(_calls.approve_step(workflow_id, step_id, user_id))

    async def reject_step(self, workflow_id: str, step_id: str, user_id: str, reason: str) -> ApprovalResult:
        return await self._send(_calls.reject_step(workflow_id, step_id, user_id, reason))

    async def pending_approvals(self, severity: str | None = None,
                                workflow_id: str | None = None) -> list[PendingApproval]:
        return await self._send(_calls.pending_approvals(severity, workflow_id))

    async def create_policy(self, **fields: Any) -> Policy:
        return await self._send(_calls.create_policy(**fields))

    async def get_policy(self, policy_id: str) -> Policy:
        return await self._send(_calls.get_policy(policy_id))

    async def list_policies(self) -> list[Policy]:
        return await self._send(_calls.list_policies())

    async def update_policy(self, policy_id: str, /, **fields: Any) -> Policy:
        return await self._send(_calls.update_policy(policy_id, **fields))

    async def delete_policy(self, policy_id: str) -> None:
        return await self._send(_calls.delete_policy(policy_id))

    async def policy_audit(self, policy_id: str) -> list[PolicyAuditEntry]:
        return await self._send(_calls.policy_audit(policy_id))


def _share_docs(source: type, target: type) -> None:
    """The async methods carry the sync ones' documentation (a test checks that their signatures match too)."""
    for name, method in vars(target).items():
        twin = getattr(source, name, None)
        if callable(method) and not name.startswith("_") and twin is not None and method.__doc__ is None:
            method.__doc__ = twin.__doc__


_share_docs(WorkflowsClient, AsyncWorkflowsClient)
