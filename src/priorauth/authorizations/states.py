"""The lifecycle state machine as data: which operation is allowed from which state, and where it lands.

Pure: no I/O. Mirrors the transition table of the authorization lifecycle reference, plus the
extensions of docs/api.md ("Appeals, deadlines, closed and deferred cases"):

    pending_payer --approval/denial--> completed/approved|denied
    pending_payer --closed-----------> completed/unknown         (decisionDetails.closedReason)
    pending_payer --deferred---------> pending_payer              (decisionDetails.type = "deferred")
    pending_payer --cancel request---> pending_payer              (a cancel the payer must confirm or deny)
    needs_input|ready_to_submit|action_required, never submitted --delete--> cancelled (soft delete)
    completed/denied, or completed/approved with a partial denial
                  --appeal-----------> pending_payer/pending      (once per authorization)
"""
from __future__ import annotations

WORKFLOW_STATES = ("needs_input", "ready_to_submit", "submitting", "pending_payer",
                   "action_required", "completed", "cancelled")
DECISION_STATES = ("unknown", "pending", "approved", "denied")
TERMINAL = frozenset({"completed", "cancelled"})

# operation -> states it may start from
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "patch": frozenset({"needs_input", "ready_to_submit", "action_required"}),
    "submit": frozenset({"needs_input", "ready_to_submit", "action_required"}),
    "cancel": frozenset({"needs_input", "ready_to_submit", "pending_payer", "action_required"}),
    "cancel_request": frozenset({"pending_payer"}),  # a cancel the payer confirms or denies
    "delete": frozenset({"needs_input", "ready_to_submit", "action_required"}),  # and only a case never submitted
    "payer_response": frozenset({"pending_payer"}),
    "resolve_action": frozenset({"action_required"}),
    "attach": frozenset({"needs_input", "ready_to_submit", "action_required", "pending_payer"}),
    "detach": frozenset({"needs_input", "ready_to_submit", "action_required"}),
    "appeal": frozenset({"completed"}),  # and only an appealable decision, see can_appeal()
}
# Status-change reasons that other modules key on (the medication_pa webhook's "error" and "appeal requested").
SUBMISSION_FAILED = "submission failed"
APPEAL_REQUESTED = "appeal requested"
DELETED = "deleted"
# cancellation.status of a cancel the payer is asked to confirm: open while "requested"; a later status change
# of the case ends it ("requested" becomes "superseded", a "denied" one gets `endedAt`).
CANCEL_REQUESTED, CANCEL_DENIED, CANCEL_CONFIRMED, CANCEL_SUPERSEDED = "requested", "denied", "confirmed", "superseded"
# Decisions an appeal may contest; an approval only when it carries a partial denial.
APPEALABLE_DECISIONS = frozenset({"denied", "approved"})


class InvalidTransition(Exception):
    def __init__(self, operation: str, state: str):
        allowed = ", ".join(sorted(ALLOWED_FROM[operation]))
        super().__init__(f"Cannot {operation.replace('_', ' ')} an authorization in state '{state}' "
                         f"(allowed from: {allowed}).")
        self.operation, self.state = operation, state


def check(operation: str, state: str) -> None:
    if state not in ALLOWED_FROM[operation]:
        raise InvalidTransition(operation, state)


def can_appeal(workflow: str, decision: str, partial_denial: bool, appealed: bool) -> bool:
    """True exactly when `POST …/appeal` would be accepted (one appeal per authorization)."""
    if appealed or workflow not in ALLOWED_FROM["appeal"] or decision not in APPEALABLE_DECISIONS:
        return False
    return decision == "denied" or partial_denial


def after_create(has_blockers: bool) -> str:
    return "needs_input" if has_blockers else "ready_to_submit"


def after_recompute(has_validation_blockers: bool, open_payer_actions: int) -> str:
    """State after a patch or an action resolution recomputed the blocking work."""
    if has_validation_blockers or open_payer_actions:
        return "action_required"
    return "ready_to_submit"
