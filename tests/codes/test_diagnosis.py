"""diagnosis_validation: real ICD-10-CM codes from simple-icd-10-cm."""

import re

import pytest

from priorauth.codes import diagnosis_validation, icd10_status

KEYS = {"code", "valid", "billable", "description", "hierarchy_note"}


def test_billable_leaf_has_no_note() -> None:
    r = diagnosis_validation("M17.11")
    assert r == {"code": "M17.11", "valid": True, "billable": True,
                 "description": "Unilateral primary osteoarthritis, right knee", "hierarchy_note": ""}


def test_e11_9() -> None:
    r = diagnosis_validation("E11.9")
    assert (r["valid"], r["billable"], r["hierarchy_note"]) == (True, True, "")
    assert r["description"] == "Type 2 diabetes mellitus without complications"


def test_subcategory_names_all_its_billable_children() -> None:
    r = diagnosis_validation("M17.1")
    assert (r["code"], r["valid"], r["billable"]) == ("M17.1", True, False)
    assert r["description"] == "Unilateral primary osteoarthritis of knee"
    assert r["hierarchy_note"] == ("M17.1 is a subcategory, not billable; use a billable child code: "
                                   "M17.10, M17.11, M17.12")


def test_category_caps_the_list_and_counts_the_rest() -> None:
    r = diagnosis_validation("M17")
    assert (r["valid"], r["billable"], r["description"]) == (True, False, "Osteoarthritis of knee")
    assert r["hierarchy_note"] == ("M17 is a category, not billable; use a billable child code: "
                                   "M17.0, M17.10, M17.11, M17.12, M17.2 (and 6 more)")


def test_large_category_counts_every_billable_descendant() -> None:
    note = diagnosis_validation("S72")["hierarchy_note"]
    more = int(re.search(r"\(and (\d+) more\)$", note).group(1))
    assert more > 1000  # thousands of fracture codes with 7th characters
    assert "S72.001A" in note


def test_unknown_code_points_at_its_category() -> None:
    r = diagnosis_validation("Z99.999")
    assert (r["code"], r["valid"], r["billable"], r["description"]) == ("Z99.999", False, False, None)
    note = r["hierarchy_note"]
    assert note.startswith("'Z99.999' is not in the ICD-10-CM code set; the closest valid code is Z99 "
                           "(Dependence on enabling machines and devices")
    assert "a category: use a billable child code: Z99.0, Z99.11" in note
    assert "(and 2 more)" in note
    assert all(icd10_status(c).billable for c in ("Z99.0", "Z99.11", "Z99.12", "Z99.2", "Z99.3"))


def test_unknown_code_points_at_the_nearest_parent_not_just_the_category() -> None:
    assert "the closest valid code is M17.1 (" in diagnosis_validation("M17.19")["hierarchy_note"]
    note = diagnosis_validation("M17.99")["hierarchy_note"]
    assert note.endswith("the closest valid code is M17.9 (Osteoarthritis of knee, unspecified), which is billable")
    # Missing "X" placeholder before a 7th character: the parent's children show the right form.
    assert "T36.0X1A" in diagnosis_validation("T36.01A")["hierarchy_note"]


@pytest.mark.parametrize(("raw", "code", "billable"), [
    ("e11.9", "E11.9", True),
    ("  E119 \t", "E11.9", True),
    ("m1711", "M17.11", True),
    ("m17.1  ", "M17.1", False),
    (" z99.999 ", "Z99.999", None),
])
def test_lowercase_spaces_and_missing_dot(raw: str, code: str, billable: bool | None) -> None:
    r = diagnosis_validation(raw)
    assert r["code"] == code
    if billable is None:
        assert not r["valid"] and r["hierarchy_note"].startswith(f"'{code}' is not in the ICD-10-CM code set")
    else:
        assert r["valid"] and r["billable"] is billable


@pytest.mark.parametrize(("raw", "note"), [
    ("NOT-A-CODE", "'NOT-A-CODE' is not in the ICD-10-CM code set"),
    ("XYZ", "'XYZ' is not in the ICD-10-CM code set"),
    ("Q9Z.1", "'Q9Z.1' is not in the ICD-10-CM code set"),  # well formed, no such category
    ("13", "'13' is not in the ICD-10-CM code set"),  # a chapter number
    ("M00-M02", "'M00-M02' is not in the ICD-10-CM code set"),  # a block
    ("", "no ICD-10-CM code given"),
    ("   ", "no ICD-10-CM code given"),
    (None, "no ICD-10-CM code given"),
    (42, "no ICD-10-CM code given"),
])
def test_invalid_input_never_raises(raw: object, note: str) -> None:
    r = diagnosis_validation(raw)  # type: ignore[arg-type]
    assert set(r) == KEYS
    assert (r["valid"], r["billable"], r["description"], r["hierarchy_note"]) == (False, False, None, note)


@pytest.mark.parametrize("raw", ["M17.11", "M17", "Z99.999", "junk"])
def test_shape(raw: str) -> None:
    assert set(diagnosis_validation(raw)) == KEYS
