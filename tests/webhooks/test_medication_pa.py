"""The `medication_pa` payload, built from authorizations driven through the real lifecycle over HTTP."""

from __future__ import annotations

import hashlib
import re

from priorauth.webhooks.medication_pa import (
    APPEAL_DETAILS_FIELDS,
    ATTACHMENT_FIELDS,
    CANCEL_DETAILS_FIELDS,
    CLOSED_REASON,
    FIELDS,
    FINAL_STATUS_FIELDS,
    PHARMACY_TYPE,
    STATUS,
    case_id_for,
    medication_pa_payload,
    stable_id,
    status_code_for,
    utc_string,
)
from tests.cases import TKA_ANSWERS, complete_tka_case, tiny_pdf, tka_case

A = "/v1/prior-auth/authorizations"
UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE_FIELDS = ("initialized_date", "next_response_deadline", "status_date", "expected_response_date")


async def _snapshot(client, auth_id: str) -> tuple[dict, list[dict], list[dict]]:
    auth = (await client.get(f"{A}/{auth_id}")).json()
    events = (await client.get(f"{A}/{auth_id}/events", params={"limit": 100})).json()["data"]
    attachments = (await client.get(f"{A}/{auth_id}/attachments")).json()["data"]
    return auth, events, attachments


async def _payload(client, auth_id: str) -> dict:
    """The payload for the authorization's latest event, as a delivery of it would carry."""
    auth, events, attachments = await _snapshot(client, auth_id)
    payload = medication_pa_payload(auth, events[-1], attachments)
    _check_shape(payload)
    return payload


def _check_shape(p: dict) -> None:
    assert list(p) == list(FIELDS)
    assert set(p) == {"case_id", "prescription_id", "case_alias", "note", "offline", "initialized_date",
                      "next_response_deadline", "status", "status_code", "status_date", "expected_response_date",
                      "attachment_required", "next_question_id", "expedited", "final_status", "appeal_details",
                      "cancel_details", "attachments"}
    assert set(p["final_status"]) == set(FINAL_STATUS_FIELDS) == {
        "prior_authorization_status", "prior_authorization_status_code", "closed_reason", "closed_reason_code",
        "authorization_number", "authorization_period_start", "authorization_period_end", "pharmacy_type",
        "quantity", "days_supply", "number_of_cycles", "number_of_refills", "note", "can_appeal"}
    assert set(p["appeal_details"]) == set(APPEAL_DETAILS_FIELDS) == {"appeal_case_id", "notes_for_appeal",
                                                                       "appeal_reason"}
    assert set(p["cancel_details"]) == set(CANCEL_DETAILS_FIELDS) == {"cancel_reason"}
    assert type(p["case_id"]) is int and 0 < p["case_id"] < 2**53
    assert p["prescription_id"] is None or (type(p["prescription_id"]) is int and 0 < p["prescription_id"] < 2**53)
    assert p["offline"] is False and p["next_question_id"] is None
    assert type(p["attachment_required"]) is bool and type(p["expedited"]) is bool
    assert STATUS[p["status_code"]] == p["status"]
    for name in DATE_FIELDS:
        assert p[name] is None or UTC.match(p[name]), (name, p[name])
    assert UTC.match(p["initialized_date"]) and UTC.match(p["status_date"])
    final = p["final_status"]
    for name in ("authorization_period_start", "authorization_period_end"):
        assert final[name] is None or UTC.match(final[name])
    if final["prior_authorization_status_code"] is not None:
        assert STATUS[final["prior_authorization_status_code"]] == final["prior_authorization_status"]
    if final["closed_reason_code"] is not None:
        assert CLOSED_REASON[final["closed_reason_code"]] == final["closed_reason"]
    assert final["pharmacy_type"] in PHARMACY_TYPE.values()
    for name in ("quantity", "days_supply", "number_of_cycles", "number_of_refills"):
        assert final[name] is None or isinstance(final[name], str)
    assert type(final["can_appeal"]) is bool
    for attachment in p["attachments"]:
        assert set(attachment) == set(ATTACHMENT_FIELDS) == {"created_timestamp", "file_path"}
        assert UTC.match(attachment["created_timestamp"])


def _status(p: dict) -> tuple[str, int]:
    return p["status"], p["status_code"]


def test_enums_are_the_documents():
    assert len(STATUS) == 17 and list(STATUS) == list(range(17))
    assert (STATUS[5], STATUS[6], STATUS[7], STATUS[8], STATUS[11], STATUS[16]) == (
        "action required", "pending", "approved", "denied", "canceled", "in process")
    assert len(CLOSED_REASON) == 24 and CLOSED_REASON[9] == "ClosedByProvider"
    assert CLOSED_REASON[12] == "PrescriberNotAllowedToSubmitPAReqest"
    assert len(PHARMACY_TYPE) == 15 and PHARMACY_TYPE[0] == "Unknown" and PHARMACY_TYPE[14] == "FaxPharmacyExternal"


def test_every_lifecycle_state_pair_has_a_status():
    from priorauth.authorizations.states import DECISION_STATES, WORKFLOW_STATES

    for workflow in WORKFLOW_STATES:
        for decision in DECISION_STATES:
            assert status_code_for(workflow, decision) in STATUS
    assert status_code_for("nonsense", "unknown") == 0


def test_case_id_is_documented_sha256_prefix():
    digest = hashlib.sha256(b"auth_example").digest()
    assert case_id_for("auth_example") == int.from_bytes(digest, "big") >> (256 - 53)
    assert utc_string("2026-12-01") == "2026-12-01T00:00:00.000Z"
    assert utc_string("2027-03-01T01:00:00+01:00") == "2027-03-01T00:00:00.000Z"


async def test_more_info_then_approval(client):
    created = (await client.post(A, json=tka_case(urgency="expedited"))).json()
    auth_id = created["id"]
    first = await _payload(client, auth_id)
    assert _status(first) == ("requested", 1)
    assert first["case_alias"] == "ehr-1001" and first["expedited"] is True
    assert first["prescription_id"] is None  # a CPT procedure has no prescription
    assert first["final_status"]["prior_authorization_status"] is None
    assert first["attachments"] == [] and first["attachment_required"] is False

    await client.patch(f"{A}/{auth_id}", json={"answers": TKA_ANSWERS})
    assert _status(await _payload(client, auth_id)) == ("requested", 1)  # ready_to_submit
    await client.post(f"{A}/{auth_id}/submit", headers={"Idempotency-Key": f"s-{auth_id}-1"})
    pending = await _payload(client, auth_id)
    assert _status(pending) == ("pending", 6)

    sandbox = f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events"
    await client.post(sandbox, json={"type": "more_info_request", "message": "Send the latest X-ray report",
                                     "requestedDocuments": ["knee radiograph report"]})
    asked = await _payload(client, auth_id)
    assert _status(asked) == ("action required", 5)
    assert asked["attachment_required"] is True and asked["note"] == "Send the latest X-ray report"

    upload = (await client.post("/v1/files", files={"file": ("xray.pdf", tiny_pdf("X-ray"), "application/pdf")})).json()
    attached = (await client.post(f"{A}/{auth_id}/attachments", json={"fileId": upload["id"]})).json()
    action_id = (await client.get(f"{A}/{auth_id}/actions", params={"status": "open"})).json()["data"][0]["id"]
    with_file = await _payload(client, auth_id)
    assert with_file["attachments"] == [{"created_timestamp": attached["createdAt"],
                                         "file_path": f"/v1/files/{upload['id']}/content"}]
    assert (await client.get(with_file["attachments"][0]["file_path"])).status_code == 200

    await client.post(f"{A}/{auth_id}/actions/{action_id}/resolve", json={"attachmentIds": [attached["id"]]})
    answered = await _payload(client, auth_id)
    assert _status(answered) == ("in process", 16)  # ready_to_submit after the payer's request
    assert answered["attachment_required"] is False

    await client.post(f"{A}/{auth_id}/submit", headers={"Idempotency-Key": f"s-{auth_id}-2"})
    assert _status(await _payload(client, auth_id)) == ("pending", 6)
    await client.post(sandbox, json={"type": "approval", "certificationNumber": "CERT-778",
                                     "approvedStartDate": "2026-12-01", "approvedEndDate": "2027-02-28"})
    approved = await _payload(client, auth_id)
    assert _status(approved) == ("approved", 7)
    final = approved["final_status"]
    assert (final["prior_authorization_status"], final["prior_authorization_status_code"]) == ("approved", 7)
    assert final["authorization_number"] == "CERT-778"
    assert final["authorization_period_start"] == "2026-12-01T00:00:00.000Z"
    assert final["authorization_period_end"] == "2027-02-28T00:00:00.000Z"
    assert final["closed_reason"] is None and final["closed_reason_code"] is None
    assert final["pharmacy_type"] == "Unknown" and final["can_appeal"] is False
    assert len(approved["attachments"]) == 1

    # Stable: the same authorization gives the same case_id in every payload, and a different one another.
    assert {p["case_id"] for p in (first, pending, asked, answered, approved)} == {case_id_for(auth_id)}
    assert first["initialized_date"] == approved["initialized_date"] == created["createdAt"]
    other = (await client.post(A, json=tka_case())).json()
    assert (await _payload(client, other["id"]))["case_id"] != first["case_id"]

    # Every event of the history maps, and a status change announces the state it changed to.
    auth, events, attachments = await _snapshot(client, auth_id)
    changes = [medication_pa_payload(auth, e, attachments) for e in events if e["type"] == "prior_auth.status.changed"]
    for p in changes:
        _check_shape(p)
    assert [p["status_code"] for p in changes] == [1, 6, 6, 5, 16, 6, 6, 7]
    assert [p["status_date"] for p in changes] == [e["createdAt"] for e in events
                                                   if e["type"] == "prior_auth.status.changed"]


async def test_denial(client):
    auth = (await client.post(A, json=complete_tka_case())).json()
    assert _status(await _payload(client, auth["id"])) == ("requested", 1)
    await client.post(f"{A}/{auth['id']}/submit")
    await client.post(f"/v1/sandbox/prior-auth/authorizations/{auth['id']}/payer-events",
                      json={"type": "denial", "denialReasonCode": "NMN", "denialReasonMessage": "Not medically necessary"})
    denied = await _payload(client, auth["id"])
    assert _status(denied) == ("denied", 8)
    final = denied["final_status"]
    assert (final["prior_authorization_status"], final["prior_authorization_status_code"]) == ("denied", 8)
    assert final["note"] == denied["note"] == "Not medically necessary"
    assert final["authorization_number"] is None
    assert final["can_appeal"] is True  # a denial can be appealed (once)
    assert denied["expedited"] is False


async def test_validation_action_required_and_cancel(client):
    auth = (await client.post(A, json=tka_case(externalId="ehr-cancel-1"))).json()
    await client.post(f"{A}/{auth['id']}/submit")  # blockers: -> action_required, no payer request
    blocked = await _payload(client, auth["id"])
    assert _status(blocked) == ("action required", 5) and blocked["attachment_required"] is False
    await client.post(f"{A}/{auth['id']}/cancel", json={"reason": "patient moved"})
    cancelled = await _payload(client, auth["id"])
    assert _status(cancelled) == ("canceled", 11)
    assert cancelled["cancel_details"] == {"cancel_reason": "patient moved"}
    final = cancelled["final_status"]
    assert (final["prior_authorization_status"], final["prior_authorization_status_code"]) == ("canceled", 11)
    assert (final["closed_reason"], final["closed_reason_code"]) == ("ClosedByProvider", 9)
    assert cancelled["case_alias"] == "ehr-cancel-1"
    assert cancelled["appeal_details"] == {"appeal_case_id": None, "notes_for_appeal": None, "appeal_reason": None}


async def test_cancel_while_pending_payer(client):
    auth = (await client.post(A, json=complete_tka_case())).json()
    await client.post(f"{A}/{auth['id']}/submit")
    await client.post(f"{A}/{auth['id']}/cancel")
    cancelled = await _payload(client, auth["id"])
    assert _status(cancelled) == ("canceled", 11)
    assert cancelled["cancel_details"]["cancel_reason"] == "cancelled by client"


async def test_medication_service_gives_prescription_quantity_and_days_supply(client):
    service = {"code": "00002-7510-01", "codeSystem": "ndc", "drugName": "Example drug", "quantity": 2.5,
               "daysSupply": 30}
    created = await client.post(A, json=tka_case(service=service, externalId="rx-42"))
    assert created.status_code == 201, created.text
    p = await _payload(client, created.json()["id"])
    assert type(p["prescription_id"]) is int
    assert p["prescription_id"] == (await _payload(client, created.json()["id"]))["prescription_id"]
    assert (p["final_status"]["quantity"], p["final_status"]["days_supply"]) == ("2.5", "30")
    whole = (await client.post(A, json=tka_case(service=service | {"quantity": 30}, externalId="rx-43"))).json()
    other = await _payload(client, whole["id"])
    assert other["final_status"]["quantity"] == "30" and other["prescription_id"] != p["prescription_id"]


# ---------------------------------------------------------------- pure: the payload from hand-made views

T0, T1, T2, T3 = ("2026-11-23T13:00:00.000Z", "2026-11-23T13:05:00.000Z", "2026-11-23T13:10:00.000Z",
                  "2026-11-23T13:15:00.000Z")


def _view(workflow: str, decision: str, **extra) -> dict:
    return {"id": "auth_pure", "externalId": None, "workflowState": workflow, "decisionState": decision,
            "urgency": "standard", "service": None, "openActions": [], "decisionDetails": None, "appeal": None,
            "cancellation": None, "submissionError": None, "payerResponseDueAt": None, "createdAt": T0,
            "updatedAt": T3, "completedAt": None, "cancelledAt": None} | extra


def _event(created: str, current: tuple[str, str] | None = None, reason: str | None = None) -> dict:
    if current is None:
        return {"id": "evt_x", "type": "prior_auth.attachments.added", "sequence": 9, "createdAt": created, "data": {}}
    return {"id": "evt_s", "type": "prior_auth.status.changed", "sequence": 9, "createdAt": created,
            "data": {"current": {"workflowState": current[0], "decisionState": current[1]}, "reason": reason}}


def test_enums_are_shared_with_the_lifecycle():
    from priorauth.authorizations import medication

    assert PHARMACY_TYPE is medication.PHARMACY_TYPE and CLOSED_REASON is medication.CLOSED_REASON


def test_pure_appeal_window_and_details():
    appeal = {"id": "apl_1", "status": "requested", "reason": "needed", "notes": "see letter", "requestedAt": T1,
              "resolvedAt": None}
    view = _view("pending_payer", "pending", appeal=appeal, payerResponseDueAt="2026-11-30T13:05:00.000Z",
                 decisionDetails={"type": "denial", "denialReasonMessage": "no", "receivedAt": T0})
    now = medication_pa_payload(view, _event(T2), [])
    assert _status(now) == ("appeal requested", 9)
    assert now["appeal_details"] == {"appeal_case_id": "apl_1", "notes_for_appeal": "see letter",
                                     "appeal_reason": "needed"}
    assert now["next_response_deadline"] == now["expected_response_date"] == "2026-11-30T13:05:00.000Z"
    assert now["final_status"]["can_appeal"] is False and now["note"] == "no"
    # the first submission's pending_payer, before the appeal: still "pending"
    assert _status(medication_pa_payload(view, _event(T0, ("pending_payer", "pending"), "submission committed"),
                                         [])) == ("pending", 6)
    assert _status(medication_pa_payload(view, _event(T1, ("pending_payer", "pending"), "appeal requested"),
                                         [])) == ("appeal requested", 9)
    decided = view | {"appeal": appeal | {"status": "resolved", "resolvedAt": T2, "outcome": "denied"}}
    after = medication_pa_payload(decided | {"workflowState": "pending_payer"}, _event(T3), [])
    assert _status(after) == ("pending", 6)  # e.g. resubmitted after the appeal was decided


def test_pure_deferred_partial_closed_and_error():
    deferred = _view("pending_payer", "pending", decisionDetails={"type": "deferred", "receivedAt": T1})
    assert _status(medication_pa_payload(deferred, _event(T2), [])) == ("deferred", 4)
    assert _status(medication_pa_payload(deferred, _event(T0, ("pending_payer", "pending")), [])) == ("pending", 6)

    service = {"code": "00002-7510-01", "codeSystem": "ndc", "quantity": 90, "daysSupply": 30, "refills": 5,
               "numberOfCycles": 2, "pharmacyType": "MailOrder", "prescriptionId": "RX-1"}
    partial = _view("completed", "approved", service=service, decisionDetails={
        "type": "approval", "certificationNumber": "C", "approvedQuantity": 30, "approvedRefills": 0,
        "partialDenial": {"quantity": {"requested": 90, "approved": 30}, "refills": {"requested": 5, "approved": 0}}})
    p = medication_pa_payload(partial, _event(T2), [])
    assert _status(p) == ("partially denied", 15)
    final = p["final_status"]
    assert (final["quantity"], final["days_supply"], final["number_of_refills"], final["number_of_cycles"]) == (
        "30", "30", "0", "2")
    assert final["pharmacy_type"] == "MailOrder" and final["can_appeal"] is True
    assert final["authorization_number"] == "C"
    assert p["prescription_id"] == stable_id("RX-1")
    requested = medication_pa_payload(partial | {"workflowState": "pending_payer", "decisionState": "pending"},
                                      _event(T2), [])
    assert requested["final_status"]["quantity"] == "90" and requested["final_status"]["number_of_refills"] == "5"
    assert medication_pa_payload(partial | {"appeal": {"id": "apl_x"}}, _event(T2), [])["final_status"][
        "can_appeal"] is False

    for reason, code in (("PriorAuthNotRequired", 2), ("ClosedByPayer", 3), (None, 3)):
        closed = _view("completed", "unknown", decisionDetails={"type": "closed", "closedReason": reason})
        p = medication_pa_payload(closed, _event(T2), [])
        assert p["status_code"] == code
        assert p["final_status"]["closed_reason"] == (reason or "Unknown")

    member = _view("cancelled", "pending", cancellation={"reason": "moved", "closedReason": "ClosedByMember"})
    p = medication_pa_payload(member, _event(T2), [])
    assert (p["final_status"]["closed_reason_code"], p["cancel_details"]["cancel_reason"]) == (10, "moved")
    legacy = _view("cancelled", "pending")  # cancelled before cancellations were recorded
    assert medication_pa_payload(legacy, _event(T2), [])["final_status"]["closed_reason_code"] == 9

    failed = _view("ready_to_submit", "unknown", submissionError={"code": "channel_error", "failedAt": T1})
    assert _status(medication_pa_payload(failed, _event(T2), [])) == ("error", 13)
    assert _status(medication_pa_payload(failed, _event(T0), [])) == ("requested", 1)
    assert _status(medication_pa_payload(_view("ready_to_submit", "pending"),
                                         _event(T2, ("ready_to_submit", "pending"), "submission failed"), [])) == (
        "error", 13)


def test_pure_provider_deadline_is_the_earliest_open_request():
    actions = [{"type": "payer_request_for_information", "status": "open", "details": {"responseDueBy": T3}},
               {"type": "payer_request_for_information", "status": "open", "details": {"responseDueBy": T2}},
               {"type": "validation_issue", "status": "open", "details": {"path": "x"}}]
    p = medication_pa_payload(_view("action_required", "pending", openActions=actions,
                                    payerResponseDueAt=T1), _event(T1), [])
    assert p["next_response_deadline"] == T2 and p["expected_response_date"] is None
    assert medication_pa_payload(_view("completed", "denied", payerResponseDueAt=T1), _event(T1), [])[
        "next_response_deadline"] is None


def test_pure_cancel_requested_denied_and_ended():
    requested = {"status": "requested", "reason": "stopped", "closedReason": "ClosedByMember", "requestedAt": T1}
    view = _view("pending_payer", "pending", cancellation=requested,
                 decisionDetails={"type": "deferred", "receivedAt": T0})
    now = medication_pa_payload(view, _event(T2), [])
    assert _status(now) == ("cancel requested", 10)  # the open request wins over the earlier deferral
    assert now["cancel_details"] == {"cancel_reason": "stopped"}
    assert now["final_status"]["prior_authorization_status"] is None and now["final_status"]["closed_reason"] is None
    assert _status(medication_pa_payload(view, _event(T0), [])) == ("deferred", 4)  # before the request

    denied = view | {"cancellation": requested | {"status": "denied", "deniedAt": T2, "message": "no"}}
    assert _status(medication_pa_payload(denied, _event(T1), [])) == ("cancel requested", 10)
    p = medication_pa_payload(denied, _event(T3), [])
    assert _status(p) == ("cancel denied", 12) and p["cancel_details"] == {"cancel_reason": "stopped"}
    assert p["note"] is None  # the cancel denial's message is not the payer's note on the case

    ended = denied | {"cancellation": denied["cancellation"] | {"endedAt": T3}}
    assert _status(medication_pa_payload(ended, _event(T2), [])) == ("cancel denied", 12)
    later = medication_pa_payload(ended | {"decisionDetails": None}, _event(T3), [])
    assert _status(later) == ("pending", 6) and later["cancel_details"] == {"cancel_reason": None}
    superseded = _view("completed", "approved", cancellation=requested | {"status": "superseded", "endedAt": T2})
    p = medication_pa_payload(superseded, _event(T3), [])
    assert _status(p) == ("approved", 7) and p["cancel_details"] == {"cancel_reason": None}

    confirmed = _view("cancelled", "pending", cancelledAt=T2,
                      cancellation=requested | {"status": "confirmed", "confirmedAt": T2})
    p = medication_pa_payload(confirmed, _event(T2, ("cancelled", "pending"), "stopped"), [])
    assert _status(p) == ("canceled", 11) and p["cancel_details"] == {"cancel_reason": "stopped"}
    assert (p["final_status"]["closed_reason"], p["final_status"]["closed_reason_code"]) == ("ClosedByMember", 10)


def test_pure_deleted():
    deleted = _view("ready_to_submit", "unknown") | {"workflowState": "cancelled", "cancelledAt": T2,
                                                      "deletedAt": T2}
    for event in (_event(T2, ("cancelled", "unknown"), "deleted"), _event(T3)):
        p = medication_pa_payload(deleted, event, [])
        _check_shape(p)
        assert _status(p) == ("deleted", 14)
        final = p["final_status"]
        assert (final["prior_authorization_status"], final["prior_authorization_status_code"]) == ("deleted", 14)
        assert (final["closed_reason"], final["closed_reason_code"]) == ("ClosedByProvider", 9)
        assert p["cancel_details"] == {"cancel_reason": None} and p["status_date"] == T2
    # A cancel whose reason happens to be "deleted" is still a cancel.
    cancelled = _view("cancelled", "unknown", cancelledAt=T2, cancellation={"reason": "deleted",
                                                                             "closedReason": "ClosedByProvider"})
    assert _status(medication_pa_payload(cancelled, _event(T2, ("cancelled", "unknown"), "deleted"), [])) == (
        "canceled", 11)
