"""The pure policy engine: validation with field paths, operator truth tables, decisions, the reference policies."""
from __future__ import annotations

import copy
import math
import statistics
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from priorauth.workflows import rules
from priorauth.workflows.rules import (
    Outcome,
    PolicyError,
    compile_policies,
    evaluate,
    json_equal,
    validate_policy,
)

# The two policies of the reference document (Step 0 and the retry-aware extension), verbatim.
BIOLOGICS = {
    "name": "biologics-require-md-approval",
    "description": "Biologic medication over $2,000 requires medical director approval",
    "type": "context_aware",
    "category": "dynamic-compliance",
    "priority": 900,
    "enabled": True,
    "conditions": [
        {"field": "step_input.medication_class", "operator": "equals", "value": "biologic"},
        {"field": "step_input.estimated_cost_usd", "operator": "greater_than", "value": 2000},
    ],
    "actions": [
        {"type": "require_approval", "config": {
            "reason": "biologic medication over $2,000 requires medical director approval", "severity": "high"}},
    ],
}
STUCK = {
    "name": "stuck-pa-escalates-severity",
    "description": "PA requests stuck in gated_not_completed for 30+ minutes escalate to critical severity",
    "type": "context_aware",
    "category": "dynamic-compliance",
    "priority": 900,
    "enabled": True,
    "conditions": [
        {"field": "step.prior_completion_status", "operator": "equals", "value": "gated_not_completed"},
        {"field": "step.first_attempt_age_seconds", "operator": "greater_than", "value": 1800},
    ],
    "actions": [
        {"type": "require_approval", "config": {
            "reason": "Prior authorization stuck in uncertain state for 30+ minutes — escalating for clinical "
                      "safety review", "severity": "critical"}},
    ],
}
PA_INPUT = {"patient_id": "P-88120", "cpt_code": "J0135", "medication_class": "biologic", "estimated_cost_usd": 4200}
ABSENT = object()  # marks "the field is not in the context at all"


def body(**overrides):
    policy = {"name": "p", "type": "context_aware", "category": "dynamic-test", "priority": 100, "enabled": True,
              "conditions": [], "actions": [{"type": "require_approval", "config": {}}]}
    policy.update(overrides)
    return policy


def stored(policy_id, **overrides):
    return {"policy_id": policy_id, **body(name=policy_id, **overrides)}


def condition(field="step_input.f", operator="equals", value="x"):
    return {"field": field, "operator": operator, "value": value}


def context(step_input=None, step=None, workflow=None):
    return {"step_input": step_input or {}, "step": step or {}, "workflow": workflow or {}}


# ---------------------------------------------------------------- validation


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


INVALID = [
    ("not an object", ["a list"], "body"),
    ("unknown top-level key", body(colour="red"), "colour"),
    ("name missing", {k: v for k, v in body().items() if k != "name"}, "name"),
    ("name empty", body(name=""), "name"),
    ("name blank", body(name="   "), "name"),
    ("name not text", body(name=5), "name"),
    ("name too long", body(name="n" * 201), "name"),
    ("description not text", body(description=5), "description"),
    ("description too long", body(description="d" * 2001), "description"),
    ("type missing", {k: v for k, v in body().items() if k != "type"}, "type"),
    ("type unknown", body(type="static"), "type"),
    ("category missing", {k: v for k, v in body().items() if k != "category"}, "category"),
    ("category prefix", body(category="compliance"), "category"),
    ("category bare prefix", body(category="dynamic-"), "category"),
    ("category not text", body(category=["dynamic-x"]), "category"),
    ("priority negative", body(priority=-1), "priority"),
    ("priority too high", body(priority=10_001), "priority"),
    ("priority bool", body(priority=True), "priority"),
    ("priority float", body(priority=1.5), "priority"),
    ("priority text", body(priority="5"), "priority"),
    ("enabled text", body(enabled="yes"), "enabled"),
    ("conditions missing", {k: v for k, v in body().items() if k != "conditions"}, "conditions"),
    ("conditions not a list", body(conditions={"field": "step_input.a"}), "conditions"),
    ("too many conditions", body(conditions=[condition()] * 101), "conditions"),
    ("condition not an object", body(conditions=["x"]), "conditions[0]"),
    ("condition unknown key", body(conditions=[{**condition(), "negate": True}]), "conditions[0].negate"),
    ("condition field missing", body(conditions=[{"operator": "equals", "value": 1}]), "conditions[0].field"),
    ("field not text", body(conditions=[condition(field=5)]), "conditions[0].field"),
    ("field unknown root", body(conditions=[condition(field="patient.age")]), "conditions[0].field"),
    ("field bare step_input", body(conditions=[condition(field="step_input")]), "conditions[0].field"),
    ("field empty part", body(conditions=[condition(field="step_input..a")]), "conditions[0].field"),
    ("field unknown step field", body(conditions=[condition(field="step.attempts")]), "conditions[0].field"),
    ("field too deep under step", body(conditions=[condition(field="step.gate_count.x")]), "conditions[0].field"),
    ("field unknown workflow field", body(conditions=[condition(field="workflow.status")]), "conditions[0].field"),
    ("field bare metadata", body(conditions=[condition(field="workflow.metadata")]), "conditions[0].field"),
    ("field too long", body(conditions=[condition(field="step_input." + "a" * 500)]), "conditions[0].field"),
    ("operator missing", body(conditions=[{"field": "step_input.a", "value": 1}]), "conditions[0].operator"),
    ("operator unknown", body(conditions=[condition(operator="like")]), "conditions[0].operator"),
    ("operator wrong case", body(conditions=[condition(operator="Equals")]), "conditions[0].operator"),
    ("value missing", body(conditions=[{"field": "step_input.a", "operator": "equals"}]), "conditions[0].value"),
    ("second condition", body(conditions=[condition(), condition(operator="between")]), "conditions[1].operator"),
    ("greater_than text", body(conditions=[condition(operator="greater_than", value="2000")]), "conditions[0].value"),
    ("greater_than bool", body(conditions=[condition(operator="greater_than", value=True)]), "conditions[0].value"),
    ("greater_than NaN", body(conditions=[condition(operator="greater_than", value=math.nan)]),
     "conditions[0].value"),
    ("less_than null", body(conditions=[condition(operator="less_than", value=None)]), "conditions[0].value"),
    ("in not a list", body(conditions=[condition(operator="in", value="a")]), "conditions[0].value"),
    ("in too long", body(conditions=[condition(operator="in", value=list(range(1001)))]), "conditions[0].value"),
    ("contains NaN", body(conditions=[condition(operator="contains", value=math.nan)]), "conditions[0].value"),
    ("contains object", body(conditions=[condition(operator="contains", value={})]), "conditions[0].value"),
    ("contains list", body(conditions=[condition(operator="contains", value=["a"])]), "conditions[0].value"),
    ("regex not text", body(conditions=[condition(operator="regex", value=5)]), "conditions[0].value"),
    ("regex invalid", body(conditions=[condition(operator="regex", value="(")]), "conditions[0].value"),
    ("regex too long", body(conditions=[condition(operator="regex", value="a" * 501)]), "conditions[0].value"),
    ("regex backreference", body(conditions=[condition(operator="regex", value="(a)\\1")]), "conditions[0].value"),
    ("regex lookahead", body(conditions=[condition(operator="regex", value="(?=a+)b")]), "conditions[0].value"),
    ("regex repeat too large", body(conditions=[condition(operator="regex", value="a{1001}")]),
     "conditions[0].value"),
    ("equals NaN inside", body(conditions=[condition(value={"a": math.inf})]), "conditions[0].value"),
    ("equals too deep", body(conditions=[condition(value=nested(40))]), "conditions[0].value"),
    ("equals not JSON", body(conditions=[condition(value={1, 2})]), "conditions[0].value"),
    ("actions missing", {k: v for k, v in body().items() if k != "actions"}, "actions"),
    ("actions empty", body(actions=[]), "actions"),
    ("actions not a list", body(actions={"type": "block"}), "actions"),
    ("too many actions", body(actions=[{"type": "log"}] * 21), "actions"),
    ("action not an object", body(actions=["block"]), "actions[0]"),
    ("action unknown key", body(actions=[{"type": "block", "when": "always"}]), "actions[0].when"),
    ("action type missing", body(actions=[{"config": {}}]), "actions[0].type"),
    ("action type unknown", body(actions=[{"type": "log"}, {"type": "quarantine"}]), "actions[1].type"),
    ("config not an object", body(actions=[{"type": "block", "config": []}]), "actions[0].config"),
    ("config NaN", body(actions=[{"type": "block", "config": {"x": math.nan}}]), "actions[0].config"),
    ("severity unknown", body(actions=[{"type": "log"}, {"type": "block", "config": {"severity": "urgent"}}]),
     "actions[1].config.severity"),
    ("severity wrong case", body(actions=[{"type": "block", "config": {"severity": "High"}}]),
     "actions[0].config.severity"),
    ("reason not text", body(actions=[{"type": "block", "config": {"reason": 5}}]), "actions[0].config.reason"),
    ("reason too long", body(actions=[{"type": "warn", "config": {"reason": "r" * 2001}}]),
     "actions[0].config.reason"),
    ("redact without fields", body(actions=[{"type": "redact", "config": {}}]), "actions[0].config.fields"),
    ("redact fields empty", body(actions=[{"type": "redact", "config": {"fields": []}}]), "actions[0].config.fields"),
    ("redact field empty", body(actions=[{"type": "redact", "config": {"fields": ["a", ""]}}]),
     "actions[0].config.fields[1]"),
    ("redact field not text", body(actions=[{"type": "redact", "config": {"fields": [3]}}]),
     "actions[0].config.fields[0]"),
    ("keep_phi not bool", body(actions=[{"type": "log", "config": {"keep_phi": "yes"}}]),
     "actions[0].config.keep_phi"),
]


@pytest.mark.parametrize("case, policy, field", INVALID, ids=[case for case, _, _ in INVALID])
def test_invalid_policy_names_the_field(case, policy, field):
    with pytest.raises(PolicyError) as raised:
        validate_policy(policy)
    assert raised.value.field == field
    assert raised.value.message
    assert str(raised.value).startswith(field + ": ")


def test_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)


@pytest.mark.parametrize("policy", [BIOLOGICS, STUCK])
def test_reference_policies_are_valid_and_kept_as_given(policy):
    normalized = validate_policy(policy)
    assert normalized["conditions"] == policy["conditions"]
    assert normalized["actions"] == policy["actions"]
    assert {key: normalized[key] for key in ("name", "description", "type", "category", "priority", "enabled")} \
        == {key: policy[key] for key in ("name", "description", "type", "category", "priority", "enabled")}


def test_defaults_are_filled_in():
    normalized = validate_policy({"name": "p", "type": "context_aware", "category": "media-images",
                                  "conditions": [], "actions": [{"type": "block"}]})
    assert normalized == {"name": "p", "description": "", "type": "context_aware", "category": "media-images",
                          "priority": 0, "enabled": True, "conditions": [],
                          "actions": [{"type": "block", "config": {"severity": "medium"}}]}


@pytest.mark.parametrize("field", [
    "step_input.a", "step_input.patient.age", "step_input.items.0.code", "step.prior_completion_status",
    "step.first_attempt_age_seconds", "step.gate_count", "step.completion_count", "step.step_type",
    "step.step_name", "step.model", "step.provider", "workflow.workflow_name", "workflow.source",
    "workflow.trace_id", "workflow.metadata.tenant", "workflow.metadata.a.b.c",
])
def test_every_documented_field_is_accepted(field):
    assert validate_policy(body(conditions=[condition(field=field)]))["conditions"][0]["field"] == field


@pytest.mark.parametrize("value", [0, 10_000])
def test_priority_bounds_are_inclusive(value):
    assert validate_policy(body(priority=value))["priority"] == value


def test_huge_integer_bounds_are_fine():
    compiled = compile_policies([stored("pol_1", conditions=[condition(operator="greater_than", value=10**400)])])
    assert evaluate(compiled, context({"f": 10**401})).decision == "require_approval"
    assert evaluate(compiled, context({"f": 1e308})).decision == "allow"


def test_limits_are_inclusive():
    assert validate_policy(body(name="n" * 200, description="d" * 2000))["name"] == "n" * 200
    assert validate_policy(body(conditions=[condition(operator="regex", value="a" * 500)]))


def test_read_only_fields_are_accepted_and_dropped():
    normalized = validate_policy({**body(), "policy_id": "pol_1", "created_at": "2026-01-01T00:00:00Z",
                                  "updated_at": "2026-01-01T00:00:00Z"})
    assert set(normalized) == set(rules.POLICY_KEYS)


def test_validation_copies_and_never_mutates():
    original = body(conditions=[condition(operator="in", value=[{"a": [1]}])],
                    actions=[{"type": "block", "config": {"extra": {"k": [1]}}}])
    snapshot = copy.deepcopy(original)
    normalized = validate_policy(original)
    assert original == snapshot
    normalized["conditions"][0]["value"][0]["a"].append(2)
    normalized["actions"][0]["config"]["extra"]["k"].append(2)
    assert original == snapshot


def test_redact_fields_drop_a_step_input_prefix():
    normalized = validate_policy(body(actions=[{"type": "redact", "config": {
        "fields": ["step_input.patient.ssn", "items.*.name"]}}]))
    assert normalized["actions"][0]["config"]["fields"] == ["patient.ssn", "items.*.name"]


@pytest.mark.parametrize("pattern", [
    "(a+)+$", "(a*)*$", "(a|ab)*$", "(a|a)*b", "(\\w+\\s?)+$", "a*a*a*a*a*a*b", "(x+x+)+y", "(.*a){20}",
])
def test_patterns_that_backtrack_catastrophically_run_in_linear_time(pattern):
    """Shapes that made Python's backtracking engine take exponential or polynomial time are harmless in RE2."""
    compiled = compile_policies([stored("pol_1", conditions=[condition(operator="regex", value=pattern)])])
    for text in ("a" * rules.MAX_REGEX_INPUT, "x" * rules.MAX_REGEX_INPUT, "ab" * (rules.MAX_REGEX_INPUT // 2)):
        started = time.perf_counter()
        evaluate(compiled, context({"f": text}))
        assert time.perf_counter() - started < 0.5, (pattern, text[:4])


@pytest.mark.parametrize("pattern, refused", [
    ("(a)\\1", "\\1"), ("(?P<x>a)(?P=x)", "(?P"), ("(?=a)b", "(?="), ("(?!a)b", "(?!"), ("(?<=a)b", "(?<="),
    ("(?<!a)b", "(?<!"), ("(?>a+)b", "(?>"), ("a++", "++"), ("(?(1)a|b)", "(?("),
])
def test_backreferences_and_lookaround_are_refused_with_the_reason(pattern, refused):
    with pytest.raises(PolicyError) as raised:
        validate_policy(body(conditions=[condition(operator="regex", value=pattern)]))
    assert raised.value.field == "conditions[0].value"
    assert refused in raised.value.message and "RE2" in raised.value.message
    assert "backreferences" in raised.value.message and "lookaround" in raised.value.message


@pytest.mark.parametrize("pattern", [
    "^J\\d{4}$", "^[A-Z]\\d{2}(\\.\\d{1,4})?$", "(a+)?", "(ab)+", "(a+){1}", "[(a+)]+", "\\(a+\\)+",
    "(?i)biologic", "(?:J|Q)\\d{4}", "a{2,3}b*", "[]+]+", "a{}+", "(?P<code>J\\d+)", "\\bJ0135\\b", "\\p{L}+",
    "(a+)+", "(?:a|b)+",
])
def test_safe_patterns_are_accepted(pattern):
    validate_policy(body(conditions=[condition(operator="regex", value=pattern)]))


def test_a_string_beyond_the_regex_input_bound_counts_as_a_match():
    """Padding a value past the bound must not slip it past a policy: it is not searched, and it matches."""
    compiled = compile_policies([stored("pol_1", conditions=[condition(operator="regex", value="^J\\d{4}$")])])
    assert evaluate(compiled, context({"f": "x" * rules.MAX_REGEX_INPUT})).decision == "allow"
    assert evaluate(compiled, context({"f": "x" * (rules.MAX_REGEX_INPUT + 1)})).decision == "require_approval"
    assert evaluate(compiled, context({"f": "\ud800"})).decision == "require_approval"  # never raises either


# ---------------------------------------------------------------- operators


def matches(operator, expected, actual, field="step_input.f"):
    compiled = compile_policies([stored("pol_1", conditions=[condition(field, operator, expected)])])
    step_input = {} if actual is ABSENT else {"f": actual}
    return evaluate(compiled, context(step_input)).decision == "require_approval"


TRUTH_TABLE = [
    # equals: exact JSON equality, ints and floats numerically, a bool never a number
    ("equals", "biologic", "biologic", True),
    ("equals", "biologic", "Biologic", False),
    ("equals", "1", 1, False),
    ("equals", 2000, 2000.0, True),
    ("equals", 2000.5, 2000, False),
    ("equals", 1, True, False),
    ("equals", True, 1, False),
    ("equals", 0, False, False),
    ("equals", False, False, True),
    ("equals", None, None, True),
    ("equals", None, ABSENT, False),
    ("equals", "x", ABSENT, False),
    ("equals", [1, 2], [1.0, 2], True),
    ("equals", [1, 2], [2, 1], False),
    ("equals", [1], [True], False),
    ("equals", {"a": 1}, {"a": 1.0}, True),
    ("equals", {"a": 1}, {"a": 1, "b": 2}, False),
    ("equals", {"a": [True]}, {"a": [1]}, False),
    # not_equals: the negation, except that a missing field is still false
    ("not_equals", "x", "y", True),
    ("not_equals", "x", "x", False),
    ("not_equals", 1, 1.0, False),
    ("not_equals", 1, True, True),
    ("not_equals", "x", None, True),
    ("not_equals", "x", ABSENT, False),
    # greater_than / less_than: numbers only
    ("greater_than", 2000, 4200, True),
    ("greater_than", 2000, 2000, False),
    ("greater_than", 2000, 2000.5, True),
    ("greater_than", 2000.5, 2001, True),
    ("greater_than", 2000, 10**30, True),
    ("greater_than", 2000, "4200", False),
    ("greater_than", 0, True, False),
    ("greater_than", 2000, None, False),
    ("greater_than", 2000, [4200], False),
    ("greater_than", 2000, math.nan, False),
    ("greater_than", 2000, ABSENT, False),
    ("less_than", 2000, 1500, True),
    ("less_than", 2000, 2000, False),
    ("less_than", 2000, 1999.9, True),
    ("less_than", 1, False, False),
    ("less_than", 2000, "10", False),
    ("less_than", 2000, ABSENT, False),
    # contains: substring of a string, member of a list, key of an object
    ("contains", "bio", "biologic", True),
    ("contains", "x", "biologic", False),
    ("contains", 1, "123", False),
    ("contains", "J0135", ["J0135", "J9999"], True),
    ("contains", "J0135", ["J01350"], False),
    ("contains", 1, [1.0], True),
    ("contains", 1, [True], False),
    ("contains", True, [1], False),
    ("contains", None, [None], True),
    ("contains", "key", {"key": 1}, True),
    ("contains", "val", {"key": "val"}, False),
    ("contains", 1, {"1": 0}, False),
    ("contains", "a", 5, False),
    ("contains", "a", None, False),
    ("contains", "a", ABSENT, False),
    # regex: an RE2 search, on strings only (\\d is ASCII, $ is the end of the text)
    ("regex", "^J\\d{4}$", "J0135", True),
    ("regex", "^J\\d{4}$", "J01356", False),
    ("regex", "bio", "a biologic", True),
    ("regex", "^\\d+$", 123, False),
    ("regex", "x", None, False),
    ("regex", "x", ["x"], False),
    ("regex", "x", ABSENT, False),
    ("regex", "^\\d$", "\u0663", False),
    ("regex", "^J0135$", "J0135\n", False),
    ("regex", "(?i)^biologic", "Biologic agent", True),
    ("regex", "é+", "cafée", True),
    # in: equal to one of the items
    ("in", ["a", "b"], "a", True),
    ("in", ["a"], "c", False),
    ("in", [1, 2], 2.0, True),
    ("in", [1], True, False),
    ("in", [True], 1, False),
    ("in", [0], False, False),
    ("in", [None], None, True),
    ("in", [[1, 2]], [1, 2], True),
    ("in", [[1, 2]], [1.0, 2.0], True),
    ("in", [{"a": 1}], {"a": 1}, True),
    ("in", [{"a": 1}], {"a": True}, False),
    ("in", ["a"], ["a"], False),
    ("in", [], "a", False),
    ("in", ["a"], ABSENT, False),
]


@pytest.mark.parametrize("operator, expected, actual, result", TRUTH_TABLE,
                         ids=[f"{op}-{exp!r}-{act if act is not ABSENT else 'absent'!r}"
                              for op, exp, act, _ in TRUTH_TABLE])
def test_operator_truth_table(operator, expected, actual, result):
    assert matches(operator, expected, actual) is result


def test_json_equal_directly():
    assert json_equal({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert not json_equal({"a": [1]}, {"a": [True]})
    assert not json_equal(None, False)
    assert not json_equal("a", ["a"])


def test_regex_is_compiled_once_at_compile_time(monkeypatch):
    compiled = compile_policies([stored("pol_1", conditions=[condition(operator="regex", value="^J\\d{4}$")])])

    class NoCompiling:  # stands in for the `re2` module of the rules only, never the process-wide one
        def __getattr__(self, name):
            raise AssertionError(f"re2.{name} called during evaluate")

    monkeypatch.setattr(rules, "re2", NoCompiling())
    assert evaluate(compiled, context({"f": "J0135"})).decision == "require_approval"
    assert evaluate(compiled, context({"f": "J01356"})).decision == "allow"


# ---------------------------------------------------------------- field resolution


@pytest.mark.parametrize("field, ctx, result", [
    ("step_input.patient.age", context({"patient": {"age": 70}}), True),
    ("step_input.patient.age", context({"patient": {"name": "x"}}), False),
    ("step_input.patient.age", context({"patient": 70}), False),
    ("step_input.patient.age", context({"patient": [70]}), False),
    ("step_input.items.0.code", context({"items": [{"code": 70}]}), True),
    ("step_input.items.1.code", context({"items": [{"code": 70}, {"code": 70}]}), True),
    ("step_input.items.2.code", context({"items": [{"code": 70}]}), False),
    ("step_input.items.01.code", context({"items": [{"code": 1}, {"code": 70}]}), False),
    ("step_input.items.0.code", context({"items": {"0": {"code": 70}}}), True),
    ("step_input.items.x", context({"items": [70]}), False),
    ("step.gate_count", context(step={"gate_count": 70}), True),
    ("workflow.metadata.tenant.size", context(workflow={"metadata": {"tenant": {"size": 70}}}), True),
    ("workflow.metadata.tenant", context(workflow={"metadata": None}), False),
    ("step_input.a", {"step_input": None}, False),
    ("step_input.a", {}, False),
    ("step_input.a", [], False),
    ("step_input.a", "text", False),
    ("step_input.a", None, False),
])
def test_field_resolution(field, ctx, result):
    compiled = compile_policies([stored("pol_1", conditions=[condition(field, "equals", 70)])])
    assert (evaluate(compiled, ctx).decision == "require_approval") is result


# ---------------------------------------------------------------- decisions


def action(action_type, **config):
    return {"type": action_type, "config": config}


def test_no_policies_allows_with_no_reason():
    outcome = evaluate(compile_policies([]), context(PA_INPUT))
    assert outcome == Outcome("allow", None, (), None, (), False, ())


def test_empty_conditions_always_match():
    outcome = evaluate(compile_policies([stored("pol_1", actions=[action("block")])]), {})
    assert outcome.decision == "block"
    assert outcome.reason == "blocked by policy pol_1"
    assert outcome.severity == "medium"


def test_block_beats_require_approval_beats_allow():
    approve = stored("pol_a", priority=9000, actions=[action("require_approval", severity="critical")])
    block = stored("pol_b", priority=1, actions=[action("block", severity="low")])
    warn = stored("pol_c", priority=5000, actions=[action("warn")])
    assert evaluate(compile_policies([approve, block, warn]), {}).decision == "block"
    assert evaluate(compile_policies([approve, warn]), {}).decision == "require_approval"
    assert evaluate(compile_policies([warn]), {}).decision == "allow"


def test_policy_ids_lists_every_match_in_priority_order():
    policies = [stored("pol_low", priority=1, actions=[action("log")]),
                stored("pol_high", priority=500, actions=[action("block")]),
                stored("pol_mid_b", priority=100, actions=[action("warn")]),
                stored("pol_mid_a", priority=100, actions=[action("require_approval")]),
                stored("pol_miss", priority=999, conditions=[condition()], actions=[action("block")])]
    outcome = evaluate(compile_policies(policies), context())
    assert outcome.policy_ids == ("pol_high", "pol_mid_a", "pol_mid_b", "pol_low")


def test_reason_comes_from_the_highest_priority_decider_even_if_less_severe():
    policies = [stored("pol_a", priority=10, actions=[action("require_approval", reason="A", severity="critical")]),
                stored("pol_b", priority=20, actions=[action("require_approval", reason="B", severity="low")])]
    outcome = evaluate(compile_policies(policies), {})
    assert (outcome.reason, outcome.severity) == ("B", "critical")


def test_reason_tie_on_priority_goes_to_higher_severity_then_policy_id():
    policies = [stored("pol_a", actions=[action("require_approval", reason="A", severity="medium")]),
                stored("pol_b", actions=[action("require_approval", reason="B", severity="high")]),
                stored("pol_c", actions=[action("require_approval", reason="C", severity="high")])]
    assert evaluate(compile_policies(policies), {}).reason == "B"
    policies[1]["actions"][0]["config"]["severity"] = "medium"
    policies[2]["actions"][0]["config"]["severity"] = "medium"
    assert evaluate(compile_policies(policies), {}).reason == "A"


def test_block_reason_ignores_approval_policies_of_higher_priority():
    policies = [stored("pol_a", priority=900, actions=[action("require_approval", reason="approve")]),
                stored("pol_b", priority=1, actions=[action("block", reason="stop", severity="low")])]
    outcome = evaluate(compile_policies(policies), {})
    assert (outcome.decision, outcome.reason, outcome.severity) == ("block", "stop", "low")
    assert outcome.policy_ids == ("pol_a", "pol_b")


def test_severity_is_the_highest_among_matched_approvals():
    policies = [stored("pol_a", priority=3, actions=[action("require_approval", severity="low")]),
                stored("pol_b", priority=2, actions=[action("require_approval", severity="high")]),
                stored("pol_c", priority=1, actions=[action("require_approval")])]
    outcome = evaluate(compile_policies(policies), {})
    assert outcome.severity == "high"


def test_within_one_policy_the_most_severe_action_speaks():
    policy = stored("pol_a", actions=[action("require_approval", reason="mild", severity="low"),
                                      action("require_approval", reason="grave", severity="critical")])
    outcome = evaluate(compile_policies([policy]), {})
    assert (outcome.reason, outcome.severity) == ("grave", "critical")


def test_default_reasons():
    block = evaluate(compile_policies([{**stored("pol_1", actions=[action("block")]), "name": "no-ssn"}]), {})
    approve = evaluate(compile_policies([{**stored("pol_1"), "name": "md-review"}]), {})
    warn = evaluate(compile_policies([{**stored("pol_1", actions=[action("warn")]), "name": "heads-up"}]), {})
    assert block.reason == "blocked by policy no-ssn"
    assert approve.reason == "approval required by policy md-review"
    assert (warn.decision, warn.reason, warn.warnings) == ("allow", None, ("warning from policy heads-up",))


def test_allow_has_no_reason_and_no_severity_even_with_warnings():
    outcome = evaluate(compile_policies([stored("pol_1", actions=[action("warn", reason="w", severity="high")])]),
                       {})
    assert (outcome.decision, outcome.reason, outcome.severity, outcome.warnings) == ("allow", None, None, ("w",))
    assert outcome.policy_ids == ("pol_1",)


def test_warnings_redactions_and_keep_phi_are_collected_from_all_matches():
    policies = [stored("pol_a", priority=2, actions=[action("warn", reason="w1"),
                                                     action("redact", fields=["patient.ssn", "notes"])]),
                stored("pol_b", priority=1, actions=[action("warn", reason="w2"), action("warn", reason="w1"),
                                                     action("redact", fields=["step_input.notes", "dob"]),
                                                     action("log", keep_phi=True)]),
                stored("pol_c", priority=0, conditions=[condition()], actions=[action("log", keep_phi=True)])]
    outcome = evaluate(compile_policies(policies), context())
    assert outcome.warnings == ("w1", "w2")
    assert outcome.redact_fields == ("patient.ssn", "notes", "dob")
    assert outcome.keep_phi is True
    assert outcome.decision == "allow"


def test_keep_phi_needs_a_matched_log_action_saying_so():
    assert not evaluate(compile_policies([stored("pol_a", actions=[action("log")])]), {}).keep_phi
    assert not evaluate(compile_policies([stored("pol_a", actions=[action("log", keep_phi=False)])]), {}).keep_phi
    assert not evaluate(compile_policies([stored("pol_a", actions=[action("warn", keep_phi=True)])]), {}).keep_phi


def test_outcome_is_frozen():
    outcome = evaluate(compile_policies([]), {})
    with pytest.raises(AttributeError):
        outcome.decision = "block"  # type: ignore[misc]


# ---------------------------------------------------------------- compiling


def test_disabled_policies_are_ignored():
    policies = [stored("pol_a", enabled=False, actions=[action("block")]), stored("pol_b", actions=[action("warn")])]
    compiled = compile_policies(policies)
    assert [policy.policy_id for policy in compiled.policies] == ["pol_b"]
    assert evaluate(compiled, {}).decision == "allow"


def test_compile_ignores_storage_keys_and_sorts_by_priority_then_id():
    policies = [{**stored("pol_b", priority=5), "organization_id": "org_1", "created_at": "x"},
                stored("pol_a", priority=5), stored("pol_c", priority=7)]
    compiled = compile_policies(policies)
    assert [policy.policy_id for policy in compiled.policies] == ["pol_c", "pol_a", "pol_b"]


def test_compile_refuses_an_invalid_stored_policy_with_its_index():
    with pytest.raises(PolicyError) as raised:
        compile_policies([stored("pol_a"), stored("pol_b", conditions=[condition(operator="like")])])
    assert raised.value.field == "policies[1].conditions[0].operator"
    with pytest.raises(PolicyError) as raised:
        compile_policies([body()])
    assert raised.value.field == "policies[0].policy_id"
    with pytest.raises(PolicyError) as raised:
        compile_policies([stored("pol_a"), stored("pol_b"), stored("pol_a", enabled=False)])
    assert raised.value.field == "policies[2].policy_id"


def test_compile_does_not_depend_on_later_changes_to_its_input():
    policy = stored("pol_a", conditions=[condition(operator="in", value=["a"])])
    compiled = compile_policies([policy])
    policy["conditions"][0]["value"].append("b")
    assert evaluate(compiled, context({"f": "b"})).decision == "allow"


# ---------------------------------------------------------------- the reference policies


def reference_set():
    return compile_policies([{"policy_id": "pol_biologics", **BIOLOGICS}, {"policy_id": "pol_stuck", **STUCK}])


def test_biologic_over_2000_requires_high_severity_approval():
    outcome = evaluate(reference_set(), context(PA_INPUT, {"prior_completion_status": "none", "gate_count": 1,
                                                           "first_attempt_age_seconds": 0}))
    assert outcome.decision == "require_approval"
    assert outcome.reason == "biologic medication over $2,000 requires medical director approval"
    assert outcome.severity == "high"
    assert outcome.policy_ids == ("pol_biologics",)


@pytest.mark.parametrize("step_input", [
    {**PA_INPUT, "estimated_cost_usd": 2000},
    {**PA_INPUT, "estimated_cost_usd": 1500.99},
    {**PA_INPUT, "estimated_cost_usd": "4200"},
    {**PA_INPUT, "medication_class": "small_molecule"},
    {"cpt_code": "J0135"},
])
def test_biologic_policy_does_not_fire_otherwise(step_input):
    assert evaluate(reference_set(), context(step_input)).decision == "allow"


def test_stuck_step_escalates_to_critical():
    outcome = evaluate(reference_set(), context({"medication_class": "generic"},
                                                {"prior_completion_status": "gated_not_completed",
                                                 "first_attempt_age_seconds": 1801.5}))
    assert outcome.decision == "require_approval"
    assert outcome.severity == "critical"
    assert outcome.reason.startswith("Prior authorization stuck in uncertain state for 30+ minutes")
    assert outcome.policy_ids == ("pol_stuck",)


@pytest.mark.parametrize("step", [
    {"prior_completion_status": "gated_not_completed", "first_attempt_age_seconds": 1800},
    {"prior_completion_status": "completed", "first_attempt_age_seconds": 4000},
    {"prior_completion_status": "none", "first_attempt_age_seconds": 4000},
    {"prior_completion_status": "gated_not_completed"},
])
def test_stuck_policy_does_not_fire_otherwise(step):
    assert evaluate(reference_set(), context({}, step)).decision == "allow"


def test_both_reference_policies_together_are_critical_with_both_ids():
    outcome = evaluate(reference_set(), context(PA_INPUT, {"prior_completion_status": "gated_not_completed",
                                                           "first_attempt_age_seconds": 2400, "gate_count": 7}))
    assert outcome.decision == "require_approval"
    assert outcome.severity == "critical"
    assert outcome.policy_ids == ("pol_biologics", "pol_stuck")  # equal priority 900: by policy_id
    assert outcome.reason.startswith("Prior authorization stuck")  # equal priority: the more severe speaks


# ---------------------------------------------------------------- speed (printed, asserted only generously)


def hundred_policies():
    return compile_policies([
        stored(f"pol_{index:03}", priority=index,
               conditions=[condition("step_input.medication_class", "equals", "biologic"),
                           condition("step_input.estimated_cost_usd", "greater_than", index * 100)],
               actions=[action("require_approval", severity=rules.SEVERITIES[index % 4])])
        for index in range(100)])


def test_evaluate_100_policies_is_fast():
    compiled = hundred_policies()
    ctx = context(PA_INPUT, {"prior_completion_status": "none", "gate_count": 1}, {"workflow_name": "pa"})
    samples = []
    for _ in range(500):
        start = time.perf_counter()
        outcome = evaluate(compiled, ctx)
        samples.append(time.perf_counter() - start)
    p50_ms = statistics.median(samples) * 1000
    print(f"\nevaluate(): 100 policies x 2 conditions, all evaluated, 42 matched: p50 {p50_ms:.3f} ms")
    assert len(outcome.policy_ids) == 42
    assert p50_ms < 5


# ---------------------------------------------------------------- properties

KEYS = st.sampled_from(["a", "b", "items", "0", "1", "patient", "age", "name", "medication_class"])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-10**20, max_value=10**20)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(KEYS | st.text(max_size=4), children, max_size=4), max_leaves=25)
FINITE_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-10**6, max_value=10**6)
                  | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
FINITE_JSON = st.recursive(FINITE_SCALARS, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(KEYS, children, max_size=3), max_leaves=8)
FIELDS = st.sampled_from([
    "step_input.a", "step_input.a.b", "step_input.items.0", "step_input.items.1.name", "step_input.patient.age",
    "step.gate_count", "step.prior_completion_status", "step.first_attempt_age_seconds", "workflow.source",
    "workflow.metadata.a", "workflow.metadata.items.0",
])
NUMBERS = st.integers(min_value=-10**9, max_value=10**9) | st.floats(allow_nan=False, allow_infinity=False)
VALUES_BY_OPERATOR = {
    "equals": FINITE_JSON, "not_equals": FINITE_JSON,
    "greater_than": NUMBERS, "less_than": NUMBERS,
    "contains": FINITE_SCALARS,
    "regex": st.sampled_from(["^J\\d{4}$", "bio", "", "(?i)^a", "[0-9]+", "a|b", "^$"]),
    "in": st.lists(FINITE_JSON, max_size=5),
}
CONDITIONS = st.sampled_from(rules.OPERATORS).flatmap(
    lambda operator: st.builds(condition, FIELDS, st.just(operator), VALUES_BY_OPERATOR[operator]))
ACTIONS = st.builds(
    action, st.sampled_from(["block", "require_approval", "warn", "log"]),
    severity=st.sampled_from(rules.SEVERITIES), reason=st.none() | st.text(max_size=10))
REDACT_ACTIONS = st.builds(lambda fields: action("redact", fields=fields), st.lists(FIELDS.map(
    lambda field: field.split(".", 1)[1]), min_size=1, max_size=2))
POLICIES = st.lists(st.builds(
    lambda index, priority, enabled, conditions, actions: stored(
        f"pol_{index}", priority=priority, enabled=enabled, conditions=conditions, actions=actions),
    st.integers(0, 50), st.integers(0, 10_000), st.booleans(), st.lists(CONDITIONS, max_size=3),
    st.lists(ACTIONS | REDACT_ACTIONS, min_size=1, max_size=3)), max_size=6, unique_by=lambda p: p["policy_id"])
CONTEXTS = JSON | st.fixed_dictionaries({"step_input": JSON, "step": JSON, "workflow": JSON})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies=POLICIES, ctx=CONTEXTS)
def test_evaluate_never_raises_and_is_consistent(policies, ctx):
    compiled = compile_policies(policies)
    outcome = evaluate(compiled, ctx)
    assert outcome.decision in ("allow", "block", "require_approval")
    assert len(set(outcome.policy_ids)) == len(outcome.policy_ids)
    enabled = {policy["policy_id"] for policy in policies if policy["enabled"]}
    assert set(outcome.policy_ids) <= enabled
    assert (outcome.reason is None) == (outcome.decision == "allow")
    assert (outcome.severity is None) == (outcome.decision == "allow")
    assert evaluate(compiled, ctx) == outcome  # deterministic


@settings(max_examples=300, deadline=None)
@given(raw=st.dictionaries(st.sampled_from(list(rules.POLICY_KEYS) + ["extra"]), JSON, max_size=8))
def test_validate_raises_only_policy_errors(raw):
    try:
        validate_policy(raw)
    except PolicyError as error:
        assert error.field
