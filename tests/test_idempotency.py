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


# ---------------------------------------------------------------- blank keys

BLANK_KEYS = ["", "   "]  # empty first, then whitespace only


def _refused_blank_key(response, field: str) -> None:
    """The lifecycle envelope: 422 validation_failed naming the header and saying the key must be non-empty."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [i["path"] for i in error["issues"]] == [field]
    assert "must be non-empty" in error["issues"][0]["message"], error


async def test_blank_create_keys_are_refused_and_create_nothing(app, client):
    external_id = f"blank-{uuid.uuid4()}"
    for key in BLANK_KEYS:
        for _ in range(2):  # a second create with the same blank key used to answer 500
            refused = await client.post(A, json=tka_case(externalId=external_id), headers={"Idempotency-Key": key})
            _refused_blank_key(refused, "header.Idempotency-Key")
    assert await _count(app, Authorization, Authorization.external_id == external_id) == 0


async def test_blank_submit_keys_are_refused_and_submit_nothing(app, client):
    first, second = [(await client.post(A, json=complete_tka_case())).json()["id"] for _ in range(2)]
    for key in BLANK_KEYS:
        for auth_id in (first, second):  # another case's submit used to meet the first one's blank key
            refused = await client.post(f"{A}/{auth_id}/submit", headers={"Idempotency-Key": key})
            _refused_blank_key(refused, "header.Idempotency-Key")
    for auth_id in (first, second):
        assert (await client.get(f"{A}/{auth_id}")).json()["workflowState"] == "ready_to_submit"
        assert await _count(app, SubmissionAttempt, SubmissionAttempt.authorization_id == auth_id) == 0


async def test_blank_appeal_keys_are_refused_and_appeal_nothing(client):
    auth_id = (await client.post(A, json=complete_tka_case())).json()["id"]
    assert (await client.post(f"{A}/{auth_id}/submit")).status_code == 200
    denied = await client.post(f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events",
                               json={"type": "denial", "denialReasonCode": "NMN", "denialReasonMessage": "Not met"})
    assert denied.json()["decisionState"] == "denied", denied.text
    for key in BLANK_KEYS:
        refused = await client.post(f"{A}/{auth_id}/appeal", json={"reason": "Criteria are met"},
                                    headers={"Idempotency-Key": key})
        _refused_blank_key(refused, "header.Idempotency-Key")
    after = (await client.get(f"{A}/{auth_id}")).json()
    assert (after["workflowState"], after["decisionState"], after["appeal"], after["version"]) == (
        "completed", "denied", None, denied.json()["version"])


W = "/api/v1/workflows"


def _refused_blank_json_key(response) -> None:
    """The workflow face's envelope: its validation errors are 400 VALIDATION_ERROR with {field, message} issues."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [i["field"] for i in error["issues"]] == ["idempotency_key"]
    assert "must be non-empty" in error["issues"][0]["message"], error


async def test_blank_workflow_gate_keys_are_refused_and_create_no_step(client):
    wf = (await client.post(W, json={"workflow_name": "blank-keys"})).json()["workflow_id"]
    for key in BLANK_KEYS:
        refused = await client.post(f"{W}/{wf}/steps/submit/gate",
                                    json={"step_name": "Submit", "step_type": "tool_call", "idempotency_key": key})
        _refused_blank_json_key(refused)
    assert (await client.get(f"{W}/{wf}")).json()["steps"] == []


async def test_blank_workflow_complete_keys_are_refused_and_complete_nothing(client):
    wf = (await client.post(W, json={"workflow_name": "blank-keys"})).json()["workflow_id"]
    gate = await client.post(f"{W}/{wf}/steps/submit/gate", json={"step_name": "Submit", "step_type": "tool_call"})
    assert gate.json()["decision"] == "allow", gate.text
    for key in BLANK_KEYS:
        _refused_blank_json_key(await client.post(f"{W}/{wf}/steps/submit/complete", json={"idempotency_key": key}))
    [step] = (await client.get(f"{W}/{wf}")).json()["steps"]
    assert step["completed_at"] is None and step["idempotency_key"] is None
    audit = (await client.get(f"{W}/{wf}/audit")).json()
    assert not [e for e in audit["entries"] if e["event"] != "gate"], audit
