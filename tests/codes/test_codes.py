"""Tests for priorauth.codes: NPI, ICD-10-CM, CPT/HCPCS/NDC formats, problem messages."""

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from priorauth.codes import (
    Icd10Status,
    cpt_is_valid_format,
    diagnosis_code_problem,
    hcpcs_is_valid_format,
    icd10_status,
    ndc_normalize,
    normalize_icd10,
    npi_is_valid,
    service_code_problem,
)

SRC = Path(__file__).resolve().parents[2] / "src"


# --- NPI -------------------------------------------------------------------------------------


def _luhn_ok(digits: str) -> bool:
    """Textbook Luhn over the full number, as an independent oracle."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@pytest.mark.parametrize(
    "npi",
    [
        # CMS example: base 123456789; doubled 9,7,5,3,1 -> 9+5+1+6+2=23; others 8+6+4+2=20;
        # 23+20+24=67 -> check digit 3.
        "1234567893",
        # base 100000000: doubled leading 1 -> 2; 2+24=26 -> check digit 4.
        "1000000004",
        # base 200000000: doubled leading 2 -> 4; 4+24=28 -> check digit 2.
        "2000000002",
    ],
)
def test_npi_valid_hand_computed(npi: str) -> None:
    assert npi_is_valid(npi)
    assert _luhn_ok("80840" + npi)


@pytest.mark.parametrize(
    "npi",
    [
        "1234567890",  # wrong check digit
        "1234567894",
        "3234567893",  # first digit must be 1 or 2
        "123456789",  # too short
        "12345678933",  # too long
        "12345 67893",
        "123456789X",
        "١٢٣٤٥٦٧٨٩٣",  # Arabic-Indic digits: isdigit() but not ASCII
        "",
        None,
        1234567893,  # not a string
    ],
)
def test_npi_invalid(npi: object) -> None:
    assert npi_is_valid(npi) is False  # type: ignore[arg-type]


def test_npi_agrees_with_luhn_over_80840_prefix() -> None:
    # Every base gets exactly one check digit, and it is the one full-number Luhn accepts.
    for base in range(100000000, 100000000 + 3000, 7):
        for prefix in ("1", "2"):
            b = prefix + str(base)[1:]
            ok = [d for d in "0123456789" if npi_is_valid(b + d)]
            assert len(ok) == 1
            assert _luhn_ok("80840" + b + ok[0])


# --- ICD-10-CM -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("m1711", "M17.11"),
        ("  E119 ", "E11.9"),
        ("M17", "M17"),
        ("m17.11", "M17.11"),
        ("e11", "E11"),
    ],
)
def test_normalize_icd10(raw: str, norm: str) -> None:
    assert normalize_icd10(raw) == norm


def test_icd10_billable_leaf() -> None:
    s = icd10_status("M17.11")
    assert s == Icd10Status("M17.11", True, True, s.description, ())
    assert s.description and "knee" in s.description.lower()
    assert icd10_status("E11.9").billable


@pytest.mark.parametrize("raw", ["m1711", "M1711", " m17.11 "])
def test_icd10_lowercase_and_missing_dot(raw: str) -> None:
    s = icd10_status(raw)
    assert (s.code, s.valid, s.billable) == ("M17.11", True, True)


def test_icd10_category_lists_billable_children() -> None:
    s = icd10_status("M17")
    assert s.valid and not s.billable
    assert s.description == "Osteoarthritis of knee"
    assert 0 < len(s.billable_children) <= 10
    assert s.billable_children[:3] == ("M17.0", "M17.10", "M17.11")
    assert "M17.1" not in s.billable_children  # a subcategory, not a leaf
    assert all("." in c and icd10_status(c).billable for c in s.billable_children)


def test_icd10_children_capped_at_ten() -> None:
    s = icd10_status("S72")  # thousands of descendants
    assert len(s.billable_children) == 10
    assert all(icd10_status(c).billable for c in s.billable_children)


def test_icd10_seventh_character_required() -> None:
    assert not icd10_status("S72.001").billable
    assert icd10_status("S72.001A").billable
    assert icd10_status("T36.0X1A").billable


@pytest.mark.parametrize(
    "raw",
    [
        "NOT-A-CODE",
        "XYZ",
        "",
        "   ",
        "M17.",
        "M17.99",
        "Z99.999",
        "13",  # a chapter number: the library calls it a valid item, we must not
        "M00-M02",  # a block
        "A00-B99",
        None,
        42,
    ],
)
def test_icd10_invalid_never_raises(raw: object) -> None:
    s = icd10_status(raw)  # type: ignore[arg-type]
    assert (s.valid, s.billable, s.description, s.billable_children) == (False, False, None, ())


def test_icd10_status_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        icd10_status("M17").valid = False  # type: ignore[misc]


def test_icd10_loads_lazily_once_and_thread_safe() -> None:
    # Fresh interpreter: importing priorauth.codes must not load the code set; concurrent first
    # lookups must all see the same loaded data.
    script = textwrap.dedent(
        """
        import sys
        from concurrent.futures import ThreadPoolExecutor
        import priorauth.codes as codes
        assert "simple_icd_10_cm" not in sys.modules, "loaded at import time"
        assert codes.icd10_status("NOT-A-CODE").valid is False
        assert "simple_icd_10_cm" not in sys.modules, "loaded for malformed input"
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(codes.icd10_status, ["M17.11"] * 16))
        assert all(r.valid and r.billable for r in results)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)


# --- CPT / HCPCS / NDC -----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["27447", "0001F", "0042T", " 0001f ", "99213"])
def test_cpt_ok(code: str) -> None:
    assert cpt_is_valid_format(code)


@pytest.mark.parametrize(
    "code", ["2744", "274470", "ABCDE", "0001X", "F0001", "J0135", "", None]
)
def test_cpt_bad(code: object) -> None:
    assert not cpt_is_valid_format(code)


@pytest.mark.parametrize("code", ["J0135", "E0601", "j0135", " A4253 ", "V2020"])
def test_hcpcs_ok(code: str) -> None:
    assert hcpcs_is_valid_format(code)


@pytest.mark.parametrize("code", ["Z1234", "J013", "J01350", "D1234", "W1234", "27447", "", None])
def test_hcpcs_bad(code: object) -> None:
    assert not hcpcs_is_valid_format(code)


@pytest.mark.parametrize(
    ("raw", "out"),
    [
        ("0074-4339-02", "00074-4339-02"),  # 4-4-2
        ("00074-339-02", "00074-0339-02"),  # 5-3-2
        ("00074-4339-2", "00074-4339-02"),  # 5-4-1
        ("00074-4339-02", "00074-4339-02"),  # 5-4-2
        ("00074433902", "00074-4339-02"),  # bare 11 digits
        (" 00074-4339-02 ", "00074-4339-02"),
    ],
)
def test_ndc_normalize(raw: str, out: str) -> None:
    assert ndc_normalize(raw) == out


@pytest.mark.parametrize(
    "raw",
    ["0074433902", "074-4339-02", "00074-43390-2", "0074-4339-002", "00074-4339", "0007A-4339-02",
     "00074--4339-02", "", None],
)
def test_ndc_rejects(raw: object) -> None:
    assert ndc_normalize(raw) is None


# --- problem messages ------------------------------------------------------------------------


def test_service_code_problem() -> None:
    assert service_code_problem("27447", "cpt") is None
    assert service_code_problem("J0135", "hcpcs") is None
    assert service_code_problem("0074-4339-02", "ndc") is None
    assert service_code_problem("ABC", "cpt") == (
        "'ABC' is not a valid CPT code (expected 5 digits, or 4 digits + F/T)"
    )
    assert "HCPCS" in (service_code_problem("Z1234", "hcpcs") or "")
    assert "NDC" in (service_code_problem("0074433902", "ndc") or "")
    assert "unknown code system" in (service_code_problem("27447", "loinc") or "")


def test_diagnosis_code_problem() -> None:
    assert diagnosis_code_problem("M17.11") is None
    assert diagnosis_code_problem("e119") is None
    assert diagnosis_code_problem("XYZ") == "'XYZ' is not an ICD-10-CM code"
    msg = diagnosis_code_problem("M17")
    assert msg is not None
    assert msg.startswith("'M17' is a category, not a billable code; use a more specific code")
    assert "M17.0, M17.10" in msg
