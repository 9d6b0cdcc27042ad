"""`priorauth serve` as a real process on a fresh data dir (embedded SQLite), reached over TCP."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
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
    log: list[str]  # every line it has printed so far (its access and error log included)


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
    and secret (from its file); stop it (SIGTERM) at the end. Its output is read all along (an unread pipe
    would fill with the access log and stop the server) and kept in `Served.output` as it was at start."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "priorauth", "serve", "--port", str(port)],
                            env=environment(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("priorauth on http" in line for line in lines) and time.monotonic() < deadline:
            assert proc.poll() is None, "serve exited:\n" + "".join(lines)
            time.sleep(0.05)
        output = "".join(lines)
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
        yield Served(base, client_id.group(1), secret_file.read_text().strip(), data_dir, output, lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        reader.join(5)


def cli_client(data_dir: Path, role: str, organization: str = "default") -> str:
    """A new API client made with `priorauth clients create` on data_dir's database; its secret."""
    done = subprocess.run([sys.executable, "-m", "priorauth", "clients", "create", "--org", organization, "--name", role,
                           "--role", role], env=environment(data_dir), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return re.search(r"secret:\s+(\S+)", done.stdout).group(1)
