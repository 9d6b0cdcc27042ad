"""The real thing: `priorauth serve` as a process on a fresh data dir, driven over TCP like curl would."""
from __future__ import annotations

import io
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from tests.cases import TKA_ANSWERS, tiny_pdf, tka_case
from tests.support.server import cli_client, environment, serve

A = "/v1/prior-auth/authorizations"


@pytest.fixture
def server(tmp_path):
    with serve(tmp_path / "data") as served:
        yield served


def test_fresh_install_serves_the_whole_lifecycle_over_tcp(server):
    base, secret = server.base, server.secret
    assert (tmp_db := server.data_dir / "priorauth.db").exists(), tmp_db
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as http:
        assert httpx.get(f"{base}{A}").status_code == 401
        auth = http.post(A, json=tka_case()).json()
        assert auth["workflowState"] == "needs_input"
        assert http.patch(f"{A}/{auth['id']}", json={"answers": TKA_ANSWERS}).json()["workflowState"] == "ready_to_submit"
        assert http.post(f"{A}/{auth['id']}/submit").json()["workflowState"] == "pending_payer"
        sandbox = f"/v1/sandbox/prior-auth/authorizations/{auth['id']}/payer-events"
        assert http.post(sandbox, json={"type": "more_info_request", "message": "Need imaging"}).json()[
            "workflowState"] == "action_required"
        file_id = http.post("/v1/files", files={"file": ("note.pdf", tiny_pdf("imaging report"))}).json()["id"]
        attachment = http.post(f"{A}/{auth['id']}/attachments", json={"fileId": file_id}).json()
        action = http.get(f"{A}/{auth['id']}/actions", params={"status": "open"}).json()["data"][0]
        resolved = http.post(f"{A}/{auth['id']}/actions/{action['id']}/resolve",
                             json={"attachmentIds": [attachment["id"]]}).json()
        assert resolved["authorization"]["workflowState"] == "ready_to_submit"
        submitted = http.post(f"{A}/{auth['id']}/submit", headers={"Idempotency-Key": "k-1"}).json()
        final = http.post(sandbox, json={"type": "approval", "certificationNumber": "C-1"}).json()
        assert (final["workflowState"], final["decisionState"]) == ("completed", "approved")
        packet = http.get(f"{A}/{auth['id']}/artifacts/{submitted['submission']['artifacts']['submission_packet']}")
        assert len(PdfReader(io.BytesIO(packet.content)).pages) >= 3
        events = http.get(f"{A}/{auth['id']}/events", params={"limit": 100}).json()["data"]
        assert events[0]["type"] == "prior_auth.authorization.created"
        assert events[-1]["type"] == "prior_auth.completed"
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    # The server's whole log of that lifecycle (INFO level: every request) holds no PHI and no secret.
    logged = "".join(server.log)
    assert "request" in logged and A in logged
    for private in ("Ada", "Lovelace", "W123456789", "imaging report", secret, secret[6:]):
        assert private not in logged, private
    with sqlite3.connect(tmp_db) as conn:  # journal_mode=WAL persists in the file
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_first_start_writes_the_admin_secret_to_an_owner_only_file_and_never_prints_it(server):
    """Service output usually ends up in logs: `serve` prints where the first secret is, never the secret."""
    secret_file = server.data_dir / "first-admin-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert server.secret.startswith("pa_sk_") and server.secret[6:] not in server.output
    assert str(secret_file) in server.output and server.client_id in server.output
    with httpx.Client(base_url=server.base, timeout=30) as http:
        assert http.get(A, auth=(server.client_id, server.secret)).status_code == 200


def _write_secret(path: Path, secret: str) -> None:
    from priorauth.cli import owner_only_file

    with owner_only_file(path) as out:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # before a byte is written
        out.write(secret + "\n")


def test_the_secret_file_replaces_a_stale_one_and_follows_no_link(tmp_path):
    stale = tmp_path / "first-admin-secret"
    stale.write_text("pa_sk_from_an_earlier_database\n")
    stale.chmod(0o644)
    _write_secret(stale, "pa_sk_new")
    assert stale.read_text() == "pa_sk_new\n" and stat.S_IMODE(stale.stat().st_mode) == 0o600

    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched")
    link = tmp_path / "linked" / "first-admin-secret"
    link.parent.mkdir()
    link.symlink_to(elsewhere)
    _write_secret(link, "pa_sk_other")
    assert elsewhere.read_text() == "untouched" and not link.is_symlink() and link.read_text() == "pa_sk_other\n"


def test_worker_process_starts_and_stops_cleanly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "priorauth", "worker"], env=environment(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = proc.stdout.readline()  # printed once its signal handlers are in place
    assert "worker_started" in started, started + proc.stdout.read()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert (tmp_path / "priorauth.db").exists()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the example uses curl")
def test_the_curl_example_walks_a_case_to_approval(server, tmp_path):
    base, secret = server.base, server.secret
    script = Path(__file__).resolve().parent.parent / "examples" / "lifecycle.sh"
    run = subprocess.run(["bash", str(script)], cwd=tmp_path, env={**os.environ, "BASE_URL": base, "SECRET": secret},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "prior_auth.completed" in run.stdout
    assert len(PdfReader(tmp_path / "packet.pdf").pages) >= 3


def test_hitl_walkthrough_example_runs_against_the_server(server):
    """examples/hitl_prior_auth.py, unchanged, against the running server (admin, agent and reviewer clients)."""
    env = environment(server.data_dir)
    secrets = {role: cli_client(server.data_dir, role) for role in ("provider", "reviewer")}
    example = Path(__file__).resolve().parent.parent / "examples" / "hitl_prior_auth.py"
    run = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120, env={
        **env, "BASE_URL": server.base, "ADMIN_SECRET": server.secret, "AGENT_SECRET": secrets["provider"],
        "REVIEWER_SECRET": secrets["reviewer"]})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAILED" not in run.stdout and run.stdout.strip().endswith("walkthrough complete")
