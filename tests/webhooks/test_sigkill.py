"""SIGKILL the server while ~1,000 webhook events are being delivered; restart; nothing is lost.

The issue's bar: kill `priorauth serve` with SIGKILL while 1,000 events are being delivered to a
receiver that fails one request in five; restart it: every event arrives at least once, none is lost,
each authorization's events arrive in sequence order, and duplicates carry the same `webhook-id`.

- The receiver is a small ASGI app served by uvicorn in a thread of this test process, so it outlives
  the server. It answers 500 to one request in five (a seeded RNG) and 204 otherwise, and records every
  request (headers, body, answer, arrival order).
- The server is `python -m priorauth serve` as a real process on a fresh data dir (SQLite) or, with
  PRIORAUTH_TEST_DATABASE_URL, in a PostgreSQL database of its own that is created here and dropped
  afterwards (never the shared test database). The events are made through its API with its worker off
  (their deliveries are written with them and wait), so the kill surely comes mid-delivery however fast
  the machine is; then it runs again with its worker on (the delivery loop in-process) and is killed
  once 30 % of the events are accepted, and started a third time.
- A delivery claimed when the process dies keeps its lease, shortened here to 5 s
  (PRIORAUTH_WEBHOOK_LEASE_SECONDS), before it is sent again.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.cases import TKA_ANSWERS, tiny_pdf, tka_case
from tests.support.apps import BACKENDS, create_own_database, drop_own_database
from tests.support.webhooks import read_body, serving

A = "/v1/prior-auth/authorizations"
W = "/v1/webhooks/endpoints"

MIN_EVENTS = 1000
FLOWS = 24  # authorizations; each full flow below makes ~45-50 events
RETRY_SCHEDULE = "0.2,0.4,0.8,1,1,1,1,1,1,1"  # 11 attempts: a 1-in-5 receiver exhausts it with p = 0.2**11
FAIL_RATE = 0.2
MAKE_TIMEOUT = 180  # seconds to make the events (about 15-25 s on two cores)
KILL_AT = 0.3  # kill once this share of the events has been accepted
LEASE_SECONDS = 5.0  # the lease a claimed delivery keeps when its process dies (60 s by default)


# ---- the receiver ---------------------------------------------------------------------------------------

class Receiver:
    """Records every request; answers 500 to one in five (seeded), 204 otherwise."""

    def __init__(self, seed: int = 5):
        # Only this path counts: a port reused from an earlier test may still get that test's retries.
        self.path = f"/sigkill-{uuid.uuid4().hex}"
        self.requests: list[dict] = []
        self._accepted: set[str] = set()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if scope["path"] != self.path:
            await send({"type": "http.response.start", "status": 410, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        with self._lock:
            status = 500 if self._rng.random() < FAIL_RATE else 204
            if status == 204:
                self._accepted.add(json.loads(body)["id"])
            self.requests.append({"n": len(self.requests), "headers": {k.decode(): v.decode() for k, v in
                                                                       scope["headers"]},
                                  "body": body, "status": status, "at": time.monotonic()})
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.requests)

    def accepted_events(self) -> set[str]:
        with self._lock:
            return set(self._accepted)


# ---- the server process ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m priorauth serve` as a process; output goes to a file (a full pipe would block it)."""

    def __init__(self, env: dict, log: Path):
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.base = ""

    def start(self) -> None:
        port = _free_port()
        with open(self.log, "a") as out:
            out.write(f"---- start on port {port}\n")
            out.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "priorauth", "serve", "--port", str(port)],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.base = f"http://127.0.0.1:{port}"

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}:\n{self.output()}"
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve not healthy after {timeout} s:\n{self.output()}"
            time.sleep(0.1)

    def first_secret(self) -> str:
        path = Path(self.env["PRIORAUTH_DATA_DIR"]) / "first-admin-secret"
        assert path.exists(), f"serve wrote no first client secret to {path}:\n{self.output()}"
        return path.read_text().strip()

    def children(self) -> list[str]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return path.read_text().split() if path.exists() else []

    def sigkill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextmanager
def own_database(backend: str, data_dir: Path):
    """The server's database URL: SQLite under data_dir, or a fresh PostgreSQL database dropped afterwards."""
    url = asyncio.run(create_own_database(backend, data_dir))
    try:
        yield url
    finally:
        asyncio.run(drop_own_database(url))


# ---- making events through the API ----------------------------------------------------------------------

async def _ok(response: httpx.Response, *codes: int) -> dict:
    assert response.status_code in (codes or (200,)), \
        f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:500]}"
    return response.json() if response.content else {}


async def one_flow(http: httpx.AsyncClient, k: int, pdf: bytes) -> str:
    """A whole lifecycle: create, merge-patches, submit, request for information, attachment, resolve,
    resubmit, then an approval, a denial or a cancellation."""
    auth = await _ok(await http.post(A, json=tka_case(externalId=f"sigkill-{k}")), 201)
    auth_id = auth["id"]
    await _ok(await http.patch(f"{A}/{auth_id}", json={"externalId": f"sigkill-{k}-b"}))
    await _ok(await http.patch(f"{A}/{auth_id}", json={"answers": TKA_ANSWERS}))
    await _ok(await http.post(f"{A}/{auth_id}/submit", headers={"Idempotency-Key": f"sk-{auth_id}-1"}))
    sandbox = f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events"
    await _ok(await http.post(sandbox, json={"type": "more_info_request", "message": "Send the X-ray report"}))
    upload = await _ok(await http.post("/v1/files", files={"file": ("xray.pdf", pdf, "application/pdf")}), 201)
    attached = await _ok(await http.post(f"{A}/{auth_id}/attachments",
                                         json={"fileId": upload["id"], "category": "imaging"}), 201)
    actions = (await _ok(await http.get(f"{A}/{auth_id}/actions", params={"status": "open"})))["data"]
    await _ok(await http.post(f"{A}/{auth_id}/actions/{actions[0]['id']}/resolve",
                              json={"attachmentIds": [attached["id"]]}))
    await _ok(await http.post(f"{A}/{auth_id}/submit", headers={"Idempotency-Key": f"sk-{auth_id}-2"}))
    if k % 3 == 0:
        await _ok(await http.post(sandbox, json={"type": "approval", "certificationNumber": f"CERT-{k}"}))
    elif k % 3 == 1:
        await _ok(await http.post(sandbox, json={"type": "denial", "denialReasonCode": "NMN",
                                                 "denialReasonMessage": "Not medically necessary"}))
    else:
        await _ok(await http.post(sandbox, json={"type": "more_info_request", "message": "More notes"}))
        await _ok(await http.post(f"{A}/{auth_id}/cancel", json={"reason": "patient moved"}))
    return auth_id


async def events_of(http: httpx.AsyncClient, auth_id: str) -> list[dict]:
    events, params = [], {"limit": 100}
    while True:
        page = await _ok(await http.get(f"{A}/{auth_id}/events", params=params))
        events += page["data"]
        if not page["pagination"]["hasMore"]:
            return events
        params = {"limit": 100, "cursor": page["pagination"]["nextCursor"]}


async def make_events(base: str, secret: str, flows: int) -> dict[str, list[dict]]:
    pdf = tiny_pdf("X-ray: bone on bone")
    limits = httpx.Limits(max_connections=12)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=60,
                                 limits=limits) as http:
        gate = asyncio.Semaphore(12)

        async def flow(k: int) -> str:
            async with gate:
                return await one_flow(http, k, pdf)

        try:
            auth_ids = await asyncio.wait_for(asyncio.gather(*(flow(k) for k in range(flows))), MAKE_TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"{flows} lifecycles not done within {MAKE_TIMEOUT} s") from None
        listed = await asyncio.gather(*(events_of(http, a) for a in auth_ids))
    return dict(zip(auth_ids, listed, strict=True))


async def list_all_events(base: str, secret: str, auth_ids) -> dict[str, list[dict]]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as http:
        listed = await asyncio.gather(*(events_of(http, a) for a in auth_ids))
    return dict(zip(auth_ids, listed, strict=True))


def wait_for(check, timeout: float, message) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(0.02)


# ---- the test -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_mid_delivery_loses_no_event(backend, tmp_path):
    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)

    receiver = Receiver()
    servers: list[Server] = []
    with own_database(backend, tmp_path / "data") as database_url, serving(receiver) as receiver_base:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PRIORAUTH_DATABASE_URL")}
        env.update({"PRIORAUTH_DATA_DIR": str(tmp_path / "data"), "PRIORAUTH_WEBHOOK_RETRY_SCHEDULE": RETRY_SCHEDULE,
                    "PRIORAUTH_WORKER_POLL_SECONDS": "0.05", "PRIORAUTH_WEBHOOK_TIMEOUT_SECONDS": "4",
                    "PRIORAUTH_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS), "PRIORAUTH_ENV": "development",
                    "PRIORAUTH_WEBHOOK_ALLOW_PRIVATE": "true"})  # the receiver is on 127.0.0.1
        env["PRIORAUTH_DATABASE_URL"] = database_url
        try:
            first = Server(env | {"PRIORAUTH_WORKER_ENABLED": "false"}, tmp_path / "serve.log")
            servers.append(first)
            first.start()
            first.wait_ready()
            secret = first.first_secret()  # written on the first start only
            mark("started")

            # Subscribe before any event exists, then make the events (nothing is sent yet).
            with httpx.Client(base_url=first.base, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as http:
                created = http.post(W, json={"url": f"{receiver_base}{receiver.path}", "eventTypes": ["*"],
                                             "format": "priorauth", "signing": "standard"})
                assert created.status_code == 201, created.text
                endpoint = created.json()
            expected = asyncio.run(make_events(first.base, secret, FLOWS))
            total = sum(len(events) for events in expected.values())
            assert total >= MIN_EVENTS, f"only {total} events made by {FLOWS} flows"
            assert not receiver.snapshot(), "the worker was off, yet something was sent"
            first.stop()
            mark("events made")

            # Run it with its delivery loop, and SIGKILL the process once 30 % of the events are accepted.
            delivering = Server(env, tmp_path / "serve.log")
            servers.append(delivering)
            delivering.start()
            assert delivering.children() == [], "serve forked: the kill must hit the delivery loop"
            wait_for(lambda: len(receiver.accepted_events()) >= total * KILL_AT, 90,
                     lambda: f"only {len(receiver.accepted_events())} of {total} events accepted within 90 s "
                             f"({len(receiver.snapshot())} requests)\n{delivering.output()}")
            delivering.sigkill()
            mark("killed")
            at_kill = receiver.accepted_events()
            requests_at_kill = len(receiver.snapshot())
            assert 0 < len(at_kill) < total, f"{len(at_kill)} of {total} events accepted at the kill"
            time.sleep(0.3)  # a request fully received before the kill may still be answered
            settled = len(receiver.snapshot())
            time.sleep(0.5)
            assert len(receiver.snapshot()) == settled, "requests still arrive after the SIGKILL: another sender?"

            # Restart on the same data dir / database; wait until every event was accepted at least once.
            second = Server(env, tmp_path / "serve.log")
            servers.append(second)
            second.start()
            second.wait_ready()
            mark("restarted")
            want = {e["id"] for events in expected.values() for e in events}

            def missing() -> set[str]:
                return want - receiver.accepted_events()

            budget = LEASE_SECONDS + 60
            wait_for(lambda: not missing(), budget,
                     lambda: f"{len(missing())} of {total} events never accepted within {budget:.0f} s of the "
                             f"restart ({len(receiver.snapshot())} requests; e.g. {sorted(missing())[:5]})\n"
                             f"{second.output()}")
            mark("all accepted")

            # The events API still lists exactly what was made (nothing lost or added by the kill).
            listed = asyncio.run(list_all_events(second.base, secret, list(expected)))
            assert {a: [e["id"] for e in ev] for a, ev in listed.items()} == \
                   {a: [e["id"] for e in ev] for a, ev in expected.items()}
            time.sleep(0.3)  # let any last redelivery land before the checks
        finally:
            for server in reversed(servers):
                server.stop()
            mark("stopped")

    requests = receiver.snapshot()
    bodies = [Webhook(endpoint["secret"]).verify(r["body"], r["headers"]) for r in requests]  # every signature
    by_event: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    for request, body in zip(requests, bodies, strict=True):
        by_event[body["id"]].append((request, body))
    assert set(by_event) == want, f"unexpected events: {sorted(set(by_event) - want)[:5]}"

    # None lost: every listed event got a 2xx at least once.
    never = [e for e, tries in by_event.items() if not any(r["status"] == 204 for r, _ in tries)]
    assert not never, f"{len(never)} events never accepted"

    # One webhook-id per event across all its requests, distinct between events; the same body each time.
    ids = {e: {r["headers"]["webhook-id"] for r, _ in tries} for e, tries in by_event.items()}
    assert all(len(v) == 1 for v in ids.values()), {e: v for e, v in ids.items() if len(v) > 1}
    assert len({next(iter(v)) for v in ids.values()}) == len(ids), "two events share a webhook-id"
    assert all(len({r["body"] for r, _ in tries}) == 1 for tries in by_event.values()), "a redelivery changed its body"

    # Sequence order per authorization: the first accepted arrival of n precedes every arrival of n + 1.
    for auth_id, events in expected.items():
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
        for event in events:
            tries = by_event[event["id"]]
            assert {(b["data"]["authorization"]["id"], b["data"]["authorization"]["sequence"], b["type"])
                    for _, b in tries} == {(auth_id, event["sequence"], event["type"])}
        for earlier, later in pairwise(events):
            accepted = min(r["n"] for r, _ in by_event[earlier["id"]] if r["status"] == 204)
            first_next = min(r["n"] for r, _ in by_event[later["id"]])
            assert accepted < first_next, (
                f"{auth_id}: sequence {later['sequence']} arrived (request #{first_next}) before sequence "
                f"{earlier['sequence']} was accepted (request #{accepted})")

    accepted_requests = sum(1 for r in requests if r["status"] == 204)
    duplicates = accepted_requests - len(want)
    failed = sum(1 for r in requests if r["status"] != 204)
    redelivered_after_kill = sum(1 for e in at_kill if sum(r["status"] == 204 for r, _ in by_event[e]) > 1)
    mark("checked")
    print(f"\n[{backend}] {total} events over {len(expected)} authorizations; {len(requests)} requests "
          f"({failed} answered 500); killed after {requests_at_kill} requests with {len(at_kill)} events "
          f"accepted; {duplicates} duplicate deliveries ({redelivered_after_kill} events accepted before the "
          f"kill were accepted again after it); timings {timings}")
