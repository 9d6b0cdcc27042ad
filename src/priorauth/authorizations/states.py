"""The lifecycle state machine as data: which operation is allowed from which state, and where it lands.

Pure: no I/O. Mirrors the transition table of the authorization lifecycle reference.
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
    "payer_response": frozenset({"pending_payer"}),
    "resolve_action": frozenset({"action_required"}),
    "attach": frozenset({"needs_input", "ready_to_submit", "action_required", "pending_payer"}),
    "detach": frozenset({"needs_input", "ready_to_submit", "action_required"}),
}


class InvalidTransition(Exception):
    def __init__(self, operation: str, state: str):
        allowed = ", ".join(sorted(ALLOWED_FROM[operation]))
        super().__init__(f"Cannot {operation.replace('_', ' ')} an authorization in state '{state}' "
                         f"(allowed from: {allowed}).")
        self.operation, self.state = operation, state


def check(operation: str, state: str) -> None:
    if state not in ALLOWED_FROM[operation]:
        raise InvalidTransition(operation, state)


def after_create(has_blockers: bool) -> str:
    return "needs_input" if has_blockers else "ready_to_submit"


def after_recompute(has_validation_blockers: bool, open_payer_actions: int) -> str:
    """State after a patch or an action resolution recomputed the blocking work."""
    if has_validation_blockers or open_payer_actions:
        return "action_required"
    return "ready_to_submit"
