"""Payload format `medication_pa`: the Akute "Medication Prior Auth Webhook" document, field for field (pure).

Source: `/work/shared/reference/medication-pa-webhook.txt` ("the document"). Every field name, enum string
and enum code below (and in `priorauth.authorizations.medication`, which holds the pharmacy_type and
closed_reason enums) is transcribed from it, spelling included ("canceled", "PrescriberNotAllowedToSubmitPAReqest").

`medication_pa_payload(authorization, event, attachments)` takes the authorization as the lifecycle API shows
it (`GET /v1/prior-auth/authorizations/{id}`, camelCase), one of its events (`{id, type, sequence, createdAt,
data}`) and its attachments (`GET …/attachments` items) and returns the JSON-ready body. No I/O, no clock:
the same inputs always give the same payload. docs/webhooks.md ("The medication_pa payload") has the table.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime, timezone

from priorauth.authorizations.medication import (
    CLOSED_REASON,
    CLOSED_REASON_CODE,
    NOT_REQUIRED_REASONS,
    PHARMACY_TYPE,
    approved_value,
)
from priorauth.authorizations.states import APPEAL_REQUESTED, SUBMISSION_FAILED, can_appeal

# ---------------------------------------------------------------- enums, transcribed from the document

# "status enum" of the document (used by `status`/`status_code` and by
# `final_status.prior_authorization_status`/`prior_authorization_status_code`).
STATUS: dict[int, str] = {
    0: "unknown",
    1: "requested",
    2: "not required",
    3: "closed",
    4: "deferred",
    5: "action required",
    6: "pending",
    7: "approved",
    8: "denied",
    9: "appeal requested",
    10: "cancel requested",
    11: "canceled",
    12: "cancel denied",
    13: "error",
    14: "deleted",
    15: "partially denied",
    16: "in process",
}

# The document's pharmacy_type and closed_reason enums (PHARMACY_TYPE, CLOSED_REASON) are imported above from
# priorauth.authorizations.medication: the lifecycle validates `service.pharmacyType` and closed reasons with them.

# The document's fields, in its order (tests compare the payload's keys with these).
FIELDS = ("case_id", "prescription_id", "case_alias", "note", "offline", "initialized_date",
          "next_response_deadline", "status", "status_code", "status_date", "expected_response_date",
          "attachment_required", "next_question_id", "expedited", "final_status", "appeal_details",
          "cancel_details", "attachments")
FINAL_STATUS_FIELDS = ("prior_authorization_status", "prior_authorization_status_code", "closed_reason",
                       "closed_reason_code", "authorization_number", "authorization_period_start",
                       "authorization_period_end", "pharmacy_type", "quantity", "days_supply", "number_of_cycles",
                       "number_of_refills", "note", "can_appeal")
APPEAL_DETAILS_FIELDS = ("appeal_case_id", "notes_for_appeal", "appeal_reason")
CANCEL_DETAILS_FIELDS = ("cancel_reason",)
ATTACHMENT_FIELDS = ("created_timestamp", "file_path")

# ---------------------------------------------------------------- lifecycle -> status enum

# (workflowState, decisionState) -> status code. "*" = any decision state.
STATUS_BY_STATE: dict[tuple[str, str], int] = {
    ("needs_input", "unknown"): 1,        # requested: the case exists, the provider still has answers to give
    ("needs_input", "pending"): 16,       # in process (the lifecycle never produces this pair)
    ("ready_to_submit", "unknown"): 1,    # requested: complete, not yet sent (13 error after a failed attempt)
    ("ready_to_submit", "pending"): 16,   # in process: the payer's request was answered, resubmission to come
    ("submitting", "*"): 6,               # pending: being sent to the payer
    ("pending_payer", "*"): 6,            # pending: the payer decides (4, 9, 10, 12: see _status_code)
    ("action_required", "*"): 5,          # action required: validation issues or a payer request for information
    ("completed", "approved"): 7,         # approved (15 partially denied: see _status_code)
    ("completed", "denied"): 8,           # denied
    ("completed", "unknown"): 3,          # closed by the payer (2 when its reason is "not required")
    ("completed", "pending"): 3,          # closed (the lifecycle never produces this pair)
    ("cancelled", "*"): 11,               # canceled (14 deleted: see _status_code)
}
FINAL_WORKFLOW_STATES = frozenset({"completed", "cancelled"})
CLOSED_BY_PROVIDER = 9  # a cancel is the provider's (the API client's) act unless it names the member
PAYER_REQUEST = "payer_request_for_information"  # the open action that can only be resolved with attachments
FILE_CONTENT_PATH = "/v1/files/{file_id}/content"

_MAX_53 = (1 << 53) - 1


def status_code_for(workflow_state: str | None, decision_state: str | None) -> int:
    """The document's status code for a lifecycle state pair; 0 ("unknown") for a state it does not know."""
    for key in ((workflow_state, decision_state), (workflow_state, "*")):
        if key in STATUS_BY_STATE:
            return STATUS_BY_STATE[key]
    return 0


def stable_id(text: str) -> int:
    """A positive integer below 2**53 (exact in JSON numbers and JavaScript): the first 53 bits of the
    SHA-256 of `text` (UTF-8), read big-endian. 0 (one chance in 2**53) becomes 1."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) or 1


def case_id_for(authorization_id: str) -> int:
    """`case_id`: stable_id of the authorization id (e.g. `auth_…`)."""
    return stable_id(authorization_id)


def prescription_id_for(authorization: dict) -> int | None:
    """`prescription_id`: only a medication has a prescription. stable_id of `service.prescriptionId` when the
    client gave one; else, for a service coded as an NDC, stable_id of "{externalId or authorization id}|ndc|{code}";
    None for procedures (CPT/HCPCS) or an uncoded service."""
    service = authorization.get("service") or {}
    if service.get("prescriptionId"):
        return stable_id(service["prescriptionId"])
    if service.get("codeSystem") != "ndc" or not service.get("code"):
        return None
    reference = authorization.get("externalId") or authorization["id"]
    return stable_id(f"{reference}|ndc|{service['code']}")


def utc_string(value: str | date | datetime | None) -> str | None:
    """A date string in UTC as the lifecycle API writes them: `YYYY-MM-DDTHH:MM:SS.mmmZ`.

    A calendar date (`2026-12-01`, as payers give authorization periods) is that day's 00:00 UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if len(value) == 10:
            value = date.fromisoformat(value)
        else:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number_string(value) -> str | None:
    """Quantities as the document wants them: strings that may carry decimals (30 -> "30", 2.5 -> "2.5")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _states(authorization: dict, event: dict) -> tuple[str | None, str | None, bool]:
    """The states the payload announces: a status change announces the states it changed to (like the
    `priorauth` format); any other event, the authorization's. The flag tells which."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    current = data.get("current") if isinstance(data.get("current"), dict) else None
    if event.get("type") == "prior_auth.status.changed" and current:
        return (current.get("workflowState", authorization.get("workflowState")),
                current.get("decisionState", authorization.get("decisionState")), True)
    return authorization.get("workflowState"), authorization.get("decisionState"), False


def _since(marker: str | None, event: dict) -> bool:
    """True when a marker time (an ISO string of the lifecycle) is at or before the event (same format)."""
    created = event.get("createdAt")
    return bool(marker) and (not created or marker <= created)


def _within(start: str | None, end: str | None, event: dict) -> bool:
    """True when the event is at or after `start` and (when there is an end) before `end`."""
    return _since(start, event) and not _since(end, event)


def _status_code(authorization: dict, event: dict, workflow: str | None, decision: str | None) -> int:
    """The status for the announced state pair, refined by what the authorization records. Markers are
    compared with the event's time so that a past event is not re-labelled by what happened after it."""
    code = status_code_for(workflow, decision)
    details = authorization.get("decisionDetails") or {}
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    reason = data.get("reason") if event.get("type") == "prior_auth.status.changed" else None
    cancel = authorization.get("cancellation") or {}
    if workflow == "cancelled" and authorization.get("deletedAt"):
        return 14  # deleted: a draft removed before it was ever submitted
    if workflow == "pending_payer":
        if _within(cancel.get("deniedAt"), cancel.get("endedAt"), event):
            return 12  # cancel denied, until the next status change of the case
        if _within(cancel.get("requestedAt"), cancel.get("deniedAt") or cancel.get("confirmedAt")
                   or cancel.get("endedAt"), event):
            return 10  # cancel requested: the payer has not answered the cancel request yet
    if workflow == "ready_to_submit":
        error = authorization.get("submissionError") or {}
        if reason == SUBMISSION_FAILED or _since(error.get("failedAt"), event):
            return 13  # error: the latest submission attempt failed
    elif workflow == "pending_payer":
        if details.get("type") == "deferred" and _since(details.get("receivedAt"), event):
            return 4  # deferred
        appeal = authorization.get("appeal") or {}
        if reason == APPEAL_REQUESTED or (_since(appeal.get("requestedAt"), event)
                                          and not _since(appeal.get("resolvedAt"), event)):
            return 9  # appeal requested
    elif (workflow, decision) == ("completed", "approved") and details.get("partialDenial"):
        return 15  # partially denied
    elif code == 3 and details.get("closedReason") in NOT_REQUIRED_REASONS:
        return 2  # not required
    return code


def _closed_reason_code(authorization: dict, workflow: str | None, code: int) -> int | None:
    if code == 14:
        return CLOSED_BY_PROVIDER  # the provider removed its own draft
    if workflow == "cancelled":
        given = (authorization.get("cancellation") or {}).get("closedReason")
        return CLOSED_REASON_CODE.get(given, CLOSED_BY_PROVIDER)
    if code in (2, 3):
        return CLOSED_REASON_CODE.get((authorization.get("decisionDetails") or {}).get("closedReason"), 0)
    return None


def _deadlines(authorization: dict, workflow: str | None) -> tuple[str | None, str | None]:
    """(next_response_deadline, expected_response_date): whoever must answer next, and when the payer must."""
    if workflow == "pending_payer":
        payer_due = authorization.get("payerResponseDueAt")
        return payer_due, payer_due
    provider_due = sorted(a["details"]["responseDueBy"] for a in _open_payer_requests(authorization)
                          if (a.get("details") or {}).get("responseDueBy"))
    return (provider_due[0] if provider_due else None), None


def _open_payer_requests(authorization: dict) -> list[dict]:
    return [a for a in authorization.get("openActions") or []
            if a.get("type") == PAYER_REQUEST and a.get("status", "open") == "open"]


def _amount(service: dict, details: dict, field: str, approved: bool) -> str | None:
    """A medication amount: what the payer approved once it approved (narrowed, or as requested), else the request."""
    return _number_string(approved_value(service, details, field) if approved else service.get(field))


def _payer_note(details: dict) -> str | None:
    """The payer's last words: a denial's message or a request for information's message."""
    return details.get("denialReasonMessage") or details.get("message") or None


def medication_pa_payload(authorization: dict, event: dict, attachments: list[dict]) -> dict:
    """The `medication_pa` body for one authorization event. See the module docstring for the inputs."""
    workflow, decision, from_event = _states(authorization, event)
    code = _status_code(authorization, event, workflow, decision)
    details = authorization.get("decisionDetails") or {}
    service = authorization.get("service") or {}
    final = workflow in FINAL_WORKFLOW_STATES

    if from_event:
        status_date = event.get("createdAt")
    elif workflow == "cancelled":
        status_date = authorization.get("cancelledAt")
    elif workflow == "completed":
        status_date = authorization.get("completedAt")
    else:
        status_date = authorization.get("updatedAt")

    closed_code = _closed_reason_code(authorization, workflow, code)
    cancel_reason = None
    if code == 11:  # the cancel's reason: the status change carries it, the authorization keeps it
        event_data = event.get("data") if isinstance(event.get("data"), dict) else {}
        cancel_reason = (event_data.get("reason") if from_event else None) or (
            authorization.get("cancellation") or {}).get("reason")
    elif code in (10, 12):  # the reason given with the cancel request
        cancel_reason = (authorization.get("cancellation") or {}).get("reason")

    approved = code in (7, 15)
    next_deadline, expected = _deadlines(authorization, workflow)
    appeal = authorization.get("appeal") or {}
    final_status = {
        "prior_authorization_status": STATUS[code] if final else None,
        "prior_authorization_status_code": code if final else None,
        "closed_reason": CLOSED_REASON[closed_code] if closed_code is not None else None,
        "closed_reason_code": closed_code,
        "authorization_number": details.get("certificationNumber") if approved else None,
        "authorization_period_start": utc_string(details.get("approvedStartDate")) if approved else None,
        "authorization_period_end": utc_string(details.get("approvedEndDate")) if approved else None,
        "pharmacy_type": service.get("pharmacyType") or PHARMACY_TYPE[0],
        "quantity": _amount(service, details, "quantity", approved),
        "days_supply": _amount(service, details, "daysSupply", approved),
        "number_of_cycles": _amount(service, details, "numberOfCycles", approved),
        "number_of_refills": _amount(service, details, "refills", approved),
        "note": _payer_note(details) if final else None,
        "can_appeal": can_appeal(workflow or "", decision or "", bool(details.get("partialDenial")),
                                 bool(authorization.get("appeal"))),
    }
    return {
        "case_id": case_id_for(authorization["id"]),
        "prescription_id": prescription_id_for(authorization),
        "case_alias": authorization.get("externalId"),
        "note": _payer_note(details),
        "offline": False,
        "initialized_date": utc_string(authorization.get("createdAt")),
        "next_response_deadline": utc_string(next_deadline),
        "status": STATUS[code],
        "status_code": code,
        "status_date": utc_string(status_date),
        "expected_response_date": utc_string(expected),
        "attachment_required": bool(_open_payer_requests(authorization)),
        "next_question_id": None,
        "expedited": authorization.get("urgency") == "expedited",
        "final_status": final_status,
        "appeal_details": {"appeal_case_id": appeal.get("id"), "notes_for_appeal": appeal.get("notes"),
                           "appeal_reason": appeal.get("reason")},
        "cancel_details": {"cancel_reason": cancel_reason},
        "attachments": [{"created_timestamp": utc_string(a.get("createdAt")),
                         "file_path": FILE_CONTENT_PATH.format(file_id=a["fileId"])} for a in attachments],
    }
