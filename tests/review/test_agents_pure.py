"""The compliance and synthesis agents as pure functions: checklist, gates, the confidence formula."""
from __future__ import annotations

import pytest

from priorauth.review import compliance, synthesis

NOTES = ("67-year-old with bilateral knee osteoarthritis, Kellgren-Lawrence grade 4, pain 8/10, "
         "no relief from 6 months of NSAIDs and physical therapy; difficulty climbing stairs. " * 3)
REQUEST = {"patient_name": "John Smith", "patient_dob": "1955-03-15", "provider_npi": "1234567893",
           "diagnosis_codes": ["M17.11", "M17.12"], "procedure_codes": ["27447"], "clinical_notes": NOTES,
           "insurance_id": "ABC123456"}


def _item(result: dict, name: str) -> dict:
    return next(i for i in result["checklist"] if i["item"] == name)


def test_complete_request_has_ten_items_and_no_missing():
    result = compliance.review(REQUEST)
    assert len(result["checklist"]) == 10
    assert result["overall_status"] == "complete" and result["missing_items"] == []
    assert _item(result, "ncci_awareness")["status"] == "not_applicable"
    assert _item(result, "service_type")["detail"] == "27447: surgery"
    assert compliance.compliance_score(result) == 1.0


def test_incomplete_items_lower_the_score():
    result = compliance.review({**REQUEST, "provider_npi": "12345", "insurance_id": " ", "clinical_notes": "knee pain",
                                "procedure_codes": ["27447", "27447"]})
    assert result["overall_status"] == "incomplete"
    assert result["missing_items"] == ["provider_npi", "insurance_id", "procedure_codes", "clinical_notes_quality"]
    assert _item(result, "ncci_awareness")["status"] == "complete"
    assert compliance.compliance_score(result) == pytest.approx(0.6)


def test_medicare_beneficiary_identifier_names_the_plan_type():
    assert _item(compliance.review({**REQUEST, "insurance_id": "1EG4-TE5-MK73"}), "plan_type")["status"] == "complete"


def test_confidence_formula_and_levels():
    assert synthesis.confidence(85, 82, 1.0, 1.0) == round(0.34 + 0.246 + 0.2 + 0.1, 2) == 0.89
    assert synthesis.confidence(0, 0, 0, 0) == 0.0
    assert [synthesis.confidence_level(x) for x in (0.8, 0.79, 0.5, 0.49)] == ["HIGH", "MEDIUM", "MEDIUM", "LOW"]


def _coverage(statuses: list[str], policy_match: float = 1.0, provider: dict | None = None) -> dict:
    return {"provider_verification": provider or {"npi": "1234567893", "check_digit_valid": True, "status": "active"},
            "path": "A", "policy": {"id": "tka", "citation": "LCD L36007", "title": "Total Knee Arthroplasty"},
            "policy_match": policy_match,
            "criteria_assessment": [{"id": f"c{i}", "criterion": f"Criterion {i}", "status": s, "confidence": 90,
                                     "required": True, "evidence": [{"text": "KL grade 4", "start": 0, "end": 10}]}
                                    for i, s in enumerate(statuses)],
            "documentation_gaps": [{"what": f"Criterion {i}", "critical": True, "request": "Please provide it"}
                                   for i, s in enumerate(statuses) if s != "MET"]}


def _clinical(extraction_confidence: int = 86) -> dict:
    return {"diagnosis_validation": [{"code": c, "valid": True, "billable": True, "hierarchy_note": ""}
                                     for c in REQUEST["diagnosis_codes"]],
            "procedure_validation": [{"code": "27447", "valid": True}],
            "clinical_extraction": {"extraction_confidence": extraction_confidence}}


def test_all_gates_pass_approves_with_evidence():
    result = synthesis.decide(REQUEST, compliance.review(REQUEST), _clinical(), _coverage(["MET"] * 4))
    assert result["recommendation"] == "approve" and result["confidence_level"] == "HIGH"
    assert result["confidence"] == synthesis.confidence(90, 86, 1.0, 1.0)
    assert [g["status"] for g in result["decision_gates"]] == ["PASS", "PASS", "PASS"]
    assert result["coverage_criteria_met"][0] == 'Criterion 0 — "KL grade 4"'
    assert result["policy_references"] == ["LCD L36007 — Total Knee Arthroplasty"]
    assert result["criteria_met_count"] == "4/4" and result["documentation_gaps"] == []


def test_an_unmet_criterion_pends_with_its_gap():
    result = synthesis.decide(REQUEST, compliance.review(REQUEST), _clinical(), _coverage(["MET", "INSUFFICIENT"]))
    assert result["recommendation"] == "pend_for_review"
    assert result["decision_gates"][2]["status"] == "FAIL"
    assert result["missing_documentation"] == ["Criterion 1"]


def test_gates_stop_at_the_first_failure():
    bad_npi = {"npi": "1234567890", "check_digit_valid": False, "status": "invalid"}
    result = synthesis.decide(REQUEST, compliance.review(REQUEST), _clinical(), _coverage(["MET"], provider=bad_npi))
    assert [g["status"] for g in result["decision_gates"]] == ["FAIL", "SKIPPED", "SKIPPED"]
    assert result["recommendation"] == "pend_for_review"
    assert result["documentation_gaps"][0]["what"] == "Valid provider NPI"


def test_deactivated_provider_fails_gate_one():
    gone = {"npi": "1234567893", "check_digit_valid": True, "status": "deactivated", "deactivation_date": "2024-01-02"}
    result = synthesis.decide(REQUEST, compliance.review(REQUEST), _clinical(), _coverage(["MET"], provider=gone))
    assert result["decision_gates"][0]["status"] == "FAIL" and "deactivated" in result["decision_gates"][0]["detail"]


def test_non_billable_parent_fails_gate_two_with_the_children_to_use():
    request = {**REQUEST, "diagnosis_codes": ["M17.1"]}
    result = synthesis.decide(request, compliance.review(request), {"clinical_extraction": {}}, _coverage(["MET"]))
    assert [g["status"] for g in result["decision_gates"]] == ["PASS", "FAIL", "SKIPPED"]
    assert "M17.11" in result["documentation_gaps"][0]["request"]


def test_low_confidence_never_approves():
    result = synthesis.decide(REQUEST, {"missing_items": ["a"] * 10}, _clinical(0), _coverage(["MET"], 0.0))
    assert [g["status"] for g in result["decision_gates"]] == ["PASS", "PASS", "PASS"]
    assert result["confidence_level"] == "LOW" and result["recommendation"] == "pend_for_review"


def test_the_engine_never_denies():
    for statuses in (["NOT_MET"] * 5, ["MET"], []):
        result = synthesis.decide(REQUEST, {}, _clinical(), _coverage(statuses))
        assert result["recommendation"] in ("approve", "pend_for_review")


def test_a_null_extraction_confidence_counts_as_zero():
    clinical = {**_clinical(), "clinical_extraction": {"extraction_confidence": None}}
    result = synthesis.decide(REQUEST, compliance.review(REQUEST), clinical, _coverage(["MET"]))
    assert result["confidence"] == synthesis.confidence(90, 0, 1.0, 1.0)


def test_a_service_without_a_policy_is_never_approved():
    """A strong note for a brain MRI (no policy in the library names 70553) meets every general criterion, yet
    pends: without the payer's criteria only a reviewer decides; the gap says what the reviewer needs."""
    from datetime import datetime, timezone

    from priorauth.review import engine, pipeline

    notes = ("Neurology follow-up. 44-year-old with chronic migraine for 6 years, 18 headache days a month, "
             "MIDAS 62. Failed topiramate 100 mg daily for 6 months and propranolol 80 mg for 4 months. "
             "Neurological exam normal, no papilledema, no focal deficit. Requesting MRI brain with and "
             "without contrast to complete the work-up before onabotulinumtoxinA. " * 2)
    request = {**REQUEST, "diagnosis_codes": ["G43.709"], "procedure_codes": ["70553"], "clinical_notes": notes}
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    response = pipeline.run("no-policy", request, None, engine.extractor(), now, lambda: now)
    assert response["agent_results"]["coverage"]["path"] == "B"
    assert all(c["status"] == "MET" for c in response["agent_results"]["coverage"]["criteria_assessment"])
    assert response["recommendation"] == "pend_for_review"
    gate = next(g for g in response["decision_gates"] if g["name"] == "medical_necessity")
    assert gate["status"] == "FAIL" and "No coverage policy in the library covers this service" in gate["detail"]
    assert response["documentation_gaps"][0]["what"].startswith("Medical-necessity review of 70553")
