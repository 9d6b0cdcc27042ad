"""`priorauth serve` as a real process on a fresh data dir (embedded SQLite), reached over TCP."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Served:
    base: str  # http://127.0.0.1:<port>
    client_id: str  # the admin client `serve` creates on its first start
    secret: str
    data_dir: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(data_dir: Path) -> dict[str, str]:
    """This process's environment without its database settings, with data_dir as the data dir."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PRIORAUTH_DATABASE_URL")}
    env["PRIORAUTH_DATA_DIR"] = str(data_dir)
    return env


@contextmanager
def serve(data_dir: Path) -> Iterator[Served]:
    """Start `priorauth serve`, wait for its first client's secret and /health, stop it (SIGTERM) at the end."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "priorauth", "serve", "--port", str(port)],
                            env=environment(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    try:
        found: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while "secret" not in found and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            output += line
            if match := re.search(r"(client id|secret):\s+(\S+)", line):
                found[match.group(1)] = match.group(2)
        assert "secret" in found, f"serve did not print a first client secret:\n{output}"
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Served(base, found["client id"], found["secret"], data_dir)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
