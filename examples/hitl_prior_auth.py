#!/usr/bin/env python3
"""The HITL prior-authorization walkthrough against a running priorauth server, with the Python client.

An agent gates "submit-pa" for patient P-88120 / J0135, a biologic over $2,000, so a policy holds it for
the medical director; the agent polls, the director approves, the agent re-evaluates, submits and
completes with the pinned idempotency key; a completion with another patient's key is refused.
Finally the retry-aware escalation policy is added.

    ADMIN_SECRET=pa_sk_... AGENT_SECRET=pa_sk_... REVIEWER_SECRET=pa_sk_... python examples/hitl_prior_auth.py
    BASE_URL=http://127.0.0.1:8765 ADMIN_SECRET=... AGENT_SECRET=... REVIEWER_SECRET=... \
        python examples/hitl_prior_auth.py

ADMIN_SECRET: an admin of the organization, who administers the policies (the secret `priorauth serve`
prints on its first start, or `priorauth clients create --org ORG --name compliance --role admin`);
AGENT_SECRET: any client of the organization (`... --name agent`): it cannot change the policies that gate it;
REVIEWER_SECRET: a reviewer of the same organization (`... --name md --role reviewer`).
"""
from __future__ import annotations

import asyncio
import os
import sys
import uuid

from priorauth.client import AsyncWorkflowsClient, IdempotencyKeyMismatchError, InvalidPolicyError

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000")
RUN = uuid.uuid4().hex[:8]  # policy names are unique per organization: one set per run
IDEMPOTENCY_KEY = f"pa:P-88120:J0135:{RUN}"

BIOLOGIC = {
    "name": f"biologics-require-md-approval-{RUN}",
    "description": "Biologic medication over $2,000 requires medical director approval",
    "type": "context_aware", "category": "dynamic-compliance", "priority": 900, "enabled": True,
    "conditions": [{"field": "step_input.medication_class", "operator": "equals", "value": "biologic"},
                   {"field": "step_input.estimated_cost_usd", "operator": "greater_than", "value": 2000}],
    "actions": [{"type": "require_approval", "config": {
        "reason": "biologic medication over $2,000 requires medical director approval", "severity": "high"}}],
}
ESCALATION = {
    "name": f"stuck-pa-escalates-severity-{RUN}",
    "description": "PA requests stuck in gated_not_completed for 30+ minutes escalate to critical severity",
    "type": "context_aware", "category": "dynamic-compliance", "priority": 900, "enabled": True,
    "conditions": [{"field": "step.prior_completion_status", "operator": "equals", "value": "gated_not_completed"},
                   {"field": "step.first_attempt_age_seconds", "operator": "greater_than", "value": 1800}],
    "actions": [{"type": "require_approval", "config": {
        "reason": "Prior authorization stuck in uncertain state for 30+ minutes — escalating for clinical safety "
                  "review", "severity": "critical"}}],
}
STEP = {"step_name": "Submit prior authorization", "step_type": "tool_call"}


def check(condition: bool, what: str) -> None:
    print(("ok    " if condition else "FAILED") + f"  {what}")
    if not condition:
        sys.exit(1)


async def main() -> None:
    secrets = {name: os.environ.get(f"{name}_SECRET") for name in ("ADMIN", "AGENT", "REVIEWER")}
    if not all(secrets.values()):
        sys.exit("set ADMIN_SECRET, AGENT_SECRET and REVIEWER_SECRET (see the docstring)")
    async with AsyncWorkflowsClient(BASE_URL, secret=secrets["ADMIN"]) as admin, \
            AsyncWorkflowsClient(BASE_URL, secret=secrets["AGENT"]) as agent, \
            AsyncWorkflowsClient(BASE_URL, secret=secrets["REVIEWER"]) as reviewer:
        # Step 0: the policy, by the admin
        policy = await admin.create_policy(**BIOLOGIC)
        check(policy.policy_id.startswith("pol_"), f"step 0: policy {policy.policy_id} created")
        # Step 1: workflow and first gate
        workflow = await agent.create_workflow("prior-auth-request", source="external", trace_id="case-P-88120-J0135")
        wf = workflow.workflow_id
        gate = await agent.step_gate(wf, "submit-pa", **STEP, idempotency_key=IDEMPOTENCY_KEY, step_input={
            "patient_id": "P-88120", "cpt_code": "J0135", "medication_class": "biologic", "estimated_cost_usd": 4200})
        check(gate.decision == "require_approval" and gate.approval_id is not None,
              f"step 1: gate holds for approval {gate.approval_id}")
        check(gate.retry_context.gate_count == 1 and gate.retry_context.last_decision == "require_approval",
              "step 1: retry_context gate_count 1, last_decision require_approval")
        # Step 2: polling
        for attempt in (2, 3):
            gate = await agent.step_gate(wf, "submit-pa", **STEP, idempotency_key=IDEMPOTENCY_KEY)
            rc = gate.retry_context
            check(gate.decision == "require_approval" and rc.gate_count == attempt
                  and rc.prior_completion_status == "gated_not_completed",
                  f"step 2: still pending, attempt {rc.gate_count}, first_attempt_at {rc.first_attempt_at}")
        pending = await reviewer.pending_approvals(workflow_id=wf)
        check([p.approval_id for p in pending] == [gate.approval_id], "step 2: the hold is in the reviewer queue")
        # Step 3: the medical director approves
        approved = await reviewer.approve_step(wf, "submit-pa", user_id="dr.chen@example.org")
        check(approved.approval_status == "approved", f"step 3: approved by {approved.approved_by}")
        # Step 4: reevaluate sees the approval
        gate = await agent.step_gate(wf, "submit-pa", **STEP, idempotency_key=IDEMPOTENCY_KEY,
                                     retry_policy="reevaluate")
        check(gate.decision == "allow" and gate.retry_context.idempotency_key == IDEMPOTENCY_KEY,
              "step 4: reevaluated gate allows, key preserved")
        # The safety story: another patient's key is refused before anything is submitted
        try:
            await agent.mark_step_completed(wf, "submit-pa", output={"pa_reference": "PA-WRONG"},
                                            idempotency_key="pa:P-91234:J9999")
            check(False, "mismatched key refused")
        except IdempotencyKeyMismatchError as e:
            check(e.expected_idempotency_key == IDEMPOTENCY_KEY and e.received_idempotency_key == "pa:P-91234:J9999",
                  "mismatch: 409 IDEMPOTENCY_KEY_MISMATCH with expected and received keys")
        # Step 5: submit (here: a made-up payer reference) and complete with the matching key
        done = await agent.mark_step_completed(wf, "submit-pa", idempotency_key=IDEMPOTENCY_KEY, output={
            "pa_reference": f"PA-{RUN}", "approved_by": "dr.chen@example.org"})
        check(done.completion_count == 1, "step 5: step completed with the matching key")
        await agent.complete_workflow(wf)
        check((await agent.get_workflow(wf)).status == "completed", "step 5: workflow completed")
        events = [e.event for e in await agent.audit(wf)]
        check("idempotency_key_mismatch" in events and "approve" in events, f"audit log: {', '.join(events)}")
        # The retry-aware escalation policy
        try:
            escalation = await admin.create_policy(**ESCALATION)
            check(escalation.enabled, f"escalation policy {escalation.policy_id} created")
        except InvalidPolicyError as e:
            check(False, f"escalation policy refused at {e.field}")
        for p in (policy, escalation):
            await admin.delete_policy(p.policy_id)
    print("walkthrough complete")


if __name__ == "__main__":
    asyncio.run(main())
