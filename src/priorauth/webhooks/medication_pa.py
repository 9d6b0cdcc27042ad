"""Payload format `medication_pa`: the Akute "Medication Prior Auth Webhook" document, field for field (pure).

Source: `/work/shared/reference/medication-pa-webhook.txt` ("the document"). Every field name, enum string
and enum code below is transcribed from it, spelling included ("canceled", "PrescriberNotAllowedToSubmitPAReqest").

`medication_pa_payload(authorization, event, attachments)` takes the authorization as the lifecycle API shows
it (`GET /v1/prior-auth/authorizations/{id}`, camelCase), one of its events (`{id, type, sequence, createdAt,
data}`) and its attachments (`GET …/attachments` items) and returns the JSON-ready body. No I/O, no clock:
the same inputs always give the same payload. docs/webhooks.md ("The medication_pa payload") has the table.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime, timezone

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

# "pharmacy_type enum" of the document (`final_status.pharmacy_type`; the document gives no `_code` field for it).
PHARMACY_TYPE: dict[int, str] = {
    0: "Unknown",
    1: "Retail",
    2: "MailOrder",
    3: "SpecialtyPharmacy",
    4: "LongTermCarePharmacy",
    5: "Any",
    6: "TwentyFourHourPharmacy",
    7: "FaxPharmacy",
    8: "EPCS",
    9: "InHouseDispensing",
    10: "Compounding",
    11: "DME",
    12: "Kiosk",
    13: "SupportsDigitalSignature",
    14: "FaxPharmacyExternal",
}

# "closed_reason enum" of the document (`final_status.closed_reason`/`closed_reason_code`).
CLOSED_REASON: dict[int, str] = {
    0: "Unknown",
    1: "ElectronicPriorAuthNotSupported",
    2: "Other",
    3: "PriorAuthNotRequired",
    4: "CannotFindMatchingPatient",
    5: "PatientNotEligible",
    6: "PriorAuthDuplicateApproved",
    7: "PriorAuthDuplicateInProgress",
    8: "ClosedByPayer",
    9: "ClosedByProvider",
    10: "ClosedByMember",
    11: "AttachmentTypeNotSupported",
    12: "PrescriberNotAllowedToSubmitPAReqest",  # sic, as the document spells it
    13: "ResponseInconsistentWithQuestion",
    14: "ReceiverNotPAProcessorForThisPatient",
    15: "ReceiverNotPAProcessorForPatientMedicationCombo",
    16: "DuplicateDenied",
    17: "ProviderRespondedAfterDeadlineToReply",
    18: "ProductNotCoveredByThisPlanPriorAuthorizationNotAvailable",
    19: "PrescriptionWithinPrescribingLimitsPriorAuthorizationNotRequiredForPatientMedication",
    20: "CoverageLimitsMayExistForQuantityAndOrDaysSupply",
    21: "CoverageLimitsHaveBeenExceededExceptionNotAvailable",
    22: "ActivePAOnFile",
    23: "SubmittedProductCodeIsNotValid",
}

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
    ("needs_input", "pending"): 16,       # in process (not produced by the lifecycle today)
    ("ready_to_submit", "unknown"): 1,    # requested: complete, not yet sent to the payer
    ("ready_to_submit", "pending"): 16,   # in process: the payer's request was answered, resubmission to come
    ("submitting", "*"): 6,               # pending: being sent to the payer
    ("pending_payer", "*"): 6,            # pending: the payer decides
    ("action_required", "*"): 5,          # action required: validation issues or a payer request for information
    ("completed", "approved"): 7,         # approved
    ("completed", "denied"): 8,           # denied
    ("completed", "unknown"): 3,          # closed without a decision (not produced by the lifecycle today)
    ("completed", "pending"): 3,          # idem
    ("cancelled", "*"): 11,               # canceled
}
FINAL_WORKFLOW_STATES = frozenset({"completed", "cancelled"})
CLOSED_BY_PROVIDER = 9  # a cancel is the provider's (the API client's) act
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
    """`prescription_id`: only a medication has a prescription. For a service coded as an NDC, stable_id of
    "{externalId or authorization id}|ndc|{code}"; None for procedures (CPT/HCPCS) or an uncoded service."""
    service = authorization.get("service") or {}
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


def _payer_note(details: dict) -> str | None:
    """The payer's last words: a denial's message or a request for information's message."""
    return details.get("denialReasonMessage") or details.get("message") or None


def medication_pa_payload(authorization: dict, event: dict, attachments: list[dict]) -> dict:
    """The `medication_pa` body for one authorization event. See the module docstring for the inputs."""
    workflow, decision, from_event = _states(authorization, event)
    code = status_code_for(workflow, decision)
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

    if workflow == "cancelled":
        closed_code: int | None = CLOSED_BY_PROVIDER
    elif code == 3:
        closed_code = 0
    else:
        closed_code = None

    cancel_reason = None
    event_data = event.get("data") if isinstance(event.get("data"), dict) else {}
    if workflow == "cancelled" and from_event:
        cancel_reason = event_data.get("reason")

    approved = code == 7
    final_status = {
        "prior_authorization_status": STATUS[code] if final else None,
        "prior_authorization_status_code": code if final else None,
        "closed_reason": CLOSED_REASON[closed_code] if closed_code is not None else None,
        "closed_reason_code": closed_code,
        "authorization_number": details.get("certificationNumber") if approved else None,
        "authorization_period_start": utc_string(details.get("approvedStartDate")) if approved else None,
        "authorization_period_end": utc_string(details.get("approvedEndDate")) if approved else None,
        "pharmacy_type": PHARMACY_TYPE[0],  # the lifecycle has no pharmacy type yet
        "quantity": _number_string(service.get("quantity")),
        "days_supply": _number_string(service.get("daysSupply")),
        "number_of_cycles": None,
        "number_of_refills": None,
        "note": _payer_note(details) if final else None,
        "can_appeal": False,  # the lifecycle has no appeal operation yet
    }
    open_actions = authorization.get("openActions") or []
    return {
        "case_id": case_id_for(authorization["id"]),
        "prescription_id": prescription_id_for(authorization),
        "case_alias": authorization.get("externalId"),
        "note": _payer_note(details),
        "offline": False,
        "initialized_date": utc_string(authorization.get("createdAt")),
        "next_response_deadline": None,
        "status": STATUS[code],
        "status_code": code,
        "status_date": utc_string(status_date),
        "expected_response_date": None,
        "attachment_required": any(a.get("type") == PAYER_REQUEST and a.get("status", "open") == "open"
                                   for a in open_actions),
        "next_question_id": None,
        "expedited": authorization.get("urgency") == "expedited",
        "final_status": final_status,
        "appeal_details": {"appeal_case_id": None, "notes_for_appeal": None, "appeal_reason": None},
        "cancel_details": {"cancel_reason": cancel_reason},
        "attachments": [{"created_timestamp": utc_string(a.get("createdAt")),
                         "file_path": FILE_CONTENT_PATH.format(file_id=a["fileId"])} for a in attachments],
    }
