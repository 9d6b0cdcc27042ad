#!/usr/bin/env python3
"""Review benchmark for priorauth: the pure pipeline in-process, and `POST /api/review` over real HTTP.

The requests are the review cases of `tests/cases/*.yaml` (every policy of the library, positive and
negative), cycled. The pure pipeline runs the four agents exactly as the server does, with the
extractor and the ICD-10-CM set loaded once first (load times are printed separately). The HTTP part
starts its own `priorauth serve` (embedded SQLite unless `--database postgresql`), like
`bench/lifecycle.py`, and measures at concurrency 1 (latency) and at `--concurrency` (throughput).

    python bench/review.py
    python bench/review.py --requests 1000 --concurrency 8 --json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lifecycle  # noqa: E402  (the server management of the lifecycle benchmark)

CASES = Path(__file__).resolve().parent.parent / "tests" / "cases"


def load_requests() -> list[dict]:
    requests = [yaml.safe_load(path.read_text())["request"] for path in sorted(CASES.glob("*.yaml"))]
    if not requests:
        raise SystemExit(f"no review cases in {CASES}")
    return requests


def pure(requests: list[dict], count: int) -> dict:
    from priorauth.codes import icd10_status
    from priorauth.codes.nppes import check_digit_status
    from priorauth.review import pipeline
    from priorauth.review.engine import extractor
    from priorauth.review.schemas import PriorAuthRequest
    from priorauth.timeutil import utcnow

    started = time.perf_counter()
    icd10_status("M17.11")
    icd_s = time.perf_counter() - started
    started = time.perf_counter()
    nlp = extractor()
    nlp_s = time.perf_counter() - started
    prepared = [PriorAuthRequest(**r).model_dump() for r in requests]
    for request in prepared:  # one warm-up pass over every case
        pipeline.run(str(uuid.uuid4()), request, check_digit_status(request["provider_npi"]), nlp, utcnow(),
                     utcnow)
    latencies = []
    begin = time.perf_counter()
    for i in range(count):
        request = prepared[i % len(prepared)]
        t0 = time.perf_counter()
        pipeline.run(str(uuid.uuid4()), request, check_digit_status(request["provider_npi"]), nlp, utcnow(),
                     utcnow)
        latencies.append((time.perf_counter() - t0) * 1000)
    return {"load_s": {"icd10": round(icd_s, 2), "extractor": round(nlp_s, 2)},
            **lifecycle.latency_stats(latencies, time.perf_counter() - begin)}


async def http(url: str, secret: str, requests: list[dict], count: int, concurrency: int) -> dict:
    latencies, errors = [], []
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as client:
        for request in requests:  # warm-up
            (await client.post("/api/review", json=request)).raise_for_status()
        todo = iter(range(count))

        async def worker() -> None:
            for i in todo:
                t0 = time.perf_counter()
                r = await client.post("/api/review", json=requests[i % len(requests)])
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")

        begin = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - begin
    return {"concurrency": concurrency, "errors": len(errors), "error_samples": errors[:5],
            **lifecycle.latency_stats(latencies, elapsed)}


async def serve_and_measure(args: argparse.Namespace, requests: list[dict]) -> list[dict]:
    async def measure(url: str, secret: str) -> list[dict]:
        results = [await http(url, secret, requests, args.requests, 1)]
        if args.concurrency > 1:
            results.append(await http(url, secret, requests, args.requests, args.concurrency))
        return results

    return await lifecycle.with_server(args.database, args.database_url, args.workers, args.force_reset, measure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="measured reviews per run (default 300)")
    parser.add_argument("--concurrency", type=int, default=8, help="reviews in flight for the throughput run")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default=lifecycle.DEFAULT_PG_URL)
    parser.add_argument("--force-reset", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    requests = load_requests()
    result = {"cases": len(requests), "pure_pipeline": pure(requests, args.requests),
              "http": asyncio.run(serve_and_measure(args, requests)), "database": args.database,
              "workers": args.workers, "machine": lifecycle.machine_info()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    p = result["pure_pipeline"]
    print(f"priorauth review benchmark — {len(requests)} cases cycled, {args.requests} reviews per run, "
          f"{args.database}, {args.workers} worker(s)")
    print(f"load once: ICD-10-CM {p['load_s']['icd10']} s, clinical extractor {p['load_s']['extractor']} s")
    print(f"pure pipeline           p50 {p['p50_ms']:7.2f} ms  p99 {p['p99_ms']:7.2f} ms  {p['per_s']:7.1f} reviews/s")
    for h in result["http"]:
        print(f"POST /api/review c={h['concurrency']:<3} p50 {h['p50_ms']:7.2f} ms  p99 {h['p99_ms']:7.2f} ms  "
              f"{h['per_s']:7.1f} reviews/s  errors {h['errors']}")
        for sample in h["error_samples"]:
            print(f"    {sample}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
