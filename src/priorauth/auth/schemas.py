"""Wire models of the organization settings (camelCase, unknown fields rejected)."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class OrganizationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # true: every client of the organization may send sandbox payer events, not only admins (never in production).
    sandboxEnabled: Annotated[bool, Field(strict=True)] | None = None
