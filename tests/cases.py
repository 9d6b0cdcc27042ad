"""Request bodies for tests: a complete total-knee-arthroplasty case, and helpers to vary it."""
from __future__ import annotations

import copy

VALID_NPI = "1234567893"


def tka_case(**overrides) -> dict:
    body = {
        "patient": {"firstName": "Ada", "lastName": "Lovelace", "dateOfBirth": "1956-04-12", "gender": "female",
                    "identifiers": [{"type": "mrn", "value": "MRN-1001"}],
                    "address": {"line": ["12 Elm St"], "city": "Springfield", "state": "IL", "postalCode": "62701"}},
        "coverage": {"payerId": "payer_sandbox", "memberId": "W123456789", "groupNumber": "GRP-7",
                     "planType": "commercial", "insuranceState": "IL"},
        "providers": [{"role": "ordering", "firstName": "Grace", "lastName": "Hopper",
                       "organizationName": "Springfield Orthopedics",
                       "identifiers": [{"type": "npi", "value": VALID_NPI}]}],
        "service": {"code": "27447", "codeSystem": "cpt", "requestedStartDate": "2026-12-01",
                    "requestedEndDate": "2027-02-28"},
        "diagnoses": [{"code": "M17.11", "codeSystem": "icd_10"}],
        "answers": {},
        "urgency": "standard",
        "externalId": "ehr-1001",
    }
    body.update(copy.deepcopy(overrides))
    return body


TKA_ANSWERS = {
    "laterality": "right", "condition": "primary-oa", "icd10": "M17.11", "xray-done": True,
    "xray-date": "2026-09-15", "kl-grade": 4, "xray-findings": ["joint-space-narrowing", "bone-on-bone"],
    "pain-months": 18, "pain-score": 8, "adl-limitation": True, "conservative-weeks": 16,
    "conservative-modalities": ["nsaids", "physical-therapy", "corticosteroid-injection"], "bmi": 31.4,
    "active-infection": False, "setting": "inpatient",
}


def complete_tka_case(**overrides) -> dict:
    return tka_case(answers=dict(TKA_ANSWERS), **overrides)


def tiny_pdf(text: str = "chart note") -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text=text)
    return bytes(doc.output())
