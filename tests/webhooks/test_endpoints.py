"""Webhook subscriptions over HTTP: create, list, read, change, delete, rotate, the delivery log."""

from __future__ import annotations

import uuid
from functools import partial

import pytest

from priorauth.auth.service import create_client
from priorauth.webhooks.urls import resolve_and_check
from tests.support.apps import http_client, new_client
from tests.support.webhooks import fake_dns

W = "/v1/webhooks/endpoints"
RECEIVER = "http://127.0.0.1:9/hooks"


async def _create(client, **overrides) -> dict:
    body = {"url": RECEIVER, "description": "EHR", "eventTypes": ["*"], **overrides}
    response = await client.post(W, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_shows_the_secret_once(client):
    created = await _create(client, eventTypes=["prior_auth.status.changed"], signing="akute")
    assert created["id"].startswith("whk_")
    assert created["secret"].startswith("whsec_")
    assert created["url"] == RECEIVER and created["description"] == "EHR"
    assert created["eventTypes"] == ["prior_auth.status.changed"]
    assert (created["format"], created["signing"], created["enabled"]) == ("priorauth", "akute", True)
    assert created["createdAt"].endswith("Z")

    read = await client.get(f"{W}/{created['id']}")
    assert read.status_code == 200, read.text
    assert "secret" not in read.json() and read.json()["id"] == created["id"]
    listed = (await client.get(W)).json()
    assert listed["object"] == "list"
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert all("secret" not in e for e in listed["data"])
    assert created["secret"] not in str(listed)


async def test_defaults_and_wildcard(client):
    created = (await client.post(W, json={"url": "https://example.com/hook"})).json()
    assert created["eventTypes"] == ["*"] and created["format"] == "priorauth"
    assert created["signing"] == "standard" and created["enabled"] is True
    both = await _create(client, eventTypes=["a.b", "*", "a.b"])
    assert both["eventTypes"] == ["*"]


async def test_patch_changes_fields_and_rechecks_the_url(client):
    created = await _create(client)
    path = f"{W}/{created['id']}"
    patched = await client.patch(path, json={"description": "new", "eventTypes": ["prior_auth.created"],
                                             "format": "medication_pa", "signing": "akute", "enabled": False,
                                             "url": "HTTPS://Example.COM:443/x"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["description"] == "new" and body["eventTypes"] == ["prior_auth.created"]
    assert (body["format"], body["signing"], body["enabled"]) == ("medication_pa", "akute", False)
    assert body["url"] == "https://example.com/x"
    assert "secret" not in body

    bad = await client.patch(path, json={"url": "ftp://example.com/x"})
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "validation_failed"
    assert (await client.get(path)).json()["url"] == "https://example.com/x"

    null = await client.patch(path, json={"format": None})
    assert null.status_code == 422
    unknown = await client.patch(path, json={"colour": "red"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["issues"]


@pytest.mark.parametrize("url", ["ftp://example.com/", "not a url", "http://user:pw@example.com/", "https://"])
async def test_bad_urls_are_refused_with_the_reason(client, url):
    response = await client.post(W, json={"url": url})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["issues"] and error["issues"][0]["path"] == "url"
    assert "requestId" in response.json()


# The list: every one is refused by default, at create and at PATCH.
PRIVATE_URLS = [
    "http://127.0.0.1:8080/hook", "http://localhost:8080/hook", "http://[::1]:8080/hook", "http://0.0.0.0:8080/",
    "http://10.1.2.3/", "http://172.16.0.9/", "http://172.31.255.254/", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
    "http://2130706433/", "http://0x7f000001/", "http://017700000001/", "http://0177.0.0.1/", "http://127.1/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:169.254.169.254]/", "http://[fd00::1]/",
    "http://rebind.example/",  # a public-looking name that resolves to a private address
    "http://half.example/",  # one of its addresses is private
]
DNS = {"hooks.example.com": ["93.184.216.34"], "rebind.example": ["10.0.0.7"],
       "half.example": ["93.184.216.34", "::ffff:192.168.1.1"]}


async def guarded_app(own_app, names: dict[str, list[str]], **settings):
    """An app with the SSRF guard as it is by default (the suite's apps loosen it) and a DNS stand-in."""
    return await own_app(webhook_allow_private=False, resolve=partial(resolve_and_check, getaddrinfo=fake_dns(names)),
                         **settings)


async def test_the_ssrf_guard_is_on_by_default(own_app):
    application = await guarded_app(own_app, DNS)
    async with http_client(application, (await new_client(application)).secret) as client:
        good = await client.post(W, json={"url": "http://hooks.example.com/priorauth"})
        assert good.status_code == 201, good.text  # plain http is fine outside production
        path = f"{W}/{good.json()['id']}"
        for url in PRIVATE_URLS:
            for response in (await client.post(W, json={"url": url}), await client.patch(path, json={"url": url})):
                assert response.status_code == 422, (url, response.text)
                error = response.json()["error"]
                assert error["code"] == "validation_failed" and error["issues"][0]["path"] == "url", url
                assert error["issues"][0]["type"] == "unsafe_url", url
        assert (await client.get(path)).json()["url"] == "http://hooks.example.com/priorauth"
        assert [e["id"] for e in (await client.get(W)).json()["data"]] == [good.json()["id"]]
        # A name that does not resolve (yet) is accepted: every delivery resolves and checks it again.
        assert (await client.post(W, json={"url": "https://not-yet.example/hook"})).status_code == 201


async def test_production_requires_https_and_the_address_guard_is_its_own_setting(own_app):
    production = await own_app(env="production", webhook_allow_private=True)
    async with http_client(production, (await new_client(production)).secret) as client:
        plain = await client.post(W, json={"url": "http://hooks.example.com/"})
        assert plain.status_code == 422 and "https" in plain.json()["error"]["message"], plain.text
        # PRIORAUTH_WEBHOOK_ALLOW_PRIVATE loosens the address guard in production too (an intranet receiver).
        local = await client.post(W, json={"url": "https://127.0.0.1:8443/hook"})
        assert local.status_code == 201, local.text
    development = await guarded_app(own_app, DNS, env="development")
    async with http_client(development, (await new_client(development)).secret) as client:
        for url, reason in [("https://127.0.0.1/", "loopback"), ("https://10.0.0.8/", "private"),
                            ("https://localhost/", "local"), ("https://169.254.169.254/", "link-local"),
                            ("https://rebind.example/", "resolves to a private address (10.0.0.7)")]:
            response = await client.post(W, json={"url": url})
            assert response.status_code == 422, (url, response.text)
            assert reason in response.json()["error"]["message"], response.text


async def test_a_loosened_guard_is_announced_at_start(own_app, capsys):
    capsys.readouterr()
    await own_app(webhook_allow_private=False)
    assert "safety_guard_loosened" not in capsys.readouterr().out
    await own_app(webhook_allow_private=True)
    logged = capsys.readouterr().out
    line = next(line for line in logged.splitlines() if "safety_guard_loosened" in line)
    assert "warning" in line.lower() and "PRIORAUTH_WEBHOOK_ALLOW_PRIVATE" in line and "SSRF" in line


async def test_validation_of_fields(client):
    for body in ({}, {"url": RECEIVER, "format": "xml"}, {"url": RECEIVER, "signing": "md5"},
                 {"url": RECEIVER, "eventTypes": []}, {"url": RECEIVER, "enabled": "maybe"}):
        response = await client.post(W, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_failed"


async def test_rotation_shows_a_new_secret_and_keeps_the_old_one_24h(app, client):
    from datetime import datetime, timedelta

    from priorauth.timeutil import utcnow
    from priorauth.webhooks.models import WebhookEndpoint
    from priorauth.webhooks.service import active_secrets

    created = await _create(client)
    rotated = await client.post(f"{W}/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    expires = datetime.fromisoformat(body["previousSecretExpiresAt"])
    assert timedelta(hours=23, minutes=59) < expires - utcnow() <= timedelta(hours=24)
    assert "secret" not in (await client.get(f"{W}/{created['id']}")).json()

    async with app.state.db.read() as session:
        endpoint = await session.get(WebhookEndpoint, created["id"])
    now = utcnow()
    assert active_secrets(endpoint, now) == [body["secret"], created["secret"]]
    assert active_secrets(endpoint, now + timedelta(hours=24, seconds=1)) == [body["secret"]]

    again = (await client.post(f"{W}/{created['id']}/rotate-secret")).json()
    async with app.state.db.read() as session:
        endpoint = await session.get(WebhookEndpoint, created["id"])
    assert active_secrets(endpoint, now) == [again["secret"], body["secret"], created["secret"]]
    # The first secret keeps its original expiry: a second rotation does not extend it.
    assert endpoint.secrets[2]["expires_at"] == body["previousSecretExpiresAt"]


async def test_delete_hides_the_endpoint_but_keeps_its_log(client):
    created, kept = await _create(client), await _create(client)
    path = f"{W}/{created['id']}"
    deleted = await client.delete(path)
    assert deleted.status_code == 204
    missing = await client.get(path)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    for method, sub, body in [("DELETE", "", None), ("PATCH", "", {"enabled": True}), ("POST", "/rotate-secret", None),
                              ("POST", "/test", None), ("POST", "/deliveries/dlv_x/redeliver", None)]:
        response = await client.request(method, path + sub, json=body)
        assert response.status_code == 404, (method, sub, response.text)
    assert [e["id"] for e in (await client.get(W)).json()["data"]] == [kept["id"]]
    listed = (await client.get(W, params={"includeDeleted": "true"})).json()["data"]
    assert [(e["id"], e["deletedAt"] is not None) for e in listed] == sorted(
        [(created["id"], True), (kept["id"], False)])
    assert all("secret" not in e for e in listed)
    log = await client.get(f"{path}/deliveries")
    assert log.status_code == 200 and log.json()["data"] == []


async def test_deliveries_list_is_empty_and_validated(client):
    created = await _create(client)
    path = f"{W}/{created['id']}/deliveries"
    empty = await client.get(path, params={"status": "pending", "limit": 10})
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"object": "list", "data": [], "pagination": {"hasMore": False, "nextCursor": None}}
    assert (await client.get(path, params={"status": "lost"})).status_code == 422
    assert (await client.get(path, params={"limit": 0})).status_code == 422
    bad_cursor = await client.get(path, params={"cursor": "%%%"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_cursor"
    assert (await client.get(f"{W}/whk_nope/deliveries")).status_code == 404


async def test_deliveries_are_paginated(app, client):
    from priorauth.ids import new_id
    from priorauth.timeutil import utcnow
    from priorauth.webhooks.models import WebhookDelivery, WebhookEndpoint

    created = await _create(client)
    async with app.state.db.write() as session:
        endpoint_org = (await session.get(WebhookEndpoint, created["id"])).organization_id
        for n in range(5):
            session.add(WebhookDelivery(
                id=new_id("dlv"), organization_id=endpoint_org, endpoint_id=created["id"], event_id=f"evt_{n}",
                event_type="ping", ordering_key=None, sequence=0, payload={}, status="pending" if n else "delivered",
                attempts=n, next_attempt_at=utcnow(), created_at=utcnow()))
    path = f"{W}/{created['id']}/deliveries"
    seen, cursor = [], None
    while True:
        page = (await client.get(path, params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        seen += page["data"]
        cursor = page["pagination"]["nextCursor"]
        if not page["pagination"]["hasMore"]:
            break
    assert len(seen) == 5 and len({d["id"] for d in seen}) == 5
    assert [d["id"] for d in seen] == sorted((d["id"] for d in seen), reverse=True)
    first = seen[-1]
    assert set(first) >= {"status", "attempts", "responseCode", "latencyMs", "createdAt", "deliveredAt"}
    delivered = (await client.get(path, params={"status": "delivered"})).json()["data"]
    assert [d["eventId"] for d in delivered] == ["evt_0"]


async def test_provider_role_is_refused(app, client):
    created = await _create(client)
    provider = await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "ehr", "provider")
    same_org_provider = await create_client(app.state.db, provider.organization_id, "ehr2", "provider")
    async with http_client(app, same_org_provider.secret) as other:
        for method, path, body in [("POST", W, {"url": RECEIVER}), ("GET", W, None),
                                   ("GET", f"{W}/{created['id']}", None),
                                   ("PATCH", f"{W}/{created['id']}", {"enabled": False}),
                                   ("DELETE", f"{W}/{created['id']}", None),
                                   ("POST", f"{W}/{created['id']}/rotate-secret", None),
                                   ("GET", f"{W}/{created['id']}/deliveries", None)]:
            response = await other.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    reviewer = await create_client(app.state.db, provider.organization_id, "rev", "reviewer")
    async with http_client(app, reviewer.secret) as other:
        assert (await other.get(W)).status_code == 403


async def test_other_organization_gets_404(app, client):
    created = await _create(client)
    admin = await create_client(app.state.db, f"org-{uuid.uuid4().hex[:12]}", "other", "admin")
    async with http_client(app, admin.secret) as other:
        for method, path, body in [("GET", f"{W}/{created['id']}", None),
                                   ("PATCH", f"{W}/{created['id']}", {"enabled": False}),
                                   ("DELETE", f"{W}/{created['id']}", None),
                                   ("POST", f"{W}/{created['id']}/rotate-secret", None),
                                   ("GET", f"{W}/{created['id']}/deliveries", None)]:
            response = await other.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
        assert (await other.get(W)).json()["data"] == []
    assert (await client.get(f"{W}/{created['id']}")).json()["enabled"] is True


async def test_unauthenticated_is_401(anon):
    response = await anon.get(W)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
