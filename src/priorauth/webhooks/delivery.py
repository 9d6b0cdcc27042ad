"""Webhook delivery: delivery rows written with their events, and the loop that sends them.

Fan-out is an event subscriber (`priorauth.events`): just before a write transaction commits, one
delivery row per subscribed endpoint is inserted for each event it published, so a delivery exists
exactly when its event does. The commit then wakes the delivery loops: in this process directly, in
others through PostgreSQL `NOTIFY` (they `LISTEN`); a loop also polls, so a lost wake-up costs one
poll interval, never a delivery.

The delivery loop claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's single writer
serialises), moves each one's `next_attempt_at` a lease ahead, commits, and only then POSTs (no
transaction is open during the request). A process killed mid-request leaves the row pending; it
is sent again once the lease passes, with the same `webhook-id`. Per endpoint and authorization,
a delivery waits while an earlier (lower sequence) one of the same authorization is still pending.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from sqlalchemy import bindparam, exists, insert, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from priorauth import events
from priorauth.authorizations.service import snapshot
from priorauth.config import Settings
from priorauth.db import Database
from priorauth.events.service import ENDPOINT_DISABLED
from priorauth.events.service import record as record_event
from priorauth.ids import new_id
from priorauth.timeutil import iso, utcnow
from priorauth.webhooks import payloads
from priorauth.webhooks.medication_pa import medication_pa_payload
from priorauth.webhooks.models import WebhookDelivery, WebhookEndpoint
from priorauth.webhooks.service import active_secrets
from priorauth.webhooks.signing import sign
from priorauth.webhooks.urls import UnsafeWebhookUrl, UrlGuard, resolve_and_check
from priorauth.webhooks.wakeup import CHANNEL, announce, local_wakers

log = structlog.get_logger("priorauth.webhooks")
JITTER = 0.10
# The delivery log's error classes for attempts that got no HTTP response. One class for refused, reset,
# timed out, DNS failures and non-HTTP answers alike, and no latency: an organization admin must not be
# able to tell a closed port from a filtered or open one (port scanning through the log).
UNREACHABLE = "unreachable"
UNSAFE_URL = "unsafe_url"  # the guard refused the URL or the address its host resolved to
INTERNAL_ERROR = "internal_error"  # a bug in the engine; retried like a failure
MAX_POOLS = 256  # endpoints with an open connection pool, per delivery loop

_ENABLED = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))  # a deleted endpoint is disabled too


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return endpoint.enabled and ("*" in endpoint.event_types or event_type in endpoint.event_types)


def retry_wait(schedule: tuple[float, ...], attempts: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the `attempts`-th failed attempt (+-10 % jitter); None: give up."""
    if attempts > len(schedule):
        return None
    wait = schedule[attempts - 1]
    return wait * (1 + (rng or random).uniform(-JITTER, JITTER))


# ---- fan-out (an event subscriber, inside the event's transaction) ----------------------------------------

@events.subscribe
async def write_deliveries(session: AsyncSession, published: list[events.Published]) -> None:
    """One delivery row per (event, subscribed endpoint), in the transaction that wrote the events."""
    endpoints = (await session.execute(select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id.in_({e.organization_id for e in published}),
        WebhookEndpoint.enabled.is_(True),
    ))).scalars().all()
    if not endpoints:
        return
    now = utcnow()
    views: dict[str, tuple[dict, list[dict]]] = {}  # medication_pa: one snapshot per authorization
    rows = []
    for event in published:
        for endpoint in endpoints:
            if endpoint.organization_id != event.organization_id or not subscribed(endpoint, event.type):
                continue
            body = await _body(session, endpoint.format, event, views)
            if body is None:
                continue
            rows.append({"id": new_id("dlv"), "organization_id": event.organization_id, "endpoint_id": endpoint.id,
                         "event_id": event.id, "event_type": event.type, "ordering_key": event.ordering_key,
                         "sequence": event.sequence, "payload": body, "status": "pending", "attempts": 0,
                         "next_attempt_at": now, "created_at": now})
    if not rows:
        return
    await session.execute(insert(WebhookDelivery).values(rows))
    await announce(session)


async def _body(session: AsyncSession, format_: str, event: events.Published,
                views: dict[str, tuple[dict, list[dict]]]) -> dict | None:
    auth = event.subject
    if auth is None:  # an organization event: the `priorauth` format only
        return payloads.priorauth_event(event.id, event.type, event.created_at, event.data) \
            if format_ == "priorauth" else None
    if format_ == "priorauth":
        summary = payloads.authorization_summary(
            {"id": auth.id, "workflow_state": auth.workflow_state, "decision_state": auth.decision_state,
             "external_id": auth.external_id, "payer_id": auth.payer_id, "version": auth.version},
            event.sequence, event.data)
        return payloads.priorauth_event(event.id, event.type, event.created_at, summary)
    if auth.id not in views:
        views[auth.id] = await snapshot(session, auth)
    view, attachments = views[auth.id]
    as_listed = {"id": event.id, "type": event.type, "authorizationId": auth.id, "sequence": event.sequence,
                 "data": event.data, "createdAt": iso(event.created_at)}
    return medication_pa_payload(view, as_listed, attachments)


async def enqueue_ping(db: Database, endpoint: WebhookEndpoint) -> WebhookDelivery:
    now = utcnow()
    event_id = new_id("evt")
    delivery = WebhookDelivery(
        id=new_id("dlv"), organization_id=endpoint.organization_id, endpoint_id=endpoint.id, event_id=event_id,
        event_type=payloads.PING, ordering_key=None, sequence=0,
        payload=payloads.ping(event_id, endpoint.id, now), status="pending", attempts=0, next_attempt_at=now,
        created_at=now)
    async with db.write() as session:
        session.add(delivery)
        await announce(session)
    return delivery


# ---- sending -------------------------------------------------------------------------------------------

_deliveries = WebhookDelivery.__table__
# An outcome is recorded only while its lease holds: a row redelivered or re-claimed meanwhile is left alone.
_RECORD = update(_deliveries).where(
    _deliveries.c.id == bindparam("b_id"), _deliveries.c.status == "pending",
    _deliveries.c.attempts == bindparam("b_attempts"), _deliveries.c.next_attempt_at == bindparam("b_lease"),
).values(status=bindparam("b_status"), attempts=bindparam("b_new_attempts"), next_attempt_at=bindparam("b_next"),
         last_status_code=bindparam("b_code"), last_error=bindparam("b_error"),
         last_latency_ms=bindparam("b_latency"), delivered_at=bindparam("b_delivered"))


@dataclass
class Claimed:
    delivery_id: str
    attempts: int
    payload: dict
    url: str
    signing: str
    secrets: list[str]
    endpoint_id: str
    lease_until: datetime | None = None
    attempts_at_round_start: int = 0


@dataclass
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int | None
    detail: str | None = None  # the exception type, for the server log only (never the delivery log)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliverer:
    """Keeps up to `webhook_batch` deliveries in flight: claims due rows as capacity frees up, sends them
    concurrently and records finished ones together, one transaction per group. `run()` loops until `stop()`."""

    def __init__(self, db: Database, settings: Settings, *, resolve=resolve_and_check):
        self.db = db
        self.settings = settings
        self.guard = UrlGuard.of(settings, resolve)  # resolve: resolve_and_check, or a DNS stand-in in tests
        self._clients: dict[str, httpx.AsyncClient] = {}  # endpoint id -> its connection pool
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # set when deliveries may have become due
        self._finished: list[tuple[Claimed, Outcome]] = []
        self._finished_ready = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task] = {}  # delivery id -> its send, until recorded
        self._closing = False

    def _client(self, endpoint_id: str) -> httpx.AsyncClient:
        """A small pool per endpoint: a slow receiver cannot hold the connections of the others, and
        httpcore's per-request scan of its pool stays short (a 50-connection pool halved throughput)."""
        client = self._clients.get(endpoint_id)
        if client is None:
            if len(self._clients) >= MAX_POOLS:  # the oldest pool goes; its endpoint gets a new one if needed
                oldest = next(iter(self._clients))
                asyncio.get_running_loop().create_task(self._clients.pop(oldest).aclose())
            client = self._clients[endpoint_id] = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout_seconds, follow_redirects=False,
                limits=httpx.Limits(max_connections=self.settings.webhook_connections_per_endpoint))
        return client

    async def _any_due(self, now) -> bool:
        # A cheap read first: an idle loop must not take SQLite's single writer every poll. (PostgreSQL's
        # claim with SKIP LOCKED is as cheap when nothing is due.)
        async with self.db.read() as session:
            return (await session.execute(select(WebhookDelivery.id).where(
                WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                WebhookDelivery.endpoint_id.in_(_ENABLED)).limit(1))).first() is not None

    async def claim(self, limit: int | None = None) -> list[Claimed]:
        now = utcnow()
        lease_until = now + timedelta(seconds=self.settings.webhook_lease_seconds)
        if self.db.is_sqlite and not await self._any_due(now):
            return []
        earlier = aliased(WebhookDelivery)
        ids = select(WebhookDelivery.id).where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookDelivery.endpoint_id.in_(_ENABLED),
            # Per authorization order: wait while an earlier event of the same key is still pending.
            or_(WebhookDelivery.ordering_key.is_(None), ~exists().where(
                earlier.endpoint_id == WebhookDelivery.endpoint_id,
                earlier.ordering_key == WebhookDelivery.ordering_key,
                earlier.status == "pending",
                earlier.sequence < WebhookDelivery.sequence)),
        ).order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit or self.settings.webhook_batch)
        if not self.db.is_sqlite:
            ids = ids.with_for_update(skip_locked=True)
        async with self.db.write() as session:
            rows = (await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id.in_(ids.scalar_subquery()))
                .values(next_attempt_at=lease_until)
                .returning(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.payload,
                           WebhookDelivery.endpoint_id, WebhookDelivery.attempts_at_round_start)
            )).all()
            if not rows:
                return []
            endpoints = {e.id: e for e in (await session.execute(select(WebhookEndpoint).where(
                WebhookEndpoint.id.in_({r.endpoint_id for r in rows})))).scalars()}
        claimed = []
        for row in rows:
            endpoint = endpoints[row.endpoint_id]
            claimed.append(Claimed(row.id, row.attempts, row.payload, endpoint.url, endpoint.signing,
                                   active_secrets(endpoint, now), endpoint.id, lease_until,
                                   row.attempts_at_round_start))
        return claimed

    async def send(self, item: Claimed) -> Outcome:
        body = payloads.body_bytes(item.payload)
        headers = sign(item.signing, item.secrets, item.delivery_id, int(time.time()), body)
        headers["content-type"] = "application/json"
        headers["user-agent"] = "priorauth-webhooks/1"
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            url, extensions = await self._target(item.url, headers)
            response = await self._client(item.endpoint_id).post(url, content=body, headers=headers,
                                                                  extensions=extensions)
        except UnsafeWebhookUrl:
            return Outcome(None, UNSAFE_URL, None)
        except (httpx.HTTPError, OSError) as exc:  # no HTTP response (OSError: DNS)
            return Outcome(None, UNREACHABLE, None, type(exc).__name__)
        code = response.status_code
        return Outcome(code, None if 200 <= code < 300 else f"http_{code}", elapsed())

    async def _target(self, url: str, headers: dict[str, str]) -> tuple[str, dict]:
        """The URL to POST to. The stored URL is checked again (it may predate the guard or a change of
        settings); with the guard on, its host is resolved once and the connection goes to a checked
        address, never to a second lookup (DNS rebinding). With PRIORAUTH_WEBHOOK_ALLOW_PRIVATE: as is."""
        self.guard.check(url)
        addresses = await asyncio.to_thread(self.guard.addresses, url)
        if addresses is None:
            return url, {}
        parts = urlsplit(url)
        host = parts.hostname or ""
        address = addresses[0]
        netloc = (f"[{address}]" if ":" in address else address) + (f":{parts.port}" if parts.port else "")
        headers["host"] = parts.netloc
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), {"sni_hostname": host}

    def _outcome_row(self, item: Claimed, outcome: Outcome, now: datetime) -> dict:
        """The parameters of `_RECORD` for one finished attempt."""
        attempts = item.attempts + 1
        status, next_attempt_at = "pending", item.lease_until
        if outcome.ok:
            status = "delivered"
        elif (wait := retry_wait(self.settings.retry_schedule, attempts - item.attempts_at_round_start)) is None:
            status = "failed"
        else:
            next_attempt_at = now + timedelta(seconds=wait)
        return {"b_id": item.delivery_id, "b_attempts": item.attempts, "b_lease": item.lease_until,
                "b_new_attempts": attempts, "b_status": status, "b_next": next_attempt_at,
                "b_code": outcome.status_code, "b_error": outcome.error, "b_latency": outcome.latency_ms,
                "b_delivered": now if outcome.ok else None}

    async def record(self, item: Claimed, outcome: Outcome) -> None:
        await self.record_many([(item, outcome)])

    async def record_many(self, finished: Iterable[tuple[Claimed, Outcome]]) -> None:
        """Record outcomes in one transaction (one statement, many rows), and each endpoint's health from its
        latest outcome."""
        now = utcnow()
        latest: dict[str, bool] = {}
        rows = []
        for item, outcome in finished:
            rows.append(self._outcome_row(item, outcome, now))
            latest[item.endpoint_id] = outcome.ok
        async with self.db.write() as session:
            await session.execute(_RECORD, rows)
            healthy = [endpoint_id for endpoint_id, ok in latest.items() if ok]
            failing = [endpoint_id for endpoint_id, ok in latest.items() if not ok]
            if healthy:
                await session.execute(update(WebhookEndpoint).where(
                    WebhookEndpoint.id.in_(healthy), WebhookEndpoint.failing_since.is_not(None))
                    .values(failing_since=None))
            if failing:
                await session.execute(update(WebhookEndpoint).where(
                    WebhookEndpoint.id.in_(failing), WebhookEndpoint.failing_since.is_(None))
                    .values(failing_since=now))
                await self._disable_long_failing(session, failing, now)

    async def _disable_long_failing(self, session: AsyncSession, endpoint_ids: list[str], now: datetime) -> None:
        """An endpoint failing for `webhook_disable_after_seconds` (3 days) is disabled, with an admin event."""
        cutoff = now - timedelta(seconds=self.settings.webhook_disable_after_seconds)
        disabled = (await session.execute(update(WebhookEndpoint).where(
            WebhookEndpoint.id.in_(endpoint_ids), WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.failing_since <= cutoff,
        ).values(enabled=False, updated_at=now, disabled_reason="failing for 3 days or more").returning(
            WebhookEndpoint.id, WebhookEndpoint.organization_id, WebhookEndpoint.failing_since))).all()
        for row in disabled:
            log.warning("webhook_endpoint_disabled", endpoint=row.id)
            record_event(session, row.organization_id, ENDPOINT_DISABLED,
                         {"endpointId": row.id, "failingSince": iso(row.failing_since),
                          "reason": "failing for 3 days or more"})

    # ---- the loop ------------------------------------------------------------------------------------------

    async def _deliver(self, item: Claimed) -> None:
        try:
            outcome = await self.send(item)
        except Exception as exc:  # noqa: BLE001 (a bug must not strand the delivery: it is retried like a failure)
            log.error("webhook_send_crashed", delivery=item.delivery_id, error_type=type(exc).__name__)
            outcome = Outcome(None, INTERNAL_ERROR, None)
        if not outcome.ok:
            log.info("webhook_attempt_failed", delivery=item.delivery_id, endpoint=item.endpoint_id,
                     error=outcome.error, error_type=outcome.detail, attempts=item.attempts + 1)
        self._finished.append((item, outcome))
        self._finished_ready.set()

    async def _recorder(self) -> None:
        """Records what finished, in groups; each group may let later events of its authorizations go."""
        while not (self._closing and not self._finished):
            await self._finished_ready.wait()
            self._finished_ready.clear()
            finished, self._finished = self._finished, []
            if not finished:
                continue
            try:
                await self.record_many(finished)
            except Exception as exc:  # noqa: BLE001 (database blip: the leases expire and the rows go again)
                log.error("webhook_record_failed", error_type=type(exc).__name__, count=len(finished))
            for item, _ in finished:
                self._in_flight.pop(item.delivery_id, None)
            self._wake.set()

    async def _listen(self) -> None:
        """PostgreSQL: LISTEN for deliveries committed by other processes; reconnects while running."""
        import asyncpg

        dsn = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                connection = await asyncpg.connect(dsn)
                try:
                    await connection.add_listener(CHANNEL, lambda *_: self._wake.set())
                    while not self._stop.is_set() and not connection.is_closed():
                        await self._sleep(5.0)
                finally:
                    await connection.close()
            except Exception as exc:  # noqa: BLE001 (polling still delivers; try again shortly)
                log.warning("webhook_listen_failed", error_type=type(exc).__name__)
                await self._sleep(5.0)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _wait_for_work(self) -> None:
        stop = asyncio.ensure_future(self._stop.wait())
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({stop, wake}, timeout=self.settings.worker_poll_seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            wake.cancel()

    async def run(self) -> None:
        local_wakers.add(self._wake)
        recorder = asyncio.create_task(self._recorder())
        listener = None if self.db.is_sqlite else asyncio.create_task(self._listen())
        try:
            while not self._stop.is_set():
                capacity = self.settings.webhook_batch - len(self._in_flight)
                self._wake.clear()  # before claiming: a wake-up during the claim is not lost
                claimed: list[Claimed] = []
                if capacity > 0:
                    try:
                        claimed = await self.claim(capacity)
                    except Exception as exc:  # noqa: BLE001 (database blip: wait and try again)
                        log.error("webhook_cycle_failed", error_type=type(exc).__name__)
                for item in claimed:
                    self._in_flight[item.delivery_id] = asyncio.create_task(self._deliver(item))
                if not claimed:  # nothing due, or no room: until a wake-up (commit, finished sends) or the poll
                    await self._wait_for_work()
        finally:
            local_wakers.discard(self._wake)
            # Let requests in flight finish and their outcomes be recorded (bounded by the request timeout).
            if self._in_flight:
                await asyncio.wait(set(self._in_flight.values()), timeout=self.settings.webhook_timeout_seconds + 1)
            self._closing = True
            self._finished_ready.set()
            await asyncio.wait({recorder}, timeout=30)
            for task in (recorder, listener):
                if task is not None:
                    task.cancel()
            await asyncio.gather(*(t for t in (recorder, listener) if t is not None), return_exceptions=True)
            clients, self._clients = list(self._clients.values()), {}
            await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)

    def stop(self) -> None:
        self._stop.set()
