"""Lifecycle extensions for the medication_pa webhook, driven over HTTP: medication fields, payer and provider
deadlines, partial denials, appeals, closed and deferred cases, failed submissions. Each test also checks the
medication_pa payload built from the real GET view."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from priorauth.authorizations.medication import CLOSED_REASON, PHARMACY_TYPE
from priorauth.submissions import channels
from priorauth.webhooks import medication_pa
from priorauth.webhooks.medication_pa import medication_pa_payload, stable_id
from tests.cases import complete_tka_case, tiny_pdf, tka_case

A = "/v1/prior-auth/authorizations"
DRUG = {"code": "00002-7510-01", "codeSystem": "ndc", "drugName": "Example drug", "quantity": 90, "daysSupply": 90,
        "refills": 3, "numberOfCycles": 2, "pharmacyType": "SpecialtyPharmacy", "prescriptionId": "RX-2026-0042"}
GENERIC_ANSWERS = {"service-description": "Example drug, 90 tablets for 90 days", "icd10": "M17.11",
                   "clinical-rationale": "Failed two first-line agents", "prior-treatments-tried": False,
                   "documents-attached": False}


def drug_case(urgency: str = "standard", **service) -> dict:
    answers = GENERIC_ANSWERS | {"urgency": urgency}
    if urgency == "expedited":
        answers["expedited-reason"] = "Rapidly progressing disease"
    return tka_case(service=DRUG | service, answers=answers, urgency=urgency, externalId="rx-case")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _sandbox(auth_id: str) -> str:
    return f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events"


async def _events(client, auth_id: str) -> list[dict]:
    return (await client.get(f"{A}/{auth_id}/events", params={"limit": 100})).json()["data"]


async def _payload(client, auth_id: str) -> dict:
    """The medication_pa body for the latest event, from the real GET views."""
    auth = (await client.get(f"{A}/{auth_id}")).json()
    attachments = (await client.get(f"{A}/{auth_id}/attachments")).json()["data"]
    return medication_pa_payload(auth, (await _events(client, auth_id))[-1], attachments)


async def _pending(client, case: dict | None = None) -> dict:
    created = await client.post(A, json=case or drug_case())
    assert created.status_code == 201, created.text
    assert created.json()["workflowState"] == "ready_to_submit", created.json()["validationIssues"]
    submitted = await client.post(f"{A}/{created.json()['id']}/submit")
    assert submitted.status_code == 200, submitted.text
    return submitted.json()


async def _denied(client) -> dict:
    auth = await _pending(client)
    denied = await client.post(_sandbox(auth["id"]), json={"type": "denial", "denialReasonCode": "NMN",
                                                            "denialReasonMessage": "Step therapy not met"})
    assert denied.json()["decisionState"] == "denied", denied.text
    return denied.json()


def _status(p: dict) -> tuple[str, int]:
    return p["status"], p["status_code"]


# ---------------------------------------------------------------- medication fields

async def test_medication_fields_are_stored_and_reach_the_payload(client):
    auth = await _pending(client)
    assert {k: auth["service"][k] for k in ("prescriptionId", "refills", "numberOfCycles", "pharmacyType")} == {
        "prescriptionId": "RX-2026-0042", "refills": 3, "numberOfCycles": 2, "pharmacyType": "SpecialtyPharmacy"}
    p = await _payload(client, auth["id"])
    assert p["prescription_id"] == stable_id("RX-2026-0042")
    final = p["final_status"]
    assert final["pharmacy_type"] == "SpecialtyPharmacy"
    assert (final["quantity"], final["days_supply"], final["number_of_refills"], final["number_of_cycles"]) == (
        "90", "90", "3", "2")  # requested values while the payer decides


@pytest.mark.parametrize(("field", "value"), [
    ("pharmacyType", "Walgreens"), ("pharmacyType", "retail"), ("refills", -1), ("refills", 100),
    ("numberOfCycles", 0), ("numberOfCycles", 100), ("prescriptionId", ""), ("prescriptionId", "x" * 65),
    ("refills", 1.5)])
async def test_medication_fields_are_validated(client, field, value):
    bad = await client.post(A, json=drug_case(**{field: value}))
    assert bad.status_code == 422, bad.text
    error = bad.json()["error"]
    assert error["code"] == "validation_failed"
    assert any(field in issue["path"] for issue in error["issues"]), error["issues"]
    ok = (await client.post(A, json=drug_case())).json()
    patched = await client.patch(f"{A}/{ok['id']}", json={"service": {field: value}})
    assert patched.status_code == 422 and patched.json()["error"]["code"] == "validation_failed"


async def test_every_pharmacy_type_is_accepted(client):
    auth = (await client.post(A, json=drug_case(pharmacyType="Retail"))).json()
    for name in PHARMACY_TYPE.values():
        patched = await client.patch(f"{A}/{auth['id']}", json={"service": {"pharmacyType": name}})
        assert patched.status_code == 200, patched.text
        assert (await _payload(client, auth["id"]))["final_status"]["pharmacy_type"] == name
    cleared = await client.patch(f"{A}/{auth['id']}", json={"service": {"pharmacyType": None}})
    assert (await _payload(client, cleared.json()["id"]))["final_status"]["pharmacy_type"] == "Unknown"


# ---------------------------------------------------------------- deadlines and expedited

@pytest.mark.parametrize(("urgency", "window", "expedited"), [
    ("standard", timedelta(days=7), False), ("expedited", timedelta(hours=72), True)])
async def test_submission_starts_the_payer_clock(client, urgency, window, expedited):
    auth = await _pending(client, drug_case(urgency=urgency))
    due = auth["payerResponseDueAt"]
    committed = next(e for e in await _events(client, auth["id"]) if e["type"] == "prior_auth.submission.submitted")
    gap = _time(committed["createdAt"]) + window - _time(due)
    assert timedelta(0) <= gap < timedelta(seconds=5)
    p = await _payload(client, auth["id"])
    assert _status(p) == ("pending", 6)
    assert p["next_response_deadline"] == p["expected_response_date"] == due  # the payer answers next
    assert p["expedited"] is expedited
    assert (await client.get(f"{A}/{auth['id']}")).json()["payerResponseDueAt"] == due


async def test_request_for_information_gives_the_provider_deadline(client):
    auth = await _pending(client)
    before = len(await _events(client, auth["id"]))
    past = await client.post(_sandbox(auth["id"]), json={"type": "more_info_request", "message": "Send labs",
                                                         "responseDueBy": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422 and past.json()["error"]["issues"][0]["path"] == "responseDueBy"
    bad = await client.post(_sandbox(auth["id"]), json={"type": "more_info_request", "message": "Send labs",
                                                        "responseDueBy": "next week"})
    assert bad.status_code == 422
    assert len(await _events(client, auth["id"])) == before  # nothing was written
    assert (await client.get(f"{A}/{auth['id']}")).json()["workflowState"] == "pending_payer"

    due = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    asked = await client.post(_sandbox(auth["id"]), json={
        "type": "more_info_request", "message": "Send labs",
        "responseDueBy": due.astimezone(timezone(timedelta(hours=-5))).isoformat()})
    assert asked.status_code == 200, asked.text
    expected = due.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    action = asked.json()["openActions"][0]
    assert action["details"]["responseDueBy"] == expected  # normalized to UTC
    assert asked.json()["decisionDetails"]["responseDueBy"] == expected
    p = await _payload(client, auth["id"])
    assert _status(p) == ("action required", 5)
    assert p["next_response_deadline"] == expected and p["expected_response_date"] is None
    assert p["attachment_required"] is True


async def test_request_without_deadline_has_no_next_deadline(client):
    auth = await _pending(client)
    await client.post(_sandbox(auth["id"]), json={"type": "more_info_request", "message": "Send labs"})
    p = await _payload(client, auth["id"])
    assert p["next_response_deadline"] is None and p["expected_response_date"] is None


# ---------------------------------------------------------------- partial denial and appeals

async def test_partial_denial_then_appeal_then_full_approval(client):
    auth = await _pending(client)
    auth_id = auth["id"]
    too_much = await client.post(_sandbox(auth_id), json={"type": "approval", "certificationNumber": "C-1",
                                                          "approvedQuantity": 120, "approvedRefills": 4})
    assert too_much.status_code == 422
    assert [i["path"] for i in too_much.json()["error"]["issues"]] == ["approvedQuantity", "approvedRefills"]
    assert (await client.get(f"{A}/{auth_id}")).json()["workflowState"] == "pending_payer"

    approved = await client.post(_sandbox(auth_id), json={
        "type": "approval", "certificationNumber": "C-1", "approvedQuantity": 30, "approvedDaysSupply": 90,
        "approvedRefills": 1, "approvedStartDate": "2026-12-01", "approvedEndDate": "2027-02-28"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["workflowState"], body["decisionState"]) == ("completed", "approved")
    assert body["decisionDetails"]["partialDenial"] == {"quantity": {"requested": 90, "approved": 30},
                                                        "refills": {"requested": 3, "approved": 1}}
    partial = await _payload(client, auth_id)
    assert _status(partial) == ("partially denied", 15)
    final = partial["final_status"]
    assert (final["prior_authorization_status"], final["prior_authorization_status_code"]) == ("partially denied", 15)
    assert (final["quantity"], final["days_supply"], final["number_of_refills"], final["number_of_cycles"]) == (
        "30", "90", "1", "2")  # the approved amounts
    assert final["authorization_number"] == "C-1" and final["can_appeal"] is True
    assert partial["next_response_deadline"] is None and partial["expected_response_date"] is None

    upload = (await client.post("/v1/files", files={"file": ("lmn.pdf", tiny_pdf("LMN"), "application/pdf")})).json()
    attached = await client.post(f"{A}/{auth_id}/attachments", json={"fileId": upload["id"], "category": "appeal"})
    assert attached.status_code == 201, attached.text  # a completed case that can be appealed takes attachments
    appealed = await client.post(f"{A}/{auth_id}/appeal", json={
        "reason": "90 tablets are needed for the titration", "notes": "See the letter of medical necessity",
        "attachmentIds": [attached.json()["id"]]})
    assert appealed.status_code == 200, appealed.text
    body = appealed.json()
    assert (body["workflowState"], body["decisionState"]) == ("pending_payer", "pending")
    assert appealed.headers["etag"] == f'"{body["version"]}"' and body["completedAt"] is None
    appeal = body["appeal"]
    assert appeal["id"].startswith("apl_") and appeal["status"] == "requested"
    assert (appeal["reason"], appeal["notes"], appeal["attachmentIds"]) == (
        "90 tablets are needed for the titration", "See the letter of medical necessity", [attached.json()["id"]])
    assert appeal["appealedDecision"] == "approved" and appeal["requestedAt"] and "requestHash" not in appeal
    assert body["decisionDetails"]["partialDenial"]  # the appealed decision stays visible until the payer decides
    gap = _time(appeal["requestedAt"]) + timedelta(days=7) - _time(body["payerResponseDueAt"])
    assert timedelta(0) <= gap < timedelta(seconds=5)  # a new payer clock for the appeal

    events = await _events(client, auth_id)
    assert [e["type"] for e in events[-2:]] == ["prior_auth.appeal.requested", "prior_auth.status.changed"]
    assert events[-2]["data"] == {"appealId": appeal["id"], "appealedDecision": "approved",
                                  "attachmentIds": [attached.json()["id"]]}
    assert events[-1]["data"]["reason"] == "appeal requested"
    assert events[-1]["data"]["current"] == {"workflowState": "pending_payer", "decisionState": "pending"}

    pending = await _payload(client, auth_id)
    assert _status(pending) == ("appeal requested", 9)
    assert pending["appeal_details"] == {"appeal_case_id": appeal["id"],
                                         "notes_for_appeal": "See the letter of medical necessity",
                                         "appeal_reason": "90 tablets are needed for the titration"}
    assert pending["final_status"]["can_appeal"] is False
    assert pending["next_response_deadline"] == pending["expected_response_date"] == body["payerResponseDueAt"]

    again = await client.post(f"{A}/{auth_id}/appeal", json={"reason": "again"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "appeal_already_requested"
    assert again.json()["error"]["details"] == {"appealId": appeal["id"]}

    full = await client.post(_sandbox(auth_id), json={"type": "approval", "certificationNumber": "C-2"})
    assert full.status_code == 200, full.text
    body = full.json()
    assert (body["workflowState"], body["decisionState"]) == ("completed", "approved")
    assert "partialDenial" not in body["decisionDetails"] and body["completedAt"]
    assert body["appeal"]["status"] == "resolved" and body["appeal"]["outcome"] == "approved"
    events = await _events(client, auth_id)
    assert [e["type"] for e in events[-4:]] == ["prior_auth.payer.response_received", "prior_auth.appeal.decided",
                                                "prior_auth.status.changed", "prior_auth.completed"]
    done = await _payload(client, auth_id)
    assert _status(done) == ("approved", 7)
    assert done["appeal_details"]["appeal_case_id"] == appeal["id"]  # kept visible after the decision
    assert done["final_status"]["can_appeal"] is False and done["final_status"]["quantity"] == "90"
    still = await client.post(f"{A}/{auth_id}/appeal", json={"reason": "again"})
    assert still.status_code == 409 and still.json()["error"]["code"] == "appeal_already_requested"

    # The history keeps its statuses: the appeal did not re-label the first submission's "pending".
    auth_view = (await client.get(f"{A}/{auth_id}")).json()
    changes = [medication_pa_payload(auth_view, e, []) for e in events if e["type"] == "prior_auth.status.changed"]
    assert [p["status_code"] for p in changes] == [6, 6, 7, 9, 7]


async def test_appeal_of_a_denial_is_denied_again(client):
    auth = await _denied(client)
    p = await _payload(client, auth["id"])
    assert _status(p) == ("denied", 8) and p["final_status"]["can_appeal"] is True
    key = {"Idempotency-Key": f"appeal-{auth['id']}"}
    appealed = await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "Step therapy was met"}, headers=key)
    assert appealed.status_code == 200 and "idempotent-replayed" not in appealed.headers
    assert appealed.json()["appeal"]["appealedDecision"] == "denied"
    assert appealed.json()["appeal"]["notes"] is None and appealed.json()["appeal"]["attachmentIds"] == []
    replay = await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "Step therapy was met"}, headers=key)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["appeal"]["id"] == appealed.json()["appeal"]["id"]
    assert replay.json()["version"] == appealed.json()["version"]
    other_body = await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "different"}, headers=key)
    assert other_body.status_code == 409
    assert other_body.json()["error"]["code"] == "idempotency_key_reused_with_different_request"
    appeal_events = [e for e in await _events(client, auth["id"]) if e["type"] == "prior_auth.appeal.requested"]
    assert len(appeal_events) == 1

    denied = await client.post(_sandbox(auth["id"]), json={"type": "denial", "denialReasonCode": "NMN",
                                                            "denialReasonMessage": "Upheld on appeal"})
    assert (denied.json()["workflowState"], denied.json()["decisionState"]) == ("completed", "denied")
    assert denied.json()["appeal"]["outcome"] == "denied"
    p = await _payload(client, auth["id"])
    assert _status(p) == ("denied", 8) and p["note"] == "Upheld on appeal"
    assert p["final_status"]["can_appeal"] is False and p["appeal_details"]["appeal_reason"] == "Step therapy was met"


async def test_appeal_is_refused_outside_a_denial(client):
    auth = await _pending(client)
    early = await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "too early"})
    assert early.status_code == 409
    error = early.json()["error"]
    assert error["code"] == "invalid_state_transition"
    assert error["details"] == {"workflowState": "pending_payer", "operation": "appeal"}

    approved = await client.post(_sandbox(auth["id"]), json={"type": "approval", "certificationNumber": "C-9",
                                                              "approvedQuantity": 90})
    assert "partialDenial" not in approved.json()["decisionDetails"]  # the full quantity: no partial denial
    p = await _payload(client, auth["id"])
    assert _status(p) == ("approved", 7) and p["final_status"]["can_appeal"] is False
    full = await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "nothing to appeal"})
    assert full.status_code == 409
    assert full.json()["error"]["details"] == {"workflowState": "completed", "decisionState": "approved",
                                               "operation": "appeal"}
    upload = (await client.post("/v1/files", files={"file": ("a.pdf", tiny_pdf(), "application/pdf")})).json()
    attach = await client.post(f"{A}/{auth['id']}/attachments", json={"fileId": upload["id"]})
    assert attach.status_code == 409 and attach.json()["error"]["code"] == "invalid_state_transition"

    cancelled = (await client.post(A, json=drug_case())).json()
    await client.post(f"{A}/{cancelled['id']}/cancel")
    refused = await client.post(f"{A}/{cancelled['id']}/appeal", json={"reason": "x"})
    assert refused.status_code == 409 and refused.json()["error"]["details"]["workflowState"] == "cancelled"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 2001},
                                  {"reason": "ok", "notes": "n" * 4001}, {"reason": "ok", "extra": 1},
                                  {"reason": "ok", "attachmentIds": "att_1"}])
async def test_appeal_body_is_validated(client, body):
    auth = await _denied(client)
    bad = await client.post(f"{A}/{auth['id']}/appeal", json=body)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"
    assert (await client.get(f"{A}/{auth['id']}")).json()["workflowState"] == "completed"


async def test_appeal_attachments_must_belong_to_the_authorization(client):
    auth = await _denied(client)
    other = (await client.post(A, json=drug_case())).json()
    upload = (await client.post("/v1/files", files={"file": ("a.pdf", tiny_pdf(), "application/pdf")})).json()
    foreign = (await client.post(f"{A}/{other['id']}/attachments", json={"fileId": upload["id"]})).json()
    bad = await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "ok", "attachmentIds": [foreign["id"]]})
    assert bad.status_code == 422
    assert bad.json()["error"]["issues"][0]["path"] == "attachmentIds[0]"
    after = (await client.get(f"{A}/{auth['id']}")).json()
    assert after["workflowState"] == "completed" and after["appeal"] is None


async def test_cancel_during_an_appeal_withdraws_it(client):
    auth = await _denied(client)
    await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "ok"})
    cancelled = (await client.post(f"{A}/{auth['id']}/cancel", json={"reason": "patient switched plans"})).json()
    assert cancelled["workflowState"] == "cancelled"
    assert (cancelled["appeal"]["status"], cancelled["appeal"]["outcome"]) == ("resolved", "withdrawn")
    p = await _payload(client, auth["id"])
    assert _status(p) == ("canceled", 11) and p["final_status"]["can_appeal"] is False


# ---------------------------------------------------------------- closed, deferred, cancel reasons, errors

@pytest.mark.parametrize(("reason", "status", "code"), [
    ("PriorAuthNotRequired", ("not required", 2), 3),
    ("PrescriptionWithinPrescribingLimitsPriorAuthorizationNotRequiredForPatientMedication", ("not required", 2), 19),
    ("ClosedByPayer", ("closed", 3), 8),
    ("PrescriberNotAllowedToSubmitPAReqest", ("closed", 3), 12),
    ("Unknown", ("closed", 3), 0),
])
async def test_payer_closes_the_case(client, reason, status, code):
    auth = await _pending(client)
    closed = await client.post(_sandbox(auth["id"]), json={"type": "closed", "closedReason": reason,
                                                            "message": "Closed by plan"})
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["workflowState"], body["decisionState"]) == ("completed", "unknown") and body["completedAt"]
    assert body["decisionDetails"]["closedReason"] == reason
    events = await _events(client, auth["id"])
    assert [e["type"] for e in events[-3:]] == ["prior_auth.payer.response_received", "prior_auth.status.changed",
                                                "prior_auth.completed"]
    assert events[-2]["data"]["reason"] == "payer closed"
    p = await _payload(client, auth["id"])
    assert _status(p) == status
    final = p["final_status"]
    assert (final["closed_reason"], final["closed_reason_code"]) == (reason, code)
    assert (final["prior_authorization_status"], final["prior_authorization_status_code"]) == status
    assert final["can_appeal"] is False and final["note"] == p["note"] == "Closed by plan"
    status_change = medication_pa_payload(body, events[-2], [])
    assert _status(status_change) == status
    refused = await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "x"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invalid_state_transition"


@pytest.mark.parametrize("body", [{"type": "closed"}, {"type": "closed", "closedReason": "closedbypayer"},
                                  {"type": "closed", "closedReason": "ClosedByPayer", "message": ""},
                                  {"type": "deferred", "message": "x" * 2001}])
async def test_closed_and_deferred_events_are_validated(client, body):
    auth = await _pending(client)
    bad = await client.post(_sandbox(auth["id"]), json=body)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"


async def test_every_closed_reason_is_accepted(client):
    for reason in CLOSED_REASON.values():
        auth = await _pending(client, complete_tka_case())
        closed = await client.post(_sandbox(auth["id"]), json={"type": "closed", "closedReason": reason})
        assert closed.status_code == 200, (reason, closed.text)
        assert (await _payload(client, auth["id"]))["final_status"]["closed_reason"] == reason


@pytest.mark.parametrize(("body", "reason", "code"), [
    (None, "ClosedByProvider", 9), ({"reason": "duplicate"}, "ClosedByProvider", 9),
    ({"closedReason": "ClosedByProvider"}, "ClosedByProvider", 9),
    ({"reason": "member asked", "closedReason": "ClosedByMember"}, "ClosedByMember", 10)])
async def test_cancel_closed_reason(client, body, reason, code):
    auth = await _pending(client)
    cancelled = await client.post(f"{A}/{auth['id']}/cancel", json=body)
    assert cancelled.status_code == 200, cancelled.text
    expected_reason = (body or {}).get("reason", "cancelled by client")
    assert cancelled.json()["cancellation"] == {"reason": expected_reason, "closedReason": reason}
    p = await _payload(client, auth["id"])
    assert _status(p) == ("canceled", 11)
    assert (p["final_status"]["closed_reason"], p["final_status"]["closed_reason_code"]) == (reason, code)
    assert p["cancel_details"] == {"cancel_reason": expected_reason}
    # Any later event (not the status change) still shows the cancel's reason.
    view = (await client.get(f"{A}/{auth['id']}")).json()
    assert medication_pa_payload(view, {"type": "ping", "createdAt": view["updatedAt"]}, [])["cancel_details"] == {
        "cancel_reason": expected_reason}


@pytest.mark.parametrize("closed_reason", ["ClosedByPayer", "PriorAuthNotRequired", "closedbymember"])
async def test_cancel_refuses_payer_closed_reasons(client, closed_reason):
    auth = (await client.post(A, json=drug_case())).json()
    bad = await client.post(f"{A}/{auth['id']}/cancel", json={"closedReason": closed_reason})
    assert bad.status_code == 422 and bad.json()["error"]["issues"][0]["path"].endswith("closedReason")
    assert (await client.get(f"{A}/{auth['id']}")).json()["workflowState"] == "ready_to_submit"


async def test_payer_defers_then_decides(client):
    auth = await _pending(client)
    before = (await client.get(f"{A}/{auth['id']}")).json()
    deferred = await client.post(_sandbox(auth["id"]), json={"type": "deferred", "message": "Awaiting review"})
    assert deferred.status_code == 200, deferred.text
    body = deferred.json()
    assert (body["workflowState"], body["decisionState"]) == ("pending_payer", "pending")
    assert body["decisionDetails"]["type"] == "deferred" and body["version"] == before["version"] + 1
    assert body["payerResponseDueAt"] == before["payerResponseDueAt"]
    events = await _events(client, auth["id"])
    assert events[-1]["type"] == "prior_auth.payer.response_received" and events[-1]["data"]["type"] == "deferred"
    p = await _payload(client, auth["id"])
    assert _status(p) == ("deferred", 4) and p["note"] == "Awaiting review"
    assert p["next_response_deadline"] == body["payerResponseDueAt"]
    # The earlier "pending" status change is not re-labelled by the later deferral.
    submitted = [e for e in events if e["type"] == "prior_auth.status.changed"][-1]
    assert _status(medication_pa_payload(body, submitted, [])) == ("pending", 6)
    again = await client.post(_sandbox(auth["id"]), json={"type": "deferred"})
    assert again.status_code == 200
    approved = await client.post(_sandbox(auth["id"]), json={"type": "approval", "certificationNumber": "C-3"})
    assert approved.json()["decisionState"] == "approved"
    assert _status(await _payload(client, auth["id"])) == ("approved", 7)


async def test_failed_submission_shows_error_until_a_submission_succeeds(client, monkeypatch):
    auth = (await client.post(A, json=drug_case())).json()

    async def refuse(self, outbound):
        raise ConnectionError("payer endpoint unreachable")

    monkeypatch.setattr(channels.SandboxChannel, "send", refuse)
    failed = await client.post(f"{A}/{auth['id']}/submit")
    assert failed.status_code == 502
    attempt_id = failed.json()["error"]["details"]["submissionAttemptId"]
    view = (await client.get(f"{A}/{auth['id']}")).json()
    assert view["workflowState"] == "ready_to_submit"
    assert view["submissionError"]["submissionAttemptId"] == attempt_id
    assert view["submissionError"]["code"] == "channel_error" and view["submissionError"]["failedAt"]
    p = await _payload(client, auth["id"])
    assert _status(p) == ("error", 13)
    # A later event of the same state still says error; the creation event's "requested" is not re-labelled.
    events = await _events(client, auth["id"])
    assert _status(medication_pa_payload(view, {"type": "ping", "createdAt": view["updatedAt"]}, [])) == ("error", 13)
    assert _status(medication_pa_payload(view, events[0], [])) == ("requested", 1)

    monkeypatch.undo()
    retried = await client.post(f"{A}/{auth['id']}/submit")
    assert retried.status_code == 200, retried.text
    assert retried.json()["submissionError"] is None
    assert _status(await _payload(client, auth["id"])) == ("pending", 6)


# ---------------------------------------------------------------- payer-confirmed cancels, deleted drafts

async def _cancel_requested(client, body: dict | None = None) -> dict:
    auth = await _pending(client)
    requested = await client.post(f"{A}/{auth['id']}/cancel", json={"payerConfirmation": True} | (body or {}))
    assert requested.status_code == 200, requested.text
    return requested.json()


async def test_cancel_request_then_payer_confirms(client):
    auth = await _pending(client)
    before = (await client.get(f"{A}/{auth['id']}")).json()
    requested = await client.post(f"{A}/{auth['id']}/cancel", json={
        "payerConfirmation": True, "reason": "patient stopped the drug", "closedReason": "ClosedByMember"})
    assert requested.status_code == 200, requested.text
    body = requested.json()
    assert (body["workflowState"], body["decisionState"]) == ("pending_payer", "pending")
    assert body["cancelledAt"] is None and body["version"] == before["version"] + 1
    assert requested.headers["etag"] == f'"{body["version"]}"'
    cancellation = body["cancellation"]
    assert {k: cancellation[k] for k in ("status", "reason", "closedReason")} == {
        "status": "requested", "reason": "patient stopped the drug", "closedReason": "ClosedByMember"}
    assert cancellation["requestedAt"]
    events = await _events(client, auth["id"])
    assert events[-1]["type"] == "prior_auth.cancel.requested"
    assert events[-1]["data"] == {"reason": "patient stopped the drug", "closedReason": "ClosedByMember"}
    p = await _payload(client, auth["id"])
    assert _status(p) == ("cancel requested", 10)
    assert p["cancel_details"] == {"cancel_reason": "patient stopped the drug"}
    assert p["final_status"]["prior_authorization_status"] is None and p["final_status"]["closed_reason"] is None

    again = await client.post(f"{A}/{auth['id']}/cancel", json={"payerConfirmation": True})
    assert again.status_code == 409 and again.json()["error"]["code"] == "cancel_already_requested"

    confirmed = await client.post(_sandbox(auth["id"]), json={"type": "cancel_confirmed"})
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert (body["workflowState"], body["decisionState"]) == ("cancelled", "pending") and body["cancelledAt"]
    assert body["cancellation"]["status"] == "confirmed" and body["cancellation"]["confirmedAt"]
    assert body["openActions"] == [] and body["deletedAt"] is None
    assert body["version"] == requested.json()["version"] + 1  # one version per operation
    events = await _events(client, auth["id"])
    assert [e["type"] for e in events[-2:]] == ["prior_auth.payer.response_received", "prior_auth.status.changed"]
    assert events[-2]["data"]["type"] == "cancel_confirmed"
    assert events[-1]["data"]["reason"] == "patient stopped the drug"
    p = await _payload(client, auth["id"])
    assert _status(p) == ("canceled", 11)
    assert (p["final_status"]["closed_reason"], p["final_status"]["closed_reason_code"]) == ("ClosedByMember", 10)
    assert p["cancel_details"] == {"cancel_reason": "patient stopped the drug"}
    # The request's own event keeps its status in the history.
    request_event = next(e for e in events if e["type"] == "prior_auth.cancel.requested")
    view = (await client.get(f"{A}/{auth['id']}")).json()
    assert _status(medication_pa_payload(view | {"workflowState": "pending_payer"}, request_event, [])) == (
        "cancel requested", 10)
    late = await client.post(_sandbox(auth["id"]), json={"type": "cancel_denied"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "invalid_state_transition"


async def test_cancel_confirmed_closes_open_actions_and_withdraws_an_appeal(client):
    auth = await _denied(client)
    await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "needed"})
    requested = await client.post(f"{A}/{auth['id']}/cancel", json={"payerConfirmation": True})
    assert requested.status_code == 200, requested.text
    assert _status(await _payload(client, auth["id"])) == ("cancel requested", 10)
    body = (await client.post(_sandbox(auth["id"]), json={"type": "cancel_confirmed"})).json()
    assert body["workflowState"] == "cancelled"
    assert (body["appeal"]["status"], body["appeal"]["outcome"]) == ("resolved", "withdrawn")
    assert body["cancellation"]["reason"] == "cancelled by client"
    p = await _payload(client, auth["id"])
    assert _status(p) == ("canceled", 11) and p["final_status"]["closed_reason_code"] == 9


async def test_cancel_request_denied_then_payer_approves(client):
    auth = await _cancel_requested(client, {"reason": "duplicate order"})
    denied = await client.post(_sandbox(auth["id"]), json={"type": "cancel_denied",
                                                            "message": "Dispensed already"})
    assert denied.status_code == 200, denied.text
    body = denied.json()
    assert (body["workflowState"], body["decisionState"]) == ("pending_payer", "pending")
    assert body["decisionDetails"] is None  # a cancel answer is not a decision on the request
    cancellation = body["cancellation"]
    assert (cancellation["status"], cancellation["message"], cancellation["reason"]) == (
        "denied", "Dispensed already", "duplicate order")
    assert cancellation["deniedAt"] and "endedAt" not in cancellation
    events = await _events(client, auth["id"])
    assert [e["type"] for e in events[-2:]] == ["prior_auth.payer.response_received", "prior_auth.cancel.denied"]
    assert events[-1]["data"] == {"message": "Dispensed already"}
    p = await _payload(client, auth["id"])
    assert _status(p) == ("cancel denied", 12)
    assert p["cancel_details"] == {"cancel_reason": "duplicate order"}
    assert p["final_status"]["closed_reason"] is None

    for body in ({"type": "cancel_denied"}, {"type": "cancel_confirmed"}):
        refused = await client.post(_sandbox(auth["id"]), json=body)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_cancel_requested"
    deferred = await client.post(_sandbox(auth["id"]), json={"type": "deferred"})
    assert deferred.status_code == 200
    assert _status(await _payload(client, auth["id"])) == ("cancel denied", 12)  # no status change yet

    approved = await client.post(_sandbox(auth["id"]), json={"type": "approval", "certificationNumber": "C-9"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["workflowState"], body["decisionState"]) == ("completed", "approved")
    assert body["cancellation"]["status"] == "denied" and body["cancellation"]["endedAt"]
    p = await _payload(client, auth["id"])
    assert _status(p) == ("approved", 7) and p["cancel_details"] == {"cancel_reason": None}
    # Each event keeps its own status: 10 while requested, 12 after the denial.
    view = (await client.get(f"{A}/{auth['id']}")).json()
    events = await _events(client, auth["id"])
    labels = {e["type"]: _status(medication_pa_payload(view | {"workflowState": "pending_payer"}, e, []))[1]
              for e in events if e["type"] in ("prior_auth.cancel.requested", "prior_auth.cancel.denied")}
    assert labels == {"prior_auth.cancel.requested": 10, "prior_auth.cancel.denied": 12}


async def test_open_cancel_request_superseded_by_a_decision(client):
    auth = await _cancel_requested(client)
    denied = await client.post(_sandbox(auth["id"]), json={"type": "denial", "denialReasonCode": "NMN",
                                                            "denialReasonMessage": "Step therapy not met"})
    body = denied.json()
    assert (body["workflowState"], body["decisionState"]) == ("completed", "denied")
    assert body["cancellation"]["status"] == "superseded" and body["cancellation"]["endedAt"]
    p = await _payload(client, auth["id"])
    assert _status(p) == ("denied", 8) and p["cancel_details"] == {"cancel_reason": None}
    # A new request is possible once the case is back with the payer (here: an appeal).
    await client.post(f"{A}/{auth['id']}/appeal", json={"reason": "needed"})
    assert _status(await _payload(client, auth["id"])) == ("appeal requested", 9)
    again = await client.post(f"{A}/{auth['id']}/cancel", json={"payerConfirmation": True})
    assert again.status_code == 200 and again.json()["cancellation"]["status"] == "requested"
    assert _status(await _payload(client, auth["id"])) == ("cancel requested", 10)


async def test_immediate_cancel_during_a_cancel_request(client):
    auth = await _cancel_requested(client)
    cancelled = await client.post(f"{A}/{auth['id']}/cancel", json={"reason": "now"})
    assert cancelled.status_code == 200 and cancelled.json()["workflowState"] == "cancelled"
    assert cancelled.json()["cancellation"] == {"reason": "now", "closedReason": "ClosedByProvider"}
    refused = await client.post(_sandbox(auth["id"]), json={"type": "cancel_confirmed"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invalid_state_transition"


async def test_cancel_request_errors(client):
    draft = (await client.post(A, json=drug_case())).json()
    refused = await client.post(f"{A}/{draft['id']}/cancel", json={"payerConfirmation": True})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "invalid_state_transition"
    assert error["details"] == {"workflowState": "ready_to_submit", "operation": "cancel_request"}
    for bad in ({"payerConfirmation": "yes"}, {"payerConfirmation": 1}, {"payerConfirmation": None},
                {"payerConfirmation": True, "closedReason": "ClosedByPayer"}):
        invalid = await client.post(f"{A}/{draft['id']}/cancel", json=bad)
        assert invalid.status_code == 422, (bad, invalid.text)
        assert invalid.json()["error"]["code"] == "validation_failed"
    explicit_false = await client.post(f"{A}/{draft['id']}/cancel", json={"payerConfirmation": False})
    assert explicit_false.status_code == 200 and explicit_false.json()["workflowState"] == "cancelled"

    auth = await _pending(client)
    before = len(await _events(client, auth["id"]))
    for body in ({"type": "cancel_confirmed"}, {"type": "cancel_denied", "message": "no"}):
        none_open = await client.post(_sandbox(auth["id"]), json=body)
        assert none_open.status_code == 409 and none_open.json()["error"]["code"] == "no_cancel_requested"
    assert len(await _events(client, auth["id"])) == before  # nothing was written
    await client.post(f"{A}/{auth['id']}/cancel", json={"payerConfirmation": True})
    for bad in ({"type": "cancel_denied", "message": ""}, {"type": "cancel_confirmed", "message": "x"},
                {"type": "cancel_denied", "message": "x" * 2001}):
        invalid = await client.post(_sandbox(auth["id"]), json=bad)
        assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "validation_failed", bad
    assert (await client.get(f"{A}/{auth['id']}")).json()["cancellation"]["status"] == "requested"


@pytest.mark.parametrize("complete", [False, True])
async def test_delete_a_draft(client, complete):
    created = (await client.post(A, json=drug_case() if complete else tka_case())).json()
    assert created["workflowState"] == ("ready_to_submit" if complete else "needs_input")
    assert created["deletedAt"] is None
    deleted = await client.delete(f"{A}/{created['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    view = (await client.get(f"{A}/{created['id']}"))
    assert view.status_code == 200
    body = view.json()
    assert (body["workflowState"], body["decisionState"]) == ("cancelled", "unknown")
    assert body["deletedAt"] and body["cancelledAt"] == body["deletedAt"] and body["openActions"] == []
    assert body["version"] == created["version"] + 1
    events = await _events(client, created["id"])
    assert [e["type"] for e in events[-2:]] == ["prior_auth.authorization.deleted", "prior_auth.status.changed"]
    assert events[-1]["data"]["reason"] == "deleted"
    p = await _payload(client, created["id"])
    assert _status(p) == ("deleted", 14)
    final = p["final_status"]
    assert (final["prior_authorization_status"], final["prior_authorization_status_code"]) == ("deleted", 14)
    assert (final["closed_reason"], final["closed_reason_code"]) == ("ClosedByProvider", 9)
    assert p["cancel_details"] == {"cancel_reason": None} and p["status_date"] == events[-1]["createdAt"]
    later = medication_pa_payload(body, {"type": "ping", "createdAt": body["updatedAt"]}, [])
    assert _status(later) == ("deleted", 14) and later["status_date"] == body["cancelledAt"]
    # Idempotent: deleting again changes nothing.
    again = await client.delete(f"{A}/{created['id']}")
    assert again.status_code == 204
    assert (await client.get(f"{A}/{created['id']}")).json()["version"] == body["version"]
    assert len(await _events(client, created["id"])) == len(events)
    listed = (await client.get(A, params={"workflowState": "cancelled"})).json()["data"]
    assert created["id"] in [a["id"] for a in listed]  # nothing is erased


async def test_a_draft_with_validation_issues_is_deleted_but_not_a_case_the_payer_questions(client):
    draft = (await client.post(A, json=tka_case())).json()
    patched = await client.patch(f"{A}/{draft['id']}", json={"answers": {"icd10": "M17.11"}})
    assert patched.json()["workflowState"] == "action_required"  # never submitted: still a draft
    assert (await client.delete(f"{A}/{draft['id']}")).status_code == 204
    assert (await client.get(f"{A}/{draft['id']}")).json()["deletedAt"] is not None
    asked = await _pending(client)
    await client.post(_sandbox(asked["id"]), json={"type": "more_info_request", "message": "Send the notes"})
    refused = await client.delete(f"{A}/{asked['id']}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "authorization_submitted"
    assert (await client.get(f"{A}/{asked['id']}")).json()["workflowState"] == "action_required"


async def test_delete_refused_once_submitted(client):
    auth = await _pending(client)
    refused = await client.delete(f"{A}/{auth['id']}")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "invalid_state_transition"
    assert error["details"] == {"workflowState": "pending_payer", "operation": "delete"}
    cancelled = (await client.post(A, json=drug_case())).json()
    await client.post(f"{A}/{cancelled['id']}/cancel")
    refused = await client.delete(f"{A}/{cancelled['id']}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invalid_state_transition"
    assert (await client.get(f"{A}/{cancelled['id']}")).json()["deletedAt"] is None
    missing = await client.delete(f"{A}/auth_missing")
    assert missing.status_code == 404


async def test_delete_refused_after_a_failed_submission(client, monkeypatch):
    auth = (await client.post(A, json=drug_case())).json()

    async def refuse(self, outbound):
        raise ConnectionError("payer endpoint unreachable")

    monkeypatch.setattr(channels.SandboxChannel, "send", refuse)
    assert (await client.post(f"{A}/{auth['id']}/submit")).status_code == 502
    refused = await client.delete(f"{A}/{auth['id']}")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "authorization_submitted" and error["details"]["submissionAttemptId"]
    view = (await client.get(f"{A}/{auth['id']}")).json()
    assert view["workflowState"] == "ready_to_submit" and view["deletedAt"] is None


async def test_reachable_statuses_are_documented():
    """Every status code is either reached by a test in this module or named unreachable in docs/webhooks.md."""
    reached = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
    unreachable = set(medication_pa.STATUS) - reached
    assert unreachable == {0}
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    table = doc[doc.index("### Every status value"):doc.index("### Every closed_reason value")]
    for code in unreachable:
        row = next(line for line in table.splitlines() if line.startswith(f"| {code} |"))
        assert "not reachable" in row
    for code in reached:
        row = next(line for line in table.splitlines() if line.startswith(f"| {code} |"))
        assert "not reachable" not in row, row
    assert "not reachable yet" not in doc
