"""Human-readable problems for codes on an authorization request (None means no problem)."""

from __future__ import annotations

from priorauth.codes.formats import cpt_is_valid_format, hcpcs_is_valid_format, ndc_normalize
from priorauth.codes.icd10 import icd10_status

_SUGGESTIONS = 3  # how many billable children to name in a message

_SERVICE_CHECKS = {
    "cpt": (cpt_is_valid_format, "a valid CPT code (expected 5 digits, or 4 digits + F/T)"),
    "hcpcs": (
        hcpcs_is_valid_format,
        "a valid HCPCS Level II code (expected a letter A-V and 4 digits)",
    ),
    "ndc": (
        lambda c: ndc_normalize(c) is not None,
        "a valid NDC (expected 4-4-2, 5-3-2, 5-4-1 or 5-4-2 with hyphens, or 11 digits)",
    ),
}


def service_code_problem(code: str, code_system: str) -> str | None:
    system = code_system.strip().lower() if isinstance(code_system, str) else ""
    check = _SERVICE_CHECKS.get(system)
    if check is None:
        return f"unknown code system '{code_system}' (expected cpt, hcpcs or ndc)"
    is_ok, expected = check
    return None if is_ok(code) else f"'{code}' is not {expected}"


def diagnosis_code_problem(code: str) -> str | None:
    status = icd10_status(code)
    if not status.valid:
        shown = code.strip() if isinstance(code, str) else code
        return f"'{shown}' is not an ICD-10-CM code"
    if status.billable:
        return None
    # Three-character codes are ICD-10-CM "categories"; longer non-leaf codes are subcategories.
    kind = "category" if len(status.code) == 3 else "subcategory"
    msg = f"'{status.code}' is a {kind}, not a billable code"
    if status.billable_children:
        examples = ", ".join(status.billable_children[:_SUGGESTIONS])
        more = ", ..." if len(status.billable_children) > _SUGGESTIONS else ""
        msg += f"; use a more specific code such as {examples}{more}"
    return msg
