"""Events that belong to no authorization: review decisions, approval requests and their outcomes, and the
admin notice when an endpoint that failed for 3 days is disabled. Delivered like any event, listed at /v1/events."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from priorauth.auth.service import create_client
from priorauth.timeutil import utcnow
from priorauth.webhooks.models import WebhookEndpoint
from tests.support.apps import http_client
from tests.review.test_review_api import REQUEST
from tests.support.webhooks import W, eventually, subscribe, verify_standard
from tests.workflows.test_walkthrough import BIOLOGIC_POLICY, STEP, STEP_INPUT

WF = "/api/v1/workflows"


async def _org(app, *roles: str):
    name = f"org-{uuid.uuid4().hex[:12]}"
    return [await create_client(app.state.db, name, role, role) for role in roles]


def _bodies(receiver, path: str, secret: str) -> list[dict]:
    return [verify_standard(secret, r) for r in receiver.accepted(path)]


async def test_review_decisions_and_approvals_reach_subscribers(app, receiver):
    admin, reviewer, agent = await _org(app, "admin", "reviewer", "provider")
    async with http_client(app, admin.secret) as a, http_client(app, reviewer.secret) as r, \
            http_client(app, agent.secret) as g:
        endpoint = await subscribe(a, f"{receiver.base}/org", eventTypes=[
            "review.decision.recorded", "workflow.approval.requested", "workflow.approval.resolved",
            "workflow.policy.created"])
        review = (await r.post("/api/review", json=REQUEST)).json()
        decided = await r.post("/api/decision", json={"request_id": review["request_id"], "action": "accept",
                                                      "reviewer_name": "Dr. Jane Doe"})
        assert decided.status_code == 200, decided.text
        policy = await a.post("/api/v1/policies", json=BIOLOGIC_POLICY)
        assert policy.status_code == 201, policy.text
        wf = (await g.post(WF, json={"workflow_name": "pa", "source": "external"})).json()["workflow_id"]
        gate = (await g.post(f"{WF}/{wf}/steps/submit-pa/gate", json={**STEP, "idempotency_key": "k-1",
                                                                     "step_input": STEP_INPUT})).json()
        assert gate["decision"] == "require_approval"
        approved = await r.post(f"{WF}/{wf}/steps/submit-pa/approve", headers={"X-User-ID": "dr-lee"})
        assert approved.status_code == 200, approved.text

        await eventually(lambda: len(receiver.accepted("/org")) >= 4)
        bodies = {b["type"]: b for b in _bodies(receiver, "/org", endpoint["secret"])}
        decision = bodies["review.decision.recorded"]["data"]
        assert decision == {"reviewId": review["request_id"],
                            "authorizationNumber": decided.json()["authorization_number"],
                            "finalRecommendation": review["recommendation"],
                            "originalRecommendation": review["recommendation"], "wasOverridden": False,
                            "decidedAt": decided.json()["decided_at"]}
        requested = bodies["workflow.approval.requested"]["data"]
        assert requested["approvalId"] == gate["approval_id"] and requested["workflowId"] == wf
        assert (requested["status"], requested["severity"], requested["stepId"]) == ("pending", "high", "submit-pa")
        resolved = bodies["workflow.approval.resolved"]["data"]
        assert (resolved["status"], resolved["decidedBy"], resolved["expired"]) == ("approved", "dr-lee", False)
        assert resolved["decidedByClient"] == reviewer.client_id
        assert bodies["workflow.policy.created"]["data"] == {
            "policyId": policy.json()["policy_id"], "version": 1, "enabled": True, "clientId": admin.client_id}
        # No free text (reasons may quote a patient) travels in these events.
        assert "biologic" not in str(bodies)

        listed = (await a.get("/v1/events")).json()["data"]
        assert [e["type"] for e in listed] == ["workflow.approval.resolved", "workflow.approval.requested",
                                              "workflow.policy.created", "review.decision.recorded"]
        assert {e["id"] for e in listed} == {b["id"] for b in bodies.values()}
        only = (await a.get("/v1/events", params={"type": "review.decision.recorded"})).json()["data"]
        assert [e["data"] for e in only] == [decision]
        page = (await a.get("/v1/events", params={"limit": 2})).json()
        rest = (await a.get("/v1/events", params={"cursor": page["pagination"]["nextCursor"]})).json()
        assert [e["id"] for e in page["data"] + rest["data"]] == [e["id"] for e in listed]
        # Admin only, and private to the organization.
        assert (await g.get("/v1/events")).status_code == 403
        other, = await _org(app, "admin")
        async with http_client(app, other.secret) as o:
            assert (await o.get("/v1/events")).json()["data"] == []
        assert (await a.get("/v1/events", params={"type": "nope"})).status_code == 422
        assert (await a.get("/v1/events", params={"cursor": "!!"})).status_code == 400


async def test_an_endpoint_failing_for_three_days_is_disabled_with_an_admin_event(app, client, receiver):
    receiver.always_fail.add("/down")
    down = await subscribe(client, f"{receiver.base}/down")
    watcher = await subscribe(client, f"{receiver.base}/watch", eventTypes=["webhook.endpoint.disabled"])
    # A day of failures does not disable it.
    await client.post(f"{W}/{down['id']}/test")
    await eventually(lambda: receiver.requests and any(r["path"] == "/down" for r in receiver.requests))
    await eventually(async_endpoint(client, down["id"], lambda e: e["failingSince"] is not None))
    await _failing_since(app, down["id"], days=1)
    await client.post(f"{W}/{down['id']}/test")
    seen = len([r for r in receiver.requests if r["path"] == "/down"])
    await eventually(lambda: len([r for r in receiver.requests if r["path"] == "/down"]) > seen)
    assert (await client.get(f"{W}/{down['id']}")).json()["enabled"] is True

    await _failing_since(app, down["id"], days=3, seconds=1)
    await client.post(f"{W}/{down['id']}/test")
    disabled = await eventually(async_endpoint(client, down["id"], lambda e: not e["enabled"]))
    assert disabled["disabledReason"] == "failing for 3 days or more"
    notice = (await client.get("/v1/events", params={"type": "webhook.endpoint.disabled"})).json()["data"]
    assert len(notice) == 1 and notice[0]["data"]["endpointId"] == down["id"]
    await eventually(lambda: receiver.accepted("/watch"))
    body = verify_standard(watcher["secret"], receiver.accepted("/watch")[0])
    assert body["id"] == notice[0]["id"] and body["data"]["endpointId"] == down["id"]

    # Enabling it again clears the failure and sends what waited.
    receiver.always_fail.discard("/down")
    enabled = await client.patch(f"{W}/{down['id']}", json={"enabled": True})
    assert enabled.json()["failingSince"] is None and enabled.json()["disabledReason"] is None
    await eventually(lambda: receiver.accepted("/down"))


def async_endpoint(client, endpoint_id: str, check):
    async def probe():
        endpoint = (await client.get(f"{W}/{endpoint_id}")).json()
        return endpoint if check(endpoint) else None
    return probe


async def _failing_since(app, endpoint_id: str, *, days: int, seconds: int = 0) -> None:
    async with app.state.db.write() as session:
        await session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(
            failing_since=utcnow() - timedelta(days=days, seconds=seconds)))
