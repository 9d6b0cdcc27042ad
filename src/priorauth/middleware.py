"""Outermost ASGI middleware: request ids, body-size limits, response headers that keep PHI out of
caches and browsers' content sniffing, access log, last-resort 500 envelope.

Written as plain ASGI (not BaseHTTPMiddleware) because it sits on every request's hot path.
"""
from __future__ import annotations

import json
import re
import time
import traceback
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException

from priorauth.errors import coded_body, coded_face, detail_face

log = structlog.get_logger("priorauth.http")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _error_body(request_id: str, path: str, status: int, code: str, message: str, retryable: bool) -> bytes:
    if detail_face(path):
        return json.dumps({"detail": message}).encode()
    if coded_face(path):
        return json.dumps(coded_body(code.upper(), message)).encode()
    return json.dumps({
        "error": {"code": code, "message": message, "retryable": retryable, "details": {}, "issues": []},
        "requestId": request_id,
    }).encode()


def code_location(exc: BaseException) -> list[str]:
    """Where an exception was raised, as file:line frames. Never its message: database errors quote
    the SQL parameters, which can be PHI."""
    return [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)][-8:]


def _protective(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Almost every response carries PHI (cases, files, PDFs, reviews, events) or a secret, so none may
    be stored by a browser or proxy, and none may be run as another type than the one it declares
    (a stored file is served as the type sniffed from its bytes). A route that sets its own
    Cache-Control keeps it: only the static assets of the API pages do."""
    names = {name.lower() for name, _ in headers}
    added = [] if b"cache-control" in names else [(b"cache-control", b"no-store")]
    return added + ([] if b"x-content-type-options" in names else [(b"x-content-type-options", b"nosniff")])


class RequestContextMiddleware:
    def __init__(self, app: Any, *, max_json_bytes: int, max_upload_bytes: int, upload_prefixes: tuple[str, ...]):
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_prefixes = upload_prefixes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        # fullmatch, not match: `$` would also accept a trailing newline and echo it into a header.
        request_id = given if _SAFE_REQUEST_ID.fullmatch(given) else f"req_{uuid.uuid4().hex}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 0}

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                message["headers"] = headers + [(b"x-request-id", request_id.encode())] + _protective(headers)
            await send(message)

        async def reply(status: int, code: str, message: str, retryable: bool = False) -> None:
            body = _error_body(request_id, scope["path"], status, code, message, retryable)
            await send_with_id({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        query = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            # No id or parameter of ours contains NUL, and PostgreSQL rejects it in any text value (a 500).
            await reply(400, "bad_request", "The URL must not contain a NUL character (%00).")
            return

        limit = self.max_upload_bytes if scope["path"].startswith(self.upload_prefixes) else self.max_json_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await reply(413, "payload_too_large", f"The request body exceeds the limit of {limit} bytes.")
            return

        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # A Starlette HTTPException, not ApiError: FastAPI re-raises only that type from body
                    # parsing and turns anything else into "400 There was an error parsing the body".
                    raise StarletteHTTPException(413, f"The request body exceeds the limit of {limit} bytes.")
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception as exc:  # the app's own handlers missed it; answer in the envelope anyway
            if status_holder["status"] == 0:
                log.error("unhandled_error", error_type=type(exc).__name__, request_id=request_id,
                          where=code_location(exc))
                await reply(500, "internal_error", "An unexpected error occurred.", True)
        finally:
            route = scope.get("route")
            log.info("request", method=scope["method"], route=getattr(route, "path", None) or "unmatched",
                     status=status_holder["status"], ms=round((time.perf_counter() - started) * 1000, 2),
                     request_id=request_id)
