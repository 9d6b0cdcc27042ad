"""The API pages: /docs (Swagger UI) and /redoc render in a real headless Chromium with the network off.

The browser talks to a real `priorauth serve` on loopback; every request to any other host is aborted,
as on a machine without internet. Chromium is the system one (Debian's `chromium`, or the path in
PRIORAUTH_CHROMIUM), driven by Playwright; without it these tests skip, unless PRIORAUTH_REQUIRE_BROWSER
is set (CI sets it), when they fail.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.server import serve

CHROMIUM = os.environ.get("PRIORAUTH_CHROMIUM", "/usr/bin/chromium")
# As this machine's notes advise: no sandbox as root, and no background calls to Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
# ReDoc's sidebar shows a logo from its CDN and hides it when it does not load.
TOLERATED_OFFLINE = {"cdn.redoc.ly"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("apidocs") / "data") as served:
        yield served


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set PRIORAUTH_CHROMIUM)"
        if os.environ.get("PRIORAUTH_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def offline_page(browser, server):
    """A page that answers the server's Basic challenge (as a user at the browser's prompt would) and
    reaches nothing but the server; returns it with the list of other hosts it tried."""
    context = await browser.new_context(
        http_credentials={"username": server.client_id, "password": server.secret},
        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    refused: list[str] = []
    local = urlsplit(server.base).netloc

    async def offline(route):
        if urlsplit(route.request.url).netloc == local:
            await route.continue_()
        else:
            refused.append(urlsplit(route.request.url).netloc)
            await route.abort("internetdisconnected")
    await page.route("**/*", offline)
    return page, refused


async def test_swagger_ui_renders_offline_and_declares_both_credentials(browser, server, tmp_path):
    page, refused = await offline_page(browser, server)
    response = await page.goto(f"{server.base}/docs")
    assert response.status == 200
    await page.wait_for_selector(".opblock-summary", timeout=30_000)
    operations = await page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/prior-auth/authorizations" in [text.replace("\u200b", "") for text in operations]
    assert len(operations) > 40
    await page.screenshot(path=tmp_path / "docs.png", full_page=False)
    assert (tmp_path / "docs.png").stat().st_size > 10_000  # a rendered page, not a blank one

    await page.click("button.authorize")
    dialog = page.locator(".auth-container")
    await dialog.first.wait_for()
    assert {"bearerAuth", "basicAuth"} <= {(await h.inner_text()).split()[0]
                                           for h in await dialog.locator("h4").all()}
    assert not set(refused) - TOLERATED_OFFLINE, refused


async def test_redoc_renders_offline(browser, server, tmp_path):
    page, refused = await offline_page(browser, server)
    response = await page.goto(f"{server.base}/redoc")
    assert response.status == 200
    await page.wait_for_selector("[role=menuitem]", timeout=30_000)
    await page.locator("h2", has_text="Create a prior-authorization case").wait_for()
    await page.screenshot(path=tmp_path / "redoc.png", full_page=False)
    assert (tmp_path / "redoc.png").stat().st_size > 10_000
    assert not set(refused) - TOLERATED_OFFLINE, refused


def test_pages_and_assets_need_credentials(server):
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
        refused = httpx.get(server.base + path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic ")  # what makes a browser ask
    with httpx.Client(base_url=server.base, auth=(server.client_id, server.secret)) as http:
        bundle = http.get("/docs/assets/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
        assert http.get("/docs/assets/..%2Fcore.py").status_code == 404
        assert http.get("/docs/assets/nothing.js").json()["error"]["code"] == "not_found"
        schema = http.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearerAuth", "basicAuth"}
    assert schema["security"] == [{"bearerAuth": []}, {"basicAuth": []}]
    assert schema["paths"]["/health"]["get"]["security"] == []
    assert schema["paths"]["/ready"]["get"]["security"] == []
    assert set(schema["paths"]["/ready"]["get"]["responses"]) >= {"200", "503"}
