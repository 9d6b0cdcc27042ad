"""Opaque pagination cursors of the lifecycle face: the last item's key, base64url without padding."""
from __future__ import annotations

import base64
import binascii

from priorauth.errors import ApiError


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str = "") -> str:
    """The key a cursor carries; with `prefix`, it must be an id of that kind (e.g. `dlv_`)."""
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = None
    # Keys we issue are printable ASCII; anything else (NUL above all: PostgreSQL refuses it) was not ours.
    if value is None or not value.startswith(prefix) or not (value.isascii() and value.isprintable()):
        raise ApiError(400, "invalid_cursor", "The pagination cursor is malformed.")
    return value
