"""The error shapes of the faces, and the handlers that make every failure use its face's shape.

The lifecycle face: `{"error": {"code", "message", "retryable", "details", "issues"}, "requestId"}`.
The review face (`/api/...`) keeps FastAPI's `{"detail": ...}`, as its reference document shows.
The workflow control plane (`/api/v1/...`): `{"error": {"code": "UPPER_SNAKE", "message", ...fields}}`.
When the database cannot be reached, every face answers 503 in its shape with `retryable: true`.
"""
from __future__ import annotations

import math
import socket
from typing import Any

import structlog
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from priorauth import db

log = structlog.get_logger("priorauth.http")
UNAVAILABLE_MESSAGE = "The database is unavailable; try again shortly."
RETRY_AFTER = {"Retry-After": "5"}  # seconds


# --- the shapes, as schemas for /openapi.json -------------------------------------------------------

class Issue(BaseModel):
    path: str
    message: str
    type: str | None = None


class LifecycleErrorBody(BaseModel):
    code: str
    message: str
    retryable: bool
    details: dict[str, Any]
    issues: list[Issue]


class LifecycleError(BaseModel):
    """The lifecycle face's error envelope (`/v1/...`)."""

    error: LifecycleErrorBody
    requestId: str


class ReviewError(BaseModel):
    """The review face's error (`/api/...`): FastAPI's `detail`, a message or the validation errors."""

    model_config = ConfigDict(extra="allow")
    detail: str | list[dict[str, Any]]


class WorkflowErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")  # the fields each code names, e.g. `field`, `issues`
    code: str
    message: str


class WorkflowError(BaseModel):
    """The workflow control plane's error (`/api/v1/...`), an UPPER_SNAKE code as AxonFlow spells it."""

    error: WorkflowErrorBody


def error_model(path: str) -> type[BaseModel]:
    """The error schema of the face that serves `path`."""
    return WorkflowError if coded_face(path) else ReviewError if detail_face(path) else LifecycleError


def responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: the error statuses it answers beyond the ones every route can (apidocs adds
    those, and each face's envelope as the body)."""
    return {status: {"description": text} for status, text in described.items()}


def binary(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route that answers bytes of one of `media_types`."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"description": description, "content": {kind: {"schema": schema} for kind in media_types}}}


def validation_status(path: str) -> int:
    """What a request that fails validation answers on the face of `path` (the workflow face says 400)."""
    return 400 if coded_face(path) else 422


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        details: dict[str, Any] | None = None,
        issues: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retryable, self.details, self.issues = retryable, details or {}, issues or []
        self.headers = headers


class DetailError(Exception):
    """A failure on a `{"detail": ...}` face, with its HTTP status."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class CodedError(Exception):
    """A failure on the workflow face: an UPPER_SNAKE code and the fields its reference names."""

    def __init__(self, status: int, code: str, message: str, /, **fields: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def coded_face(path: str) -> bool:
    return path.startswith("/api/v1/")


def detail_face(path: str) -> bool:
    return path.startswith("/api/") and not coded_face(path)


def coded_body(code: str, message: str, /, **fields: Any) -> dict:
    return {"error": {"code": code, "message": message, **fields}}


def _coded(status: int, code: str, message: str, headers: dict[str, str] | None = None, /,
           **fields: Any) -> JSONResponse:
    return JSONResponse(coded_body(code, message, **fields), status_code=status, headers=headers)


def _detail(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _echo(value: Any, depth: int = 0) -> Any:
    """The offending input as strict JSON: NaN and Infinity as text, undecodable bytes replaced, and
    nesting cut at 20 levels (a deeply nested body must not exhaust the stack)."""
    if depth > 20:
        return "..."
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    if isinstance(value, dict):
        return {_echo(str(k)): _echo(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_echo(v, depth + 1) for v in value]
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return str(value)


def _fastapi_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors in the reference's shape: type, loc, msg, input (no ctx or url)."""
    return [{"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg"), "input": _echo(e.get("input"))}
            for e in errors]


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"{kind} {ident!r} was not found", details={"resource": kind})


def envelope(request: Request, status: int, code: str, message: str, *, retryable: bool = False,
             details: dict | None = None, issues: list | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body = {
        "error": {"code": code, "message": message, "retryable": retryable,
                  "details": details or {}, "issues": issues or []},
        "requestId": request_id,
    }
    return JSONResponse(body, status_code=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_failed", 429: "rate_limited", 503: "service_unavailable",
}


def issues_from(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors as `{path, message, type}` issues; `path` like `providers[0].identifiers[1].value`."""
    issues = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if loc[:1] == ["body"]:
            loc = loc[1:]
        path = ""
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        issues.append({"path": path or "body", "message": err.get("msg", "invalid"), "type": err.get("type")})
    return issues


def install(app: FastAPI) -> None:
    # What a lost database raises: SQLAlchemy's wrappers, its pool timeout, and the drivers' network errors.
    for kind in (sa_exc.DBAPIError, sa_exc.TimeoutError, ConnectionError, socket.gaierror, TimeoutError):
        app.add_exception_handler(kind, _database_unavailable)

    @app.exception_handler(CodedError)
    async def _coded_error(request: Request, exc: CodedError) -> JSONResponse:
        return _coded(exc.status, exc.code, exc.message, None, **exc.fields)

    @app.exception_handler(DetailError)
    async def _detail_error(request: Request, exc: DetailError) -> JSONResponse:
        return _detail(exc.status, exc.detail)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        if detail_face(request.url.path):
            return _detail(exc.status, exc.message, exc.headers)
        if coded_face(request.url.path):
            return _coded(exc.status, exc.code.upper(), exc.message, exc.headers)
        return envelope(request, exc.status, exc.code, exc.message, retryable=exc.retryable,
                        details=exc.details, issues=exc.issues, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if detail_face(request.url.path):
            return _detail(422, _fastapi_errors(errors))
        if coded_face(request.url.path):
            return _coded(400, "VALIDATION_ERROR", "The request is invalid.", None,
                          issues=[{"field": i["path"], "message": i["message"]} for i in issues_from(errors)])
        if any(e.get("type") == "json_invalid" for e in errors):
            return envelope(request, 400, "invalid_json", "The request body is not valid JSON.",
                            issues=issues_from(errors))
        return envelope(request, 422, "validation_failed", "The request is invalid.",
                        issues=issues_from(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if detail_face(request.url.path):
            return _detail(exc.status_code, exc.detail, getattr(exc, "headers", None))
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route for {request.method} {request.url.path}"
        if coded_face(request.url.path):
            return _coded(exc.status_code, code.upper(), message, getattr(exc, "headers", None))
        return envelope(request, exc.status_code, code, message,
                        retryable=exc.status_code in (429, 503), headers=getattr(exc, "headers", None))


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if not db.unavailable(exc):
        raise exc  # a real fault (bad SQL, a constraint): the middleware's 500
    # Type names only: a driver's message can quote SQL parameters (PHI) or the server's address.
    log.error("database_unavailable", error_type=type(exc).__name__,
              cause=type(db.root_cause(exc)).__name__, request_id=getattr(request.state, "request_id", None))
    if detail_face(request.url.path):
        return JSONResponse({"detail": UNAVAILABLE_MESSAGE, "retryable": True}, 503, headers=RETRY_AFTER)
    if coded_face(request.url.path):
        return _coded(503, "SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE, RETRY_AFTER, retryable=True)
    return envelope(request, 503, "service_unavailable", UNAVAILABLE_MESSAGE, retryable=True, headers=RETRY_AFTER)
