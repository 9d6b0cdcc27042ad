"""The blind review corpus (tests/cases/corpus) is well formed: what bench/review_quality.py measures with
is exactly what its authors wrote down. Only the form is checked here; the engine's figures on it are
reported in docs/review.md, never asserted (the test split is never tuned on)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from priorauth import policies
from priorauth.codes import icd10_status, npi_is_valid

CORPUS = Path(__file__).resolve().parent.parent / "cases" / "corpus"
CASES = {path.relative_to(CORPUS).as_posix(): yaml.safe_load(path.read_text(encoding="utf-8"))
         for path in sorted(CORPUS.glob("*/*.yaml"))}
FIELDS = {"patient_name", "patient_dob", "provider_npi", "diagnosis_codes", "procedure_codes", "clinical_notes",
          "insurance_id"}


def test_the_splits_are_what_the_readme_says():
    splits = {key.split("/")[0] for key in CASES}
    assert splits == {"dev", "test"}
    test = [c for k, c in CASES.items() if k.startswith("test/")]
    assert len(test) >= 150 and all(c["name"].startswith("h") for c in test)  # blind cases only
    by_policy: dict = {}
    for case in CASES.values():
        by_policy.setdefault(case["expect"]["policy"], []).append(case)
    assert {p.id for p in policies.load_library()} <= set(by_policy)
    assert all(len(cases) >= 15 for cases in by_policy.values())
    blind = [c for c in CASES.values() if c["name"].startswith("h")]
    assert len(blind) >= 240 and 0.3 <= sum(c["expect"]["recommendation"] == "approve" for c in blind) / len(blind)


@pytest.mark.parametrize("key", sorted(CASES))
def test_case_is_well_formed(key):
    case = CASES[key]
    assert f"{case['name']}.yaml" == key.split("/")[1]
    request, expect = case["request"], case["expect"]
    assert set(request) == FIELDS and 300 <= len(request["clinical_notes"]) <= 6000
    gate, recommendation = expect.get("failed_gate"), expect["recommendation"]
    assert recommendation in ("approve", "pend_for_review")
    assert npi_is_valid(str(request["provider_npi"])) or gate == 1 or "failed_gate" not in expect
    if gate not in (2,) and "failed_gate" in expect:
        for code in request["diagnosis_codes"]:
            status = icd10_status(str(code))
            assert status.valid and status.billable, code
    if expect["policy"] is None:
        assert recommendation == "pend_for_review" and not expect.get("criteria")
        return
    policy = policies.get_policy(expect["policy"])
    if "criteria" not in expect:  # an outside example: outcome and policy only
        return
    wanted = {c.id for c in policy.criteria}
    if expect.get("indication"):
        wanted |= {c.id for i in policy.indications if i.id == expect["indication"] for c in i.criteria}
    assert set(expect["criteria"]) == wanted
    required = {c.id for c in policy.all_criteria() if c.required}
    unmet_required = [cid for cid, s in expect["criteria"].items() if s != "MET" and cid in required]
    assert (recommendation == "approve") == (not unmet_required and gate is None)
