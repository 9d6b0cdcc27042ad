"""Responses that carry PHI are never cached and never content-sniffed: `Cache-Control: no-store` and
`X-Content-Type-Options: nosniff` on every route of every face (files, artifacts, cases, events,
reviews, letters, audit PDFs, errors), set once in the request middleware."""
from __future__ import annotations

import uuid

import httpx

from priorauth.auth.service import create_client
from tests.cases import complete_tka_case, tiny_pdf
from tests.review.test_review_api import REQUEST
from tests.support.apps import http_client

A = "/v1/prior-auth/authorizations"


def assert_protected(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert response.headers.get("cache-control") == "no-store", where
    assert response.headers.get("x-content-type-options") == "nosniff", where


async def test_lifecycle_files_and_artifacts_are_no_store_and_nosniff(client):
    file = (await client.post("/v1/files", files={"file": ("note.pdf", tiny_pdf("knee pain"))}))
    assert file.status_code == 201, file.text
    file_id = file.json()["id"]
    auth = (await client.post(A, json=complete_tka_case())).json()
    await client.post(f"{A}/{auth['id']}/attachments", json={"fileId": file_id})
    preview = (await client.post(f"{A}/{auth['id']}/preview")).json()
    submitted = await client.post(f"{A}/{auth['id']}/submit", headers={"Idempotency-Key": str(uuid.uuid4())})
    assert submitted.status_code == 200, submitted.text
    attempt = submitted.json()["submission"]
    responses = [file, submitted,
                 await client.get(f"/v1/files/{file_id}"),
                 await client.get(f"/v1/files/{file_id}/content"),
                 await client.get(A),
                 await client.get(f"{A}/{auth['id']}"),
                 await client.get(f"{A}/{auth['id']}/events"),
                 await client.get(f"{A}/{auth['id']}/attachments"),
                 await client.get(f"{A}/{auth['id']}/actions"),
                 await client.get(preview["documents"]["draftPacket"]["url"]),
                 await client.get(f"{A}/{auth['id']}/artifacts/{attempt['artifacts']['submission_packet']}"),
                 await client.get(f"/v1/prior-auth/submission-attempts/{attempt['id']}"),
                 await client.get("/v1/events"),
                 await client.get(f"{A}/auth_missing"),  # errors too
                 await client.get("/no/such/route")]
    assert [r.status_code for r in responses] == [201, 200] + [200] * 11 + [404, 404]
    for response in responses:
        assert_protected(response)
    content = responses[3]
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["content-disposition"] == 'attachment; filename="note.pdf"'


async def test_reviews_letters_and_audit_pdfs_are_no_store_and_nosniff(app):
    created = await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "tests", "reviewer")
    async with http_client(app, created.secret) as reviewer:
        review = await reviewer.post("/api/review", json=REQUEST)
        assert review.status_code == 200, review.text
        request_id = review.json()["request_id"]
        decision = await reviewer.post("/api/decision", json={"request_id": request_id, "action": "accept",
                                                              "reviewer_name": "Dr. Jane Doe"})
        responses = [review, decision,
                     await reviewer.get(f"/api/review/{request_id}"),
                     await reviewer.get(f"/api/review/{request_id}/audit.pdf"),
                     await reviewer.get(f"/api/review/{request_id}/letter.pdf"),
                     await reviewer.get("/api/reviews"),
                     await reviewer.post("/api/review/stream", json=REQUEST),
                     await reviewer.get(f"/api/review/{uuid.uuid4()}")]
    assert [r.status_code for r in responses] == [200] * 7 + [404]
    for response in responses:
        assert_protected(response)
    assert responses[4].headers["content-type"] == "application/pdf"


async def test_unauthenticated_and_middleware_answers_are_protected_too(anon, client):
    assert_protected(await anon.get(A))  # 401
    assert_protected(await client.get(f"{A}?x=%00"))  # 400 from the middleware itself


async def test_a_route_that_sets_its_own_cache_control_keeps_it(client):
    """The API pages' static scripts hold no PHI and may be cached by the browser that fetched them."""
    asset = await client.get("/docs/assets/swagger-ui.css")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "private, max-age=86400"
    assert asset.headers["x-content-type-options"] == "nosniff"
