"""match() and evaluate(): scores, indications, the output shape and the documentation gaps."""
from __future__ import annotations

from datetime import date

import pytest

from priorauth import policies

from .helpers import extraction, measurement, mention, request

TKA_NOTES = (
    "68-year-old with bilateral knee osteoarthritis, right worse than left, for 4 years. Difficulty climbing stairs "
    "and walking tolerance under one block. Weight-bearing X-rays: severe medial joint space narrowing with "
    "osteophytes, Kellgren-Lawrence grade 4. No relief from 6 months of meloxicam. Completed 12 weeks of physical "
    "therapy without improvement. Steroid injection gave two weeks of relief. No signs of infection.")
TODAY = date(2026, 2, 13)


def tka_extraction(*drop: str) -> dict:
    n = TKA_NOTES
    items = {
        "oa": mention(n, "bilateral knee osteoarthritis", "knee_osteoarthritis", "condition"),
        "stairs": mention(n, "Difficulty climbing stairs", "stairs_limitation", "functional_limitation"),
        "walking": mention(n, "walking tolerance", "walking_limitation", "functional_limitation"),
        "jsn": mention(n, "joint space narrowing", "joint_space_narrowing", "imaging_finding"),
        "kl": measurement(n, "Kellgren-Lawrence grade 4", "kl_grade", 4),
        "nsaid": mention(n, "meloxicam", "nsaids", "treatment", outcome="failed", duration_weeks=26),
        "pt": mention(n, "physical therapy", "physical_therapy", "treatment", outcome="failed", duration_weeks=12),
        "injection": mention(n, "Steroid injection", "corticosteroid_injection", "treatment", outcome="failed"),
        "infection": mention(n, "signs of infection", "active_infection", "condition", negated=True),
    }
    return extraction(*(v for k, v in items.items() if k not in drop))


def tka_request(**overrides) -> dict:
    return {**request(TKA_NOTES, "27447", ["M17.11", "M17.12"]), **overrides}


# ---------------------------------------------------------------- match

def test_match_by_code_and_diagnoses():
    found = policies.match(tka_request())
    assert found.policy.id == "tka-27447" and found.policy_match == 1.0
    assert found.matched_codes == ("27447",) and found.aligned_diagnoses == ("M17.11", "M17.12")
    assert policies.match(tka_request(diagnosis_codes=["M17.11", "Z68.41"])).policy_match == 0.75
    assert policies.match(tka_request(diagnosis_codes=["E11.9"])).policy_match == 0.5


def test_match_by_diagnosis_only_is_path_b_score():
    found = policies.match(tka_request(procedure_codes=["20610"]))  # knee injection: no policy names it
    assert found.policy_match == 0.25 and found.policy.id == "knee-hyaluronan"  # earlier file wins the tie
    assert found.matched_codes == ()


def test_match_nothing():
    assert policies.match(tka_request(procedure_codes=["99213"], diagnosis_codes=["J06.9"])) is None


def test_unlisted_code_needs_the_drug_name_in_the_notes():
    notes = "Type 2 diabetes on metformin; HbA1c 8.4%. Plan: start Ozempic 0.25 mg weekly."
    found = policies.match(request(notes, "J3490", ["E11.65"]))
    assert found.policy.id == "semaglutide" and found.policy_match == 1.0
    other = policies.match(request("Plan: start dupilumab 300 mg for atopic dermatitis.", "J3490", ["L20.9"]))
    assert other.policy.id == "dupilumab"
    unnamed = policies.match(request("Plan: start an injectable for diabetes.", "J3490", ["E11.65"]))
    assert unnamed.policy.id == "semaglutide" and unnamed.policy_match == 0.25  # diagnosis only
    assert policies.match(request("Start Epidiolex.", "J8499", ["G40.814"])).policy.id == "epidiolex"
    # A drug name must be a whole word: "Ozempics" or "xsemaglutide" do not count.
    assert policies.policy_match(policies.get_policy("semaglutide"), request("xsemaglutide", "J3490", ["E11.9"])) == 0.25


# ---------------------------------------------------------------- evaluate

def test_evaluate_all_met_shape():
    result = policies.evaluate(policies.get_policy("tka-27447"), tka_request(), tka_extraction(), today=TODAY)
    assert result["policy"] == {"id": "tka-27447", "title": "Total Knee Arthroplasty", "citation": "LCD L36007",
                                "url": "https://www.cms.gov/medicare-coverage-database/view/lcd.aspx?lcdid=36007"}
    assert result["policy_match"] == 1.0
    assert result["diagnosis_alignment"]["aligned"] == ["M17.11", "M17.12"]
    assert result["diagnosis_alignment"]["not_aligned"] == []
    assert "LCD L36007" in result["diagnosis_alignment"]["note"]
    statuses = {c["id"]: c["status"] for c in result["criteria_assessment"]}
    assert statuses == {"knee_arthritis_diagnosis": "MET", "radiographic_evidence": "MET",
                        "functional_limitation": "MET", "conservative_care_failed": "MET", "no_active_infection": "MET"}
    assert result["documentation_gaps"] == []
    for criterion in result["criteria_assessment"]:
        assert set(criterion) == {"id", "criterion", "status", "confidence", "required", "evidence", "rationale"}
        assert 0 <= criterion["confidence"] <= 100
        for e in criterion["evidence"]:
            assert TKA_NOTES[e["start"]:e["end"]] == e["text"]


def test_evaluate_accepts_policy_id():
    result = policies.evaluate("tka-27447", tka_request(), tka_extraction(), today=TODAY)
    assert result["policy"]["id"] == "tka-27447"


def test_missing_xray_gives_a_concrete_gap():
    result = policies.evaluate("tka-27447", tka_request(), tka_extraction("jsn", "kl"), today=TODAY)
    radiographic = next(c for c in result["criteria_assessment"] if c["id"] == "radiographic_evidence")
    assert radiographic["status"] == "INSUFFICIENT" and radiographic["confidence"] == 0
    assert result["documentation_gaps"] == [{
        "what": "Weight-bearing knee X-ray report", "critical": True,
        "request": "Please provide the weight-bearing knee X-ray report showing joint space narrowing, osteophytes, "
                   "subchondral sclerosis or cysts, with the Kellgren-Lawrence grade if available."}]


def test_one_gap_per_unmet_criterion():
    result = policies.evaluate("tka-27447", tka_request(diagnosis_codes=["E11.9"]), extraction(), today=TODAY)
    unmet = [c for c in result["criteria_assessment"] if c["status"] != "MET"]
    assert len(result["documentation_gaps"]) == len(unmet) == 5  # silence does not rule out an infection
    assert result["diagnosis_alignment"]["aligned"] == []


def test_optional_criterion_yields_non_critical_gap():
    notes = "BMI 42.1. Type 2 diabetes. Failed a medically supervised weight loss program over 6 months."
    ext = extraction(
        measurement(notes, "BMI 42.1", "bmi", 42.1),
        mention(notes, "Type 2 diabetes", "type2_diabetes", "condition"),
        mention(notes, "medically supervised weight loss program", "supervised_weight_loss_program", "treatment",
                outcome="failed", duration_weeks=26))
    result = policies.evaluate("bariatric-surgery", request(notes, "43775", ["E66.01", "Z68.41"]), ext, today=TODAY)
    required = [c for c in result["criteria_assessment"] if c["required"]]
    assert all(c["status"] == "MET" for c in required)
    assert result["documentation_gaps"] == [{
        "what": "Pre-operative psychological evaluation", "critical": False,
        "request": "Please provide the pre-operative psychological or behavioral health evaluation clearing the "
                   "patient for surgery."}]


# ---------------------------------------------------------------- indications

def test_indication_follows_the_diagnosis():
    notes = "Crohn's disease on prednisone without response."
    crohns = policies.evaluate("adalimumab-j0135", request(notes, "J0135", ["K50.011"]), extraction(), today=TODAY)
    assert crohns["indication"]["id"] == "crohns_disease"
    ids = [c["id"] for c in crohns["criteria_assessment"]]
    assert "crohns_conventional_failed" in ids and "ra_csdmard_failed" not in ids
    ra = policies.evaluate("adalimumab-j0135", request(notes, "J0135", ["M05.79"]), extraction(), today=TODAY)
    assert ra["indication"]["id"] == "rheumatoid_arthritis"
    none = policies.evaluate("adalimumab-j0135", request(notes, "J0135", ["L40.0"]), extraction(), today=TODAY)
    assert none["indication"] is None
    assert next(c for c in none["criteria_assessment"] if c["id"] == "covered_indication")["status"] == "NOT_MET"
    assert "No indication" in none["diagnosis_alignment"]["note"]


def test_first_indication_wins_when_both_fit():
    notes = "Type 2 diabetes and obesity. Start semaglutide."
    result = policies.evaluate("semaglutide", request(notes, "J3490", ["E11.9", "E66.01"]), extraction(), today=TODAY)
    assert result["indication"]["id"] == "type2_diabetes"


def test_indication_selected_by_when_rule():
    notes = "OSA on CPAP. Download: 5.8 hours per night, used on 84% of nights. Daytime sleepiness improved."
    ext = extraction(measurement(notes, "5.8 hours per night", "cpap_hours_per_night", 5.8),
                     measurement(notes, "84% of nights", "cpap_nights_percent", 84))
    result = policies.evaluate("cpap-e0601", request(notes, "E0601", ["G47.33"]), ext, today=TODAY)
    assert result["indication"]["id"] == "continued_coverage"
    adherence = next(c for c in result["criteria_assessment"] if c["id"] == "cpap_adherence")
    assert adherence["status"] == "MET"
    initial = policies.evaluate("cpap-e0601", request(notes, "E0601", ["G47.33"]), extraction(), today=TODAY)
    assert initial["indication"] is None


@pytest.mark.parametrize("dob, status", [("2025-10-01", "NOT_MET"), ("2025-06-01", "MET")])
def test_age_criterion_uses_date_of_birth(dob, status):
    result = policies.evaluate("dupilumab", request("eczema", "J3590", ["L20.9"], dob=dob), extraction(), today=TODAY)
    age = next(c for c in result["criteria_assessment"] if c["id"] == "ad_age")
    assert age["status"] == status


def test_general_policy_path_b():
    notes = "Chronic shoulder pain for 8 months despite 6 weeks of physical therapy."
    ext = extraction(mention(notes, "shoulder pain", "shoulder_pain", "symptom"),
                     mention(notes, "physical therapy", "physical_therapy", "treatment", outcome="failed",
                             duration_weeks=6))
    result = policies.evaluate(policies.general_policy(), request(notes, "29827", ["M75.121"]), ext, today=TODAY)
    assert result["policy_match"] == 0.0
    assert [c["status"] for c in result["criteria_assessment"]] == ["MET", "MET", "MET"]
    assert result["diagnosis_alignment"]["aligned"] == ["M75.121"]


def test_age_in_years():
    assert policies.age_in_years("1955-03-15", TODAY) == pytest.approx(70.9, abs=0.05)
    assert policies.age_in_years("not a date", TODAY) is None
    assert policies.age_in_years("2030-01-01", TODAY) is None


@pytest.mark.parametrize("extraction_value", [None, {}, {"prior_treatments": None, "severity_scores": None}])
def test_evaluate_tolerates_empty_extraction(extraction_value):
    for policy in [*policies.load_library(), policies.general_policy()]:
        result = policies.evaluate(policy, tka_request(), extraction_value, today=TODAY)
        assert {c["status"] for c in result["criteria_assessment"]} <= {"MET", "NOT_MET", "INSUFFICIENT"}
        assert len(result["documentation_gaps"]) == sum(c["status"] != "MET" for c in result["criteria_assessment"])
