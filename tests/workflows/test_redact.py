"""PHI redaction: PHI keys and PHI-shaped text at any depth, keep_phi, idempotency keys, deep input, paths."""
from __future__ import annotations

import copy
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from priorauth.workflows.redact import REDACTED, is_phi_key, redact, redact_fields, scrub_text
from priorauth.workflows.rules import compile_policies, evaluate


@pytest.mark.parametrize("key", [
    "name", "first_name", "last_name", "middle_name", "patient_name", "firstName", "LastName", "Patient-Name",
    "member_name", "given_name", "family_name",
    "dob", "DOB", "patient_dob", "patientDob", "date_of_birth", "dateOfBirth", "birth_date", "birthDate",
    "birthdate", "birthday",
    "member_id", "memberId", "MemberID", "insurance_id", "insuranceId", "subscriber_id", "subscriberId",
    "insurance_member_id", "medicaid_id", "member_number",
    "mrn", "MRN", "patient_mrn", "medical_record_number",
    "ssn", "SSN", "patient_ssn", "ssn_last4", "social_security_number",
    "phone", "phone_number", "phoneNumber", "mobile_phone", "telephone", "fax",
    "email", "Email", "email_address", "emailAddress", "contact_email",
    "address", "home_address", "addressLine1", "street", "zip", "postal_code",
])
def test_phi_keys_lose_their_value(key):
    assert redact({key: "some value"}) == {key: REDACTED}
    assert is_phi_key(key)


@pytest.mark.parametrize("key", [
    "step_name", "workflow_name", "medication_name", "drug_name", "payer_name", "file_name", "policy_id",
    "patient_id", "cpt_code", "medication_class", "estimated_cost_usd", "npi", "provider_npi", "notes",
    "idempotency_key", "diagnosis_codes", "status", "named", "rename",
])
def test_other_keys_keep_their_value(key):
    assert redact({key: "J0135"}) == {key: "J0135"}
    assert not is_phi_key(key)


def test_a_phi_key_loses_a_whole_structure():
    value = {"address": {"street": "1 Main St", "city": "Springfield"}, "dob": {"year": 1980}, "email": ["a@b.co"]}
    assert redact(value) == {"address": REDACTED, "dob": REDACTED, "email": REDACTED}


def test_null_and_booleans_under_phi_keys_stay():
    assert redact({"email": None, "phone_verified": True, "ssn": 123456789}) == {
        "email": None, "phone_verified": True, "ssn": REDACTED}


@pytest.mark.parametrize("text, expected", [
    ("SSN 123-45-6789 on file", "SSN [REDACTED] on file"),
    ("ssn 123 45 6789", "ssn [REDACTED]"),
    ("write to jane.doe+pa@clinic.example.org today", "write to [REDACTED] today"),
    ("call 555-123-4567", "call [REDACTED]"),
    ("call (555) 123-4567.", "call [REDACTED]."),
    ("call +1 555 123 4567", "call [REDACTED]"),
    ("call 1-555-123-4567", "call [REDACTED]"),
    ("call 555.123.4567", "call [REDACTED]"),
    ("a@b.co, 555-123-4567, 123-45-6789", "[REDACTED], [REDACTED], [REDACTED]"),
])
def test_phi_shaped_text_is_redacted_in_place(text, expected):
    assert scrub_text(text) == expected
    assert redact({"notes": text}) == {"notes": expected}
    assert redact([text]) == [expected]
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "NPI 1234567893", "CPT J0135", "ICD-10 M05.79", "cost $4,200.00", "on 2026-04-21", "at 16:00:00.000Z",
    "id 123-45-67890", "x5551234567", "pa:P-88120:J0135", "user@localhost", "version 1.2.3",
])
def test_clinical_and_business_text_is_left_alone(text):
    assert scrub_text(text) == text


def test_phi_is_found_at_any_depth():
    value = {"request": {"items": [{"patient": {"first_name": "Ann", "member_id": "M-1"}},
                                   {"notes": ["seen", {"contact": "ann@example.com"}]}]}}
    assert redact(value) == {"request": {"items": [{"patient": {"first_name": REDACTED, "member_id": REDACTED}},
                                                   {"notes": ["seen", {"contact": REDACTED}]}]}}


def test_keep_phi_returns_an_untouched_copy():
    value = {"patient_name": "Ann", "notes": "ssn 123-45-6789", "items": [{"email": "a@b.co"}]}
    kept = redact(value, keep_phi=True)
    assert kept == value
    assert kept is not value and kept["items"] is not value["items"] and kept["items"][0] is not value["items"][0]


@pytest.mark.parametrize("key", ["idempotency_key", "expected_idempotency_key", "received_idempotency_key",
                                 "idempotencyKey"])
def test_idempotency_keys_are_never_redacted(key):
    raw = "pa:P-88120:J0135:ann@example.com:123-45-6789:555-123-4567"
    assert redact({key: raw}) == {key: raw}
    assert redact({"retry_context": {key: raw}, "email": "x"}) == {"retry_context": {key: raw}, "email": REDACTED}
    assert redact_fields({key: raw}, [key, "*"]) == {key: raw}


def test_the_input_is_never_mutated_and_nothing_is_shared():
    value = {"patient": {"ssn": "123-45-6789", "names": ["Ann"]}, "notes": "a@b.co", "t": (1, [2])}
    snapshot = copy.deepcopy(value)
    result = redact(value)
    assert value == snapshot
    result["patient"]["names"].append("x")
    result["t"][1].append(3)
    assert value == snapshot
    assert result["t"] == [1, [2, 3]]  # tuples come back as lists: the output is JSON


def test_key_order_and_non_text_values_are_kept():
    value = {"z": 1, "email": "x", "a": [True, None, 2.5], "m": {"b": 1, "a": 2}}
    result = redact(value)
    assert list(result) == ["z", "email", "a", "m"]
    assert list(result["m"]) == ["b", "a"]
    assert result["a"] == [True, None, 2.5]


def test_deterministic():
    value = {"notes": "call 555-123-4567", "items": [{"name": "x"}, {"phone": 5}]}
    assert redact(value) == redact(value) == redact(copy.deepcopy(value))


def deep(depth, leaf, container="dict"):
    value = leaf
    for _ in range(depth):
        value = {"child": value} if container == "dict" else [value]
    return value


@pytest.mark.parametrize("container", ["dict", "list"])
def test_5000_deep_input_is_walked_without_recursion_errors(container):
    value = deep(5000, {"ssn": "123-45-6789", "notes": "a@b.co"}, container)
    result = redact(value)
    leaf = result
    for _ in range(5000):
        leaf = leaf["child"] if container == "dict" else leaf[0]
    assert leaf == {"ssn": REDACTED, "notes": REDACTED}
    kept = redact(value, keep_phi=True)
    for _ in range(5000):
        kept = kept["child"] if container == "dict" else kept[0]
    assert kept == {"ssn": "123-45-6789", "notes": "a@b.co"}
    path = ".".join(["child"] * 5000 + ["ssn"]) if container == "dict" else ".".join(["0"] * 5000 + ["ssn"])
    blanked = redact_fields(value, [path])
    for _ in range(5000):
        blanked = blanked["child"] if container == "dict" else blanked[0]
    assert blanked == {"ssn": REDACTED, "notes": "a@b.co"}


def test_pathological_text_stays_linear():
    texts = ["a" * 200_000 + "@", "a@" * 100_000, "1-" * 100_000, "(555) " * 50_000, "1 " * 100_000]
    start = time.perf_counter()
    for text in texts:
        scrub_text(text)
    assert time.perf_counter() - start < 5  # generous: quadratic behaviour would take minutes


# ---------------------------------------------------------------- redact_fields


def test_redact_fields_blanks_given_paths_only():
    step_input = {"patient": {"ssn": "x", "age": 70}, "items": [{"code": "J0135", "name": "a"}, {"code": "J9999"}],
                  "notes": "free text"}
    result = redact_fields(step_input, ["patient.ssn", "items.1.code", "notes"])
    assert result == {"patient": {"ssn": REDACTED, "age": 70},
                      "items": [{"code": "J0135", "name": "a"}, {"code": REDACTED}], "notes": REDACTED}


def test_redact_fields_wildcards():
    step_input = {"items": [{"code": "a", "name": "n"}, {"code": "b"}, "text"], "m": {"x": {"k": 1}, "y": {"k": 2}}}
    assert redact_fields(step_input, ["items.*.code", "m.*.k"]) == {
        "items": [{"code": REDACTED, "name": "n"}, {"code": REDACTED}, "text"],
        "m": {"x": {"k": REDACTED}, "y": {"k": REDACTED}}}
    assert redact_fields({"a": [1, None, {"b": 2}]}, ["a.*"]) == {"a": [REDACTED, None, REDACTED]}


@pytest.mark.parametrize("paths", [["missing"], ["patient.missing.deeper"], ["items.5"], ["items.01"],
                                   ["patient.age.x"], ["items.x"], []])
def test_redact_fields_skips_absent_paths_and_creates_nothing(paths):
    step_input = {"patient": {"age": 70}, "items": [1, 2]}
    assert redact_fields(step_input, paths) == step_input


def test_redact_fields_never_mutates_and_keeps_nulls():
    step_input = {"patient": {"ssn": None, "name": "Ann"}}
    snapshot = copy.deepcopy(step_input)
    assert redact_fields(step_input, ["patient.ssn", "patient.name"]) == {"patient": {"ssn": None, "name": REDACTED}}
    assert step_input == snapshot
    assert redact_fields("text", ["a"]) == "text"
    assert redact_fields(None, ["a"]) is None


def test_an_outcome_drives_redaction_of_the_stored_input():
    compiled = compile_policies([{
        "policy_id": "pol_1", "name": "hide-notes", "type": "context_aware", "category": "dynamic-privacy",
        "conditions": [], "actions": [{"type": "redact", "config": {"fields": ["step_input.clinical.notes"]}},
                                      {"type": "log", "config": {"keep_phi": False}}]}])
    step_input = {"clinical": {"notes": "knee pain, no relief"}, "patient_name": "Ann", "cpt_code": "J0135"}
    outcome = evaluate(compiled, {"step_input": step_input})
    stored = redact(redact_fields(step_input, outcome.redact_fields), keep_phi=outcome.keep_phi)
    assert stored == {"clinical": {"notes": REDACTED}, "patient_name": REDACTED, "cpt_code": "J0135"}


# ---------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "email", "notes", "items", "idempotency_key", "dob", "code"]) | st.text(max_size=8),
        children, max_size=4),
    max_leaves=30)


def same_shape(left, right):
    if isinstance(left, dict):
        return isinstance(right, dict) and list(left) == list(right)
    if isinstance(left, list):
        return isinstance(right, list) and len(left) == len(right)
    return True


@settings(max_examples=300, deadline=None)
@given(value=JSON)
def test_redact_never_raises_keeps_the_shape_and_never_mutates(value):
    snapshot = copy.deepcopy(value)
    result = redact(value)
    assert same_shape(value, result)
    assert repr(redact(value)) == repr(result)  # deterministic (repr: NaN is never equal to itself)
    assert repr(value) == repr(snapshot)
    assert repr(redact(value, keep_phi=True)) == repr(value)
    assert repr(redact(result)) == repr(result)  # idempotent
