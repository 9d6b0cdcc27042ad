"""`/v1/organization`: the caller's organization and its settings (admin role, lifecycle error envelope)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from priorauth.auth import service
from priorauth.auth.deps import require_role
from priorauth.auth.schemas import OrganizationPatch
from priorauth.auth.service import Principal
from priorauth.errors import responses

router = APIRouter(prefix="/v1/organization", tags=["organization"],
                   responses=responses({403: "Needs the `admin` role"}))
Admin = Annotated[Principal, Depends(require_role("admin"))]


@router.get("", summary="The caller's organization and its settings")
async def get_organization(request: Request, who: Admin) -> dict:
    return service.organization_json(await service.get_organization(request.app.state.db, who.organization_id))


@router.patch("", summary="Change the organization's settings (sandboxEnabled)")
async def update_organization(body: OrganizationPatch, request: Request, who: Admin) -> dict:
    db = request.app.state.db
    if body.sandboxEnabled is not None:
        return service.organization_json(await service.set_sandbox(db, who.organization_id, body.sandboxEnabled))
    return service.organization_json(await service.get_organization(db, who.organization_id))
