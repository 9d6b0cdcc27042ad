"""The sandbox payer: answers sandbox-channel authorizations with an approval (full or partial), a denial, a
request for more info, a close without a decision, or a deferral; and answers a client's cancel request
(`POST …/cancel {"payerConfirmation": true}`) with `cancel_confirmed` or `cancel_denied`.

Playing the payer decides a case, so it is not every client's right: admin clients may, other clients
only when an admin turned the sandbox on for their organization, and nobody when PRIORAUTH_ENV=production."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response

from priorauth.auth.deps import Who
from priorauth.auth.service import Principal, get_organization
from priorauth.authorizations import service
from priorauth.authorizations.schemas import PayerEvent
from priorauth.errors import ApiError, responses

router = APIRouter(prefix="/v1/sandbox/prior-auth", tags=["sandbox"])


async def _payer(request: Request, who: Who) -> Principal:
    if request.app.state.settings.env == "production":
        raise ApiError(404, "sandbox_disabled", "The sandbox payer is turned off on this server (PRIORAUTH_ENV="
                       "production); a real payer answers through its submission channel.")
    if who.role != "admin" and not (await get_organization(request.app.state.db, who.organization_id)).sandbox_enabled:
        raise ApiError(403, "sandbox_not_enabled", "Only admin clients may play the sandbox payer, unless an admin "
                       "turns the sandbox on for the organization: PATCH /v1/organization {\"sandboxEnabled\": true}.")
    return who


@router.post("/authorizations/{authorization_id}/payer-events", summary="Send a payer response (sandbox)",
             responses=responses({
                 403: "`sandbox_not_enabled`: not an admin client, and the organization's sandbox is off",
                 404: "`not_found`; `sandbox_disabled`: the server runs with PRIORAUTH_ENV=production",
                 409: "`invalid_state_transition`; `no_cancel_requested`; `channel_mismatch`"}))
async def payer_event(authorization_id: str, event: Annotated[PayerEvent, Body()], request: Request,
                      response: Response, who: Annotated[Principal, Depends(_payer)]) -> dict:
    result = await service.payer_event(request.app.state.db, who, authorization_id, event)
    response.headers["ETag"] = f'"{result["version"]}"'
    return result
