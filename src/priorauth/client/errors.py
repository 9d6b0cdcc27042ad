"""Errors of the workflow control plane, one class per `error.code` a caller may want to catch.

The server answers `{"error": {"code": "UPPER_SNAKE", "message": "...", ...fields}}`. Anything else
(an HTML page from a proxy, an empty body) still becomes a `WorkflowApiError` carrying the HTTP status.
"""
from __future__ import annotations

import json
from typing import Any

import httpx


class WorkflowApiError(Exception):
    """A refused or failed call. `body` is the parsed JSON body, or the raw text when it was not JSON."""

    def __init__(self, status: int, code: str | None, message: str, body: Any = None):
        super().__init__(f"{status} {code or 'HTTP_ERROR'}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body

    @property
    def details(self) -> dict[str, Any]:
        """The fields of the `error` object besides code and message (empty when the body had none)."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if not isinstance(error, dict):
            return {}
        return {k: v for k, v in error.items() if k not in ("code", "message")}


class AuthenticationError(WorkflowApiError):
    """401: missing or wrong credentials."""


class PermissionDeniedError(WorkflowApiError):
    """403: the credential lacks the role or the license feature."""


class NotFoundError(WorkflowApiError):
    """404: no such workflow, step, policy or route (another tenant's ids look the same)."""


class InvalidRequestError(WorkflowApiError):
    """400: the request was refused as invalid; `issues` lists `{field, message}` when the server named them."""

    @property
    def issues(self) -> list[dict[str, Any]]:
        issues = self.details.get("issues")
        return issues if isinstance(issues, list) else []


class InvalidPolicyError(InvalidRequestError):
    """400 INVALID_POLICY: `field` names the offending part, e.g. `conditions[0].operator`."""

    @property
    def field(self) -> str | None:
        return self.details.get("field")


class ConflictError(WorkflowApiError):
    """409: the workflow or step is not in a state that allows the call (see `code`)."""


class IdempotencyKeyError(ConflictError):
    """409 about an idempotency key: the key pinned on the step and the one this call sent."""

    @property
    def expected_idempotency_key(self) -> str | None:
        return self.details.get("expected_idempotency_key")

    @property
    def received_idempotency_key(self) -> str | None:
        return self.details.get("received_idempotency_key")

    @property
    def workflow_id(self) -> str | None:
        return self.details.get("workflow_id")

    @property
    def step_id(self) -> str | None:
        return self.details.get("step_id")


class IdempotencyKeyMismatchError(IdempotencyKeyError):
    """409 IDEMPOTENCY_KEY_MISMATCH: the step is pinned to another key; the call was refused before any effect."""


class IdempotencyKeyReusedError(IdempotencyKeyError):
    """409 IDEMPOTENCY_KEY_REUSED: the key already belongs to a step of `other_workflow_id`."""

    @property
    def other_workflow_id(self) -> str | None:
        return self.details.get("other_workflow_id")


_BY_CODE: dict[str, type[WorkflowApiError]] = {
    "UNAUTHORIZED": AuthenticationError,
    "FORBIDDEN": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "VALIDATION_ERROR": InvalidRequestError,
    "MISSING_USER_ID": InvalidRequestError,
    "INVALID_POLICY": InvalidPolicyError,
    "IDEMPOTENCY_KEY_MISMATCH": IdempotencyKeyMismatchError,
    "IDEMPOTENCY_KEY_REUSED": IdempotencyKeyReusedError,
}

# When the code is unknown or missing (a proxy's page, a newer server), the status still says what happened.
_BY_STATUS: dict[int, type[WorkflowApiError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
}


def _parse_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        return response.text


def error_from_response(response: httpx.Response) -> WorkflowApiError:
    """The error for a non-2xx response, whatever its body looks like."""
    body = _parse_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    detail = body.get("detail") if isinstance(body, dict) else None  # what a bare FastAPI error would say
    message = next((m for m in (error.get("message"), detail) if isinstance(m, str) and m), None)
    message = message or response.reason_phrase or "request failed"
    cls = _BY_CODE.get(code.upper() if code else "") or _BY_STATUS.get(response.status_code, WorkflowApiError)
    return cls(response.status_code, code, message, body)


def invalid_response(response: httpx.Response, problem: str) -> WorkflowApiError:
    """A 2xx answer this client cannot read (not JSON, or not the documented shape)."""
    return WorkflowApiError(response.status_code, "INVALID_RESPONSE", f"Unexpected response body: {problem}",
                            _parse_body(response))
