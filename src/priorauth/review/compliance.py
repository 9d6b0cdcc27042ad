"""The compliance agent: is the request complete enough to review? A pure function of the request."""
from __future__ import annotations

import re
from collections import Counter

_NPI_FORMAT = re.compile(r"^[0-9]{10}$")
# Medicare Beneficiary Identifier: 11 characters, position 1 a digit 1-9, letters without S L O I B Z.
_MBI = re.compile(r"^[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]"
                  r"[AC-HJKMNP-RT-Y]{2}[0-9]{2}$")
MIN_NOTE_WORDS = 40
_CPT_SECTIONS = ((100, 1999, "anesthesia"), (10004, 69990, "surgery"), (70010, 79999, "radiology"),
                 (80047, 89398, "pathology and laboratory"), (90281, 99607, "medicine / evaluation and management"))


def _item(item: str, ok: bool | None, detail: str) -> dict:
    status = "not_applicable" if ok is None else ("complete" if ok else "incomplete")
    return {"item": item, "status": status, "detail": detail}


def service_type(code: str) -> str | None:
    """What kind of service a CPT/HCPCS code names, from its range (CPT descriptors are not shipped)."""
    if code[0].isdigit():
        if code[4].isalpha():
            return {"T": "emerging technology (CPT Category III)", "F": "performance measure (CPT Category II)",
                    "U": "laboratory (proprietary laboratory analysis)", "M": "multianalyte assay"}.get(code[4])
        number = int(code)
        for low, high, kind in _CPT_SECTIONS:
            if low <= number <= high:
                return kind
        return None
    return {"A": "medical and surgical supplies", "B": "enteral and parenteral therapy",
            "C": "outpatient hospital (OPPS)", "E": "durable medical equipment", "G": "procedures and services",
            "J": "drug administered other than oral method", "K": "durable medical equipment (DME MAC)",
            "L": "orthotics and prosthetics", "Q": "temporary codes", "S": "temporary national codes (non-Medicare)",
            "V": "vision and hearing services"}.get(code[0])


def review(request: dict) -> dict:
    notes = request["clinical_notes"].strip()
    words = len(notes.split())
    npi = request["provider_npi"].strip()
    procedures = request["procedure_codes"]
    repeated = sorted(code for code, n in Counter(procedures).items() if n > 1)
    insurance = request["insurance_id"].strip()
    kinds = {code: service_type(code) for code in procedures}
    unknown_kind = [code for code, kind in kinds.items() if kind is None]

    checklist = [
        _item("patient_information", bool(request["patient_name"].strip() and request["patient_dob"]),
              "Patient name and date of birth present" if request["patient_name"].strip()
              else "Patient name is missing"),
        _item("provider_npi", bool(_NPI_FORMAT.match(npi)),
              "NPI is 10 digits" if _NPI_FORMAT.match(npi) else f"NPI must be 10 digits (got {len(npi)} characters)"),
        _item("insurance_id", bool(insurance), "Member/insurance id present" if insurance else "Insurance id is missing"),
        _item("diagnosis_codes", bool(request["diagnosis_codes"]),
              f"{len(request['diagnosis_codes'])} ICD-10 code(s) provided"),
        _item("procedure_codes", bool(procedures) and not repeated,
              f"{len(procedures)} procedure code(s) provided" if not repeated
              else f"Procedure code(s) listed more than once: {', '.join(repeated)}"),
        _item("clinical_notes_present", bool(notes),
              "Clinical notes present" if notes else "Clinical notes are missing"),
        _item("clinical_notes_quality", words >= MIN_NOTE_WORDS,
              f"{words} words of clinical documentation" if words >= MIN_NOTE_WORDS
              else f"Only {words} words of clinical documentation (at least {MIN_NOTE_WORDS} expected: history, "
                   "findings, prior treatment)"),
        _item("plan_type", True if _MBI.match(insurance.replace("-", "").upper()) else None,
              "Medicare (insurance id is a Medicare Beneficiary Identifier)"
              if _MBI.match(insurance.replace("-", "").upper())
              else "Plan type not stated; Medicare NCD/LCD criteria are applied"),
        _item("ncci_awareness", True if len(procedures) >= 2 else None,
              f"{len(procedures)} procedure codes: check NCCI procedure-to-procedure edits and modifiers before "
              "billing" if len(procedures) >= 2 else "Single procedure code; NCCI edits not applicable"),
        _item("service_type", not unknown_kind,
              "; ".join(f"{code}: {kind}" for code, kind in kinds.items() if kind)
              if not unknown_kind else f"Service type not recognised for {', '.join(unknown_kind)}"),
    ]
    missing = [item["item"] for item in checklist if item["status"] == "incomplete"]
    return {"checklist": checklist, "overall_status": "incomplete" if missing else "complete",
            "missing_items": missing}


def compliance_score(result: dict) -> float:
    """1.0 minus 0.1 per incomplete item, never below 0."""
    return max(0.0, 1.0 - 0.1 * len(result.get("missing_items") or []))
