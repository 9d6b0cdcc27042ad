"""Use cases of the authorization lifecycle. The only place that opens transactions for this domain.

Every state change writes its events (gap-free `sequence` per authorization) and their outbox rows in
the same transaction. Rows are read `FOR UPDATE` before a change so concurrent writers on PostgreSQL
queue on the authorization; on SQLite the single BEGIN IMMEDIATE writer does the same.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from priorauth import events
from priorauth.auth.service import Principal
from priorauth.authorizations import states
from priorauth.authorizations.medication import CANCEL_REASONS, compare_approval
from priorauth.authorizations.models import (
    TRACK_KEY,
    Action,
    Artifact,
    Attachment,
    Authorization,
    AuthorizationEvent,
)
from priorauth.authorizations.representation import (
    action_json,
    artifact_json,
    attachment_json,
    attempt_json,
    authorization_json,
    event_json,
    payer_details,
    track,
)
from priorauth.authorizations.schemas import (
    AppealRequest,
    ApprovalEvent,
    CancelConfirmedEvent,
    CancelDeniedEvent,
    CaseFields,
    ClosedEvent,
    DeferredEvent,
    DenialEvent,
    MoreInfoEvent,
    ResolveAction,
)
from priorauth.authorizations.timeframes import payer_decision_due
from priorauth.authorizations.validation import CaseAssessment, Issue, assess
from priorauth.config import RenderLimits
from priorauth.db import Database
from priorauth.documents import compose
from priorauth.errors import ApiError, issues_from, not_found
from priorauth.files.models import StoredFile
from priorauth.ids import new_id
from priorauth.pagination import decode_cursor, encode_cursor
from priorauth.questionnaires import resolve
from priorauth.submissions.channels import Outbound, channel_for
from priorauth.submissions.models import SubmissionAttempt
from priorauth.timeutil import iso, utcnow

log = structlog.get_logger("priorauth.authorizations")
SUBMIT_WAIT_SECONDS = 30.0


# ---------------------------------------------------------------- helpers

def _today() -> date:
    return datetime.now(timezone.utc).date()


def _canonical(case: CaseFields) -> dict:
    return case.model_dump(mode="json", exclude_none=True)


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _assess(auth: Authorization) -> CaseAssessment:
    return assess(auth.case, auth.questionnaire, _today())


def _transition_error(exc: states.InvalidTransition) -> ApiError:
    return ApiError(409, "invalid_state_transition", str(exc),
                    details={"workflowState": exc.state, "operation": exc.operation})


def _check(operation: str, auth: Authorization) -> None:
    try:
        states.check(operation, auth.workflow_state)
    except states.InvalidTransition as exc:
        raise _transition_error(exc) from None


def emit(session: AsyncSession, auth: Authorization, type_: str, data: dict) -> AuthorizationEvent:
    auth.last_event_sequence += 1
    event = AuthorizationEvent(id=new_id("evt"), organization_id=auth.organization_id, authorization_id=auth.id,
                               sequence=auth.last_event_sequence, type=type_, data=data, created_at=utcnow())
    session.add(event)
    events.publish(session, events.Published(event.id, auth.organization_id, type_, event.created_at, data,
                                             ordering_key=auth.id, sequence=event.sequence, subject=auth))
    return event


def _touch(auth: Authorization) -> None:
    auth.version += 1
    auth.updated_at = utcnow()


def _set_state(session: AsyncSession, auth: Authorization, workflow: str | None = None,
               decision: str | None = None, reason: str | None = None) -> None:
    before = {"workflowState": auth.workflow_state, "decisionState": auth.decision_state}
    auth.workflow_state = workflow or auth.workflow_state
    auth.decision_state = decision or auth.decision_state
    after = {"workflowState": auth.workflow_state, "decisionState": auth.decision_state}
    if before != after:
        _end_cancel_request(auth)
        emit(session, auth, "prior_auth.status.changed", {"previous": before, "current": after, "reason": reason})


def _end_cancel_request(auth: Authorization) -> None:
    """A status change ends a cancel request the payer has not confirmed: an open one was superseded (the payer
    decided, or asked for more information, instead), a denied one stops being reported."""
    record = track(auth).get("cancellation") or {}
    if record.get("status") in (states.CANCEL_REQUESTED, states.CANCEL_DENIED) and not record.get("endedAt"):
        status = states.CANCEL_SUPERSEDED if record["status"] == states.CANCEL_REQUESTED else record["status"]
        _update_track(auth, cancellation=record | {"status": status, "endedAt": iso(utcnow())})


def _update_track(auth: Authorization, **changes: Any) -> None:
    """Change the lifecycle's bookkeeping (None removes a key); a new dict, so the JSON column is saved."""
    tracked = {k: v for k, v in (track(auth) | changes).items() if v is not None}
    auth.decision_details = (payer_details(auth) or {}) | ({TRACK_KEY: tracked} if tracked else {})


def _set_payer_details(auth: Authorization, details: dict) -> None:
    """Replace the payer's last response, keeping the lifecycle's bookkeeping."""
    tracked = track(auth)
    auth.decision_details = details | ({TRACK_KEY: tracked} if tracked else {})


def _appealable(auth: Authorization) -> bool:
    partial = bool((payer_details(auth) or {}).get("partialDenial"))
    return states.can_appeal(auth.workflow_state, auth.decision_state, partial, "appeal" in track(auth))


async def _load(session: AsyncSession, who: Principal, auth_id: str, *, lock: bool = False) -> Authorization:
    query = select(Authorization).where(Authorization.id == auth_id,
                                        Authorization.organization_id == who.organization_id)
    if lock:
        query = query.with_for_update()
    auth = (await session.execute(query)).scalar_one_or_none()
    if auth is None:
        raise not_found("authorization", auth_id)
    return auth


async def _open_actions(session: AsyncSession, auth_id: str) -> list[Action]:
    return list((await session.execute(
        select(Action).where(Action.authorization_id == auth_id, Action.status == "open").order_by(Action.id)
    )).scalars())


async def _render(session: AsyncSession, auth: Authorization, assessment: CaseAssessment | None = None) -> dict:
    return authorization_json(auth, assessment or _assess(auth), await _open_actions(session, auth.id))


def _close_by_system(session: AsyncSession, auth: Authorization, action: Action, reason: str) -> None:
    action.status, action.resolved_at = "resolved", utcnow()
    action.resolution = {"resolvedBy": "system", "reason": reason}
    emit(session, auth, "prior_auth.action.resolved", {"actionId": action.id, "type": action.type})


def _sync_validation_actions(session: AsyncSession, auth: Authorization, open_actions: list[Action],
                             issues: list[Issue]) -> list[Action]:
    """Make the open validation_issue actions equal the current blocking issues; returns the open set."""
    now = utcnow()
    wanted = {issue.key: issue for issue in issues}
    still_open = []
    for action in open_actions:
        if action.type != "validation_issue":
            still_open.append(action)
        elif action.issue_key in wanted:
            wanted.pop(action.issue_key)
            still_open.append(action)
        else:
            _close_by_system(session, auth, action, "issue no longer present")
    for issue in wanted.values():
        action = Action(id=new_id("act"), organization_id=auth.organization_id, authorization_id=auth.id,
                        type="validation_issue", status="open", blocking=True, issue_key=issue.key,
                        code=issue.code, message=issue.message, details={"path": issue.path}, created_at=now)
        session.add(action)
        still_open.append(action)
        emit(session, auth, "prior_auth.action.required",
             {"actionId": action.id, "type": action.type, "code": issue.code, "path": issue.path})
    return still_open


def _payer_actions_open(actions: list[Action]) -> int:
    return sum(1 for a in actions if a.type == "payer_request_for_information")


def _resolved_blob(case: dict) -> dict:
    service = case.get("service") or {}
    found = resolve((case.get("coverage") or {}).get("payerId"), service.get("codeSystem"), service.get("code"))
    return {"id": found.id, "title": found.title, "version": found.version, "questionnaire": found.questionnaire,
            "source": found.source, "supportingDocumentationGuidance": found.supporting_documentation_guidance,
            "requirementGroups": found.requirement_groups, "sourceForm": found.source_form}


# ---------------------------------------------------------------- create, read, list, patch

async def create(db: Database, who: Principal, body: CaseFields, idempotency_key: str | None) -> tuple[dict, bool]:
    """Returns (authorization, replayed)."""
    case = _canonical(body)
    request_hash = _hash(case)
    if idempotency_key:
        replay = await _create_replay(db, who, idempotency_key, request_hash)
        if replay is not None:
            return replay, True
    resolved = _resolved_blob(case)
    now = utcnow()
    auth = Authorization(id=new_id("auth"), organization_id=who.organization_id, external_id=case.get("externalId"),
                         payer_id=(case.get("coverage") or {}).get("payerId"), case=case, questionnaire=resolved,
                         decision_state="unknown", version=1, last_event_sequence=0,
                         idempotency_key=idempotency_key, request_hash=request_hash, created_at=now, updated_at=now)
    assessment = _assess(auth)
    auth.workflow_state = states.after_create(assessment.blocking)
    try:
        async with db.write() as session:
            session.add(auth)
            emit(session, auth, "prior_auth.authorization.created",
                 {"workflowState": auth.workflow_state, "decisionState": auth.decision_state,
                  "questionnaireId": resolved["id"]})
    except IntegrityError:
        # A concurrent request with the same key won the insert.
        replay = await _create_replay(db, who, idempotency_key, request_hash) if idempotency_key else None
        if replay is None:
            raise
        return replay, True
    return authorization_json(auth, assessment, []), False


async def _create_replay(db: Database, who: Principal, key: str, request_hash: str) -> dict | None:
    async with db.read() as session:
        existing = (await session.execute(select(Authorization).where(
            Authorization.organization_id == who.organization_id, Authorization.idempotency_key == key,
        ))).scalar_one_or_none()
        if existing is None:
            return None
        if existing.request_hash != request_hash:
            raise ApiError(409, "idempotency_key_reused_with_different_request",
                           "This Idempotency-Key was already used to create an authorization with a different body.",
                           details={"authorizationId": existing.id})
        return await _render(session, existing)


async def get(db: Database, who: Principal, auth_id: str) -> dict:
    async with db.read() as session:
        return await _render(session, await _load(session, who, auth_id))


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "validation_failed", f"{name} must be an ISO 8601 date-time.",
                       issues=[{"path": name, "message": "not an ISO 8601 date-time"}]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


async def list_(db: Database, who: Principal, *, workflow_state: str | None, decision_state: str | None,
                payer_id: str | None, external_id: str | None, created_after: str | None,
                created_before: str | None, limit: int, cursor: str | None) -> dict:
    query = select(Authorization).where(Authorization.organization_id == who.organization_id)
    if workflow_state:
        query = query.where(Authorization.workflow_state == workflow_state)
    if decision_state:
        query = query.where(Authorization.decision_state == decision_state)
    if payer_id:
        query = query.where(Authorization.payer_id == payer_id)
    if external_id:
        query = query.where(Authorization.external_id == external_id)
    if (after := _parse_time(created_after, "createdAfter")) is not None:
        query = query.where(Authorization.created_at >= after)
    if (before := _parse_time(created_before, "createdBefore")) is not None:
        query = query.where(Authorization.created_at < before)
    if cursor:
        query = query.where(Authorization.id < decode_cursor(cursor))
    # Ids are time-ordered, so newest-first by id is newest-first by creation, with no ties.
    query = query.order_by(Authorization.id.desc()).limit(limit + 1)
    async with db.read() as session:
        rows = list((await session.execute(query)).scalars())
        page = rows[:limit]
        actions: dict[str, list[Action]] = {a.id: [] for a in page}
        if page:
            for action in (await session.execute(select(Action).where(
                    Action.authorization_id.in_(list(actions)), Action.status == "open").order_by(Action.id))).scalars():
                actions[action.authorization_id].append(action)
    has_more = len(rows) > limit
    return {"object": "list", "data": [authorization_json(a, _assess(a), actions[a.id]) for a in page],
            "pagination": {"hasMore": has_more, "nextCursor": encode_cursor(page[-1].id) if has_more else None}}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


async def patch(db: Database, who: Principal, auth_id: str, changes: dict, if_match: int | None) -> dict:
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        if if_match is not None and if_match != auth.version:
            raise ApiError(409, "version_conflict",
                           f"The authorization is at version {auth.version}, not {if_match}; fetch it and retry.",
                           details={"currentVersion": auth.version, "expectedVersion": if_match})
        _check("patch", auth)
        try:
            merged = _canonical(CaseFields.model_validate(merge_patch(auth.case, changes)))
        except ValidationError as exc:
            raise ApiError(422, "validation_failed", "The request is invalid.",
                           issues=issues_from(exc.errors())) from None
        changed = sorted(k for k in set(merged) | set(auth.case) if merged.get(k) != auth.case.get(k))
        if not changed:
            return await _render(session, auth)
        auth.case = merged
        auth.external_id = merged.get("externalId")
        auth.payer_id = (merged.get("coverage") or {}).get("payerId")
        _touch(auth)
        emit(session, auth, "prior_auth.authorization.updated", {"changedFields": changed, "version": auth.version})
        assessment = _assess(auth)
        open_actions = _sync_validation_actions(session, auth, await _open_actions(session, auth.id),
                                                assessment.issues)
        _set_state(session, auth, states.after_recompute(assessment.blocking, _payer_actions_open(open_actions)),
                   reason="authorization updated")
        return authorization_json(auth, assessment, open_actions)


async def cancel(db: Database, who: Principal, auth_id: str, reason: str | None,
                 closed_reason: str | None = None, payer_confirmation: bool = False) -> dict:
    """Cancel at once, or (payer_confirmation) ask the payer to confirm the cancel: the case stays pending_payer
    with `cancellation.status = "requested"` until a sandbox `cancel_confirmed` / `cancel_denied` event."""
    reason = reason or "cancelled by client"
    closed_reason = closed_reason or CANCEL_REASONS[0]
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        if not payer_confirmation:
            _check("cancel", auth)
            _touch(auth)
            await _close_case(session, auth, reason, cancellation={"reason": reason, "closedReason": closed_reason})
            return await _render(session, auth)
        _check("cancel_request", auth)
        existing = track(auth).get("cancellation") or {}
        if existing.get("status") == states.CANCEL_REQUESTED:
            raise ApiError(409, "cancel_already_requested", "A cancel request is already waiting for the payer.",
                           details={"requestedAt": existing.get("requestedAt")})
        now = iso(utcnow())
        _touch(auth)
        _update_track(auth, cancellation={"status": states.CANCEL_REQUESTED, "reason": reason,
                                          "closedReason": closed_reason, "requestedAt": now})
        emit(session, auth, "prior_auth.cancel.requested", {"reason": reason, "closedReason": closed_reason})
        return await _render(session, auth)


async def delete(db: Database, who: Principal, auth_id: str) -> None:
    """Soft-delete a draft (never submitted): it ends `cancelled` with `deleted: {at, by}`; nothing is erased.
    Deleting a deleted case again does nothing."""
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        if "deleted" in track(auth):
            return
        _check("delete", auth)
        if auth.latest_submission_attempt_id is not None or auth.submitted_at is not None:
            raise ApiError(409, "authorization_submitted", "Only a draft that was never submitted can be deleted; "
                           "cancel it instead.", details={"submissionAttemptId": auth.latest_submission_attempt_id})
        at = utcnow()
        _touch(auth)
        await _close_case(session, auth, states.DELETED, at=at, action_reason="authorization deleted",
                          event=("prior_auth.authorization.deleted", {"deletedBy": who.client_id}),
                          deleted={"at": iso(at), "by": who.client_id})


async def _close_case(session: AsyncSession, auth: Authorization, reason: str, *, at: datetime | None = None,
                      action_reason: str = "authorization cancelled", event: tuple[str, dict] | None = None,
                      **tracked: Any) -> None:
    """End a case in `cancelled` (a cancel, a payer-confirmed cancel, a delete): open actions are closed by the
    system, a requested appeal is withdrawn, `tracked` is recorded, then `event` and the status change. The caller
    has moved the version (`_touch`)."""
    auth.cancelled_at = at or utcnow()
    for action in await _open_actions(session, auth.id):
        _close_by_system(session, auth, action, action_reason)
    appeal = track(auth).get("appeal")
    if appeal and appeal["status"] == "requested":  # cancelling during an appeal withdraws it
        appeal = appeal | {"status": "resolved", "outcome": "withdrawn", "resolvedAt": iso(auth.cancelled_at)}
    _update_track(auth, appeal=appeal, **tracked)
    if event is not None:
        emit(session, auth, *event)
    _set_state(session, auth, "cancelled", reason=reason)


# ---------------------------------------------------------------- appeals

def _appeal_hash(body: AppealRequest) -> str:
    return _hash(body.model_dump(mode="json"))


async def appeal(db: Database, who: Principal, auth_id: str, body: AppealRequest,
                 idempotency_key: str | None) -> tuple[dict, bool]:
    """Appeal a denial or a partial denial: the case goes back to the payer. Returns (authorization, replayed)."""
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        existing = track(auth).get("appeal")
        if existing is not None:
            if idempotency_key and existing.get("idempotencyKey") == idempotency_key:
                if existing.get("requestHash") != _appeal_hash(body):
                    raise ApiError(409, "idempotency_key_reused_with_different_request",
                                   "This Idempotency-Key was already used to appeal with a different body.",
                                   details={"appealId": existing["id"]})
                return await _render(session, auth), True
            raise ApiError(409, "appeal_already_requested", "This authorization has already been appealed; "
                           "an authorization can be appealed once.", details={"appealId": existing["id"]})
        _check("appeal", auth)
        if not _appealable(auth):
            raise ApiError(409, "invalid_state_transition",
                           f"Cannot appeal an authorization that is completed/{auth.decision_state}: only a denial "
                           "or an approval with a partial denial can be appealed.",
                           details={"workflowState": auth.workflow_state, "decisionState": auth.decision_state,
                                    "operation": "appeal"})
        await _check_attachment_ids(session, auth, body.attachmentIds)
        now = utcnow()
        record = {"id": new_id("apl"), "status": "requested", "reason": body.reason, "notes": body.notes,
                  "attachmentIds": body.attachmentIds, "appealedDecision": auth.decision_state,
                  "requestedAt": iso(now), "requestedBy": who.client_id, "resolvedAt": None, "outcome": None,
                  "idempotencyKey": idempotency_key, "requestHash": _appeal_hash(body)}
        auth.completed_at = None
        _update_track(auth, appeal=record, payerResponseDueAt=iso(payer_decision_due(now, auth.case.get("urgency"))))
        _touch(auth)
        emit(session, auth, "prior_auth.appeal.requested",
             {"appealId": record["id"], "appealedDecision": record["appealedDecision"],
              "attachmentIds": body.attachmentIds})
        _set_state(session, auth, "pending_payer", "pending", reason=states.APPEAL_REQUESTED)
        return await _render(session, auth), False


async def _check_attachment_ids(session: AsyncSession, auth: Authorization, ids: list[str]) -> None:
    if not ids:
        return
    known = set((await session.execute(select(Attachment.id).where(
        Attachment.authorization_id == auth.id, Attachment.id.in_(ids)))).scalars())
    unknown = [(i, a) for i, a in enumerate(ids) if a not in known]
    if unknown:
        raise ApiError(422, "validation_failed", "Every attachment id must belong to this authorization.",
                       issues=[{"path": f"attachmentIds[{i}]", "message": f"no attachment {a!r} on this authorization"}
                               for i, a in unknown])


# ---------------------------------------------------------------- events, actions

async def list_events(db: Database, who: Principal, auth_id: str, limit: int, cursor: str | None) -> dict:
    after = 0
    if cursor:
        raw = decode_cursor(cursor)
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
            raise ApiError(400, "invalid_cursor", "The pagination cursor is malformed.")
        after = int(raw)
    async with db.read() as session:
        await _load(session, who, auth_id)
        rows = list((await session.execute(
            select(AuthorizationEvent).where(AuthorizationEvent.authorization_id == auth_id,
                                             AuthorizationEvent.sequence > after)
            .order_by(AuthorizationEvent.sequence).limit(limit + 1))).scalars())
    has_more = len(rows) > limit
    page = rows[:limit]
    # The cursor is returned even on the last page, so a client can poll for newer events from it.
    last = page[-1].sequence if page else after
    return {"object": "list", "data": [event_json(e) for e in page],
            "pagination": {"hasMore": has_more, "nextCursor": encode_cursor(str(last)) if last else None}}


async def list_actions(db: Database, who: Principal, auth_id: str, status: str | None) -> dict:
    async with db.read() as session:
        await _load(session, who, auth_id)
        query = select(Action).where(Action.authorization_id == auth_id).order_by(Action.id)
        if status:
            query = query.where(Action.status == status)
        rows = (await session.execute(query)).scalars()
        return {"object": "list", "data": [action_json(a) for a in rows]}


async def resolve_action(db: Database, who: Principal, auth_id: str, action_id: str, body: ResolveAction) -> dict:
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        action = (await session.execute(select(Action).where(
            Action.id == action_id, Action.authorization_id == auth.id))).scalar_one_or_none()
        if action is None:
            raise not_found("action", action_id)
        if action.type != "payer_request_for_information":
            raise ApiError(409, "action_not_resolvable",
                           "Validation actions clear themselves when the authorization is patched.")
        if action.status != "open":
            raise ApiError(409, "action_already_resolved", f"Action {action_id!r} is already resolved.")
        _check("resolve_action", auth)
        await _check_attachment_ids(session, auth, body.attachmentIds)
        action.status, action.resolved_at = "resolved", utcnow()
        action.resolution = {"resolvedBy": who.client_id, "attachmentIds": body.attachmentIds, "note": body.note}
        _touch(auth)
        emit(session, auth, "prior_auth.action.resolved",
             {"actionId": action.id, "type": action.type, "attachmentIds": body.attachmentIds})
        remaining = [a for a in await _open_actions(session, auth.id) if a.id != action.id and a.blocking]
        if not remaining:
            _set_state(session, auth, "ready_to_submit", reason="blocking actions resolved")
        return action_json(action) | {"authorization": await _render(session, auth)}


# ---------------------------------------------------------------- attachments, artifacts, files

async def add_attachment(db: Database, who: Principal, auth_id: str, file_id: str, category: str | None,
                         description: str | None) -> dict:
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        if not _appealable(auth):  # a case that can still be appealed takes the appeal's documents
            _check("attach", auth)
        stored = (await session.execute(select(StoredFile).where(
            StoredFile.id == file_id, StoredFile.organization_id == who.organization_id))).scalar_one_or_none()
        if stored is None:
            raise ApiError(422, "validation_failed", f"No file {file_id!r}; upload it with POST /v1/files first.",
                           issues=[{"path": "fileId", "message": "unknown file"}])
        attachment = Attachment(id=new_id("att"), organization_id=auth.organization_id, authorization_id=auth.id,
                                file_id=stored.id, category=category, description=description, created_at=utcnow())
        session.add(attachment)
        _touch(auth)
        emit(session, auth, "prior_auth.attachments.added",
             {"attachmentId": attachment.id, "fileId": stored.id, "contentType": stored.content_type})
        return attachment_json(attachment, stored)


async def snapshot(session: AsyncSession, auth: Authorization) -> tuple[dict, list[dict]]:
    """The authorization and its attachments as the API shows them (for webhook payloads)."""
    return await _render(session, auth), [attachment_json(a, f) for a, f in await _attachments(session, auth.id)]


async def list_attachments(db: Database, who: Principal, auth_id: str) -> dict:
    async with db.read() as session:
        await _load(session, who, auth_id)
        return {"object": "list", "data": [attachment_json(a, f) for a, f in await _attachments(session, auth_id)]}


async def delete_attachment(db: Database, who: Principal, auth_id: str, attachment_id: str) -> None:
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        attachment = (await session.execute(select(Attachment).where(
            Attachment.id == attachment_id, Attachment.authorization_id == auth.id))).scalar_one_or_none()
        if attachment is None:
            raise not_found("attachment", attachment_id)
        _check("detach", auth)
        resolutions = (await session.execute(select(Action.resolution).where(
            Action.authorization_id == auth.id, Action.status == "resolved"))).scalars()
        if any(attachment_id in ((r or {}).get("attachmentIds") or []) for r in resolutions):
            raise ApiError(409, "attachment_in_use", "This attachment answered a payer request and must stay.")
        await session.delete(attachment)
        _touch(auth)
        emit(session, auth, "prior_auth.attachments.removed", {"attachmentId": attachment_id})


async def artifact_content(db: Database, who: Principal, auth_id: str, artifact_id: str) -> Artifact:
    async with db.read() as session:
        await _load(session, who, auth_id)
        artifact = (await session.execute(select(Artifact).options(undefer(Artifact.content)).where(
            Artifact.id == artifact_id, Artifact.authorization_id == auth_id))).scalar_one_or_none()
        if artifact is None:
            raise not_found("artifact", artifact_id)
        return artifact


async def get_attempt(db: Database, who: Principal, attempt_id: str) -> dict:
    async with db.read() as session:
        attempt = (await session.execute(select(SubmissionAttempt).where(
            SubmissionAttempt.id == attempt_id,
            SubmissionAttempt.organization_id == who.organization_id))).scalar_one_or_none()
        if attempt is None:
            raise not_found("submission attempt", attempt_id)
        return attempt_json(attempt)


async def _attachments(session: AsyncSession, auth_id: str, *, with_content: bool = False) -> list:
    """(attachment, file) rows of one authorization, oldest first."""
    query = (select(Attachment, StoredFile).join(StoredFile, StoredFile.id == Attachment.file_id)
             .where(Attachment.authorization_id == auth_id).order_by(Attachment.id))
    if with_content:
        query = query.options(undefer(StoredFile.content))
    return list((await session.execute(query)).all())


async def _attachment_parts(session: AsyncSession, auth_id: str) -> tuple[list[dict], list[tuple[str, bytes]]]:
    rows = await _attachments(session, auth_id, with_content=True)
    return [attachment_json(a, f) for a, f in rows], [(f.content_type, f.content) for _, f in rows]


def _artifact(auth: Authorization, kind: str, purpose: str, pdf: compose.Pdf, attempt_id: str | None) -> Artifact:
    return Artifact(id=new_id("art"), organization_id=auth.organization_id, authorization_id=auth.id,
                    submission_attempt_id=attempt_id, kind=kind, purpose=purpose, content_type="application/pdf",
                    size=len(pdf.content), sha256=hashlib.sha256(pdf.content).hexdigest(),
                    page_count=pdf.pages, content=pdf.content, created_at=utcnow())


# ---------------------------------------------------------------- preview

async def preview(db: Database, who: Principal, auth_id: str, render_limits: RenderLimits) -> dict:
    """Render the filled form and a draft packet; the lifecycle (state, version, events) is untouched."""
    async with db.read() as session:
        auth = await _load(session, who, auth_id)
        attachments, parts = await _attachment_parts(session, auth.id)
        open_actions = await _open_actions(session, auth.id)
    assessment = _assess(auth)
    try:
        documents = await asyncio.to_thread(compose.render_preview, auth.id, auth.case, auth.questionnaire,
                                            assessment.questionnaire.question_states, parts, render_limits)
    except compose.DocumentError as exc:
        raise ApiError(422, "document_unreadable", str(exc)) from None
    form_artifact = _artifact(auth, "filled_form", "preview", documents["filled_form"], None)
    packet_artifact = _artifact(auth, "draft_packet", "preview", documents["draft_packet"], None)
    async with db.write() as session:
        # Keep only the newest preview: older previews are cache, not record.
        old = (await session.execute(select(Artifact).where(
            Artifact.authorization_id == auth.id, Artifact.purpose == "preview"))).scalars()
        for artifact in old:
            await session.delete(artifact)
        session.add_all([form_artifact, packet_artifact])
    blocking_actions = [a for a in open_actions if a.blocking]
    submittable = auth.workflow_state in states.ALLOWED_FROM["submit"] and not assessment.blocking \
        and not _payer_actions_open(blocking_actions)
    guidance = auth.questionnaire.get("supportingDocumentationGuidance") or []
    answers = auth.case.get("answers") or {}
    visible = [q for q in assessment.questionnaire.question_states if q["state"] != "hidden"]
    # A conditional document is needed when its yes/no question is shown and answered yes.
    yes = {q["linkId"] for q in visible if answers.get(q["linkId"]) is True}
    requests = [{"source": "questionnaire", **g} for g in guidance
                if not g.get("requiredWhen") or g["requiredWhen"] in yes]
    requests += [{"source": "payer", "actionId": a.id, "description": doc}
                 for a in open_actions if a.type == "payer_request_for_information"
                 for doc in (a.details.get("requestedDocuments") or [])]
    return {
        "object": "prior_auth.preview",
        "authorizationId": auth.id,
        "version": auth.version,
        "workflowState": auth.workflow_state,
        "submittable": submittable,
        "validationIssues": [i.as_json() for i in assessment.issues],
        "contextRequirements": assessment.context_requirements,
        "questionStates": assessment.questionnaire.question_states,
        "activeRequirementGroups": assessment.questionnaire.active_requirement_groups,
        "supportingDocumentRequests": requests,
        "mappingSummary": {
            "questionnaireId": auth.questionnaire["id"],
            "visibleQuestions": len(visible),
            "answeredQuestions": sum(1 for q in visible if q["answered"]),
            "requiredUnanswered": len(assessment.questionnaire.missing_required),
            "attachments": len(attachments),
            "contextFieldsMissing": len(assessment.context_requirements),
        },
        "documents": {"filledForm": artifact_json(form_artifact), "draftPacket": artifact_json(packet_artifact)},
    }


# ---------------------------------------------------------------- submit

async def submit(db: Database, who: Principal, auth_id: str, idempotency_key: str | None,
                 render_limits: RenderLimits) -> tuple[dict, bool]:
    """Stage 1 takes the lock and moves to `submitting`; stage 2 renders and sends; stage 3 records.
    Returns (authorization with its submission, replayed)."""
    attempt_id, snapshot = await _submit_stage1(db, who, auth_id, idempotency_key)
    if snapshot is None:
        return await _submission_result(db, who, auth_id, attempt_id), True
    auth, question_states, attachments, parts = snapshot
    stage = "render_failed"
    try:
        channel = channel_for(auth.payer_id)
        submitted_at = utcnow()
        documents = await asyncio.to_thread(
            compose.render_submission, auth.id, auth.case, auth.questionnaire, question_states, attachments,
            parts, iso(submitted_at), attempt_id, channel.name, render_limits)
        stage = "channel_error"
        confirmation = await channel.send(Outbound(auth.id, attempt_id, auth.payer_id,
                                                   documents["submission_packet"].content))
        stage = "persist_failed"
        return await _submit_stage3(db, who, auth_id, attempt_id, channel.name, submitted_at, confirmation,
                                    documents), False
    except Exception as exc:
        unreadable = isinstance(exc, compose.DocumentError)
        code = "document_unreadable" if unreadable else stage
        await _submission_failed(db, auth_id, attempt_id, code, str(exc) if unreadable else None,
                                 error_type=type(exc).__name__)
        if unreadable:
            raise ApiError(422, code, str(exc), details={"submissionAttemptId": attempt_id}) from None
        raise ApiError(502, "submission_failed", "The submission could not be completed; the authorization is "
                       "back in ready_to_submit and can be submitted again.", retryable=True,
                       details={"submissionAttemptId": attempt_id, "stage": code}) from None


# What stage 2 renders: the case, its question states, attachment metadata and attachment bytes.
Snapshot = tuple[Authorization, list[dict], list[dict], list[tuple[str, bytes]]]


async def _submit_stage1(db: Database, who: Principal, auth_id: str, key: str | None) -> tuple[str, Snapshot | None]:
    """Returns (attempt id, what to render), or (attempt id, None) when the key replays an attempt.
    Raises for invalid states and validation failures (after committing the validation actions
    those failures create)."""
    failure: ApiError | None = None
    try:
        async with db.write() as session:
            auth = await _load(session, who, auth_id, lock=True)
            attempt = None
            if key:
                attempt = (await session.execute(select(SubmissionAttempt).where(
                    SubmissionAttempt.organization_id == who.organization_id,
                    SubmissionAttempt.idempotency_key == key))).scalar_one_or_none()
                if attempt is not None and attempt.authorization_id != auth.id:
                    raise _key_for_other_authorization(attempt.authorization_id)
                if attempt is not None and (attempt.status != "failed" or auth.workflow_state != "ready_to_submit"):
                    return attempt.id, None
            _check("submit", auth)
            assessment = _assess(auth)
            sequence_before = auth.last_event_sequence
            open_actions = _sync_validation_actions(session, auth, await _open_actions(session, auth.id),
                                                    assessment.issues)
            if assessment.blocking or _payer_actions_open(open_actions):
                _set_state(session, auth, "action_required", reason="submit found blocking issues")
                if auth.last_event_sequence != sequence_before:  # only a visible change moves the version
                    _touch(auth)
                if assessment.blocking:
                    failure = ApiError(409, "validation_failed", "The authorization has blocking validation issues.",
                                       issues=[i.as_json() for i in assessment.issues],
                                       details={"actionIds": [a.id for a in open_actions if a.type == "validation_issue"]})
                else:
                    failure = ApiError(409, "blocking_actions_open", "Resolve the open payer requests before submitting.",
                                       details={"actionIds": [a.id for a in open_actions]})
            else:
                now = utcnow()
                if attempt is None:
                    attempt = SubmissionAttempt(id=new_id("sat"), organization_id=who.organization_id,
                                                authorization_id=auth.id, idempotency_key=key, status="submitting",
                                                tries=1, artifact_ids={}, started_at=now)
                    session.add(attempt)
                else:  # the same key retries its own failed attempt
                    attempt.status, attempt.tries, attempt.started_at = "submitting", attempt.tries + 1, now
                    attempt.error_code = attempt.error_message = None
                auth.latest_submission_attempt_id = attempt.id
                _touch(auth)
                _set_state(session, auth, "submitting", reason="submission started")
                attempt_id = attempt.id
                attachments, parts = await _attachment_parts(session, auth.id)
    except IntegrityError:
        # Another authorization took this key concurrently.
        async with db.read() as session:
            other = (await session.execute(select(SubmissionAttempt.authorization_id).where(
                SubmissionAttempt.organization_id == who.organization_id,
                SubmissionAttempt.idempotency_key == key))).scalar_one_or_none()
        if other is None:
            raise
        if other != auth_id:
            raise _key_for_other_authorization(other) from None
        return await _submit_stage1(db, who, auth_id, key)
    if failure is not None:
        raise failure
    return attempt_id, (auth, assessment.questionnaire.question_states, attachments, parts)


def _key_for_other_authorization(other_id: str) -> ApiError:
    return ApiError(409, "idempotency_key_reused_for_different_authorization",
                    "This Idempotency-Key was already used to submit a different authorization.",
                    details={"authorizationId": other_id})


async def _submit_stage3(db: Database, who: Principal, auth_id: str, attempt_id: str, channel: str,
                         submitted_at: datetime, confirmation: dict, documents: dict[str, compose.Pdf]) -> dict:
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        attempt = await session.get(SubmissionAttempt, attempt_id, with_for_update=True)
        if auth.workflow_state != "submitting" or attempt is None or attempt.status != "submitting":
            raise RuntimeError("submission was recovered or changed while in flight")
        artifacts = [_artifact(auth, kind, "submission", content, attempt_id) for kind, content in documents.items()]
        session.add_all(artifacts)
        attempt.status, attempt.channel, attempt.completed_at = "submitted", channel, utcnow()
        attempt.outbound = confirmation
        attempt.artifact_ids = {a.kind: a.id for a in artifacts}
        auth.submission_channel = channel
        auth.submitted_at = auth.submitted_at or submitted_at
        # The payer's decision clock (CMS-0057-F) starts when it receives this submission.
        _update_track(auth, submissionError=None,
                      payerResponseDueAt=iso(payer_decision_due(attempt.completed_at, auth.case.get("urgency"))))
        _touch(auth)
        emit(session, auth, "prior_auth.submission.submitted",
             {"submissionAttemptId": attempt_id, "channel": channel, "artifactIds": attempt.artifact_ids})
        _set_state(session, auth, "pending_payer", "pending", reason="submission committed")
        return await _render(session, auth) | {"submission": attempt_json(attempt)}


_FAILURE_MESSAGES = {
    "render_failed": "The submission documents could not be rendered.",
    "channel_error": "The submission channel did not accept the packet.",
    "persist_failed": "The submission could not be recorded.",
    "interrupted": "The submission was interrupted before it completed.",
}


async def _submission_failed(db: Database, auth_id: str, attempt_id: str, code: str, message: str | None = None,
                             *, error_type: str | None = None) -> None:
    message = message or _FAILURE_MESSAGES[code]
    log.warning("submission_failed", authorization_id=auth_id, attempt_id=attempt_id, code=code, error_type=error_type)
    async with db.write() as session:
        auth = await session.get(Authorization, auth_id, with_for_update=True)
        attempt = await session.get(SubmissionAttempt, attempt_id, with_for_update=True)
        if auth is None or attempt is None or attempt.status != "submitting":
            return
        attempt.status, attempt.completed_at = "failed", utcnow()
        attempt.error_code, attempt.error_message = code, message
        if auth.workflow_state == "submitting":
            _touch(auth)
            _update_track(auth, submissionError={"submissionAttemptId": attempt_id, "code": code,
                                                 "failedAt": iso(attempt.completed_at)})
            emit(session, auth, "prior_auth.submission.failed",
                 {"submissionAttemptId": attempt_id, "errorCode": code})
            _set_state(session, auth, "ready_to_submit", reason=states.SUBMISSION_FAILED)


async def _submission_result(db: Database, who: Principal, auth_id: str, attempt_id: str) -> dict:
    """The current result of an attempt; waits (bounded) while another request is still submitting it."""
    deadline = asyncio.get_running_loop().time() + SUBMIT_WAIT_SECONDS
    while True:
        async with db.read() as session:
            attempt = await session.get(SubmissionAttempt, attempt_id)
            if attempt is not None and (attempt.status != "submitting"
                                        or asyncio.get_running_loop().time() > deadline):
                auth = await _load(session, who, auth_id)
                return await _render(session, auth) | {"submission": attempt_json(attempt)}
        await asyncio.sleep(0.02)


async def recover_stale_submissions(db: Database, older_than: timedelta) -> int:
    """Fail attempts stuck in `submitting` (their process died) and return their cases to ready_to_submit."""
    cutoff = utcnow() - older_than
    async with db.read() as session:
        stale = (await session.execute(select(SubmissionAttempt.authorization_id, SubmissionAttempt.id).where(
            SubmissionAttempt.status == "submitting", SubmissionAttempt.started_at <= cutoff))).all()
    for auth_id, attempt_id in stale:
        await _submission_failed(db, auth_id, attempt_id, "interrupted")
    if stale:
        log.warning("recovered_stale_submissions", count=len(stale))
    return len(stale)


# ---------------------------------------------------------------- sandbox payer

async def payer_event(db: Database, who: Principal, auth_id: str,
                      event: ApprovalEvent | DenialEvent | MoreInfoEvent | ClosedEvent | DeferredEvent
                      | CancelConfirmedEvent | CancelDeniedEvent) -> dict:
    async with db.write() as session:
        auth = await _load(session, who, auth_id, lock=True)
        _check("payer_response", auth)
        if auth.submission_channel != "sandbox":
            raise ApiError(409, "channel_mismatch", "Only authorizations submitted to the sandbox channel take "
                           "sandbox payer events.", details={"submissionChannel": auth.submission_channel})
        now = utcnow()
        received = iso(now)
        details = event.model_dump(mode="json", exclude_none=True) | {"receivedAt": received}
        cancellation = track(auth).get("cancellation") or {}
        if isinstance(event, CancelConfirmedEvent | CancelDeniedEvent) and (
                cancellation.get("status") != states.CANCEL_REQUESTED):
            raise ApiError(409, "no_cancel_requested", "No cancel request is waiting for the payer's answer.",
                           details={"cancellationStatus": cancellation.get("status")})
        _touch(auth)
        emit(session, auth, "prior_auth.payer.response_received", {"type": event.type, "receivedAt": received})
        if isinstance(event, CancelConfirmedEvent):  # the cancel the client asked for, as an immediate one
            await _close_case(session, auth, cancellation["reason"],
                              cancellation=cancellation | {"status": states.CANCEL_CONFIRMED, "confirmedAt": received})
        elif isinstance(event, CancelDeniedEvent):  # the case stays with the payer; decisionDetails are kept
            _update_track(auth, cancellation=cancellation | {"status": states.CANCEL_DENIED, "deniedAt": received,
                                                             "message": event.message})
            emit(session, auth, "prior_auth.cancel.denied", {"message": event.message})
        elif isinstance(event, ApprovalEvent):
            await _check_approval(session, who, auth, event, details)
            _complete(session, auth, "approved", details)
        elif isinstance(event, DenialEvent):
            _complete(session, auth, "denied", details)
        elif isinstance(event, ClosedEvent):
            _complete(session, auth, "unknown", details)  # closed without a decision
        elif isinstance(event, DeferredEvent):
            _set_payer_details(auth, details)  # the case stays with the payer; decisionDetails marks the deferral
        else:
            action_details: dict = {"requestedDocuments": event.requestedDocuments}
            if event.responseDueBy is not None:
                due = event.responseDueBy
                due = due if due.tzinfo else due.replace(tzinfo=timezone.utc)
                if due <= now:
                    raise ApiError(422, "validation_failed", "responseDueBy must be in the future.",
                                   issues=[{"path": "responseDueBy", "message": "not in the future"}])
                details["responseDueBy"] = action_details["responseDueBy"] = iso(due)
            _set_payer_details(auth, details)
            action = Action(id=new_id("act"), organization_id=auth.organization_id, authorization_id=auth.id,
                            type="payer_request_for_information", status="open", blocking=True,
                            code="payer_request_for_information", message=event.message,
                            details=action_details, created_at=now)
            session.add(action)
            emit(session, auth, "prior_auth.action.required", {"actionId": action.id, "type": action.type})
            _set_state(session, auth, "action_required", reason="payer requested more information")
        return await _render(session, auth)


async def _check_approval(session: AsyncSession, who: Principal, auth: Authorization, event: ApprovalEvent,
                          details: dict) -> None:
    """Validate an approval against the case; a cut in the approved amounts is recorded as `partialDenial`."""
    if event.approvedStartDate and event.approvedEndDate and event.approvedEndDate < event.approvedStartDate:
        raise ApiError(422, "validation_failed", "approvedEndDate must be on or after approvedStartDate.",
                       issues=[{"path": "approvedEndDate", "message": "before approvedStartDate"}])
    if event.documentFileId and (await session.execute(select(func.count()).select_from(StoredFile).where(
            StoredFile.id == event.documentFileId,
            StoredFile.organization_id == who.organization_id))).scalar_one() == 0:
        raise ApiError(422, "validation_failed", f"No file {event.documentFileId!r}.",
                       issues=[{"path": "documentFileId", "message": "unknown file"}])
    partial, issues = compare_approval(auth.case.get("service") or {}, details)
    if issues:
        raise ApiError(422, "validation_failed", "A payer cannot approve more than was requested.", issues=issues)
    if partial:
        details["partialDenial"] = partial


def _complete(session: AsyncSession, auth: Authorization, decision: str, details: dict) -> None:
    _set_payer_details(auth, details)
    auth.completed_at = utcnow()
    appeal = track(auth).get("appeal")
    if appeal and appeal["status"] == "requested":  # this response decides the appeal
        outcome = "closed" if decision == "unknown" else decision
        _update_track(auth, appeal=appeal | {"status": "resolved", "outcome": outcome,
                                             "resolvedAt": iso(auth.completed_at)})
        emit(session, auth, "prior_auth.appeal.decided", {"appealId": appeal["id"], "outcome": outcome})
    _set_state(session, auth, "completed", decision, reason=f"payer {details['type']}")
    emit(session, auth, "prior_auth.completed", {"decisionState": decision})
