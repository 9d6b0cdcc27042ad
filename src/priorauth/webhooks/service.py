"""Use cases of webhook subscriptions: endpoints, secret rotation, the delivery log.

Signing secrets are stored (they are needed to sign) and returned only by creation and rotation.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select, update

from priorauth.auth.service import Principal
from priorauth.db import Database
from priorauth.errors import ApiError, not_found
from priorauth.ids import new_id
from priorauth.pagination import decode_cursor, encode_cursor
from priorauth.timeutil import iso, utcnow
from priorauth.webhooks.models import WebhookDelivery, WebhookEndpoint
from priorauth.webhooks.schemas import EndpointCreate, EndpointPatch
from priorauth.webhooks.signing import new_secret
from priorauth.webhooks.urls import UnsafeWebhookUrl, UrlGuard
from priorauth.webhooks.wakeup import announce

ROTATION_OVERLAP = timedelta(hours=24)
DELIVERY_STATUSES = ("pending", "delivered", "failed")
ENDPOINT_DELETED = "endpoint_deleted"  # the error of deliveries still pending when their endpoint was deleted


async def _checked_url(url: str, guard: UrlGuard) -> str:
    """The normalized URL, refused (422) if the guard forbids it or its host resolves to a forbidden address.
    A name that does not resolve (yet) is accepted: every delivery resolves and checks it again."""
    try:
        url = guard.check(url)
        await asyncio.to_thread(guard.addresses, url)
    except UnsafeWebhookUrl as exc:
        raise ApiError(
            422,
            "validation_failed",
            f"The webhook URL is not allowed: {exc.reason}",
            issues=[{"path": "url", "message": exc.reason, "type": "unsafe_url"}],
        ) from None
    except OSError:
        pass
    return url


def _event_types(types: list[str]) -> list[str]:
    unique = list(dict.fromkeys(types))
    return ["*"] if "*" in unique else unique


def endpoint_view(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    body = {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "eventTypes": endpoint.event_types,
        "format": endpoint.format,
        "signing": endpoint.signing,
        "enabled": endpoint.enabled,
        "disabledReason": endpoint.disabled_reason,
        "failingSince": iso(endpoint.failing_since),
        "createdAt": iso(endpoint.created_at),
        "updatedAt": iso(endpoint.updated_at),
        "deletedAt": iso(endpoint.deleted_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_view(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.id,
        "endpointId": delivery.endpoint_id,
        "eventId": delivery.event_id,
        "eventType": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "responseCode": delivery.last_status_code,
        "error": delivery.last_error,
        "latencyMs": delivery.last_latency_ms,
        "nextAttemptAt": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "createdAt": iso(delivery.created_at),
        "deliveredAt": iso(delivery.delivered_at),
    }


def active_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets to sign with, newest first: every one not yet expired."""
    found = []
    for entry in endpoint.secrets:
        expires = entry.get("expires_at")
        if expires is None or datetime.fromisoformat(expires) > now:
            found.append(entry["secret"])
    return found


def _secret_entry(secret: str, now: datetime) -> dict:
    return {"secret": secret, "created_at": iso(now), "expires_at": None}


async def _endpoint(session, who: Principal, endpoint_id: str, *, lock: bool = False,
                    deleted: bool = False) -> WebhookEndpoint:
    """The organization's endpoint; a deleted one only with `deleted` (its delivery log stays readable)."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.organization_id == who.organization_id,
    )
    if not deleted:
        query = query.where(WebhookEndpoint.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise not_found("webhook endpoint", endpoint_id)
    return found


async def create_endpoint(db: Database, who: Principal, body: EndpointCreate, guard: UrlGuard) -> dict:
    url = await _checked_url(body.url, guard)
    now = utcnow()
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=new_id("whk"),
        organization_id=who.organization_id,
        url=url,
        description=body.description,
        event_types=_event_types(body.eventTypes),
        format=body.format,
        signing=body.signing,
        enabled=body.enabled,
        secrets=[_secret_entry(secret, now)],
        created_at=now,
        updated_at=now,
    )
    async with db.write() as session:
        session.add(endpoint)
    return endpoint_view(endpoint, secret)


async def list_endpoints(db: Database, who: Principal, include_deleted: bool = False) -> dict:
    query = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == who.organization_id)
    if not include_deleted:
        query = query.where(WebhookEndpoint.deleted_at.is_(None))
    async with db.read() as session:
        rows = (await session.execute(query.order_by(WebhookEndpoint.id))).scalars().all()
    return {"object": "list", "data": [endpoint_view(e) for e in rows]}


async def get_endpoint(db: Database, who: Principal, endpoint_id: str) -> dict:
    async with db.read() as session:
        return endpoint_view(await _endpoint(session, who, endpoint_id))


async def update_endpoint(
    db: Database, who: Principal, endpoint_id: str, body: EndpointPatch, guard: UrlGuard
) -> dict:
    changes = body.model_dump(exclude_unset=True)
    for name in ("url", "eventTypes", "format", "signing", "enabled"):
        if name in changes and changes[name] is None:
            raise ApiError(422, "validation_failed", f"{name} cannot be null",
                           issues=[{"path": name, "message": "must not be null", "type": "null"}])
    url = await _checked_url(body.url, guard) if "url" in changes else None
    async with db.write() as session:
        endpoint = await _endpoint(session, who, endpoint_id, lock=True)
        if url is not None:
            endpoint.url = url
        if "description" in changes:
            endpoint.description = body.description
        if "eventTypes" in changes:
            endpoint.event_types = _event_types(body.eventTypes or [])
        if "format" in changes:
            endpoint.format = body.format
        if "signing" in changes:
            endpoint.signing = body.signing
        if "enabled" in changes:
            endpoint.enabled = bool(body.enabled)
            if body.enabled:
                endpoint.disabled_reason, endpoint.failing_since = None, None
                await announce(session)  # its waiting deliveries are due again
        endpoint.updated_at = utcnow()
    return endpoint_view(endpoint)


async def delete_endpoint(db: Database, who: Principal, endpoint_id: str) -> None:
    """Soft delete: the endpoint and its delivery log stay. Disabled, it gets no new deliveries and none
    is sent (fan-out and the delivery loop take enabled endpoints only); pending ones end `failed`."""
    now = utcnow()
    async with db.write() as session:
        endpoint = await _endpoint(session, who, endpoint_id, lock=True)
        endpoint.deleted_at, endpoint.enabled, endpoint.updated_at = now, False, now
        # An attempt in flight is not recorded: the outcome of a send is written only while still pending.
        await session.execute(update(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending",
        ).values(status="failed", last_error=ENDPOINT_DELETED, last_status_code=None, last_latency_ms=None))


async def rotate_secret(db: Database, who: Principal, endpoint_id: str) -> dict:
    """A new secret (returned once); the previous ones stay valid for 24 h, then are dropped."""
    now = utcnow()
    secret = new_secret()
    async with db.write() as session:
        endpoint = await _endpoint(session, who, endpoint_id, lock=True)
        expiry = iso(now + ROTATION_OVERLAP)
        kept = []
        for entry in endpoint.secrets:
            if entry["secret"] not in active_secrets(endpoint, now):
                continue  # already expired: drop it
            expires = entry.get("expires_at")
            kept.append({**entry, "expires_at": expires if expires and expires < expiry else expiry})
        endpoint.secrets = [_secret_entry(secret, now), *kept]
        endpoint.updated_at = now
    return {**endpoint_view(endpoint, secret), "previousSecretExpiresAt": expiry if kept else None}


async def send_test(db: Database, who: Principal, endpoint_id: str) -> dict:
    """Queue a `ping` delivery to the endpoint (sent by the delivery loop, signed like any event)."""
    from priorauth.webhooks.delivery import enqueue_ping

    async with db.read() as session:
        endpoint = await _endpoint(session, who, endpoint_id)
    return delivery_view(await enqueue_ping(db, endpoint))


async def redeliver(db: Database, who: Principal, endpoint_id: str, delivery_id: str) -> dict:
    """Send a delivery again, now: back to pending with a new round of the retry schedule. `attempts`
    keeps counting (the history stays); the round's attempts are those after `attempts_at_round_start`."""
    async with db.write() as session:
        await _endpoint(session, who, endpoint_id)
        query = select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.organization_id == who.organization_id,
        )
        if not db.is_sqlite:
            query = query.with_for_update()
        delivery = (await session.execute(query)).scalar_one_or_none()
        if delivery is None:
            raise not_found("webhook delivery", delivery_id)
        delivery.status, delivery.attempts_at_round_start = "pending", delivery.attempts
        delivery.next_attempt_at, delivery.delivered_at = utcnow(), None
        await announce(session)
    return delivery_view(delivery)


async def list_deliveries(
    db: Database, who: Principal, endpoint_id: str, status: str | None, limit: int, cursor: str | None
) -> dict:
    """Deliveries of one endpoint, newest first."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint_id,
        WebhookDelivery.organization_id == who.organization_id,
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    if cursor:
        query = query.where(WebhookDelivery.id < decode_cursor(cursor, prefix="dlv_"))
    async with db.read() as session:
        await _endpoint(session, who, endpoint_id, deleted=True)
        rows = (
            await session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1))
        ).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "object": "list",
        "data": [delivery_view(d) for d in rows],
        "pagination": {"hasMore": more, "nextCursor": encode_cursor(rows[-1].id) if more else None},
    }
