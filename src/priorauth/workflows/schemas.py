"""Wire models of the workflow control plane (snake_case, as its reference document)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from priorauth.idempotency import IdempotencyKey
from priorauth.plain import check_plain

SOURCES = ("external", "langgraph", "crewai", "autogen", "custom", "priorauth")
STEP_TYPES = ("llm_call", "tool_call", "connector_call", "human_task")


class _Body(BaseModel):
    """Unknown fields are refused (a typo must not pass silently); numbers finite, text valid anywhere."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        return check_plain(value)


class WorkflowCreate(_Body):
    workflow_name: str = Field(min_length=1, max_length=200)
    source: Literal[SOURCES] = "external"  # type: ignore[valid-type]
    trace_id: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)


class WorkflowEnd(_Body):
    reason: str | None = Field(None, max_length=2000)


class GateRequest(_Body):
    step_name: str = Field(min_length=1, max_length=200)
    step_type: Literal[STEP_TYPES]  # type: ignore[valid-type]
    step_input: dict[str, Any] | None = None
    model: str | None = Field(None, max_length=200)
    provider: str | None = Field(None, max_length=200)
    idempotency_key: IdempotencyKey | None = None
    retry_policy: Literal["idempotent", "reevaluate"] = "idempotent"


class CompleteRequest(_Body):
    output: dict[str, Any] | None = None
    idempotency_key: IdempotencyKey | None = None
    tokens_in: int | None = Field(None, ge=0, le=10**12)
    tokens_out: int | None = Field(None, ge=0, le=10**12)
    cost_usd: float | None = Field(None, ge=0, le=10**9)


class RejectRequest(_Body):
    reason: str = Field(min_length=1, max_length=2000)
