"""Thin HTTP layer of the workflow control plane (`/api/v1`)."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response

from priorauth.auth.deps import Who, require_role
from priorauth.auth.service import Principal
from priorauth.errors import CodedError, responses
from priorauth.workflows import service
from priorauth.workflows.schemas import CompleteRequest, GateRequest, RejectRequest, WorkflowCreate, WorkflowEnd

router = APIRouter(prefix="/api/v1", tags=["workflows"])
Reviewer = Annotated[Principal, Depends(require_role("reviewer"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]  # policies: an agent must not edit its own gate
UserId = Annotated[str | None, Header(alias="X-User-ID", max_length=200)]
Severity = Literal["low", "medium", "high", "critical"]
StepId = Annotated[str, Path(min_length=1, max_length=200)]
WORKFLOW_STATE = responses({409: "`INVALID_WORKFLOW_STATE`: not allowed in the workflow's status"})
ADMIN_ONLY = responses({403: "`FORBIDDEN`: needs the `admin` role"})


def _db(request: Request):
    return request.app.state.db


def _options(request: Request) -> service.Options:
    settings = request.app.state.settings
    return service.Options(timedelta(seconds=settings.approval_ttl), settings.portal_base_url)


def _user(user_id: str | None) -> str:
    if not user_id or not user_id.strip():
        raise CodedError(400, "MISSING_USER_ID", "the X-User-ID header names the reviewer and is required")
    return user_id.strip()


@router.post("/workflows", status_code=201, summary="Create a workflow")
async def create_workflow(body: WorkflowCreate, request: Request, who: Who) -> dict:
    return await service.create_workflow(_db(request), who, body)


@router.get("/workflows", summary="Workflows, newest first")
async def list_workflows(request: Request, who: Who,
                         status: Literal["in_progress", "completed", "aborted", "failed"] | None = None,
                         limit: Annotated[int, Query(ge=1, le=200)] = 50,
                         cursor: Annotated[str | None, Query(max_length=64)] = None) -> dict:
    return await service.list_workflows(_db(request), who, status, limit, cursor)


# Declared before /workflows/{workflow_id} so that "approvals" is not taken for a workflow id.
@router.get("/workflows/approvals/pending", summary="Approvals waiting for a reviewer, oldest first")
async def pending_approvals(request: Request, who: Who, severity: Severity | None = None,
                            workflow_id: Annotated[str | None, Query(max_length=64)] = None) -> dict:
    return await service.pending_approvals(_db(request), who, severity, workflow_id)


@router.get("/workflows/{workflow_id}", summary="A workflow with its steps")
async def get_workflow(workflow_id: str, request: Request, who: Who) -> dict:
    return await service.get_workflow(_db(request), who, workflow_id)


@router.post("/workflows/{workflow_id}/complete", status_code=204, summary="Mark the workflow completed",
             responses=WORKFLOW_STATE)
async def complete_workflow(workflow_id: str, request: Request, who: Who) -> Response:
    await service.transition(_db(request), who, workflow_id, "complete")
    return Response(status_code=204)


@router.post("/workflows/{workflow_id}/abort", summary="Abort the workflow", responses=WORKFLOW_STATE)
async def abort_workflow(workflow_id: str, request: Request, who: Who,
                         body: Annotated[WorkflowEnd | None, Body()] = None) -> dict:
    return await service.transition(_db(request), who, workflow_id, "abort", body.reason if body else None)


@router.post("/workflows/{workflow_id}/fail", summary="Mark the workflow failed", responses=WORKFLOW_STATE)
async def fail_workflow(workflow_id: str, request: Request, who: Who,
                        body: Annotated[WorkflowEnd | None, Body()] = None) -> dict:
    return await service.transition(_db(request), who, workflow_id, "fail", body.reason if body else None)


@router.post("/workflows/{workflow_id}/resume", summary="Resume an aborted or failed workflow",
             responses=WORKFLOW_STATE)
async def resume_workflow(workflow_id: str, request: Request, who: Who) -> dict:
    return await service.transition(_db(request), who, workflow_id, "resume")


@router.post("/workflows/{workflow_id}/steps/{step_id}/gate", summary="Ask whether a step may run",
             responses=responses({409: "`INVALID_WORKFLOW_STATE`; `IDEMPOTENCY_KEY_MISMATCH`; "
                                       "`IDEMPOTENCY_KEY_REUSED`; `INVALID_STORED_POLICY`"}))
async def gate(workflow_id: str, step_id: StepId, body: GateRequest, request: Request, who: Who) -> dict:
    return await service.gate(_db(request), who, workflow_id, step_id, body, _options(request))


@router.post("/workflows/{workflow_id}/steps/{step_id}/complete", summary="Record that a step ran",
             responses=responses({409: "`INVALID_WORKFLOW_STATE`; `APPROVAL_REQUIRED`; `IDEMPOTENCY_KEY_MISMATCH`; "
                                       "`IDEMPOTENCY_KEY_REUSED`"}))
async def complete_step(workflow_id: str, step_id: StepId, request: Request, who: Who,
                        body: Annotated[CompleteRequest | None, Body()] = None) -> dict:
    return await service.complete_step(_db(request), who, workflow_id, step_id, body or CompleteRequest())


@router.post("/workflows/{workflow_id}/steps/{step_id}/approve", summary="Approve a held step (reviewer)",
             responses=responses({403: "`FORBIDDEN`: needs the `reviewer` role",
                                  409: "`NO_PENDING_APPROVAL`; `INVALID_WORKFLOW_STATE`"}))
async def approve(workflow_id: str, step_id: StepId, request: Request, who: Reviewer, user_id: UserId = None) -> dict:
    return await service.approve(_db(request), who, workflow_id, step_id, _user(user_id))


@router.post("/workflows/{workflow_id}/steps/{step_id}/reject", summary="Reject a held step (reviewer)",
             responses=responses({403: "`FORBIDDEN`: needs the `reviewer` role",
                                  409: "`NO_PENDING_APPROVAL`; `INVALID_WORKFLOW_STATE`"}))
async def reject(workflow_id: str, step_id: StepId, body: RejectRequest, request: Request, who: Reviewer,
                 user_id: UserId = None) -> dict:
    return await service.reject(_db(request), who, workflow_id, step_id, _user(user_id), body.reason)


@router.get("/workflows/{workflow_id}/audit", summary="The workflow's audit log")
async def audit(workflow_id: str, request: Request, who: Who) -> dict:
    return await service.audit_log(_db(request), who, workflow_id)


PolicyBody = Annotated[dict[str, Any], Body()]


@router.post("/policies", status_code=201, summary="Create a policy (admin)",
             responses=ADMIN_ONLY | responses({409: "`POLICY_NAME_TAKEN`"}))
async def create_policy(body: PolicyBody, request: Request, who: Admin) -> dict:
    return await service.create_policy(_db(request), who, body)


@router.get("/policies", summary="The organization's policies")
async def list_policies(request: Request, who: Who) -> dict:
    return await service.list_policies(_db(request), who)


@router.get("/policies/{policy_id}", summary="A policy")
async def get_policy(policy_id: str, request: Request, who: Who) -> dict:
    return await service.get_policy(_db(request), who, policy_id)


@router.get("/policies/{policy_id}/audit", summary="Every change of a policy, with each version's body")
async def policy_audit(policy_id: str, request: Request, who: Who) -> dict:
    return await service.policy_audit(_db(request), who, policy_id)


@router.put("/policies/{policy_id}", summary="Replace a policy (admin)",
            responses=ADMIN_ONLY | responses({409: "`POLICY_NAME_TAKEN`"}))
async def update_policy(policy_id: str, body: PolicyBody, request: Request, who: Admin) -> dict:
    return await service.update_policy(_db(request), who, policy_id, body)


@router.delete("/policies/{policy_id}", status_code=204, summary="Delete a policy (admin)", responses=ADMIN_ONLY)
async def delete_policy(policy_id: str, request: Request, who: Admin) -> Response:
    await service.delete_policy(_db(request), who, policy_id)
    return Response(status_code=204)
