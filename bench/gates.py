#!/usr/bin/env python3
"""Gate benchmark for priorauth's workflow control plane: step-gate decisions/s and p50/p99 over HTTP.

Starts its own `priorauth serve` (PostgreSQL with 4 workers by default, like the target; `--database
sqlite` for the embedded one), creates 100 enabled policies (one of which matches, requiring approval),
then measures two kinds of gate call at `--concurrency`:

- fresh: every call gates a new step (insert, key pinning, policy evaluation, approval hold, audit);
- retry: idempotent retries of steps already gated (lock, count, memoized decision, audit).

    python bench/gates.py                       # PostgreSQL (its public schema is reset), 4 workers
    python bench/gates.py --database sqlite --workers 1
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lifecycle  # noqa: E402  (server management shared with the lifecycle benchmark)

W = "/api/v1/workflows"


def policy(i: int) -> dict:
    """99 policies that never match this input and one (i == 0) that requires approval for biologics."""
    field, value = ("step_input.medication_class", "biologic") if i == 0 else (f"step_input.flag_{i}", f"v{i}")
    return {"name": f"bench-policy-{i:03d}", "description": "benchmark", "type": "context_aware",
            "category": "dynamic-compliance", "priority": i, "enabled": True,
            "conditions": [{"field": field, "operator": "equals", "value": value},
                           {"field": "step_input.estimated_cost_usd", "operator": "greater_than", "value": 100}],
            "actions": [{"type": "require_approval", "config": {"reason": f"policy {i}", "severity": "high"}}]}


def gate_body(key: str) -> dict:
    return {"step_name": "Submit prior authorization", "step_type": "tool_call", "idempotency_key": key,
            "step_input": {"patient_id": "P-88120", "cpt_code": "J0135", "medication_class": "biologic",
                           "estimated_cost_usd": 4200}}


async def run(client: httpx.AsyncClient, workflows: list[str], calls: int, concurrency: int, fresh: bool,
              label: str) -> dict:
    latencies, errors = [], []
    todo = iter(range(calls))

    async def worker() -> None:
        for i in todo:
            wf = workflows[i % len(workflows)]
            step = f"{label}-{i}" if fresh else f"{label}-{i % 50}"
            t0 = time.perf_counter()
            r = await client.post(f"{W}/{wf}/steps/{step}/gate", json=gate_body(f"pa:{wf}:{step}"))
            latencies.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:200]}")

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begin
    return {"errors": len(errors), "error_samples": errors[:3], **lifecycle.latency_stats(latencies, elapsed)}


async def measure(url: str, secret: str, args: argparse.Namespace) -> dict:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=60,
                                 limits=limits) as client:
        for i in range(100):
            (await client.post("/api/v1/policies", json=policy(i))).raise_for_status()
        workflows = []
        for i in range(args.workflows):
            r = await client.post(W, json={"workflow_name": "bench", "source": "external", "trace_id": f"t{i}"})
            workflows.append(r.raise_for_status().json()["workflow_id"])
        await run(client, workflows, 200, args.concurrency, fresh=True, label="warm")  # every worker compiles
        fresh = await run(client, workflows, args.calls, args.concurrency, fresh=True, label="fresh")
        # Retries gate the same steps (50 per workflow) again and again, each with its pinned key.
        retry = await run(client, workflows, args.calls, args.concurrency, fresh=False, label="retry")
    return {"fresh": fresh, "retry": retry}


async def amain(args: argparse.Namespace) -> dict:
    async def run_measure(url: str, secret: str) -> dict:
        return await measure(url, secret, args)

    return await lifecycle.with_server(args.database, args.database_url, args.workers, args.force_reset, run_measure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--database-url", default=lifecycle.DEFAULT_PG_URL)
    parser.add_argument("--force-reset", action="store_true")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"database": args.database, "workers": args.workers, "policies": 100, "concurrency": args.concurrency,
              **asyncio.run(amain(args))}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"priorauth gate benchmark — {args.database}, {args.workers} worker(s), 100 enabled policies, "
          f"concurrency {args.concurrency}")
    for kind in ("fresh", "retry"):
        r = result[kind]
        print(f"{kind:6} gates  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  {r['per_s']:7.1f} gates/s  "
              f"errors {r['errors']}")
        for sample in r["error_samples"]:
            print(f"    {sample}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
