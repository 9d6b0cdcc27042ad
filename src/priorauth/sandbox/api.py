"""The sandbox payer: answers sandbox-channel authorizations with an approval (full or partial), a denial, a
request for more info, a close without a decision, or a deferral; and answers a client's cancel request
(`POST …/cancel {"payerConfirmation": true}`) with `cancel_confirmed` or `cancel_denied`."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from priorauth.auth.deps import Who
from priorauth.authorizations import service
from priorauth.authorizations.schemas import PayerEvent

router = APIRouter(prefix="/v1/sandbox/prior-auth", tags=["sandbox"])


@router.post("/authorizations/{authorization_id}/payer-events", summary="Send a payer response (sandbox)")
async def payer_event(authorization_id: str, event: Annotated[PayerEvent, Body()], request: Request,
                      response: Response, who: Who) -> dict:
    result = await service.payer_event(request.app.state.db, who, authorization_id, event)
    response.headers["ETag"] = f'"{result["version"]}"'
    return result
