"""Stage 2 and 3 failures return the case to ready_to_submit; a crashed submission is recovered on start."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from priorauth.app import create_app
from priorauth.authorizations import service
from priorauth.submissions import channels
from priorauth.submissions.models import SubmissionAttempt
from priorauth.timeutil import utcnow
from tests.cases import complete_tka_case

A = "/v1/prior-auth/authorizations"


async def _event_types(client, auth_id):
    return [e["type"] for e in (await client.get(f"{A}/{auth_id}/events", params={"limit": 100})).json()["data"]]


@pytest.mark.parametrize(("stage", "code"), [("send", "channel_error"), ("render", "render_failed"),
                                             ("persist", "persist_failed")])
async def test_failed_side_effect_records_failure_and_allows_retry(client, monkeypatch, stage, code):
    auth_id = (await client.post(A, json=complete_tka_case())).json()["id"]

    async def refuse(self, outbound):
        raise ConnectionError("payer endpoint unreachable")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    if stage == "send":
        monkeypatch.setattr(channels.SandboxChannel, "send", refuse)
    elif stage == "render":
        monkeypatch.setattr(service.compose, "render_submission", broken)
    else:  # stage 3: the transaction that persists artifacts fails
        monkeypatch.setattr(service, "_artifact", broken)
    key = {"Idempotency-Key": f"submit-{uuid.uuid4()}"}
    failed = await client.post(f"{A}/{auth_id}/submit", headers=key)
    assert failed.status_code == 502
    error = failed.json()["error"]
    assert error["code"] == "submission_failed" and error["retryable"] is True
    assert error["details"]["stage"] == code
    attempt_id = error["details"]["submissionAttemptId"]

    after = (await client.get(f"{A}/{auth_id}")).json()
    assert after["workflowState"] == "ready_to_submit" and after["decisionState"] == "unknown"
    assert after["submittedAt"] is None
    types = await _event_types(client, auth_id)
    assert types[-2:] == ["prior_auth.submission.failed", "prior_auth.status.changed"]
    attempt = (await client.get(f"/v1/prior-auth/submission-attempts/{attempt_id}")).json()
    assert attempt["status"] == "failed" and attempt["artifacts"] == {} and attempt["error"]["code"] == code

    monkeypatch.undo()
    retried = await client.post(f"{A}/{auth_id}/submit", headers=key)
    assert retried.status_code == 200, retried.text
    assert retried.json()["submission"]["id"] == attempt_id and retried.json()["submission"]["tries"] == 2
    assert retried.json()["workflowState"] == "pending_payer"


async def test_submission_stuck_after_crash_is_recovered_on_start(app, client, credentials):
    auth_id = (await client.post(A, json=complete_tka_case())).json()["id"]
    # Stage 1 commits, then the process "dies" before stages 2 and 3.
    attempt_id, snapshot = await service._submit_stage1(app.state.db, _principal(credentials), auth_id, None)
    assert snapshot is not None
    assert (await client.get(f"{A}/{auth_id}")).json()["workflowState"] == "submitting"
    async with app.state.db.write() as session:
        await session.execute(update(SubmissionAttempt).where(SubmissionAttempt.id == attempt_id)
                              .values(started_at=utcnow() - timedelta(minutes=5)))

    restarted = create_app(app.state.settings.model_copy(update={"worker_enabled": False}))
    async with restarted.router.lifespan_context(restarted):
        pass

    after = (await client.get(f"{A}/{auth_id}")).json()
    assert after["workflowState"] == "ready_to_submit"
    events = (await client.get(f"{A}/{auth_id}/events")).json()["data"]
    failed = [e for e in events if e["type"] == "prior_auth.submission.failed"]
    assert failed and failed[0]["data"]["errorCode"] == "interrupted"
    assert (await client.post(f"{A}/{auth_id}/submit")).json()["workflowState"] == "pending_payer"


def _principal(created):
    from priorauth.auth.service import Principal
    return Principal(created.client_id, created.organization_id, created.role)
