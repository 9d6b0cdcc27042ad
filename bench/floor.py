#!/usr/bin/env python3
"""The stack's floor: how many lifecycles/s FastAPI + SQLAlchemy Core + asyncpg + fpdf2/pypdf give on
this machine when each of the four calls does the least work it could do.

No authentication, no validation, no questionnaire, no ORM: each call is one or two transactions of
the minimal statements (row, event and outbox inserts; a locked read and an update), and at level 2
submit renders two one-page PDFs with fpdf2 and merges them with pypdf in a thread, as priorauth
does. priorauth itself can only be slower than this; `docs/benchmarks.md` compares the two.

    python bench/floor.py                  # levels 0, 1, 2 on PostgreSQL, 2 workers
    python bench/floor.py --levels 2 --workers 1

Tables live in their own schema (`priorauth_floor`), created at the start and dropped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

SCHEMA = "priorauth_floor"
LEVELS = {0: "HTTP only (FastAPI on uvicorn, uvloop, httptools)",
          1: "+ the minimal PostgreSQL transactions (Core, asyncpg)",
          2: "+ two fpdf2 PDFs and a pypdf merge on submit"}

# ---- the server side, imported by uvicorn as `floor:app` ----------------------------------------------------------

if os.environ.get("FLOOR_LEVEL") is not None:
    from fastapi import FastAPI, Request
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    LEVEL = int(os.environ["FLOOR_LEVEL"])
    engine = create_async_engine(os.environ["FLOOR_DATABASE_URL"], pool_size=10,
                                 connect_args={"server_settings": {"search_path": SCHEMA}})
    app = FastAPI()

    async def txn(*statements: tuple[str, dict]) -> None:
        if LEVEL < 1:
            return
        async with engine.begin() as conn:
            for sql, params in statements:
                await conn.execute(text(sql), params)

    def documents(case: dict) -> list[bytes]:
        from fpdf import FPDF
        from pypdf import PdfReader, PdfWriter

        rendered = []
        for _ in ("form", "cover"):
            doc = FPDF()
            doc.add_page()
            doc.set_font("helvetica", size=10)
            for key, value in case.items():
                doc.multi_cell(0, 5, f"{key}: {json.dumps(value)[:300]}", new_x="LMARGIN", new_y="NEXT")
            rendered.append(bytes(doc.output()))
        packet = PdfWriter()
        for content in rendered:
            packet.append(PdfReader(io.BytesIO(content)))
        out = io.BytesIO()
        packet.write(out)
        return [*rendered, out.getvalue()]

    def _event(auth_id: str, kind: str) -> list[tuple[str, dict]]:
        return [("INSERT INTO events (auth_id, type) VALUES (:i, :t)", {"i": auth_id, "t": kind}),
                ("INSERT INTO outbox (auth_id, topic) VALUES (:i, :t)", {"i": auth_id, "t": kind})]

    def _lock_and_bump(auth_id: str) -> list[tuple[str, dict]]:
        return [("SELECT data FROM cases WHERE id = :i FOR UPDATE", {"i": auth_id}),
                ("UPDATE cases SET version = version + 1 WHERE id = :i", {"i": auth_id})]

    @app.post("/cases")
    async def create(request: Request) -> dict:
        body = await request.json()
        auth_id = uuid.uuid4().hex
        await txn(("INSERT INTO cases (id, version, data) VALUES (:i, 1, :d)", {"i": auth_id, "d": json.dumps(body)}),
                  *_event(auth_id, "created"))
        return {"id": auth_id, "state": "needs_input", **body}

    @app.patch("/cases/{auth_id}")
    async def patch(auth_id: str, request: Request) -> dict:
        body = await request.json()
        await txn(*_lock_and_bump(auth_id),
                  ("UPDATE cases SET data = :d WHERE id = :i", {"i": auth_id, "d": json.dumps(body)}),
                  *_event(auth_id, "updated"))
        return {"id": auth_id, "state": "ready_to_submit"}

    @app.post("/cases/{auth_id}/submit")
    async def submit(auth_id: str) -> dict:
        await txn(*_lock_and_bump(auth_id))
        rendered = []
        if LEVEL >= 2:
            rendered = await asyncio.to_thread(documents, {"id": auth_id, "note": "x" * 200, "codes": list(range(50))})
        await txn(*_lock_and_bump(auth_id),
                  *[("INSERT INTO artifacts (auth_id, content) VALUES (:i, :b)", {"i": auth_id, "b": content})
                    for content in rendered],
                  *_event(auth_id, "submitted"))
        return {"id": auth_id, "state": "pending_payer"}

    @app.post("/cases/{auth_id}/approve")
    async def approve(auth_id: str) -> dict:
        await txn(*_lock_and_bump(auth_id), *_event(auth_id, "approved"))
        return {"id": auth_id, "state": "completed"}


# ---- the driver ----------------------------------------------------------------------------------------------------

def _busy_jiffies() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


async def _measure(url: str, cases: int, concurrency: int) -> dict:
    import httpx

    examples = Path(__file__).resolve().parent.parent / "examples"
    case = json.loads((examples / "tka-case.json").read_text())
    answers = json.loads((examples / "tka-answers.json").read_text())
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def lifecycle() -> None:
            created = await client.post("/cases", json=case)
            auth_id = created.raise_for_status().json()["id"]
            (await client.patch(f"/cases/{auth_id}", json=answers)).raise_for_status()
            (await client.post(f"/cases/{auth_id}/submit")).raise_for_status()
            (await client.post(f"/cases/{auth_id}/approve")).raise_for_status()

        for _ in range(20):
            await lifecycle()
        remaining = iter(range(cases))

        async def worker() -> None:
            for _ in remaining:
                await lifecycle()

        busy0, total0 = _busy_jiffies()
        cpu0, start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        busy1, total1 = _busy_jiffies()
    return {"lifecycles_per_s": round(cases / elapsed, 1),
            "client_cpu_ms_per_lifecycle": round(1000 * (time.process_time() - cpu0) / cases, 1),
            "machine_busy_cores": round((busy1 - busy0) / (total1 - total0) * os.cpu_count(), 2)}


async def _schema(url: str, create: bool) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        if create:
            await conn.execute(f"""CREATE SCHEMA {SCHEMA};
                CREATE TABLE {SCHEMA}.cases (id text PRIMARY KEY, version int NOT NULL, data jsonb NOT NULL);
                CREATE TABLE {SCHEMA}.events (id bigserial PRIMARY KEY, auth_id text NOT NULL, type text NOT NULL);
                CREATE TABLE {SCHEMA}.outbox (id bigserial PRIMARY KEY, auth_id text NOT NULL, topic text NOT NULL);
                CREATE TABLE {SCHEMA}.artifacts (id bigserial PRIMARY KEY, auth_id text NOT NULL, content bytea);""")
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--levels", type=int, nargs="+", default=sorted(LEVELS), choices=sorted(LEVELS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8919)
    args = parser.parse_args()
    asyncio.run(_schema(args.database_url, create=True))
    try:
        for level in args.levels:
            env = {**os.environ, "FLOOR_LEVEL": str(level), "FLOOR_DATABASE_URL": args.database_url}
            server = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent), "floor:app",
                 "--host", "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers),
                 "--log-level", "warning", "--no-access-log"], env=env)
            try:
                time.sleep(4)
                result = asyncio.run(_measure(f"http://127.0.0.1:{args.port}", args.cases, args.concurrency))
            finally:
                server.terminate()
                server.wait(timeout=30)
            print(f"level {level} ({LEVELS[level]}): {json.dumps(result)}", flush=True)
    finally:
        asyncio.run(_schema(args.database_url, create=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
