"""Workflow control plane: workflows, step gates, policies, approvals, idempotency keys."""
