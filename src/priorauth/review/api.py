"""Thin HTTP layer of the review face (`/api/...`). Errors here keep FastAPI's `{"detail": ...}` shape."""
from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from priorauth.auth.deps import require_role
from priorauth.auth.service import Principal
from priorauth.errors import binary, responses
from priorauth.review import service
from priorauth.review.schemas import CoverageAgentRequest, DecisionRequest, PriorAuthRequest, SynthesisAgentRequest

router = APIRouter(prefix="/api", tags=["review"], responses=responses({403: "Needs the `reviewer` role"}))
Reviewer = Annotated[Principal, Depends(require_role("reviewer"))]
PDF = binary("The PDF", "application/pdf")


def _db(request: Request):
    return request.app.state.db


def _live(request: Request) -> bool:
    return request.app.state.settings.nppes_live


@router.post("/review", summary="Run the multi-agent review and return the whole result")
async def review(body: PriorAuthRequest, request: Request, who: Reviewer) -> dict:
    return await service.review(_db(request), who, body, live=_live(request))


@router.post("/review/stream", summary="Run the review with server-sent progress events",
             response_class=EventSourceResponse)
async def review_stream(body: PriorAuthRequest, request: Request, who: Reviewer) -> EventSourceResponse:
    async def events():
        async for item in service.stream(_db(request), who, body, live=_live(request)):
            if "comment" in item:
                yield ServerSentEvent(comment=item["comment"])
            else:
                yield ServerSentEvent(event=item["event"], data=json.dumps(item["data"], separators=(",", ":")))

    # Our own keepalives come from the service during long phases; no extra pings from the library.
    return EventSourceResponse(events(), ping=3600)


@router.get("/review/{request_id}", summary="A completed review")
async def get_review(request_id: str, request: Request, who: Reviewer) -> dict:
    return await service.get(_db(request), who, request_id)


@router.get("/review/{request_id}/audit.pdf", summary="The audit justification PDF", response_class=Response,
            responses=PDF)
async def audit_pdf(request_id: str, request: Request, who: Reviewer) -> Response:
    content = await service.audit_pdf(_db(request), who, request_id)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="audit-{request_id}.pdf"'})


@router.get("/review/{request_id}/letter.pdf", summary="The notification letter PDF (after the decision)",
            response_class=Response, responses=PDF | responses({404: "No such review, or no decision yet"}))
async def letter_pdf(request_id: str, request: Request, who: Reviewer) -> Response:
    content = await service.letter_pdf(_db(request), who, request_id)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="letter-{request_id}.pdf"'})


@router.get("/reviews", summary="Completed reviews, most recent first")
async def list_reviews(request: Request, who: Reviewer,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    return await service.list_(_db(request), who, limit)


@router.post("/decision", summary="Record the human decision: accept or override", responses=responses({
    404: "Review not found", 409: "Decision already recorded for this review"}))
async def decision(body: DecisionRequest, request: Request, who: Reviewer) -> dict:
    return await service.decide(_db(request), who, body)


@router.post("/agents/compliance", summary="Run the compliance agent in isolation")
async def compliance_agent(body: PriorAuthRequest, request: Request, who: Reviewer) -> dict:
    return await service.run_agent(_db(request), "compliance", body)


@router.post("/agents/clinical", summary="Run the clinical agent in isolation")
async def clinical_agent(body: PriorAuthRequest, request: Request, who: Reviewer) -> dict:
    return await service.run_agent(_db(request), "clinical", body)


@router.post("/agents/coverage", summary="Run the coverage agent with given clinical findings")
async def coverage_agent(body: CoverageAgentRequest, request: Request, who: Reviewer) -> dict:
    return await service.run_agent(_db(request), "coverage", body, live=_live(request))


@router.post("/agents/synthesis", summary="Run the synthesis agent with given upstream results")
async def synthesis_agent(body: SynthesisAgentRequest, request: Request, who: Reviewer) -> dict:
    return await service.run_agent(_db(request), "synthesis", body)
