"""Recording and listing organization events."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from priorauth import events
from priorauth.auth.service import Principal
from priorauth.db import Database
from priorauth.events.models import OrganizationEvent
from priorauth.ids import new_id
from priorauth.pagination import decode_cursor, encode_cursor
from priorauth.timeutil import iso, utcnow

# The organization event types, for subscription validation and the docs.
REVIEW_DECISION = "review.decision.recorded"
APPROVAL_REQUESTED = "workflow.approval.requested"
APPROVAL_RESOLVED = "workflow.approval.resolved"
POLICY_CREATED = "workflow.policy.created"
POLICY_UPDATED = "workflow.policy.updated"
POLICY_DELETED = "workflow.policy.deleted"
ENDPOINT_DISABLED = "webhook.endpoint.disabled"
TYPES = (REVIEW_DECISION, APPROVAL_REQUESTED, APPROVAL_RESOLVED, POLICY_CREATED, POLICY_UPDATED, POLICY_DELETED,
         ENDPOINT_DISABLED)


def record(session: AsyncSession, organization_id: str, type_: str, data: dict) -> OrganizationEvent:
    """Store the event in the caller's transaction and publish it to subscribers (webhooks)."""
    row = OrganizationEvent(id=new_id("evt"), organization_id=organization_id, type=type_, data=data,
                            created_at=utcnow())
    session.add(row)
    events.publish(session, events.Published(row.id, organization_id, type_, row.created_at, data))
    return row


def event_json(row: OrganizationEvent) -> dict:
    return {"id": row.id, "object": "event", "type": row.type, "data": row.data, "createdAt": iso(row.created_at)}


async def list_(db: Database, who: Principal, type_: str | None, limit: int, cursor: str | None) -> dict:
    query = select(OrganizationEvent).where(OrganizationEvent.organization_id == who.organization_id)
    if type_:
        query = query.where(OrganizationEvent.type == type_)
    if cursor:
        query = query.where(OrganizationEvent.id < decode_cursor(cursor, prefix="evt_"))
    async with db.read() as session:
        rows = list((await session.execute(query.order_by(OrganizationEvent.id.desc()).limit(limit + 1))).scalars())
    page, has_more = rows[:limit], len(rows) > limit
    return {"object": "list", "data": [event_json(r) for r in page],
            "pagination": {"hasMore": has_more, "nextCursor": encode_cursor(page[-1].id) if has_more else None}}
