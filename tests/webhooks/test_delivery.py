"""Webhook delivery end to end: a real receiver on a real port verifies every signature."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket
from functools import partial

import pytest
from sqlalchemy import func, select, text, update

from priorauth.webhooks.delivery import retry_wait
from priorauth.webhooks.models import WebhookDelivery
from tests.cases import TKA_ANSWERS, tka_case
from tests.support.apps import FAST_RETRIES
from tests.support.webhooks import W, eventually, fake_dns, subscribe, verify_akute, verify_standard

A = "/v1/prior-auth/authorizations"
ATTEMPTS = len(FAST_RETRIES.split(",")) + 1  # the first attempt and one per wait of the schedule


async def drive_to_approval(client) -> str:
    auth_id = (await client.post(A, json=tka_case())).json()["id"]
    patched = await client.patch(f"{A}/{auth_id}", json={"answers": TKA_ANSWERS})
    assert patched.status_code == 200, patched.text
    submitted = await client.post(f"{A}/{auth_id}/submit", headers={"Idempotency-Key": f"s-{auth_id}"})
    assert submitted.status_code == 200, submitted.text
    approved = await client.post(f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events",
                                 json={"type": "approval", "certificationNumber": "CERT-1"})
    assert approved.status_code == 200, approved.text
    return auth_id


async def events_of(client, auth_id: str) -> list[dict]:
    return (await client.get(f"{A}/{auth_id}/events", params={"limit": 100})).json()["data"]


async def test_every_event_arrives_signed_and_in_order_despite_failures(client, receiver):
    receiver.fail_every = {"/standard": 3, "/akute": 3}
    standard = await subscribe(client, f"{receiver.base}/standard")
    akute = await subscribe(client, f"{receiver.base}/akute", signing="akute")
    auth_ids = [await drive_to_approval(client), await drive_to_approval(client)]
    expected = {a: [e["id"] for e in await events_of(client, a)] for a in auth_ids}
    total = sum(len(ids) for ids in expected.values())
    assert total >= 10

    for path in ("/standard", "/akute"):
        await eventually(lambda p=path: len({r["headers"]["webhook-id"] for r in receiver.accepted(p)}) >= total)
    assert any(r["status"] == 500 for r in receiver.requests)  # retries really happened

    for path, endpoint, check in (("/standard", standard, verify_standard), ("/akute", akute, verify_akute)):
        bodies = [check(endpoint["secret"], r) for r in receiver.requests if r["path"] == path]
        accepted = [json.loads(r["body"]) for r in receiver.accepted(path)]
        assert len(bodies) > len(accepted)  # the failed attempts were signed too
        for auth_id, ids in expected.items():
            got = [b for b in accepted if b["data"]["authorization"]["id"] == auth_id]
            assert [b["id"] for b in got] == ids  # each event once, in sequence order
            assert [b["data"]["authorization"]["sequence"] for b in got] == list(range(1, len(ids) + 1))
        last = [b for b in accepted if b["type"] == "prior_auth.status.changed"][-1]
        assert last["data"]["authorization"]["workflowState"] == "completed"
        assert set(last) == {"id", "type", "createdAt", "data"} and last["createdAt"].endswith("Z")
        assert set(last["data"]["authorization"]) == {"id", "workflowState", "decisionState", "externalId",
                                                      "payerId", "version", "sequence"}

    # A retried delivery keeps its webhook-id; the delivery log shows attempts, codes, latency.
    retried = next(r for r in receiver.requests if r["path"] == "/standard" and r["status"] == 500)
    again = [r for r in receiver.accepted("/standard")
             if r["headers"]["webhook-id"] == retried["headers"]["webhook-id"]]
    assert len(again) == 1 and again[0]["body"] == retried["body"]
    async def all_delivered():
        log = (await client.get(f"{W}/{standard['id']}/deliveries", params={"limit": 100})).json()["data"]
        return log if {d["status"] for d in log} == {"delivered"} else None
    log = await eventually(all_delivered)  # the outcome is recorded just after the receiver answers
    assert len(log) == total
    assert any(d["attempts"] == 2 for d in log) and all(d["responseCode"] == 200 for d in log)
    assert all(d["latencyMs"] is not None and d["deliveredAt"] for d in log)


async def test_event_type_filter_and_disabled_endpoints(client, receiver):
    await subscribe(client, f"{receiver.base}/status", eventTypes=["prior_auth.status.changed"])
    await subscribe(client, f"{receiver.base}/off", enabled=False)
    auth_id = await drive_to_approval(client)
    changes = [e["id"] for e in await events_of(client, auth_id) if e["type"] == "prior_auth.status.changed"]
    await eventually(lambda: len(receiver.accepted("/status")) >= len(changes))
    await asyncio.sleep(0.3)
    assert [json.loads(r["body"])["id"] for r in receiver.accepted("/status")] == changes
    assert not [r for r in receiver.requests if r["path"] == "/off"]


async def test_ping_redeliver_and_failure_after_the_schedule(client, receiver):
    endpoint = await subscribe(client, f"{receiver.base}/ping")
    queued = await client.post(f"{W}/{endpoint['id']}/test")
    assert queued.status_code == 202, queued.text
    delivery = queued.json()
    assert delivery["status"] == "pending" and delivery["eventType"] == "ping"
    await eventually(lambda: receiver.accepted("/ping"))
    first = receiver.accepted("/ping")[0]
    body = verify_standard(endpoint["secret"], first)
    assert body["type"] == "ping" and body["data"] == {"endpointId": endpoint["id"]}
    assert first["headers"]["webhook-id"] == delivery["id"]

    async def delivered():
        log = (await client.get(f"{W}/{endpoint['id']}/deliveries")).json()["data"]
        return log if log[0]["status"] == "delivered" else None
    log = await eventually(delivered)
    assert log[0]["responseCode"] == 200 and log[0]["attempts"] == 1

    # A redelivery adds an attempt: the count of attempts is history, never reset.
    again = await client.post(f"{W}/{endpoint['id']}/deliveries/{delivery['id']}/redeliver")
    assert again.status_code == 202 and again.json()["status"] == "pending" and again.json()["attempts"] == 1
    await eventually(lambda: len(receiver.accepted("/ping")) == 2)
    assert receiver.accepted("/ping")[1]["headers"]["webhook-id"] == delivery["id"]
    log = await eventually(delivered)
    assert log[0]["attempts"] == 2

    # Always failing: the redelivery's round gets one attempt and one per wait of the whole schedule, then
    # failed, with a code, never a body; `attempts` counts the earlier rounds too.
    receiver.always_fail.add("/ping")
    await client.post(f"{W}/{endpoint['id']}/deliveries/{delivery['id']}/redeliver")

    async def failed():
        log = (await client.get(f"{W}/{endpoint['id']}/deliveries", params={"status": "failed"})).json()["data"]
        return log[0] if log else None
    dead = await eventually(failed)
    assert (dead["attempts"], dead["responseCode"], dead["error"]) == (2 + ATTEMPTS, 500, "http_500")
    assert len([r for r in receiver.requests if r["path"] == "/ping"]) == 2 + ATTEMPTS
    assert (await client.get(f"{W}/{endpoint['id']}")).json()["failingSince"]

    missing = await client.post(f"{W}/{endpoint['id']}/deliveries/dlv_nope/redeliver")
    assert missing.status_code == 404


async def test_rotated_secrets_both_sign(client, receiver):
    endpoint = await subscribe(client, f"{receiver.base}/rot")
    rotated = (await client.post(f"{W}/{endpoint['id']}/rotate-secret")).json()
    await client.post(f"{W}/{endpoint['id']}/test")
    await eventually(lambda: receiver.accepted("/rot"))
    request = receiver.accepted("/rot")[0]
    assert len(request["headers"]["webhook-signature"].split()) == 2
    verify_standard(endpoint["secret"], request)
    verify_standard(rotated["secret"], request)


async def test_connection_refused_is_retried_with_a_coarse_class(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = await subscribe(client, f"http://127.0.0.1:{port}/nobody")
    await client.post(f"{W}/{endpoint['id']}/test")

    async def failed():
        log = (await client.get(f"{W}/{endpoint['id']}/deliveries", params={"status": "failed"})).json()["data"]
        return log[0] if log else None
    dead = await eventually(failed)
    assert dead["attempts"] == ATTEMPTS and dead["error"] == "unreachable"
    assert dead["responseCode"] is None and dead["latencyMs"] is None


async def test_deliveries_are_written_in_the_transaction_of_their_events(app, client, receiver):
    endpoint = await subscribe(client, f"{receiver.base}/tx", enabled=False)  # nothing is sent
    await client.patch(f"{W}/{endpoint['id']}", json={"enabled": True, "url": f"{receiver.base}/tx"})
    auth_id = (await client.post(A, json=tka_case())).json()["id"]
    async with app.state.db.read() as session:  # right after the commit, no worker involved
        rows = list((await session.execute(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint["id"]).order_by(WebhookDelivery.sequence))).scalars())
    listed = await events_of(client, auth_id)
    assert [(r.event_id, r.sequence, r.ordering_key) for r in rows] == [(e["id"], e["sequence"], auth_id)
                                                                        for e in listed]

    # An event whose transaction rolls back leaves no delivery either.
    from priorauth.authorizations.models import Authorization
    from priorauth.authorizations.service import emit

    with pytest.raises(RuntimeError):
        async with app.state.db.write() as session:
            emit(session, await session.get(Authorization, auth_id), "prior_auth.authorization.updated", {})
            raise RuntimeError("rolled back")
    async with app.state.db.read() as session:
        count = (await session.execute(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint["id"]))).scalar_one()
    assert count == len(listed) == len(await events_of(client, auth_id))


async def test_a_lost_lease_is_delivered_again_with_the_same_id(app, client, receiver):
    endpoint = await subscribe(client, f"{receiver.base}/lease", enabled=False)
    await client.post(f"{W}/{endpoint['id']}/test")
    # A worker claimed it and died mid-request: the lease (next_attempt_at ~60 s ahead) keeps it pending.
    async with app.state.db.write() as session:
        delivery = (await session.execute(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint["id"]))).scalar_one()
        delivery.next_attempt_at = delivery.created_at.replace(year=delivery.created_at.year + 1)
    await client.patch(f"{W}/{endpoint['id']}", json={"enabled": True})
    await asyncio.sleep(0.3)
    assert not receiver.requests  # still leased
    async with app.state.db.write() as session:  # the lease runs out
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id)
                              .values(next_attempt_at=delivery.created_at))
    await eventually(lambda: receiver.accepted("/lease"))
    assert receiver.accepted("/lease")[0]["headers"]["webhook-id"] == delivery.id


def test_retry_wait_follows_the_schedule_with_jitter():
    schedule = (5.0, 30.0, 120.0)
    rng = random.Random(7)
    for attempts, base in enumerate(schedule, start=1):
        waits = [retry_wait(schedule, attempts, rng) for _ in range(200)]
        assert all(base * 0.9 <= w <= base * 1.1 for w in waits)
        assert max(waits) - min(waits) > base * 0.1  # jitter really varies
    assert retry_wait(schedule, 4, rng) is None
    assert retry_wait((), 1, rng) is None


async def test_other_roles_and_tenants_cannot_test_or_redeliver(app, client, receiver):
    import uuid

    from priorauth.auth.service import create_client
    from tests.support.apps import http_client

    endpoint = await subscribe(client, f"{receiver.base}/x", enabled=False)
    delivery = (await client.post(f"{W}/{endpoint['id']}/test")).json()
    provider = await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "ehr", "provider")
    admin = await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "other", "admin")
    paths = [f"{W}/{endpoint['id']}/test", f"{W}/{endpoint['id']}/deliveries/{delivery['id']}/redeliver"]
    for secret, status in ((provider.secret, 403), (admin.secret, 404)):
        async with http_client(app, secret) as other:
            for path in paths:
                assert (await other.post(path)).status_code == status, path


async def test_the_guard_connects_to_the_checked_address():
    from priorauth.config import Settings
    from priorauth.webhooks import delivery
    from priorauth.webhooks.urls import resolve_and_check

    names = {"hooks.example.com": ["93.184.216.34"]}
    resolve = partial(resolve_and_check, getaddrinfo=fake_dns(names))
    guarded = delivery.Deliverer(None, Settings(webhook_allow_private=False), resolve=resolve)  # the default
    headers: dict[str, str] = {}
    url, extensions = await guarded._target("https://hooks.example.com:8443/in?x=1", headers)
    assert url == "https://93.184.216.34:8443/in?x=1"
    assert headers["host"] == "hooks.example.com:8443" and extensions == {"sni_hostname": "hooks.example.com"}

    names["hooks.example.com"] = ["10.0.0.7"]  # DNS rebinding after the URL was saved
    item = delivery.Claimed("dlv_1", 0, {"id": "evt_1"}, "https://hooks.example.com/", "standard",
                            ["whsec_" + base64.b64encode(b"k" * 32).decode()], "whk_1")
    outcome = await guarded.send(item)
    assert (outcome.ok, outcome.error, outcome.status_code, outcome.latency_ms) == (False, "unsafe_url", None, None)

    loosened = delivery.Deliverer(None, Settings(webhook_allow_private=True), resolve=resolve)
    assert await loosened._target("http://127.0.0.1:9/x", {}) == ("http://127.0.0.1:9/x", {})
    # https-only (production) holds at delivery too, for a URL saved before the switch.
    production = delivery.Deliverer(None, Settings(env="production", webhook_allow_private=True), resolve=resolve)
    assert (await production.send(delivery.Claimed(**{**item.__dict__, "url": "http://127.0.0.1:9/x"}))).error \
        == "unsafe_url"


async def test_an_outcome_is_recorded_only_under_its_lease(app, client):
    from datetime import timedelta

    from priorauth.webhooks import delivery

    endpoint = await subscribe(client, "http://127.0.0.1:9/none", enabled=False)  # the loop leaves it alone
    queued = (await client.post(f"{W}/{endpoint['id']}/test")).json()
    async with app.state.db.read() as session:
        row = await session.get(WebhookDelivery, queued["id"])
    deliverer = delivery.Deliverer(app.state.db, app.state.settings)
    item = delivery.Claimed(row.id, 0, row.payload, "http://127.0.0.1:9/none", "standard", [], endpoint["id"],
                            row.next_attempt_at + timedelta(seconds=60))
    # Redelivered (or re-claimed) while the request was in flight: the stale outcome is dropped.
    await deliverer.record(item, delivery.Outcome(200, None, 5))
    assert (await client.get(f"{W}/{endpoint['id']}/deliveries")).json()["data"][0]["status"] == "pending"
    item.lease_until = row.next_attempt_at
    await deliverer.record(item, delivery.Outcome(200, None, 5))
    recorded = (await client.get(f"{W}/{endpoint['id']}/deliveries")).json()["data"][0]
    assert (recorded["status"], recorded["attempts"], recorded["latencyMs"]) == ("delivered", 1, 5)


async def test_medication_pa_endpoints_get_the_medication_pa_payload(client, receiver):
    from tests.webhooks.test_medication_pa import FIELDS, _check_shape

    endpoint = await subscribe(client, f"{receiver.base}/epa", format="medication_pa",
                               eventTypes=["prior_auth.status.changed"])
    auth_id = await drive_to_approval(client)
    changes = [e for e in await events_of(client, auth_id) if e["type"] == "prior_auth.status.changed"]
    await eventually(lambda: len(receiver.accepted("/epa")) >= len(changes))
    bodies = [verify_standard(endpoint["secret"], r) for r in receiver.accepted("/epa")]
    for body in bodies:
        assert set(body) == set(FIELDS)
        _check_shape({key: body[key] for key in FIELDS})  # PostgreSQL's JSONB keeps keys in its own order
    assert len({b["case_id"] for b in bodies}) == 1
    assert bodies[-1]["status"] == "approved" and bodies[-1]["status_code"] == 7
    assert bodies[-1]["final_status"]["authorization_number"] == "CERT-1"


async def test_other_processes_are_woken_through_postgresql_notify(app):
    """A loop in another process learns of new deliveries from NOTIFY at commit, not from its next poll."""
    if app.state.db.is_sqlite:
        pytest.skip("one process holds SQLite's writer; its loops are woken in-process")
    from priorauth.config import Settings
    from priorauth.db import Database
    from priorauth.webhooks import delivery
    from priorauth.webhooks.wakeup import announce

    async def listeners() -> int:
        async with app.state.db.read() as session:
            return (await session.execute(text("SELECT count(*) FROM pg_stat_activity WHERE "
                                               "datname = current_database() AND query LIKE 'LISTEN%'"))).scalar_one()

    before = await listeners()  # the app's own loop listens too
    other = Database(app.state.db.url)  # stands for another process: not woken in-process
    deliverer = delivery.Deliverer(other, Settings(database_url=app.state.db.url, worker_poll_seconds=60))
    listening = asyncio.create_task(deliverer._listen())
    try:
        async def connected() -> bool:
            return await listeners() > before
        await eventually(connected, timeout=10)
        async with app.state.db.write() as session:
            await announce(session)
            await asyncio.sleep(0.2)
            assert not deliverer._wake.is_set()  # NOTIFY waits for the commit
        await asyncio.wait_for(deliverer._wake.wait(), timeout=5)
    finally:
        deliverer.stop()
        await listening
        await other.dispose()


# ---- the SSRF guard at delivery, error classes, soft delete ------------------------------------------------

async def _dead(client, endpoint_id: str) -> dict:
    async def failed():
        log = (await client.get(f"{W}/{endpoint_id}/deliveries", params={"status": "failed"})).json()["data"]
        return log[0] if log else None
    return await eventually(failed)


async def test_the_guard_refuses_private_targets_at_delivery(own_app, receiver):
    """With the guard on (the default), nothing reaches a private address: not a name re-pointed after it was
    saved (DNS rebinding), not a URL stored before the guard was on."""
    from priorauth.webhooks.models import WebhookEndpoint
    from priorauth.webhooks.urls import resolve_and_check
    from tests.support.apps import http_client, new_client

    port = receiver.base.rsplit(":", 1)[1]
    names = {"rebind.example": ["93.184.216.34"]}
    application = await own_app(webhook_allow_private=False, webhook_retry_schedule="0.05",
                                resolve=partial(resolve_and_check, getaddrinfo=fake_dns(names)))
    async with http_client(application, (await new_client(application)).secret) as client:
        rebound = await subscribe(client, f"http://rebind.example:{port}/rebound")
        names["rebind.example"] = ["127.0.0.1"]
        stored = await subscribe(client, f"http://hooks.example.com:{port}/stored", enabled=False)
        async with application.state.db.write() as session:  # saved while the guard was off
            (await session.get(WebhookEndpoint, stored["id"])).url = f"{receiver.base}/stored"
        await client.patch(f"{W}/{stored['id']}", json={"enabled": True})
        gone = await subscribe(client, f"http://gone.example:{port}/gone")  # does not resolve
        for endpoint in (rebound, stored, gone):
            await client.post(f"{W}/{endpoint['id']}/test")
        for endpoint, error in ((rebound, "unsafe_url"), (stored, "unsafe_url"), (gone, "unreachable")):
            dead = await _dead(client, endpoint["id"])
            assert (dead["attempts"], dead["error"], dead["responseCode"], dead["latencyMs"]) == (2, error, None, None)
    assert receiver.requests == []


async def test_no_response_is_one_class_whatever_the_port_does(own_app):
    """Closed, silent (accepts, never answers) and non-HTTP ports look the same in the delivery log: the log
    must not work as a port scanner."""
    from tests.support.apps import http_client, new_client

    async def silent(reader, writer):
        await reader.read()  # until the client gives up
        writer.close()

    async def banner(reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    servers = [await asyncio.start_server(handler, "127.0.0.1", 0) for handler in (silent, banner)]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
        ports = [closed] + [server.sockets[0].getsockname()[1] for server in servers]
        application = await own_app(webhook_timeout_seconds=0.5, webhook_lease_seconds=5, webhook_retry_schedule="")
        try:
            async with http_client(application, (await new_client(application)).secret) as client:
                endpoints = [await subscribe(client, f"http://127.0.0.1:{port}/hook") for port in ports]
                for endpoint in endpoints:
                    await client.post(f"{W}/{endpoint['id']}/test")
                logged = [await _dead(client, endpoint["id"]) for endpoint in endpoints]
        finally:
            for server in servers:
                server.close()
    assert {(d["error"], d["responseCode"], d["latencyMs"], d["attempts"]) for d in logged} == \
        {("unreachable", None, None, 1)}


async def test_a_deleted_endpoint_keeps_its_log_and_gets_nothing_more(app, client, receiver):
    from datetime import timedelta

    from priorauth.webhooks import delivery

    endpoint = await subscribe(client, f"{receiver.base}/deleted")
    path = f"{W}/{endpoint['id']}"
    sent = (await client.post(f"{path}/test")).json()
    await eventually(lambda: receiver.accepted("/deleted"))
    await client.patch(path, json={"enabled": False})
    waiting = (await client.post(f"{path}/test")).json()  # a retry far ahead: pending when the endpoint goes
    async with app.state.db.write() as session:
        row = await session.get(WebhookDelivery, waiting["id"])
        row.next_attempt_at += timedelta(days=1)
        lease = row.next_attempt_at
    await client.patch(path, json={"enabled": True})

    assert (await client.delete(path)).status_code == 204
    # An attempt in flight (under its lease) when the endpoint was deleted is not recorded.
    deliverer = delivery.Deliverer(app.state.db, app.state.settings)
    await deliverer.record(delivery.Claimed(waiting["id"], 0, {}, receiver.base, "standard", [], endpoint["id"], lease),
                           delivery.Outcome(200, None, 5))
    await drive_to_approval(client)  # events after the delete: no delivery rows for it
    async with app.state.db.write() as session:  # the retry comes due: still nothing is sent
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == waiting["id"])
                              .values(next_attempt_at=row.created_at))
    await asyncio.sleep(0.3)

    log = (await client.get(f"{path}/deliveries")).json()["data"]
    assert [(d["id"], d["status"], d["error"]) for d in log] == [
        (waiting["id"], "failed", "endpoint_deleted"), (sent["id"], "delivered", None)]
    assert len(receiver.requests) == 1
    async with app.state.db.read() as session:
        count = (await session.execute(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint["id"]))).scalar_one()
    assert count == 2
