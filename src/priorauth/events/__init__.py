"""Events to subscribers, inside the transaction that caused them.

A service publishes an event on its write session; `Database.write()` hands the session's events to
every subscriber just before it commits (so what a subscriber writes, e.g. webhook delivery rows,
commits or rolls back with the event), and runs the callbacks registered with `after_commit` once
the commit succeeded (e.g. waking a delivery loop). Subscribers register at import time.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

_PENDING = "priorauth.events"
_AFTER = "priorauth.after_commit"


@dataclass(frozen=True)
class Published:
    """What a subscriber needs to know of an event; `subject` is the in-session row it is about."""

    id: str  # evt_...
    organization_id: str
    type: str
    created_at: datetime
    data: dict
    # Events of one ordering key reach each subscriber in `sequence` order (an authorization's events).
    ordering_key: str | None = None
    sequence: int = 0
    subject: Any = field(default=None, compare=False)


Subscriber = Callable[[AsyncSession, list[Published]], Awaitable[None]]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> Subscriber:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    return subscriber


def publish(session: AsyncSession, event: Published) -> None:
    session.info.setdefault(_PENDING, []).append(event)


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    session.info.setdefault(_AFTER, []).append(callback)


async def before_commit(session: AsyncSession) -> None:
    """Called by Database.write() as the last step of a transaction."""
    pending = session.info.pop(_PENDING, None)
    if pending:
        for subscriber in _subscribers:
            await subscriber(session, pending)


def committed(session: AsyncSession) -> None:
    """Called by Database.write() after a successful commit."""
    for callback in session.info.pop(_AFTER, ()):
        callback()
