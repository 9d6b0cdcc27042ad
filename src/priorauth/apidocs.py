"""The API's own description: /openapi.json, Swagger UI at /docs and ReDoc at /redoc.

Both pages load their scripts from this server, never a CDN, so they work on a machine without
internet. Like every route but /health and /ready they need credentials: a browser asks for HTTP Basic (client
id and secret) on the first page and sends them with the schema and the assets.
"""
from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from priorauth.auth.deps import Who
from priorauth.errors import ApiError

# Swagger UI 5 and ReDoc 2 as the fastapi-offline package ships them (pyproject.toml bounds its version:
# the layout of its static/ folder is not a promise it makes).
_ASSETS = files("fastapi_offline") / "static"
_MEDIA_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
ASSETS_PATH = "/docs/assets"

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "An API client secret: `Authorization: Bearer pa_sk_…`."},
    "basicAuth": {"type": "http", "scheme": "basic",
                  "description": "HTTP Basic with the client id as user name and the secret as password."},
}
OPEN_PATHS = {"/health", "/ready"}  # the only routes without credentials

router = APIRouter(include_in_schema=False)


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema of the routes, with the two ways to authenticate declared on every operation
    but the open ones (Swagger UI's Authorize button then sends them). Made once; it is `app.openapi`."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        schema["security"] = [{name: []} for name in SECURITY_SCHEMES]
        for path in OPEN_PATHS & set(schema["paths"]):
            for operation in schema["paths"][path].values():
                operation["security"] = []
        app.openapi_schema = schema
    return app.openapi_schema


@router.get("/openapi.json")
async def openapi(request: Request, _: Who) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger(_: Who) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="priorauth API", swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css", swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters={"persistAuthorization": True})


@router.get("/redoc")
async def redoc(_: Who) -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title="priorauth API",
                          redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                          redoc_favicon_url=f"{ASSETS_PATH}/favicon.png", with_google_fonts=False)


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str, _: Who) -> FileResponse:
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", f"No documentation asset named {name!r}.")
    return FileResponse(str(_ASSETS / name), media_type=media_type,
                        headers={"Cache-Control": "private, max-age=86400"})
