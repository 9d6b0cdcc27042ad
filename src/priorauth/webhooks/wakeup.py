"""Waking delivery loops when deliveries become due, instead of waiting for their next poll."""
from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from priorauth import events

CHANNEL = "priorauth_webhooks"  # PostgreSQL NOTIFY channel: "deliveries are due"
local_wakers: set[asyncio.Event] = set()  # one per delivery loop of this process


def wake_local() -> None:
    for waker in local_wakers:
        waker.set()


async def announce(session: AsyncSession) -> None:
    """Deliveries written in this transaction are due: wake every loop once it commits."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {CHANNEL}"))  # PostgreSQL delivers it at commit, or never
    events.after_commit(session, wake_local)
