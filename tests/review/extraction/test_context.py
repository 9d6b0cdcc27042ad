"""Negation versus documented failure, treatment outcomes, durations: the PA-specific ConText rules."""
import pytest

from .helpers import mentions, only


def test_no_relief_from_is_a_failure_not_a_negation(extractor):
    extraction = extractor.extract("No relief from 6 weeks of NSAIDs and physical therapy.")
    for concept in ("nsaids", "physical_therapy"):
        treatment = only(extraction, concept)
        assert treatment["negated"] is False
        assert treatment["outcome"] == "failed"
        assert treatment["duration_weeks"] == 6.0


@pytest.mark.parametrize("note, concept", [
    ("Patient denies chest pain.", "chest_pain"),
    ("No history of cancer.", "cancer"),
    ("She has not tried physical therapy.", "physical_therapy"),
    ("Knee pain without swelling.", "swelling"),
    ("Negative for fever.", "fever"),
])
def test_negations(extractor, note, concept):
    assert only(extractor.extract(note), concept)["negated"] is True


def test_negated_mentions_stay_in_their_lists(extractor):
    extraction = extractor.extract("Denies fever or chills but reports knee pain.")
    assert [m["negated"] for m in extraction["red_flags"]] == [True]
    assert only(extraction, "knee_pain")["negated"] is False


@pytest.mark.parametrize("note, concept, outcome", [
    ("Failed NSAIDs.", "nsaids", "failed"),
    ("NSAIDs failed.", "nsaids", "failed"),
    ("Did not respond to physical therapy.", "physical_therapy", "failed"),
    ("Tried PT for 3 months without improvement.", "physical_therapy", "failed"),
    ("Knee pain persistent despite NSAIDs.", "nsaids", "failed"),
    ("Refractory to corticosteroid injection.", "corticosteroid_injection", "failed"),
    ("Inadequate response to meloxicam.", "nsaids", "failed"),
    ("Pain not relieved by NSAIDs.", "nsaids", "failed"),
    ("NSAIDs were not effective.", "nsaids", "failed"),
    ("He was prescribed meloxicam which did not help.", "nsaids", "failed"),
    ("Minimal relief with a 6-week course of PT.", "physical_therapy", "failed"),
    ("Corticosteroid injection provided only temporary relief.", "corticosteroid_injection", "failed"),
    ("Intolerant of NSAIDs.", "nsaids", "intolerant"),
    ("Could not tolerate tramadol.", "opioids", "intolerant"),
    ("NSAIDs caused GI upset.", "nsaids", "intolerant"),
    ("Ibuprofen stopped due to side effects.", "nsaids", "intolerant"),
    ("NSAIDs contraindicated due to CKD stage 4.", "nsaids", "contraindicated"),
    ("Allergic to naproxen.", "nsaids", "contraindicated"),
    ("Currently taking acetaminophen.", "acetaminophen", "ongoing"),
    ("Continues home exercise program.", "home_exercise", "ongoing"),
    ("Home exercise program continues.", "home_exercise", "ongoing"),
    ("Uses a cane for ambulation.", "assistive_device", "ongoing"),
    ("Completed 12 weeks of physical therapy.", "physical_therapy", "completed"),
    ("Physical therapy completed in 2023.", "physical_therapy", "completed"),
    ("She did not get any relief from physical therapy.", "physical_therapy", "failed"),
    ("Meloxicam: didn't get relief.", "nsaids", "failed"),
    ("Prior treatments: bracing.", "bracing", "unknown"),
])
def test_treatment_outcomes(extractor, note, concept, outcome):
    treatment = only(extractor.extract(note), concept)
    assert treatment["outcome"] == outcome
    assert treatment["negated"] is False


def test_each_treatment_gets_its_own_outcome(extractor):
    extraction = extractor.extract("Failed NSAIDs; currently taking acetaminophen.")
    assert only(extraction, "nsaids")["outcome"] == "failed"
    assert only(extraction, "acetaminophen")["outcome"] == "ongoing"
    extraction = extractor.extract("Currently taking acetaminophen, NSAIDs failed.")
    assert only(extraction, "acetaminophen")["outcome"] == "ongoing"
    assert only(extraction, "nsaids")["outcome"] == "failed"


def test_failure_and_completion_together_is_a_failure(extractor):
    extraction = extractor.extract("She completed a 12-week home exercise program without improvement.")
    exercise = only(extraction, "home_exercise")
    assert (exercise["outcome"], exercise["duration_weeks"]) == ("failed", 12.0)


def test_planned_treatment_is_hypothetical(extractor):
    assert only(extractor.extract("Will start physical therapy."), "physical_therapy")["hypothetical"] is True
    assert only(extractor.extract("Plan: corticosteroid injection."), "corticosteroid_injection")["hypothetical"]


def test_family_and_history(extractor):
    extraction = extractor.extract("Family history of rheumatoid arthritis in her mother.")
    arthritis = only(extraction, "rheumatoid_arthritis")
    assert arthritis["family"] is True
    chronic = only(extractor.extract("3-year history of knee pain."), "knee_pain")
    assert chronic["historical"] is False  # a duration of a current problem, not a past one


def test_lower_case_pt_is_the_patient(extractor):
    extraction = extractor.extract("pt reports knee pain. Pt tried PT.")
    assert [m["text"] for m in mentions(extraction, "physical_therapy")] == ["PT"]


@pytest.mark.parametrize("note, concept, weeks", [
    ("No relief from 6 weeks of NSAIDs.", "nsaids", 6.0),
    ("PT for 3 months without relief.", "physical_therapy", 13.04),
    ("Failed NSAIDs x 12 weeks.", "nsaids", 12.0),
    ("Failed NSAIDs x12 wks.", "nsaids", 12.0),
    ("Meloxicam over the past 8 months without relief.", "nsaids", 34.76),
    ("Ibuprofen 800 mg TID for 2 years without relief.", "nsaids", 104.36),
    ("Failed a 6-week course of physical therapy.", "physical_therapy", 6.0),
    ("Failed 6-8 weeks of PT.", "physical_therapy", 6.0),
    ("Failed PT since 2024.", "physical_therapy", None),
    ("Failed NSAIDs.", "nsaids", None),
    ("Two steroid injections in 2024 provided only 2 weeks of relief.", "corticosteroid_injection", None),
])
def test_treatment_durations(extractor, note, concept, weeks):
    assert only(extractor.extract(note), concept)["duration_weeks"] == weeks


def test_a_list_shares_its_duration(extractor):
    extraction = extractor.extract("NSAIDs (ibuprofen, naproxen) for 8 weeks without relief.")
    assert [m["duration_weeks"] for m in extraction["prior_treatments"]] == [8.0, 8.0, 8.0]


@pytest.mark.parametrize("note, text, weeks", [
    ("Knee pain for 2 years.", "2 years", 104.36),
    ("3-year history of bilateral knee pain.", "3-year", 156.54),
    ("Loud snoring over the past 8 months.", "8 months", 34.76),
    ("Symptoms began 6 months ago.", "6 months", 26.07),
    ("Knee pain since 2024.", "since 2024", None),
])
def test_symptom_duration(extractor, note, text, weeks):
    duration = extractor.extract(note)["symptom_duration"]
    assert (duration["text"], duration["weeks"]) == (text, weeks)
    assert note[duration["start"]:duration["end"]] == text


def test_no_symptom_duration(extractor):
    assert extractor.extract("Knee pain. Follow up in 2 weeks.")["symptom_duration"] is None
