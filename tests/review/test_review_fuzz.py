"""Property: whatever a client sends to the review face, the answer is never a 500.

Every response is < 500; errors are FastAPI's `{"detail": ...}`; a 200 is JSON (the stream: events).
Bodies come from the lifecycle fuzzer's strategies: mutations of each route's valid body, any JSON,
raw bytes, wrong content types, deep nesting, NaN, NUL characters.
"""
from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from priorauth.auth.service import create_client
from tests.support.apps import http_client
from tests.review.test_review_api import REQUEST
from tests.test_fuzz import FUZZ, payloads


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        assert "event: result" in response.text or "event: error" in response.text
        return
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"detail"}, body


@pytest.fixture(scope="module")
async def reviewer(app):
    created = await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "fuzz", "reviewer")
    async with http_client(app, created.secret) as c:
        review = (await c.post("/api/review", json=REQUEST)).json()
        yield c, review["request_id"]


def _fuzz(path: str, base):
    @FUZZ
    @given(data=st.data())
    async def run(reviewer, data):
        c, request_id = reviewer
        body = base(request_id) if callable(base) else base
        content, content_type = data.draw(payloads(body))
        headers = {"Content-Type": content_type} if content_type else {}
        check(await c.post(path, content=content, headers=headers))
    return run


test_review = _fuzz("/api/review", REQUEST)
test_stream = _fuzz("/api/review/stream", REQUEST)
test_clinical_agent = _fuzz("/api/agents/clinical", REQUEST)
test_coverage_agent = _fuzz("/api/agents/coverage", {"request": REQUEST, "clinical_findings": {
    "diagnosis_validation": [{"code": "M17.11", "valid": True}],
    "clinical_extraction": {"chief_complaint": "bilateral knee OA", "extraction_confidence": 50,
                            "prior_treatments": [{"concept": "nsaids", "outcome": "failed"}]}}})
test_synthesis_agent = _fuzz("/api/agents/synthesis", {
    "request": REQUEST, "compliance_result": {"missing_items": []},
    "clinical_result": {"diagnosis_validation": [{"code": "M17.11", "valid": True, "billable": True}],
                        "clinical_extraction": {"extraction_confidence": 80}},
    "coverage_result": {"policy_match": 1.0, "criteria_assessment": [
        {"criterion": "x", "status": "MET", "confidence": 90, "evidence": [{"text": "a", "start": 0, "end": 1}]}]},
    "cpt_validation": None})
test_decision = _fuzz("/api/decision", lambda request_id: {
    "request_id": request_id, "action": "override", "override_recommendation": "deny",
    "override_rationale": "The imaging does not show advanced disease.", "denial_reason": "No imaging",
    "reviewer_name": "Dr. Jane Doe"})


async def test_unknown_ids_and_methods(reviewer):
    c, _ = reviewer
    for method, path in (("GET", "/api/review/%00"), ("GET", "/api/review/" + "x" * 5000), ("DELETE", "/api/reviews"),
                         ("GET", "/api/reviews?limit=0"), ("GET", "/api/reviews?limit=abc"),
                         ("GET", "/api/review/nope/letter.pdf"), ("PUT", "/api/decision")):
        check(await c.request(method, path))
