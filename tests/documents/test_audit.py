"""The audit justification PDF: the eight sections of the reference, Section 9 after an override,
criteria with their evidence spans, pagination, unicode and determinism."""

from __future__ import annotations

import copy
import io
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from test_letters import NOTES, make_decision, make_denial, make_pended_review, make_review, pages, text_of

from priorauth.documents.audit import SECTIONS, render_audit
from priorauth.documents.letters import letter, render_letter

HEADINGS = [f"{n}. {title}" for n, title in enumerate(SECTIONS, 1)]


def test_sections_are_numbered_in_order_without_section_9() -> None:
    text = text_of(render_audit(make_review(), make_decision()))
    positions = [text.find(heading) for heading in HEADINGS[:8]]
    assert -1 not in positions and positions == sorted(positions)
    assert HEADINGS[:8] == ["1. Executive Summary", "2. Medical Necessity Assessment",
                            "3. Criterion-by-Criterion Evaluation", "4. Validation Checks",
                            "5. Decision Rationale", "6. Documentation Gaps", "7. Audit Trail",
                            "8. Regulatory Compliance"]  # fmt: skip
    assert "9. Clinician Override Record" not in text


def test_executive_summary_and_medical_necessity() -> None:
    text = text_of(render_audit(make_review(), make_decision()))
    for expected in ["John Smith", "1955-03-15", "ABC123456", "NPI 1234567893", "M17.11", "27447",
                     "AI recommendation Approve", "0.91 (HIGH)", "PA-20260213-00001",
                     "Final determination Approve by Dr. Jane Doe, MD at 2026-02-13T11:05:00Z",
                     "Chief complaint right knee pain for 3 years", "86 / 100",
                     "Gate 3 PASS: every required criterion met", "PMID 26488691"]:  # fmt: skip
        assert expected in text


def test_criteria_table_has_status_confidence_and_evidence_spans() -> None:
    review = make_review()
    text = text_of(render_audit(review, make_decision()))
    assert "5 of 5 criteria met" in text
    for item in review["agent_results"]["coverage"]["criteria_assessment"]:
        for ev in item["evidence"]:
            assert NOTES[ev["start"] : ev["end"]] == ev["text"]
            assert f"[chars {ev['start']}-{ev['end']}]" in text  # en dash folds to '-' in core fonts
    assert text.count("MET") >= 5 and "95" in text and "Kellgren-Lawrence grade 4" in text


def test_validation_rationale_gaps_trail_and_regulatory_content() -> None:
    text = text_of(render_audit(make_pended_review(), make_decision("pend_for_review")))
    for expected in [
        "4.1 Provider", "4.2 Diagnosis codes", "4.3 Procedure codes", "4.4 Compliance checklist",
        "Unilateral primary osteoarthritis, right knee", "orchestrator_preflight", "Patient demographics",
        "COMPLETE", "NOT_APPLICABLE",
        "medical_necessity".replace("_", " ").capitalize(), "FAIL", "PASS",
        "Required criterion tka_injection INSUFFICIENT", "Confidence breakdown",
        "Criteria confidence (average)", "Extraction confidence", "Compliance score", "Policy match",
        "0.88 (HIGH)", "HIGH >= 0.80",
        "Injection history", "Please provide notes of any intra-articular injection", "Physical therapy notes",
        "2026-02-13T10:30:00Z", "2026-02-13T10:30:45Z", "NPI Registry (local NPPES table)",
        "5f0c6f4e-8d1b-4f7e-9a55-2b1f0d6c7a10",
        "AI-assisted draft", "Human in the loop", "No automated denial", "CMS-0057-F", "72 hours",
        "7 calendar days", "Review start to decision: 35 min (within both limits)",
    ]:  # fmt: skip
        assert expected in text, expected
    assert "INSUFFICIENT" in text


def test_confidence_breakdown_recomputes_the_formula() -> None:
    # criteria (95+90+88+80+85)/5 = 87.6 -> 0.876; extraction 0.86; compliance 4/4; policy 1.0
    text = text_of(render_audit(make_review(), make_decision()))
    assert "0.350" in text and "0.258" in text and "0.200" in text and "0.100" in text
    assert "Recomputed total 0.91" in text


def test_section_9_only_after_an_override() -> None:
    review = make_pended_review()
    accepted = text_of(render_audit(review, make_decision("pend_for_review", "pend_for_review")))
    assert "9. Clinician Override Record" not in accepted
    assert "9. Clinician Override Record" not in text_of(render_audit(review, None))
    overridden = text_of(render_audit(review, make_decision("approve", "pend_for_review")))
    record = overridden[overridden.index("9. Clinician Override Record"):]
    for expected in ["Original recommendation Pend for review", "Final recommendation Approve",
                     "Injection history confirmed by phone", "Reviewer Dr. Jane Doe, MD",
                     "Decided at 2026-02-13T11:05:00Z"]:  # fmt: skip
        assert expected in record
    assert "Denial reason" not in record


def test_section_9_of_a_denial_has_reason_and_policy() -> None:
    text = text_of(render_audit(make_pended_review(), make_denial()))
    record = text[text.index("9. Clinician Override Record"):]
    assert "Denial reason Failure of at least 12 weeks of non-surgical treatment is not documented." in record
    assert "Policy reference NCD 150.7 - Joint Replacement Surgery, criterion 3" in record
    assert "The denial was issued by a licensed clinician" in text


def test_without_a_decision() -> None:
    text = text_of(render_audit(make_review(), None))
    assert "Awaiting the decision of a licensed clinical reviewer" in text
    assert "No human decision recorded yet" in text and "due by 2026-02-16T10:30Z (expedited)" in text


def test_sixty_criteria_paginate_with_the_table_header_on_each_page() -> None:
    review = make_review()
    template = review["agent_results"]["coverage"]["criteria_assessment"][0]
    review["agent_results"]["coverage"]["criteria_assessment"] = [
        dict(template, id=f"c{i}", criterion=f"Criterion number {i} " + "with a long description " * (i % 4),
             status=["MET", "NOT_MET", "INSUFFICIENT"][i % 3])
        for i in range(60)
    ]  # fmt: skip
    pdf = render_audit(review, make_decision())
    assert pages(pdf) >= 5
    reader = PdfReader(io.BytesIO(pdf))
    criteria_pages = [p.extract_text() for p in reader.pages if "Criterion number" in p.extract_text()]
    assert len(criteria_pages) >= 2
    assert all("Evidence (character span" in page for page in criteria_pages)
    text = text_of(pdf)
    assert all(f"Criterion number {i} " in text for i in range(60))
    assert "20 of 60 criteria met" in text and "8. Regulatory Compliance" in text


def test_a_row_taller_than_a_page_continues_on_the_next() -> None:
    review = make_review()
    review["agent_results"]["coverage"]["criteria_assessment"][0]["evidence"] = [
        {"text": f"quote {i} " + "very long evidence " * 12, "start": i, "end": i + 10} for i in range(80)
    ]
    text = text_of(render_audit(review, make_decision()))
    assert "quote 0 " in text and "quote 79 " in text and "Kellgren-Lawrence grade 4" in text


def test_output_is_deterministic() -> None:
    review, decision = make_pended_review(), make_denial()
    first = render_audit(review, decision)
    assert first == render_audit(copy.deepcopy(review), copy.deepcopy(decision))
    meta = PdfReader(io.BytesIO(first)).metadata
    assert meta is not None and meta.producer == "priorauth"
    assert re.search(rb"/CreationDate \(D:20260213110500", first)  # from decided_at, not the clock


@pytest.mark.parametrize(
    ("name", "printed"),
    [("Zoë Łukasiewicz", "Zoë Łukasiewicz"), ("Ōtsuka Дмитрий", "Ōtsuka Дмитрий"), ("李雷", "??")],
)
def test_unicode_names_and_quotes(name: str, printed: str) -> None:
    review = make_review()
    review["request"]["patient_name"] = name
    review["agent_results"]["coverage"]["criteria_assessment"][0]["evidence"].append(
        {"text": "Patient says “膝が痛い” — ≥ 8/10", "start": 0, "end": 5}
    )
    text = text_of(render_audit(review, make_decision("deny", "approve", decided_by="Dr. Ängström 王",
                                                      denial_reason="Причина", policy_reference="NCD 150.7")))  # fmt: skip
    assert printed in text and "9. Clinician Override Record" in text and "Причина" in text


@pytest.mark.parametrize(
    "review",
    [{}, None, {"request": None, "agent_results": None, "audit_trail": None, "decision_gates": None},
     {"agent_results": {"coverage": {"criteria_assessment": [None, {}, {"evidence": [None, {"start": "x"}]}],
                                     "provider_verification": {"npi": None, "extra": [1]}},
                        "compliance": {"checklist": [{}, None]},
                        "clinical": {"diagnosis_validation": [{}], "literature_support": [None, {}]}},
      "confidence": "high", "documentation_gaps": [None, {}], "missing_documentation": [None, 3]}],
)  # fmt: skip
def test_missing_or_malformed_fields_do_not_crash(review: Any) -> None:
    assert pages(render_audit(review, None)) >= 1
    assert pages(render_audit(review, {"was_overridden": True, "final_recommendation": "deny"})) >= 1


@pytest.mark.parametrize(
    ("decided_at", "expected"),
    [("2026-02-18T12:00:00Z", "5 d 1 h 30 min (within the 7-day standard limit, beyond the 72-hour expedited limit)"),
     ("2026-02-21T10:30:00Z", "8 d 0 min (beyond the 7-day standard limit)")],
)  # fmt: skip
def test_decision_timeframe_against_cms_0057_f(decided_at: str, expected: str) -> None:
    text = text_of(render_audit(make_review(), make_decision(decided_at=decided_at)))
    assert f"Review start to decision: {expected}" in text


def test_concurrent_renders_match_sequential_ones() -> None:
    # The caller renders in worker threads; documents share the prepared fonts.
    from concurrent.futures import ThreadPoolExecutor

    reviews = [make_review(request=dict(make_review()["request"], patient_name=f"Zoë {i}")) for i in range(6)]
    expected = [render_audit(r, make_denial()) for r in reviews]
    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(lambda r: render_audit(r, make_denial()), reviews)) == expected


# Any JSON value under the keys the renderers read: they must still produce a PDF.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_keys = ["request", "agent_results", "coverage", "clinical", "compliance", "criteria_assessment", "evidence",
         "start", "end", "text", "status", "confidence", "checklist", "decision_gates", "documentation_gaps",
         "audit_trail", "review_started", "decided_at", "final_recommendation", "was_overridden",
         "patient_name", "provider_verification", "policy_references", "diagnosis_validation"]  # fmt: skip
_shaped = st.recursive(
    _json,
    lambda inner: st.dictionaries(st.sampled_from(_keys), inner, max_size=6) | st.lists(inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=40, deadline=None, database=None)
@given(review=_shaped, decision=_shaped)
def test_arbitrary_shapes_never_crash(review: Any, decision: Any) -> None:
    assert pages(render_audit(review, decision)) >= 1
    fields = letter(review, decision)
    assert fields["letter_type"] in ("approval", "pend", "denial")
    assert pages(render_letter(review, decision, fields)) >= 1
