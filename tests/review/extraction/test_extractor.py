"""The whole extraction: contract shape, spans, chief complaint, confidence, robustness."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from priorauth.review.extraction import ClinicalExtractor, Concept, base_concepts, merge_concepts

from .helpers import measurement, mentions, only
from .notes import TKA_NOTE

MENTION_KEYS = {"concept", "category", "text", "start", "end", "negated", "historical", "hypothetical", "family"}
LISTS = ("symptoms", "conditions", "prior_treatments", "imaging_findings", "functional_limitations", "red_flags",
         "evaluations", "findings")


def assert_contract(notes: str, extraction: dict) -> None:
    assert set(extraction) == set(LISTS) | {"chief_complaint", "chief_complaint_span", "symptom_duration",
                                             "severity_scores", "extraction_confidence"}
    for name in LISTS:
        for mention in extraction[name]:
            keys = MENTION_KEYS | ({"outcome", "duration_weeks"} if name == "prior_treatments" else set())
            assert set(mention) == keys
            assert notes[mention["start"]:mention["end"]] == mention["text"]
    for score in extraction["severity_scores"]:
        assert set(score) == {"name", "value", "unit", "text", "start", "end", "qualifier"}
        assert notes[score["start"]:score["end"]] == score["text"]
    if extraction["chief_complaint_span"]:
        start, end = extraction["chief_complaint_span"]
        assert notes[start:end] == extraction["chief_complaint"]
    if extraction["symptom_duration"]:
        duration = extraction["symptom_duration"]
        assert notes[duration["start"]:duration["end"]] == duration["text"]
    assert 0 <= extraction["extraction_confidence"] <= 100


def test_tka_note_extracts_everything(extractor):
    extraction = extractor.extract(TKA_NOTE)
    assert_contract(TKA_NOTE, extraction)
    assert extraction["extraction_confidence"] >= 85
    assert extraction["chief_complaint"] == "bilateral knee pain, right worse than left"
    assert measurement(extraction, "kl_grade")["value"] == 4.0
    assert measurement(extraction, "bmi")["value"] == 31.4
    assert measurement(extraction, "age")["value"] == 67.0
    assert extraction["symptom_duration"]["weeks"] == 156.54
    nsaids = mentions(extraction, "nsaids")
    assert [m["text"] for m in nsaids] == ["NSAIDs", "meloxicam"]
    assert {(m["outcome"], m["duration_weeks"], m["negated"]) for m in nsaids} == {("failed", 26.07, False)}
    therapy = only(extraction, "physical_therapy")
    assert (therapy["outcome"], therapy["duration_weeks"]) == ("failed", 12.0)
    assert only(extraction, "corticosteroid_injection")["outcome"] == "failed"
    assert {m["concept"] for m in extraction["imaging_findings"]} >= {
        "joint_space_narrowing", "osteophytes", "subchondral_sclerosis", "bone_on_bone"}
    assert {m["concept"] for m in extraction["functional_limitations"]} >= {"difficulty_stairs", "difficulty_standing"}
    assert all(m["negated"] for m in extraction["red_flags"])
    assert only(extraction, "cancer")["negated"] is True
    assert only(extraction, "knee_osteoarthritis")["negated"] is False
    assert only(extraction, "total_knee_arthroplasty")["hypothetical"] is True


@pytest.mark.parametrize("notes, expected", [
    ("Chief complaint: right hip pain.\nHPI: 70 yo with hip pain.", "right hip pain"),
    ("CC: snoring and daytime sleepiness\nHPI: ...", "snoring and daytime sleepiness"),
    ("Reason for referral - chronic cough", "chronic cough"),
    ("Patient presents with bilateral knee OA, failed conservative care.", "bilateral knee OA"),
    ("58-year-old man presents with low back pain radiating to the left leg for 4 months.",
     "low back pain radiating to the left leg"),
    ("He is seen for evaluation of a 2-year history of shoulder pain.", "shoulder pain"),
    ("Severe knee osteoarthritis. Failed NSAIDs.", "knee osteoarthritis"),
])
def test_chief_complaint(extractor, notes, expected):
    extraction = extractor.extract(notes)
    assert extraction["chief_complaint"] == expected
    start, end = extraction["chief_complaint_span"]
    assert notes[start:end] == expected


def test_no_chief_complaint(extractor):
    extraction = extractor.extract("Follow-up visit. Vitals stable.")
    assert (extraction["chief_complaint"], extraction["chief_complaint_span"]) == ("", None)


def test_confidence_counts_the_seven_elements(extractor):
    assert extractor.extract("")["extraction_confidence"] == 0
    assert extractor.extract("Knee pain.")["extraction_confidence"] == round(100 * 2 / 7)  # CC + symptom
    # age alone is not a severity score; a negated symptom is not a symptom
    assert extractor.extract("67-year-old. Denies knee pain.")["extraction_confidence"] == 0
    partial = extractor.extract("Knee pain for 2 years. BMI 41. Failed NSAIDs.")
    assert partial["extraction_confidence"] == round(100 * 5 / 7)


def test_policy_concepts_and_multi_word_phrases(extractor):
    notes = "Prior polysomnography showed OSA. QuantiFERON negative. Osteoarthritis of the knees."
    extraction = extractor.extract(notes)
    assert only(extraction, "polysomnography")["text"] == "polysomnography"
    assert only(extraction, "tb_test_negative")["negated"] is False
    assert only(extraction, "knee_osteoarthritis")["text"] == "Osteoarthritis of the knees"  # plural tolerated


def test_plurals_and_case(extractor):
    extraction = extractor.extract("OSTEOPHYTES noted. An osteophyte. Single NSAID trial. Bone on bone.")
    assert [m["text"] for m in mentions(extraction, "osteophytes")] == ["OSTEOPHYTES", "osteophyte"]
    assert only(extraction, "nsaids")["text"] == "NSAID"
    assert only(extraction, "bone_on_bone")["text"] == "Bone on bone"


def test_one_phrase_may_mean_two_concepts():
    extractor = ClinicalExtractor([Concept("weight_loss", "treatment", ["weight loss"]),
                                   Concept("weight_change", "symptom", ["weight loss"])])
    extraction = extractor.extract("Failed weight loss program.")
    assert only(extraction, "weight_loss")["outcome"] == "failed"
    assert only(extraction, "weight_change")["text"] == "weight loss"


def test_caller_concepts_replace_base_ones_with_the_same_id():
    merged = merge_concepts(base_concepts() + [Concept("nsaids", "treatment", ["ibuprofen only"])])
    assert [c.patterns for c in merged if c.id == "nsaids"] == [["ibuprofen only"]]
    assert len({c.id for c in merged}) == len(merged)


def test_bad_concepts_are_refused():
    with pytest.raises(ValueError):
        merge_concepts([Concept("x", "not-a-category", ["x"])])
    with pytest.raises(ValueError):
        merge_concepts([Concept("x", "symptom", "a string")])


def test_base_lexicon_has_the_shared_treatment_ids():
    ids = {c.id for c in base_concepts() if c.category == "treatment"}
    assert ids >= {"nsaids", "acetaminophen", "physical_therapy", "home_exercise", "weight_loss",
                   "corticosteroid_injection", "hyaluronic_acid_injection", "bracing", "assistive_device",
                   "activity_modification", "opioids", "muscle_relaxants", "chiropractic",
                   "epidural_steroid_injection"}


def test_deterministic(extractor):
    first = extractor.extract(TKA_NOTE)
    assert all(extractor.extract(TKA_NOTE) == first for _ in range(3))


@pytest.mark.parametrize("notes", [
    "", " ", "\n\n\t", ".", "a", "Ünïcödé knee pain — “failed” NSAIDs ✓ 😀 SpO2 86 %", "x" * 5000,
    "NSAIDs" * 3000, "\x00\x01 pain \ufeff", "Pain 8/10.\r\nFailed PT x 6 weeks.\r\n", "lone \ud800 surrogate pain",
])
def test_odd_notes_never_raise(extractor, notes):
    assert_contract(notes, extractor.extract(notes))


def test_non_ascii_spans(extractor):
    notes = "Patiënte (67 años) — “denies chest pain”; failed NSAIDs × 6 weeks."
    extraction = extractor.extract(notes)
    assert_contract(notes, extraction)
    assert only(extraction, "chest_pain")["negated"] is True
    assert only(extraction, "nsaids")["duration_weeks"] == 6.0


def test_100_kb_note(extractor):
    notes = (TKA_NOTE + "\n") * (100_000 // len(TKA_NOTE) + 1)
    extraction = extractor.extract(notes)
    assert_contract(notes, extraction)
    assert len(mentions(extraction, "nsaids")) == notes.count("NSAIDs") + notes.count("meloxicam")
    assert extraction["extraction_confidence"] >= 85


def test_none_and_non_strings_are_treated_as_text(extractor):
    assert extractor.extract(None)["extraction_confidence"] == 0


def test_shared_by_threads(extractor):
    notes = [TKA_NOTE, "No relief from 6 weeks of NSAIDs.", "Denies chest pain. AHI 32.", ""] * 5
    expected = [extractor.extract(n) for n in notes]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(extractor.extract, notes)) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list("ab XY.,;:-/()%\n\t0123456789é😀")
                                + ["NSAIDs", " no relief from ", "PT", " x 6 weeks", "pain", "denies ", "BMI ",
                                   "KL grade ", "nodule ", " cm", "CC: ", "\ud800"]), max_size=60).map("".join))
def test_any_text_keeps_the_contract(extractor, notes):
    assert_contract(notes, extractor.extract(notes))
