"""The criterion language, leaf by leaf, on hand-built extraction dicts."""
from __future__ import annotations

import pytest

from priorauth.policies import INSUFFICIENT, MET, NOT_MET, Facts, assess

from .helpers import extraction, measurement, mention

NOTES = ("Bilateral knee pain for 2 years. No relief from 14 weeks of naproxen. Completed 8 weeks of physical "
         "therapy without improvement. Denies fever. Patient is not using a cane. Currently taking acetaminophen "
         "with good relief. BMI 31.2. Family history of medullary thyroid carcinoma. Will start exemestane.")


def facts(*items, codes=("M17.11",), age=70.0, duration=None) -> Facts:
    return Facts(extraction=extraction(*items, duration=duration), diagnosis_codes=codes, age_years=age)


def naproxen(**kw):
    return mention(NOTES, "naproxen", "nsaids", "treatment", **{"outcome": "failed", "duration_weeks": 14, **kw})


def pt(**kw):
    return mention(NOTES, "physical therapy", "physical_therapy", "treatment",
                   **{"outcome": "failed", "duration_weeks": 8, **kw})


# ---------------------------------------------------------------- mention

def test_mention_met_with_evidence_span():
    out = assess({"mention": {"concepts": ["knee_pain"]}}, facts(mention(NOTES, "knee pain", "knee_pain", "symptom")))
    assert out.status == MET and out.confidence == 90
    assert out.evidence == [{"text": "knee pain", "start": NOTES.index("knee pain"), "end": NOTES.index("knee pain") + 9}]
    assert NOTES[out.evidence[0]["start"]:out.evidence[0]["end"]] == "knee pain"


def test_mention_only_negated_is_not_met():
    out = assess({"mention": {"concepts": ["fever"]}}, facts(mention(NOTES, "fever", "fever", "red_flag", negated=True)))
    assert out.status == NOT_MET and out.evidence[0]["text"] == "fever"


def test_mention_nothing_found_is_insufficient():
    out = assess({"mention": {"concepts": ["fever"]}}, facts())
    assert (out.status, out.confidence, out.evidence) == (INSUFFICIENT, 0, [])


def test_mention_historical_counts_with_lower_confidence_unless_current_only():
    item = mention(NOTES, "knee pain", "knee_pain", "symptom", historical=True)
    assert assess({"mention": {"concepts": ["knee_pain"]}}, facts(item)).confidence == 80
    assert assess({"mention": {"concepts": ["knee_pain"], "current_only": True}}, facts(item)).status == INSUFFICIENT


def test_mention_ignores_hypothetical_and_family_unless_asked():
    plan = mention(NOTES, "exemestane", "exemestane", "treatment", hypothetical=True)
    assert assess({"mention": {"concepts": ["exemestane"]}}, facts(plan)).status == INSUFFICIENT
    assert assess({"mention": {"concepts": ["exemestane"], "include_hypothetical": True}}, facts(plan)).status == MET


def test_mention_min_count_counts_distinct_concepts():
    items = [mention(NOTES, "knee pain", "knee_pain", "symptom")]
    rule = {"mention": {"concepts": ["knee_pain", "fever"], "min_count": 2}}
    out = assess(rule, facts(*items))
    assert out.status == INSUFFICIENT and "1 of 2" in out.rationale


def test_mention_by_category():
    out = assess({"mention": {"category": "symptom"}}, facts(mention(NOTES, "knee pain", "knee_pain", "symptom")))
    assert out.status == MET


# ---------------------------------------------------------------- absent

def test_absent_explicitly_ruled_out():
    out = assess({"absent": {"concepts": ["fever"]}}, facts(mention(NOTES, "fever", "fever", "red_flag", negated=True)))
    assert (out.status, out.confidence) == (MET, 90)


def test_absent_silent_is_insufficient_unless_the_rule_accepts_silence():
    """Safe by default: an exclusion nobody addresses (a boxed warning, an infection) is not ruled out."""
    assert assess({"absent": {"concepts": ["fever"]}}, facts()).status == INSUFFICIENT
    silent = assess({"absent": {"concepts": ["fever"], "silent": "MET"}}, facts())
    assert (silent.status, silent.confidence) == (MET, 60)


def test_absent_present_is_not_met():
    out = assess({"absent": {"concepts": ["fever"]}}, facts(mention(NOTES, "fever", "fever", "red_flag")))
    assert out.status == NOT_MET


def test_absent_family_history_counts_only_when_asked():
    item = mention(NOTES, "medullary thyroid carcinoma", "medullary_thyroid_carcinoma", "condition", family=True)
    assert assess({"absent": {"concepts": ["medullary_thyroid_carcinoma"], "silent": "MET"}}, facts(item)).status == MET
    rule = {"absent": {"concepts": ["medullary_thyroid_carcinoma"], "include_family": True}}
    assert assess(rule, facts(item)).status == NOT_MET


def test_absent_history_counts_only_when_current_only_false():
    item = mention(NOTES, "medullary thyroid carcinoma", "medullary_thyroid_carcinoma", "condition", historical=True)
    assert assess({"absent": {"concepts": ["medullary_thyroid_carcinoma"], "silent": "MET"}}, facts(item)).status == MET
    rule = {"absent": {"concepts": ["medullary_thyroid_carcinoma"], "current_only": False}}
    assert assess(rule, facts(item)).status == NOT_MET


# ---------------------------------------------------------------- treatment_failed

RULE = {"treatment_failed": {"concepts": ["nsaids", "physical_therapy", "assistive_device", "acetaminophen"],
                             "min_count": 2, "min_weeks": 12}}


def test_two_failures_with_long_enough_trial_is_met():
    out = assess(RULE, facts(naproxen(), pt()))
    assert (out.status, out.confidence) == (MET, 95)
    assert [e["text"] for e in out.evidence] == ["naproxen", "physical therapy"]
    assert "14 weeks" in out.rationale


def test_failures_all_too_short_is_not_met():
    out = assess(RULE, facts(naproxen(duration_weeks=4), pt(duration_weeks=6)))
    assert out.status == NOT_MET and "6 weeks" in out.rationale


def test_failures_without_durations_is_insufficient():
    out = assess(RULE, facts(naproxen(duration_weeks=None), pt(duration_weeks=None)))
    assert out.status == INSUFFICIENT and "not documented" in out.rationale


def test_intolerance_needs_no_duration():
    out = assess(RULE, facts(naproxen(outcome="intolerant", duration_weeks=None),
                             pt(outcome="contraindicated", duration_weeks=None)))
    assert out.status == MET


def test_one_failure_and_one_negated_is_not_met():
    cane = mention(NOTES, "cane", "assistive_device", "treatment", negated=True)
    out = assess(RULE, facts(naproxen(), cane))
    assert out.status == NOT_MET and "not done" in out.rationale


def test_one_failure_and_one_ongoing_with_good_response_is_not_met():
    tylenol = mention(NOTES, "acetaminophen", "acetaminophen", "treatment", outcome="ongoing")
    assert assess(RULE, facts(naproxen(), tylenol)).status == NOT_MET


def test_one_failure_alone_is_insufficient():
    out = assess(RULE, facts(naproxen()))
    assert out.status == INSUFFICIENT and out.evidence and "1 of 2" in out.rationale


def test_unknown_outcome_is_insufficient():
    out = assess({"treatment_failed": {"concepts": ["nsaids"]}}, facts(naproxen(outcome="unknown")))
    assert out.status == INSUFFICIENT


def test_outcomes_override_accepts_ongoing():
    metformin = mention(NOTES, "acetaminophen", "metformin", "treatment", outcome="ongoing", duration_weeks=52)
    rule = {"treatment_failed": {"concepts": ["metformin"], "outcomes": ["failed", "ongoing"], "min_weeks": 12}}
    assert assess(rule, facts(metformin)).status == MET


def test_hypothetical_treatments_are_ignored():
    plan = naproxen(hypothetical=True)
    assert assess({"treatment_failed": {"concepts": ["nsaids"]}}, facts(plan)).status == INSUFFICIENT


# ---------------------------------------------------------------- measurement

BMI = measurement(NOTES, "BMI 31.2", "bmi", 31.2)


def test_measurement_threshold():
    assert assess({"measurement": {"name": "bmi", "op": ">=", "value": 30}}, facts(BMI)).status == MET
    out = assess({"measurement": {"name": "bmi", "op": ">=", "value": 35}}, facts(BMI))
    assert out.status == NOT_MET and out.confidence == 90 and out.evidence[0]["text"] == "BMI 31.2"
    assert "31.2" in out.rationale


def test_measurement_missing_is_insufficient_and_presence_only_is_met():
    assert assess({"measurement": {"name": "ahi", "op": ">=", "value": 15}}, facts(BMI)).status == INSUFFICIENT
    assert assess({"measurement": {"name": "bmi"}}, facts(BMI)).status == MET
    assert assess({"measurement": {}}, facts(BMI)).status == MET  # any severity measure


def test_measurement_names_and_qualifier():
    rest = measurement(NOTES, "BMI 31.2", "spo2", 93, "rest")
    walk = measurement(NOTES, "naproxen", "spo2", 86, "exercise")
    assert assess({"measurement": {"names": ["spo2", "pao2"], "op": "<=", "value": 88}}, facts(rest, walk)).status == MET
    rule = {"measurement": {"name": "spo2", "op": "<=", "value": 88, "qualifier": "rest"}}
    assert assess(rule, facts(rest, walk)).status == NOT_MET


# ---------------------------------------------------------------- diagnosis, age, duration

def test_diagnosis_prefix_with_and_without_corroboration():
    rule = {"diagnosis": {"prefixes": ["M17"], "concepts": ["knee_pain"]}}
    corroborated = assess(rule, facts(mention(NOTES, "knee pain", "knee_pain", "symptom")))
    assert (corroborated.status, corroborated.confidence) == (MET, 95) and corroborated.evidence
    code_only = assess(rule, facts())
    assert (code_only.status, code_only.confidence, code_only.evidence) == (MET, 80, [])
    assert assess(rule, facts(codes=("E11.9",))).status == NOT_MET
    assert assess({"diagnosis": {"prefixes": ["M17.1"]}}, facts(codes=("M1711",))).status == MET


def test_age():
    assert assess({"age": {"op": ">=", "value": 18}}, facts(age=17.9)).status == NOT_MET
    assert assess({"age": {"op": ">=", "value": 18}}, facts(age=40)).confidence == 99
    assert assess({"age": {"op": ">=", "value": 18}}, facts(age=None)).status == INSUFFICIENT


def test_symptom_duration():
    duration = {"text": "2 years", "weeks": 104, "start": NOTES.index("2 years"), "end": NOTES.index("2 years") + 7}
    out = assess({"symptom_duration": {"min_weeks": 6}}, facts(duration=duration))
    assert out.status == MET and out.evidence[0]["text"] == "2 years"
    assert assess({"symptom_duration": {"min_weeks": 200}}, facts(duration=duration)).status == NOT_MET
    assert assess({"symptom_duration": {"min_weeks": 6}}, facts()).status == INSUFFICIENT


# ---------------------------------------------------------------- combinators

@pytest.mark.parametrize("statuses, any_status, all_status", [
    ((MET, MET), MET, MET),
    ((MET, NOT_MET), MET, NOT_MET),
    ((MET, INSUFFICIENT), MET, INSUFFICIENT),
    ((NOT_MET, NOT_MET), NOT_MET, NOT_MET),
    ((NOT_MET, INSUFFICIENT), INSUFFICIENT, NOT_MET),
    ((INSUFFICIENT, INSUFFICIENT), INSUFFICIENT, INSUFFICIENT),
])
def test_combinators(statuses, any_status, all_status):
    leaf = {MET: {"measurement": {"name": "bmi", "op": ">=", "value": 30}},
            NOT_MET: {"measurement": {"name": "bmi", "op": ">=", "value": 40}},
            INSUFFICIENT: {"measurement": {"name": "ahi", "op": ">=", "value": 5}}}
    rules = [leaf[s] for s in statuses]
    assert assess({"any_of": rules}, facts(BMI)).status == any_status
    assert assess({"all_of": rules}, facts(BMI)).status == all_status


def test_combinator_confidence_and_evidence():
    both = {"all_of": [{"measurement": {"name": "bmi", "op": ">=", "value": 30}},
                       {"mention": {"concepts": ["knee_pain"]}}]}
    out = assess(both, facts(BMI, mention(NOTES, "knee pain", "knee_pain", "symptom")))
    assert out.confidence == 90  # the weaker of 95 and 90
    assert [e["text"] for e in out.evidence] == ["knee pain", "BMI 31.2"]  # sorted by position
