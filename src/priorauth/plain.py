"""Values JSON parsing lets through but no database column or strict JSON answer can hold."""
from __future__ import annotations

import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_plain(data: Any) -> Any:
    """Refuse what JSON parsing lets through but no database or JSON answer can hold: NaN and Infinity,
    NUL characters and lone surrogates. Iterative, so deep nesting cannot exhaust the stack."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("text must not contain NUL characters")
            if not value.isascii() and _SURROGATE.search(value):
                raise ValueError("text must be valid Unicode (no lone surrogates)")
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return data
