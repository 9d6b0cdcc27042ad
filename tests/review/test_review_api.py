"""The review face over real HTTP: routes, roles, the reference's 422 shape, SSE, decisions and numbers."""
from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import uuid
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from priorauth.auth.service import create_client
from tests.support.apps import http_client

NOTES = (
    "Chief complaint: bilateral knee pain. 67-year-old with bilateral knee osteoarthritis and knee pain for 3 years, "
    "pain 8/10 with weight bearing. Weight-bearing X-rays show severe joint space narrowing, osteophytes and "
    "subchondral sclerosis, Kellgren-Lawrence grade 4 bilaterally. No relief from 6 months of NSAIDs and 12 weeks "
    "of physical therapy; a corticosteroid injection gave relief for 2 weeks only. Difficulty climbing stairs and "
    "walking more than one block; unable to perform ADLs without a cane. BMI 31. Denies fever or recent infection.")
REQUEST = {"patient_name": "John Smith", "patient_dob": "1955-03-15", "provider_npi": "1234567893",
           "diagnosis_codes": ["M17.11", "M17.12"], "procedure_codes": ["27447"], "clinical_notes": NOTES,
           "insurance_id": "ABC123456"}


CASES = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((Path(__file__).parent.parent / "cases").glob("*.yaml"))}


async def _client(app, role: str, org: str | None = None):
    created = await create_client(app.state.db, org or f"org-{uuid.uuid4().hex[:12]}", "tests", role)
    return created, http_client(app, created.secret)


@pytest.fixture
async def reviewer(app):
    _, c = await _client(app, "reviewer")
    async with c:
        yield c


async def _review(reviewer, **changes) -> dict:
    r = await reviewer.post("/api/review", json={**REQUEST, **changes})
    assert r.status_code == 200, r.text
    return r.json()


async def test_needs_credentials_and_the_reviewer_role(app, anon):
    r = await anon.post("/api/review", json=REQUEST)
    assert r.status_code == 401 and set(r.json()) == {"detail"}
    _, provider = await _client(app, "provider")
    async with provider:
        r = await provider.get("/api/reviews")
    assert r.status_code == 403 and r.json() == {"detail": "This action needs the reviewer role."}
    assert (await anon.get("/health")).json() == {"status": "ok"}


async def test_the_reference_422_example_is_answered_exactly(reviewer):
    r = await reviewer.post("/api/review", json={**REQUEST, "patient_dob": "2043-01-01",
                                                 "diagnosis_codes": ["NOT-A-CODE"]})
    assert r.status_code == 422
    assert r.json() == {"detail": [
        {"type": "value_error", "loc": ["body", "patient_dob"],
         "msg": "Value error, patient_dob must not be in the future", "input": "2043-01-01"},
        {"type": "value_error", "loc": ["body", "diagnosis_codes"],
         "msg": "Value error, invalid ICD-10 diagnosis code: 'NOT-A-CODE' (expected format e.g. R91.1, M17.11, J18.9)",
         "input": ["NOT-A-CODE"]}]}


async def test_a_422_never_starts_the_pipeline(reviewer):
    before = len((await reviewer.get("/api/reviews")).json())
    for bad in ({"procedure_codes": []}, {"diagnosis_codes": ["U07.1"]}, {"patient_dob": "2026-02-30"}):
        for path in ("/api/review", "/api/review/stream", "/api/agents/clinical"):
            assert (await reviewer.post(path, json={**REQUEST, **bad})).status_code == 422
    assert len((await reviewer.get("/api/reviews")).json()) == before


@pytest.mark.parametrize("body", [b"{", b"[]", b"null", b'{"patient_name": 5}', b"\xff\xfe", b'"x"'])
async def test_malformed_bodies_get_422_detail_never_500(reviewer, body):
    r = await reviewer.post("/api/review", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)


async def test_review_is_persisted_listed_and_private_to_the_organization(app, reviewer):
    result = await _review(reviewer)
    assert uuid.UUID(result["request_id"])
    assert result["recommendation"] in ("approve", "pend_for_review")
    assert set(result["agent_results"]) == {"compliance", "clinical", "coverage"}
    assert result["audit_trail"]["data_sources"]
    stored = (await reviewer.get(f"/api/review/{result['request_id']}")).json()
    assert stored.pop("decision") is None and stored == result
    listed = (await reviewer.get("/api/reviews")).json()
    assert listed[0]["request_id"] == result["request_id"] and listed[0]["decision_made"] is False
    assert set(listed[0]) == {"request_id", "patient_name", "recommendation", "confidence_level", "reviewed_at",
                              "decision_made"}
    _, other = await _client(app, "reviewer")
    async with other:
        r = await other.get(f"/api/review/{result['request_id']}")
        assert r.status_code == 404 and r.json() == {"detail": "Review not found"}
        assert (await other.get("/api/reviews")).json() == []


async def test_every_evidence_span_points_into_the_notes(reviewer):
    result = await _review(reviewer)
    for criterion in result["agent_results"]["coverage"]["criteria_assessment"]:
        for evidence in criterion["evidence"]:
            assert NOTES[evidence["start"]:evidence["end"]] == evidence["text"]


def _events(body: str) -> list[tuple[str, object]]:
    found = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        if not lines:
            continue
        if lines[0].startswith(":"):
            found.append(("comment", lines[0][1:].strip()))
            continue
        event = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        found.append((event, json.loads(data)))
    return found


async def test_stream_sends_nine_progress_events_then_the_result(reviewer):
    r = await reviewer.post("/api/review/stream", json=REQUEST)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in _events(r.text) if e[0] != "comment"]
    progress = [data for kind, data in events if kind == "progress"]
    assert [(p["phase"], p["status"], p["progress_pct"]) for p in progress] == [
        ("preflight", "completed", 5), ("phase_1", "running", 10), ("phase_1", "completed", 40),
        ("phase_2", "running", 45), ("phase_2", "completed", 70), ("phase_3", "running", 75),
        ("phase_3", "completed", 90), ("phase_4", "running", 92), ("phase_4", "completed", 100)]
    assert progress[1]["agents"]["compliance"]["status"] == "running"
    assert progress[-1]["agents"]["synthesis"]["status"] == "done"
    kind, result = events[-1]
    assert kind == "result" and len(events) == 10
    stored = (await reviewer.get(f"/api/review/{result['request_id']}")).json()
    stored.pop("decision")
    assert stored == result


async def test_a_slow_phase_gets_keepalive_comments(reviewer, monkeypatch):
    from priorauth.review import service

    monkeypatch.setattr(service, "KEEPALIVE_SECONDS", 0.05)
    original = service.Pipeline.run_phase

    def slow(self, phase):
        if phase == "phase_2":
            import time
            time.sleep(0.3)
        return original(self, phase)

    monkeypatch.setattr(service.Pipeline, "run_phase", slow)
    events = _events((await reviewer.post("/api/review/stream", json=REQUEST)).text)
    assert ("comment", "keepalive") in events
    assert events[-1][0] == "result"


async def test_a_failing_phase_sends_an_error_event(reviewer, monkeypatch):
    from priorauth.review import service

    def broken(self, phase):
        raise RuntimeError("patient John Smith")  # the message must not reach the client (PHI)

    monkeypatch.setattr(service.Pipeline, "run_phase", broken)
    events = _events((await reviewer.post("/api/review/stream", json=REQUEST)).text)
    kind, data = events[-1]
    assert kind == "error" and data["detail"].startswith("Multi-agent review failed")
    assert "John" not in data["detail"]


def _pdf_text(b64: str) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(base64.b64decode(b64))).pages)


async def test_accept_issues_a_number_letter_and_audit_and_only_once(reviewer):
    review = await _review(reviewer)
    r = await reviewer.post("/api/decision", json={"request_id": review["request_id"], "action": "accept",
                                                   "reviewer_name": "Dr. Jane Doe"})
    assert r.status_code == 200, r.text
    decision = r.json()
    assert re.fullmatch(r"PA-\d{8}-\d{5}", decision["authorization_number"])
    assert decision["final_recommendation"] == review["recommendation"] and decision["was_overridden"] is False
    assert decision["letter"]["authorization_number"] == decision["authorization_number"]
    assert decision["authorization_number"] in _pdf_text(decision["letter"]["pdf_base64"])
    assert "Executive Summary" in _pdf_text(decision["updated_audit_justification_pdf"])
    again = await reviewer.post("/api/decision", json={"request_id": review["request_id"], "action": "accept",
                                                       "reviewer_name": "Dr. Jane Doe"})
    assert again.status_code == 409 and again.json() == {"detail": "Decision already recorded for this review"}
    letter = await reviewer.get(f"/api/review/{review['request_id']}/letter.pdf")
    assert letter.status_code == 200 and letter.content == base64.b64decode(decision["letter"]["pdf_base64"])
    stored = (await reviewer.get(f"/api/review/{review['request_id']}")).json()
    assert stored["decision"]["authorization_number"] == decision["authorization_number"]
    assert (await reviewer.get("/api/reviews")).json()[0]["decision_made"] is True


async def test_the_decision_records_the_client_beside_the_named_reviewer(app):
    """`reviewer_name` is free text: the credential that recorded the decision is kept and shown beside it."""
    created, reviewer = await _client(app, "reviewer")
    async with reviewer:
        review = await _review(reviewer)
        r = await reviewer.post("/api/decision", json={"request_id": review["request_id"], "action": "accept",
                                                       "reviewer_name": "Dr. Jane Doe"})
        assert r.status_code == 200, r.text
        assert (r.json()["decided_by"], r.json()["decided_by_client"]) == ("Dr. Jane Doe", created.client_id)
        stored = (await reviewer.get(f"/api/review/{review['request_id']}")).json()["decision"]
        assert (stored["decided_by"], stored["decided_by_client"]) == ("Dr. Jane Doe", created.client_id)
        for pdf in (_pdf_text(r.json()["updated_audit_justification_pdf"]),
                    _pdf_text(base64.b64encode((await reviewer.get(
                        f"/api/review/{review['request_id']}/audit.pdf")).content).decode())):
            assert "Dr. Jane Doe" in pdf and created.client_id in pdf.replace("\n", "")


async def test_decision_errors(reviewer):
    missing = await reviewer.post("/api/decision", json={"request_id": str(uuid.uuid4()), "action": "accept",
                                                         "reviewer_name": "Dr. Jane Doe"})
    assert missing.status_code == 404 and missing.json() == {"detail": "Review not found"}
    review = await _review(reviewer)
    for bad in ({"action": "maybe"}, {"action": "override"},
                {"action": "override", "override_recommendation": "approve", "override_rationale": "short"}):
        r = await reviewer.post("/api/decision", json={"request_id": review["request_id"],
                                                       "reviewer_name": "Dr. Jane Doe", **bad})
        assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    assert (await reviewer.get(f"/api/review/{review['request_id']}/letter.pdf")).status_code == 404
    audit = await reviewer.get(f"/api/review/{review['request_id']}/audit.pdf")
    assert audit.status_code == 200 and audit.content.startswith(b"%PDF")


async def test_override_to_deny_needs_the_reviewer_role_and_states_the_reason(app):
    created, reviewer = await _client(app, "reviewer")
    _, admin = await _client(app, "admin", created.organization_id)
    async with reviewer, admin:
        await _deny(reviewer, admin)


async def _deny(reviewer, admin) -> None:
    review = await _review(reviewer, clinical_notes="Knee pain.")
    body = {"request_id": review["request_id"], "action": "override", "override_recommendation": "deny",
            "override_rationale": "No imaging evidence of advanced arthritis was submitted.",
            "denial_reason": "Imaging does not show advanced arthritis", "reviewer_name": "Dr. Jane Doe"}
    refused = await admin.post("/api/decision", json=body)
    assert refused.status_code == 403 and "licensed reviewer" in refused.json()["detail"]
    r = await reviewer.post("/api/decision", json=body)
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["final_recommendation"] == "deny" and decision["was_overridden"] is True
    assert decision["original_recommendation"] == "pend_for_review"
    letter = decision["letter"]
    assert letter["letter_type"] == "denial" and letter["appeal_rights"]
    text = _pdf_text(letter["pdf_base64"])
    assert "Imaging does not show advanced arthritis" in text and "CLINICIAN OVERRIDE NOTICE" in text.upper()
    assert "Clinician Override Record" in _pdf_text(decision["updated_audit_justification_pdf"])


async def test_concurrent_decisions_exactly_one_wins_and_numbers_are_gap_free(app):
    created, reviewer = await _client(app, "reviewer")
    async with reviewer:
        reviews = [await _review(reviewer) for _ in range(3)]
        body = {"request_id": reviews[0]["request_id"], "action": "accept", "reviewer_name": "Dr. Jane Doe"}
        answers = await asyncio.gather(*(reviewer.post("/api/decision", json=body) for _ in range(10)))
        assert sorted(r.status_code for r in answers) == [200] + [409] * 9
        numbers = [next(r for r in answers if r.status_code == 200).json()["authorization_number"]]
        for review in reviews[1:]:
            r = await reviewer.post("/api/decision", json={**body, "request_id": review["request_id"]})
            numbers.append(r.json()["authorization_number"])
    assert [int(n[-5:]) for n in numbers] == [1, 2, 3]


async def test_the_counter_lives_in_the_database(app):
    """A new process (a new Database on the same URL) continues the day's numbers."""
    from priorauth.db import Database
    from priorauth.review.service import _next_number
    from priorauth.timeutil import utcnow

    org = f"org-{uuid.uuid4().hex[:12]}"
    numbers = []
    for _ in range(2):
        db = Database(app.state.db.url)
        async with db.write() as session:
            numbers.append(await _next_number(session, db, org, utcnow()))
        await db.dispose()
    assert [int(n[-5:]) for n in numbers] == [1, 2]


@pytest.mark.parametrize("agent", ["compliance", "clinical"])
async def test_single_agents_use_the_common_envelope(reviewer, agent):
    r = await reviewer.post(f"/api/agents/{agent}", json=REQUEST)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"agent", "started", "completed", "result"} and body["agent"] == agent


async def test_coverage_and_synthesis_agents_take_upstream_results(reviewer):
    clinical = (await reviewer.post("/api/agents/clinical", json=REQUEST)).json()["result"]
    coverage = await reviewer.post("/api/agents/coverage", json={"request": REQUEST, "clinical_findings": clinical})
    assert coverage.status_code == 200, coverage.text
    fixture = await reviewer.post("/api/agents/coverage", json={
        "request": REQUEST, "clinical_findings": {"clinical_extraction": {"chief_complaint": "bilateral knee OA"}}})
    assert fixture.status_code == 200 and fixture.json()["result"]["criteria_assessment"]
    compliance = (await reviewer.post("/api/agents/compliance", json=REQUEST)).json()["result"]
    synthesis = await reviewer.post("/api/agents/synthesis", json={
        "request": REQUEST, "compliance_result": compliance, "clinical_result": clinical,
        "coverage_result": coverage.json()["result"], "cpt_validation": None})
    assert synthesis.status_code == 200
    assert synthesis.json()["result"]["recommendation"] in ("approve", "pend_for_review")
    bad = await reviewer.post("/api/agents/synthesis", json={"request": {**REQUEST, "patient_dob": "x"}})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "request", "patient_dob"]


@pytest.mark.parametrize("name", sorted(CASES))
async def test_every_library_case_over_http(reviewer, name):
    """Each case of tests/cases through the real API and database: recommendation, criteria, gate, gaps."""
    expect = CASES[name]["expect"]
    result = await _review(reviewer, **CASES[name]["request"])
    coverage = result["agent_results"]["coverage"]
    assert coverage["policy"]["id"] == expect["policy"]
    assert {c["id"]: c["status"] for c in coverage["criteria_assessment"]} == expect["criteria"]
    failed = [g["gate"] for g in result["decision_gates"] if g["status"] == "FAIL"]
    assert (failed[0] if failed else None) == expect["failed_gate"]
    assert result["recommendation"] == expect["recommendation"], result["clinical_rationale"]
    for gap in expect["documentation_gaps"]:
        assert any(gap in g["what"] for g in result["documentation_gaps"]), gap
