"""The transactional outbox: written with the state change, claimed with leases, ordered per key, retried."""
from __future__ import annotations

import uuid

from sqlalchemy import select, update

from priorauth.outbox.models import OutboxMessage
from priorauth.outbox.service import Worker, enqueue


async def _rows(app, **where):
    async with app.state.db.read() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for column, value in where.items():
            query = query.where(getattr(OutboxMessage, column) == value)
        return list((await session.execute(query)).scalars())


async def test_a_rolled_back_change_leaves_no_outbox_row(app, credentials):
    topic = f"test.{uuid.uuid4().hex}"
    try:
        async with app.state.db.write() as session:
            enqueue(session, credentials.organization_id, topic, {"n": 1})
            raise RuntimeError("the state change failed")
    except RuntimeError:
        pass
    assert await _rows(app, topic=topic) == []


async def test_worker_handles_in_key_order_and_retries_failures(app, credentials):
    topic = f"test.{uuid.uuid4().hex}"
    async with app.state.db.write() as session:
        for n in range(3):
            enqueue(session, credentials.organization_id, topic, {"n": n}, key="k1")
        enqueue(session, credentials.organization_id, topic, {"n": 99}, key="k2")
    seen: list[int] = []
    fail_once = {0}

    async def handler(db, message):
        n = message.payload["n"]
        if n in fail_once:
            fail_once.discard(n)
            raise RuntimeError("receiver down")
        seen.append(n)

    worker = Worker(app.state.db)
    worker.on(topic, handler)
    await worker.run_once()
    # k1's first message failed: nothing else of k1 may run before it; k2 is independent.
    assert seen == [99]
    first = (await _rows(app, topic=topic))[0]
    assert first.status == "pending" and first.attempts == 1 and "receiver down" in first.last_error
    async with app.state.db.write() as session:  # skip the backoff wait
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == first.id)
                              .values(available_at=first.created_at))
    for _ in range(4):
        await worker.run_once()
    assert seen == [99, 0, 1, 2]
    assert {r.status for r in await _rows(app, topic=topic)} == {"done"}


async def test_two_workers_never_claim_the_same_row(app, credentials):
    topic = f"test.{uuid.uuid4().hex}"
    async with app.state.db.write() as session:
        for n in range(30):
            enqueue(session, credentials.organization_id, topic, {"n": n})
    first, second = Worker(app.state.db, batch=10), Worker(app.state.db, batch=10)
    for w in (first, second):
        w.on(topic, lambda db, m: None)
    claimed_a, claimed_b = await first.claim(), await second.claim()
    ids_a, ids_b = {m.id for m in claimed_a}, {m.id for m in claimed_b}
    assert len(ids_a) == len(ids_b) == 10 and not ids_a & ids_b
