"""Application wiring: settings, database, routers, error handlers, background worker."""
from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Literal

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from priorauth import apidocs, errors, logging_setup
from priorauth.auth.api import router as organization_router
from priorauth.auth.service import Authenticator
from priorauth.authorizations.api import router as authorizations_router
from priorauth.authorizations.service import recover_stale_submissions
from priorauth.config import Settings, get_settings
from priorauth.db import Database
from priorauth.events.api import router as events_router
from priorauth.files.api import router as files_router
from priorauth.middleware import RequestContextMiddleware
from priorauth.migrate import readiness, upgrade_async
from priorauth.outbox.service import Worker
from priorauth.review.api import router as review_router
from priorauth.sandbox.api import router as sandbox_router
from priorauth.webhooks.api import router as webhooks_router
from priorauth.webhooks.delivery import Deliverer
from priorauth.webhooks.urls import resolve_and_check
from priorauth.workflows.api import router as workflows_router
from priorauth.workflows.service import expire_approvals


def warn_loosened_guards(settings: Settings) -> None:
    """Say loudly, at start, which safety guards the configuration turns off (names and effects, no values)."""
    log = structlog.get_logger("priorauth")  # a fresh logger: it writes to the current stdout
    for setting, effect in settings.loosened_guards():
        log.warning("safety_guard_loosened", setting=setting, effect=effect)


def build_worker(db: Database, settings: Settings, resolve=resolve_and_check) -> Worker:
    """The outbox worker with every handler and sweep this service has (`resolve`: DNS for webhook URLs)."""
    worker = Worker(db, poll_seconds=settings.worker_poll_seconds)
    stale = timedelta(seconds=settings.submission_stale_seconds)

    async def recover_submissions(db: Database) -> None:
        await recover_stale_submissions(db, stale)

    worker.periodic.append(recover_submissions)
    worker.periodic.append(expire_approvals)
    worker.companions.append(Deliverer(db, settings, resolve=resolve))  # webhook delivery runs as long as the worker
    return worker


class Ready(BaseModel):
    status: Literal["ready"]


class NotReady(BaseModel):
    status: Literal["unavailable"]
    reason: Literal["database_unreachable", "schema_not_current"]
    message: str


def _warm_up() -> None:
    """Load ICD-10-CM, the PDF fonts and the clinical NLP once, off the request path."""
    from priorauth.codes import icd10_status
    from priorauth.documents import preload_fonts
    from priorauth.review.engine import extractor

    icd10_status("M17.11")
    preload_fonts()
    extractor()


def create_app(settings: Settings | None = None, *, migrate: bool = True, resolve=resolve_and_check) -> FastAPI:
    """The service. `resolve` checks webhook hosts after DNS (resolve_and_check; tests pass a DNS stand-in)."""
    settings = settings or get_settings()
    logging_setup.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warn_loosened_guards(settings)
        threading.Thread(target=_warm_up, daemon=True).start()
        if migrate:
            await upgrade_async(settings.effective_database_url)
        if settings.env != "production":  # the sandbox payer decides cases: say at start that it can
            structlog.get_logger("priorauth").warning(
                "sandbox_payer_on", who="admin clients and organizations with sandboxEnabled",
                turn_off_with="PRIORAUTH_ENV=production")
        db = Database(settings.effective_database_url)
        app.state.db = db
        app.state.authenticator = Authenticator(db)
        await recover_stale_submissions(db, timedelta(seconds=settings.submission_stale_seconds))
        worker = build_worker(db, settings, resolve)
        task = asyncio.create_task(worker.run()) if settings.worker_enabled else None
        try:
            yield
        finally:
            worker.stop()
            if task:
                await task
            await db.dispose()

    # The schema and its pages are served by our own routes (apidocs), so they need credentials too.
    app = FastAPI(title="priorauth", version="0.1.0", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None, description="Open-source prior-authorization engine. See docs/api.md.")
    app.state.settings = settings
    app.state.resolve = resolve
    errors.install(app)
    app.add_middleware(RequestContextMiddleware, max_json_bytes=settings.max_json_bytes,
                       max_upload_bytes=settings.max_file_bytes + 1024 * 1024, upload_prefixes=("/v1/files",))

    @app.get("/health", tags=["health"], summary="Liveness: the process answers (no authentication)")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", tags=["health"], response_model=Ready, responses={503: {"model": NotReady}},
             summary="Readiness: the database answers and its schema is current (no authentication)")
    async def ready(request: Request) -> Ready | JSONResponse:
        problem = await readiness(request.app.state.db)
        if problem is None:
            return Ready(status="ready")
        reason, message = problem
        return JSONResponse(NotReady(status="unavailable", reason=reason, message=message).model_dump(), 503,
                            headers=errors.RETRY_AFTER)

    app.openapi = functools.partial(apidocs.openapi_schema, app)  # type: ignore[method-assign]
    app.include_router(apidocs.router)
    app.include_router(authorizations_router)
    app.include_router(files_router)
    app.include_router(sandbox_router)
    app.include_router(review_router)
    app.include_router(workflows_router)
    app.include_router(webhooks_router)
    app.include_router(events_router)
    app.include_router(organization_router)
    return app
