"""Webhook delivery: fan-out of events into delivery rows, and the loop that sends them.

Fan-out runs in the outbox worker as the handler of topic `prior_auth.event`: the outbox row was
written in the event's own transaction, so every committed event is fanned out at least once, and
the unique (event_id, endpoint_id) makes a re-run handler a no-op.

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import aliased

from priorauth.authorizations.models import Authorization, AuthorizationEvent
from priorauth.authorizations.representation import event_json
from priorauth.authorizations.service import snapshot
from priorauth.config import Settings
from priorauth.db import Database
from priorauth.ids import new_id
from priorauth.outbox.models import OutboxMessage
from priorauth.timeutil import utcnow
from priorauth.webhooks import payloads
from priorauth.webhooks.medication_pa import medication_pa_payload
from priorauth.webhooks.models import WebhookDelivery, WebhookEndpoint
from priorauth.webhooks.service import active_secrets
from priorauth.webhooks.signing import sign
from priorauth.webhooks.urls import UnsafeWebhookUrl, resolve_and_check

log = structlog.get_logger("priorauth.webhooks")
LEASE = timedelta(seconds=60)
JITTER = 0.10
# Formats whose payload is built here; endpoints of other formats get no deliveries yet.
BUILT_FORMATS = ("priorauth", "medication_pa")


_ENABLED = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return endpoint.enabled and ("*" in endpoint.event_types or event_type in endpoint.event_types)


def retry_wait(schedule: tuple[float, ...], attempts: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the `attempts`-th failed attempt (+-10 % jitter); None: give up."""
    if attempts > len(schedule):
        return None
    wait = schedule[attempts - 1]
    return wait * (1 + (rng or random).uniform(-JITTER, JITTER))


# ---- fan-out (outbox handler) --------------------------------------------------------------------------

async def fan_out(db: Database, message: OutboxMessage) -> None:
    """One delivery row per subscribed endpoint of the event's organization; re-runs add nothing."""
    event_id = message.payload["eventId"]
    # Read first: an organization without endpoints costs no write (SQLite has one writer).
    async with db.read() as session:
        event = await session.get(AuthorizationEvent, event_id)
        if event is None:
            return
        endpoints = (await session.execute(select(WebhookEndpoint).where(
            WebhookEndpoint.organization_id == event.organization_id,
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.format.in_(BUILT_FORMATS),
        ))).scalars().all()
        targets = [e for e in endpoints if subscribed(e, event.type)]
        if not targets:
            return
        auth = await session.get(Authorization, event.authorization_id)
        summary = payloads.authorization_summary(
            {"id": auth.id, "workflow_state": auth.workflow_state, "decision_state": auth.decision_state,
             "external_id": auth.external_id, "payer_id": auth.payer_id, "version": auth.version},
            event.sequence, event.data)
        bodies = {"priorauth": payloads.priorauth_event(event.id, event.type, event.created_at, summary)}
        if any(e.format == "medication_pa" for e in targets):
            view, attachments = await snapshot(session, auth)
            bodies["medication_pa"] = medication_pa_payload(view, event_json(event), attachments)
    now = utcnow()
    rows = [{"id": new_id("dlv"), "organization_id": event.organization_id, "endpoint_id": endpoint.id,
             "event_id": event.id, "event_type": event.type, "ordering_key": event.authorization_id,
             "sequence": event.sequence, "payload": bodies[endpoint.format], "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now} for endpoint in targets]
    async with db.write() as session:
        # An endpoint deleted since the read would fail the foreign key: insert only live ones.
        live = set((await session.execute(select(WebhookEndpoint.id).where(
            WebhookEndpoint.id.in_([r["endpoint_id"] for r in rows])))).scalars())
        rows = [r for r in rows if r["endpoint_id"] in live]
        if rows:
            await session.execute(db.insert(WebhookDelivery.__table__).values(rows).on_conflict_do_nothing(
                index_elements=["event_id", "endpoint_id"]))


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
    return delivery


# ---- sending -------------------------------------------------------------------------------------------

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


@dataclass
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliverer:
    """Claims due deliveries, POSTs them, records the outcome; `run()` loops until `stop()`."""

    def __init__(self, db: Database, settings: Settings, *, client: httpx.AsyncClient | None = None):
        self.db = db
        self.settings = settings  # read on every cycle: the schedule may be changed at run time
        self._client = client
        self._stop = asyncio.Event()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds, follow_redirects=False)
        return self._client

    async def _any_due(self, now) -> bool:
        # A cheap read first: an idle loop must not take SQLite's single writer every poll.
        async with self.db.read() as session:
            return (await session.execute(select(WebhookDelivery.id).where(
                WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                WebhookDelivery.endpoint_id.in_(_ENABLED)).limit(1))).first() is not None

    async def claim(self) -> list[Claimed]:
        now = utcnow()
        if not await self._any_due(now):
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
        ).order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(self.settings.webhook_batch)
        if not self.db.is_sqlite:
            ids = ids.with_for_update(skip_locked=True)
        async with self.db.write() as session:
            rows = (await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id.in_(ids.scalar_subquery()))
                .values(next_attempt_at=now + LEASE)
                .returning(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.payload,
                           WebhookDelivery.endpoint_id)
            )).all()
            if not rows:
                return []
            endpoints = {e.id: e for e in (await session.execute(select(WebhookEndpoint).where(
                WebhookEndpoint.id.in_({r.endpoint_id for r in rows})))).scalars()}
        claimed = []
        for row in rows:
            endpoint = endpoints[row.endpoint_id]
            claimed.append(Claimed(row.id, row.attempts, row.payload, endpoint.url, endpoint.signing,
                                   active_secrets(endpoint, now), endpoint.id, now + LEASE))
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
            response = await self.client.post(url, content=body, headers=headers, extensions=extensions)
        except httpx.TimeoutException:
            return Outcome(None, "timeout", elapsed())
        except httpx.ConnectError:
            return Outcome(None, "connect_error", elapsed())
        except UnsafeWebhookUrl:
            return Outcome(None, "unsafe_url", elapsed())
        except httpx.HTTPError:
            return Outcome(None, "request_error", elapsed())
        except OSError:
            return Outcome(None, "dns_error", elapsed())
        code = response.status_code
        return Outcome(code, None if 200 <= code < 300 else f"http_{code}", elapsed())

    async def _target(self, url: str, headers: dict[str, str]) -> tuple[str, dict]:
        """In production, resolve once, refuse non-public addresses, and connect to the checked address."""
        if self.settings.env != "production":
            return url, {}
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        addresses = await asyncio.to_thread(resolve_and_check, host, port, production=True)
        address = addresses[0]
        netloc = (f"[{address}]" if ":" in address else address) + (f":{parts.port}" if parts.port else "")
        headers["host"] = parts.netloc
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), {"sni_hostname": host}

    async def record(self, item: Claimed, outcome: Outcome) -> None:
        now = utcnow()
        attempts = item.attempts + 1
        values: dict = {"attempts": attempts, "last_status_code": outcome.status_code,
                        "last_error": outcome.error, "last_latency_ms": outcome.latency_ms}
        if outcome.ok:
            values.update(status="delivered", delivered_at=now)
        else:
            wait = retry_wait(self.settings.retry_schedule, attempts)
            if wait is None:
                values.update(status="failed")
            else:
                values.update(next_attempt_at=now + timedelta(seconds=wait))
        async with self.db.write() as session:
            # Only while our lease holds: a row redelivered or re-claimed meanwhile is not overwritten.
            await session.execute(update(WebhookDelivery).where(
                WebhookDelivery.id == item.delivery_id, WebhookDelivery.status == "pending",
                WebhookDelivery.attempts == item.attempts,
                WebhookDelivery.next_attempt_at == item.lease_until).values(**values))
            endpoint = update(WebhookEndpoint).where(WebhookEndpoint.id == item.endpoint_id)
            if outcome.ok:
                await session.execute(endpoint.where(WebhookEndpoint.failing_since.is_not(None))
                                      .values(failing_since=None))
            else:
                await session.execute(endpoint.where(WebhookEndpoint.failing_since.is_(None))
                                      .values(failing_since=now))

    async def _deliver(self, item: Claimed) -> None:
        outcome = await self.send(item)
        if not outcome.ok:
            log.info("webhook_attempt_failed", delivery=item.delivery_id, endpoint=item.endpoint_id,
                     error=outcome.error, attempts=item.attempts + 1)
        await self.record(item, outcome)

    async def run_once(self) -> int:
        """Claim one batch and send it (different authorizations concurrently); returns how many."""
        claimed = await self.claim()
        if claimed:
            await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    sent = await self.run_once()
                except Exception as exc:  # noqa: BLE001 (database blip: wait and try again)
                    log.error("webhook_cycle_failed", error_type=type(exc).__name__)
                    sent = 0
                if sent == 0:
                    try:
                        await asyncio.wait_for(self._stop.wait(), timeout=self.settings.worker_poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    def stop(self) -> None:
        self._stop.set()
