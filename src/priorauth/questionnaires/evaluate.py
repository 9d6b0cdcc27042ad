"""Pure evaluation of answers against a FHIR R4 Questionnaire.

Takes plain JSON values and returns plain values (no I/O), so the lifecycle service can call it on
every create/patch/preview to compute questionStates, activeRequirementGroups and blockers.

Question states cover every item except groups and display items (which take no answer).
Answers are keyed by linkId. A choice answer is the option's code string; an item with
`repeats: true` may take a list. Rules worth knowing:
- An answer that does not fit its item is reported in `answer_problems` and otherwise treated as
  absent: it neither counts as answered nor switches other questions on through `enableWhen`.
- Answers to hidden questions are ignored, and an `enableWhen` condition on a hidden question is
  never satisfied (so a follow-up of a hidden question is hidden too, whatever the operator).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NOT_QUESTIONS = {"group", "display"}
_HIDDEN = object()  # stands for the answer of a hidden question in enableWhen checks


@dataclass(frozen=True)
class QuestionnaireEvaluation:
    question_states: list[dict[str, Any]] = field(default_factory=list)
    active_requirement_groups: list[dict[str, Any]] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    answer_problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when nothing blocks submission: no missing required answer, no bad answer."""
        return not self.missing_required and not self.answer_problems


def iter_items(
    items: list[dict[str, Any]], parent: str | None = None
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Depth-first walk over (item, parent linkId), in questionnaire order."""
    for item in items:
        yield item, parent
        yield from iter_items(item.get("item") or [], item["linkId"])


def evaluate(
    questionnaire: dict[str, Any],
    requirement_groups: list[dict[str, Any]],
    answers: dict[str, Any],
) -> QuestionnaireEvaluation:
    walk = list(iter_items(questionnaire.get("item") or []))
    items = {item["linkId"]: item for item, _ in walk}
    parents = {item["linkId"]: parent for item, parent in walk}

    # Check every supplied answer once; only well-formed, non-empty answers take part below.
    problems: dict[str, str] = {}
    valid: dict[str, Any] = {}
    for link_id, value in answers.items():
        if value is None:
            continue
        item = items.get(link_id)
        if item is None:
            problems[link_id] = f"no question with linkId '{link_id}' in this questionnaire"
            continue
        message = _check_answer(item, value)
        if message:
            problems[link_id] = message
        elif not _is_empty(value):
            valid[link_id] = value

    visible: dict[str, bool] = {}

    def is_visible(link_id: str, trail: frozenset[str] = frozenset()) -> bool:
        if link_id in visible:
            return visible[link_id]
        if link_id in trail:  # an enableWhen cycle can never be satisfied
            return False
        trail = trail | {link_id}
        parent = parents[link_id]
        shown = (parent is None or is_visible(parent, trail)) and _enabled(
            items[link_id], lambda q: answer_of(q, trail)
        )
        visible[link_id] = shown
        return shown

    def answer_of(question: str, trail: frozenset[str]) -> Any:
        if question not in items or not is_visible(question, trail):
            return _HIDDEN
        return valid.get(question)

    states: list[dict[str, Any]] = []
    state_by_id: dict[str, dict[str, Any]] = {}
    for item, _ in walk:
        if item.get("type") in _NOT_QUESTIONS:
            continue
        link_id = item["linkId"]
        shown = is_visible(link_id)
        state = {
            "linkId": link_id,
            "text": item.get("text"),
            "type": item.get("type"),
            "state": ("required" if item.get("required") else "optional") if shown else "hidden",
            "answered": shown and link_id in valid,
        }
        states.append(state)
        state_by_id[link_id] = state

    missing = [s["linkId"] for s in states if s["state"] == "required" and not s["answered"]]
    # Problems with answers to hidden questions don't matter: those answers are ignored.
    answer_problems = [
        {"linkId": link_id, "message": message}
        for link_id, message in problems.items()
        if link_id not in items or is_visible(link_id)
    ]

    active_groups: list[dict[str, Any]] = []
    for group in requirement_groups:
        members = [
            state_by_id[q]
            for q in _expand(group.get("linkIds") or [], items)
            if state_by_id[q]["state"] != "hidden"
        ]
        if not members:
            continue
        required = [s for s in members if s["state"] == "required"]
        answered = sum(1 for s in required if s["answered"])
        active_groups.append(
            {
                "id": group["id"],
                "title": group.get("title"),
                "requiredCount": len(required),
                "answeredRequiredCount": answered,
                "complete": answered == len(required),
            }
        )

    return QuestionnaireEvaluation(
        question_states=states,
        active_requirement_groups=active_groups,
        missing_required=missing,
        answer_problems=answer_problems,
    )


def _expand(link_ids: list[str], items: dict[str, dict[str, Any]]) -> list[str]:
    """Question linkIds named by a requirement group; a group item stands for its questions."""
    out: list[str] = []
    for link_id in link_ids:
        item = items.get(link_id)
        if item is None:
            continue
        for sub, _ in iter_items([item]):
            if sub.get("type") not in _NOT_QUESTIONS and sub["linkId"] not in out:
                out.append(sub["linkId"])
    return out


# --- enableWhen ----------------------------------------------------------------------------------


def _enabled(item: dict[str, Any], answer_of: Callable[[str], Any]) -> bool:
    conditions = item.get("enableWhen") or []
    if not conditions:
        return True
    results = (_condition_holds(c, answer_of(c["question"])) for c in conditions)
    # FHIR requires enableBehavior when there is more than one condition; default to "all".
    return any(results) if item.get("enableBehavior") == "any" else all(results)


def _condition_holds(condition: dict[str, Any], answer: Any) -> bool:
    if answer is _HIDDEN:  # even "exists: false" must not switch on a follow-up of a hidden item
        return False
    operator = condition["operator"]
    expected = _expected_value(condition)
    if operator == "exists":
        return (answer is not None) == bool(expected)
    if answer is None:
        return False
    values = answer if isinstance(answer, list) else [answer]
    if operator == "!=":  # FHIR: true when no answer equals the value
        return all(_compare(v, expected) != 0 for v in values)
    return any(_matches(operator, _compare(v, expected)) for v in values)


def _expected_value(condition: dict[str, Any]) -> Any:
    for key, value in condition.items():
        if key.startswith("answer"):
            return value["code"] if key == "answerCoding" else value
    return None


def _matches(operator: str, cmp: int | None) -> bool:
    if cmp is None:  # values of different kinds never satisfy a comparison
        return False
    return {"=": cmp == 0, ">": cmp > 0, "<": cmp < 0, ">=": cmp >= 0, "<=": cmp <= 0}.get(
        operator, False
    )


def _compare(actual: Any, expected: Any) -> int | None:
    """-1/0/1 comparing an answer with an enableWhen value, or None if not comparable."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        if isinstance(actual, bool) and isinstance(expected, bool):
            return (actual > expected) - (actual < expected)
        return None
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return (actual > expected) - (actual < expected)
    if isinstance(actual, str) and isinstance(expected, str):
        a, b = _as_date(actual), _as_date(expected)
        if a is not None and b is not None:
            return (a > b) - (a < b)
        return (actual > expected) - (actual < expected)
    return None


def _as_date(value: str) -> date | datetime | None:
    try:
        if _DATE_RE.match(value):
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else None
    except ValueError:
        return None


# --- answer checks -------------------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return value == [] or (isinstance(value, str) and not value.strip())


def _check_answer(item: dict[str, Any], value: Any) -> str | None:
    kind = item.get("type")
    if kind in _NOT_QUESTIONS:
        return f"'{item['linkId']}' is a {kind} item and takes no answer"
    if isinstance(value, list):
        if not item.get("repeats"):
            return "expects a single answer, not a list"
        for element in value:
            message = _check_value(item, element)
            if message:
                return message
        return None
    return _check_value(item, value)


def _check_value(item: dict[str, Any], value: Any) -> str | None:
    kind = item.get("type")
    if kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "decimal":
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
        )
    elif kind == "date":
        ok = isinstance(value, str) and bool(_DATE_RE.match(value)) and _as_date(value) is not None
    elif kind == "dateTime":
        ok = isinstance(value, str) and _as_date(value) is not None
    elif kind == "choice":
        codes = [
            o["valueCoding"]["code"] for o in item.get("answerOption") or [] if "valueCoding" in o
        ]
        if isinstance(value, str) and codes and value not in codes:
            return f"'{value}' is not one of the allowed answers: {', '.join(codes)}"
        ok = isinstance(value, str) and bool(value.strip())
    elif kind in {"string", "text", "open-choice", "url"}:
        ok = isinstance(value, str) and bool(value.strip())
    else:  # attachment, quantity, reference...: accept any JSON value, the owner checks it
        return None
    return None if ok else f"expects a {_KIND_NAMES.get(kind, kind)} answer"


_KIND_NAMES = {
    "boolean": "true/false",
    "integer": "whole-number",
    "decimal": "numeric",
    "date": "ISO date (YYYY-MM-DD)",
    "dateTime": "ISO date-time",
    "choice": "non-empty code",
    "string": "non-empty text",
    "text": "non-empty text",
    "open-choice": "non-empty text",
    "url": "non-empty text",
}
