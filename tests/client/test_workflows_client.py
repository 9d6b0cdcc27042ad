"""The workflow control-plane client: the requests it sends, how it reads answers and errors.

A fake server (httpx.MockTransport) answers with the wire contract's example bodies; every request-level
test runs against both the sync and the async client. The last test drives the real app in-process.
"""
from __future__ import annotations

import base64
import copy
import inspect
import json
import logging
import uuid
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest

from priorauth.client import (
    ApprovalResult,
    AsyncWorkflowsClient,
    AuditEntry,
    AuthenticationError,
    ConflictError,
    GateDecision,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyKeyReusedError,
    InvalidPolicyError,
    InvalidRequestError,
    NotFoundError,
    PendingApproval,
    PermissionDeniedError,
    Policy,
    PriorCompletionStatus,
    RetryPolicy,
    StepCompletion,
    StepGateResponse,
    StepType,
    Workflow,
    WorkflowApiError,
    WorkflowPage,
    WorkflowsClient,
    WorkflowSource,
    WorkflowStatus,
)

BASE = "https://pa.example.org"
SECRET = "pa_sk_test-secret"
KEY = "pa:P-88120:J0135"
WF = "wf_abc123"
V1 = "/api/v1"

# --- the contract's example bodies ----------------------------------------------------------------------

WORKFLOW = {"workflow_id": WF, "workflow_name": "prior-auth-request", "source": "external",
            "trace_id": "case-P-88120-J0135", "metadata": {"case": "P-88120"}, "status": "in_progress",
            "created_at": "2026-04-21T16:00:00.000Z", "updated_at": "2026-04-21T16:00:00.000Z"}
STEP = {"step_id": "submit-pa", "step_name": "Submit prior authorization", "step_type": "tool_call",
        "idempotency_key": KEY, "gate_count": 2, "completion_count": 0, "last_decision": "require_approval",
        "approval_id": "app_318a270f", "approval_status": "pending", "first_attempt_at": "2026-04-21T16:00:00Z",
        "last_attempt_at": "2026-04-21T16:05:00Z", "completed_at": None, "tokens_in": 0, "tokens_out": 0,
        "cost_usd": 0.0}
GATE = {
    "decision": "require_approval", "step_id": "submit-pa", "decision_id": "dec_1", "policy_ids": ["pol_1"],
    "approval_id": "app_318a270f-1", "approval_url": None, "severity": "high",
    "reason": "biologic medication over $2,000 requires medical director approval",
    "cached": False, "decision_source": "fresh",
    "retry_context": {
        "gate_count": 1, "completion_count": 0, "prior_completion_status": "none",
        "prior_output_available": False, "prior_output": None, "prior_completion_at": None,
        "first_attempt_at": "2026-04-21T16:00:00.000Z", "last_attempt_at": "2026-04-21T16:00:00.000Z",
        "last_decision": "require_approval", "idempotency_key": KEY,
    },
}
COMPLETION = {"workflow_id": WF, "step_id": "submit-pa", "status": "completed", "completion_count": 1,
              "completed_at": "2026-04-21T16:20:00Z"}
APPROVED = {"workflow_id": WF, "step_id": "submit-pa", "approval_id": "app_318a270f-1", "approval_status": "approved",
            "approved_by": "dr.lee@example.org", "message": "Step approved"}
REJECTED = {"workflow_id": WF, "step_id": "submit-pa", "approval_id": "app_318a270f-1", "approval_status": "rejected",
            "rejected_by": "dr.lee@example.org", "reason": "not medically necessary", "message": "Step rejected"}
PENDING = {"approvals": [{"approval_id": "app_318a270f-1", "workflow_id": WF, "step_id": "submit-pa",
                          "step_name": "Submit prior authorization", "severity": "high", "reason": "biologic",
                          "policy_ids": ["pol_1"], "requested_at": "2026-04-21T16:00:00Z",
                          "expires_at": "2026-04-22T16:00:00Z"}], "count": 1}
AUDIT = {"workflow_id": WF, "entries": [{"id": "aud_1", "step_id": "submit-pa", "event": "gate", "actor": "cli_1",
                                         "data": {"decision": "require_approval"}, "created_at": "2026-04-21T16:00:00Z"}]}
POLICY_BODY = {
    "name": "biologics-require-md-approval",
    "description": "Biologic medication over $2,000 requires medical director approval",
    "type": "context_aware", "category": "dynamic-compliance", "priority": 900, "enabled": True,
    "conditions": [{"field": "step_input.medication_class", "operator": "equals", "value": "biologic"},
                   {"field": "step_input.estimated_cost_usd", "operator": "greater_than", "value": 2000}],
    "actions": [{"type": "require_approval",
                 "config": {"reason": "biologic medication over $2,000 requires medical director approval",
                            "severity": "high"}}],
}
POLICY = {"policy_id": "pol_1", **POLICY_BODY, "version": 1, "created_at": "2026-04-21T15:00:00Z",
          "updated_at": "2026-04-21T15:00:00Z"}
POLICY_AUDIT = {"policy_id": "pol_1", "entries": [
    {"id": "aud_2", "event": "created", "version": 1, "policy_set_version": 1, "client_id": "cli_admin",
     "policy": POLICY_BODY, "created_at": "2026-04-21T15:00:00Z"}]}
STEP_INPUT = {"patient_id": "P-88120", "cpt_code": "J0135", "medication_class": "biologic", "estimated_cost_usd": 4200}


def coded(code: str, message: str = "refused", **fields: Any) -> dict:
    return {"error": {"code": code, "message": message, **fields}}


# --- a fake server and both clients -------------------------------------------------------------------------

class FakeServer:
    """Answers every request with one canned response and remembers what it was sent."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.body, (dict, list)):
            return httpx.Response(self.status, json=self.body, headers=self.headers)
        return httpx.Response(self.status, content=(self.body or "").encode(), headers=self.headers)

    @property
    def last(self) -> httpx.Request:
        assert self.requests, "no request was sent"
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content) if self.last.content else None


def make_client(flavor: str, server: FakeServer, **options: Any):
    options = {"secret": SECRET} | options
    if flavor == "sync":
        return WorkflowsClient(BASE, transport=httpx.MockTransport(server), **options)
    return AsyncWorkflowsClient(BASE, transport=httpx.MockTransport(server), **options)


async def invoke(client, method: str, /, *args: Any, **kwargs: Any) -> Any:
    """Call a method on either client; the async one's result is awaited."""
    result = getattr(client, method)(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


@pytest.fixture(params=["sync", "async"])
def flavor(request) -> str:
    return request.param


# --- every operation: the request sent, the answer read -------------------------------------------------------

OPERATIONS = [
    # (method name, args, kwargs, HTTP method, path, JSON sent, query sent, status, answer)
    ("create_workflow", ["prior-auth-request"], {"source": WorkflowSource.EXTERNAL, "trace_id": "case-P-88120-J0135",
                                                 "metadata": {"case": "P-88120"}},
     "POST", f"{V1}/workflows",
     {"workflow_name": "prior-auth-request", "source": "external", "trace_id": "case-P-88120-J0135",
      "metadata": {"case": "P-88120"}}, {}, 201, WORKFLOW),
    ("create_workflow", ["minimal"], {}, "POST", f"{V1}/workflows",
     {"workflow_name": "minimal", "source": "external"}, {}, 201, WORKFLOW),
    ("get_workflow", [WF], {}, "GET", f"{V1}/workflows/{WF}", None, {}, 200, {**WORKFLOW, "steps": [STEP]}),
    ("list_workflows", [], {"status": "in_progress", "limit": 10, "cursor": "wf_0"}, "GET", f"{V1}/workflows", None,
     {"status": "in_progress", "limit": "10", "cursor": "wf_0"}, 200, {"workflows": [WORKFLOW], "next_cursor": WF}),
    ("list_workflows", [], {}, "GET", f"{V1}/workflows", None, {}, 200, {"workflows": [], "next_cursor": None}),
    ("complete_workflow", [WF], {}, "POST", f"{V1}/workflows/{WF}/complete", None, {}, 204, None),
    ("abort_workflow", [WF], {"reason": "duplicate case"}, "POST", f"{V1}/workflows/{WF}/abort",
     {"reason": "duplicate case"}, {}, 200, {**WORKFLOW, "status": "aborted"}),
    ("abort_workflow", [WF], {}, "POST", f"{V1}/workflows/{WF}/abort", {}, {}, 200, {**WORKFLOW, "status": "aborted"}),
    ("fail_workflow", [WF], {"reason": "payer down"}, "POST", f"{V1}/workflows/{WF}/fail",
     {"reason": "payer down"}, {}, 200, {**WORKFLOW, "status": "failed"}),
    ("resume_workflow", [WF], {}, "POST", f"{V1}/workflows/{WF}/resume", None, {}, 200, WORKFLOW),
    ("step_gate", [WF, "submit-pa", "Submit prior authorization", StepType.TOOL_CALL],
     {"step_input": STEP_INPUT, "model": "gpt-x", "provider": "openai", "idempotency_key": KEY,
      "retry_policy": RetryPolicy.REEVALUATE},
     "POST", f"{V1}/workflows/{WF}/steps/submit-pa/gate",
     {"step_name": "Submit prior authorization", "step_type": "tool_call", "step_input": STEP_INPUT,
      "model": "gpt-x", "provider": "openai", "idempotency_key": KEY, "retry_policy": "reevaluate"}, {}, 200, GATE),
    ("step_gate", [WF, "submit-pa", "Submit prior authorization", "tool_call"], {},
     "POST", f"{V1}/workflows/{WF}/steps/submit-pa/gate",
     {"step_name": "Submit prior authorization", "step_type": "tool_call"}, {}, 200, GATE),
    ("mark_step_completed", [WF, "submit-pa"],
     {"output": {"pa_reference": "PA-1"}, "idempotency_key": KEY, "tokens_in": 10, "tokens_out": 5, "cost_usd": 0.02},
     "POST", f"{V1}/workflows/{WF}/steps/submit-pa/complete",
     {"output": {"pa_reference": "PA-1"}, "idempotency_key": KEY, "tokens_in": 10, "tokens_out": 5,
      "cost_usd": 0.02}, {}, 200, COMPLETION),
    ("mark_step_completed", [WF, "submit-pa"], {}, "POST", f"{V1}/workflows/{WF}/steps/submit-pa/complete",
     {}, {}, 200, COMPLETION),
    ("approve_step", [WF, "submit-pa", "dr.lee@example.org"], {}, "POST",
     f"{V1}/workflows/{WF}/steps/submit-pa/approve", None, {}, 200, APPROVED),
    ("reject_step", [WF, "submit-pa", "dr.lee@example.org", "not medically necessary"], {}, "POST",
     f"{V1}/workflows/{WF}/steps/submit-pa/reject", {"reason": "not medically necessary"}, {}, 200, REJECTED),
    ("pending_approvals", [], {"severity": "high", "workflow_id": WF}, "GET", f"{V1}/workflows/approvals/pending",
     None, {"severity": "high", "workflow_id": WF}, 200, PENDING),
    ("audit", [WF], {}, "GET", f"{V1}/workflows/{WF}/audit", None, {}, 200, AUDIT),
    ("create_policy", [], POLICY_BODY, "POST", f"{V1}/policies", POLICY_BODY, {}, 201, POLICY),
    ("get_policy", ["pol_1"], {}, "GET", f"{V1}/policies/pol_1", None, {}, 200, POLICY),
    ("list_policies", [], {}, "GET", f"{V1}/policies", None, {}, 200, {"policies": [POLICY]}),
    ("update_policy", ["pol_1"], {**POLICY_BODY, "priority": 950}, "PUT", f"{V1}/policies/pol_1",
     {**POLICY_BODY, "priority": 950}, {}, 200, {**POLICY, "priority": 950}),
    ("delete_policy", ["pol_1"], {}, "DELETE", f"{V1}/policies/pol_1", None, {}, 204, None),
    ("policy_audit", ["pol_1"], {}, "GET", f"{V1}/policies/pol_1/audit", None, {}, 200, POLICY_AUDIT),
]

RESULT_TYPES = {
    "create_workflow": Workflow, "get_workflow": Workflow, "list_workflows": WorkflowPage,
    "complete_workflow": type(None), "abort_workflow": Workflow, "fail_workflow": Workflow,
    "resume_workflow": Workflow, "step_gate": StepGateResponse, "mark_step_completed": StepCompletion,
    "approve_step": ApprovalResult, "reject_step": ApprovalResult, "pending_approvals": list, "audit": list,
    "create_policy": Policy, "get_policy": Policy, "list_policies": list, "update_policy": Policy,
    "delete_policy": type(None), "policy_audit": list,
}


def test_the_table_covers_every_public_method():
    public = {n for n, m in vars(WorkflowsClient).items() if callable(m) and not n.startswith("_")} - {"close"}
    assert public == {op[0] for op in OPERATIONS} == set(RESULT_TYPES)


@pytest.mark.parametrize("name, args, kwargs, method, path, sent, query, status, answer", OPERATIONS,
                         ids=[f"{op[0]}-{i}" for i, op in enumerate(OPERATIONS)])
async def test_each_operation_sends_the_documented_request(flavor, name, args, kwargs, method, path, sent, query,
                                                           status, answer):
    server = FakeServer(status, answer)
    client = make_client(flavor, server)
    result = await invoke(client, name, *args, **kwargs)
    request = server.last
    assert (request.method, request.url.path) == (method, path)
    assert str(request.url).startswith(BASE)
    assert server.last_json() == sent
    assert dict(request.url.params) == query
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["accept"] == "application/json"
    if sent is not None:
        assert request.headers["content-type"] == "application/json"
    assert isinstance(result, RESULT_TYPES[name])


async def test_results_are_typed(flavor):
    client = make_client(flavor, FakeServer(200, {**WORKFLOW, "steps": [STEP]}))
    workflow = await invoke(client, "get_workflow", WF)
    assert workflow.status == WorkflowStatus.IN_PROGRESS and workflow.source is WorkflowSource.EXTERNAL
    assert workflow.created_at.tzinfo is not None and workflow.metadata == {"case": "P-88120"}
    assert workflow.steps[0].step_type is StepType.TOOL_CALL and workflow.steps[0].gate_count == 2

    client = make_client(flavor, FakeServer(200, PENDING))
    [pending] = await invoke(client, "pending_approvals")
    assert isinstance(pending, PendingApproval) and pending.severity == "high" and pending.policy_ids == ["pol_1"]

    client = make_client(flavor, FakeServer(200, AUDIT))
    [entry] = await invoke(client, "audit", WF)
    assert isinstance(entry, AuditEntry) and entry.event == "gate" and entry.data == {"decision": "require_approval"}

    client = make_client(flavor, FakeServer(200, {"policies": [POLICY]}))
    [policy] = await invoke(client, "list_policies")
    assert policy.policy_id == "pol_1" and policy.conditions[1].value == 2000
    assert policy.actions[0].config["severity"] == "high"

    client = make_client(flavor, FakeServer(200, REJECTED))
    rejected = await invoke(client, "reject_step", WF, "submit-pa", "dr.lee@example.org", "not medically necessary")
    assert rejected.rejected_by == "dr.lee@example.org" and rejected.approval_status == "rejected"


async def test_bodies_accept_dates_enums_and_fetched_models(flavor):
    server = FakeServer(200, {**POLICY, "priority": 950})
    client = make_client(flavor, server)
    fetched = Policy.model_validate(POLICY)
    await invoke(client, "update_policy", fetched.policy_id, **{**fetched.model_dump(), "priority": 950})
    sent = server.last_json()
    assert sent["priority"] == 950 and sent["conditions"] == POLICY_BODY["conditions"]
    assert sent["created_at"] == "2026-04-21T15:00:00Z"  # read-only fields the server ignores, JSON-safe

    server.body = COMPLETION
    submitted = datetime(2026, 4, 21, 16, 20, tzinfo=timezone.utc)
    await invoke(client, "mark_step_completed", WF, "submit-pa", output={"submitted_at": submitted,
                                                                         "service_date": date(2026, 5, 1)})
    assert server.last_json()["output"] == {"submitted_at": "2026-04-21T16:20:00Z", "service_date": "2026-05-01"}


# --- authentication and headers --------------------------------------------------------------------------------

async def test_basic_auth_with_client_id_and_secret(flavor):
    server = FakeServer(201, WORKFLOW)
    client = make_client(flavor, server, secret=None, client_id="pa-agent", client_secret="your-secret")
    await invoke(client, "create_workflow", "prior-auth-request")
    scheme, _, token = server.last.headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(token).decode() == "pa-agent:your-secret"


async def test_reviewer_is_sent_as_x_user_id(flavor):
    server = FakeServer(200, APPROVED)
    client = make_client(flavor, server)
    await invoke(client, "approve_step", WF, "submit-pa", "dr.lee@example.org")
    assert server.last.headers["x-user-id"] == "dr.lee@example.org"
    server.body = REJECTED
    await invoke(client, "reject_step", WF, "submit-pa", "dr.lee@example.org", "not medically necessary")
    assert server.last.headers["x-user-id"] == "dr.lee@example.org"


async def test_blank_reviewer_or_ids_fail_before_any_request(flavor):
    server = FakeServer(200, APPROVED)
    client = make_client(flavor, server)
    with pytest.raises(ValueError, match="user_id"):
        await invoke(client, "approve_step", WF, "submit-pa", "  ")
    with pytest.raises(ValueError, match="workflow_id"):
        await invoke(client, "get_workflow", "")
    with pytest.raises(ValueError, match="step_id"):
        await invoke(client, "step_gate", WF, "", "Submit", StepType.TOOL_CALL)
    with pytest.raises(ValueError, match="step_id"):
        await invoke(client, "step_gate", WF, "..", "Submit", StepType.TOOL_CALL)
    with pytest.raises(ValueError, match="policy_id"):
        await invoke(client, "delete_policy", ".")
    assert server.requests == []


async def test_ids_are_escaped_into_one_path_segment(flavor):
    server = FakeServer(200, GATE)
    client = make_client(flavor, server)
    await invoke(client, "step_gate", WF, "../../policies/pol 1?x", "Submit", StepType.TOOL_CALL)
    assert server.last.url.raw_path == f"{V1}/workflows/{WF}/steps/..%2F..%2Fpolicies%2Fpol%201%3Fx/gate".encode()


async def test_extra_headers_and_base_url_with_a_path(flavor):
    server = FakeServer(200, WORKFLOW)
    cls = WorkflowsClient if flavor == "sync" else AsyncWorkflowsClient
    client = cls("https://gw.example.org/priorauth/", secret=SECRET, headers={"X-Tenant": "t1"},
                 transport=httpx.MockTransport(server))
    await invoke(client, "resume_workflow", WF)
    assert str(server.last.url) == f"https://gw.example.org/priorauth{V1}/workflows/{WF}/resume"
    assert server.last.headers["x-tenant"] == "t1"


def test_constructor_refuses_ambiguous_or_missing_credentials():
    with pytest.raises(ValueError, match="not both"):
        WorkflowsClient(BASE, secret="s", client_id="c", client_secret="x")
    with pytest.raises(ValueError, match="go together"):
        AsyncWorkflowsClient(BASE, client_id="c")
    with pytest.raises(ValueError, match="secret"):
        WorkflowsClient(BASE)
    with pytest.raises(ValueError, match="base_url"):
        WorkflowsClient(secret="s")
    with pytest.raises(ValueError, match="not both"):
        WorkflowsClient(BASE, secret="s", http_client=httpx.Client(), transport=httpx.MockTransport(FakeServer()))


def test_repr_never_shows_credentials():
    assert SECRET not in repr(WorkflowsClient(BASE, secret=SECRET))
    assert "your-secret" not in repr(AsyncWorkflowsClient(BASE, client_id="pa-agent", client_secret="your-secret"))


def test_default_timeout_is_thirty_seconds():
    assert WorkflowsClient(BASE, secret=SECRET)._http.timeout == httpx.Timeout(30.0)
    assert AsyncWorkflowsClient(BASE, secret=SECRET)._http.timeout == httpx.Timeout(30.0)
    assert WorkflowsClient(BASE, secret=SECRET, timeout=5)._http.timeout == httpx.Timeout(5.0)


# --- injected clients and context managers ----------------------------------------------------------------------

def test_sync_context_manager_closes_only_its_own_http_client():
    with WorkflowsClient(BASE, secret=SECRET) as client:
        own = client._http
    assert own.is_closed
    injected = httpx.Client(base_url=BASE, transport=httpx.MockTransport(FakeServer(200, WORKFLOW)))
    with WorkflowsClient(secret=SECRET, http_client=injected) as client:
        assert client.get_workflow(WF).workflow_id == WF
    assert not injected.is_closed
    injected.close()


async def test_async_context_manager_closes_only_its_own_http_client():
    async with AsyncWorkflowsClient(BASE, secret=SECRET) as client:
        own = client._http
    assert own.is_closed
    server = FakeServer(200, WORKFLOW)
    injected = httpx.AsyncClient(base_url=BASE, headers={"Authorization": "Bearer from-injected"},
                                 transport=httpx.MockTransport(server))
    async with AsyncWorkflowsClient(http_client=injected) as client:
        assert (await client.get_workflow(WF)).workflow_id == WF
    assert server.last.headers["authorization"] == "Bearer from-injected"
    assert str(server.last.url) == f"{BASE}{V1}/workflows/{WF}"
    assert not injected.is_closed
    await injected.aclose()


# --- the gate response ---------------------------------------------------------------------------------------------

def test_gate_response_parses_every_retry_context_field():
    gate = StepGateResponse.model_validate(GATE)
    assert gate.decision is GateDecision.REQUIRE_APPROVAL and gate.requires_approval
    assert not gate.allowed and not gate.blocked
    assert (gate.step_id, gate.decision_id, gate.approval_id) == ("submit-pa", "dec_1", "app_318a270f-1")
    assert gate.approval_url is None and gate.cached is False and gate.decision_source == "fresh"
    assert gate.policy_ids == ["pol_1"] and gate.severity == "high"
    rc = gate.retry_context
    assert (rc.gate_count, rc.completion_count) == (1, 0)
    assert rc.prior_completion_status is PriorCompletionStatus.NONE
    assert rc.prior_output_available is False and rc.prior_output is None and rc.prior_completion_at is None
    assert rc.first_attempt_at.isoformat() == "2026-04-21T16:00:00+00:00" == rc.last_attempt_at.isoformat()
    assert rc.last_decision is GateDecision.REQUIRE_APPROVAL and rc.idempotency_key == KEY
    assert set(GATE["retry_context"]) <= set(type(rc).model_fields)


def test_gate_response_after_a_completion():
    body = copy.deepcopy(GATE)
    body.update(decision="allow", cached=True, decision_source="cached", approval_id=None)
    body["retry_context"].update(gate_count=4, completion_count=1, prior_completion_status="completed",
                                 prior_output_available=True, prior_output={"pa_reference": "PA-1"},
                                 prior_completion_at="2026-04-21T16:20:00Z", last_decision="allow")
    gate = StepGateResponse.model_validate(body)
    assert gate.allowed and gate.cached
    assert gate.retry_context.prior_completion_status is PriorCompletionStatus.COMPLETED
    assert gate.retry_context.prior_output == {"pa_reference": "PA-1"}
    assert gate.retry_context.prior_completion_at.minute == 20


def test_newer_server_fields_and_enum_values_do_not_break_the_client():
    body = copy.deepcopy(GATE)
    body.update(decision="escalate", rollout="beta")
    body["retry_context"].update(prior_completion_status="partially_completed", attempt_budget=5)
    gate = StepGateResponse.model_validate(body)
    assert gate.decision == "escalate" and not gate.allowed and not gate.requires_approval
    assert gate.rollout == "beta" and gate.retry_context.attempt_budget == 5
    assert gate.retry_context.prior_completion_status == "partially_completed"
    workflow = Workflow.model_validate({**WORKFLOW, "source": "n8n", "status": "paused"})
    assert (workflow.source, workflow.status) == ("n8n", "paused")


def test_enums_carry_the_wire_values():
    assert [d.value for d in GateDecision] == ["allow", "block", "require_approval"]
    assert [t.value for t in StepType] == ["llm_call", "tool_call", "connector_call", "human_task"]
    assert [p.value for p in RetryPolicy] == ["idempotent", "reevaluate"]
    assert [s.value for s in WorkflowSource] == ["external", "langgraph", "crewai", "autogen", "custom", "priorauth"]
    assert [s.value for s in PriorCompletionStatus] == ["none", "gated_not_completed", "completed"]
    assert GateDecision.ALLOW == "allow"


# --- errors ------------------------------------------------------------------------------------------------------

MISMATCH = coded("IDEMPOTENCY_KEY_MISMATCH", "idempotency key does not match the step's", workflow_id=WF,
                 step_id="submit-pa", expected_idempotency_key=KEY, received_idempotency_key="pa:P-91234:J9999")
REUSED = coded("IDEMPOTENCY_KEY_REUSED", "key belongs to another workflow", workflow_id=WF, step_id="submit-pa",
               expected_idempotency_key=None, received_idempotency_key=KEY, other_workflow_id="wf_other")

ERRORS = [
    # (status, body, expected class)
    (404, coded("NOT_FOUND", "workflow 'wf_x' was not found"), NotFoundError),
    (401, coded("UNAUTHORIZED", "Missing or invalid credentials"), AuthenticationError),
    (403, coded("FORBIDDEN", "This action needs the reviewer role."), PermissionDeniedError),
    (403, coded("FEATURE_REQUIRES_EVALUATION_LICENSE"), PermissionDeniedError),
    (400, coded("INVALID_POLICY", "unknown operator", field="conditions[0].operator"), InvalidPolicyError),
    (400, coded("VALIDATION_ERROR", "The request is invalid.", issues=[{"field": "step_type", "message": "bad"}]),
     InvalidRequestError),
    (400, coded("MISSING_USER_ID", "the X-User-ID header names the reviewer"), InvalidRequestError),
    (409, MISMATCH, IdempotencyKeyMismatchError),
    (409, REUSED, IdempotencyKeyReusedError),
    (409, coded("INVALID_WORKFLOW_STATE", "workflow is completed", status="completed"), ConflictError),
    (409, coded("NO_PENDING_APPROVAL", "no approval waiting"), ConflictError),
    (409, coded("APPROVAL_REQUIRED", "approval pending", approval_status="pending"), ConflictError),
    (500, coded("INTERNAL_ERROR", "boom"), WorkflowApiError),
    (429, coded("RATE_LIMITED", "slow down"), WorkflowApiError),
]


@pytest.mark.parametrize("status, body, expected", ERRORS, ids=[e[1]["error"]["code"] for e in ERRORS])
async def test_error_codes_map_to_exceptions(flavor, status, body, expected):
    client = make_client(flavor, FakeServer(status, body))
    with pytest.raises(WorkflowApiError) as caught:
        await invoke(client, "get_workflow", WF)
    error = caught.value
    assert type(error) is expected
    assert (error.status, error.code, error.message) == (status, body["error"]["code"], body["error"]["message"])
    assert error.body == body
    assert body["error"]["code"] in str(error)


async def test_mismatch_error_carries_both_keys(flavor):
    client = make_client(flavor, FakeServer(409, MISMATCH))
    with pytest.raises(IdempotencyKeyMismatchError) as caught:
        await invoke(client, "mark_step_completed", WF, "submit-pa", output={"pa_reference": "PA-WRONG"},
                      idempotency_key="pa:P-91234:J9999")
    error = caught.value
    assert error.expected_idempotency_key == KEY and error.received_idempotency_key == "pa:P-91234:J9999"
    assert (error.workflow_id, error.step_id) == (WF, "submit-pa")
    assert isinstance(error, (IdempotencyKeyError, ConflictError)) and not isinstance(error, IdempotencyKeyReusedError)


async def test_reused_error_names_the_other_workflow(flavor):
    client = make_client(flavor, FakeServer(409, REUSED))
    with pytest.raises(IdempotencyKeyReusedError) as caught:
        await invoke(client, "step_gate", WF, "submit-pa", "Submit", StepType.TOOL_CALL, idempotency_key=KEY)
    error = caught.value
    assert error.other_workflow_id == "wf_other" and error.received_idempotency_key == KEY
    assert (error.workflow_id, error.step_id) == (WF, "submit-pa")
    assert not isinstance(error, IdempotencyKeyMismatchError)


async def test_policy_and_validation_errors_name_the_field(flavor):
    client = make_client(flavor, FakeServer(400, coded("INVALID_POLICY", "bad", field="conditions[0].operator")))
    with pytest.raises(InvalidPolicyError) as caught:
        await invoke(client, "create_policy", **POLICY_BODY)
    assert caught.value.field == "conditions[0].operator"
    issues = [{"field": "step_type", "message": "Input should be 'llm_call', ..."}]
    client = make_client(flavor, FakeServer(400, coded("VALIDATION_ERROR", "The request is invalid.", issues=issues)))
    with pytest.raises(InvalidRequestError) as caught:
        await invoke(client, "step_gate", WF, "s1", "Step", "teleport")
    assert caught.value.issues == issues and caught.value.details == {"issues": issues}


UNREADABLE = [
    # (status, body, content type, expected class): never a JSON decode crash, always the status
    (502, "<html><body>Bad Gateway</body></html>", "text/html", WorkflowApiError),
    (503, "", "text/plain", WorkflowApiError),
    (404, "not found", "text/plain", NotFoundError),
    (409, '{"detail": "conflict"}', "application/json", ConflictError),
    (401, '{"error": "unauthorized"}', "application/json", AuthenticationError),
    (400, '{"error": {"code": 7, "message": ["x"]}}', "application/json", InvalidRequestError),
    (500, '["not", "an", "object"]', "application/json", WorkflowApiError),
    (500, b"\xff\xfe\x00garbage", "application/json", WorkflowApiError),
]


@pytest.mark.parametrize("status, body, content_type, expected", UNREADABLE)
async def test_unreadable_error_bodies_still_raise_with_the_status(flavor, status, body, content_type, expected):
    def handler(request: httpx.Request) -> httpx.Response:
        content = body.encode() if isinstance(body, str) else body
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    cls = WorkflowsClient if flavor == "sync" else AsyncWorkflowsClient
    client = cls(BASE, secret=SECRET, transport=httpx.MockTransport(handler))
    with pytest.raises(WorkflowApiError) as caught:
        await invoke(client, "get_workflow", WF)
    assert type(caught.value) is expected and caught.value.status == status
    assert caught.value.code is None and caught.value.message
    if "detail" in str(body):
        assert caught.value.message == "conflict"


@pytest.mark.parametrize("body", ["<html>ok</html>", '{"no_decision": true}', '["x"]', ""])
async def test_unreadable_success_bodies_raise_invalid_response(flavor, body):
    server = FakeServer(200, body, headers={"content-type": "application/json"})
    client = make_client(flavor, server)
    with pytest.raises(WorkflowApiError) as caught:
        await invoke(client, "step_gate", WF, "s1", "Step", StepType.LLM_CALL, step_input={"ssn": "123-45-6789"})
    assert caught.value.code == "INVALID_RESPONSE" and caught.value.status == 200
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --- no retries, no logged bodies -------------------------------------------------------------------------------

async def test_no_retry_on_server_errors(flavor):
    server = FakeServer(503, coded("UNAVAILABLE", "try later"))
    client = make_client(flavor, server)
    with pytest.raises(WorkflowApiError):
        await invoke(client, "step_gate", WF, "submit-pa", "Submit", StepType.TOOL_CALL, idempotency_key=KEY)
    assert len(server.requests) == 1


async def test_request_bodies_are_not_logged(flavor, caplog):
    phi = {"patient_name": "Jane Q Patient", "ssn": "123-45-6789", "dob": "1961-02-03"}
    client = make_client(flavor, FakeServer(409, MISMATCH))
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(IdempotencyKeyMismatchError):
            await invoke(client, "step_gate", WF, "submit-pa", "Submit", StepType.TOOL_CALL, step_input=phi)
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert all(value not in logged for value in phi.values())


# --- sync and async stay twins ------------------------------------------------------------------------------------

def test_async_client_has_the_same_methods_and_signatures():
    def public(cls):
        return {n: m for n, m in vars(cls).items() if callable(m) and not n.startswith("_")}

    sync, async_ = public(WorkflowsClient), public(AsyncWorkflowsClient)
    assert set(sync) - {"close"} == set(async_) - {"aclose"}
    for name, method in sync.items():
        if name == "close":
            continue
        assert inspect.iscoroutinefunction(async_[name]), name
        assert inspect.signature(method) == inspect.signature(async_[name]), name
        assert async_[name].__doc__ == method.__doc__, name


# --- the real app, in-process ------------------------------------------------------------------------------------

async def test_prior_auth_flow_against_the_real_app(app, credentials):
    """create → gate (held) → approve → reevaluate gate (allow) → complete → wrong key refused → complete workflow."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncWorkflowsClient("http://testserver", client_id=credentials.client_id,
                                    client_secret=credentials.secret, transport=transport) as wf:
        policy = await wf.create_policy(**{**POLICY_BODY, "name": f"biologics-{uuid.uuid4().hex[:8]}"})
        assert policy.policy_id.startswith("pol_")

        workflow = await wf.create_workflow("prior-auth-request", source=WorkflowSource.EXTERNAL,
                                            trace_id="case-P-88120-J0135")
        assert workflow.workflow_id.startswith("wf_") and workflow.status == WorkflowStatus.IN_PROGRESS

        gate = await wf.step_gate(workflow.workflow_id, "submit-pa", "Submit prior authorization",
                                  StepType.TOOL_CALL, step_input=STEP_INPUT, idempotency_key=KEY)
        assert gate.requires_approval and gate.approval_id and policy.policy_id in gate.policy_ids
        assert policy.version == 1 and gate.policy_versions == {policy.policy_id: 1}
        assert gate.retry_context.gate_count == 1 and gate.retry_context.idempotency_key == KEY

        waiting = await wf.step_gate(workflow.workflow_id, "submit-pa", "Submit prior authorization",
                                     StepType.TOOL_CALL, idempotency_key=KEY)
        assert waiting.requires_approval and waiting.retry_context.gate_count == 2
        assert waiting.retry_context.prior_completion_status == PriorCompletionStatus.GATED_NOT_COMPLETED

        pending = await wf.pending_approvals(workflow_id=workflow.workflow_id)
        assert [p.approval_id for p in pending] == [gate.approval_id]

        approved = await wf.approve_step(workflow.workflow_id, "submit-pa", "dr.lee@example.org")
        assert approved.approval_status == "approved" and approved.approved_by == "dr.lee@example.org"
        assert approved.decided_by_client == credentials.client_id

        allowed = await wf.step_gate(workflow.workflow_id, "submit-pa", "Submit prior authorization",
                                     StepType.TOOL_CALL, idempotency_key=KEY, retry_policy=RetryPolicy.REEVALUATE)
        assert allowed.allowed and allowed.retry_context.idempotency_key == KEY

        done = await wf.mark_step_completed(workflow.workflow_id, "submit-pa", output={"pa_reference": "PA-1"},
                                            idempotency_key=KEY)
        assert done.status == "completed" and done.completion_count == 1

        with pytest.raises(IdempotencyKeyMismatchError) as caught:
            await wf.mark_step_completed(workflow.workflow_id, "submit-pa", output={"pa_reference": "PA-WRONG"},
                                         idempotency_key="pa:P-91234:J9999")
        assert caught.value.expected_idempotency_key == KEY
        assert caught.value.received_idempotency_key == "pa:P-91234:J9999"
        assert (caught.value.workflow_id, caught.value.step_id) == (workflow.workflow_id, "submit-pa")

        assert await wf.complete_workflow(workflow.workflow_id) is None
        final = await wf.get_workflow(workflow.workflow_id)
        assert final.status == WorkflowStatus.COMPLETED and final.steps[0].completion_count == 1
        events = [e.event for e in await wf.audit(workflow.workflow_id)]
        assert "approve" in events and "complete" in events

        with pytest.raises(NotFoundError):
            await wf.get_workflow("wf_does_not_exist")
        await wf.delete_policy(policy.policy_id)
        trail = await wf.policy_audit(policy.policy_id)
        assert [(e.event, e.version, e.client_id) for e in trail] == [
            ("created", 1, credentials.client_id), ("deleted", 1, credentials.client_id)]

    async with AsyncWorkflowsClient("http://testserver", secret="pa_sk_wrong", transport=transport) as stranger:
        with pytest.raises(AuthenticationError):
            await stranger.list_workflows()
