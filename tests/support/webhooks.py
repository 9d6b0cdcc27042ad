"""Webhook test helpers: a real receiver on a real port, and checks of what it received.

The receiver is a small ASGI app served by uvicorn in a background thread; Standard Webhooks
signatures are checked with the `standardwebhooks` library, `akute` ones with a plain HMAC here.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from contextlib import contextmanager

import uvicorn
from standardwebhooks.webhooks import Webhook

W = "/v1/webhooks/endpoints"


async def read_body(receive) -> bytes:
    """The whole body of an ASGI request."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


class Receiver:
    """Records every request; per path it can fail every n-th request or all of them."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_every: dict[str, int] = {}
        self.always_fail: set[str] = set()
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        body = await read_body(receive)
        path = scope["path"]
        with self._lock:
            n = self._counts[path] = self._counts.get(path, 0) + 1
            every = self.fail_every.get(path)
            status = 500 if path in self.always_fail or (every and n % every == 0) else 200
            self.requests.append({"path": path, "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                                  "body": body, "status": status})
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"patient Jane Doe" if status >= 400 else b"ok"})

    def accepted(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path and r["status"] == 200]


@contextmanager
def serving(app):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def fake_dns(names: dict[str, list[str]]):
    """A getaddrinfo stand-in answering from `names` (host -> addresses; change it to re-point a name);
    an unknown name fails as DNS does."""
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port, 0, 0) if ":" in a else (a, port)) for a in names[host]]
    return getaddrinfo


async def eventually(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def verify_standard(secret: str, request: dict) -> dict:
    return Webhook(secret).verify(request["body"], request["headers"])


def verify_akute(secret: str, request: dict) -> dict:
    header = request["headers"]["x-akute-signature"]
    fields = [item.split("=", 1) for item in header.split(",")]
    timestamp = next(v for k, v in fields if k == "t")
    assert abs(int(timestamp) - time.time()) < 300
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert any(k == "v1" and hmac.compare_digest(v, expected) for k, v in fields), "bad akute signature"
    return json.loads(request["body"])


async def subscribe(client, url: str, **fields) -> dict:
    response = await client.post(W, json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()
