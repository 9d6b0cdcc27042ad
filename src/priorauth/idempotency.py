"""Idempotency keys as every face takes them: 1-255 characters, stored as given, never blank.

A blank key would be stored as the key `""` and then shared by every request that sends one (a second
create would collide, another case's submit would be refused for "reusing" it), so it is refused at the
edge with one message, in the face's own validation envelope.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Header
from pydantic import AfterValidator, Field

MAX_LENGTH = 255
BLANK = "an idempotency key must be non-empty: send 1-255 characters that are not all whitespace, or no key"


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError(BLANK)
    return value


_KEY_SCHEMA = {"minLength": 1, "pattern": r"\S"}  # what the validator enforces, for /openapi.json

# The key as a JSON field (the workflow face's `idempotency_key`) ...
IdempotencyKey = Annotated[str, Field(max_length=MAX_LENGTH, json_schema_extra=_KEY_SCHEMA), AfterValidator(_not_blank)]
# ... and as the optional `Idempotency-Key` request header (the lifecycle face).
IdempotencyKeyHeader = Annotated[IdempotencyKey | None, Header(alias="Idempotency-Key")]
