"""Use cases of the review face: run a review (whole or streamed), read reviews, record the human decision.

The agents are pure and run in a worker thread; this module does the I/O around them: the provider's
NPPES status before the pipeline, the review row after it, and the decision with its authorization
number, letter and audit PDF in one transaction.
"""
from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import undefer

from priorauth.auth.service import Principal
from priorauth.codes.nppes import npi_status
from priorauth.db import Database
from priorauth.documents import audit, letters
from priorauth.errors import DetailError
from priorauth.events import service as org_events
from priorauth.review import clinical, compliance, coverage, synthesis
from priorauth.review.engine import extractor
from priorauth.review.models import AuthorizationNumberCounter, Review, ReviewDecision
from priorauth.review.pipeline import PHASES
from priorauth.review.pipeline import Review as Pipeline
from priorauth.review.schemas import DecisionRequest, PriorAuthRequest
from priorauth.timeutil import iso, utcnow

KEEPALIVE_SECONDS = 2.0


async def _provider(db: Database, npi: str, live: bool) -> dict:
    async with db.read() as session:
        return await npi_status(session, npi, live=live)


async def _store(db: Database, who: Principal, response: dict, reviewed_at: datetime) -> None:
    async with db.write() as session:
        session.add(Review(request_id=response["request_id"], organization_id=who.organization_id,
                           patient_name=response["request"]["patient_name"],
                           recommendation=response["recommendation"], confidence=response["confidence"],
                           confidence_level=response["confidence_level"], response=response,
                           reviewed_at=reviewed_at))


async def _start(db: Database, body: PriorAuthRequest, live: bool) -> Pipeline:
    request = body.model_dump()
    provider = await _provider(db, request["provider_npi"], live)
    return Pipeline(str(uuid.uuid4()), request, provider, extractor(), utcnow())


async def review(db: Database, who: Principal, body: PriorAuthRequest, *, live: bool = False) -> dict:
    """The whole review; `live` asks the public NPPES API about an NPI the local table lacks."""
    pipeline = await _start(db, body, live)

    def run_all() -> dict:
        for phase, *_ in PHASES:
            pipeline.run_phase(phase)
        return pipeline.response(utcnow())

    response = await asyncio.to_thread(run_all)
    await _store(db, who, response, utcnow())
    return response


async def _with_keepalive(work: asyncio.Future) -> AsyncIterator[dict]:
    """Yield a keepalive comment every 2 s until `work` finishes (its result is then read by the caller)."""
    while True:
        done, _ = await asyncio.wait({work}, timeout=KEEPALIVE_SECONDS)
        if done:
            return
        yield {"comment": "keepalive"}


async def stream(db: Database, who: Principal, body: PriorAuthRequest, *, live: bool = False) -> AsyncIterator[dict]:
    """The review as SSE events: 9 `progress`, then `result` (or `error`)."""
    phase, pipeline = "preflight", None
    try:
        pipeline = await _start(db, body, live)
        for phase, running_pct, *_ in PHASES:
            if running_pct is not None:
                yield {"event": "progress", "data": pipeline.mark(phase, "running")}
            work = asyncio.ensure_future(
                asyncio.to_thread(pipeline.run_phase, phase) if phase != "phase_4" else _finish(db, who, pipeline))
            async for comment in _with_keepalive(work):
                yield comment
            result = work.result()
            yield {"event": "progress", "data": pipeline.mark(phase, "completed")}
        yield {"event": "result", "data": result}
    except Exception as exc:  # the client gets a clear error event; the message stays out of it (PHI)
        if pipeline is not None:
            pipeline.fail(phase)
        yield {"event": "error", "data": {"detail": f"Multi-agent review failed: {type(exc).__name__} in {phase}"}}


async def _finish(db: Database, who: Principal, pipeline: Pipeline) -> dict:
    completed = utcnow()
    response = pipeline.response(completed)
    await _store(db, who, response, completed)
    return response


async def _decision_of(session, request_id: str) -> ReviewDecision | None:
    return await session.get(ReviewDecision, request_id)


def _public_decision(d: ReviewDecision) -> dict:
    # decided_by is the reviewer's name as typed; decided_by_client the credential that recorded the decision.
    return {"authorization_number": d.authorization_number, "final_recommendation": d.final_recommendation,
            "decided_by": d.decided_by, "decided_by_client": d.decided_by_client, "decided_at": iso(d.decided_at),
            "was_overridden": d.was_overridden, "override_rationale": d.override_rationale,
            "original_recommendation": d.original_recommendation, "denial_reason": d.denial_reason}


async def _owned(session, who: Principal, request_id: str, *, lock: bool = False, response: bool = True) -> Review:
    query = select(Review).where(Review.request_id == request_id, Review.organization_id == who.organization_id)
    if response:
        query = query.options(undefer(Review.response))
    if lock:
        query = query.with_for_update()
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise DetailError(404, "Review not found")
    return found


async def get(db: Database, who: Principal, request_id: str) -> dict:
    async with db.read() as session:
        found = await _owned(session, who, request_id)
        decision = await _decision_of(session, request_id)
        return {**found.response, "decision": _public_decision(decision) if decision else None}


async def list_(db: Database, who: Principal, limit: int) -> list[dict]:
    async with db.read() as session:
        rows = (await session.execute(
            select(Review, ReviewDecision.request_id)
            .outerjoin(ReviewDecision, ReviewDecision.request_id == Review.request_id)
            .where(Review.organization_id == who.organization_id)
            .order_by(Review.reviewed_at.desc(), Review.request_id.desc()).limit(limit))).all()
    return [{"request_id": r.request_id, "patient_name": r.patient_name, "recommendation": r.recommendation,
             "confidence_level": r.confidence_level, "reviewed_at": iso(r.reviewed_at),
             "decision_made": decided is not None} for r, decided in rows]


async def _next_number(session, db: Database, organization_id: str, when: datetime) -> str:
    """Allocate the day's next number in the decision's transaction: a rollback gives it back (gap-free)."""
    day = when.strftime("%Y%m%d")
    value = await db.increment(session, AuthorizationNumberCounter.__table__,
                               {"organization_id": organization_id, "day": day}, "last_value")
    return f"PA-{day}-{value:05d}"


async def decide(db: Database, who: Principal, body: DecisionRequest) -> dict:
    if body.override_recommendation == "deny" and who.role != "reviewer":
        raise DetailError(403, "Only a licensed reviewer (role 'reviewer') may override to deny")
    try:
        async with db.write() as session:
            found = await _owned(session, who, body.request_id, lock=True)
            if await _decision_of(session, body.request_id) is not None:
                raise DetailError(409, "Decision already recorded for this review")
            decided_at = utcnow()
            original = found.recommendation
            overridden = body.action == "override"
            final = body.override_recommendation if overridden else original
            decision = {"request_id": found.request_id,
                        "authorization_number": await _next_number(session, db, who.organization_id, decided_at),
                        "final_recommendation": final, "decided_by": body.reviewer_name,
                        "decided_by_client": who.client_id, "decided_at": iso(decided_at), "was_overridden": overridden,
                        "override_rationale": body.override_rationale if overridden else None,
                        "original_recommendation": original,
                        "denial_reason": body.denial_reason if final == "deny" else None,
                        "policy_reference": next(iter(found.response.get("policy_references") or []), None)}
            letter, letter_pdf, audit_pdf = await asyncio.to_thread(_documents, found.response, decision)
            session.add(ReviewDecision(
                request_id=found.request_id, organization_id=who.organization_id,
                authorization_number=decision["authorization_number"], action=body.action,
                final_recommendation=final, original_recommendation=original, was_overridden=overridden,
                override_rationale=decision["override_rationale"], denial_reason=decision["denial_reason"],
                decided_by=body.reviewer_name, decided_by_client=who.client_id, decided_at=decided_at,
                letter=letter, letter_pdf=letter_pdf))
            # Ids and outcomes only: rationales and denial reasons are clinical text.
            org_events.record(session, who.organization_id, org_events.REVIEW_DECISION, {
                "reviewId": found.request_id, "authorizationNumber": decision["authorization_number"],
                "finalRecommendation": final, "originalRecommendation": original, "wasOverridden": overridden,
                "decidedAt": decision["decided_at"]})
    except IntegrityError:  # a concurrent decision won the race between our check and our insert
        raise DetailError(409, "Decision already recorded for this review") from None
    return {**{k: v for k, v in decision.items() if k != "policy_reference"},
            "letter": {**letter, "pdf_base64": base64.b64encode(letter_pdf).decode()},
            "updated_audit_justification_pdf": base64.b64encode(audit_pdf).decode()}


def _documents(review_response: dict, decision: dict) -> tuple[dict, bytes, bytes]:
    fields = letters.letter(review_response, decision)
    return fields, letters.render_letter(review_response, decision, fields), audit.render_audit(review_response, decision)


async def audit_pdf(db: Database, who: Principal, request_id: str) -> bytes:
    async with db.read() as session:
        found = await _owned(session, who, request_id)
        decision = await _decision_of(session, request_id)
        response = found.response
        decided = {**_public_decision(decision), "request_id": request_id} if decision else None
    return await asyncio.to_thread(audit.render_audit, response, decided)


async def letter_pdf(db: Database, who: Principal, request_id: str) -> bytes:
    async with db.read() as session:
        await _owned(session, who, request_id, response=False)
        decision = (await session.execute(select(ReviewDecision).where(ReviewDecision.request_id == request_id)
                                          .options(undefer(ReviewDecision.letter_pdf)))).scalar_one_or_none()
        if decision is None:
            raise DetailError(404, "No decision has been recorded for this review yet, so there is no letter")
        return decision.letter_pdf


async def run_agent(db: Database, name: str, body, *, live: bool = False) -> dict:
    """One agent in isolation, in the reference's envelope `{agent, started, completed, result}`."""
    started = utcnow()
    request = body.model_dump() if isinstance(body, PriorAuthRequest) else body.request.model_dump()
    if name == "compliance":
        result = compliance.review(request)
    elif name == "clinical":
        result = await asyncio.to_thread(clinical.review, request, extractor())
    elif name == "coverage":
        provider = await _provider(db, request["provider_npi"], live)
        findings = body.clinical_findings.model_dump()
        if (findings["clinical_extraction"] or {}).get("extraction_confidence") is None:
            # A fixture without a real extraction: read the notes, as the clinical agent would.
            findings["clinical_extraction"] = await asyncio.to_thread(extractor().extract, request["clinical_notes"])
        result = await asyncio.to_thread(coverage.review, request, findings, provider)
    else:
        # Only what the caller gave: an absent part is recomputed by the agent, not taken as empty.
        result = await asyncio.to_thread(
            synthesis.decide, request, body.compliance_result.model_dump(exclude_unset=True),
            body.clinical_result.model_dump(exclude_unset=True), body.coverage_result.model_dump(exclude_unset=True))
    return {"agent": name, "started": iso(started), "completed": iso(utcnow()), "result": result}
