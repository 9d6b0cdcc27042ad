"""Idempotency-Key semantics of create and submit, including many concurrent callers."""
from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from priorauth.authorizations.models import Artifact, Authorization, AuthorizationEvent
from priorauth.submissions.models import SubmissionAttempt
from tests.cases import complete_tka_case, tka_case

A = "/v1/prior-auth/authorizations"


async def _count(app, model, *where) -> int:
    async with app.state.db.read() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_create_replays_same_body_and_refuses_a_different_one(client):
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = await client.post(A, json=tka_case(), headers=key)
    again = await client.post(A, json=tka_case(), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = await client.post(A, json=tka_case(urgency="expedited"), headers=key)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused_with_different_request"


async def test_concurrent_creates_with_one_key_make_one_authorization(app, client):
    key = f"create-{uuid.uuid4()}"
    body = tka_case(externalId=key)
    responses = await asyncio.gather(*[client.post(A, json=body, headers={"Idempotency-Key": key}) for _ in range(10)])
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await _count(app, Authorization, Authorization.external_id == key) == 1


async def test_twenty_concurrent_submits_make_one_submission_and_one_artifact_set(app, client):
    auth_id = (await client.post(A, json=complete_tka_case())).json()["id"]
    key = {"Idempotency-Key": f"submit-{uuid.uuid4()}"}
    responses = await asyncio.gather(*[client.post(f"{A}/{auth_id}/submit", headers=key) for _ in range(20)])
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    assert {r.json()["submission"]["id"] for r in responses} == {responses[0].json()["submission"]["id"]}
    assert {r.json()["submission"]["status"] for r in responses} == {"submitted"}
    assert {r.json()["workflowState"] for r in responses} == {"pending_payer"}
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 19
    assert await _count(app, SubmissionAttempt, SubmissionAttempt.authorization_id == auth_id) == 1
    assert await _count(app, Artifact, Artifact.authorization_id == auth_id, Artifact.purpose == "submission") == 3
    assert await _count(app, AuthorizationEvent, AuthorizationEvent.authorization_id == auth_id,
                        AuthorizationEvent.type == "prior_auth.submission.submitted") == 1


async def test_submit_key_reused_for_another_authorization_is_refused(client):
    first = (await client.post(A, json=complete_tka_case())).json()["id"]
    second = (await client.post(A, json=complete_tka_case())).json()["id"]
    key = {"Idempotency-Key": f"submit-{uuid.uuid4()}"}
    assert (await client.post(f"{A}/{first}/submit", headers=key)).status_code == 200
    refused = await client.post(f"{A}/{second}/submit", headers=key)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "idempotency_key_reused_for_different_authorization"
    assert (await client.get(f"{A}/{second}")).json()["workflowState"] == "ready_to_submit"


async def test_concurrent_submits_with_one_key_for_two_authorizations(client):
    ids = [(await client.post(A, json=complete_tka_case())).json()["id"] for _ in range(2)]
    key = {"Idempotency-Key": f"submit-{uuid.uuid4()}"}
    responses = await asyncio.gather(*[client.post(f"{A}/{i}/submit", headers=key) for i in ids * 5])
    codes = sorted({r.status_code for r in responses})
    assert codes == [200, 409]
    winners = {r.json()["id"] for r in responses if r.status_code == 200}
    assert len(winners) == 1
    assert all(r.json()["error"]["code"] == "idempotency_key_reused_for_different_authorization"
               for r in responses if r.status_code == 409)


async def test_submit_without_key_after_submission_is_an_invalid_transition(client):
    auth_id = (await client.post(A, json=complete_tka_case())).json()["id"]
    assert (await client.post(f"{A}/{auth_id}/submit")).status_code == 200
    again = await client.post(f"{A}/{auth_id}/submit")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state_transition"
