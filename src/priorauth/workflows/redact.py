"""PHI redaction for what the control plane stores: step inputs, outputs and audit entries.

Pure and deterministic; it returns a copy and never mutates its input. Deep nesting is walked with an
explicit stack, so no input can exhaust Python's recursion limit. Idempotency keys are never redacted:
they are the business identity a reviewer and a retrying agent must be able to match.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

REDACTED = "[REDACTED]"

# Keys redacted as a whole, after normalization (camelCase and kebab-case become snake_case).
_PHI_KEYS = frozenset({
    "name", "first_name", "last_name", "middle_name", "full_name", "given_name", "family_name", "maiden_name",
    "firstname", "lastname", "middlename", "fullname", "givenname", "familyname", "patientname",
    "mrn", "medical_record_number", "ssn", "social_security_number", "socialsecuritynumber",
    "mbi", "memberid", "subscriberid", "insuranceid", "zip", "zip_code", "zipcode", "postal_code", "postcode",
})
# `<owner>_name` is a person's name (`patient_name`); `step_name`, `drug_name` are not.
_NAME_OWNERS = frozenset({
    "first", "last", "middle", "full", "given", "family", "maiden", "legal", "preferred", "nick",
    "patient", "member", "subscriber", "insured", "beneficiary", "guardian", "caregiver", "contact",
    "spouse", "parent", "mother", "father", "emergency",
})
# `<owner>_id`, `<owner>_number`: identifiers of a person with a payer (`member_id`, `insurance_id`).
_ID_OWNERS = frozenset({"member", "insurance", "subscriber", "medicaid", "medicare", "beneficiary", "insured"})
_ID_SUFFIXES = frozenset({"id", "number", "no", "num"})
# Anywhere inside a key: `date_of_birth`, `birthdate`, `email_address`, `telephone`, `home_address`.
_PHI_KEY_PARTS = ("birth", "email", "phone", "address", "social_security", "medical_record")
# Whole tokens of a key: `patient_dob`, `ssn_last4`, `mrn`, `fax_number`, `street`.
_PHI_KEY_TOKENS = frozenset({"dob", "ssn", "mrn", "fax", "street"})

# Shapes found inside any text. The lookbehinds anchor each match to a boundary, so a long run of
# candidate characters costs linear time, not quadratic.
_SSN = re.compile(r"(?<![\w-])\d{3}[- ]\d{2}[- ]\d{4}(?![\w-])")
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Separators are required, so NPIs, CPT codes and plain 10-digit ids are not mistaken for phones.
_PHONE = re.compile(r"(?<![\w+(-])(?:\+?1[-. ]?)?(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w-])")
_DIGIT = re.compile(r"\d")

_KEEP, _REDACT, _SCAN = "keep", "redact", "scan"


def redact(value: Any, keep_phi: bool = False) -> Any:
    """A deep copy of a JSON value with PHI replaced by "[REDACTED]" (with keep_phi, an untouched copy).

    PHI keys (names, dates of birth, member/insurance/subscriber ids, MRN, SSN, phone, email, address)
    lose their whole value; SSNs, emails and phone numbers inside any other text are replaced in place.
    A null or boolean under a PHI key is kept: it reveals nothing. Tuples come back as lists.
    """
    return _copy(value, scan=not keep_phi)


def redact_fields(step_input: Any, paths: Iterable[str]) -> Any:
    """A deep copy with the values at the given dotted paths blanked ("[REDACTED]").

    Paths are relative to step_input (`patient.ssn`); a numeric segment indexes a list (`items.0.code`)
    and `*` stands for every item or value (`items.*.name`). Absent paths are skipped, never created;
    null values and idempotency keys are left as they are.
    """
    result = _copy(step_input, scan=False)
    for path in paths:
        *parents_path, last = path.split(".")
        parents = [result]
        for segment in parents_path:
            parents = [child for parent in parents for child in _children(parent, segment)]
        for parent in parents:
            _blank(parent, last)
    return result


def scrub_text(text: str) -> str:
    """The text with SSN-, email- and phone-shaped substrings replaced by "[REDACTED]"."""
    if "@" in text:
        text = _EMAIL.sub(REDACTED, text)
    if _DIGIT.search(text):
        text = _PHONE.sub(REDACTED, _SSN.sub(REDACTED, text))
    return text


def is_phi_key(key: str) -> bool:
    return _key_rule(key) == _REDACT


def _copy(value: Any, scan: bool) -> Any:
    """Iterative deep copy; with scan, PHI keys are blanked and free text is scrubbed on the way."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, bool]] = [(value, root, 0, scan)]
    while stack:
        source, target, slot, scan_here = stack.pop()
        if isinstance(source, dict):
            copied: dict[Any, Any] = {}
            target[slot] = copied
            for key, child in source.items():
                rule = _key_rule(key) if scan_here and isinstance(key, str) else _SCAN
                copied[key] = _blank_value(child) if rule == _REDACT else None  # placeholder keeps key order
                if rule != _REDACT:
                    stack.append((child, copied, key, scan_here and rule == _SCAN))
        elif isinstance(source, (list, tuple)):
            items: list[Any] = [None] * len(source)
            target[slot] = items
            stack.extend((child, items, index, scan_here) for index, child in enumerate(source))
        elif scan_here and isinstance(source, str):
            target[slot] = scrub_text(source)
        else:
            target[slot] = source
    return root[0]


@lru_cache(maxsize=4096)
def _key_rule(key: str) -> str:
    normalized = _normalize_key(key)
    if normalized.endswith("idempotency_key"):
        return _KEEP
    tokens = normalized.split("_")
    if (normalized in _PHI_KEYS
            or any(part in normalized for part in _PHI_KEY_PARTS)
            or _PHI_KEY_TOKENS.intersection(tokens)
            or normalized.endswith("dob")
            or len(tokens) >= 2 and tokens[-1] == "name" and tokens[-2] in _NAME_OWNERS
            or len(tokens) >= 2 and tokens[-1] in _ID_SUFFIXES and _ID_OWNERS.intersection(tokens[:-1])):
        return _REDACT
    return _SCAN


def _normalize_key(key: str) -> str:
    """`dateOfBirth`, `Date-Of-Birth`, `date of birth` → `date_of_birth`."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")


def _blank_value(value: Any) -> Any:
    return value if value is None or isinstance(value, bool) else REDACTED


def _children(container: Any, segment: str) -> list[Any]:
    if isinstance(container, dict):
        if segment == "*":
            return list(container.values())
        return [container[segment]] if segment in container else []
    if isinstance(container, list):
        if segment == "*":
            return list(container)
        index = _list_index(segment)
        return [container[index]] if index is not None and index < len(container) else []
    return []


def _blank(container: Any, segment: str) -> None:
    if isinstance(container, dict):
        keys = list(container) if segment == "*" else [segment] if segment in container else []
        for key in keys:
            if not (isinstance(key, str) and _key_rule(key) == _KEEP) and container[key] is not None:
                container[key] = REDACTED
    elif isinstance(container, list):
        index = _list_index(segment)
        indexes = range(len(container)) if segment == "*" else [index] if index is not None else []
        for position in indexes:
            if position < len(container) and container[position] is not None:
                container[position] = REDACTED


def _list_index(segment: str) -> int | None:
    if segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0"):
        return int(segment)
    return None
