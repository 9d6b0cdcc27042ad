"""Request validation exactly as the reference's table: what passes, what fails and with which message."""
from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from priorauth.review.schemas import DecisionRequest, PriorAuthRequest
from priorauth.timeutil import utcnow

VALID = {"patient_name": "John Smith", "patient_dob": "1955-03-15", "provider_npi": "1234567893",
         "diagnosis_codes": ["M17.11"], "procedure_codes": ["27447"], "clinical_notes": "notes",
         "insurance_id": "ABC123456"}


def errors(**changes) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        PriorAuthRequest(**{**VALID, **changes})
    return caught.value.errors(include_url=False)


def test_codes_are_trimmed_uppercased_and_blank_entries_dropped():
    request = PriorAuthRequest(**{**VALID, "diagnosis_codes": [" r91.1 ", "", "m17.11"],
                                  "procedure_codes": [" 27447 ", "j0135", "0275t"]})
    assert request.diagnosis_codes == ["R91.1", "M17.11"]
    assert request.procedure_codes == ["27447", "J0135", "0275T"]


@pytest.mark.parametrize("dob, message", [
    ("2043-01-01", "Value error, patient_dob must not be in the future"),
    ("2026-02-30", "Value error, patient_dob is not a real calendar date: '2026-02-30'"),
    ("03/15/1955", "Value error, patient_dob must be in YYYY-MM-DD format"),
    ("1955-3-15", "Value error, patient_dob must be in YYYY-MM-DD format"),
])
def test_dob_rules(dob, message):
    [error] = errors(patient_dob=dob)
    assert error["type"] == "value_error" and error["loc"] == ("patient_dob",)
    assert error["msg"] == message and error["input"] == dob


def test_tomorrow_is_the_future():
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    assert errors(patient_dob=tomorrow)[0]["msg"] == "Value error, patient_dob must not be in the future"


@pytest.mark.parametrize("code", ["NOT-A-CODE", "U07.1", "M17.123456", "17.11", "M1", "M17.", "MM7.11"])
def test_invalid_icd10(code):
    [error] = errors(diagnosis_codes=[code])
    assert error["loc"] == ("diagnosis_codes",) and error["input"] == [code]
    assert error["msg"] == (f"Value error, invalid ICD-10 diagnosis code: {code.strip().upper()!r} "
                            "(expected format e.g. R91.1, M17.11, J18.9)")


@pytest.mark.parametrize("code", ["2744", "274477", "ABCDE", "J013", "27447-50"])
def test_invalid_procedure(code):
    [error] = errors(procedure_codes=[code])
    assert error["msg"].startswith(f"Value error, invalid CPT/HCPCS procedure code: {code!r}")


@pytest.mark.parametrize("field", ["diagnosis_codes", "procedure_codes"])
@pytest.mark.parametrize("value", [[], [""], ["  ", ""]])
def test_at_least_one_non_blank_code(field, value):
    [error] = errors(**{field: value})
    assert error["msg"].startswith("Value error, at least one non-blank")


def test_both_errors_are_reported_together():
    found = errors(patient_dob="2043-01-01", diagnosis_codes=["NOT-A-CODE"])
    assert [e["loc"] for e in found] == [("patient_dob",), ("diagnosis_codes",)]


def test_override_needs_its_fields():
    base = {"request_id": "x", "reviewer_name": "Dr. Jane Doe"}
    DecisionRequest(**base, action="accept")
    DecisionRequest(**base, action="override", override_recommendation="approve",
                    override_rationale="Clinical evidence supports approval here.")
    DecisionRequest(**base, action="override", override_recommendation="deny",
                    override_rationale="Imaging shows no advanced arthritis at all.", denial_reason="Criterion 2")
    for bad in ({"action": "approve"},
                {"action": "override", "override_rationale": "Clinical evidence supports approval here."},
                {"action": "override", "override_recommendation": "approve", "override_rationale": "too short"},
                {"action": "override", "override_recommendation": "deny",
                 "override_rationale": "Imaging shows no advanced arthritis at all."},
                {"action": "accept", "override_recommendation": "approve"}):
        with pytest.raises(ValidationError):
            DecisionRequest(**base, **bad)
