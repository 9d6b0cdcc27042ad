#!/usr/bin/env python3
"""Lifecycle benchmark for priorauth: create -> patch -> submit -> approve, over real HTTP.

Standalone: stdlib + httpx (+ asyncpg only to reset PostgreSQL). By default it starts its own
`priorauth serve` on a free 127.0.0.1 port with a fresh data dir (and, for PostgreSQL, a freshly
reset database), creates an admin API client with `priorauth clients create`, runs a warm-up,
then N measured lifecycles with concurrency C, prints latency percentiles per call, throughput and
the server's peak RSS, and stops the server (SIGTERM, then SIGKILL) however the run ends.

    python bench/lifecycle.py                                  # SQLite, 1 worker
    python bench/lifecycle.py --database postgresql            # PostgreSQL, 2 workers
    python bench/lifecycle.py --database postgresql --workers 1 --cases 500 --concurrency 32
    python bench/lifecycle.py --url http://127.0.0.1:8000 --secret pa_sk_...   # a running server
    python bench/lifecycle.py --json > result.json

Everything it talks to is on the loopback interface; every loop is bounded in count and time.
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import ipaddress
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
A = "/v1/prior-auth/authorizations"
CALLS = ("create", "patch", "submit", "approve")

# ---- request bodies: the sample case the tests and examples/lifecycle.sh use -----------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TKA_CASE = json.loads((EXAMPLES / "tka-case.json").read_text())
TKA_ANSWERS = json.loads((EXAMPLES / "tka-answers.json").read_text())["answers"]

APPROVAL = {"type": "approval", "certificationNumber": "CERT-BENCH", "approvedStartDate": "2026-12-01",
            "approvedEndDate": "2027-02-28", "approvalExpiresAt": "2027-03-01T00:00:00Z"}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# ---- loopback guard ------------------------------------------------------------------------------------------

def require_loopback(host: str | None, what: str) -> None:
    if host in ("localhost",):
        return
    try:
        if host and ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise BenchError(f"{what} must be on 127.0.0.1 (got host {host!r}); this benchmark only targets loopback")


# ---- server process tree and peak RSS ------------------------------------------------------------------------

def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ... ; comm may contain spaces/parentheses, so split after the last ')'
        try:
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(root: int) -> list[int]:
    children = _children_map()
    out, stack = [], [root]
    while stack and len(out) < 10_000:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def _status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class RssSampler:
    """Samples VmHWM (peak RSS) of every process in the server tree; keeps each pid's highest value."""

    def __init__(self, root_pid: int, interval: float = 0.5):
        self.root_pid = root_pid
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> None:
        for pid in process_tree(self.root_pid):
            hwm = _status_kb(pid, "VmHWM")
            if hwm is None:
                continue
            if hwm > self.peaks.get(pid, 0):
                self.peaks[pid] = hwm
            if pid not in self.names:
                self.names[pid] = _cmdline(pid)[:120]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)

    def result(self) -> dict:
        per = sorted(self.peaks.items(), key=lambda kv: -kv[1])
        return {
            "tree_sum_mb": round(sum(self.peaks.values()) / 1024, 1),
            "largest_process_mb": round(per[0][1] / 1024, 1) if per else None,
            "processes": [{"pid": pid, "vmhwm_mb": round(kb / 1024, 1), "cmd": self.names.get(pid, "")}
                          for pid, kb in per],
        }


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over all cores (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user/nice
    return (total - idle) / _CLK_TCK, total / _CLK_TCK


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of the live processes in a tree, plus what their reaped children used."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in rest[11:15])  # utime stime cutime cstime
        except (OSError, ValueError, IndexError):
            continue
    return total / _CLK_TCK


def self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class CpuMeter:
    """CPU used during the measured phase by the server tree, by this benchmark client, and by the
    whole machine; 'other' is what neither used (other programs sharing the machine skew figures)."""

    def __init__(self, server_pid: int | None, db_pid: int | None = None):
        self.server_pid = server_pid
        self.db_pid = db_pid  # the PostgreSQL postmaster, when local and visible

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.machine0 = machine_cpu_s()[0]
        self.server0 = tree_cpu_s(self.server_pid) if self.server_pid else None
        self.db0 = tree_cpu_s(self.db_pid) if self.db_pid else None
        self.client0 = self_cpu_s()

    def stop(self) -> dict:
        wall = time.perf_counter() - self.t0
        machine = machine_cpu_s()[0] - self.machine0
        server = tree_cpu_s(self.server_pid) - self.server0 if self.server_pid else None
        client = self_cpu_s() - self.client0
        db = tree_cpu_s(self.db_pid) - self.db0 if self.db_pid else None
        other = machine - client - (server or 0.0) - (db or 0.0)
        cores = os.cpu_count() or 1
        return {
            "wall_s": round(wall, 2), "cores": cores,
            "machine_busy_pct": round(100 * machine / (wall * cores), 1),
            "server_cpu_s": None if server is None else round(server, 2),
            "server_cores_used": None if server is None else round(server / wall, 2),
            "client_cpu_s": round(client, 2), "client_cores_used": round(client / wall, 2),
            "database_cpu_s": None if db is None else round(db, 2),
            "database_cores_used": None if db is None else round(db / wall, 2),
            "other_cpu_s": round(max(other, 0.0), 2), "other_cores_used": round(max(other, 0.0) / wall, 2),
        }


def pid_listening_on(port: int) -> int | None:
    """Best effort: the pid owning the 127.0.0.1:<port> listening socket (for --url mode)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] == "0A" and int(parts[1].split(":")[1], 16) == port:
                        inodes.add(parts[9])
        except (OSError, StopIteration):
            continue
    if not inodes:
        return None
    owners = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                link = os.readlink(f"/proc/{entry}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    owners.append(int(entry))
                    break
        except OSError:
            continue
    if not owners:
        return None
    # With several workers they all share the socket; the root of the tree is the one whose parent isn't an owner.
    owner_set = set(owners)
    for pid in owners:
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid not in owner_set:
            return pid
    return min(owners)


# ---- the server we start --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def priorauth_command() -> list[str]:
    beside = Path(sys.executable).parent / "priorauth"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("priorauth")
    if found:
        return [found]
    return [sys.executable, "-c", "from priorauth.cli import app; app()"]


def asyncpg_dsn(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise BenchError(f"not a PostgreSQL URL: {url}")
    return urlunsplit(("postgresql",) + tuple(parts)[1:])


async def reset_postgres(url: str, force: bool) -> None:
    import asyncpg  # only needed for --database postgresql

    dsn = asyncpg_dsn(url)
    conn = await asyncio.wait_for(asyncpg.connect(dsn), timeout=15)
    try:
        others = await conn.fetch(
            "SELECT pid, application_name, state FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        if others and not force:
            raise BenchError(
                f"{len(others)} other session(s) are connected to database {urlsplit(url).path.lstrip('/')!r} "
                "(a test run or another server?); not dropping its schema. Stop them or pass --force-reset.")
        await conn.execute("DROP SCHEMA public CASCADE")
        await conn.execute("CREATE SCHEMA public")
    finally:
        await conn.close()


_ACTIVE_SERVERS: list["Server"] = []  # stopped again in main()'s finally, whatever happened in the loop

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Server:
    """`priorauth serve` in its own process group, stopped with SIGTERM then SIGKILL."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="priorauth-bench-"))
        self.log_path = self.data_dir / "server.log"
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self.env = dict(os.environ)
        self.env.update({"PRIORAUTH_LOG_LEVEL": "WARNING", "PRIORAUTH_DATA_DIR": str(self.data_dir),
                         "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1"})
        self.env.pop("PRIORAUTH_DATABASE_URL", None)
        if args.database == "postgresql":
            self.env["DATABASE_URL"] = args.database_url
        else:
            self.env.pop("DATABASE_URL", None)

    def create_client(self) -> str:
        cmd = priorauth_command() + ["clients", "create", "--org", "bench", "--name", "bench", "--role", "admin",
                                     "--data-dir", str(self.data_dir)]
        try:
            done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise BenchError("`priorauth clients create` did not finish in 120 s") from exc
        out = _ANSI.sub("", done.stdout)
        match = re.search(r"secret:\s*(\S+)", out)
        if done.returncode != 0 or not match:
            raise BenchError(f"`priorauth clients create` failed (exit {done.returncode}):\n{out}\n{done.stderr[-2000:]}")
        return match.group(1)

    def start(self) -> None:
        cmd = priorauth_command() + ["serve", "--host", "127.0.0.1", "--port", str(self.port),
                                     "--workers", str(self.args.workers), "--data-dir", str(self.data_dir)]
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _ACTIVE_SERVERS.append(self)
        log(f"server pid {self.proc.pid}: {' '.join(cmd)}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    async def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise BenchError(f"server exited with {self.proc.returncode} before /health answered:\n"
                                     f"{self.log_tail()}")
                try:
                    r = await client.get(self.url + "/health")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise BenchError(f"server not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self in _ACTIVE_SERVERS:
            _ACTIVE_SERVERS.remove(self)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            pgid = proc.pid  # start_new_session=True: the server leads its own process group
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log("server did not stop on SIGTERM in 15 s; sending SIGKILL")
            try:
                os.killpg(pgid, signal.SIGKILL)  # also reaps any worker left behind in the group
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if not self.args.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


async def with_server(database: str, database_url: str | None, workers: int, force_reset: bool, measure):
    """Run `measure(url, secret)` against a fresh `priorauth serve` (PostgreSQL reset first), then stop it."""
    server = Server(argparse.Namespace(database=database, database_url=database_url, workers=workers,
                                       keep_data=False))
    try:
        if database == "postgresql":
            await reset_postgres(database_url, force_reset)
        secret = server.create_client()
        server.start()
        await server.wait_healthy(120)
        return await measure(server.url, secret)
    finally:
        server.stop()


# ---- the lifecycle ---------------------------------------------------------------------------------------------

@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CALLS})
    errors: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CALLS})
    error_samples: list[str] = field(default_factory=list)
    completed: int = 0
    failed: int = 0
    requests: int = 0

    def error(self, call: str, msg: str) -> None:
        self.errors[call] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{call}: {msg}")


def _describe(r: httpx.Response) -> str:
    return f"HTTP {r.status_code} {r.text[:300]}"


async def _call(client: httpx.AsyncClient, stats: Stats, call: str, method: str, path: str, **kw):
    t0 = time.perf_counter()
    try:
        r = await client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        stats.requests += 1
        stats.error(call, f"{type(exc).__name__}: {exc}")
        return None
    stats.latencies[call].append((time.perf_counter() - t0) * 1000.0)
    stats.requests += 1
    return r


async def lifecycle(client: httpx.AsyncClient, stats: Stats, run_id: str, n: int) -> bool:
    body = copy.deepcopy(TKA_CASE)
    body["externalId"] = f"bench-{run_id}-{n}"

    r = await _call(client, stats, "create", "POST", A, json=body)
    if r is None:
        return False
    try:
        auth = r.json()
        ok = (r.status_code == 201 and auth.get("workflowState") == "needs_input" and auth.get("version") == 1)
    except ValueError:
        ok = False
    if not ok:
        stats.error("create", _describe(r))
        return False
    auth_id = auth["id"]

    r = await _call(client, stats, "patch", "PATCH", f"{A}/{auth_id}", json={"answers": TKA_ANSWERS},
                    headers={"If-Match": "1"})
    if r is None:
        return False
    try:
        p = r.json()
        ok = r.status_code == 200 and p.get("workflowState") == "ready_to_submit" and not p.get("validationIssues")
    except ValueError:
        ok = False
    if not ok:
        stats.error("patch", _describe(r))
        return False

    r = await _call(client, stats, "submit", "POST", f"{A}/{auth_id}/submit",
                    headers={"Idempotency-Key": f"bench-submit-{auth_id}"})
    if r is None:
        return False
    try:
        s = r.json()
        artifacts = (s.get("submission") or {}).get("artifacts") or {}
        ok = (r.status_code == 200 and s.get("workflowState") == "pending_payer"
              and s.get("decisionState") == "pending"
              and set(artifacts) == {"filled_form", "cover_sheet", "submission_packet"})
    except (ValueError, AttributeError, TypeError):
        ok = False
    if not ok:
        stats.error("submit", _describe(r))
        return False

    r = await _call(client, stats, "approve", "POST", f"/v1/sandbox/prior-auth/authorizations/{auth_id}/payer-events",
                    json=APPROVAL)
    if r is None:
        return False
    try:
        d = r.json()
        ok = r.status_code == 200 and (d.get("workflowState"), d.get("decisionState")) == ("completed", "approved")
    except ValueError:
        ok = False
    if not ok:
        stats.error("approve", _describe(r))
        return False
    return True


async def run_batch(client: httpx.AsyncClient, cases: int, concurrency: int, deadline: float, run_id: str,
                    stats: Stats, progress: bool) -> tuple[float, bool]:
    """Run `cases` lifecycles with `concurrency` workers; returns (elapsed seconds, hit the deadline)."""
    next_index = 0
    timed_out = False
    last_report = time.monotonic()

    async def worker() -> None:
        nonlocal next_index, timed_out, last_report
        while True:
            if next_index >= cases:
                return
            if time.monotonic() > deadline:
                timed_out = True
                return
            n = next_index
            next_index += 1
            if await lifecycle(client, stats, run_id, n):
                stats.completed += 1
            else:
                stats.failed += 1
            if progress and time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                log(f"  {stats.completed + stats.failed}/{cases} lifecycles done")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, cases)))))
    return time.perf_counter() - t0, timed_out


# ---- reporting -------------------------------------------------------------------------------------------------

def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def latency_stats(latencies_ms: list[float], elapsed: float) -> dict:
    """Count, p50/p99/max in ms and calls per second of one measured run (for bench/review.py, bench/gates.py)."""
    ordered = sorted(latencies_ms)
    return {"count": len(ordered), "p50_ms": round(percentile(ordered, 50), 2),
            "p99_ms": round(percentile(ordered, 99), 2), "max_ms": round(ordered[-1], 2),
            "per_s": round(len(ordered) / elapsed, 1)}


def summarize(stats: Stats, elapsed: float) -> dict:
    calls = {}
    for call in CALLS:
        values = sorted(stats.latencies[call])
        calls[call] = {
            "count": len(values), "errors": stats.errors[call],
            "p50_ms": percentile(values, 50), "p90_ms": percentile(values, 90),
            "p99_ms": percentile(values, 99), "max_ms": values[-1] if values else None,
            "mean_ms": sum(values) / len(values) if values else None,
        }
    return {
        "calls": calls,
        "lifecycles_completed": stats.completed,
        "lifecycles_failed": stats.failed,
        "requests": stats.requests,
        "errors": sum(stats.errors.values()),
        "elapsed_s": elapsed,
        "lifecycles_per_s": stats.completed / elapsed if elapsed > 0 else None,
        "requests_per_s": stats.requests / elapsed if elapsed > 0 else None,
        "error_samples": stats.error_samples,
    }


def _fmt(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def print_table(result: dict) -> None:
    cfg, s, rss = result["config"], result["summary"], result.get("server_peak_rss")
    print(f"priorauth lifecycle benchmark — {cfg['database']}, {cfg['workers'] or '?'} worker(s), "
          f"{cfg['cases']} cases, concurrency {cfg['concurrency']}, warm-up {cfg['warmup']}")
    headers = ["call", "count", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"]
    rows = [[call, str(c["count"]), str(c["errors"]), _fmt(c["p50_ms"]), _fmt(c["p90_ms"]), _fmt(c["p99_ms"]),
             _fmt(c["max_ms"])] for call, c in s["calls"].items()]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(headers))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(r)))
    pairs = [
        ("lifecycles completed", f"{s['lifecycles_completed']} ({s['lifecycles_failed']} failed)"),
        ("requests", f"{s['requests']} ({s['errors']} errors)"),
        ("elapsed", f"{s['elapsed_s']:.2f} s"),
        ("lifecycles/s", _fmt(s["lifecycles_per_s"], 2)),
        ("requests/s", _fmt(s["requests_per_s"], 1)),
    ]
    if rss:
        pairs.append(("server peak RSS", f"{rss['tree_sum_mb']} MB (process tree, sum of VmHWM; largest process "
                                         f"{rss['largest_process_mb']} MB, {len(rss['processes'])} processes)"))
    else:
        pairs.append(("server peak RSS", "unknown (server pid not found)"))
    cpu = result.get("cpu")
    if cpu:
        server = "?" if cpu["server_cores_used"] is None else f"{cpu['server_cores_used']:.2f}"
        database = "" if cpu["database_cores_used"] is None else f"PostgreSQL {cpu['database_cores_used']:.2f}, "
        pairs.append(("CPU (cores busy)", f"server {server}, {database}bench client {cpu['client_cores_used']:.2f}, "
                                          f"other programs {cpu['other_cores_used']:.2f} "
                                          f"(machine {cpu['machine_busy_pct']}% of {cpu['cores']} cores)"))
    if result.get("timed_out"):
        pairs.append(("note", f"stopped at the --max-seconds limit ({cfg['max_seconds']} s)"))
    width = max(len(k) for k, _ in pairs)
    print()
    for k, v in pairs:
        print(f"{k.ljust(width)}  {v}")
    if s["error_samples"]:
        print("\nfirst errors:")
        for e in s["error_samples"]:
            print(f"  {e}")


# ---- main ------------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="priorauth lifecycle benchmark (create, patch, submit, approve).")
    p.add_argument("--cases", type=int, default=300, help="measured lifecycles (default 300)")
    p.add_argument("--concurrency", type=int, default=16, help="lifecycles in flight (default 16)")
    p.add_argument("--warmup", type=int, default=20, help="uncounted lifecycles first (default 20)")
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--database-url", default=None,
                   help=f"PostgreSQL URL for --database postgresql (default {DEFAULT_PG_URL}); its public "
                        "schema is DROPPED and recreated")
    p.add_argument("--force-reset", action="store_true",
                   help="reset the PostgreSQL database even if other sessions are connected to it")
    p.add_argument("--workers", type=int, default=None,
                   help="uvicorn processes (default 1 for sqlite, 2 for postgresql)")
    p.add_argument("--url", default=None, help="benchmark an already-running server instead (needs --secret)")
    p.add_argument("--secret", default=None,
                   help="API secret for --url: an admin client (it plays the sandbox payer), or any client of an "
                        "organization with the sandbox on")
    p.add_argument("--server-pid", type=int, default=None,
                   help="with --url: the server's pid for peak RSS (default: the owner of the listening port)")
    p.add_argument("--request-timeout", type=float, default=60.0, help="per-request timeout, seconds")
    p.add_argument("--startup-timeout", type=float, default=90.0, help="seconds to wait for /health")
    p.add_argument("--max-seconds", type=float, default=900.0,
                   help="stop starting new lifecycles after this long (default 900)")
    p.add_argument("--keep-data", action="store_true", help="keep the temporary data dir (server.log, SQLite)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of the table")
    args = p.parse_args(argv)
    if args.cases < 1 or args.cases > 1_000_000:
        p.error("--cases must be between 1 and 1000000")
    if args.concurrency < 1 or args.concurrency > 1024:
        p.error("--concurrency must be between 1 and 1024")
    if args.warmup < 0 or args.warmup > 100_000:
        p.error("--warmup must be between 0 and 100000")
    if args.workers is None and args.url is None:
        args.workers = 1 if args.database == "sqlite" else 2
    if args.workers is not None and not 1 <= args.workers <= 64:
        p.error("--workers must be between 1 and 64")
    if args.url and not args.secret:
        p.error("--url needs --secret")
    if args.database == "postgresql" and args.database_url is None:
        args.database_url = os.environ.get("PRIORAUTH_BENCH_DATABASE_URL") or DEFAULT_PG_URL
    return args


def machine_info() -> dict:
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
            "platform": platform.platform()}


async def amain(args: argparse.Namespace) -> dict:
    server: Server | None = None
    sampler: RssSampler | None = None
    try:
        if args.url:
            parts = urlsplit(args.url)
            require_loopback(parts.hostname, "--url")
            base_url, secret = args.url.rstrip("/"), args.secret
            pid = args.server_pid or (pid_listening_on(parts.port or 80))
        else:
            if args.database == "postgresql":
                require_loopback(urlsplit(args.database_url).hostname, "--database-url")
                log(f"resetting PostgreSQL schema public at {args.database_url}")
                await reset_postgres(args.database_url, args.force_reset)
            server = Server(args)
            log(f"data dir {server.data_dir}; creating an admin client")
            secret = server.create_client()
            server.start()
            base_url = server.url
            pid = server.proc.pid
        if not args.url:
            await server.wait_healthy(args.startup_timeout)
        else:
            async with httpx.AsyncClient(timeout=5.0) as c:
                r = await c.get(base_url + "/health")
                if r.status_code != 200:
                    raise BenchError(f"{base_url}/health answered {r.status_code}")
        log(f"server healthy at {base_url}")
        if pid:
            sampler = RssSampler(pid)
            sampler.start()

        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        headers = {"Authorization": f"Bearer {secret}"}
        run_id = uuid.uuid4().hex[:8]
        deadline = time.monotonic() + args.max_seconds
        async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits,
                                     timeout=args.request_timeout) as client:
            if args.warmup:
                log(f"warm-up: {args.warmup} lifecycles")
                warm = Stats()
                await run_batch(client, args.warmup, args.concurrency, deadline, run_id + "w", warm, False)
                if warm.failed:
                    log(f"warm-up had {warm.failed} failed lifecycle(s): {warm.error_samples[:3]}")
                    if warm.completed == 0:
                        raise BenchError(f"every warm-up lifecycle failed: {warm.error_samples[:5]}")
            log(f"measuring: {args.cases} lifecycles, concurrency {args.concurrency}")
            stats = Stats()
            db_pid = None
            if args.database == "postgresql" and not args.url:
                db_pid = pid_listening_on(urlsplit(args.database_url).port or 5432)
            meter = CpuMeter(pid, db_pid)
            meter.start()
            elapsed, timed_out = await run_batch(client, args.cases, args.concurrency, deadline, run_id, stats, True)
            cpu = meter.stop()

        rss = None
        if sampler is not None:
            sampler.stop()
            rss = sampler.result()
            sampler = None
        return {
            "config": {"database": args.database if not args.url else "external", "workers": args.workers,
                       "cases": args.cases, "concurrency": args.concurrency, "warmup": args.warmup,
                       "max_seconds": args.max_seconds, "url": base_url if args.url else "(own server)"},
            "machine": machine_info(),
            "summary": summarize(stats, elapsed),
            "server_peak_rss": rss,
            "cpu": cpu,
            "timed_out": timed_out,
        }
    finally:
        if sampler is not None:
            sampler.stop()
        if server is not None:
            if args.keep_data:
                log(f"keeping {server.data_dir}")
            server.stop()
            log("server stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_sigterm(signum, frame):  # turn SIGTERM into an exception so the server is still stopped
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        result = asyncio.run(amain(args))
    except KeyboardInterrupt:
        log("interrupted; server stopped")
        return 130
    except BenchError as exc:
        log(f"error: {exc}")
        return 2
    finally:
        for server in list(_ACTIVE_SERVERS):
            server.stop()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0 if result["summary"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
