"""The reference walkthrough over HTTP: policy, gate, polling, approval, reevaluation, completion, mismatch,
and the retry-aware escalation; then what lies beyond it (rejection, expiry, key reuse, concurrency)."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from priorauth.auth.service import create_client
from tests.support.apps import http_client

W = "/api/v1/workflows"
KEY = "pa:P-88120:J0135"
BIOLOGIC_POLICY = {
    "name": "biologics-require-md-approval",
    "description": "Biologic medication over $2,000 requires medical director approval",
    "type": "context_aware", "category": "dynamic-compliance", "priority": 900, "enabled": True,
    "conditions": [{"field": "step_input.medication_class", "operator": "equals", "value": "biologic"},
                   {"field": "step_input.estimated_cost_usd", "operator": "greater_than", "value": 2000}],
    "actions": [{"type": "require_approval", "config": {
        "reason": "biologic medication over $2,000 requires medical director approval", "severity": "high"}}],
}
ESCALATION_POLICY = {
    "name": "stuck-pa-escalates-severity",
    "description": "PA requests stuck in gated_not_completed for 30+ minutes escalate to critical severity",
    "type": "context_aware", "category": "dynamic-compliance", "priority": 900, "enabled": True,
    "conditions": [{"field": "step.prior_completion_status", "operator": "equals", "value": "gated_not_completed"},
                   {"field": "step.first_attempt_age_seconds", "operator": "greater_than", "value": 1800}],
    "actions": [{"type": "require_approval", "config": {
        "reason": "Prior authorization stuck in uncertain state for 30+ minutes — escalating for clinical safety "
                  "review", "severity": "critical"}}],
}
STEP = {"step_name": "Submit prior authorization", "step_type": "tool_call"}
STEP_INPUT = {"patient_id": "P-88120", "cpt_code": "J0135", "medication_class": "biologic", "estimated_cost_usd": 4200}


@pytest.fixture
async def org(app):
    """An agent, a reviewer and an admin client (who administers the policies) of one fresh organization."""
    name = f"org-{uuid.uuid4().hex[:12]}"
    agent = await create_client(app.state.db, name, "pa-agent", "provider")
    reviewer = await create_client(app.state.db, name, "medical-director", "reviewer")
    admin = await create_client(app.state.db, name, "compliance-admin", "admin")
    async with http_client(app, agent.secret) as a, http_client(app, reviewer.secret) as r, \
            http_client(app, admin.secret) as d:
        yield a, r, d


async def _workflow(agent) -> str:
    r = await agent.post(W, json={"workflow_name": "prior-auth-request", "source": "external",
                                  "trace_id": "case-P-88120-J0135"})
    assert r.status_code == 201, r.text
    assert r.json()["workflow_id"].startswith("wf_") and r.json()["status"] == "in_progress"
    return r.json()["workflow_id"]


async def _gate(agent, wf: str, **extra):
    return await agent.post(f"{W}/{wf}/steps/submit-pa/gate", json={**STEP, "idempotency_key": KEY, **extra})


async def test_the_reference_walkthrough(org):
    agent, reviewer, admin = org
    # Step 0: the policy (policies are the admin's: an agent must not edit its own gate)
    created = await admin.post("/api/v1/policies", json=BIOLOGIC_POLICY)
    assert created.status_code == 201, created.text
    policy_id = created.json()["policy_id"]
    # Step 1: workflow and first gate
    wf = await _workflow(agent)
    first = await _gate(agent, wf, step_input=STEP_INPUT)
    assert first.status_code == 200, first.text
    g = first.json()
    assert g["decision"] == "require_approval" and g["step_id"] == "submit-pa"
    assert g["approval_id"].startswith("app_") and g["approval_url"] is None
    assert g["reason"] == "biologic medication over $2,000 requires medical director approval"
    assert g["policy_ids"] == [policy_id] and g["cached"] is False and g["decision_source"] == "fresh"
    rc = g["retry_context"]
    assert rc == {**rc, "gate_count": 1, "completion_count": 0, "prior_completion_status": "none",
                  "prior_output_available": False, "prior_output": None, "prior_completion_at": None,
                  "last_decision": "require_approval", "idempotency_key": KEY}
    assert rc["first_attempt_at"] == rc["last_attempt_at"]
    # Step 2: polling keeps the decision, counts attempts
    for attempt in (2, 3):
        again = (await _gate(agent, wf)).json()
        assert again["decision"] == "require_approval" and again["cached"] is True
        assert again["decision_source"] == "cached" and again["approval_id"] == g["approval_id"]
        assert again["retry_context"]["gate_count"] == attempt
        assert again["retry_context"]["prior_completion_status"] == "gated_not_completed"
    pending = (await reviewer.get(f"{W}/approvals/pending")).json()
    assert [a["approval_id"] for a in pending["approvals"]] == [g["approval_id"]]
    assert pending["approvals"][0]["severity"] == "high"
    # Completing before the approval is refused
    early = await agent.post(f"{W}/{wf}/steps/submit-pa/complete", json={"idempotency_key": KEY, "output": {}})
    assert early.status_code == 409 and early.json()["error"]["code"] == "APPROVAL_REQUIRED"
    # Step 3: the medical director approves (reviewer role and X-User-ID)
    assert (await agent.post(f"{W}/{wf}/steps/submit-pa/approve", headers={"X-User-ID": "md@example.org"})
            ).status_code == 403
    no_user = await reviewer.post(f"{W}/{wf}/steps/submit-pa/approve")
    assert no_user.status_code == 400 and no_user.json()["error"]["code"] == "MISSING_USER_ID"
    approved = await reviewer.post(f"{W}/{wf}/steps/submit-pa/approve", headers={"X-User-ID": "md@example.org"})
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"workflow_id": wf, "step_id": "submit-pa", "approval_id": g["approval_id"],
                               "approval_status": "approved", "approved_by": "md@example.org",
                               "decided_by_client": approved.json()["decided_by_client"], "message": "Step approved"}
    assert approved.json()["decided_by_client"].startswith("cli_")
    # Step 4: an idempotent retry still gets the memoized decision; reevaluate sees the approval
    assert (await _gate(agent, wf)).json()["decision"] == "require_approval"
    allowed = (await _gate(agent, wf, retry_policy="reevaluate")).json()
    assert allowed["decision"] == "allow" and allowed["decision_source"] == "fresh"
    assert allowed["retry_context"]["idempotency_key"] == KEY and allowed["retry_context"]["gate_count"] == 5
    # The safety story: a complete with another patient's key is refused and audited, nothing changes
    wrong = await agent.post(f"{W}/{wf}/steps/submit-pa/complete",
                             json={"output": {"pa_reference": "PA-WRONG"}, "idempotency_key": "pa:P-91234:J9999"})
    assert wrong.status_code == 409
    assert wrong.json() == {"error": {
        "code": "IDEMPOTENCY_KEY_MISMATCH", "message": wrong.json()["error"]["message"],
        "expected_idempotency_key": KEY, "received_idempotency_key": "pa:P-91234:J9999",
        "workflow_id": wf, "step_id": "submit-pa"}}
    # Step 5: complete with the matching key, then the workflow
    done = await agent.post(f"{W}/{wf}/steps/submit-pa/complete", json={
        "output": {"pa_reference": "PA-20260421-00042", "approved_by": "md@example.org"},
        "idempotency_key": KEY, "tokens_in": 1200, "tokens_out": 300, "cost_usd": 0.0123})
    assert done.status_code == 200 and done.json()["completion_count"] == 1
    retry = (await _gate(agent, wf)).json()["retry_context"]
    assert retry["prior_completion_status"] == "completed" and retry["prior_output_available"] is True
    assert retry["prior_output"]["pa_reference"] == "PA-20260421-00042"
    assert (await agent.post(f"{W}/{wf}/complete")).status_code == 204
    workflow = (await agent.get(f"{W}/{wf}")).json()
    assert workflow["status"] == "completed"
    assert workflow["steps"][0]["completion_count"] == 1 and workflow["steps"][0]["cost_usd"] == 0.0123
    events = [e["event"] for e in (await agent.get(f"{W}/{wf}/audit")).json()["entries"]]
    assert events.count("idempotency_key_mismatch") == 1 and "approve" in events and "complete" in events
    # The audit log redacts PHI-shaped values of the step input, but keeps the keys it refused
    audit = (await agent.get(f"{W}/{wf}/audit")).json()["entries"]
    mismatch = next(e for e in audit if e["event"] == "idempotency_key_mismatch")
    assert mismatch["data"]["received_idempotency_key"] == "pa:P-91234:J9999"


async def test_retry_aware_escalation_raises_the_waiting_hold_to_critical(org, app, monkeypatch):
    agent, reviewer, admin = org
    for policy in (BIOLOGIC_POLICY, ESCALATION_POLICY):
        assert (await admin.post("/api/v1/policies", json=policy)).status_code == 201
    wf = await _workflow(agent)
    assert (await _gate(agent, wf, step_input=STEP_INPUT)).json()["severity"] == "high"
    # Half an hour later (moved back in the database), a reevaluating poll escalates.
    from datetime import timedelta

    from sqlalchemy import update

    from priorauth.timeutil import utcnow
    from priorauth.workflows.models import WorkflowStep
    async with app.state.db.write() as session:
        await session.execute(update(WorkflowStep).where(WorkflowStep.workflow_id == wf).values(
            first_attempt_at=utcnow() - timedelta(seconds=1801)))
    escalated = (await _gate(agent, wf, retry_policy="reevaluate")).json()
    assert escalated["decision"] == "require_approval" and escalated["severity"] == "critical"
    assert len(escalated["policy_ids"]) == 2
    critical = (await reviewer.get(f"{W}/approvals/pending", params={"severity": "critical"})).json()
    assert [a["workflow_id"] for a in critical["approvals"]] == [wf]


async def test_rejection_blocks_and_aborts_then_resume_asks_again(org):
    agent, reviewer, admin = org
    await admin.post("/api/v1/policies", json=BIOLOGIC_POLICY)
    wf = await _workflow(agent)
    first = (await _gate(agent, wf, step_input=STEP_INPUT)).json()
    missing_reason = await reviewer.post(f"{W}/{wf}/steps/submit-pa/reject", headers={"X-User-ID": "md"}, json={})
    assert missing_reason.status_code == 400
    r = await reviewer.post(f"{W}/{wf}/steps/submit-pa/reject", headers={"X-User-ID": "md@example.org"},
                            json={"reason": "Step therapy with methotrexate not documented"})
    assert r.status_code == 200 and r.json()["approval_status"] == "rejected"
    for policy in ("idempotent", "reevaluate"):
        blocked = (await _gate(agent, wf, retry_policy=policy)).json()
        assert blocked["decision"] == "block" and "methotrexate" in blocked["reason"]
    assert (await agent.get(f"{W}/{wf}")).json()["status"] == "aborted"
    again = await reviewer.post(f"{W}/{wf}/steps/submit-pa/approve", headers={"X-User-ID": "md"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "NO_PENDING_APPROVAL"
    assert (await agent.post(f"{W}/{wf}/resume")).json()["status"] == "in_progress"
    second = (await _gate(agent, wf)).json()
    assert second["decision"] == "require_approval" and second["approval_id"] == first["approval_id"] + "#2"


async def test_expired_approvals_are_rejected_like_a_reviewer_would(org, app):
    from datetime import timedelta

    from sqlalchemy import update

    from priorauth.timeutil import utcnow
    from priorauth.workflows.models import WorkflowApproval
    from priorauth.workflows.service import EXPIRY_ACTOR, expire_approvals

    agent, reviewer, admin = org
    await admin.post("/api/v1/policies", json=BIOLOGIC_POLICY)
    wf = await _workflow(agent)
    await _gate(agent, wf, step_input=STEP_INPUT)
    async with app.state.db.write() as session:
        await session.execute(update(WorkflowApproval).where(WorkflowApproval.workflow_id == wf).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    assert await expire_approvals(app.state.db) >= 1
    assert (await agent.get(f"{W}/{wf}")).json()["status"] == "aborted"
    assert (await _gate(agent, wf)).json()["decision"] == "block"
    expiry = [e for e in (await agent.get(f"{W}/{wf}/audit")).json()["entries"] if e["event"] == "expire"]
    assert expiry and expiry[0]["actor"] == EXPIRY_ACTOR


async def test_a_key_completed_in_another_workflow_is_refused(org):
    agent, _, _ = org
    first = await _workflow(agent)
    assert (await _gate(agent, first)).json()["decision"] == "allow"
    assert (await agent.post(f"{W}/{first}/steps/submit-pa/complete", json={"idempotency_key": KEY})).status_code == 200
    second = await _workflow(agent)
    reused = await _gate(agent, second)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert reused.json()["error"]["other_workflow_id"] == first
    # ... and the refused first gate left no step behind
    assert (await agent.get(f"{W}/{second}")).json()["steps"] == []


async def test_fifty_concurrent_gates_one_decision_exact_count(org):
    agent, _, admin = org
    await admin.post("/api/v1/policies", json=BIOLOGIC_POLICY)
    wf = await _workflow(agent)
    answers = await asyncio.gather(*(_gate(agent, wf, step_input=STEP_INPUT) for _ in range(50)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200][:2]
    bodies = [a.json() for a in answers]
    assert len({b["decision_id"] for b in bodies}) == 1 and len({b["approval_id"] for b in bodies}) == 1
    assert sorted(b["retry_context"]["gate_count"] for b in bodies) == list(range(1, 51))
    assert sum(1 for b in bodies if not b["cached"]) == 1
    steps = (await agent.get(f"{W}/{wf}")).json()["steps"]
    assert steps[0]["gate_count"] == 50


async def test_other_organizations_see_nothing(org, app):
    agent, _, _ = org
    wf = await _workflow(agent)
    stranger = await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "x", "provider")
    async with http_client(app, stranger.secret) as other:
        r = await other.get(f"{W}/{wf}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
        assert (await other.post(f"{W}/{wf}/steps/s/gate", json=STEP)).status_code == 404


@pytest.mark.parametrize("bad, field", [
    ({"type": "static"}, "type"), ({"category": "compliance"}, "category"),
    ({"conditions": [{"field": "step_input.x", "operator": "like", "value": 1}]}, "conditions[0].operator"),
    ({"conditions": [{"field": "step_input.x", "operator": "regex", "value": "("}]}, "conditions[0].value"),
    ({"actions": [{"type": "explode", "config": {}}]}, "actions[0].type"),
])
async def test_invalid_policies_name_the_field(org, bad, field):
    _, _, admin = org
    r = await admin.post("/api/v1/policies", json={**BIOLOGIC_POLICY, **bad})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_POLICY"
    assert r.json()["error"]["field"] == field


async def test_policy_crud(org):
    agent, _, admin = org
    created = (await admin.post("/api/v1/policies", json=BIOLOGIC_POLICY)).json()
    pid = created["policy_id"]
    assert (await admin.post("/api/v1/policies", json=BIOLOGIC_POLICY)).status_code == 409
    updated = await admin.put(f"/api/v1/policies/{pid}", json={**BIOLOGIC_POLICY, "enabled": False})
    assert updated.status_code == 200 and updated.json()["enabled"] is False
    assert [p["policy_id"] for p in (await agent.get("/api/v1/policies")).json()["policies"]] == [pid]
    wf = await _workflow(agent)
    assert (await _gate(agent, wf, step_input=STEP_INPUT)).json()["decision"] == "allow"  # disabled
    assert (await admin.delete(f"/api/v1/policies/{pid}")).status_code == 204
    assert (await agent.get(f"/api/v1/policies/{pid}")).status_code == 404


async def test_workflow_state_machine_and_error_shapes(org, anon):
    agent, _, _ = org
    wf = await _workflow(agent)
    assert (await agent.post(f"{W}/{wf}/abort", json={"reason": "user cancelled"})).json()["status"] == "aborted"
    bad = await agent.post(f"{W}/{wf}/complete")
    assert bad.status_code == 409 and bad.json()["error"]["code"] == "INVALID_WORKFLOW_STATE"
    assert (await agent.post(f"{W}/{wf}/resume")).json()["status"] == "in_progress"
    assert (await agent.post(f"{W}/{wf}/fail")).json()["status"] == "failed"
    invalid = await agent.post(W, json={"workflow_name": "", "sourc": "x"})
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "VALIDATION_ERROR"
    assert {i["field"] for i in invalid.json()["error"]["issues"]} == {"workflow_name", "sourc"}
    unauthorized = await anon.get(W)
    assert unauthorized.status_code == 401 and unauthorized.json()["error"]["code"] == "UNAUTHORIZED"
    assert (await agent.get("/api/v1/nothing")).json()["error"]["code"] == "NOT_FOUND"
