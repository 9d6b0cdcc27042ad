"""The error envelope of the lifecycle face, and the handlers that make every failure use it.

`{"error": {"code", "message", "retryable", "details", "issues"}, "requestId"}`
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


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
    415: "unsupported_media_type", 422: "validation_failed", 429: "rate_limited",
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
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return envelope(request, exc.status, exc.code, exc.message, retryable=exc.retryable,
                        details=exc.details, issues=exc.issues, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return envelope(request, 400, "invalid_json", "The request body is not valid JSON.",
                            issues=issues_from(errors))
        return envelope(request, 422, "validation_failed", "The request is invalid.",
                        issues=issues_from(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route for {request.method} {request.url.path}"
        return envelope(request, exc.status_code, code, message,
                        retryable=exc.status_code in (429, 503), headers=getattr(exc, "headers", None))
