"""The workflow policy engine: validate a policy body, compile a policy set once, evaluate gate contexts.

Pure: plain values in, plain values out, no I/O. A policy is
`{name, description, type, category, priority, enabled, conditions: [{field, operator, value}],
actions: [{type, config}]}`. Its conditions are ANDed against a context
`{"step_input": {...}, "step": {...}, "workflow": {...}}`; a missing field makes its condition false.

Decision: any matched `block` → block; else any matched `require_approval` → require_approval; else allow.
The reason comes from the highest-priority policy whose action decided (ties: higher severity, then
policy_id); the severity is the highest among the matched actions of the deciding type (None on allow).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import re2

OPERATORS = ("equals", "not_equals", "greater_than", "less_than", "contains", "regex", "in")
ACTION_TYPES = ("block", "require_approval", "redact", "log", "warn")
SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
DEFAULT_SEVERITY = "medium"
POLICY_TYPES = ("context_aware",)
CATEGORY_PREFIXES = ("dynamic-", "media-")
STEP_FIELDS = ("prior_completion_status", "first_attempt_age_seconds", "gate_count", "completion_count",
               "step_type", "step_name", "model", "provider")
WORKFLOW_FIELDS = ("workflow_name", "source", "trace_id")
POLICY_KEYS = ("name", "description", "type", "category", "priority", "enabled", "conditions", "actions")
# What a client echoes back when it does GET, edit, PUT: accepted and ignored (the URL names the policy).
READ_ONLY_KEYS = ("policy_id", "version", "created_at", "updated_at")

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_CATEGORY = 100
MAX_PRIORITY = 10_000
MAX_REASON = 2000
MAX_REGEX = 500
# A `regex` condition searches strings of at most this many characters. A longer one is not searched and
# counts as a match, so padding a value can never slip it past a block or approval policy (fail closed).
MAX_REGEX_INPUT = 10_000
MAX_FIELD = 500
MAX_SEGMENTS = 32
MAX_CONDITIONS = 100
MAX_ACTIONS = 20
MAX_LIST_ITEMS = 1000
# Policy values nest at most this deep, which bounds the recursion of the JSON comparison.
MAX_VALUE_DEPTH = 32


class PolicyError(ValueError):
    """An invalid policy body; `field` is the path of the offending part, e.g. `conditions[0].operator`."""

    def __init__(self, field: str, message: str, policy_id: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.policy_id = policy_id  # set by compile_policies: which stored policy failed


# ---------------------------------------------------------------- validation


def validate_policy(body: Any) -> dict[str, Any]:
    """The normalized policy (a fresh copy, defaults filled in), or PolicyError naming the bad field."""
    if not isinstance(body, dict):
        raise PolicyError("body", "must be a JSON object")
    for key in body:
        if key not in POLICY_KEYS and key not in READ_ONLY_KEYS:
            raise PolicyError(str(key), "unknown field")
    return {
        "name": _name(body),
        "description": _description(body),
        "type": _policy_type(body),
        "category": _category(body),
        "priority": _priority(body),
        "enabled": _enabled(body),
        "conditions": _conditions(body),
        "actions": _actions(body),
    }


def _required(body: dict, key: str, where: str) -> Any:
    if key not in body:
        raise PolicyError(where, "is required")
    return body[key]


def _name(body: dict) -> str:
    name = _required(body, "name", "name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError("name", "must be a non-empty string")
    if len(name) > MAX_NAME:
        raise PolicyError("name", f"must be at most {MAX_NAME} characters")
    return name


def _description(body: dict) -> str:
    description = body.get("description")
    if description is None:
        return ""
    if not isinstance(description, str):
        raise PolicyError("description", "must be a string")
    if len(description) > MAX_DESCRIPTION:
        raise PolicyError("description", f"must be at most {MAX_DESCRIPTION} characters")
    return description


def _policy_type(body: dict) -> str:
    policy_type = _required(body, "type", "type")
    if policy_type not in POLICY_TYPES:
        raise PolicyError("type", f"must be one of: {', '.join(POLICY_TYPES)}")
    return policy_type


def _category(body: dict) -> str:
    category = _required(body, "category", "category")
    if not isinstance(category, str) or not any(
            category.startswith(prefix) and len(category) > len(prefix) for prefix in CATEGORY_PREFIXES):
        raise PolicyError("category", "must start with 'dynamic-' or 'media-' followed by a name")
    if len(category) > MAX_CATEGORY:
        raise PolicyError("category", f"must be at most {MAX_CATEGORY} characters")
    return category


def _priority(body: dict) -> int:
    priority = body.get("priority", 0)
    if not _is_int(priority) or not 0 <= priority <= MAX_PRIORITY:
        raise PolicyError("priority", f"must be an integer from 0 to {MAX_PRIORITY}")
    return priority


def _enabled(body: dict) -> bool:
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise PolicyError("enabled", "must be true or false")
    return enabled


def _conditions(body: dict) -> list[dict[str, Any]]:
    # Required although it may be empty: forgetting it must not silently make a policy match every step.
    conditions = _required(body, "conditions", "conditions")
    if not isinstance(conditions, list):
        raise PolicyError("conditions", "must be a list (empty matches every step)")
    if len(conditions) > MAX_CONDITIONS:
        raise PolicyError("conditions", f"must have at most {MAX_CONDITIONS} entries")
    return [_condition(raw, f"conditions[{index}]") for index, raw in enumerate(conditions)]


def _condition(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PolicyError(where, "must be an object {field, operator, value}")
    _refuse_unknown(raw, ("field", "operator", "value"), where)
    field = _condition_field(raw, where)
    operator = _required(raw, "operator", f"{where}.operator")
    if operator not in OPERATORS:
        raise PolicyError(f"{where}.operator", f"must be one of: {', '.join(OPERATORS)}")
    value = _condition_value(operator, _required(raw, "value", f"{where}.value"), f"{where}.value")
    return {"field": field, "operator": operator, "value": value}


def _condition_field(raw: dict, where: str) -> str:
    where = f"{where}.field"
    field = _required(raw, "field", where)
    if not isinstance(field, str) or not field:
        raise PolicyError(where, "must be a non-empty string")
    if len(field) > MAX_FIELD:
        raise PolicyError(where, f"must be at most {MAX_FIELD} characters")
    segments = field.split(".")
    if len(segments) > MAX_SEGMENTS + 1 or not all(segments):
        raise PolicyError(where, "must be a dotted path without empty parts")
    root, rest = segments[0], segments[1:]
    if root == "step_input" and rest:
        return field
    if root == "step" and len(rest) == 1 and rest[0] in STEP_FIELDS:
        return field
    if root == "workflow" and (len(rest) == 1 and rest[0] in WORKFLOW_FIELDS
                               or len(rest) >= 2 and rest[0] == "metadata"):
        return field
    raise PolicyError(where, "must be step_input.<path>, step.<" + "|".join(STEP_FIELDS)
                      + ">, workflow.<" + "|".join(WORKFLOW_FIELDS) + "> or workflow.metadata.<path>")


def _condition_value(operator: str, value: Any, where: str) -> Any:
    if operator in ("greater_than", "less_than"):
        if not _is_number(value) or isinstance(value, float) and not math.isfinite(value):
            raise PolicyError(where, f"must be a finite number for {operator}")
        return value
    if operator == "contains" and not (value is None or isinstance(value, (str, bool)) or _is_number(value)):
        raise PolicyError(where, "must be a string, number, boolean or null for contains")
    if operator == "regex":
        _compile_regex(value, where)
        return value
    if operator == "in":
        if not isinstance(value, list):
            raise PolicyError(where, "must be a list for in")
        if len(value) > MAX_LIST_ITEMS:
            raise PolicyError(where, f"must have at most {MAX_LIST_ITEMS} items")
    return _json_copy(value, where)


def _actions(body: dict) -> list[dict[str, Any]]:
    actions = _required(body, "actions", "actions")
    if not isinstance(actions, list) or not actions:
        raise PolicyError("actions", "must be a non-empty list")
    if len(actions) > MAX_ACTIONS:
        raise PolicyError("actions", f"must have at most {MAX_ACTIONS} entries")
    return [_action(raw, f"actions[{index}]") for index, raw in enumerate(actions)]


def _action(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PolicyError(where, "must be an object {type, config}")
    _refuse_unknown(raw, ("type", "config"), where)
    action_type = _required(raw, "type", f"{where}.type")
    if action_type not in ACTION_TYPES:
        raise PolicyError(f"{where}.type", f"must be one of: {', '.join(ACTION_TYPES)}")
    config = raw.get("config")
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise PolicyError(f"{where}.config", "must be an object")
    config = _json_copy(config, f"{where}.config")
    where = f"{where}.config"
    config["severity"] = _severity(config, where)
    _check_reason(config, where)
    if action_type == "redact":
        config["fields"] = _redact_fields(config, where)
    if action_type == "log" and not isinstance(config.get("keep_phi", False), bool):
        raise PolicyError(f"{where}.keep_phi", "must be true or false")
    return {"type": action_type, "config": config}


def _severity(config: dict, where: str) -> str:
    severity = config.get("severity")
    if severity is None:
        return DEFAULT_SEVERITY
    if severity not in SEVERITIES:
        raise PolicyError(f"{where}.severity", f"must be one of: {', '.join(SEVERITIES)}")
    return severity


def _check_reason(config: dict, where: str) -> None:
    reason = config.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        raise PolicyError(f"{where}.reason", f"must be a string of at most {MAX_REASON} characters")


def _redact_fields(config: dict, where: str) -> list[str]:
    """Paths under step_input (`patient.ssn`, `items.0.code`, `items.*.name`); a `step_input.` prefix is dropped."""
    where = f"{where}.fields"
    fields = _required(config, "fields", where)
    if not isinstance(fields, list) or not fields or len(fields) > MAX_LIST_ITEMS:
        raise PolicyError(where, f"must be a non-empty list of at most {MAX_LIST_ITEMS} paths")
    normalized = []
    for index, path in enumerate(fields):
        if isinstance(path, str) and path.startswith("step_input."):
            path = path[len("step_input."):]
        if not isinstance(path, str) or len(path) > MAX_FIELD or not all(path.split(".")):
            raise PolicyError(f"{where}[{index}]", "must be a dotted path under step_input without empty parts")
        normalized.append(path)
    return normalized


def _refuse_unknown(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise PolicyError(f"{where}.{key}", "unknown field")


def _json_copy(value: Any, where: str) -> Any:
    """A copy of a JSON value, refusing what JSON cannot hold and nesting deeper than MAX_VALUE_DEPTH."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_VALUE_DEPTH:
            raise PolicyError(where, f"must nest at most {MAX_VALUE_DEPTH} levels deep")
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                raise PolicyError(where, "object keys must be strings")
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise PolicyError(where, "numbers must be finite")
        elif not (item is None or isinstance(item, (str, int, float))):
            raise PolicyError(where, "must be a JSON value")
    return copy.deepcopy(value)  # depth is bounded above, so the recursive copy is safe


# ---------------------------------------------------------------- regular expressions

# RE2 matches in time linear in the input, whatever the pattern (Python's backtracking `re` took a minute
# on `a*a*a*a*a*a*b` against 100 characters). Errors are raised, never logged: a pattern is policy text.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_SYNTAX = ("RE2 syntax, which matches in linear time: no backreferences (\\1, (?P=name)), no lookaround "
               "((?=…), (?!…), (?<=…), (?<!…)), no atomic groups or possessive quantifiers")


def _compile_regex(pattern: Any, where: str) -> Any:
    """The compiled RE2 pattern, or PolicyError naming the field and saying what RE2 refused."""
    if not isinstance(pattern, str):
        raise PolicyError(where, "must be a string for regex")
    if len(pattern) > MAX_REGEX:
        raise PolicyError(where, f"must be at most {MAX_REGEX} characters")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except UnicodeError:
        raise PolicyError(where, "must be valid Unicode (no lone surrogates)") from None
    except re2.error as error:
        detail = error.args[0] if error.args else ""
        detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise PolicyError(where, f"is not a valid regular expression ({detail}); policies use {_RE2_SYNTAX}") from None


# ---------------------------------------------------------------- compiling

Check = Callable[[Any], bool]
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Decider:
    """The strongest `block` or `require_approval` action of one policy."""

    rank: int
    reason: str


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    policy_id: str
    name: str
    priority: int
    checks: tuple[Check, ...]
    block: Decider | None
    approval: Decider | None
    warnings: tuple[str, ...]
    redact_fields: tuple[str, ...]
    keep_phi: bool


@dataclass(frozen=True, slots=True)
class Compiled:
    """The enabled policies of one policy-set version, highest priority first (ties: policy_id)."""

    policies: tuple[CompiledPolicy, ...]


@dataclass(frozen=True)
class Outcome:
    decision: str  # allow | block | require_approval
    reason: str | None = None
    policy_ids: tuple[str, ...] = ()  # every matched policy, in priority order
    severity: str | None = None
    warnings: tuple[str, ...] = ()
    keep_phi: bool = False
    redact_fields: tuple[str, ...] = ()  # dotted paths under step_input


def compile_policies(policies: Iterable[dict[str, Any]]) -> Compiled:
    """Validate and compile stored policies (each a policy body plus `policy_id`); disabled ones are dropped.

    Other stored keys (`created_at`, an organization id, …) are ignored. An invalid stored policy raises
    PolicyError with the field prefixed by `policies[<index>].`: a gate must fail closed, not skip a rule.
    """
    compiled, seen_ids = [], set()
    for index, stored in enumerate(policies):
        try:
            compiled_policy = _compile_one(stored, seen_ids)
        except PolicyError as error:
            policy_id = stored.get("policy_id") if isinstance(stored, dict) else None
            raise PolicyError(f"policies[{index}].{error.field}", error.message,
                              policy_id if isinstance(policy_id, str) else None) from None
        if compiled_policy is not None:
            compiled.append(compiled_policy)
    compiled.sort(key=lambda policy: (-policy.priority, policy.policy_id))
    return Compiled(tuple(compiled))


def _compile_one(stored: Any, seen_ids: set[str]) -> CompiledPolicy | None:
    if not isinstance(stored, dict):
        raise PolicyError("body", "must be a JSON object")
    policy_id = stored.get("policy_id")
    if not isinstance(policy_id, str) or not policy_id:
        raise PolicyError("policy_id", "must be a non-empty string")
    if policy_id in seen_ids:
        raise PolicyError("policy_id", f"duplicate policy_id {policy_id}")
    seen_ids.add(policy_id)
    policy = validate_policy({key: value for key, value in stored.items() if key in POLICY_KEYS})
    if not policy["enabled"]:
        return None
    actions = policy["actions"]
    return CompiledPolicy(
        policy_id=policy_id,
        name=policy["name"],
        priority=policy["priority"],
        checks=tuple(_check(condition) for condition in policy["conditions"]),
        block=_decider(actions, "block", f"blocked by policy {policy['name']}"),
        approval=_decider(actions, "require_approval", f"approval required by policy {policy['name']}"),
        warnings=tuple(action["config"].get("reason") or f"warning from policy {policy['name']}"
                       for action in actions if action["type"] == "warn"),
        redact_fields=tuple(path for action in actions if action["type"] == "redact"
                            for path in action["config"]["fields"]),
        keep_phi=any(action["type"] == "log" and action["config"].get("keep_phi") is True for action in actions),
    )


def _decider(actions: list[dict], action_type: str, default_reason: str) -> Decider | None:
    """The highest-severity action of this type (the first one on a tie), or None."""
    best = None
    for action in actions:
        if action["type"] != action_type:
            continue
        rank = SEVERITY_RANK[action["config"]["severity"]]
        if best is None or rank > best.rank:
            best = Decider(rank, action["config"].get("reason") or default_reason)
    return best


def _check(condition: dict[str, Any]) -> Check:
    """One closure: resolve the field (precomputed path), then test it (precomputed predicate)."""
    path = tuple((segment, _list_index(segment)) for segment in condition["field"].split("."))
    predicate = _predicate(condition["operator"], condition["value"])

    def check(context: Any) -> bool:
        value = context
        for key, index in path:
            if isinstance(value, dict):
                value = value.get(key, _MISSING)
                if value is _MISSING:
                    return False
            elif isinstance(value, list) and index is not None and index < len(value):
                value = value[index]
            else:
                return False
        return predicate(value)

    return check


def _list_index(segment: str) -> int | None:
    """`items.0.code`: a segment of plain ASCII digits (no leading zero) can index a list."""
    if segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0"):
        return int(segment)
    return None


# ---------------------------------------------------------------- predicates


def _predicate(operator: str, expected: Any) -> Check:
    if operator == "equals":
        return _equals(expected)
    if operator == "not_equals":
        equals = _equals(expected)
        return lambda value: not equals(value)
    if operator == "greater_than":
        return lambda value: _is_number(value) and value > expected
    if operator == "less_than":
        return lambda value: _is_number(value) and value < expected
    if operator == "contains":
        return _contains(expected)
    if operator == "regex":
        return _regex(expected)
    return _in(expected)


def _regex(pattern: str) -> Check:
    """RE2 search of a string, compiled here once; a string beyond MAX_REGEX_INPUT counts as a match."""
    search = _compile_regex(pattern, "value").search

    def matches(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if len(value) > MAX_REGEX_INPUT:
            return True
        try:
            return search(value) is not None
        except UnicodeError:  # a lone surrogate (refused at the HTTP boundary): fail closed, never raise
            return True

    return matches


def _equals(expected: Any) -> Check:
    """Exact JSON equality, specialised by the expected value's type (the common scalar cases are hot)."""
    if isinstance(expected, bool) or expected is None:
        return lambda value: value is expected
    if isinstance(expected, str):
        return lambda value: isinstance(value, str) and value == expected
    if _is_number(expected):
        return lambda value: _is_number(value) and value == expected
    return lambda value: json_equal(value, expected)


def _contains(expected: Any) -> Check:
    """Substring of a string, member of a list, key of an object."""
    member = _equals(expected)
    is_text = isinstance(expected, str)

    def contains(value: Any) -> bool:
        if isinstance(value, str) or isinstance(value, dict):
            return is_text and expected in value
        if isinstance(value, list):
            return any(member(item) for item in value)
        return False

    return contains


def _in(items: list[Any]) -> Check:
    """Equal to one of the items: scalars through a type-tagged set (so 1 ≠ true), the rest one by one."""
    scalar_tags = {_scalar_tag(item) for item in items} - {None}
    others = [item for item in items if _scalar_tag(item) is None]

    def is_in(value: Any) -> bool:
        tag = _scalar_tag(value)
        if tag is not None:
            return tag in scalar_tags
        return any(json_equal(value, item) for item in others)

    return is_in


def _scalar_tag(value: Any) -> tuple[str, Any] | None:
    """A hashable key under which equal JSON scalars collide (1 and 1.0) and different types never do."""
    if isinstance(value, bool):
        return ("bool", value)
    if _is_number(value):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null", None)
    return None


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: ints and floats compare numerically, a bool is never a number, containers deeply.

    Recursion stops as soon as either side is not a container, so its depth is bounded by the policy
    value's depth (≤ MAX_VALUE_DEPTH), however deep the context is.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if _is_number(left) and _is_number(right):
        return left == right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    return left is None and right is None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- evaluation

_ALLOW = Outcome("allow")


def evaluate(compiled: Compiled, context: Any) -> Outcome:
    """The gate decision for one context `{"step_input": …, "step": …, "workflow": …}`; never raises."""
    matched = []
    for policy in compiled.policies:
        for check in policy.checks:
            if not check(context):
                break
        else:
            matched.append(policy)
    if not matched:
        return _ALLOW
    decision, reason, severity = _decide(matched)
    return Outcome(
        decision=decision,
        reason=reason,
        policy_ids=tuple(policy.policy_id for policy in matched),
        severity=severity,
        warnings=tuple(dict.fromkeys(warning for policy in matched for warning in policy.warnings)),
        keep_phi=any(policy.keep_phi for policy in matched),
        redact_fields=tuple(dict.fromkeys(path for policy in matched for path in policy.redact_fields)),
    )


def _decide(matched: list[CompiledPolicy]) -> tuple[str, str | None, str | None]:
    """(decision, reason, severity): block beats require_approval beats allow."""
    for decision, attribute in (("block", "block"), ("require_approval", "approval")):
        deciders = [(policy, getattr(policy, attribute)) for policy in matched]
        deciders = [(policy, decider) for policy, decider in deciders if decider is not None]
        if deciders:
            _, chosen = min(deciders, key=lambda pair: (-pair[0].priority, -pair[1].rank, pair[0].policy_id))
            severity = SEVERITIES[max(decider.rank for _, decider in deciders)]
            return decision, chosen.reason, severity
    return "allow", None, None
