"""The API's own description: /openapi.json, Swagger UI at /docs and ReDoc at /redoc.

Both pages load their scripts from this server, never a CDN, so they work on a machine without
internet. Like every route but /health and /ready they need credentials: a browser asks for HTTP Basic (client
id and secret) on the first page and sends them with the schema and the assets.
"""
from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from priorauth.auth.deps import Who
from priorauth import errors
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

# What any authenticated operation can answer, whatever it does; each router declares the rest (403 for
# a role, 409 for a conflict, ...) in its own `responses`.
_COMMON = {
    400: "Malformed request: a NUL character in the URL, a body that is not JSON, or (workflow face) "
         "any invalid field",
    401: "Missing or invalid credentials",
    404: "Not found in the caller's organization (another organization's ids are not found either)",
    413: "The body is over the size limit",
    422: "The request is invalid: `issues` (lifecycle) or `detail` (review) say where",
    503: "The database is unavailable; retry after `Retry-After` seconds (`retryable: true`)",
}

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
        _document_errors(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _document_errors(schema: dict[str, Any]) -> None:
    """Every status an operation can answer, each error in its face's envelope: the common ones derived
    from the operation's shape (path parameters can be not found, a body can be too large, ...)."""
    components = schema["components"].setdefault("schemas", {})
    for model in (errors.LifecycleError, errors.ReviewError, errors.WorkflowError):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components[model.__name__] = definition
    for path, item in schema["paths"].items():
        if path in OPEN_PATHS:
            continue
        model = errors.error_model(path).__name__
        envelope = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}
        for operation in item.values():
            responses = operation["responses"]
            parameters = operation.get("parameters", [])
            body = "requestBody" in operation
            common = [400, 401, 503] + ([404] if any(p["in"] == "path" for p in parameters) else [])
            common += [413] if body else []
            if parameters or body:
                common.append(errors.validation_status(path))
            # FastAPI's own 422 (HTTPValidationError) is not what any face answers.
            if "422" in responses and "HTTPValidationError" in str(responses["422"].get("content")):
                del responses["422"]
            for status in common:
                responses.setdefault(str(status), {"description": _COMMON[status]})
            for status, response in responses.items():
                if status[0] in "45" and "content" not in response:
                    response["content"] = envelope
            operation["responses"] = dict(sorted(responses.items()))
    used = json.dumps(schema["paths"])
    for name in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{name}"' not in used:
            components.pop(name, None)


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
