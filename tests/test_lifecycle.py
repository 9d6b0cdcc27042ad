"""The whole lifecycle over HTTP, as a provider system would drive it."""
from __future__ import annotations

import io

from pypdf import PdfReader

from tests.cases import TKA_ANSWERS, complete_tka_case, tiny_pdf, tka_case

A = "/v1/prior-auth/authorizations"


async def test_full_lifecycle_with_more_info_request(client):
    created = await client.post(A, json=tka_case())
    assert created.status_code == 201, created.text
    auth = created.json()
    assert auth["workflowState"] == "needs_input" and auth["decisionState"] == "unknown"
    assert auth["questionnaire"]["resourceType"] == "Questionnaire"
    assert auth["sourceForm"]["provenance"]["resolvedBy"] == "service_code"
    assert any(q["state"] == "required" and not q["answered"] for q in auth["questionStates"])
    assert auth["version"] == 1 and created.headers["etag"] == '"1"'
    auth_id = auth["id"]

    patched = await client.patch(f"{A}/{auth_id}", json={"answers": TKA_ANSWERS}, headers={"If-Match": "1"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["workflowState"] == "ready_to_submit"
    assert patched.json()["validationIssues"] == []

    submitted = await client.post(f"{A}/{auth_id}/submit", headers={"Idempotency-Key": f"submit-{auth_id}-1"})
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert body["workflowState"] == "pending_payer" and body["decisionState"] == "pending"
    assert body["submissionChannel"] == "sandbox" and body["submittedAt"]
    attempt = body["submission"]
    assert attempt["status"] == "submitted"
    assert set(attempt["artifacts"]) == {"filled_form", "cover_sheet", "submission_packet"}

    sandbox = f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events"
    more = await client.post(sandbox, json={"type": "more_info_request", "message": "Send the latest X-ray report",
                                            "requestedDocuments": ["knee radiograph report"]})
    assert more.status_code == 200, more.text
    assert more.json()["workflowState"] == "action_required"
    actions = (await client.get(f"{A}/{auth_id}/actions", params={"status": "open"})).json()["data"]
    assert [a["type"] for a in actions] == ["payer_request_for_information"]
    action_id = actions[0]["id"]

    no_attachment = await client.post(f"{A}/{auth_id}/actions/{action_id}/resolve", json={"attachmentIds": []})
    assert no_attachment.status_code == 422
    assert no_attachment.json()["error"]["code"] == "validation_failed"

    upload = await client.post("/v1/files", files={"file": ("xray.pdf", tiny_pdf("X-ray: bone on bone"), "application/pdf")})
    assert upload.status_code == 201, upload.text
    attached = await client.post(f"{A}/{auth_id}/attachments", json={"fileId": upload.json()["id"],
                                                                       "category": "imaging"})
    assert attached.status_code == 201, attached.text
    resolved = await client.post(f"{A}/{auth_id}/actions/{action_id}/resolve",
                                 json={"attachmentIds": [attached.json()["id"]], "note": "X-ray report attached"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["authorization"]["workflowState"] == "ready_to_submit"

    resubmitted = await client.post(f"{A}/{auth_id}/submit", headers={"Idempotency-Key": f"submit-{auth_id}-2"})
    assert resubmitted.status_code == 200, resubmitted.text
    assert resubmitted.json()["workflowState"] == "pending_payer"
    packet_id = resubmitted.json()["submission"]["artifacts"]["submission_packet"]

    approved = await client.post(sandbox, json={"type": "approval", "certificationNumber": "CERT-778",
                                                "approvedStartDate": "2026-12-01", "approvedEndDate": "2027-02-28",
                                                "approvalExpiresAt": "2027-03-01T00:00:00Z"})
    assert approved.status_code == 200, approved.text
    final = approved.json()
    assert (final["workflowState"], final["decisionState"]) == ("completed", "approved")
    assert final["decisionDetails"]["certificationNumber"] == "CERT-778"

    packet = await client.get(f"{A}/{auth_id}/artifacts/{packet_id}")
    assert packet.status_code == 200 and packet.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(packet.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Lovelace" in text and "27447" in text and "bone on bone" in text

    events = (await client.get(f"{A}/{auth_id}/events", params={"limit": 100})).json()["data"]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types == [
        "prior_auth.authorization.created",
        "prior_auth.authorization.updated", "prior_auth.status.changed",          # -> ready_to_submit
        "prior_auth.status.changed",                                               # -> submitting
        "prior_auth.submission.submitted", "prior_auth.status.changed",           # -> pending_payer
        "prior_auth.payer.response_received", "prior_auth.action.required", "prior_auth.status.changed",
        "prior_auth.attachments.added",
        "prior_auth.action.resolved", "prior_auth.status.changed",                # -> ready_to_submit
        "prior_auth.status.changed", "prior_auth.submission.submitted", "prior_auth.status.changed",
        "prior_auth.payer.response_received", "prior_auth.status.changed", "prior_auth.completed",
    ]
    states = [e["data"]["current"]["workflowState"] for e in events if e["type"] == "prior_auth.status.changed"]
    assert states == ["ready_to_submit", "submitting", "pending_payer", "action_required", "ready_to_submit",
                      "submitting", "pending_payer", "completed"]


async def test_complete_case_is_ready_at_creation_and_denial_completes(client):
    auth = (await client.post(A, json=complete_tka_case())).json()
    assert auth["workflowState"] == "ready_to_submit", auth["validationIssues"]
    await client.post(f"{A}/{auth['id']}/submit")
    denied = await client.post(f"/v1/sandbox/prior-auth/authorizations/{auth['id']}/payer-events",
                               json={"type": "denial", "denialReasonCode": "NMN",
                                     "denialReasonMessage": "Not medically necessary"})
    assert (denied.json()["workflowState"], denied.json()["decisionState"]) == ("completed", "denied")
    again = await client.post(f"/v1/sandbox/prior-auth/authorizations/{auth['id']}/payer-events",
                              json={"type": "approval", "certificationNumber": "X"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state_transition"


async def test_submit_from_needs_input_creates_validation_actions(client):
    auth = (await client.post(A, json=tka_case())).json()
    failed = await client.post(f"{A}/{auth['id']}/submit")
    assert failed.status_code == 409
    error = failed.json()["error"]
    assert error["code"] == "validation_failed" and error["issues"]
    current = (await client.get(f"{A}/{auth['id']}")).json()
    assert current["workflowState"] == "action_required"
    open_actions = (await client.get(f"{A}/{auth['id']}/actions")).json()["data"]
    assert open_actions and all(a["type"] == "validation_issue" and not a["resolvable"] for a in open_actions)
    cannot = await client.post(f"{A}/{auth['id']}/actions/{open_actions[0]['id']}/resolve",
                               json={"attachmentIds": ["att_x"]})
    assert cannot.status_code == 409 and cannot.json()["error"]["code"] == "action_not_resolvable"
    fixed = await client.patch(f"{A}/{auth['id']}", json={"answers": TKA_ANSWERS})
    assert fixed.json()["workflowState"] == "ready_to_submit"
    left = (await client.get(f"{A}/{auth['id']}/actions", params={"status": "open"})).json()["data"]
    assert left == []


async def test_patch_leaving_blockers_moves_to_action_required_and_version_conflicts(client):
    auth = (await client.post(A, json=tka_case())).json()
    partial = await client.patch(f"{A}/{auth['id']}", json={"answers": {"laterality": "left"}})
    assert partial.json()["workflowState"] == "action_required" and partial.json()["version"] == 2
    stale = await client.patch(f"{A}/{auth['id']}", json={"urgency": "expedited"}, headers={"If-Match": "1"})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    assert stale.json()["error"]["details"]["currentVersion"] == 2


async def test_cancel_and_terminal_states(client):
    auth = (await client.post(A, json=tka_case())).json()
    cancelled = await client.post(f"{A}/{auth['id']}/cancel", json={"reason": "patient moved"})
    assert cancelled.json()["workflowState"] == "cancelled"
    again = await client.post(f"{A}/{auth['id']}/cancel")
    assert again.status_code == 409
    patch = await client.patch(f"{A}/{auth['id']}", json={"urgency": "expedited"})
    assert patch.status_code == 409


async def test_cancel_closes_open_actions(client):
    auth = (await client.post(A, json=complete_tka_case())).json()
    await client.post(f"{A}/{auth['id']}/submit")
    await client.post(f"/v1/sandbox/prior-auth/authorizations/{auth['id']}/payer-events",
                      json={"type": "more_info_request", "message": "Need notes"})
    cancelled = (await client.post(f"{A}/{auth['id']}/cancel")).json()
    assert cancelled["workflowState"] == "cancelled" and cancelled["openActions"] == []


async def test_events_cursor_pages_and_polls(client):
    auth = (await client.post(A, json=tka_case())).json()
    for n in range(3):
        await client.patch(f"{A}/{auth['id']}", json={"externalId": f"ehr-{n}"})
    first = (await client.get(f"{A}/{auth['id']}/events", params={"limit": 2})).json()
    assert first["pagination"]["hasMore"] is True
    rest = (await client.get(f"{A}/{auth['id']}/events", params={"cursor": first["pagination"]["nextCursor"]})).json()
    sequences = [e["sequence"] for e in first["data"] + rest["data"]]
    assert sequences == list(range(1, len(sequences) + 1))
    assert rest["pagination"]["hasMore"] is False and rest["pagination"]["nextCursor"]
    await client.post(f"{A}/{auth['id']}/cancel")
    polled = (await client.get(f"{A}/{auth['id']}/events", params={"cursor": rest["pagination"]["nextCursor"]})).json()
    assert polled["data"][0]["sequence"] == sequences[-1] + 1
    assert polled["data"][-1]["type"] == "prior_auth.status.changed"
    assert {e["type"] for e in polled["data"][:-1]} == {"prior_auth.action.resolved"}  # cancel closes actions
    bad = await client.get(f"{A}/{auth['id']}/events", params={"cursor": "!!notacursor"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_list_filters_and_pagination(client):
    tag = (await client.post(A, json=tka_case())).json()["id"]
    ids = [(await client.post(A, json=tka_case(externalId=f"{tag}-{n}"))).json()["id"] for n in range(5)]
    page = (await client.get(A, params={"limit": 3})).json()
    assert [a["id"] for a in page["data"]] == ids[::-1][:3] and page["pagination"]["hasMore"]
    more = (await client.get(A, params={"limit": 3, "cursor": page["pagination"]["nextCursor"]})).json()
    assert [a["id"] for a in more["data"]] == ids[::-1][3:] + [tag]
    assert more["pagination"] == {"hasMore": False, "nextCursor": None}
    by_external = (await client.get(A, params={"externalId": f"{tag}-2"})).json()["data"]
    assert [a["id"] for a in by_external] == [ids[2]]
    assert (await client.get(A, params={"workflowState": "completed"})).json()["data"] == []
    assert len((await client.get(A, params={"workflowState": "needs_input", "payerId": "payer_sandbox"})).json()["data"]) == 6
    future = (await client.get(A, params={"createdAfter": "2999-01-01T00:00:00Z"})).json()["data"]
    assert future == []
    bad = await client.get(A, params={"workflowState": "nope"})
    assert bad.status_code == 422
