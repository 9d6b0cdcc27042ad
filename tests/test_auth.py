"""Authentication (Bearer secret, HTTP Basic id:secret), tenant isolation, and the `priorauth clients` commands."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import update

from priorauth.app import create_app
from priorauth.auth.models import ApiClient
from priorauth.auth.service import create_client
from priorauth.config import Settings
from priorauth.db import Database
from priorauth.timeutil import utcnow
from tests.cases import complete_tka_case, tiny_pdf, tka_case
from tests.support.apps import http_client
from tests.test_errors import assert_envelope

A = "/v1/prior-auth/authorizations"


async def new_client(app, role: str = "admin"):
    return await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "tests", role)


# ---------------------------------------------------------------- credentials

async def test_bearer_secret_authenticates(client, credentials):
    created = await client.post(A, json=tka_case())
    assert created.status_code == 201, created.text
    listed = await client.get(A)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()["data"]] == [created.json()["id"]]


async def test_basic_client_id_and_secret_authenticates(app, credentials):
    async with http_client(app) as c:
        response = await c.get(A, auth=(credentials.client_id, credentials.secret))
        assert response.status_code == 200, response.text
        created = await c.post(A, json=tka_case(), auth=(credentials.client_id, credentials.secret))
        assert created.status_code == 201, created.text


async def test_basic_with_right_secret_but_wrong_client_id_fails(app, credentials):
    other = await new_client(app)
    async with http_client(app) as c:
        # Warm the authenticator's cache with the right pair first: the cache must not leak to other ids.
        assert (await c.get(A, auth=(credentials.client_id, credentials.secret))).status_code == 200
        assert (await c.get(A, headers={"Authorization": f"Bearer {credentials.secret}"})).status_code == 200
        for client_id in (other.client_id, credentials.client_id + "x", "", "cli_unknown"):
            response = await c.get(A, auth=(client_id, credentials.secret))
            assert_envelope(response, 401, "unauthorized")


async def test_wrong_secret_fails_both_ways(app, credentials):
    async with http_client(app) as c:
        assert_envelope(await c.get(A, auth=(credentials.client_id, credentials.secret + "x")), 401, "unauthorized")
        assert_envelope(await c.get(A, auth=(credentials.client_id, "")), 401, "unauthorized")
        bearer = {"Authorization": f"Bearer {credentials.secret[:-1]}"}
        assert_envelope(await c.get(A, headers=bearer), 401, "unauthorized")


async def test_disabled_client_is_rejected(app):
    created = await new_client(app)
    async with app.state.db.write() as session:
        await session.execute(update(ApiClient).where(ApiClient.id == created.client_id).values(disabled_at=utcnow()))
    async with http_client(app, created.secret) as c:
        assert_envelope(await c.get(A), 401, "unauthorized")


async def test_a_client_disabled_elsewhere_is_refused_on_the_very_next_request(app):
    """No cache window: a revoke written by another process (here: another engine on the same database)
    counts on the next request, even right after the client was accepted."""
    created = await new_client(app)
    other_process = Database(app.state.db.url)
    try:
        async with http_client(app, created.secret) as bearer, http_client(app) as basic:
            assert (await bearer.get(A)).status_code == 200
            assert (await basic.get(A, auth=(created.client_id, created.secret))).status_code == 200
            async with other_process.write() as session:
                await session.execute(update(ApiClient).where(ApiClient.id == created.client_id)
                                      .values(disabled_at=utcnow()))
            assert_envelope(await bearer.get(A), 401, "unauthorized")
            assert_envelope(await basic.get(A, auth=(created.client_id, created.secret)), 401, "unauthorized")
    finally:
        await other_process.dispose()


# ---------------------------------------------------------------- tenant isolation

async def test_other_organization_sees_404_never_403(app, client):
    """Org A's authorization, file, attachment, artifacts, events and attempt are invisible to org B."""
    auth = (await client.post(A, json=complete_tka_case())).json()
    auth_id = auth["id"]
    file = (await client.post("/v1/files", files={"file": ("note.pdf", tiny_pdf(), "application/pdf")})).json()
    attachment = await client.post(f"{A}/{auth_id}/attachments", json={"fileId": file["id"]})
    assert attachment.status_code == 201, attachment.text
    submitted = await client.post(f"{A}/{auth_id}/submit")
    assert submitted.status_code == 200, submitted.text
    attempt = submitted.json()["submission"]
    artifact_id = attempt["artifacts"]["submission_packet"]

    reads = [f"{A}/{auth_id}", f"{A}/{auth_id}/events", f"{A}/{auth_id}/actions", f"{A}/{auth_id}/attachments",
             f"{A}/{auth_id}/artifacts/{artifact_id}", f"/v1/files/{file['id']}", f"/v1/files/{file['id']}/content",
             f"/v1/prior-auth/submission-attempts/{attempt['id']}"]
    for path in reads:  # the owner sees every one of them, so a 404 below is isolation, not a wrong id
        assert (await client.get(path)).status_code == 200, path

    intruder = await new_client(app)
    async with http_client(app, intruder.secret) as b:
        for path in reads:
            assert_envelope(await b.get(path), 404, "not_found")
        writes = [("PATCH", f"{A}/{auth_id}", {"urgency": "expedited"}),
                  ("POST", f"{A}/{auth_id}/submit", None),
                  ("POST", f"{A}/{auth_id}/preview", None),
                  ("POST", f"{A}/{auth_id}/cancel", {"reason": "not mine"}),
                  ("POST", f"{A}/{auth_id}/attachments", {"fileId": file["id"]}),
                  ("DELETE", f"{A}/{auth_id}/attachments/{attachment.json()['id']}", None),
                  ("POST", f"{A}/{auth_id}/actions/act_x/resolve", {"attachmentIds": ["att_x"]}),
                  ("POST", f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events",
                   {"type": "denial", "denialReasonCode": "X", "denialReasonMessage": "not mine"})]
        for method, path, body in writes:
            response = await b.request(method, path, json=body)
            assert_envelope(response, 404, "not_found")
        assert (await b.get(A)).json()["data"] == []
        assert (await b.get(A, params={"externalId": "ehr-1001"})).json()["data"] == []
        # A file id from another organization is unknown when attaching it to one's own authorization.
        own = (await b.post(A, json=tka_case())).json()
        stolen = await b.post(f"{A}/{own['id']}/attachments", json={"fileId": file["id"]})
        assert_envelope(stolen, 422, "validation_failed")

    after = (await client.get(f"{A}/{auth_id}")).json()
    assert (after["workflowState"], after["version"]) == ("pending_payer", submitted.json()["version"])
    assert len((await client.get(f"{A}/{auth_id}/attachments")).json()["data"]) == 1


# ---------------------------------------------------------------- CLI

def _cli(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("priorauth")
    command = [exe] if exe else [sys.executable, "-c", "from priorauth.cli import app; app()"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("PRIORAUTH_DATA_DIR", "DATABASE_URL", "PRIORAUTH_DATABASE_URL")}
    env.update(NO_COLOR="1", COLUMNS="200", TERM="dumb")
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(command + list(args), capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def cli_client(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cli")
    done = _cli("clients", "create", "--org", "acme", "--name", "EHR integration", "--role", "reviewer",
                "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    client_id = re.search(r"client id:\s+(\S+)", done.stdout)
    secret = re.search(r"secret:\s+(\S+)", done.stdout)
    assert client_id and secret, done.stdout
    return data_dir, client_id.group(1), secret.group(1), done.stdout


def test_cli_creates_client_and_stores_only_a_hash(cli_client):
    data_dir, client_id, secret, stdout = cli_client
    assert client_id.startswith("cli_") and secret.startswith("pa_sk_") and len(secret) > 40
    assert "reviewer" in stdout and "acme" in stdout
    database = data_dir / "priorauth.db"
    assert database.exists()
    with sqlite3.connect(database) as db:
        columns = [c[1] for c in db.execute("PRAGMA table_info(api_clients)")]
        rows = db.execute("SELECT * FROM api_clients").fetchall()
    assert len(rows) == 1
    row = dict(zip(columns, rows[0], strict=True))
    assert (row["id"], row["organization_id"], row["role"], row["name"]) == (client_id, "acme", "reviewer",
                                                                           "EHR integration")
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) or secret[6:] in str(value) for value in row.values())
    for path in data_dir.iterdir():  # nor anywhere else on disk (database, WAL)
        assert secret[6:].encode() not in path.read_bytes(), path


async def test_cli_created_client_authenticates(cli_client):
    data_dir, client_id, secret, _ = cli_client
    application = create_app(Settings(database_url="", data_dir=data_dir, worker_enabled=False,
                                      log_level="WARNING"))
    async with application.router.lifespan_context(application):
        async with http_client(application, secret) as c:
            assert (await c.get(A)).status_code == 200
        async with http_client(application) as c:
            assert (await c.get(A, auth=(client_id, secret))).status_code == 200
            assert (await c.get(A, auth=("cli_other", secret))).status_code == 401


def test_cli_rejects_invalid_role(tmp_path):
    done = _cli("clients", "create", "--org", "acme", "--name", "x", "--role", "superuser",
                "--data-dir", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "role must be one of provider, reviewer, admin" in output
    assert "Traceback" not in output and "pa_sk_" not in output


async def test_cli_lists_rotates_and_revokes_the_clients_of_a_running_app(own_app):
    """`priorauth clients list / rotate / revoke` in another process, against the database of a running app:
    the running app refuses a rotated or revoked secret on its very next request."""
    application = await own_app(worker_enabled=False)
    url = application.state.settings.effective_database_url
    ehr = await create_client(application.state.db, "acme", "EHR integration", "provider")
    reviewer = await create_client(application.state.db, "beta", "UM desk", "reviewer")

    listed = _cli("clients", "list", database_url=url)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.startswith("cli_")}
    assert set(rows) == {ehr.client_id, reviewer.client_id}, listed.stdout
    assert all(word in rows[ehr.client_id] for word in ("acme", "EHR integration", "provider"))
    assert all(word in rows[reviewer.client_id] for word in ("beta", "UM desk", "reviewer"))
    assert all(re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+-$", row) for row in rows.values()), listed.stdout
    for created in (ehr, reviewer):  # never a secret or its hash
        assert created.secret[6:] not in listed.stdout and hashlib.sha256(created.secret.encode()).hexdigest() \
            not in listed.stdout
    only = _cli("clients", "list", "--org", "beta", database_url=url)
    assert [line.split()[0] for line in only.stdout.splitlines() if line.startswith("cli_")] == [reviewer.client_id]

    async with http_client(application, ehr.secret) as old:
        assert (await old.get(A)).status_code == 200
        rotated = _cli("clients", "rotate", ehr.client_id, database_url=url)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        new_secret = re.search(r"secret:\s+(\S+)", rotated.stdout).group(1)
        assert new_secret.startswith("pa_sk_") and new_secret != ehr.secret
        assert_envelope(await old.get(A), 401, "unauthorized")
    async with http_client(application, new_secret) as new:
        assert (await new.get(A)).status_code == 200
        revoked = _cli("clients", "revoke", ehr.client_id, database_url=url)
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        assert_envelope(await new.get(A), 401, "unauthorized")
    async with http_client(application) as basic:
        assert_envelope(await basic.get(A, auth=(ehr.client_id, new_secret)), 401, "unauthorized")
    async with http_client(application, reviewer.secret) as untouched:
        assert (await untouched.get("/api/reviews")).status_code == 200

    after = _cli("clients", "list", database_url=url)
    line = next(line for line in after.stdout.splitlines() if line.startswith(ehr.client_id))
    assert re.search(r"Z\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", line), after.stdout  # created, revoked
    for args, message in ((("revoke", "cli_nobody"), "no API client 'cli_nobody'"),
                          (("rotate", ehr.client_id), "is revoked")):
        refused = _cli("clients", *args, database_url=url)
        assert refused.returncode == 2 and message in refused.stderr, refused.stdout + refused.stderr
        assert "Traceback" not in refused.stderr and "pa_sk_" not in refused.stdout


async def test_only_health_and_ready_are_open_even_the_api_schema_needs_credentials(anon, client):
    assert (await anon.get("/health")).status_code == 200
    assert (await anon.get("/ready")).json() == {"status": "ready"}
    for path in ("/openapi.json", "/docs", "/redoc"):
        refused = await anon.get(path)
        assert refused.status_code in (401, 404) and "error" in refused.json()
    schema = (await client.get("/openapi.json")).json()
    paths = set(schema["paths"])
    assert {"/v1/prior-auth/authorizations", "/v1/prior-auth/authorizations/{authorization_id}/submit",
            "/v1/files", "/v1/sandbox/prior-auth/authorizations/{authorization_id}/payer-events"} <= paths
    assert "swagger-ui" in (await client.get("/docs")).text
