"""One diagnosis code checked against the ICD-10-CM code set, with a note a person can act on.

Pure apart from the one-time code-set load that `icd10_status` does on first use.
"""

from __future__ import annotations

from priorauth.codes.icd10 import _ICD10_RE, _codes, icd10_status, normalize_icd10

_SHOWN_CHILDREN = 5  # billable children named in a note; the rest are counted


def _billable_leaf_count(code: str) -> int:
    icd = _codes()
    return sum(1 for d in icd.get_descendants(code) if icd.is_leaf(d))


def _kind(code: str) -> str:
    # ICD-10-CM calls three-character codes categories and longer non-leaf codes subcategories.
    return "category" if len(code) == 3 else "subcategory"


def _children_hint(code: str, children: tuple[str, ...]) -> str:
    if not children:
        return ""
    shown = ", ".join(children[:_SHOWN_CHILDREN])
    more = _billable_leaf_count(code) - min(len(children), _SHOWN_CHILDREN)
    return f"use a billable child code: {shown}" + (f" (and {more} more)" if more > 0 else "")


def _parent_note(code: str, children: tuple[str, ...]) -> str:
    note = f"{code} is a {_kind(code)}, not billable"
    hint = _children_hint(code, children)
    return f"{note}; {hint}" if hint else note


def _closest_valid_parent(code: str) -> str | None:
    """The longest valid prefix of a well-formed but unknown code, if its category exists."""
    if len(code) <= 3:
        return None
    icd = _codes()
    if not icd.is_valid_item(code[:3]):
        return None
    candidate = code
    while len(candidate) > 3:
        candidate = candidate[:-1].rstrip(".")
        if icd.is_valid_item(candidate):
            return candidate
    return None  # pragma: no cover - the category itself was valid, so the loop returns


def diagnosis_validation(code: str) -> dict:
    """Validate one ICD-10-CM code.

    Returns {"code", "valid", "billable", "description", "hierarchy_note"}: "code" is the
    normalized form ("m1711" -> "M17.11"); "hierarchy_note" is "" for a billable code, names
    billable children for a category or subcategory, and for an unknown code says so and points at
    the closest valid parent when the code's category exists. Never raises.
    """
    raw = code.strip() if isinstance(code, str) else ""
    norm = normalize_icd10(raw)
    well_formed = bool(_ICD10_RE.fullmatch(norm))
    shown = norm if well_formed else raw
    status = icd10_status(raw)
    if status.valid:
        note = "" if status.billable else _parent_note(status.code, status.billable_children)
        return {"code": status.code, "valid": True, "billable": status.billable,
                "description": status.description, "hierarchy_note": note}

    note = f"'{shown}' is not in the ICD-10-CM code set" if shown else "no ICD-10-CM code given"
    parent = _closest_valid_parent(norm) if well_formed else None
    if parent is not None:
        p = icd10_status(parent)
        note += f"; the closest valid code is {parent} ({p.description})"
        if p.billable:
            note += ", which is billable"
        else:
            note += f", a {_kind(parent)}"
            hint = _children_hint(parent, p.billable_children)
            if hint:
                note += f": {hint}"
    return {"code": shown, "valid": False, "billable": False, "description": None, "hierarchy_note": note}
