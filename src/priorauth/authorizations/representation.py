"""How authorizations and their children look on the wire (pure)."""
from __future__ import annotations

from priorauth.authorizations.models import (
    TRACK_KEY,
    Action,
    Artifact,
    Attachment,
    Authorization,
    AuthorizationEvent,
)
from priorauth.authorizations.validation import CaseAssessment
from priorauth.files.models import StoredFile
from priorauth.submissions.models import SubmissionAttempt
from priorauth.timeutil import iso

BASE = "/v1/prior-auth/authorizations"


def payer_details(auth: Authorization) -> dict | None:
    """The payer's last response as `decisionDetails` shows it (without the lifecycle's bookkeeping)."""
    details = {k: v for k, v in (auth.decision_details or {}).items() if k != TRACK_KEY}
    return details or None


def track(auth: Authorization) -> dict:
    """The lifecycle's bookkeeping kept next to the payer's response (see models.TRACK_KEY)."""
    return dict((auth.decision_details or {}).get(TRACK_KEY) or {})


def authorization_json(auth: Authorization, assessment: CaseAssessment, open_actions: list[Action]) -> dict:
    case, resolved, tracked = auth.case, auth.questionnaire, track(auth)
    return {
        "id": auth.id,
        "object": "prior_auth.authorization",
        "externalId": case.get("externalId"),
        "workflowState": auth.workflow_state,
        "decisionState": auth.decision_state,
        "version": auth.version,
        "urgency": case.get("urgency", "standard"),
        "patient": case.get("patient"),
        "coverage": case.get("coverage"),
        "providers": case.get("providers") or [],
        "service": case.get("service"),
        "diagnoses": case.get("diagnoses") or [],
        "answers": case.get("answers") or {},
        "questionnaire": resolved["questionnaire"],
        "sourceForm": resolved["sourceForm"],
        "supportingDocumentationGuidance": resolved.get("supportingDocumentationGuidance") or [],
        "contextRequirements": assessment.context_requirements,
        "questionStates": assessment.questionnaire.question_states,
        "activeRequirementGroups": assessment.questionnaire.active_requirement_groups,
        "validationIssues": [i.as_json() for i in assessment.issues],
        "openActions": [action_json(a) for a in open_actions],
        "submissionChannel": auth.submission_channel,
        "submittedAt": iso(auth.submitted_at),
        "latestSubmissionAttemptId": auth.latest_submission_attempt_id,
        "decisionDetails": payer_details(auth),
        "payerResponseDueAt": tracked.get("payerResponseDueAt"),
        "appeal": _public(tracked.get("appeal"), "requestHash"),
        "cancellation": tracked.get("cancellation"),
        "submissionError": tracked.get("submissionError"),
        "createdAt": iso(auth.created_at),
        "updatedAt": iso(auth.updated_at),
        "completedAt": iso(auth.completed_at),
        "cancelledAt": iso(auth.cancelled_at),
        "deletedAt": (tracked.get("deleted") or {}).get("at"),
    }


def _public(record: dict | None, *hidden: str) -> dict | None:
    return None if record is None else {k: v for k, v in record.items() if k not in hidden}


def event_json(e: AuthorizationEvent) -> dict:
    return {"id": e.id, "object": "prior_auth.event", "type": e.type, "authorizationId": e.authorization_id,
            "sequence": e.sequence, "data": e.data, "createdAt": iso(e.created_at)}


def action_json(a: Action) -> dict:
    return {"id": a.id, "object": "prior_auth.action", "authorizationId": a.authorization_id, "type": a.type,
            "status": a.status, "blocking": a.blocking, "code": a.code, "message": a.message,
            "details": a.details, "resolution": a.resolution, "resolvable": a.type == "payer_request_for_information",
            "createdAt": iso(a.created_at), "resolvedAt": iso(a.resolved_at)}


def attachment_json(a: Attachment, f: StoredFile) -> dict:
    return {"id": a.id, "object": "prior_auth.attachment", "authorizationId": a.authorization_id,
            "fileId": a.file_id, "filename": f.filename, "contentType": f.content_type, "size": f.size,
            "category": a.category, "description": a.description, "createdAt": iso(a.created_at)}


def artifact_json(a: Artifact) -> dict:
    return {"id": a.id, "object": "prior_auth.artifact", "kind": a.kind, "purpose": a.purpose,
            "contentType": a.content_type, "size": a.size, "sha256": a.sha256, "pageCount": a.page_count,
            "submissionAttemptId": a.submission_attempt_id, "url": f"{BASE}/{a.authorization_id}/artifacts/{a.id}",
            "createdAt": iso(a.created_at)}


def attempt_json(s: SubmissionAttempt) -> dict:
    return {"id": s.id, "object": "prior_auth.submission_attempt", "authorizationId": s.authorization_id,
            "status": s.status, "channel": s.channel, "idempotencyKey": s.idempotency_key, "tries": s.tries,
            "artifacts": s.artifact_ids or {}, "outbound": s.outbound,
            "error": {"code": s.error_code, "message": s.error_message} if s.error_code else None,
            "startedAt": iso(s.started_at), "completedAt": iso(s.completed_at)}
