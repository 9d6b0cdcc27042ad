"""Notification letters: the `letter` object and its PDF, for approval, pend and denial, with and
without a clinician override. The review dicts are built by hand per the review contract (section 4)."""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from pypdf import PdfReader

from priorauth.documents.letters import letter, render_letter

NOTES = (
    "68-year-old with right knee osteoarthritis. Chief complaint: right knee pain for 3 years, "
    "worse with stairs. Pain 8/10 at rest. Kellgren-Lawrence grade 4 on weight-bearing X-ray with "
    "bone-on-bone medial compartment. No relief from 12 weeks of physical therapy and NSAIDs; "
    "corticosteroid injection in March gave 2 weeks of relief. Unable to walk more than one block. "
    "BMI 31. No active infection."
)
CRITERIA = [
    ("tka_imaging", "Radiographic evidence of advanced arthritis (Kellgren-Lawrence grade 3 or 4)",
     ["Kellgren-Lawrence grade 4", "bone-on-bone medial compartment"], 95),
    ("tka_pain", "Moderate to severe pain with functional limitation",
     ["Pain 8/10 at rest", "Unable to walk more than one block"], 90),
    ("tka_conservative", "Failure of at least 12 weeks of non-surgical treatment",
     ["No relief from 12 weeks of physical therapy and NSAIDs"], 88),
    ("tka_injection", "Intra-articular injection tried or contraindicated",
     ["corticosteroid injection in March gave 2 weeks of relief"], 80),
    ("tka_infection", "No active joint or systemic infection", ["No active infection"], 85),
]  # fmt: skip


def span(quote: str) -> dict[str, Any]:
    start = NOTES.index(quote)
    return {"text": quote, "start": start, "end": start + len(quote)}


def make_review(**changes: Any) -> dict[str, Any]:
    """A complete TKA review that the engine recommended for approval (5 of 5 criteria met)."""
    criteria = [
        {"id": cid, "criterion": text, "status": "MET", "confidence": conf, "required": True,
         "evidence": [span(q) for q in quotes], "rationale": "Documented in the clinical notes."}
        for cid, text, quotes, conf in CRITERIA
    ]  # fmt: skip
    review: dict[str, Any] = {
        "request_id": "5f0c6f4e-8d1b-4f7e-9a55-2b1f0d6c7a10",
        "recommendation": "approve",
        "confidence": 0.91,
        "confidence_level": "HIGH",
        "summary": "All gates passed; 5 of 5 required criteria of NCD 150.7 are met.",
        "clinical_rationale": "Gate 1 PASS: Provider NPI active. Gate 2 PASS: All ICD-10 codes valid and "
        "billable. Gate 3 PASS: every required criterion met.",
        "coverage_criteria_met": [f"{text} — {quotes[0]}" for _, text, quotes, _ in CRITERIA],
        "coverage_criteria_not_met": [],
        "missing_documentation": [],
        "documentation_gaps": [],
        "policy_references": ["NCD 150.7 — Joint Replacement Surgery (Total Knee Arthroplasty)"],
        "disclaimer": "AI-assisted draft. Coverage policies reflect Medicare LCDs/NCDs only.",
        "agent_results": {
            "compliance": {
                "checklist": [
                    {"item": "Patient demographics", "status": "complete", "detail": "Name and DOB present"},
                    {"item": "Provider NPI", "status": "complete", "detail": "10 digits, check digit valid"},
                    {"item": "Clinical notes", "status": "complete", "detail": "Notes present"},
                    {"item": "Insurance ID", "status": "complete", "detail": "Present"},
                    {"item": "Prior imaging", "status": "not_applicable", "detail": "Documented in notes"},
                ],
                "overall_status": "complete",
                "missing_items": [],
            },
            "clinical": {
                "diagnosis_validation": [{"code": "M17.11", "valid": True, "billable": True,
                                          "hierarchy_note": "Unilateral primary osteoarthritis, right knee"}],
                "procedure_validation": [{"code": "27447", "valid": True, "source": "orchestrator_preflight"}],
                "clinical_extraction": {"chief_complaint": "right knee pain for 3 years", "extraction_confidence": 86},
                "literature_support": [{"title": "Total knee replacement in advanced osteoarthritis",
                                        "source": "N Engl J Med", "year": 2015, "pmid": "26488691"}],
                "clinical_trials": [],
                "clinical_summary": "Advanced right knee OA (KL 4) with failed conservative care.",
            },  # fmt: skip
            "coverage": {
                "provider_verification": {"npi": "1234567893", "status": "active"},
                "policy": {"id": "ncd-150-7", "title": "Total Knee Arthroplasty", "citation": "NCD 150.7",
                           "url": "https://www.cms.gov/medicare-coverage-database/"},
                "policy_match": 1.0,
                "criteria_assessment": criteria,
                "documentation_gaps": [],
            },  # fmt: skip
        },
        "audit_trail": {
            "data_sources": ["CPT/HCPCS Format Validation (Local)", "NPI Registry (local NPPES table)",
                             "ICD-10-CM (2026 Code Set)", "Coverage policy library (NCD 150.7)"],
            "review_started": "2026-02-13T10:30:00Z",
            "review_completed": "2026-02-13T10:30:45Z",
            "extraction_confidence": 86,
            "assessment_confidence": 88,
            "criteria_met_count": "5/5",
        },  # fmt: skip
        "request": {
            "patient_name": "John Smith",
            "patient_dob": "1955-03-15",
            "provider_npi": "1234567893",
            "diagnosis_codes": ["M17.11"],
            "procedure_codes": ["27447"],
            "clinical_notes": NOTES,
            "insurance_id": "ABC123456",
        },
        "decision_gates": [
            {"gate": 1, "name": "provider", "status": "PASS", "detail": "NPI 1234567893 valid and active"},
            {"gate": 2, "name": "codes", "status": "PASS", "detail": "M17.11 valid and billable; 27447 CPT format"},
            {"gate": 3, "name": "medical_necessity", "status": "PASS", "detail": "5/5 required criteria met"},
        ],
        "reviewed_at": "2026-02-13T10:30:45Z",
    }
    review.update(changes)
    return review


def make_pended_review() -> dict[str, Any]:
    # Gate 3 fails on an INSUFFICIENT required criterion: pend, whatever the confidence.
    review = make_review(recommendation="pend_for_review", confidence=0.88, confidence_level="HIGH")
    criteria = review["agent_results"]["coverage"]["criteria_assessment"]
    criteria[3].update(status="INSUFFICIENT", confidence=40, evidence=[])
    gaps = [{"what": "Injection history", "critical": True,
             "request": "Please provide notes of any intra-articular injection and its outcome"},
            {"what": "Standing X-ray report", "critical": False,
             "request": "Please provide the radiology report of the weight-bearing knee X-ray"}]  # fmt: skip
    review.update(documentation_gaps=gaps, missing_documentation=["Injection history", "Physical therapy notes"],
                  coverage_criteria_not_met=[CRITERIA[3][1]])  # fmt: skip
    review["decision_gates"][2].update(status="FAIL", detail="Required criterion tka_injection INSUFFICIENT")
    return review


def make_decision(final: str = "approve", original: str | None = None, **changes: Any) -> dict[str, Any]:
    overridden = original is not None and original != final
    decision: dict[str, Any] = {
        "request_id": "5f0c6f4e-8d1b-4f7e-9a55-2b1f0d6c7a10",
        "authorization_number": "PA-20260213-00001",
        "final_recommendation": final,
        "decided_by": "Dr. Jane Doe, MD",
        "decided_at": "2026-02-13T11:05:00Z",
        "was_overridden": overridden,
        "override_rationale": "Injection history confirmed by phone with the orthopedic office." if overridden else None,
        "original_recommendation": original or final,
        "denial_reason": None,
        "policy_reference": None,
    }
    decision.update(changes)
    return decision


def make_denial() -> dict[str, Any]:
    return make_decision(
        "deny", "pend_for_review",
        override_rationale="No conservative treatment documented after repeated requests.",
        denial_reason="Failure of at least 12 weeks of non-surgical treatment is not documented.",
        policy_reference="NCD 150.7 — Joint Replacement Surgery, criterion 3 (conservative treatment)",
    )  # fmt: skip


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def flat(text: str) -> str:
    return " ".join(text.split())


# --- the letter object ---------------------------------------------------------------------------


def test_approval_letter_fields() -> None:
    fields = letter(make_review(), make_decision())
    assert fields == {**fields, "authorization_number": "PA-20260213-00001", "letter_type": "approval",
                      "effective_date": "2026-02-13", "expiration_date": "2026-05-14",  # 90 days
                      "patient_name": "John Smith", "provider_name": "NPI 1234567893",
                      "appeal_rights": None, "documentation_deadline": None}  # fmt: skip
    assert "pdf_base64" not in fields
    body = fields["body_text"]
    assert body.startswith("PRIOR AUTHORIZATION — APPROVED")
    for expected in ["John Smith", "1955-03-15", "ABC123456", "M17.11", "27447", "Total Knee Arthroplasty",
                     "NCD 150.7", "valid from 2026-02-13 through 2026-05-14", "WHAT HAPPENS NEXT",
                     "Dr. Jane Doe, MD", "2026-02-13T11:05:00Z"]:  # fmt: skip
        assert expected in body
    assert "CLINICIAN OVERRIDE NOTICE" not in body and "appeal" not in body.lower()


def test_pend_letter_lists_each_gap_with_its_request_and_the_deadline() -> None:
    fields = letter(make_pended_review(), make_decision("pend_for_review"))
    assert fields["letter_type"] == "pend"
    assert fields["documentation_deadline"] == "2026-03-15"  # 30 days
    assert fields["expiration_date"] is None and fields["appeal_rights"] is None
    body = fields["body_text"]
    assert body.startswith("PRIOR AUTHORIZATION — PENDED")
    assert "- Injection history (required): Please provide notes of any intra-articular injection" in body
    assert "- Standing X-ray report: Please provide the radiology report" in body
    assert "- Physical therapy notes" in body  # missing documentation not already named by a gap
    assert body.count("Injection history") == 1
    assert "by 2026-03-15 (30 days from this notice)" in body


def test_denial_letter_states_reason_policy_and_appeal_rights() -> None:
    fields = letter(make_pended_review(), make_denial())
    assert fields["letter_type"] == "denial"
    assert fields["expiration_date"] is None and fields["documentation_deadline"] is None
    rights = fields["appeal_rights"]
    assert "60 calendar days" in rights and "42 CFR 422.582" in rights and "expedited" in rights
    assert "72 hours" in rights and "PA-20260213-00001" in rights
    body = fields["body_text"]
    assert body.startswith("PRIOR AUTHORIZATION — DENIED")
    assert "REASON FOR DENIAL\n\nFailure of at least 12 weeks of non-surgical treatment is not documented." in body
    assert "rests on NCD 150.7 — Joint Replacement Surgery, criterion 3" in body
    assert "YOUR APPEAL RIGHTS\n\n" + rights in body


def test_override_notice_only_when_overridden() -> None:
    fields = letter(make_pended_review(), make_decision("approve", "pend_for_review"))
    body = fields["body_text"]
    assert fields["letter_type"] == "approval"
    assert "CLINICIAN OVERRIDE NOTICE" in body
    assert "recommended: Pend for review" in body and "overrode it to: Approve" in body
    assert "Rationale: Injection history confirmed by phone" in body and "Dr. Jane Doe, MD" in body
    accepted = letter(make_pended_review(), make_decision("pend_for_review", "pend_for_review"))
    assert "OVERRIDE" not in accepted["body_text"]


def test_provider_name_when_the_review_knows_it() -> None:
    review = make_review()
    review["agent_results"]["coverage"]["provider_verification"]["name"] = "Ann Lee, MD"
    assert letter(review, make_decision())["provider_name"] == "Ann Lee, MD"


def test_dates_follow_the_decision_day_across_month_and_year_ends() -> None:
    fields = letter(make_review(), make_decision(decided_at="2026-12-31T23:59:59Z"))
    assert (fields["effective_date"], fields["expiration_date"]) == ("2026-12-31", "2027-03-31")
    pend = letter(make_review(), make_decision("pend_for_review", decided_at="2028-02-14T08:00:00+00:00"))
    assert pend["documentation_deadline"] == "2028-03-15"  # leap year


def test_unknown_recommendation_is_never_an_approval_or_denial() -> None:
    fields = letter(make_review(recommendation=None), make_decision(final_recommendation="maybe"))
    assert fields["letter_type"] == "pend"


@pytest.mark.parametrize("review, decision", [({}, {}), (None, None), ({"request": None}, {"decided_at": 5})])
def test_missing_fields_do_not_crash(review: Any, decision: Any) -> None:
    fields = letter(review, decision)
    assert fields["letter_type"] == "pend" and fields["provider_name"] == "Requesting provider"
    assert pages(render_letter(review, decision)) >= 1


# --- the PDF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "review, decision, expected",
    [
        (make_review(), make_decision(), ["APPROVED", "2026-05-14", "90 days"]),
        (make_pended_review(), make_decision("pend_for_review"), ["PENDED", "2026-03-15", "Injection history"]),
        (make_pended_review(), make_denial(), ["DENIED", "REASON FOR DENIAL", "YOUR APPEAL RIGHTS", "42 CFR 422.582"]),
    ],
)  # fmt: skip
def test_letter_pdf_prints_the_letter(review: dict, decision: dict, expected: list[str]) -> None:
    pdf = render_letter(review, decision)
    text = text_of(pdf)
    for phrase in [*expected, "PA-20260213-00001", "John Smith", "1955-03-15", "Dr. Jane Doe, MD",
                   "Decided at: 2026-02-13T11:05:00Z", "Page 1 of"]:  # fmt: skip
        assert phrase in text
    # Every word of the body is in the PDF (typography folded to what the core fonts print;
    # reference fields print as label and value, without the colon).
    body = letter(review, decision)["body_text"].replace("—", "-").replace(":", "")
    assert set(body.split()) <= set(text.replace(":", "").split()) | {"-"}


def test_letter_pdf_override_notice_only_when_overridden() -> None:
    overridden = text_of(render_letter(make_pended_review(), make_denial()))
    assert "CLINICIAN OVERRIDE NOTICE" in overridden and "No conservative treatment documented" in overridden
    assert "OVERRIDE" not in text_of(render_letter(make_review(), make_decision()))


def test_letter_pdf_uses_the_given_fields() -> None:
    fields = letter(make_review(), make_decision())
    fields["body_text"] = fields["body_text"].replace("John Smith", "Johnny Smith")
    assert "Johnny Smith" in text_of(render_letter(make_review(), make_decision(), fields))


def test_letter_pdf_is_deterministic() -> None:
    review, decision = make_pended_review(), make_denial()
    assert render_letter(review, decision) == render_letter(copy.deepcopy(review), copy.deepcopy(decision))
    reader = PdfReader(io.BytesIO(render_letter(review, decision)))
    assert reader.metadata is not None and reader.metadata.producer == "priorauth"


@pytest.mark.parametrize(
    ("name", "printed"),
    [("Zoë Łukasiewicz", "Zoë Łukasiewicz"), ("Ōtsuka Дмитрий", "Ōtsuka Дмитрий"),
     ("李雷", "??")],  # DejaVu has no CJK glyphs: printed as '?', never a crash
)  # fmt: skip
def test_unicode_names(name: str, printed: str) -> None:
    review = make_review()
    review["request"]["patient_name"] = name
    decision = make_decision("approve", "pend_for_review", decided_by="Dr. Ängström 王")
    fields = letter(review, decision)
    assert fields["patient_name"] == name and name in fields["body_text"]
    text = text_of(render_letter(review, decision, fields))
    assert printed in text and "PA-20260213-00001" in text


def test_long_text_wraps_and_flows_over_pages() -> None:
    review = make_pended_review()
    review["documentation_gaps"] = [
        {"what": f"Document {i}", "critical": i % 2 == 0, "request": "Please provide " + "the full record " * 30}
        for i in range(40)
    ]
    decision = make_decision("pend_for_review", "approve", override_rationale="word " * 600 + "x" * 300)
    pdf = render_letter(review, decision)
    assert pages(pdf) > 3
    text = text_of(pdf)
    assert "Document 39" in text and "CLINICIAN OVERRIDE NOTICE" in text and "Decided at:" in text
