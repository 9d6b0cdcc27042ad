"""Every failure answers with the lifecycle error envelope and an X-Request-Id header.

`{"error": {"code", "message", "retryable", "details", "issues"}, "requestId"}`
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import httpx
import pytest

from priorauth.app import create_app
from tests.cases import tka_case
from tests.support.apps import http_client, make_settings, new_client

A = "/v1/prior-auth/authorizations"
GENERATED_ID = re.compile(r"^req_[0-9a-f]{32}$")


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is the error envelope with this status (and code); returns `error`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error", "requestId"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "retryable", "details", "issues"}, error
    if code is not None:
        assert error["code"] == code, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["retryable"], bool)
    assert isinstance(error["details"], dict)
    assert isinstance(error["issues"], list)
    for issue in error["issues"]:
        assert isinstance(issue["path"], str) and isinstance(issue["message"], str), issue
    request_id = response.headers["x-request-id"]
    assert request_id and body["requestId"] == request_id
    assert "Traceback" not in response.text
    return error


def issue_paths(error: dict) -> set[str]:
    return {issue["path"] for issue in error["issues"]}


# ---------------------------------------------------------------- open routes, request ids

async def test_health_is_open(anon):
    response = await anon.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert GENERATED_ID.match(response.headers["x-request-id"])


async def test_safe_client_request_id_is_echoed(client):
    given = "trace-01H:abc.DEF_9"
    ok = await client.get("/health", headers={"X-Request-Id": given})
    assert ok.headers["x-request-id"] == given
    failed = await client.get(f"{A}/auth_missing", headers={"X-Request-Id": given})
    assert assert_envelope(failed, 404, "not_found")
    assert failed.json()["requestId"] == given


@pytest.mark.parametrize("unsafe", ["has space", "<script>", "a" * 129, "semi;colon", "é"])
async def test_unsafe_client_request_id_is_replaced(client, unsafe):
    response = await client.get(f"{A}/auth_missing", headers={"X-Request-Id": unsafe.encode()})
    assert_envelope(response, 404, "not_found")
    assert GENERATED_ID.match(response.headers["x-request-id"])
    assert response.json()["requestId"] == response.headers["x-request-id"]


async def test_request_id_with_trailing_newline_is_not_echoed(app):
    """Drives the ASGI app directly: an HTTP client refuses to send the header, a broken proxy might not."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/health", "raw_path": b"/health", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"x-request-id", b"abc\n")], "server": ("testserver", 80),
             "client": ("127.0.0.1", 1234)}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    echoed = dict(start["headers"])[b"x-request-id"]
    assert GENERATED_ID.match(echoed.decode()), echoed


# ---------------------------------------------------------------- 401, 404, 405

@pytest.mark.parametrize("authorization", [
    None, "Bearer", "Bearer ", "Bearer pa_sk_not-a-real-secret", "Token abc", "Basic !!!notbase64",
    "Basic " + "YWJj",  # "abc": no colon, so no secret
    b"Basic \xc3\xa9",  # not ASCII at all
])
async def test_missing_or_invalid_credentials_401(anon, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await anon.get(A, headers=headers)
    error = assert_envelope(response, 401, "unauthorized")
    assert error["retryable"] is False
    assert "Bearer" in response.headers["www-authenticate"]


@pytest.mark.parametrize("method, path", [("GET", "/nope"), ("POST", "/v1/prior-auth/nope"),
                                          ("GET", "/v1/prior-auth/authorizations/x/y/z")])
async def test_unknown_route_404_for_anyone(client, anon, method, path):
    for who in (client, anon):
        error = assert_envelope(await who.request(method, path), 404, "not_found")
        assert path in error["message"]


async def test_unknown_authorization_404(client):
    for path in (f"{A}/auth_doesnotexist", f"{A}/auth_doesnotexist/events", f"{A}/auth_doesnotexist/actions"):
        error = assert_envelope(await client.get(path), 404, "not_found")
        assert error["details"] == {"resource": "authorization"}
        assert "auth_doesnotexist" in error["message"]
    assert_envelope(await client.patch(f"{A}/auth_doesnotexist", json={}), 404, "not_found")
    assert_envelope(await client.post(f"{A}/auth_doesnotexist/submit"), 404, "not_found")


async def test_nul_in_url_is_400_not_500(client):
    """PostgreSQL rejects NUL in text; the middleware answers before any query runs."""
    for path in (f"{A}/a%00b", f"{A}/a%00b/events", "/v1/files/a%00b", "/v1/files/a%00b/content"):
        assert_envelope(await client.get(path), 400, "bad_request")
    for params in ({"payerId": "\x00"}, {"externalId": "a\x00"}, {"cursor": "\x00"}):
        assert_envelope(await client.get(A, params=params), 400, "bad_request")


async def test_method_not_allowed_405(client):
    response = await client.delete(A)
    assert_envelope(response, 405, "method_not_allowed")
    # Starlette lists the methods of the first route that matched the path only (here POST, not GET too).
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert "POST" in allowed and "DELETE" not in allowed
    assert_envelope(await client.put(f"{A}/auth_x"), 405, "method_not_allowed")


# ---------------------------------------------------------------- bodies

@pytest.mark.parametrize("raw", [b"{bad", b'{"patient": ', b"\xff\xfe", b"{'single': 'quotes'}", b'{"a": 1,}'])
async def test_malformed_json_400(client, raw):
    response = await client.post(A, content=raw, headers={"Content-Type": "application/json"})
    assert_envelope(response, 400, "invalid_json")


@pytest.mark.parametrize("body", [[], [tka_case()], "a string", 42, True])
async def test_non_object_json_422(client, body):
    for method, path in (("POST", A), ("PATCH", f"{A}/auth_x")):
        response = await client.request(method, path, json=body)
        error = assert_envelope(response, 422, "validation_failed")
        assert error["issues"] and all(i["path"] and i["message"] for i in error["issues"])


async def test_nested_issue_paths(client):
    body = tka_case(patient={"dateOfBirth": "2023-02-30"},
                    providers=[{"role": "ordering"}, {"role": "surgeon"}])
    body["providers"][0]["role"] = "chief"
    error = assert_envelope(await client.post(A, json=body), 422, "validation_failed")
    assert {"patient.dateOfBirth", "providers[0].role", "providers[1].role"} <= issue_paths(error)
    assert error["message"]


async def test_nested_issue_paths_on_patch(client):
    auth = (await client.post(A, json=tka_case())).json()
    response = await client.patch(f"{A}/{auth['id']}", json={"patient": {"dateOfBirth": "2023-02-30"}})
    assert "patient.dateOfBirth" in issue_paths(assert_envelope(response, 422, "validation_failed"))
    unchanged = (await client.get(f"{A}/{auth['id']}")).json()
    assert unchanged["version"] == auth["version"]


async def test_unknown_fields_rejected(client):
    error = assert_envelope(await client.post(A, json=tka_case(nickname="x")), 422, "validation_failed")
    assert issue_paths(error) == {"nickname"}
    body = tka_case()
    body["patient"]["ssn"] = "123-45-6789"
    error = assert_envelope(await client.post(A, json=body), 422, "validation_failed")
    assert issue_paths(error) == {"patient.ssn"}


async def test_json_body_over_limit_413(client):
    too_big = json.dumps(tka_case(externalId="x" * (1024 * 1024))).encode()
    response = await client.post(A, content=too_big, headers={"Content-Type": "application/json"})
    error = assert_envelope(response, 413, "payload_too_large")
    assert "1048576" in error["message"]


async def test_streamed_json_body_over_limit_413(own_app):
    """Without Content-Length (chunked), the limit is enforced while the body streams in."""
    small = await own_app(max_json_bytes=2000, worker_enabled=False)
    async with http_client(small, (await new_client(small)).secret) as c:
        async def chunks():
            body = json.dumps(tka_case(externalId="x" * 190)).encode() + b" " * 3000
            for i in range(0, len(body), 500):
                yield body[i:i + 500]

        response = await c.post(A, content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in response.request.headers
        error = assert_envelope(response, 413, "payload_too_large")
        assert "2000" in error["message"]
        within = await c.post(A, json=tka_case())
        assert within.status_code == 201, within.text


async def test_unhandled_exception_is_a_500_envelope_without_details(capsys):
    """The last-resort handler in the middleware: no stack trace, no exception text, retryable;
    the log names the error type and where it happened, never the message (it may quote PHI)."""
    application = create_app(make_settings("sqlite+aiosqlite:////nonexistent-never-opened/x.db",
                                           Path("/nonexistent-never-opened"), log_level="INFO"))

    @application.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("secret internal detail: patient Ada Lovelace")

    async with http_client(application) as c:
        response = await c.get("/boom", headers={"X-Request-Id": "boom-1"})
    logged = capsys.readouterr().out
    assert "unhandled_error" in logged and "RuntimeError" in logged and "test_errors.py" in logged
    assert "Lovelace" not in logged and "secret internal detail" not in logged
    error = assert_envelope(response, 500, "internal_error")
    assert error["retryable"] is True
    assert response.json()["requestId"] == "boom-1"
    assert "secret internal detail" not in response.text and "RuntimeError" not in response.text


# ---------------------------------------------------------------- oversized headers, parameters and cursors

async def test_if_match_of_thousands_of_digits_is_422_and_changes_nothing(client):
    auth = (await client.post(A, json=tka_case())).json()
    for value in ("9" * 5000, "1" * 33, f'W/"{"0" * 40}1"'):
        refused = await client.patch(f"{A}/{auth['id']}", json={"urgency": "expedited"}, headers={"If-Match": value})
        error = assert_envelope(refused, 422, "validation_failed")
        assert issue_paths(error) == {"header.If-Match"}
    # Within the bound, a number that is not the version is the usual precondition failure.
    stale = await client.patch(f"{A}/{auth['id']}", json={"urgency": "expedited"}, headers={"If-Match": "9" * 20})
    assert assert_envelope(stale, 409, "version_conflict")["details"] == {"currentVersion": 1,
                                                                          "expectedVersion": int("9" * 20)}
    after = (await client.get(f"{A}/{auth['id']}")).json()
    assert (after["version"], after["urgency"]) == (1, "standard")


async def _paginated_lists(client) -> list[str]:
    """The lifecycle face's paginated lists: authorizations, their events, organization events, deliveries."""
    auth = (await client.post(A, json=tka_case())).json()
    endpoint = (await client.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hooks"})).json()
    return [A, f"{A}/{auth['id']}/events", "/v1/events", f"/v1/webhooks/endpoints/{endpoint['id']}/deliveries"]


async def test_cursors_that_decode_to_control_characters_are_400(client):
    """A cursor decodes to a key the database compares; NUL in it made PostgreSQL answer 500."""
    for path in await _paginated_lists(client):
        for raw in (b"\x00", b"auth_\x00", b"evt_\x00", b"dlv_\x00", b"1\x00", b"dlv_\x1b[2J", "evt_é".encode()):
            cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            assert_envelope(await client.get(path, params={"cursor": cursor}), 400, "invalid_cursor")


async def test_limits_of_thousands_of_digits_are_422(client):
    for path in await _paginated_lists(client):
        for limit in ("9" * 5000, "9" * 20, "-" + "9" * 20):
            error = assert_envelope(await client.get(path, params={"limit": limit}), 422, "validation_failed")
            assert issue_paths(error) == {"query.limit"}
