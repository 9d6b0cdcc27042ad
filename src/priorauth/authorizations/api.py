"""Thin HTTP layer of the lifecycle API: parse, authorize, call the service, shape the response."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Request, Response

from priorauth.auth.deps import Who
from priorauth.authorizations import service
from priorauth.authorizations.schemas import AppealRequest, AttachmentCreate, CancelRequest, CaseFields, ResolveAction
from priorauth.authorizations.states import DECISION_STATES, WORKFLOW_STATES
from priorauth.errors import ApiError, binary, responses
from priorauth.idempotency import IdempotencyKeyHeader

router = APIRouter(prefix="/v1/prior-auth", tags=["authorizations"])
STATE = "`invalid_state_transition`: not allowed in the current `workflowState`"
Limit = Annotated[int, Query(ge=1, le=100)]
# An ETag here is the version, an int4: `W/"2147483647"` is 14 characters. Anything far longer cannot match,
# and parsing thousands of digits is refused by Python itself (a 500), so it is a 422 like any oversized header.
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=32)]


def _db(request: Request):
    return request.app.state.db


def _with_etag(response: Response, body: dict) -> dict:
    response.headers["ETag"] = f'"{body["version"]}"'
    return body


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    cleaned = value.strip().removeprefix("W/").strip('"')
    if not cleaned.isdigit():
        raise ApiError(400, "invalid_if_match", "If-Match must be the authorization version, e.g. If-Match: 3.")
    return int(cleaned)


@router.post("/authorizations", status_code=201, summary="Create a prior-authorization case", responses=responses({
    409: "`idempotency_key_reused_with_different_request`"}))
async def create_authorization(body: CaseFields, request: Request, response: Response, who: Who,
                               idempotency_key: IdempotencyKeyHeader = None) -> dict:
    result, replayed = await service.create(_db(request), who, body, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _with_etag(response, result)


@router.get("/authorizations", summary="List authorizations, newest first")
async def list_authorizations(
    request: Request, who: Who,
    workflowState: Annotated[Literal[WORKFLOW_STATES] | None, Query()] = None,  # type: ignore[valid-type]
    decisionState: Annotated[Literal[DECISION_STATES] | None, Query()] = None,  # type: ignore[valid-type]
    payerId: Annotated[str | None, Query(max_length=200)] = None,
    externalId: Annotated[str | None, Query(max_length=200)] = None,
    createdAfter: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    createdBefore: Annotated[str | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Limit = 25,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    return await service.list_(_db(request), who, workflow_state=workflowState, decision_state=decisionState,
                               payer_id=payerId, external_id=externalId, created_after=createdAfter,
                               created_before=createdBefore, limit=limit, cursor=cursor)


@router.get("/authorizations/{authorization_id}", summary="Get an authorization")
async def get_authorization(authorization_id: str, request: Request, response: Response, who: Who) -> dict:
    return _with_etag(response, await service.get(_db(request), who, authorization_id))


@router.patch("/authorizations/{authorization_id}", summary="Merge-patch case fields (RFC 7386)",
              responses=responses({409: f"`version_conflict` (If-Match is not the current version); {STATE}"}))
async def patch_authorization(authorization_id: str, request: Request, response: Response, who: Who,
                              body: Annotated[dict[str, Any], Body()],
                              if_match: IfMatch = None) -> dict:
    result = await service.patch(_db(request), who, authorization_id, body, _if_match(if_match))
    return _with_etag(response, result)


@router.post("/authorizations/{authorization_id}/preview", summary="Render the filled form and a draft packet",
             responses=responses({409: STATE, 422: "`document_unreadable`: an attachment cannot be merged"}))
async def preview_authorization(authorization_id: str, request: Request, who: Who) -> dict:
    return await service.preview(_db(request), who, authorization_id, request.app.state.settings.render_limits)


@router.post("/authorizations/{authorization_id}/submit", summary="Submit to the payer (three stages)",
             responses=responses({
    409: f"{STATE}; `validation_failed` (blocking issues, now actions); `blocking_actions_open`; "
         "`idempotency_key_reused_for_different_authorization`",
    422: "`document_unreadable`: an attachment cannot be merged into the packet",
    502: "`submission_failed`: rendering, the channel or persisting failed; back in `ready_to_submit`, retryable"}))
async def submit_authorization(authorization_id: str, request: Request, response: Response, who: Who,
                               idempotency_key: IdempotencyKeyHeader = None) -> dict:
    result, replayed = await service.submit(_db(request), who, authorization_id, idempotency_key,
                                            request.app.state.settings.render_limits)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _with_etag(response, result)


@router.post("/authorizations/{authorization_id}/cancel", summary="Cancel a non-terminal authorization",
             responses=responses({409: f"{STATE}; `cancel_already_requested`"}))
async def cancel_authorization(authorization_id: str, request: Request, response: Response, who: Who,
                               body: Annotated[CancelRequest | None, Body()] = None) -> dict:
    body = body or CancelRequest()
    result = await service.cancel(_db(request), who, authorization_id, body.reason, body.closedReason,
                                  body.payerConfirmation)
    return _with_etag(response, result)


@router.delete("/authorizations/{authorization_id}", status_code=204,
               summary="Delete a draft that was never submitted (soft: it ends cancelled, with deletedAt)",
               responses=responses({409: f"{STATE}; `authorization_submitted`"}))
async def delete_authorization(authorization_id: str, request: Request, who: Who) -> Response:
    await service.delete(_db(request), who, authorization_id)
    return Response(status_code=204)


@router.post("/authorizations/{authorization_id}/appeal", summary="Appeal a denial or a partial denial",
             responses=responses({
    409: f"{STATE}; `appeal_already_requested`; `idempotency_key_reused_with_different_request`"}))
async def appeal_authorization(authorization_id: str, body: AppealRequest, request: Request, response: Response,
                               who: Who, idempotency_key: IdempotencyKeyHeader = None) -> dict:
    result, replayed = await service.appeal(_db(request), who, authorization_id, body, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _with_etag(response, result)


@router.get("/authorizations/{authorization_id}/events", summary="The immutable event log, in sequence order")
async def list_events(authorization_id: str, request: Request, who: Who, limit: Limit = 50,
                      cursor: Annotated[str | None, Query(max_length=200)] = None) -> dict:
    return await service.list_events(_db(request), who, authorization_id, limit, cursor)


@router.get("/authorizations/{authorization_id}/actions", summary="Blocking work items")
async def list_actions(authorization_id: str, request: Request, who: Who,
                       status: Annotated[Literal["open", "resolved"] | None, Query()] = None) -> dict:
    return await service.list_actions(_db(request), who, authorization_id, status)


@router.post("/authorizations/{authorization_id}/actions/{action_id}/resolve",
             summary="Resolve a payer request for information with attachments",
             responses=responses({409: f"{STATE}; `action_not_resolvable`; `action_already_resolved`"}))
async def resolve_action(authorization_id: str, action_id: str, body: ResolveAction, request: Request,
                         who: Who) -> dict:
    return await service.resolve_action(_db(request), who, authorization_id, action_id, body)


@router.post("/authorizations/{authorization_id}/attachments", status_code=201, summary="Attach an uploaded file",
             responses=responses({409: STATE}))
async def add_attachment(authorization_id: str, body: AttachmentCreate, request: Request, who: Who) -> dict:
    return await service.add_attachment(_db(request), who, authorization_id, body.fileId, body.category,
                                        body.description)


@router.get("/authorizations/{authorization_id}/attachments", summary="List attachments")
async def list_attachments(authorization_id: str, request: Request, who: Who) -> dict:
    return await service.list_attachments(_db(request), who, authorization_id)


@router.delete("/authorizations/{authorization_id}/attachments/{attachment_id}", status_code=204,
               summary="Remove an attachment", responses=responses({409: f"{STATE}; `attachment_in_use`"}))
async def delete_attachment(authorization_id: str, attachment_id: str, request: Request, who: Who) -> Response:
    await service.delete_attachment(_db(request), who, authorization_id, attachment_id)
    return Response(status_code=204)


@router.get("/authorizations/{authorization_id}/artifacts/{artifact_id}", response_class=Response,
            summary="A generated document (PDF bytes)", responses=binary("The PDF", "application/pdf"))
async def get_artifact(authorization_id: str, artifact_id: str, request: Request, who: Who) -> Response:
    artifact = await service.artifact_content(_db(request), who, authorization_id, artifact_id)
    return Response(artifact.content, media_type=artifact.content_type, headers={
        "Content-Disposition": f'inline; filename="{artifact.kind}-{artifact.id}.pdf"', "ETag": f'"{artifact.sha256}"'})


@router.get("/submission-attempts/{attempt_id}", summary="One submission attempt")
async def get_submission_attempt(attempt_id: str, request: Request, who: Who) -> dict:
    return await service.get_attempt(_db(request), who, attempt_id)
