"""`GET /v1/events`: the organization's events that belong to no authorization (admin role)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from priorauth.auth.deps import require_role
from priorauth.auth.service import Principal
from priorauth.errors import responses
from priorauth.events import service

router = APIRouter(prefix="/v1", tags=["events"], responses=responses({403: "Needs the `admin` role"}))
Admin = Annotated[Principal, Depends(require_role("admin"))]


@router.get("/events", summary="Organization events (review decisions, approval requests, admin notices)")
async def list_events(request: Request, who: Admin,
                      type: Annotated[Literal[service.TYPES] | None, Query()] = None,  # type: ignore[valid-type]
                      limit: Annotated[int, Query(ge=1, le=100)] = 25,
                      cursor: Annotated[str | None, Query(max_length=200)] = None) -> dict:
    return await service.list_(request.app.state.db, who, type, limit, cursor)
