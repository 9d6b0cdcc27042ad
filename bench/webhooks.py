#!/usr/bin/env python3
"""Webhook delivery benchmark for priorauth: end-to-end latency and deliveries/s, black-box.

Starts `priorauth serve` (HTTP API only: PRIORAUTH_WORKER_ENABLED=false), W separate `python -m
priorauth worker` processes on the same database (they fan events out and deliver them), and a
receiver in its own process (uvicorn + a bare ASGI app on a free loopback port) that answers 204 and
records each request's arrival time. One endpoint (or --endpoints K) is subscribed to ["*"].

1. latency: authorizations are created and patched over HTTP at a steady --rate (events/s) for
   --seconds while the workers deliver; latency = arrival at the receiver (time.time()) minus the
   payload's `createdAt` (the event's timestamp, stamped in its transaction; same machine clock).
2. throughput: the workers are stopped, a backlog of --backlog events is created over HTTP, then W
   workers are started and the time until the receiver has every delivery is measured.

A sample of the received requests is checked with the Standard Webhooks signature of its endpoint.

    python bench/webhooks.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/priorauth_bench
    python bench/webhooks.py --workers 4 --rate 200 --backlog 10000
    python bench/webhooks.py --database sqlite             # 1 worker process
    python bench/webhooks.py --database sqlite --workers 0  # the worker inside `serve` (latency only)
    python bench/webhooks.py --env PRIORAUTH_WORKER_POLL_SECONDS=0.1 --json

Everything is on loopback; every wait is bounded (--max-seconds); every process it started is
stopped (SIGTERM, then SIGKILL) on success, error or Ctrl-C.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import hashlib
import hmac
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lifecycle  # noqa: E402  (server management, loopback guard, CPU meters and percentiles)

A = lifecycle.A
TARGET_P50_MS = 100.0
TARGET_PER_S = 500.0
log = lifecycle.log
BenchError = lifecycle.BenchError


# ---- the receiver (runs in its own process: `webhooks.py --receiver PORT`) ------------------------------------

def receiver_app():
    """A bare ASGI app: POST /hook/<k> -> 204 and a record; GET /count; GET /stats?sample=N."""
    records: list[tuple[float, str, bytes, list]] = []  # (arrival, path, body, raw headers)

    async def reply(send, status: int, body: bytes = b"", ctype: bytes = b"application/json") -> None:
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())] if body else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def stats(sample: int) -> bytes:
        every = max(1, len(records) // sample) if sample > 0 else 0
        out = []
        for i, (arrival, path, body, headers) in enumerate(records):
            item = {"arrival": arrival, "path": path}
            try:
                payload = json.loads(body)
                item.update(id=payload.get("id"), createdAt=payload.get("createdAt"), type=payload.get("type"),
                            authId=((payload.get("data") or {}).get("authorization") or {}).get("id"))
            except (ValueError, AttributeError):
                item["unparsable"] = True
            hdrs = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
            item["webhookId"] = hdrs.get("webhook-id")
            if every and i % every == 0:
                item["body"] = body.decode("utf-8", errors="surrogateescape")
                item["headers"] = hdrs
            out.append(item)
        return json.dumps({"count": len(records), "records": out}).encode()

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        arrival = time.time()
        path, method = scope["path"], scope["method"]
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if method == "POST" and path.startswith("/hook/"):
            records.append((arrival, path, b"".join(chunks), scope["headers"]))
            await reply(send, 204)
        elif method == "GET" and path == "/count":
            await reply(send, 200, json.dumps({"count": len(records)}).encode())
        elif method == "GET" and path == "/stats":
            query = dict(p.split("=", 1) for p in scope.get("query_string", b"").decode().split("&") if "=" in p)
            await reply(send, 200, stats(int(query.get("sample", "0") or 0)))
        else:
            await reply(send, 404)

    return app


def run_receiver(port: int) -> None:
    import uvicorn

    fast = {}
    if importlib.util.find_spec("uvloop"):
        fast["loop"] = "uvloop"
    if importlib.util.find_spec("httptools"):
        fast["http"] = "httptools"
    uvicorn.run(receiver_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="on", server_header=False, date_header=False, backlog=4096, **fast)


# ---- processes we start ---------------------------------------------------------------------------------------

_PROCS: list["Proc"] = []  # stopped again in main()'s finally, whatever happened


class Proc:
    """A child in its own process group (so its whole tree is stopped): SIGTERM, then SIGKILL."""

    def __init__(self, name: str, cmd: list[str], env: dict, log_path: Path):
        self.name, self.cmd, self.env, self.log_path = name, cmd, env, log_path
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> "Proc":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _PROCS.append(self)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        if self in _PROCS:
            _PROCS.remove(self)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    log(f"{self.name} did not stop on {sig.name} in {wait} s")
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything left in its group
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None


def stop_all(procs: list[Proc]) -> None:
    """SIGTERM every process first, so they stop in parallel, then wait for each."""
    for p in procs:
        if p.alive():
            try:
                os.killpg(p.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in procs:
        p.stop()


# ---- CPU busy over a phase ------------------------------------------------------------------------------------

class Cpu:
    """CPU seconds per process group (trees), this client, PostgreSQL and the rest of the machine."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self.t0 = time.perf_counter()
        self.machine0 = lifecycle.machine_cpu_s()[0]
        self.client0 = lifecycle.self_cpu_s()
        self.start = {k: sum(lifecycle.tree_cpu_s(p) for p in pids) for k, pids in groups.items()}

    def stop(self, groups: dict[str, list[int]] | None = None) -> dict:
        """`groups` again at the end (processes started during the phase count from 0)."""
        wall = time.perf_counter() - self.t0
        groups = groups or self.groups
        used = {k: sum(lifecycle.tree_cpu_s(p) for p in pids) - self.start.get(k, 0.0) for k, pids in groups.items()}
        used["bench client"] = lifecycle.self_cpu_s() - self.client0
        machine = lifecycle.machine_cpu_s()[0] - self.machine0
        used["other programs"] = max(0.0, machine - sum(used.values()))
        cores = os.cpu_count() or 1
        return {"wall_s": round(wall, 2), "cores": cores, "machine_busy_pct": round(100 * machine / (wall * cores), 1),
                "cores_used": {k: round(v / wall, 2) for k, v in used.items()}}


# ---- load: create + patch authorizations over HTTP -------------------------------------------------------------

class Producer:
    """One unit = create an authorization, then patch its answers (each commits events)."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id
        self.errors: list[str] = []
        self.n = 0

    async def unit(self, tag: str) -> tuple[str | None, int]:
        """Returns (authorization id, requests that committed: 0, 1 or 2)."""
        self.n += 1
        body = copy.deepcopy(lifecycle.TKA_CASE)
        body["externalId"] = f"whbench-{self.run_id}-{tag}-{self.n}"
        try:
            r = await self.client.post(A, json=body)
            if r.status_code != 201:
                self.errors.append(f"create: HTTP {r.status_code} {r.text[:200]}")
                return None, 0
            auth_id = r.json()["id"]
            r = await self.client.patch(f"{A}/{auth_id}", json={"answers": lifecycle.TKA_ANSWERS},
                                        headers={"If-Match": "1"})
            if r.status_code != 200:
                self.errors.append(f"patch: HTTP {r.status_code} {r.text[:200]}")
                return auth_id, 1
            return auth_id, 2
        except Exception as exc:  # noqa: BLE001 (count and go on; the run reports errors)
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return None, 0

    async def paced(self, units_per_s: float, seconds: float, deadline: float, tag: str,
                    max_in_flight: int = 64) -> dict:
        """Open loop: unit i starts at t0 + i / rate (later only if max_in_flight are still running)."""
        done: list[tuple[str | None, int]] = []
        total = max(1, int(units_per_s * seconds))
        sem = asyncio.Semaphore(max_in_flight)
        tasks, lagged = [], 0

        async def one() -> None:
            try:
                done.append(await self.unit(tag))
            finally:
                sem.release()

        t0 = last_start = time.perf_counter()
        for i in range(total):
            delay = t0 + i / units_per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.05:
                lagged += 1
            if time.monotonic() > deadline:
                break
            await sem.acquire()
            last_start = time.perf_counter()
            tasks.append(asyncio.create_task(one()))
        # the span over which units were started (what the rate is about), and until the last one finished
        span = last_start - t0 + 1 / units_per_s
        await asyncio.gather(*tasks)
        return {"results": done, "elapsed": time.perf_counter() - t0, "span": span, "lagged": lagged}

    async def burst(self, units: int, concurrency: int, deadline: float, tag: str) -> dict:
        done: list[tuple[str | None, int]] = []
        todo = iter(range(units))

        async def worker() -> None:
            for _ in todo:
                if time.monotonic() > deadline:
                    return
                done.append(await self.unit(tag))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return {"results": done, "elapsed": time.perf_counter() - t0}


# ---- the run --------------------------------------------------------------------------------------------------

def created_ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def verify_standard(secret: str, headers: dict, body: str) -> bool:
    """Standard Webhooks (the `standardwebhooks` package when installed, else the same HMAC by hand)."""
    try:
        from standardwebhooks import Webhook
    except ImportError:
        Webhook = None
    if Webhook is not None:
        try:
            Webhook(secret).verify(body, {k: headers[k] for k in ("webhook-id", "webhook-timestamp",
                                                                  "webhook-signature")})
            return True
        except Exception:  # noqa: BLE001 (any failure is a bad signature)
            return False
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(s.split(",", 1)[1], expected)
               for s in headers.get("webhook-signature", "").split() if s.startswith("v1,"))


def latency_summary(values_ms: list[float]) -> dict:
    ordered = sorted(values_ms)
    if not ordered:
        return {"count": 0}
    pct = lifecycle.percentile
    return {"count": len(ordered), "p50_ms": round(pct(ordered, 50), 1), "p90_ms": round(pct(ordered, 90), 1),
            "p99_ms": round(pct(ordered, 99), 1), "max_ms": round(ordered[-1], 1),
            "min_ms": round(ordered[0], 1), "mean_ms": round(sum(ordered) / len(ordered), 1)}


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.server: lifecycle.Server | None = None
        self.receiver: Proc | None = None
        self.workers: list[Proc] = []
        self.secrets: dict[str, str] = {}  # receiver path -> endpoint secret
        self.expected = 0  # deliveries the receiver should have so far (cumulative)
        self.events_per_create = self.events_per_patch = 0
        self.deadline = time.monotonic() + args.max_seconds
        self.producer_errors: list[str] = []
        self.endpoint_ids: list[str] = []
        self.fanned_out: dict[str, float] = {}  # delivery id -> when its row was written (latency phase)
        self.event_types: list[str] = []

    # -- processes

    def worker_cmd(self) -> list[str]:
        return [sys.executable, "-m", "priorauth", "worker", "--data-dir", str(self.server.data_dir)]

    def start_workers(self) -> None:
        for i in range(self.args.workers):
            p = Proc(f"worker {i}", self.worker_cmd(), self.server.env, self.server.data_dir / f"worker-{i}.log")
            self.workers.append(p.start())
        log(f"started {len(self.workers)} worker process(es): pids {[w.pid for w in self.workers]}")

    def stop_workers(self) -> None:
        stop_all(self.workers)
        self.workers = []

    def check_alive(self) -> None:
        if self.server and self.server.proc and self.server.proc.poll() is not None:
            raise BenchError(f"server exited with {self.server.proc.returncode}:\n{self.server.log_tail()}")
        for w in self.workers:
            if not w.alive():
                raise BenchError(f"{w.name} exited with {w.proc.returncode}:\n{w.tail()}")
        if self.receiver and not self.receiver.alive():
            raise BenchError(f"receiver exited:\n{self.receiver.tail()}")

    def groups(self) -> dict[str, list[int]]:
        g = {"server": [self.server.proc.pid], "workers": [w.pid for w in self.workers],
             "receiver": [self.receiver.pid]}
        if self.args.database == "postgresql":
            pg = lifecycle.pid_listening_on(urlsplit(self.args.database_url).port or 5432)
            if pg:
                g["postgresql"] = [pg]
        return g

    async def start(self) -> tuple[str, str]:
        a = self.args
        if a.database == "postgresql":
            lifecycle.require_loopback(urlsplit(a.database_url).hostname, "--database-url")
            log(f"resetting PostgreSQL schema public at {a.database_url}")
            await lifecycle.reset_postgres(a.database_url, a.force_reset)
        self.server = lifecycle.Server(argparse.Namespace(database=a.database, database_url=a.database_url,
                                                          workers=a.server_workers, keep_data=a.keep_data))
        env = self.server.env
        env["PRIORAUTH_WORKER_ENABLED"] = "true" if a.workers == 0 else "false"
        env["PRIORAUTH_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver is on 127.0.0.1 (SSRF guard loosened)
        env.update(a.env_pairs)
        log(f"data dir {self.server.data_dir}")
        port = lifecycle.free_port()
        self.receiver = Proc("receiver", [sys.executable, str(Path(__file__).resolve()), "--receiver", str(port)],
                             dict(os.environ, PYTHONUNBUFFERED="1"), self.server.data_dir / "receiver.log").start()
        self.receiver_url = f"http://127.0.0.1:{port}"
        secret = self.server.create_client()
        self.server.start()
        await self.server.wait_healthy(a.startup_timeout)
        async with lifecycle.httpx.AsyncClient(timeout=2) as c:
            end = time.monotonic() + 30
            while True:
                self.check_alive()
                try:
                    if (await c.get(self.receiver_url + "/count")).status_code == 200:
                        break
                except lifecycle.httpx.HTTPError:
                    pass
                if time.monotonic() > end:
                    raise BenchError(f"receiver did not answer in 30 s:\n{self.receiver.tail()}")
                await asyncio.sleep(0.1)
        self.start_workers()
        return self.server.url, secret

    # -- receiver

    async def received(self, rc) -> int:
        return (await rc.get(self.receiver_url + "/count")).json()["count"]

    async def wait_delivered(self, rc, timeout: float, quiet: float = 1.0) -> tuple[bool, float | None]:
        """Wait until the receiver holds self.expected deliveries (or timeout); poll every 20 ms."""
        end = min(time.monotonic() + timeout, self.deadline)
        last_report = time.monotonic()
        while True:
            n = await self.received(rc)
            if n >= self.expected:
                return True, time.time()
            self.check_alive()
            if time.monotonic() > end:
                log(f"gave up waiting: receiver has {n} of {self.expected} deliveries")
                return False, None
            if time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                log(f"  receiver has {n}/{self.expected} deliveries")
            await asyncio.sleep(0.02)

    def count(self, results: list[tuple[str | None, int]]) -> int:
        """Events committed by these units (from the calibrated events per create / patch)."""
        return sum({0: 0, 1: self.events_per_create, 2: self.events_per_create + self.events_per_patch}[n]
                   for _, n in results)

    async def delivery_log(self, client, newest: int) -> dict[str, float]:
        """Delivery id -> the delivery row's createdAt (written in the event's transaction), for the newest deliveries of
        the first endpoint, from GET .../deliveries (newest first, 100 a page)."""
        out: dict[str, float] = {}
        endpoint = self.endpoint_ids[0]
        cursor = None
        for _ in range(min(200, newest // 100 + 2)):
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            r = await client.get(f"/v1/webhooks/endpoints/{endpoint}/deliveries", params=params)
            if r.status_code != 200:
                log(f"delivery log: HTTP {r.status_code}; no write / send split")
                return {}
            page = r.json()
            for d in page["data"]:
                if d.get("createdAt"):
                    out[d["id"]] = created_ts(d["createdAt"])
            cursor = (page.get("pagination") or {}).get("nextCursor")
            if not cursor or len(out) >= newest:
                break
        return out

    # -- phases

    async def calibrate(self, client, producer: Producer) -> None:
        """Events per create and per patch, from one authorization's event log."""
        body = copy.deepcopy(lifecycle.TKA_CASE)
        body["externalId"] = f"whbench-{producer.run_id}-calibrate"
        r = await client.post(A, json=body)
        if r.status_code != 201:
            raise BenchError(f"create failed: HTTP {r.status_code} {r.text[:500]}")
        auth_id = r.json()["id"]
        events = lambda resp: resp.json()["data"]  # noqa: E731
        self.events_per_create = len(events(await client.get(f"{A}/{auth_id}/events", params={"limit": 100})))
        r = await client.patch(f"{A}/{auth_id}", json={"answers": lifecycle.TKA_ANSWERS}, headers={"If-Match": "1"})
        if r.status_code != 200:
            raise BenchError(f"patch failed: HTTP {r.status_code} {r.text[:500]}")
        types = [e["type"] for e in events(await client.get(f"{A}/{auth_id}/events", params={"limit": 100}))]
        self.events_per_patch = len(types) - self.events_per_create
        self.event_types = types
        self.expected += len(types) * self.args.endpoints
        log(f"one unit (create + patch) commits {len(types)} events: {', '.join(types)}")

    async def run(self) -> dict:
        a = self.args
        url, secret = await self.start()
        httpx = lifecycle.httpx
        limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=60,
                                     limits=limits) as client, httpx.AsyncClient(timeout=30) as rc:
            for k in range(a.endpoints):
                path = f"/hook/{k}"
                r = await client.post("/v1/webhooks/endpoints", json={
                    "url": self.receiver_url + path, "description": f"bench receiver {k}", "eventTypes": ["*"]})
                if r.status_code != 201:
                    raise BenchError(f"subscribing failed: HTTP {r.status_code} {r.text[:500]}")
                self.secrets[path] = r.json()["secret"]
                self.endpoint_ids.append(r.json()["id"])
            producer = Producer(client, uuid.uuid4().hex[:8])
            self.producer_errors = producer.errors
            await self.calibrate(client, producer)
            per_unit = self.events_per_create + self.events_per_patch

            # warm-up: every process has served and delivered before anything is measured
            warm = await producer.burst(a.warmup, 4, self.deadline, "warm")
            self.expected += self.count(warm["results"]) * a.endpoints
            log(f"warm-up: {a.warmup} units; waiting for {self.expected} deliveries")
            ok, _ = await self.wait_delivered(rc, 60)
            if not ok:
                raise BenchError("warm-up deliveries did not all arrive in 60 s (see the worker logs)")

            # phase 1: latency under a steady rate
            units_per_s = a.rate / per_unit
            log(f"latency phase: {a.rate} events/s ({units_per_s:.1f} create+patch/s) for {a.seconds} s")
            cpu = Cpu(self.groups())
            paced = await producer.paced(units_per_s, a.seconds, self.deadline, "lat")
            produced = self.count(paced["results"])
            self.expected += produced * a.endpoints
            complete, _ = await self.wait_delivered(rc, a.drain_timeout)
            lat_cpu = cpu.stop()
            self.fanned_out = await self.delivery_log(client, produced)
            lat_auths = {auth for auth, _ in paced["results"] if auth}
            latency = {"events": produced, "deliveries_expected": produced * a.endpoints,
                       "produce_s": round(paced["span"], 2), "produce_until_last_response_s": round(paced["elapsed"], 2),
                       "events_per_s": round(produced / paced["span"], 1), "units_started_late": paced["lagged"],
                       "all_arrived": complete, "cpu": lat_cpu}

            throughput = None
            if a.workers > 0 and a.backlog > 0:
                log("throughput phase: stopping the workers, building the backlog")
                self.stop_workers()
                units = math.ceil(a.backlog / per_unit)
                t0 = time.perf_counter()
                burst = await producer.burst(units, a.concurrency, self.deadline, "tp")
                build_s = time.perf_counter() - t0
                early = await self.received(rc) - self.expected  # should be 0: no worker was running
                events = self.count(burst["results"])
                log(f"backlog: {events} events in {build_s:.1f} s ({events / build_s:.0f} events/s over HTTP); "
                    f"starting {a.workers} worker(s)")
                self.expected += events * a.endpoints
                cpu = Cpu(self.groups())
                spawn = time.time()
                self.start_workers()
                complete_tp, _ = await self.wait_delivered(rc, a.drain_timeout + 600)
                tp_cpu = cpu.stop(self.groups())
                tp_auths = {auth for auth, _ in burst["results"] if auth}
                throughput = {"events": events, "deliveries_expected": events * a.endpoints,
                              "backlog_build_s": round(build_s, 2), "received_before_workers_started": early,
                              "all_arrived": complete_tp, "workers_spawned_at": spawn, "cpu": tp_cpu}

            stats = (await rc.get(self.receiver_url + "/stats", params={"sample": a.verify_sample},
                                  timeout=120)).json()
        return self.report(stats, latency, lat_auths, throughput, tp_auths if throughput else set())

    def report(self, stats: dict, latency: dict, lat_auths: set, throughput: dict | None, tp_auths: set) -> dict:
        a = self.args
        records = stats["records"]
        # signatures
        checked = good = 0
        bad: list[str] = []
        for r in records:
            if "body" in r:
                checked += 1
                if verify_standard(self.secrets.get(r["path"], ""), r["headers"], r["body"]):
                    good += 1
                elif len(bad) < 3:
                    bad.append(f"{r['path']} {r.get('webhookId')}")
        ids = [r.get("webhookId") for r in records]
        dupes = len(ids) - len(set(ids))

        lat_ms, lat_seen, by_type, fan_ms, send_ms = [], set(), {}, [], []
        tp_arrivals, tp_seen = [], set()
        for r in records:
            if r.get("unparsable") or not r.get("createdAt"):
                continue
            key = r.get("webhookId")
            if r.get("authId") in lat_auths and key not in lat_seen:
                lat_seen.add(key)
                created = created_ts(r["createdAt"])
                lat_ms.append((r["arrival"] - created) * 1000)
                by_type.setdefault(r.get("type"), []).append(lat_ms[-1])
                if key in self.fanned_out:
                    fan_ms.append((self.fanned_out[key] - created) * 1000)
                    send_ms.append((r["arrival"] - self.fanned_out[key]) * 1000)
            elif r.get("authId") in tp_auths and key not in tp_seen:
                tp_seen.add(key)
                tp_arrivals.append(r["arrival"])
        latency["latency"] = latency_summary(lat_ms)
        latency["by_event_type"] = {t: latency_summary(v) for t, v in by_type.items()}
        # From the delivery log: event createdAt -> delivery row written (same transaction), -> receiver (send).
        latency["split_from_delivery_log"] = {"event_to_fanout": latency_summary(fan_ms),
                                              "fanout_to_receiver": latency_summary(send_ms)}
        latency["deliveries_received"] = len(lat_seen)
        if throughput is not None:
            tp_arrivals.sort()
            n = len(tp_arrivals)
            spawn = throughput.pop("workers_spawned_at")
            if n:
                first, last = tp_arrivals[0] - spawn, tp_arrivals[-1] - spawn
                throughput.update({
                    "deliveries_received": n,
                    "first_delivery_after_spawn_s": round(first, 2),
                    "last_delivery_after_spawn_s": round(last, 2),
                    "per_s_including_startup": round(n / last, 1) if last > 0 else None,
                    "per_s_first_to_last": round((n - 1) / (last - first), 1) if n > 1 and last > first else None,
                })
            else:
                throughput["deliveries_received"] = 0
        env = {k: v for k, v in sorted(self.server.env.items()) if k.startswith("PRIORAUTH_")
               and k not in ("PRIORAUTH_DATA_DIR",)}
        return {
            "config": {"database": a.database, "worker_processes": a.workers, "server_workers": a.server_workers,
                       "endpoints": a.endpoints, "rate_events_per_s": a.rate, "seconds": a.seconds,
                       "backlog_events": a.backlog, "backlog_concurrency": a.concurrency, "warmup_units": a.warmup,
                       "events_per_unit": self.events_per_create + self.events_per_patch,
                       "event_types_per_unit": self.event_types, "env": env,
                       "receiver": "uvicorn " + ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
                                   + "/" + ("httptools" if importlib.util.find_spec("httptools") else "h11")},
            "machine": lifecycle.machine_info(),
            "latency_phase": latency,
            "throughput_phase": throughput,
            "signatures": {"checked": checked, "valid": good, "invalid_samples": bad},
            "received_total": stats["count"], "duplicate_deliveries": dupes,
            "http_errors": len(self.producer_errors), "http_error_samples": self.producer_errors[:5],
            "targets": {"p50_ms": TARGET_P50_MS, "deliveries_per_s": TARGET_PER_S},
        }


# ---- output ---------------------------------------------------------------------------------------------------

def _met(ok: bool | None) -> str:
    return "?" if ok is None else ("met" if ok else "NOT met")


def print_table(res: dict) -> None:
    cfg, lat, tp = res["config"], res["latency_phase"], res["throughput_phase"]
    workers = f"{cfg['worker_processes']} worker process(es)" if cfg["worker_processes"] else "the worker inside serve"
    print(f"priorauth webhook benchmark — {cfg['database']}, {workers}, "
          f"{cfg['endpoints']} endpoint(s), serve --workers {cfg['server_workers']}")
    print(f"one unit = create + patch = {cfg['events_per_unit']} events ({', '.join(cfg['event_types_per_unit'])})")
    if cfg["env"]:
        print("env: " + " ".join(f"{k}={v}" for k, v in cfg["env"].items()))
    L = lat["latency"]
    print(f"\n1. latency (event createdAt → receiver), {lat['events']} events at {lat['events_per_s']} events/s "
          f"for {lat['produce_s']} s, {L.get('count', 0)}/{lat['deliveries_expected']} deliveries received")
    if L.get("count"):
        print(f"   p50 {L['p50_ms']:8.1f} ms   target < {TARGET_P50_MS:.0f} ms: {_met(L['p50_ms'] < TARGET_P50_MS)}")
        for k in ("p90", "p99", "max", "mean"):
            print(f"   {k:4} {L[k + '_ms']:7.1f} ms")
    if lat["events_per_s"] < 0.9 * cfg["rate_events_per_s"]:
        print(f"   NOTE: asked for {cfg['rate_events_per_s']} events/s, the API produced only {lat['events_per_s']}/s "
              f"({lat['units_started_late']} units started late): the machine was saturated; try a lower --rate")
    for t, v in lat["by_event_type"].items():
        if v.get("count"):
            print(f"   {t:40} p50 {v['p50_ms']:7.1f}  p99 {v['p99_ms']:7.1f} ms  ({v['count']})")
    split = lat["split_from_delivery_log"]
    for name, label in (("event_to_fanout", "event → delivery row (commit of its transaction)"),
                        ("fanout_to_receiver", "delivery row → receiver (claim, send)")):
        v = split[name]
        if v.get("count"):
            print(f"   {label:40} p50 {v['p50_ms']:7.1f}  p99 {v['p99_ms']:7.1f} ms  ({v['count']}, delivery log)")
    print(f"   CPU: {_cpu(lat['cpu'])}")
    if tp:
        print(f"\n2. throughput: backlog of {tp['events']} events ({tp['deliveries_expected']} deliveries, built over "
              f"HTTP in {tp['backlog_build_s']} s), then {cfg['worker_processes']} worker process(es) started")
        if tp.get("deliveries_received"):
            per_s = tp["per_s_first_to_last"]
            print(f"   deliveries/s, first to last delivery   {_f(per_s):>8}   target ≥ {TARGET_PER_S:.0f}/s: "
                  f"{_met(None if per_s is None else per_s >= TARGET_PER_S)}")
            print(f"   deliveries/s, from worker spawn        {_f(tp['per_s_including_startup']):>8}   "
                  f"(includes process start, imports, migrations check)")
            print(f"   first delivery {tp['first_delivery_after_spawn_s']} s after spawn, last "
                  f"{tp['last_delivery_after_spawn_s']} s; {tp['deliveries_received']}/{tp['deliveries_expected']} "
                  "received")
        print(f"   CPU: {_cpu(tp['cpu'])}")
    elif cfg["worker_processes"] == 0:
        print("\n2. throughput: skipped (needs worker processes, which the bench stops while it builds the backlog)")
    s = res["signatures"]
    print(f"\nsignatures: {s['valid']}/{s['checked']} sampled deliveries verify (Standard Webhooks)"
          + (f"; invalid: {s['invalid_samples']}" if s["invalid_samples"] else ""))
    print(f"received {res['received_total']} requests, {res['duplicate_deliveries']} duplicate webhook-id(s); "
          f"{res['http_errors']} API error(s)")
    for e in res["http_error_samples"]:
        print(f"   {e}")


def _f(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def _cpu(cpu: dict) -> str:
    parts = ", ".join(f"{k} {v:.2f}" for k, v in cpu["cores_used"].items() if v or k != "workers")
    return f"cores busy: {parts} (machine {cpu['machine_busy_pct']}% of {cpu['cores']} cores over {cpu['wall_s']} s)"


# ---- main -----------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    p.add_argument("--database-url", default=None,
                   help=f"PostgreSQL URL (default $PRIORAUTH_BENCH_DATABASE_URL or {lifecycle.DEFAULT_PG_URL}); "
                        "its public schema is DROPPED and recreated")
    p.add_argument("--force-reset", action="store_true",
                   help="reset the PostgreSQL database even if other sessions are connected to it")
    p.add_argument("--workers", type=int, default=None,
                   help="`priorauth worker` processes (default 2 on PostgreSQL, 1 on SQLite; 0 = the worker "
                        "inside `serve`, latency phase only)")
    p.add_argument("--server-workers", type=int, default=None,
                   help="`priorauth serve --workers` (default 2 on PostgreSQL, 1 on SQLite)")
    p.add_argument("--endpoints", type=int, default=1, help="subscribed endpoints, all on the receiver (default 1)")
    p.add_argument("--rate", type=float, default=100.0, help="latency phase: events/s produced (default 100)")
    p.add_argument("--seconds", type=float, default=20.0, help="latency phase: seconds of load (default 20)")
    p.add_argument("--backlog", type=int, default=5000, help="throughput phase: events (default 5000; 0 = skip)")
    p.add_argument("--concurrency", type=int, default=16, help="HTTP requests in flight building the backlog")
    p.add_argument("--warmup", type=int, default=20, help="uncounted create+patch units first (default 20)")
    p.add_argument("--verify-sample", type=int, default=200, help="deliveries whose signature is checked")
    p.add_argument("--drain-timeout", type=float, default=120.0,
                   help="seconds to wait for the last deliveries after a phase")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for serve and the workers (e.g. PRIORAUTH_WORKER_POLL_SECONDS=0.1)")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--max-seconds", type=float, default=900.0, help="bound on the whole run (default 900)")
    p.add_argument("--keep-data", action="store_true", help="keep the data dir (server, worker, receiver logs)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of the table")
    p.add_argument("--receiver", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.receiver is not None:
        return a
    if a.workers is None:
        a.workers = 2 if a.database == "postgresql" else 1
    if a.server_workers is None:
        a.server_workers = 2 if a.database == "postgresql" else 1
    checks = [(0 <= a.workers <= 32, "--workers must be 0..32"), (1 <= a.server_workers <= 32, "--server-workers"),
              (1 <= a.endpoints <= 100, "--endpoints must be 1..100"), (0 < a.rate <= 100_000, "--rate"),
              (0 < a.seconds <= 3600, "--seconds"), (0 <= a.backlog <= 1_000_000, "--backlog"),
              (1 <= a.concurrency <= 512, "--concurrency"), (0 <= a.warmup <= 10_000, "--warmup")]
    for ok, msg in checks:
        if not ok:
            p.error(f"{msg} out of range")
    a.env_pairs = {}
    for item in a.env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("PRIORAUTH_"):
            p.error(f"--env wants PRIORAUTH_KEY=VALUE, got {item!r}")
        a.env_pairs[key] = value
    if a.database == "postgresql" and a.database_url is None:
        a.database_url = os.environ.get("PRIORAUTH_BENCH_DATABASE_URL") or lifecycle.DEFAULT_PG_URL
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.receiver is not None:
        run_receiver(args.receiver)
        return 0

    def on_sigterm(signum, frame):  # an exception, so every process is still stopped
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    bench = Bench(args)
    try:
        result = asyncio.run(bench.run())
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except BenchError as exc:
        log(f"error: {exc}")
        return 2
    finally:
        stop_all(list(bench.workers) + list(_PROCS))
        if bench.server is not None:
            bench.server.stop()
        log("processes stopped")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    lat = result["latency_phase"]
    ok = (result["signatures"]["valid"] == result["signatures"]["checked"] > 0 and lat["all_arrived"]
          and (result["throughput_phase"] is None or result["throughput_phase"]["all_arrived"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
