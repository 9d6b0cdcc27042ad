"""Format checks for identifiers we validate without a code list (NPI, CPT, HCPCS, NDC)."""

from __future__ import annotations

import re

# Explicit [0-9] rather than \d / str.isdigit, which also accept non-ASCII digits ("²", "٣").
_NPI_RE = re.compile(r"[12][0-9]{9}")
# CPT Category I (5 digits), II (4 digits + F), III (4 digits + T). Format only: the AMA
# licenses CPT descriptors, so we ship none.
_CPT_RE = re.compile(r"[0-9]{4}[0-9FT]")
# HCPCS Level II: letters D, F, I, N, O, W, X, Y, Z are not used as Level II prefixes.
_HCPCS_RE = re.compile(r"[ABCEGHJKLMPQRSTUV][0-9]{4}")
# Labeler-product-package segment lengths for the 10-digit NDC layouts, and the 11-digit one.
_NDC_LAYOUTS = {(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)}


def _clean(code: object) -> str:
    return code.strip().upper() if isinstance(code, str) else ""


def npi_is_valid(npi: str) -> bool:
    """10 digits starting with 1 or 2 whose last digit is the Luhn check digit over 80840+NPI."""
    if not isinstance(npi, str) or not _NPI_RE.fullmatch(npi):
        return False
    total = 24  # the doubled/summed digits of the "80840" health-industry prefix (CMS spec)
    for i, ch in enumerate(reversed(npi[:9])):
        d = int(ch)
        if i % 2 == 0:  # double every other digit, starting with the rightmost of the base
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def cpt_is_valid_format(code: object) -> bool:
    return bool(_CPT_RE.fullmatch(_clean(code)))


def hcpcs_is_valid_format(code: object) -> bool:
    return bool(_HCPCS_RE.fullmatch(_clean(code)))


def ndc_normalize(code: object) -> str | None:
    """Return the 11-digit 5-4-2 NDC ("00074-4339-02"), or None if the layout is unrecognised.

    A bare 10-digit string is rejected: without hyphens we cannot tell where to pad the zero.
    """
    c = _clean(code)
    if re.fullmatch(r"[0-9]{11}", c):
        return f"{c[:5]}-{c[5:9]}-{c[9:]}"
    parts = c.split("-")
    if len(parts) != 3 or not all(re.fullmatch(r"[0-9]+", p) for p in parts):
        return None
    if tuple(len(p) for p in parts) not in _NDC_LAYOUTS:
        return None
    labeler, product, package = parts
    return f"{labeler.zfill(5)}-{product.zfill(4)}-{package.zfill(2)}"
