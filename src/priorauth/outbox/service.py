"""The outbox: enqueue inside a caller's transaction; claim, handle and settle in a worker.

Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL so many workers share the table; on SQLite
the claim runs inside the single BEGIN IMMEDIATE writer, which serialises it.
A claim is a lease: a worker that dies leaves rows that another worker reclaims after the lease.
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from priorauth.db import Database
from priorauth.outbox.models import OutboxMessage
from priorauth.timeutil import utcnow

log = structlog.get_logger("priorauth.outbox")
Handler = Callable[[Database, OutboxMessage], Awaitable[None]]
Periodic = Callable[[Database], Awaitable[Any]]


class Loop(Protocol):
    """Another background loop that lives as long as the worker (e.g. webhook delivery)."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...

MAX_ATTEMPTS = 12
LEASE = timedelta(seconds=60)


def enqueue(session: AsyncSession, organization_id: str, topic: str, payload: dict, key: str | None = None) -> None:
    session.add(OutboxMessage(organization_id=organization_id, topic=topic, payload=payload, key=key))


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 3600))


class Worker:
    """Runs registered handlers over claimed outbox rows, and periodic sweeps between polls."""

    def __init__(self, db: Database, *, poll_seconds: float = 0.5, batch: int = 20, sweep_seconds: float = 10.0):
        self.db = db
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.sweep_seconds = sweep_seconds
        self._next_sweep = 0.0
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.handlers: dict[str, Handler] = {}
        self.periodic: list[Periodic] = []
        self.companions: list[Loop] = []
        self._stop = asyncio.Event()

    def on(self, topic: str, handler: Handler) -> None:
        self.handlers[topic] = handler

    async def claim(self) -> list[OutboxMessage]:
        now = utcnow()
        earlier = aliased(OutboxMessage)
        async with self.db.write() as session:
            ids = select(OutboxMessage.id).where(
                # Only topics this worker can handle: rows for a face not running here wait, never lost.
                OutboxMessage.topic.in_(list(self.handlers)),
                OutboxMessage.status == "pending",
                OutboxMessage.available_at <= now,
                or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
                # Per-key order: only the oldest pending message of a key is ever claimable.
                or_(OutboxMessage.key.is_(None), ~exists().where(
                    earlier.key == OutboxMessage.key, earlier.topic == OutboxMessage.topic, earlier.status == "pending", earlier.id < OutboxMessage.id)),
            ).order_by(OutboxMessage.id).limit(self.batch)
            if not self.db.is_sqlite:
                ids = ids.with_for_update(skip_locked=True)
            claimed = (await session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids.scalar_subquery()))
                .values(locked_by=self.name, locked_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
                .returning(OutboxMessage)
            )).scalars().all()
        return sorted(claimed, key=lambda m: m.id)

    async def _settle(self, message: OutboxMessage, error: str | None) -> None:
        async with self.db.write() as session:
            values: dict[str, Any] = {"locked_by": None, "locked_until": None}
            if error is None:
                values.update(status="done", completed_at=utcnow(), last_error=None)
            elif message.attempts >= MAX_ATTEMPTS:
                values.update(status="dead", last_error=error)
            else:
                values.update(last_error=error, available_at=utcnow() + backoff(message.attempts))
            await session.execute(update(OutboxMessage).where(
                OutboxMessage.id == message.id, OutboxMessage.locked_by == self.name).values(**values))

    async def run_once(self) -> int:
        """Claim one batch and handle it; returns how many rows were handled."""
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.sweep_seconds
            for sweep in self.periodic:
                try:
                    await sweep(self.db)
                except Exception as exc:  # a failing sweep must not stop delivery
                    log.error("sweep_failed", sweep=getattr(sweep, "__name__", "?"), error_type=type(exc).__name__)
        messages = await self.claim() if self.handlers else []
        for message in messages:
            error = None
            try:
                await self.handlers[message.topic](self.db, message)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
                log.warning("outbox_handler_failed", topic=message.topic, id=message.id, attempts=message.attempts)
            await self._settle(message, error)
        return len(messages)

    async def run(self) -> None:
        log.info("worker_started", worker=self.name)
        companions = [asyncio.create_task(loop.run()) for loop in self.companions]
        try:
            await self._loop()
        finally:
            for loop in self.companions:
                loop.stop()
            await asyncio.gather(*companions, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = await self.run_once()
            except Exception as exc:  # database blip: wait and try again
                log.error("worker_cycle_failed", error_type=type(exc).__name__)
                handled = 0
            if handled == 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=self.poll_seconds)
                except asyncio.TimeoutError:
                    pass

    def stop(self) -> None:
        self._stop.set()
