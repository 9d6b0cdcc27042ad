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
    secret: str  # read from <data dir>/first-admin-secret, where `serve` writes it
    data_dir: Path
    output: str  # what `serve` printed before it started listening


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
    """Start `priorauth serve`, wait until it listens and answers /health, read its first client's id (printed)
    and secret (from its file); stop it (SIGTERM) at the end."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "priorauth", "serve", "--port", str(port)],
                            env=environment(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    try:
        deadline = time.monotonic() + 60
        while "priorauth on http" not in output and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            output += line
        client_id = re.search(r"client id:\s+(\S+)", output)
        secret_file = data_dir / "first-admin-secret"
        assert client_id and secret_file.exists(), f"serve made no first client:\n{output}"
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Served(base, client_id.group(1), secret_file.read_text().strip(), data_dir, output)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
