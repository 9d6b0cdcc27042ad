"""Thin HTTP layer of webhook subscriptions (`/v1/webhooks`, admin role, lifecycle error envelope)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from priorauth.auth.deps import require_role
from priorauth.auth.service import Principal
from priorauth.errors import responses
from priorauth.webhooks import service
from priorauth.webhooks.schemas import EndpointCreate, EndpointPatch
from priorauth.webhooks.urls import UrlGuard

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=responses({403: "Needs the `admin` role"}))
Admin = Annotated[Principal, Depends(require_role("admin"))]


def _db(request: Request):
    return request.app.state.db


def _guard(request: Request) -> UrlGuard:
    return UrlGuard.of(request.app.state.settings, request.app.state.resolve)


@router.post("/endpoints", status_code=201, summary="Subscribe an endpoint (the secret is shown once)")
async def create_endpoint(body: EndpointCreate, request: Request, who: Admin) -> dict:
    return await service.create_endpoint(_db(request), who, body, _guard(request))


@router.get("/endpoints", summary="The organization's webhook endpoints")
async def list_endpoints(request: Request, who: Admin, includeDeleted: bool = False) -> dict:
    return await service.list_endpoints(_db(request), who, includeDeleted)


@router.get("/endpoints/{endpoint_id}", summary="A webhook endpoint")
async def get_endpoint(endpoint_id: str, request: Request, who: Admin) -> dict:
    return await service.get_endpoint(_db(request), who, endpoint_id)


@router.patch("/endpoints/{endpoint_id}", summary="Change a webhook endpoint")
async def update_endpoint(endpoint_id: str, body: EndpointPatch, request: Request, who: Admin) -> dict:
    return await service.update_endpoint(_db(request), who, endpoint_id, body, _guard(request))


@router.delete("/endpoints/{endpoint_id}", status_code=204, summary="Delete a webhook endpoint (its delivery log stays)")
async def delete_endpoint(endpoint_id: str, request: Request, who: Admin) -> Response:
    await service.delete_endpoint(_db(request), who, endpoint_id)
    return Response(status_code=204)


@router.post("/endpoints/{endpoint_id}/rotate-secret", summary="New secret (shown once); the old one lasts 24 h")
async def rotate_secret(endpoint_id: str, request: Request, who: Admin) -> dict:
    return await service.rotate_secret(_db(request), who, endpoint_id)


@router.get("/endpoints/{endpoint_id}/deliveries", summary="The endpoint's deliveries, newest first (also of a deleted endpoint)")
async def list_deliveries(
    endpoint_id: str,
    request: Request,
    who: Admin,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    return await service.list_deliveries(_db(request), who, endpoint_id, status, limit, cursor)


@router.post("/endpoints/{endpoint_id}/test", status_code=202, summary="Queue a signed ping delivery")
async def send_test(endpoint_id: str, request: Request, who: Admin) -> dict:
    return await service.send_test(_db(request), who, endpoint_id)


@router.post("/endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver", status_code=202,
             summary="Send a delivery again, now")
async def redeliver(endpoint_id: str, delivery_id: str, request: Request, who: Admin) -> dict:
    return await service.redeliver(_db(request), who, endpoint_id, delivery_id)
