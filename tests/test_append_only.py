"""History stays: the database itself refuses UPDATE and DELETE on the append-only tables (authorization
events, workflow audit, policy trail, organization events, review decisions), whatever SQL reaches it."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import exc, text

from priorauth.auth.service import create_client
from tests.cases import tka_case
from tests.review.test_review_api import REQUEST
from tests.support.apps import http_client
from tests.workflows.test_walkthrough import BIOLOGIC_POLICY

APPEND_ONLY = {  # table: the column that ties a row to its organization
    "authorization_events": "organization_id",
    "workflow_audit": "organization_id",
    "workflow_policy_audit": "organization_id",
    "organization_events": "organization_id",
    "review_decisions": "organization_id",
}


async def _history(app) -> str:
    """An organization with rows in every append-only table, made through the API."""
    org = f"org-{uuid.uuid4().hex[:12]}"
    admin = await create_client(app.state.db, org, "admin", "admin")
    reviewer = await create_client(app.state.db, org, "reviewer", "reviewer")
    async with http_client(app, admin.secret) as a, http_client(app, reviewer.secret) as r:
        assert (await a.post("/v1/prior-auth/authorizations", json=tka_case())).status_code == 201
        wf = (await a.post("/api/v1/workflows", json={"workflow_name": "pa", "source": "external"})).json()
        gate = await a.post(f"/api/v1/workflows/{wf['workflow_id']}/steps/s1/gate",
                            json={"step_name": "Submit", "step_type": "tool_call"})
        assert gate.status_code == 200, gate.text
        assert (await a.post("/api/v1/policies", json=BIOLOGIC_POLICY)).status_code == 201
        review = (await r.post("/api/review", json=REQUEST)).json()
        decided = await r.post("/api/decision", json={"request_id": review["request_id"], "action": "accept",
                                                      "reviewer_name": "Dr. Jane Doe"})
        assert decided.status_code == 200, decided.text
    return org


@pytest.mark.parametrize("statement", ["UPDATE {table} SET {column} = {column} WHERE {column} = :org",
                                       "DELETE FROM {table} WHERE {column} = :org"])
async def test_the_database_refuses_to_change_or_remove_history(app, statement):
    org = await _history(app)
    for table, column in APPEND_ONLY.items():
        sql = text(statement.format(table=table, column=column))
        with pytest.raises(exc.DBAPIError, match=f"{table} is append-only"):
            async with app.state.db.write() as session:
                await session.execute(sql, {"org": org})
        async with app.state.db.read() as session:
            count = (await session.execute(text(f"SELECT count(*) FROM {table} WHERE {column} = :org"),
                                           {"org": org})).scalar_one()
        assert count >= 1, table  # still there
