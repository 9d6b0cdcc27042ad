"""Wire models of `/v1/webhooks` (camelCase, unknown fields refused, as the lifecycle face)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from priorauth.authorizations.schemas import Strict

EventType = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Format = Literal["priorauth", "medication_pa"]
Signing = Literal["standard", "akute"]


class EndpointCreate(Strict):
    url: Url
    description: Description | None = None
    eventTypes: Annotated[list[EventType], Field(min_length=1, max_length=50)] = Field(
        default_factory=lambda: ["*"]
    )
    format: Format = "priorauth"
    signing: Signing = "standard"
    enabled: bool = True


class EndpointPatch(Strict):
    url: Url | None = None
    description: Description | None = None
    eventTypes: Annotated[list[EventType], Field(min_length=1, max_length=50)] | None = None
    format: Format | None = None
    signing: Signing | None = None
    enabled: bool | None = None
