"""Security of the control plane over real HTTP: policies belong to the admin and every change is audited and
versioned; a human's hold outranks any policy change (the two bypasses of issue 12 fail closed); regular
expressions run in linear time on bounded input; approvals record the credential beside the named person."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

from priorauth.auth.service import create_client
from priorauth.workflows.rules import MAX_REGEX_INPUT
from tests.support.apps import http_client
from tests.workflows.test_walkthrough import BIOLOGIC_POLICY, KEY, STEP, STEP_INPUT, W

P = "/api/v1/policies"
STEP_PATH = "steps/submit-pa"


@dataclass
class Org:
    admin: httpx.AsyncClient
    agent: httpx.AsyncClient
    reviewer: httpx.AsyncClient
    ids: dict[str, str]  # role -> client id


@pytest.fixture
async def org(app):
    """An admin, an agent (provider) and a reviewer client of one fresh organization."""
    name = f"org-{uuid.uuid4().hex[:12]}"
    created = {role: await create_client(app.state.db, name, role, role) for role in ("admin", "provider", "reviewer")}
    async with http_client(app, created["admin"].secret) as admin, \
            http_client(app, created["provider"].secret) as agent, \
            http_client(app, created["reviewer"].secret) as reviewer:
        yield Org(admin, agent, reviewer, {role: c.client_id for role, c in created.items()})


async def _policy(org: Org, body: dict = BIOLOGIC_POLICY) -> str:
    created = await org.admin.post(P, json=body)
    assert created.status_code == 201, created.text
    return created.json()["policy_id"]


async def _workflow(org: Org) -> str:
    return (await org.agent.post(W, json={"workflow_name": "prior-auth-request"})).json()["workflow_id"]


async def _gate(org: Org, wf: str, **extra) -> dict:
    r = await org.agent.post(f"{W}/{wf}/{STEP_PATH}/gate", json={**STEP, "idempotency_key": KEY, **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def _complete(org: Org, wf: str) -> httpx.Response:
    return await org.agent.post(f"{W}/{wf}/{STEP_PATH}/complete", json={"idempotency_key": KEY, "output": {}})


async def _decide(org: Org, wf: str, action: str) -> httpx.Response:
    body = {"reason": "step therapy not documented"} if action == "reject" else None
    return await org.reviewer.post(f"{W}/{wf}/{STEP_PATH}/{action}", headers={"X-User-ID": "dr.lee@example.org"},
                                   json=body)


async def _events(org: Org, type_: str) -> list[dict]:
    listed = await org.admin.get("/v1/events", params={"type": type_})
    assert listed.status_code == 200, listed.text
    return [e["data"] for e in reversed(listed.json()["data"])]  # oldest first


# ---- policies are administered by the admin role, and every change is audited --------------------------------------

async def test_only_admins_create_change_or_delete_policies_and_every_role_reads_them(org):
    for other in (org.agent, org.reviewer):
        refused = await other.post(P, json=BIOLOGIC_POLICY)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    policy_id = await _policy(org)
    for other in (org.agent, org.reviewer):
        disabled = await other.put(f"{P}/{policy_id}", json={**BIOLOGIC_POLICY, "enabled": False})
        assert disabled.status_code == 403 and disabled.json()["error"]["code"] == "FORBIDDEN"
        deleted = await other.delete(f"{P}/{policy_id}")
        assert deleted.status_code == 403 and deleted.json()["error"]["code"] == "FORBIDDEN"
        assert [p["policy_id"] for p in (await other.get(P)).json()["policies"]] == [policy_id]
        read = (await other.get(f"{P}/{policy_id}")).json()
        assert read["enabled"] is True and read["version"] == 1  # the refused writes changed nothing


async def test_every_policy_change_writes_an_audit_entry_and_an_organization_event(org):
    policy_id = await _policy(org)
    assert (await org.agent.get(f"{P}/{policy_id}")).json()["version"] == 1
    edited = {**BIOLOGIC_POLICY, "priority": 950}
    updated = await org.admin.put(f"{P}/{policy_id}", json={**edited, "policy_id": policy_id, "version": 1})
    assert updated.status_code == 200 and updated.json()["version"] == 2  # a GET echoed back is accepted
    disabled = await org.admin.put(f"{P}/{policy_id}", json={**edited, "enabled": False})
    assert disabled.json()["version"] == 3
    assert (await org.admin.delete(f"{P}/{policy_id}")).status_code == 204

    trail = await org.agent.get(f"{P}/{policy_id}/audit")  # still readable after the delete, by every role
    assert trail.status_code == 200, trail.text
    entries = trail.json()["entries"]
    assert [(e["event"], e["version"], e["policy_set_version"]) for e in entries] == [
        ("created", 1, 1), ("updated", 2, 2), ("updated", 3, 3), ("deleted", 3, 4)]
    assert {e["client_id"] for e in entries} == {org.ids["admin"]}
    assert entries[0]["policy"]["priority"] == 900 and entries[1]["policy"]["priority"] == 950
    assert entries[2]["policy"]["enabled"] is False and entries[3]["policy"] is None
    assert (await org.agent.get(f"{P}/pol_unknown/audit")).status_code == 404

    expected = {"workflow.policy.created": [{"policyId": policy_id, "version": 1, "enabled": True}],
                "workflow.policy.updated": [{"policyId": policy_id, "version": 2, "enabled": True},
                                            {"policyId": policy_id, "version": 3, "enabled": False}],
                "workflow.policy.deleted": [{"policyId": policy_id, "version": 3}]}
    for type_, data in expected.items():
        assert await _events(org, type_) == [{**d, "clientId": org.ids["admin"]} for d in data]


async def test_each_gate_decision_records_the_policy_versions_it_used(org):
    policy_id = await _policy(org)
    await org.admin.put(f"{P}/{policy_id}", json={**BIOLOGIC_POLICY, "priority": 950})
    wf = await _workflow(org)
    held = await _gate(org, wf, step_input=STEP_INPUT)
    assert held["decision"] == "require_approval"
    assert held["policy_versions"] == {policy_id: 2} and held["policy_set_version"] == 2
    cached = await _gate(org, wf)
    assert cached["cached"] is True and cached["policy_versions"] == {policy_id: 2}
    gate_entry = next(e for e in (await org.agent.get(f"{W}/{wf}/audit")).json()["entries"] if e["event"] == "gate")
    assert gate_entry["data"]["policy_versions"] == {policy_id: 2} and gate_entry["data"]["policy_set_version"] == 2
    assert gate_entry["client_id"] == org.ids["provider"]
    other = await _workflow(org)  # a step no policy matches: the set version still says what was evaluated
    allowed = await _gate(org, other, step_input={"medication_class": "generic"}, idempotency_key="k-generic")
    assert allowed["decision"] == "allow" and allowed["policy_versions"] == {} and allowed["policy_set_version"] == 2


# ---- a human's hold outranks any policy change ----------------------------------------------------------------------

async def test_a_rejection_is_not_released_by_disabling_the_policies(org):
    """The finding: after a rejection the agent disabled the policy, resumed, re-gated with reevaluate, completed."""
    policy_id = await _policy(org)
    wf = await _workflow(org)
    first = await _gate(org, wf, step_input=STEP_INPUT)
    assert first["decision"] == "require_approval"
    assert (await _decide(org, wf, "reject")).status_code == 200
    # The agent's own credential cannot touch the policy any more ...
    assert (await org.agent.put(f"{P}/{policy_id}", json={**BIOLOGIC_POLICY, "enabled": False})).status_code == 403
    # ... and even the admin's change does not release the rejection.
    assert (await org.admin.put(f"{P}/{policy_id}", json={**BIOLOGIC_POLICY, "enabled": False})).status_code == 200
    assert (await org.agent.post(f"{W}/{wf}/resume")).json()["status"] == "in_progress"
    for retry_policy in ("reevaluate", "idempotent"):
        again = await _gate(org, wf, retry_policy=retry_policy)
        assert again["decision"] == "require_approval", again
        assert again["approval_id"] == first["approval_id"] + "#2" and again["policy_ids"] == []
    completed = await _complete(org, wf)
    assert completed.status_code == 409 and completed.json()["error"]["code"] == "APPROVAL_REQUIRED"
    pending = (await org.reviewer.get(f"{W}/approvals/pending", params={"workflow_id": wf})).json()["approvals"]
    assert [(a["approval_id"], a["severity"]) for a in pending] == [(first["approval_id"] + "#2", "high")]
    # Only a human releases it.
    assert (await _decide(org, wf, "approve")).status_code == 200
    assert (await _gate(org, wf, retry_policy="reevaluate"))["decision"] == "allow"
    assert (await _complete(org, wf)).status_code == 200


async def test_deleting_the_policy_does_not_release_a_pending_hold(org):
    """The finding: the agent deleted the policy while the approval was pending and the next gate said allow."""
    policy_id = await _policy(org)
    wf = await _workflow(org)
    held = await _gate(org, wf, step_input=STEP_INPUT)
    assert (await org.agent.delete(f"{P}/{policy_id}")).status_code == 403
    assert (await org.admin.delete(f"{P}/{policy_id}")).status_code == 204
    for retry_policy in ("reevaluate", "idempotent"):
        again = await _gate(org, wf, retry_policy=retry_policy)
        assert again["decision"] == "require_approval", again
        assert (again["approval_id"], again["approval_status"], again["severity"]) == (
            held["approval_id"], "pending", "high")
    completed = await _complete(org, wf)
    assert completed.status_code == 409 and completed.json()["error"]["code"] == "APPROVAL_REQUIRED"
    # The same key in a new workflow does not sidestep the waiting hold either.
    other = await _workflow(org)
    sidestep = await _gate(org, other, step_input=STEP_INPUT)
    assert sidestep["decision"] == "require_approval" and sidestep["policy_ids"] == []
    assert (await _decide(org, wf, "reject")).status_code == 200
    assert (await _gate(org, wf, retry_policy="reevaluate"))["decision"] == "block"


async def test_a_new_workflow_with_a_rejected_key_waits_for_a_human(org):
    policy_id = await _policy(org)
    wf = await _workflow(org)
    await _gate(org, wf, step_input=STEP_INPUT)
    assert (await _decide(org, wf, "reject")).status_code == 200
    await org.admin.delete(f"{P}/{policy_id}")
    other = await _workflow(org)
    again = await _gate(org, other, step_input=STEP_INPUT)
    assert again["decision"] == "require_approval" and "rejected" in again["reason"]
    completed = await _complete(org, other)
    assert completed.status_code == 409 and completed.json()["error"]["code"] == "APPROVAL_REQUIRED"
    assert (await _decide(org, other, "approve")).status_code == 200
    assert (await _gate(org, other, retry_policy="reevaluate"))["decision"] == "allow"


# ---- regular expressions: linear time, bounded input, RE2 syntax only ---------------------------------------------

REDOS_POLICY = {
    "name": "polynomial-regex", "type": "context_aware", "category": "dynamic-test",
    "conditions": [{"field": "step_input.note", "operator": "regex", "value": "a*a*a*a*a*a*b"}],
    "actions": [{"type": "require_approval", "config": {"severity": "low"}}],
}


async def test_a_polynomial_regex_is_fast_through_the_real_gate(org):
    """`a*a*a*a*a*a*b` took 5.5 s on 64 characters and about 60 s on 100 with a backtracking engine."""
    await _policy(org, REDOS_POLICY)
    for note, decision in [("a" * 100, "allow"), ("a" * 10_000, "allow"), ("a" * 9_999 + "b", "require_approval"),
                           # Longer than the bound: not searched, and counted as a match (fail closed).
                           ("a" * (MAX_REGEX_INPUT + 1), "require_approval")]:
        wf = await _workflow(org)
        started = time.perf_counter()
        answer = await _gate(org, wf, step_input={"note": note}, idempotency_key=f"k-{len(note)}-{decision}")
        elapsed = time.perf_counter() - started
        assert answer["decision"] == decision, (len(note), answer)
        assert elapsed < 1.0, f"{len(note)} characters took {elapsed:.2f} s"


@pytest.mark.parametrize("pattern, what", [
    ("^(a)\\1$", "backreference"), ("(?P<x>a)(?P=x)", "backreference"),
    ("J(?=\\d)", "lookahead"), ("(?<!x)J0135", "lookbehind"),
])
async def test_patterns_the_linear_engine_cannot_run_are_refused_naming_the_field(org, pattern, what):
    body = {**REDOS_POLICY, "conditions": [{"field": "step_input.note", "operator": "equals", "value": "x"},
                                           {"field": "step_input.note", "operator": "regex", "value": pattern}]}
    refused = await org.admin.post(P, json=body)
    assert refused.status_code == 400, (what, refused.text)
    error = refused.json()["error"]
    assert error["code"] == "INVALID_POLICY" and error["field"] == "conditions[1].value"
    assert "RE2" in error["message"] and "lookaround" in error["message"]
    assert (await org.admin.get(P)).json()["policies"] == []


async def test_a_stored_pattern_re2_cannot_run_fails_the_gate_closed_until_an_admin_fixes_it(org, app):
    """A policy stored before policies used RE2 (here: written straight to the table) can no longer compile."""
    from sqlalchemy import update

    from priorauth.workflows.models import WorkflowPolicy

    policy_id = await _policy(org, REDOS_POLICY)
    legacy = {**REDOS_POLICY, "conditions": [{"field": "step_input.note", "operator": "regex", "value": "a(?=b)"}]}
    async with app.state.db.write() as session:
        await session.execute(update(WorkflowPolicy).where(WorkflowPolicy.id == policy_id).values(body=legacy))
    wf = await _workflow(org)
    refused = await org.agent.post(f"{W}/{wf}/{STEP_PATH}/gate", json={**STEP, "step_input": {"note": "ab"}})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["policy_id"], error["field"]) == ("INVALID_STORED_POLICY", policy_id,
                                                                   "conditions[0].value")
    assert (await org.admin.put(f"{P}/{policy_id}", json=REDOS_POLICY)).status_code == 200
    assert (await _gate(org, wf, step_input={"note": "ab"}, idempotency_key=None))["decision"] == "require_approval"


# ---- the credential beside the named reviewer -----------------------------------------------------------------------

@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_approvals_record_the_client_beside_the_named_reviewer(org, action):
    await _policy(org)
    wf = await _workflow(org)
    held = await _gate(org, wf, step_input=STEP_INPUT)
    decided = await _decide(org, wf, action)
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by_client"] == org.ids["reviewer"]
    assert decided.json()[f"{action}d_by" if action == "approve" else "rejected_by"] == "dr.lee@example.org"
    entries = (await org.agent.get(f"{W}/{wf}/audit")).json()["entries"]
    entry = next(e for e in entries if e["event"] == action)
    assert (entry["actor"], entry["client_id"]) == ("dr.lee@example.org", org.ids["reviewer"])
    assert next(e for e in entries if e["event"] == "gate")["client_id"] == org.ids["provider"]
    [resolved] = await _events(org, "workflow.approval.resolved")
    assert resolved["approvalId"] == held["approval_id"]
    assert (resolved["decidedBy"], resolved["decidedByClient"]) == ("dr.lee@example.org", org.ids["reviewer"])
