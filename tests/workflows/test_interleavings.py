"""Property: any interleaving of gate / approve / reject / complete / expire / resume from several clients,
some of them concurrent and some with a foreign idempotency key, keeps the control plane's invariants:

- no `allow` (and no completion) on a step whose approval was required but not granted;
- no completion with a foreign key, and every refused key is in the audit log;
- `gate_count` and `completion_count` equal the accepted calls exactly, so they never go backwards.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from priorauth.auth.service import create_client
from priorauth.timeutil import utcnow
from priorauth.workflows.models import WorkflowApproval
from priorauth.workflows.service import expire_approvals
from tests.support.apps import http_client
from tests.workflows.test_walkthrough import BIOLOGIC_POLICY, STEP, STEP_INPUT, W

KEY, FOREIGN = "pa:P-88120:J0135", "pa:P-91234:J9999"

op = st.one_of(
    st.tuples(st.just("gate"), st.sampled_from([KEY, KEY, KEY, FOREIGN]), st.sampled_from(["idempotent", "reevaluate"])),
    st.tuples(st.just("complete"), st.sampled_from([KEY, KEY, FOREIGN])),
    st.tuples(st.just("approve")), st.tuples(st.just("reject")), st.tuples(st.just("expire")),
    st.tuples(st.just("resume")),
)
batches = st.lists(st.lists(op, min_size=1, max_size=4), min_size=1, max_size=6)


@pytest.fixture(scope="module")
async def clients(app):
    org = f"org-{uuid.uuid4().hex[:12]}"
    agents = [await create_client(app.state.db, org, f"agent-{i}", "provider") for i in range(2)]
    reviewer = await create_client(app.state.db, org, "md", "reviewer")
    admin = await create_client(app.state.db, org, "admin", "admin")
    async with http_client(app, agents[0].secret) as a0, http_client(app, agents[1].secret) as a1, \
            http_client(app, reviewer.secret) as r, http_client(app, admin.secret) as policies:
        assert (await policies.post("/api/v1/policies", json=BIOLOGIC_POLICY)).status_code == 201
        yield [a0, a1], r


async def _run(app, agents, reviewer, wf: str, step: str, action: tuple, n: int):
    path = f"{W}/{wf}/steps/{step}"
    agent = agents[n % 2]
    kind = action[0]
    if kind == "gate":
        return kind, action[1], await agent.post(f"{path}/gate", json={
            **STEP, "step_input": STEP_INPUT, "idempotency_key": action[1], "retry_policy": action[2]})
    if kind == "complete":
        return kind, action[1], await agent.post(f"{path}/complete", json={"idempotency_key": action[1],
                                                                          "output": {"n": n}})
    if kind in ("approve", "reject"):
        body = {"reason": "not medically necessary"} if kind == "reject" else None
        return kind, None, await reviewer.post(f"{path}/{kind}", headers={"X-User-ID": "md@example.org"}, json=body)
    if kind == "resume":
        return kind, None, await agent.post(f"{W}/{wf}/resume")
    async with app.state.db.write() as session:  # expire: the hold's time runs out, then the sweeper runs
        await session.execute(update(WorkflowApproval).where(WorkflowApproval.workflow_id == wf).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    await expire_approvals(app.state.db)
    return kind, None, None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(plan=batches)
async def test_any_interleaving_keeps_the_invariants(app, clients, plan):
    agents, reviewer = clients
    wf = (await agents[0].post(W, json={"workflow_name": "prior-auth-request"})).json()["workflow_id"]
    step = "submit-pa"
    gates = completes = refused = 0
    pinned = None
    last_gate_count = 0
    n = 0
    for batch in plan:
        results = await asyncio.gather(*(_run(app, agents, reviewer, wf, step, action, n + i)
                                         for i, action in enumerate(batch)))
        n += len(batch)
        # The list is in submission order, not commit order: a refusal may be listed before the gate that
        # pinned the key in the same batch, so learn the pinned key from the batch first.
        pinned = pinned or next((key for kind, key, response in results
                                 if kind == "gate" and response is not None and response.status_code == 200), None)
        for kind, key, response in results:
            if response is None:
                continue
            assert response.status_code < 500, response.text
            body = response.json()
            if kind == "gate" and response.status_code == 200:
                assert key == pinned, "a gate with a foreign key was accepted"
                gates += 1
            if kind == "complete" and response.status_code == 200:
                assert key == pinned, "a completion with a foreign key was accepted"
                completes += 1
            if kind in ("gate", "complete") and response.status_code == 409:
                code = body["error"]["code"]
                if code == "IDEMPOTENCY_KEY_MISMATCH":
                    assert key != pinned and body["error"]["expected_idempotency_key"] == pinned
                    refused += 1
        state = (await agents[0].get(f"{W}/{wf}")).json()
        steps = state["steps"]
        if not steps:
            assert gates == 0
            continue
        s = steps[0]
        assert s["gate_count"] == gates >= last_gate_count
        assert s["completion_count"] == completes
        assert s["idempotency_key"] == pinned
        last_gate_count = s["gate_count"]
        for kind, _, response in results:
            if response is not None and response.status_code == 200:
                if kind == "gate" and response.json()["decision"] == "allow" or kind == "complete":
                    # the policy requires approval for this input: nothing proceeds without a granted one
                    assert s["approval_status"] == "approved", (kind, s)
    audit = (await agents[0].get(f"{W}/{wf}/audit")).json()["entries"]
    assert sum(e["event"] == "idempotency_key_mismatch" for e in audit) == refused
