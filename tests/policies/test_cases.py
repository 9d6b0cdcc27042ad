"""The review cases in tests/cases: well formed, matched to the right policy, and - with the real clinical
extractor and review pipeline - producing the expected criterion statuses, gaps,
failed gate and recommendation."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from priorauth import policies
from priorauth.codes import icd10_status, npi_is_valid
from priorauth.review import engine, pipeline

CASES_DIR = Path(__file__).resolve().parent.parent / "cases"
CASES = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(CASES_DIR.glob("*.yaml"))}
REQUEST_KEYS = {"patient_name", "patient_dob", "provider_npi", "diagnosis_codes", "procedure_codes", "clinical_notes",
                "insurance_id"}
STATUSES = {"MET", "NOT_MET", "INSUFFICIENT"}


def _ids(fn):
    return pytest.mark.parametrize("name", sorted(CASES))(fn)


def test_there_is_a_case_for_every_policy():
    covered = {case["expect"]["policy"] for case in CASES.values() if case["expect"]["recommendation"] == "approve"}
    assert covered == {p.id for p in policies.load_library()}


def test_every_approved_case_has_a_pending_negative_twin():
    for name, case in CASES.items():
        if case["expect"]["recommendation"] != "approve":
            continue
        twins = [c for c in CASES.values() if c.get("twin_of") == name and c["expect"]["recommendation"] != "approve"]
        assert twins, f"{name} has no negative twin"
        for twin in twins:
            changed = {k for k, v in twin["expect"]["criteria"].items() if case["expect"]["criteria"].get(k) != v}
            assert changed or twin["expect"]["failed_gate"] in (1, 2), twin["name"]
            assert twin["expect"]["documentation_gaps"], f"{twin['name']} must name the documentation gap"


@_ids
def test_case_is_well_formed(name):
    case = CASES[name]
    assert case["name"] == name and case["description"].strip()
    request, expect = case["request"], case["expect"]
    assert set(request) == REQUEST_KEYS
    assert 800 <= len(request["clinical_notes"]) <= 2000
    for code in request["diagnosis_codes"]:
        status = icd10_status(code)
        assert status.valid and status.billable, f"{code} must be a valid, billable ICD-10-CM code"
    assert npi_is_valid(request["provider_npi"]) == (expect["failed_gate"] != 1)
    assert expect["recommendation"] in ("approve", "pend_for_review")
    assert (expect["recommendation"] == "approve") == (expect["failed_gate"] is None)
    if expect["recommendation"] == "approve":
        assert set(expect["criteria"].values()) == {"MET"} and expect["documentation_gaps"] == []
    assert set(expect["criteria"].values()) <= STATUSES
    if case.get("twin_of"):
        assert case["twin_of"] in CASES and case.get("changed")


@_ids
def test_case_matches_its_policy(name):
    case = CASES[name]
    found = policies.match(case["request"])
    assert found is not None and found.policy.id == case["expect"]["policy"]
    assert found.policy_match >= 0.5  # path A: the policy names the requested code
    policy = found.policy
    expected = set(case["expect"]["criteria"])
    assert {c.id for c in policy.criteria} <= expected <= {c.id for c in policy.all_criteria()}


# ---------------------------------------------------------------- with the real extractor

@pytest.fixture(scope="module")
def extractor():
    return engine.extractor()  # the one the service uses: the generic lexicon and the policies' concepts


@_ids
def test_case_criteria_with_the_real_extractor(name, extractor):
    case = CASES[name]
    request, expect = case["request"], case["expect"]
    extraction = extractor.extract(request["clinical_notes"])
    result = policies.evaluate(expect["policy"], request, extraction)
    statuses = {c["id"]: c["status"] for c in result["criteria_assessment"]}
    assert statuses == expect["criteria"], _explain(result)
    if "indication" in expect:
        assert (result["indication"] or {}).get("id") == expect["indication"]
    notes = request["clinical_notes"]
    for criterion in result["criteria_assessment"]:
        for e in criterion["evidence"]:
            assert notes[e["start"]:e["end"]] == e["text"]
    policy_gaps = {c.gap.what for c in policies.get_policy(expect["policy"]).all_criteria()}
    whats = [g["what"] for g in result["documentation_gaps"]]
    for gap in expect["documentation_gaps"]:
        if any(gap in p for p in policy_gaps):
            assert any(gap in w for w in whats), (gap, whats)


@_ids
def test_case_recommendation_through_the_review_pipeline(name, extractor):
    case = CASES[name]
    expect = case["expect"]
    now = datetime.now(timezone.utc)
    response = pipeline.run("case-" + name, case["request"], None, extractor, now, lambda: now)
    failed = [g["gate"] for g in response["decision_gates"] if g["status"] == "FAIL"]
    assert (failed[0] if failed else None) == expect["failed_gate"], response["clinical_rationale"]
    assert response["recommendation"] == expect["recommendation"], response["clinical_rationale"]
    whats = [g["what"] for g in response["documentation_gaps"]]
    for gap in expect["documentation_gaps"]:
        assert any(gap in w for w in whats), (gap, whats)
    if expect["recommendation"] == "approve":
        assert not [g for g in response["documentation_gaps"] if g["critical"]]


def _explain(result: dict) -> str:
    return "\n".join(f"{c['id']}: {c['status']} - {c['rationale']}" for c in result["criteria_assessment"])
