"""Medication fields of a case and the enums they share with the `medication_pa` webhook (pure).

The enum tables are transcribed from the Akute "Medication Prior Auth Webhook" document
(`/work/shared/reference/medication-pa-webhook.txt`), spelling included. They live here, not in
`priorauth.webhooks`, so that the lifecycle can validate against them without importing webhooks.
"""
from __future__ import annotations

# "pharmacy_type enum" of the document (`service.pharmacyType`, `final_status.pharmacy_type`).
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

# "closed_reason enum" of the document (sandbox `closed` events, cancels, `final_status.closed_reason`).
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
CLOSED_REASON_CODE: dict[str, int] = {name: code for code, name in CLOSED_REASON.items()}
PHARMACY_TYPES = tuple(PHARMACY_TYPE.values())
CLOSED_REASONS = tuple(CLOSED_REASON.values())
# Closed reasons that say "no prior authorization is needed" (status "not required" rather than "closed").
NOT_REQUIRED_REASONS = frozenset({CLOSED_REASON[3], CLOSED_REASON[19]})
# The closed reasons a client may give when it cancels (the provider's or the member's own act).
CANCEL_REASONS = (CLOSED_REASON[9], CLOSED_REASON[10])

# approval event field -> the requested service field it may narrow
APPROVED_FIELDS: dict[str, str] = {
    "approvedQuantity": "quantity",
    "approvedDaysSupply": "daysSupply",
    "approvedRefills": "refills",
    "approvedCycles": "numberOfCycles",
}


def compare_approval(service: dict, approval: dict) -> tuple[dict, list[dict]]:
    """Compare a payer's approved amounts with the requested ones.

    Returns (partialDenial, issues): `partialDenial` maps each requested field the payer cut to
    `{requested, approved}`; `issues` lists approved values above the request (a payer cannot
    approve more than was asked for). A value with nothing requested to compare against is kept as given."""
    partial: dict = {}
    issues: list[dict] = []
    for approved_field, field in APPROVED_FIELDS.items():
        approved, requested = approval.get(approved_field), service.get(field)
        if approved is None or requested is None:
            continue
        if approved > requested:
            issues.append({"path": approved_field,
                           "message": f"{approved_field} ({approved:g}) exceeds the requested {field} ({requested:g})"})
        elif approved < requested:
            partial[field] = {"requested": requested, "approved": approved}
    return partial, issues


def approved_value(service: dict, details: dict, field: str):
    """The amount of `field` the payer approved: its narrowed value, else what was requested."""
    approved_field = next(k for k, v in APPROVED_FIELDS.items() if v == field)
    value = details.get(approved_field)
    return service.get(field) if value is None else value
