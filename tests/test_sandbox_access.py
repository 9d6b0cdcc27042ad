"""Who may play the sandbox payer: admin clients; other clients only when an admin turned the sandbox on
for their organization (`PATCH /v1/organization`, or `priorauth orgs sandbox`); nobody in production."""
from __future__ import annotations

import sqlite3
import uuid

from priorauth.auth.service import get_organization
from tests.cases import complete_tka_case
from tests.support.apps import http_client, new_client
from tests.test_auth import _cli
from tests.test_errors import assert_envelope

A = "/v1/prior-auth/authorizations"
ORG = "/v1/organization"
APPROVAL = {"type": "approval", "certificationNumber": "CERT-1"}


def _payer_events(auth_id: str) -> str:
    return f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events"


async def _pending(client) -> dict:
    auth = (await client.post(A, json=complete_tka_case())).json()
    submitted = await client.post(f"{A}/{auth['id']}/submit")
    assert submitted.json()["workflowState"] == "pending_payer", submitted.text
    return submitted.json()


async def _unchanged(client, auth: dict) -> None:
    after = (await client.get(f"{A}/{auth['id']}")).json()
    assert (after["workflowState"], after["decisionState"], after["version"]) == (
        "pending_payer", "pending", auth["version"])


async def test_a_provider_cannot_decide_its_own_case(app):
    org = f"org-{uuid.uuid4().hex[:12]}"
    provider, reviewer = await new_client(app, "provider", org), await new_client(app, "reviewer", org)
    async with http_client(app, provider.secret) as p, http_client(app, reviewer.secret) as r:
        auth = await _pending(p)
        for c in (p, r):
            for event in (APPROVAL, {"type": "denial", "denialReasonCode": "X", "denialReasonMessage": "no"}):
                error = assert_envelope(await c.post(_payer_events(auth["id"]), json=event), 403,
                                        "sandbox_not_enabled")
                assert "PATCH /v1/organization" in error["message"]
        await _unchanged(p, auth)


async def test_an_admin_turns_the_sandbox_on_for_its_organization(app, client, credentials):
    provider = await new_client(app, "provider", credentials.organization_id)
    stranger = await new_client(app, "provider")  # another organization's provider
    async with http_client(app, provider.secret) as p, http_client(app, stranger.secret) as s:
        shown = (await client.get(ORG)).json()
        assert (shown["id"], shown["object"], shown["sandboxEnabled"]) == (
            credentials.organization_id, "organization", False)
        turned_on = await client.patch(ORG, json={"sandboxEnabled": True})
        assert turned_on.status_code == 200 and turned_on.json()["sandboxEnabled"] is True, turned_on.text
        assert (await client.get(ORG)).json()["sandboxEnabled"] is True

        approved = await p.post(_payer_events((await _pending(p))["id"]), json=APPROVAL)
        assert approved.status_code == 200, approved.text
        assert (approved.json()["workflowState"], approved.json()["decisionState"]) == ("completed", "approved")
        elsewhere = await _pending(s)
        assert_envelope(await s.post(_payer_events(elsewhere["id"]), json=APPROVAL), 403, "sandbox_not_enabled")

        assert (await client.patch(ORG, json={"sandboxEnabled": False})).json()["sandboxEnabled"] is False
        auth = await _pending(p)
        assert_envelope(await p.post(_payer_events(auth["id"]), json=APPROVAL), 403, "sandbox_not_enabled")
        await _unchanged(p, auth)


async def test_only_an_admin_changes_organization_settings(app, client, credentials):
    provider = await new_client(app, "provider", credentials.organization_id)
    async with http_client(app, provider.secret) as p:
        assert_envelope(await p.get(ORG), 403, "forbidden")
        assert_envelope(await p.patch(ORG, json={"sandboxEnabled": True}), 403, "forbidden")
    for bad in ({"sandboxEnabled": "yes"}, {"sandboxEnabled": 1}, {"sandbox": True}, []):
        assert_envelope(await client.patch(ORG, json=bad), 422, "validation_failed")
    assert (await client.patch(ORG, json={})).json()["sandboxEnabled"] is False
    assert (await get_organization(app.state.db, credentials.organization_id)).sandbox_enabled is False


async def test_production_turns_the_sandbox_off_for_everyone(own_app, capsys):
    capsys.readouterr()
    await own_app()
    assert "sandbox_payer_on" in capsys.readouterr().out  # said at start, in development only
    application = await own_app(env="production")
    assert "sandbox_payer_on" not in capsys.readouterr().out
    admin = await new_client(application, "admin")
    provider = await new_client(application, "provider", admin.organization_id)
    async with http_client(application, admin.secret) as a, http_client(application, provider.secret) as p:
        assert (await a.patch(ORG, json={"sandboxEnabled": True})).json()["sandboxEnabled"] is True
        auth = await _pending(a)
        for c in (a, p):
            error = assert_envelope(await c.post(_payer_events(auth["id"]), json=APPROVAL), 404, "sandbox_disabled")
            assert "PRIORAUTH_ENV=production" in error["message"]
        await _unchanged(a, auth)


def _stored(data_dir) -> int:
    with sqlite3.connect(data_dir / "priorauth.db") as db:
        return db.execute("SELECT sandbox_enabled FROM organizations WHERE id = 'acme'").fetchone()[0]


def test_the_cli_turns_the_sandbox_on_and_off(tmp_path):
    created = _cli("clients", "create", "--org", "acme", "--name", "EHR", "--role", "provider",
                   "--data-dir", str(tmp_path))
    assert created.returncode == 0, created.stdout + created.stderr
    on = _cli("orgs", "sandbox", "--org", "acme", "--on", "--data-dir", str(tmp_path))
    assert on.returncode == 0 and "acme: sandbox payer on for every client" in on.stdout, on.stdout + on.stderr
    assert _stored(tmp_path) == 1
    off = _cli("orgs", "sandbox", "--org", "acme", "--off", "--data-dir", str(tmp_path))
    assert off.returncode == 0 and "admin clients only" in off.stdout, off.stdout + off.stderr
    assert _stored(tmp_path) == 0
    unknown = _cli("orgs", "sandbox", "--org", "nope", "--on", "--data-dir", str(tmp_path))
    assert unknown.returncode == 2 and "no organization 'nope'" in unknown.stdout + unknown.stderr
