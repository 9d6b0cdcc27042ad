"""ICD-10-CM lookups backed by `simple_icd_10_cm`, loaded lazily once."""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass
from itertools import islice
from types import ModuleType

# Letter, digit, alphanumeric, then an optional dot and 1-4 alphanumerics (incl. 7th-char
# extensions and X placeholders). Gating on this keeps chapters ("13") and blocks ("M00-M02"),
# which the library also treats as "valid items", out of the result.
_ICD10_RE = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")
_MAX_CHILDREN = 10

_lock = threading.Lock()
_icd: ModuleType | None = None


def _codes() -> ModuleType:
    """Return the library module; importing it parses the whole code set (~3 s), so do it once."""
    global _icd
    if _icd is None:
        with _lock:
            if _icd is None:  # double-checked: another thread may have loaded it meanwhile
                # The library uses deprecated importlib.resources calls while loading; those
                # warnings are not ours to act on and would break a warnings-as-errors run.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    import simple_icd_10_cm

                _icd = simple_icd_10_cm
    return _icd


@dataclass(frozen=True)
class Icd10Status:
    code: str
    valid: bool
    billable: bool
    description: str | None
    billable_children: tuple[str, ...]


def normalize_icd10(code: str) -> str:
    """Trim, uppercase, and add the dot after the category ("m1711" -> "M17.11")."""
    c = code.strip().upper()
    if len(c) > 3 and "." not in c:
        c = f"{c[:3]}.{c[3:]}"
    return c


def icd10_status(code: str) -> Icd10Status:
    """Look a diagnosis code up; never raises, anything unrecognised is simply not valid."""
    norm = normalize_icd10(code) if isinstance(code, str) else ""
    invalid = Icd10Status(norm, False, False, None, ())
    if not _ICD10_RE.fullmatch(norm):
        return invalid  # skip the load entirely for garbage input
    icd = _codes()
    if not icd.is_valid_item(norm):
        return invalid
    billable = icd.is_leaf(norm)
    children: tuple[str, ...] = ()
    if not billable:
        # get_descendants is depth-first in code order, so the first leaves are the nearest ones.
        leaves = (d for d in icd.get_descendants(norm) if icd.is_leaf(d))
        children = tuple(islice(leaves, _MAX_CHILDREN))
    return Icd10Status(norm, True, billable, icd.get_description(norm), children)

