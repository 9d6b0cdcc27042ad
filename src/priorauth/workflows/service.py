"""Use cases of the workflow control plane: workflows, step gates, completions, approvals, policies.

Every call that changes a step locks its row (`FOR UPDATE` on PostgreSQL; SQLite's single writer
serialises) so that concurrent gates count exactly and see one memoized decision. A refused
idempotency key is written to the audit log in its own committed transaction before the 409.

A human's hold outranks the policies: once a step waits for an approval or was rejected, no policy
change (disable, edit, delete) releases it; only a reviewer's decision or the expiry does.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from priorauth.auth.service import Principal
from priorauth.db import Database
from priorauth.errors import CodedError
from priorauth.events import service as org_events
from priorauth.ids import new_id
from priorauth.plain import check_plain
from priorauth.timeutil import iso, utcnow
from priorauth.workflows import rules
from priorauth.workflows.models import (
    Workflow,
    WorkflowApproval,
    WorkflowAuditEntry,
    WorkflowPolicy,
    WorkflowPolicyAuditEntry,
    WorkflowPolicyVersion,
    WorkflowStep,
)
from priorauth.workflows.redact import redact, redact_fields
from priorauth.workflows.schemas import CompleteRequest, GateRequest, WorkflowCreate

APPROVAL_NAMESPACE = uuid.UUID("6f1c3e3a-9c57-4c1e-9a53-0c6d2f1f4b2e")  # fixed: approval ids are deterministic
EXPIRY_ACTOR = "system:approval-expiry"
ENDED = ("completed", "aborted", "failed")


@dataclass(frozen=True)
class Options:
    approval_ttl: timedelta
    portal_base_url: str = ""


def not_found(what: str, ident: str) -> CodedError:
    return CodedError(404, "NOT_FOUND", f"{what} {ident!r} was not found")


def approval_id_for(workflow_id: str, step_id: str, hold: int) -> str:
    """`app_` + UUIDv5 of workflow:step; the n-th later hold of the same step adds `#n`."""
    base = f"app_{uuid.uuid5(APPROVAL_NAMESPACE, f'{workflow_id}:{step_id}')}"
    return base if hold <= 1 else f"{base}#{hold}"


# ---- workflows ------------------------------------------------------------------------------------------------

def workflow_view(wf: Workflow, steps: list[WorkflowStep] | None = None) -> dict:
    body = {"workflow_id": wf.id, "workflow_name": wf.workflow_name, "source": wf.source, "trace_id": wf.trace_id,
            "metadata": wf.meta, "status": wf.status, "status_reason": wf.status_reason,
            "created_at": iso(wf.created_at), "updated_at": iso(wf.updated_at)}
    if steps is not None:
        body["steps"] = [step_view(s) for s in steps]
    return body


def step_view(step: WorkflowStep) -> dict:
    return {"step_id": step.step_id, "step_name": step.step_name, "step_type": step.step_type,
            "model": step.model, "provider": step.provider, "idempotency_key": step.idempotency_key,
            "gate_count": step.gate_count, "completion_count": step.completion_count, "last_decision": step.decision,
            "approval_id": step.approval_id, "approval_status": step.approval_status,
            "first_attempt_at": iso(step.first_attempt_at), "last_attempt_at": iso(step.last_attempt_at),
            "completed_at": iso(step.completed_at), "tokens_in": step.tokens_in, "tokens_out": step.tokens_out,
            "cost_usd": step.cost_micro_usd / 1_000_000}


async def create_workflow(db: Database, who: Principal, body: WorkflowCreate) -> dict:
    now = utcnow()
    wf = Workflow(id=new_id("wf"), organization_id=who.organization_id, workflow_name=body.workflow_name,
                  source=body.source, trace_id=body.trace_id, meta=body.metadata, status="in_progress",
                  created_at=now, updated_at=now)
    async with db.write() as session:
        session.add(wf)
    return workflow_view(wf)


async def _workflow(session, who: Principal, workflow_id: str, *, lock: bool = False) -> Workflow:
    query = select(Workflow).where(Workflow.id == workflow_id, Workflow.organization_id == who.organization_id)
    if lock:
        # NO KEY UPDATE: the foreign-key checks of concurrent step and audit inserts (KEY SHARE) go on.
        query = query.with_for_update(key_share=True)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise not_found("workflow", workflow_id)
    return found


async def get_workflow(db: Database, who: Principal, workflow_id: str) -> dict:
    async with db.read() as session:
        wf = await _workflow(session, who, workflow_id)
        steps = (await session.execute(select(WorkflowStep).where(WorkflowStep.workflow_id == wf.id)
                                       .order_by(WorkflowStep.first_attempt_at, WorkflowStep.step_id))).scalars().all()
        return workflow_view(wf, list(steps))


async def list_workflows(db: Database, who: Principal, status: str | None, limit: int, cursor: str | None) -> dict:
    query = select(Workflow).where(Workflow.organization_id == who.organization_id)
    if status:
        query = query.where(Workflow.status == status)
    if cursor:
        query = query.where(Workflow.id < cursor)
    async with db.read() as session:
        rows = (await session.execute(query.order_by(Workflow.id.desc()).limit(limit + 1))).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"workflows": [workflow_view(w) for w in rows], "next_cursor": rows[-1].id if more else None}


_TRANSITIONS = {"complete": (("in_progress",), "completed"), "abort": (("in_progress",), "aborted"),
                "fail": (("in_progress",), "failed"), "resume": (("aborted", "failed"), "in_progress")}


async def transition(db: Database, who: Principal, workflow_id: str, action: str, reason: str | None = None) -> dict:
    allowed, target = _TRANSITIONS[action]
    async with db.write() as session:
        wf = await _workflow(session, who, workflow_id, lock=True)
        if wf.status not in allowed:
            raise CodedError(409, "INVALID_WORKFLOW_STATE", f"cannot {action} a workflow that is {wf.status}",
                             workflow_id=wf.id, status=wf.status)
        now = utcnow()
        wf.status, wf.status_reason, wf.updated_at = target, reason, now
        if action == "resume":
            # The rejection stands: the next gate of a rejected step, idempotent or not, asks for a new hold
            # (`#n`) whatever the policies say by then (see _hold).
            await session.execute(update(WorkflowStep).where(
                WorkflowStep.workflow_id == wf.id, WorkflowStep.approval_status == "rejected").values(decision=None))
        _audit(session, wf, None, f"workflow_{action}", who.client_id, {"status": target, "reason": reason},
               client_id=who.client_id)
    return workflow_view(wf)


# ---- audit --------------------------------------------------------------------------------------------------------

def _audit(session, wf: Workflow, step_id: str | None, event: str, actor: str | None, data: dict,
           keep_phi: bool = False, *, client_id: str | None) -> None:
    """`actor` names who acted (a reviewer's X-User-ID, a client id, the expiry); `client_id` is the
    credential the request authenticated with (None for the expiry sweep)."""
    session.add(WorkflowAuditEntry(id=new_id("aud"), organization_id=wf.organization_id, workflow_id=wf.id,
                                   step_id=step_id, event=event, actor=actor, client_id=client_id,
                                   data=data if keep_phi else redact(data), created_at=utcnow()))


async def audit_log(db: Database, who: Principal, workflow_id: str) -> dict:
    async with db.read() as session:
        wf = await _workflow(session, who, workflow_id)
        entries = (await session.execute(select(WorkflowAuditEntry).where(WorkflowAuditEntry.workflow_id == wf.id)
                                         .order_by(WorkflowAuditEntry.id))).scalars().all()
    return {"workflow_id": wf.id, "entries": [
        {"id": e.id, "step_id": e.step_id, "event": e.event, "actor": e.actor, "client_id": e.client_id,
         "data": e.data, "created_at": iso(e.created_at)} for e in entries]}


# ---- policies -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicySet:
    """An organization's enabled policies at one policy-set version, compiled, with each policy's version."""

    version: int
    compiled: rules.Compiled
    versions: dict[str, int]


_compiled: dict[str, PolicySet] = {}  # organization -> its policy set, per process
POLICY_EVENTS = {"created": org_events.POLICY_CREATED, "updated": org_events.POLICY_UPDATED,
                 "deleted": org_events.POLICY_DELETED}


def _policy_view(p: WorkflowPolicy) -> dict:
    return {"policy_id": p.id, **p.body, "version": p.version, "created_at": iso(p.created_at),
            "updated_at": iso(p.updated_at)}


def _validated(body: dict) -> dict:
    try:
        check_plain(body)
    except ValueError as exc:
        raise CodedError(400, "INVALID_POLICY", str(exc), field="body") from None
    try:
        return rules.validate_policy(body)
    except rules.PolicyError as exc:
        raise CodedError(400, "INVALID_POLICY", exc.message, field=exc.field) from None


async def _changed(session, db: Database, who: Principal, row: WorkflowPolicy, event: str) -> None:
    """Every policy change, in its own transaction: the set version moves (so every process recompiles), an
    audit entry keeps the body of the policy's new version, and an organization event says so (ids only)."""
    set_version = await db.increment(session, WorkflowPolicyVersion.__table__,
                                     {"organization_id": who.organization_id}, "version")
    deleted = event == "deleted"
    session.add(WorkflowPolicyAuditEntry(
        id=new_id("aud"), organization_id=who.organization_id, policy_id=row.id, event=event, version=row.version,
        policy_set_version=set_version, client_id=who.client_id, body=None if deleted else row.body,
        created_at=utcnow()))
    data = {"policyId": row.id, "version": row.version, "clientId": who.client_id}
    org_events.record(session, who.organization_id, POLICY_EVENTS[event],
                      data if deleted else data | {"enabled": row.enabled})


async def _policy(session, who: Principal, policy_id: str, *, lock: bool = False) -> WorkflowPolicy:
    query = select(WorkflowPolicy).where(WorkflowPolicy.id == policy_id,
                                         WorkflowPolicy.organization_id == who.organization_id)
    found = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if found is None:
        raise not_found("policy", policy_id)
    return found


async def _name_taken(session, who: Principal, name: str, other_than: str | None = None) -> None:
    query = select(WorkflowPolicy.id).where(WorkflowPolicy.organization_id == who.organization_id,
                                            WorkflowPolicy.name == name)
    if other_than:
        query = query.where(WorkflowPolicy.id != other_than)
    if (await session.execute(query)).first() is not None:
        raise CodedError(409, "POLICY_NAME_TAKEN", f"a policy named {name!r} already exists", field="name")


async def create_policy(db: Database, who: Principal, body: dict) -> dict:
    policy = _validated(body)
    now = utcnow()
    async with db.write() as session:
        await _name_taken(session, who, policy["name"])
        row = WorkflowPolicy(id=new_id("pol"), organization_id=who.organization_id, name=policy["name"],
                             body=policy, enabled=policy["enabled"], version=1, created_at=now, updated_at=now)
        session.add(row)
        await _changed(session, db, who, row, "created")
    return _policy_view(row)


async def update_policy(db: Database, who: Principal, policy_id: str, body: dict) -> dict:
    policy = _validated(body)
    async with db.write() as session:
        row = await _policy(session, who, policy_id, lock=True)
        await _name_taken(session, who, policy["name"], other_than=row.id)
        row.name, row.body, row.enabled, row.updated_at = policy["name"], policy, policy["enabled"], utcnow()
        row.version += 1
        await _changed(session, db, who, row, "updated")
    return _policy_view(row)


async def delete_policy(db: Database, who: Principal, policy_id: str) -> None:
    async with db.write() as session:
        row = await _policy(session, who, policy_id, lock=True)
        await session.delete(row)
        await _changed(session, db, who, row, "deleted")


async def get_policy(db: Database, who: Principal, policy_id: str) -> dict:
    async with db.read() as session:
        return _policy_view(await _policy(session, who, policy_id))


async def list_policies(db: Database, who: Principal) -> dict:
    async with db.read() as session:
        rows = (await session.execute(select(WorkflowPolicy).where(WorkflowPolicy.organization_id == who.organization_id)
                                      .order_by(WorkflowPolicy.created_at, WorkflowPolicy.id))).scalars().all()
    return {"policies": [_policy_view(p) for p in rows]}


async def policy_audit(db: Database, who: Principal, policy_id: str) -> dict:
    """Every change of a policy, oldest first; still there after the policy is deleted."""
    async with db.read() as session:
        entries = (await session.execute(select(WorkflowPolicyAuditEntry).where(
            WorkflowPolicyAuditEntry.organization_id == who.organization_id,
            WorkflowPolicyAuditEntry.policy_id == policy_id).order_by(WorkflowPolicyAuditEntry.id))).scalars().all()
        if not entries:
            await _policy(session, who, policy_id)  # 404 unless it exists (with no change recorded yet)
    return {"policy_id": policy_id, "entries": [
        {"id": e.id, "event": e.event, "version": e.version, "policy_set_version": e.policy_set_version,
         "client_id": e.client_id, "policy": e.body, "created_at": iso(e.created_at)} for e in entries]}


async def _policies_of(session, organization_id: str) -> PolicySet:
    """The organization's enabled policies, recompiled (off the event loop) only when their set version moved.

    The version row is read FOR SHARE (PostgreSQL): a policy change waits for the gates evaluating the set it
    replaces, and they for it, so the set version a gate records is exactly the one it evaluated.
    """
    version = (await session.execute(select(WorkflowPolicyVersion.version).where(
        WorkflowPolicyVersion.organization_id == organization_id).with_for_update(read=True))).scalar_one_or_none() or 0
    cached = _compiled.get(organization_id)
    if cached is None or cached.version != version:
        rows = (await session.execute(select(WorkflowPolicy.id, WorkflowPolicy.body, WorkflowPolicy.version).where(
            WorkflowPolicy.organization_id == organization_id, WorkflowPolicy.enabled.is_(True)))).all()
        try:
            compiled = await asyncio.to_thread(rules.compile_policies,
                                               [{**body, "policy_id": pid} for pid, body, _ in rows])
        except rules.PolicyError as exc:  # e.g. a pattern stored before policies used RE2: fail closed
            raise CodedError(409, "INVALID_STORED_POLICY", f"stored policy {exc.policy_id} no longer compiles: "
                             f"{exc.message}; an admin must replace or delete it", policy_id=exc.policy_id,
                             field=exc.field.split(".", 1)[-1]) from None
        cached = PolicySet(version, compiled, {pid: policy_version for pid, _, policy_version in rows})
        _compiled[organization_id] = cached
    return cached


# ---- steps: gate and complete -------------------------------------------------------------------------------------

async def _step(session, db: Database, wf: Workflow, step_id: str, body: GateRequest | None, now: datetime):
    """The step row, locked; a first gate creates it (concurrent first gates: one insert wins, all lock it)."""
    query = (select(WorkflowStep).where(WorkflowStep.workflow_id == wf.id, WorkflowStep.step_id == step_id)
             .with_for_update().execution_options(populate_existing=True))
    step = (await session.execute(query)).scalar_one_or_none()
    if step is None and body is not None:
        await session.execute(db.insert(WorkflowStep.__table__).values(
            workflow_id=wf.id, step_id=step_id, organization_id=wf.organization_id, step_name=body.step_name,
            step_type=body.step_type, step_input=body.step_input or {}, model=body.model, provider=body.provider,
            idempotency_key=body.idempotency_key, gate_count=0, completion_count=0, first_attempt_at=now,
            last_attempt_at=now, policy_ids=[], holds=0, tokens_in=0, tokens_out=0, cost_micro_usd=0,
        ).on_conflict_do_nothing(index_elements=["workflow_id", "step_id"]))
        step = (await session.execute(query)).scalar_one_or_none()
    if step is None:
        raise not_found("step", step_id)
    return step


def _prior_status(step: WorkflowStep, gates_before: int) -> str:
    if step.completion_count > 0:
        return "completed"
    return "gated_not_completed" if gates_before > 0 else "none"


async def _key_problem(session, wf: Workflow, step: WorkflowStep, key: str | None, *, fresh_step: bool,
                       completing: bool) -> CodedError | None:
    ids = {"workflow_id": wf.id, "step_id": step.step_id}
    if not fresh_step and key != step.idempotency_key:
        return CodedError(409, "IDEMPOTENCY_KEY_MISMATCH",
                          "idempotency_key does not match the key this step was first gated with",
                          expected_idempotency_key=step.idempotency_key, received_idempotency_key=key, **ids)
    if key is None or not (fresh_step or completing):
        return None  # a retry of a gate already checked its key; the completion, which acts, checks again
    # Beyond the reference: a key already completed in another workflow of the organization is refused too.
    other = (await session.execute(select(WorkflowStep.workflow_id).where(
        WorkflowStep.organization_id == wf.organization_id, WorkflowStep.idempotency_key == key,
        WorkflowStep.workflow_id != wf.id, WorkflowStep.completion_count > 0).limit(1))).scalar_one_or_none()
    if other is not None:
        return CodedError(409, "IDEMPOTENCY_KEY_REUSED",
                          "idempotency_key was already completed by a step of another workflow",
                          expected_idempotency_key=None, received_idempotency_key=key, other_workflow_id=other, **ids)
    return None


KEY_CODES = ("IDEMPOTENCY_KEY_MISMATCH", "IDEMPOTENCY_KEY_REUSED")


async def _record_refusal(db: Database, who: Principal, workflow_id: str, step_id: str, problem: CodedError) -> None:
    """The refused key goes to the audit log in its own transaction; the step itself stays untouched."""
    async with db.write() as session:
        wf = await _workflow(session, who, workflow_id)
        _audit(session, wf, step_id, problem.code.lower(), who.client_id,
               {"expected_idempotency_key": problem.fields.get("expected_idempotency_key"),
                "received_idempotency_key": problem.fields.get("received_idempotency_key")}, keep_phi=True,
               client_id=who.client_id)


def _retry_context(step: WorkflowStep, prior_status: str) -> dict:
    return {"gate_count": step.gate_count, "completion_count": step.completion_count,
            "prior_completion_status": prior_status,
            "prior_output_available": step.completion_count > 0 and step.output is not None,
            "prior_output": step.output if step.completion_count > 0 else None,
            "prior_completion_at": iso(step.completed_at), "first_attempt_at": iso(step.first_attempt_at),
            "last_attempt_at": iso(step.last_attempt_at), "last_decision": step.decision,
            "idempotency_key": step.idempotency_key}


async def _hold(session, wf: Workflow, step: WorkflowStep, outcome: rules.Outcome, versions: dict[str, int],
                options: Options, now: datetime) -> tuple[str, str | None, str | None]:
    """(decision, reason, severity) once the step's hold has had its say: a human's hold outranks the policies.

    Only `block` is stronger than a hold. Approved lets a `require_approval` through; pending stays pending
    whatever the policies say now (a retry-aware policy may raise its severity); a rejection (of this step,
    resumed since, or a pending or rejected hold of the same idempotency key elsewhere) asks for a new hold.
    """
    if outcome.decision == "block":
        return "block", outcome.reason, outcome.severity
    if step.approval_status == "approved":
        return "allow", outcome.reason, outcome.severity
    if step.approval_status == "pending":
        approval = await session.get(WorkflowApproval, step.approval_id)
        if outcome.decision == "require_approval" and (
                rules.SEVERITY_RANK[outcome.severity] > rules.SEVERITY_RANK[approval.severity]):
            approval.severity, approval.reason = outcome.severity, outcome.reason  # escalate the waiting hold
            approval.policy_ids, approval.policy_versions = list(outcome.policy_ids), versions
        return "require_approval", approval.reason, approval.severity
    earlier = None
    if outcome.decision == "allow":
        earlier = await _unreleased_hold(session, wf, step)
        if earlier is None:
            return "allow", None, None
    reason, severity = outcome.reason, outcome.severity
    if earlier is not None:
        elsewhere = (earlier.workflow_id, earlier.step_id) != (wf.id, step.step_id)
        where = f"workflow {earlier.workflow_id} with the same idempotency key" if elsewhere else "this step"
        reason = f"approval {earlier.id} of {where} is {earlier.status}: a reviewer must approve this step"
        severity = earlier.severity
    step.holds += 1
    step.approval_id, step.approval_status = approval_id_for(wf.id, step.step_id, step.holds), "pending"
    approval = WorkflowApproval(id=step.approval_id, organization_id=wf.organization_id, workflow_id=wf.id,
                                step_id=step.step_id, status="pending", severity=severity or rules.DEFAULT_SEVERITY,
                                reason=reason, policy_ids=list(outcome.policy_ids), policy_versions=versions,
                                requested_at=now, expires_at=now + options.approval_ttl)
    session.add(approval)
    org_events.record(session, wf.organization_id, org_events.APPROVAL_REQUESTED,
                      _approval_event(approval) | {"severity": approval.severity, "policyIds": approval.policy_ids,
                                                   "expiresAt": iso(approval.expires_at)})
    return "require_approval", reason, approval.severity


async def _unreleased_hold(session, wf: Workflow, step: WorkflowStep) -> WorkflowApproval | None:
    """The hold a policy change must not release: this step's rejected one (its workflow was resumed), or
    the newest pending or rejected hold of another step with the same idempotency key in the organization."""
    if step.approval_status == "rejected":
        return await session.get(WorkflowApproval, step.approval_id)
    if step.idempotency_key is None:
        return None
    return (await session.execute(
        select(WorkflowApproval).join(WorkflowStep, WorkflowStep.approval_id == WorkflowApproval.id)
        .where(WorkflowStep.organization_id == wf.organization_id,
               WorkflowStep.idempotency_key == step.idempotency_key,
               WorkflowStep.approval_status.in_(("pending", "rejected")))  # this step's own is neither here
        .order_by(WorkflowApproval.requested_at.desc(), WorkflowApproval.id.desc()).limit(1))).scalar_one_or_none()


def _approval_event(approval: WorkflowApproval) -> dict:
    """Ids and states only: reasons are free text and stay in the (redacted) audit log."""
    return {"approvalId": approval.id, "workflowId": approval.workflow_id, "stepId": approval.step_id,
            "status": approval.status}


async def gate(db: Database, who: Principal, workflow_id: str, step_id: str, body: GateRequest,
               options: Options) -> dict:
    now = utcnow()
    try:
        async with db.write() as session:
            wf = await _workflow(session, who, workflow_id)
            step = await _step(session, db, wf, step_id, body, now)
            problem = await _key_problem(session, wf, step, body.idempotency_key, fresh_step=step.gate_count == 0,
                                         completing=False)
            if problem is not None:
                raise problem  # rolls back: a refused first gate leaves no step behind
            return await _decide(session, who, wf, step, body, options, now)
    except CodedError as exc:
        if exc.code in KEY_CODES:
            await _record_refusal(db, who, workflow_id, step_id, exc)
        raise


def _context(wf: Workflow, step: WorkflowStep, prior: str, now: datetime) -> dict:
    return {"step_input": step.step_input,
            "step": {"prior_completion_status": prior, "gate_count": step.gate_count,
                     "completion_count": step.completion_count,
                     "first_attempt_age_seconds": (now - step.first_attempt_at).total_seconds(),
                     "step_type": step.step_type, "step_name": step.step_name, "model": step.model,
                     "provider": step.provider},
            "workflow": {"workflow_name": wf.workflow_name, "source": wf.source, "trace_id": wf.trace_id,
                         "metadata": wf.meta}}


async def _decide(session, who: Principal, wf: Workflow, step: WorkflowStep, body: GateRequest, options: Options,
                  now: datetime) -> dict:
    gates_before = step.gate_count
    prior = _prior_status(step, gates_before)
    step.gate_count += 1
    step.last_attempt_at = now
    running = wf.status == "in_progress"
    cached = running and body.retry_policy == "idempotent" and step.decision is not None
    warnings: tuple = ()
    if not cached:
        if not running:  # an ended workflow never allows: after a rejection the agent sees the rejection
            outcome, versions, set_version = None, {}, None
            reason = step.reason if step.approval_status == "rejected" else f"workflow is {wf.status}"
            decision, severity = "block", None
        else:
            policies = await _policies_of(session, wf.organization_id)
            # Off the event loop: many regex conditions on long inputs must not stall other requests.
            outcome = await asyncio.to_thread(rules.evaluate, policies.compiled, _context(wf, step, prior, now))
            versions = {policy_id: policies.versions[policy_id] for policy_id in outcome.policy_ids}
            set_version = policies.version
            decision, reason, severity = await _hold(session, wf, step, outcome, versions, options, now)
            warnings = outcome.warnings
            if outcome.redact_fields:
                step.step_input = redact_fields(step.step_input, outcome.redact_fields)
        step.decision, step.decision_id, step.reason, step.severity = decision, new_id("dec"), reason, severity
        step.policy_ids = list(outcome.policy_ids) if outcome else []
        step.policy_versions, step.policy_set_version = versions, set_version
        _audit(session, wf, step.step_id, "gate", None,
               {"decision": decision, "reason": reason, "policy_ids": step.policy_ids, "policy_versions": versions,
                "policy_set_version": set_version, "step_input": step.step_input,
                "retry_policy": body.retry_policy, "gate_count": step.gate_count},
               keep_phi=bool(outcome and outcome.keep_phi), client_id=who.client_id)
    else:
        _audit(session, wf, step.step_id, "gate_cached", None,
               {"decision": step.decision, "gate_count": step.gate_count}, client_id=who.client_id)
    approval_url = (f"{options.portal_base_url.rstrip('/')}/workflows/{wf.id}/steps/{step.step_id}/approve"
                    if options.portal_base_url and step.approval_id else None)
    return {"decision": step.decision, "step_id": step.step_id, "decision_id": step.decision_id, "reason": step.reason,
            "policy_ids": step.policy_ids, "policy_versions": step.policy_versions or {},
            "policy_set_version": step.policy_set_version, "approval_id": step.approval_id,
            "approval_url": approval_url, "approval_status": step.approval_status, "severity": step.severity,
            "warnings": list(warnings), "cached": cached, "decision_source": "cached" if cached else "fresh",
            "retry_context": _retry_context(step, prior)}


async def complete_step(db: Database, who: Principal, workflow_id: str, step_id: str, body: CompleteRequest) -> dict:
    now = utcnow()
    try:
        async with db.write() as session:
            wf = await _workflow(session, who, workflow_id)
            step = await _step(session, db, wf, step_id, None, now)
            problem = await _key_problem(session, wf, step, body.idempotency_key, fresh_step=False, completing=True)
            if problem is not None:
                raise problem
            _check_completable(wf, step)
            step.completion_count += 1
            step.output, step.completed_at = body.output, now
            step.tokens_in += body.tokens_in or 0
            step.tokens_out += body.tokens_out or 0
            step.cost_micro_usd += round((body.cost_usd or 0) * 1_000_000)
            _audit(session, wf, step.step_id, "complete", who.client_id,
                   {"output": body.output, "completion_count": step.completion_count}, client_id=who.client_id)
            return {"workflow_id": wf.id, "step_id": step.step_id, "status": "completed",
                    "completion_count": step.completion_count, "completed_at": iso(now)}
    except CodedError as exc:
        if exc.code in KEY_CODES:
            await _record_refusal(db, who, workflow_id, step_id, exc)
        raise


def _check_completable(wf: Workflow, step: WorkflowStep) -> None:
    if wf.status != "in_progress":
        raise CodedError(409, "INVALID_WORKFLOW_STATE", f"cannot complete a step of a workflow that is {wf.status}",
                         workflow_id=wf.id, status=wf.status)
    granted = step.approval_status == "approved" or (step.decision == "allow" and step.approval_status is None)
    if not granted:
        raise CodedError(409, "APPROVAL_REQUIRED", "this step has no allow decision or granted approval to complete "
                         "under", workflow_id=wf.id, step_id=step.step_id, last_decision=step.decision,
                         approval_status=step.approval_status)


# ---- approvals ----------------------------------------------------------------------------------------------------

async def _pending_hold(session, db: Database, who: Principal, workflow_id: str, step_id: str, *,
                        lock_workflow: bool = False):
    # Locks in one order everywhere (workflow, step, approval), so concurrent calls cannot deadlock.
    wf = await _workflow(session, who, workflow_id, lock=lock_workflow)
    step = await _step(session, db, wf, step_id, None, utcnow())
    if step.approval_status != "pending":
        raise CodedError(409, "NO_PENDING_APPROVAL", "this step has no approval waiting for a decision",
                         workflow_id=wf.id, step_id=step.step_id, approval_status=step.approval_status)
    approval = await session.get(WorkflowApproval, step.approval_id, with_for_update=True)
    return wf, step, approval


async def approve(db: Database, who: Principal, workflow_id: str, step_id: str, user_id: str) -> dict:
    async with db.write() as session:
        wf, step, approval = await _pending_hold(session, db, who, workflow_id, step_id)
        now = utcnow()
        approval.status, approval.decided_by, approval.decided_at = "approved", user_id, now
        approval.decided_by_client = who.client_id
        step.approval_status = "approved"  # the memoized decision stays: `reevaluate` sees the approval
        _audit(session, wf, step.step_id, "approve", user_id, {"approval_id": approval.id}, client_id=who.client_id)
        org_events.record(session, wf.organization_id, org_events.APPROVAL_RESOLVED, _approval_event(approval) | {
            "decidedBy": user_id, "decidedByClient": who.client_id, "expired": False})
    return {"workflow_id": wf.id, "step_id": step.step_id, "approval_id": approval.id, "approval_status": "approved",
            "approved_by": user_id, "decided_by_client": who.client_id, "message": "Step approved"}


def _reject(session, wf: Workflow, step: WorkflowStep, approval: WorkflowApproval, actor: str, reason: str,
            now: datetime, *, client_id: str | None, expired: bool = False) -> None:
    """A rejection (by a reviewer or by expiry): the hold ends, the step blocks, the workflow aborts."""
    approval.status, approval.decided_by, approval.decided_at = "rejected", actor, now
    approval.decided_by_client, approval.rejection_reason, approval.expired = client_id, reason, expired
    step.approval_status, step.decision, step.reason = "rejected", "block", f"approval rejected: {reason}"
    step.decision_id = new_id("dec")
    wf.status, wf.status_reason, wf.updated_at = "aborted", f"approval {approval.id} rejected: {reason}", now
    _audit(session, wf, step.step_id, "expire" if expired else "reject", actor,
           {"approval_id": approval.id, "reason": reason, "workflow_status": "aborted"}, client_id=client_id)
    org_events.record(session, wf.organization_id, org_events.APPROVAL_RESOLVED, _approval_event(approval) | {
        "decidedBy": actor, "decidedByClient": client_id, "expired": expired})


async def reject(db: Database, who: Principal, workflow_id: str, step_id: str, user_id: str, reason: str) -> dict:
    async with db.write() as session:
        wf, step, approval = await _pending_hold(session, db, who, workflow_id, step_id, lock_workflow=True)
        _reject(session, wf, step, approval, user_id, reason, utcnow(), client_id=who.client_id)
    return {"workflow_id": wf.id, "step_id": step.step_id, "approval_id": approval.id, "approval_status": "rejected",
            "rejected_by": user_id, "decided_by_client": who.client_id, "reason": reason, "message": "Step rejected"}


async def pending_approvals(db: Database, who: Principal, severity: str | None, workflow_id: str | None) -> dict:
    query = (select(WorkflowApproval, WorkflowStep.step_name)
             .join(WorkflowStep, (WorkflowStep.workflow_id == WorkflowApproval.workflow_id)
                   & (WorkflowStep.step_id == WorkflowApproval.step_id))
             .where(WorkflowApproval.organization_id == who.organization_id, WorkflowApproval.status == "pending"))
    if severity:
        query = query.where(WorkflowApproval.severity == severity)
    if workflow_id:
        query = query.where(WorkflowApproval.workflow_id == workflow_id)
    async with db.read() as session:
        rows = (await session.execute(query.order_by(WorkflowApproval.requested_at, WorkflowApproval.id))).all()
    approvals = [{"approval_id": a.id, "workflow_id": a.workflow_id, "step_id": a.step_id, "step_name": name,
                  "severity": a.severity, "reason": a.reason, "policy_ids": a.policy_ids,
                  "policy_versions": a.policy_versions or {}, "requested_at": iso(a.requested_at),
                  "expires_at": iso(a.expires_at)} for a, name in rows]
    return {"approvals": approvals, "count": len(approvals)}


async def expire_approvals(db: Database, batch: int = 100) -> int:
    """Auto-reject holds past their expiry, exactly as a reviewer's rejection would (run by the worker)."""
    now = utcnow()
    async with db.read() as session:
        due = (await session.execute(
            select(WorkflowApproval.id, WorkflowApproval.workflow_id, WorkflowApproval.step_id)
            .where(WorkflowApproval.status == "pending", WorkflowApproval.expires_at <= now)
            .order_by(WorkflowApproval.expires_at).limit(batch))).all()
    expired = 0
    for approval_id, workflow_id, step_id in due:
        async with db.write() as session:  # one hold per transaction, locked workflow -> step -> approval
            wf = await session.get(Workflow, workflow_id, with_for_update={"key_share": True})
            step = await session.get(WorkflowStep, (workflow_id, step_id), with_for_update=True)
            approval = await session.get(WorkflowApproval, approval_id, with_for_update=True)
            if approval.status != "pending" or step.approval_id != approval.id:
                continue  # decided meanwhile
            ttl = (approval.expires_at - approval.requested_at).total_seconds()
            _reject(session, wf, step, approval, EXPIRY_ACTOR, f"no decision within {ttl:.0f} s", now,
                    client_id=None, expired=True)
            expired += 1
    return expired
