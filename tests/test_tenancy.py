"""No operation lets one organization reach another's data: every route that takes an id answers 404 for
another organization's id (never 403, never its data), every list leaves the other's rows out, and an id of
another organization inside a body is as unknown as a made-up one. The table of calls is checked against
/openapi.json, so a new route that takes an id fails here until it is added.
"""
from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.cases import complete_tka_case, tiny_pdf
from tests.review.test_review_api import REQUEST
from tests.support.apps import http_client, new_client
from tests.workflows.test_walkthrough import BIOLOGIC_POLICY, KEY, STEP, STEP_INPUT

A = "/v1/prior-auth/authorizations"
W = "/api/v1/workflows"
REVIEWER = {"X-User-ID": "dr-other"}

# (method, path with {placeholders}, JSON body or None, extra headers): every operation that takes an id.
CALLS = [
    ("GET", A + "/{authorization_id}", None),
    ("PATCH", A + "/{authorization_id}", {"notes": "x"}),
    ("DELETE", A + "/{authorization_id}", None),
    ("POST", A + "/{authorization_id}/preview", None),
    ("POST", A + "/{authorization_id}/submit", None),
    ("POST", A + "/{authorization_id}/cancel", {}),
    ("POST", A + "/{authorization_id}/appeal", {"reason": "medically necessary"}),
    ("GET", A + "/{authorization_id}/events", None),
    ("GET", A + "/{authorization_id}/actions", None),
    ("POST", A + "/{authorization_id}/actions/{action_id}/resolve", {"attachmentIds": ["{attachment_id}"]}),
    ("POST", A + "/{authorization_id}/attachments", {"fileId": "{own_file_id}"}),
    ("GET", A + "/{authorization_id}/attachments", None),
    ("DELETE", A + "/{authorization_id}/attachments/{attachment_id}", None),
    ("GET", A + "/{authorization_id}/artifacts/{artifact_id}", None),
    ("GET", "/v1/prior-auth/submission-attempts/{attempt_id}", None),
    ("GET", "/v1/files/{file_id}", None),
    ("GET", "/v1/files/{file_id}/content", None),
    ("POST", "/v1/sandbox/prior-auth/authorizations/{authorization_id}/payer-events",
     {"type": "approval", "certificationNumber": "CERT-X"}),
    ("GET", "/api/review/{request_id}", None),
    ("GET", "/api/review/{request_id}/audit.pdf", None),
    ("GET", "/api/review/{request_id}/letter.pdf", None),
    ("GET", W + "/{workflow_id}", None),
    ("POST", W + "/{workflow_id}/complete", None),
    ("POST", W + "/{workflow_id}/abort", {"reason": "x"}),
    ("POST", W + "/{workflow_id}/fail", {"reason": "x"}),
    ("POST", W + "/{workflow_id}/resume", None),
    ("POST", W + "/{workflow_id}/steps/{step_id}/gate", {**STEP, "idempotency_key": KEY}),
    ("POST", W + "/{workflow_id}/steps/{step_id}/complete", {}),
    ("POST", W + "/{workflow_id}/steps/{step_id}/approve", None),
    ("POST", W + "/{workflow_id}/steps/{step_id}/reject", {"reason": "not mine"}),
    ("GET", W + "/{workflow_id}/audit", None),
    ("GET", "/api/v1/policies/{policy_id}", None),
    ("PUT", "/api/v1/policies/{policy_id}", {**BIOLOGIC_POLICY, "name": "taken-over"}),
    ("DELETE", "/api/v1/policies/{policy_id}", None),
    ("GET", "/api/v1/policies/{policy_id}/audit", None),
    ("GET", "/v1/webhooks/endpoints/{endpoint_id}", None),
    ("PATCH", "/v1/webhooks/endpoints/{endpoint_id}", {"description": "taken over"}),
    ("DELETE", "/v1/webhooks/endpoints/{endpoint_id}", None),
    ("POST", "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", None),
    ("GET", "/v1/webhooks/endpoints/{endpoint_id}/deliveries", None),
    ("POST", "/v1/webhooks/endpoints/{endpoint_id}/test", None),
    ("POST", "/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver", None),
]
LISTS = [A, "/v1/events", "/api/reviews", W, W + "/approvals/pending", "/api/v1/policies", "/v1/webhooks/endpoints"]


def _ok(response, *statuses):
    assert response.status_code in (statuses or (200, 201)), response.text
    return response.json() if response.content else None


async def _organization_with_everything(app) -> tuple[dict[str, str], list[str]]:
    """One organization with one of every kind of row the API names by id; returns the ids and secrets."""
    org = f"org-{uuid.uuid4().hex[:12]}"
    admin, reviewer = await new_client(app, "admin", org), await new_client(app, "reviewer", org)
    ids: dict[str, str] = {}
    async with http_client(app, admin.secret) as c, http_client(app, reviewer.secret) as r:
        auth = _ok(await c.post(A, json=complete_tka_case()))
        ids["authorization_id"] = auth["id"]
        submitted = _ok(await c.post(f"{A}/{auth['id']}/submit"))
        ids["attempt_id"] = submitted["submission"]["id"]
        ids["artifact_id"] = next(iter(submitted["submission"]["artifacts"].values()))
        _ok(await c.post(f"/v1/sandbox/prior-auth/authorizations/{auth['id']}/payer-events",
                         json={"type": "more_info_request", "message": "imaging please"}))
        ids["action_id"] = _ok(await c.get(f"{A}/{auth['id']}/actions", params={"status": "open"}))["data"][0]["id"]
        ids["file_id"] = _ok(await c.post("/v1/files", files={"file": ("x.pdf", tiny_pdf("imaging"))}))["id"]
        ids["attachment_id"] = _ok(await c.post(f"{A}/{auth['id']}/attachments", json={"fileId": ids["file_id"]}))["id"]
        ids["request_id"] = _ok(await r.post("/api/review", json=REQUEST))["request_id"]
        endpoint = _ok(await c.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/x", "enabled": False}))
        ids["endpoint_id"] = endpoint["id"]
        ids["delivery_id"] = _ok(await c.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test"), 202)["id"]
        ids["workflow_id"] = _ok(await c.post(W, json={"workflow_name": "pa", "source": "external"}))["workflow_id"]
        ids["policy_id"] = _ok(await c.post("/api/v1/policies", json=BIOLOGIC_POLICY))["policy_id"]
        gate = _ok(await c.post(f"{W}/{ids['workflow_id']}/steps/submit-pa/gate",
                                json={**STEP, "idempotency_key": KEY, "step_input": STEP_INPUT}))
        assert gate["decision"] == "require_approval"  # a pending approval a reviewer elsewhere must not touch
        ids["step_id"] = "submit-pa"
    return ids, [admin.secret, reviewer.secret]


def _fill(template, ids: dict[str, str]):
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
    if isinstance(template, dict):
        return {k: _fill(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, ids) for v in template]
    return template


def test_the_table_names_every_operation_that_takes_an_id(app):
    documented = {(method.upper(), path) for path, item in app.openapi()["paths"].items()
                  for method in item if "{" in path}
    assert documented == {(method, path) for method, path, _ in CALLS}


@pytest.mark.parametrize("role", ["admin", "reviewer"])
async def test_another_organization_reaches_nothing(app, role):
    theirs, _ = await _organization_with_everything(app)
    mine = await new_client(app, role)
    async with http_client(app, mine.secret) as c:
        own_file = _ok(await c.post("/v1/files", files={"file": ("y.pdf", tiny_pdf("mine"))}))["id"]
        leaks = []
        for method, path, body in CALLS:
            url, sent = _fill(path, theirs), _fill(body, theirs | {"own_file_id": own_file})
            response = await c.request(method, url, json=sent, headers=REVIEWER)
            expected = {404} if role == "admin" or url.startswith(("/api/review", W)) else {403, 404}
            asked = url + json.dumps(sent)  # a 404 may name the id it was asked for, and nothing else of theirs
            if response.status_code not in expected or any(v in response.text and v not in asked
                                                           for v in theirs.values()):
                leaks.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        for path in LISTS:
            response = await c.get(path)
            if response.status_code == 200 and any(v in response.text for v in theirs.values()):
                leaks.append(f"GET {path} lists another organization's rows")
    assert not leaks, "\n".join(leaks)


async def test_another_organizations_ids_inside_a_body_are_unknown(app, client):
    theirs, _ = await _organization_with_everything(app)
    auth = _ok(await client.post(A, json=complete_tka_case()))
    attached = await client.post(f"{A}/{auth['id']}/attachments", json={"fileId": theirs["file_id"]})
    assert attached.status_code == 422 and theirs["file_id"] in attached.text  # named as unknown, not shown
    _ok(await client.post(f"{A}/{auth['id']}/submit"))
    _ok(await client.post(f"/v1/sandbox/prior-auth/authorizations/{auth['id']}/payer-events",
                          json={"type": "more_info_request", "message": "more"}))
    action = _ok(await client.get(f"{A}/{auth['id']}/actions", params={"status": "open"}))["data"][0]["id"]
    resolved = await client.post(f"{A}/{auth['id']}/actions/{action}/resolve",
                                 json={"attachmentIds": [theirs["attachment_id"]]})
    assert resolved.status_code == 422
    reviewer = await new_client(app, "reviewer")
    async with http_client(app, reviewer.secret) as r:
        decided = await r.post("/api/decision", json={"request_id": theirs["request_id"], "action": "accept",
                                                       "reviewer_name": "Dr. Other"})
        assert decided.status_code == 404
