"""The criterion language: each rule is a one-key mapping, assessed against the facts of one request.

Every rule yields an Outcome: MET (satisfied), NOT_MET (the notes contradict it) or INSUFFICIENT (nothing
relevant found), with a confidence 0-100 that reflects how direct the evidence is, the evidence spans
(copied from the extractor's mentions, so they index into the clinical notes) and a short rationale.
The syntax is documented in README.md next to this file; `check_rule` validates it at load time.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .model import CATEGORIES, MEASUREMENT_NAMES

MET, NOT_MET, INSUFFICIENT = "MET", "NOT_MET", "INSUFFICIENT"

# How sure a status is, by the kind of evidence behind it.
CONF_MEASURED = 95        # a measured value compared with the threshold
CONF_MEASURED_AGAINST = 90
CONF_CODED = 95           # a diagnosis code on the request, corroborated by the notes
CONF_CODED_ONLY = 80      # a diagnosis code the notes do not mention
CONF_EXPLICIT = 90        # a current, explicit mention
CONF_HISTORICAL = 80      # only a historical mention
CONF_NEGATED = 85         # the notes say it is absent / not done
CONF_FAILED_DATED = 95    # documented failure with the duration the policy asks for
CONF_FAILED = 88
CONF_CONTRADICTED = 80    # treatment ongoing / too short
CONF_SILENT = 60          # exclusion assumed absent because nothing mentions it
CONF_DOB = 99
CONF_NONE = 0

_MENTION_LISTS = ("symptoms", "prior_treatments", "imaging_findings", "functional_limitations", "red_flags",
                  "conditions", "evaluations", "findings")
_FAILURE_OUTCOMES = ("failed", "intolerant", "contraindicated")
_UNTIMED_OUTCOMES = frozenset({"intolerant", "contraindicated"})  # no trial length needed to count
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}
_EVIDENCE_CAP = 6
_MEASUREMENT_LABELS = {
    "kl_grade": "Kellgren-Lawrence grade", "ahi": "AHI", "rdi": "RDI", "odi": "Oswestry index", "bmi": "BMI",
    "hba1c": "HbA1c", "spo2": "SpO2", "pao2": "PaO2", "fev1_percent": "FEV1 % predicted", "easi": "EASI",
    "iga": "IGA", "bsa_percent": "body surface area %", "das28": "DAS28", "cdai": "CDAI",
    "mrd_percent": "MRD %", "cpap_hours_per_night": "CPAP hours per night", "cpap_nights_percent": "CPAP nights %",
    "pain_score": "pain score", "nodule_size_mm": "nodule size (mm)", "seizures_per_month": "seizures per month",
}


@dataclass(frozen=True)
class Facts:
    """What rules look at: the extraction of the notes, the request's codes, the patient's age."""

    extraction: dict[str, Any]
    diagnosis_codes: tuple[str, ...] = ()
    age_years: float | None = None


@dataclass
class Outcome:
    status: str
    confidence: int
    evidence: list[dict[str, Any]] = field(default_factory=list)
    rationale: str = ""


# ---------------------------------------------------------------- validation

class RuleError(ValueError):
    """A rule does not follow the criterion language; the message says where."""


_LEAF_KEYS: dict[str, set[str]] = {
    "mention": {"concepts", "category", "min_count", "current_only", "include_family", "include_hypothetical"},
    "absent": {"concepts", "include_family", "current_only", "silent"},
    "treatment_failed": {"concepts", "min_count", "min_weeks", "outcomes"},
    "measurement": {"name", "names", "op", "value", "qualifier"},
    "diagnosis": {"prefixes", "concepts"},
    "age": {"op", "value"},
    "symptom_duration": {"min_weeks"},
}
_OUTCOMES = {"failed", "intolerant", "contraindicated", "ongoing", "completed", "unknown"}
_PREFIX_RE = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{0,4})?")


def check_rule(rule: Any, where: str = "rule") -> set[str]:
    """Validate a rule recursively; return the concept ids it refers to."""
    if not isinstance(rule, dict) or len(rule) != 1:
        raise RuleError(f"{where}: a rule is a mapping with exactly one key, got {rule!r}")
    (kind, args), = rule.items()
    if kind in ("any_of", "all_of"):
        if not isinstance(args, list) or not args:
            raise RuleError(f"{where}: '{kind}' needs a non-empty list of rules")
        return set().union(*(check_rule(r, f"{where}.{kind}[{i}]") for i, r in enumerate(args)))
    if kind not in _LEAF_KEYS:
        raise RuleError(f"{where}: unknown rule '{kind}' (known: {', '.join(sorted([*_LEAF_KEYS, 'any_of', 'all_of']))})")
    if not isinstance(args, dict):
        raise RuleError(f"{where}: '{kind}' needs a mapping of arguments")
    unknown = set(args) - _LEAF_KEYS[kind]
    if unknown:
        raise RuleError(f"{where}: '{kind}' has unknown arguments {sorted(unknown)}")
    _check_leaf(kind, args, f"{where}.{kind}")
    return set(args.get("concepts") or [])


def _check_leaf(kind: str, args: dict, where: str) -> None:
    concepts = args.get("concepts")
    if concepts is not None and (not isinstance(concepts, list) or not concepts
                                 or not all(isinstance(c, str) and c for c in concepts)):
        raise RuleError(f"{where}: 'concepts' must be a non-empty list of concept ids")
    if kind in ("absent", "treatment_failed") and not concepts:
        raise RuleError(f"{where}: needs 'concepts'")
    if kind == "mention" and not concepts and not args.get("category"):
        raise RuleError(f"{where}: needs 'concepts' or 'category'")
    if "category" in args and args["category"] not in CATEGORIES:
        raise RuleError(f"{where}: unknown category {args['category']!r}")
    for key in ("min_count",):
        if key in args and (not isinstance(args[key], int) or args[key] < 1):
            raise RuleError(f"{where}: '{key}' must be a positive integer")
    for key in ("min_weeks",):
        if key in args and args[key] is not None and not _is_number(args[key]):
            raise RuleError(f"{where}: '{key}' must be a number")
    if "outcomes" in args and (not isinstance(args["outcomes"], list) or not set(args["outcomes"]) <= _OUTCOMES):
        raise RuleError(f"{where}: 'outcomes' must be a list drawn from {sorted(_OUTCOMES)}")
    if "silent" in args and args["silent"] not in (MET, INSUFFICIENT):
        raise RuleError(f"{where}: 'silent' is MET or INSUFFICIENT")
    if kind == "measurement":
        _check_measurement(args, where)
    if kind == "age" and (args.get("op") not in _OPS or not _is_number(args.get("value"))):
        raise RuleError(f"{where}: needs 'op' (one of {sorted(_OPS)}) and a numeric 'value' in years")
    if kind == "symptom_duration" and not _is_number(args.get("min_weeks")):
        raise RuleError(f"{where}: needs a numeric 'min_weeks'")
    if kind == "diagnosis":
        prefixes = args.get("prefixes", [])
        if not isinstance(prefixes, list) or not all(isinstance(p, str) and _PREFIX_RE.fullmatch(p) for p in prefixes):
            raise RuleError(f"{where}: 'prefixes' must be ICD-10-CM code prefixes such as M17 or M17.1")


def _check_measurement(args: dict, where: str) -> None:
    names = _measurement_names(args)
    unknown = [n for n in names if n not in MEASUREMENT_NAMES]
    if unknown:
        raise RuleError(f"{where}: unknown measurement name(s) {unknown}")
    if ("op" in args) != ("value" in args):
        raise RuleError(f"{where}: give both 'op' and 'value', or neither (documented at all)")
    if "op" in args and (args["op"] not in _OPS or not _is_number(args["value"])):
        raise RuleError(f"{where}: 'op' must be one of {sorted(_OPS)} with a numeric 'value'")
    if args.get("qualifier") not in (None, "rest", "exercise", "sleep"):
        raise RuleError(f"{where}: 'qualifier' is rest, exercise or sleep")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _measurement_names(args: dict) -> list[str]:
    if "names" in args:
        return list(args["names"] or [])
    return [args["name"]] if args.get("name") else []


# ---------------------------------------------------------------- assessment

def assess(rule: dict[str, Any], facts: Facts) -> Outcome:
    (kind, args), = rule.items()
    if kind == "all_of":
        return _all_of([assess(r, facts) for r in args])
    if kind == "any_of":
        return _any_of([assess(r, facts) for r in args])
    return _LEAVES[kind](args, facts)


def _all_of(outcomes: list[Outcome]) -> Outcome:
    if all(o.status == MET for o in outcomes):
        return Outcome(MET, min(o.confidence for o in outcomes), _merge(outcomes), _join(outcomes))
    against = [o for o in outcomes if o.status == NOT_MET]
    if against:
        return Outcome(NOT_MET, max(o.confidence for o in against), _merge(against), _join(against))
    missing = [o for o in outcomes if o.status != MET]
    return Outcome(INSUFFICIENT, CONF_NONE, _merge(outcomes), _join(missing))


def _any_of(outcomes: list[Outcome]) -> Outcome:
    met = [o for o in outcomes if o.status == MET]
    if met:
        return Outcome(MET, max(o.confidence for o in met), _merge(met), _join(met))
    if all(o.status == NOT_MET for o in outcomes):
        return Outcome(NOT_MET, min(o.confidence for o in outcomes), _merge(outcomes), _join(outcomes, " / "))
    return Outcome(INSUFFICIENT, CONF_NONE, _merge(outcomes), _join(outcomes, " / "))


def _merge(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    seen, merged = set(), []
    for o in outcomes:
        for e in o.evidence:
            if (e["start"], e["end"]) not in seen:
                seen.add((e["start"], e["end"]))
                merged.append(e)
    return sorted(merged, key=lambda e: e["start"])


def _join(outcomes: list[Outcome], sep: str = "; ") -> str:
    return sep.join(o.rationale for o in outcomes if o.rationale)


# ---------------------------------------------------------------- leaves

def _mention(args: dict, facts: Facts) -> Outcome:
    wanted = set(args.get("concepts") or [])
    found = [m for m in _mentions(facts, args)
             if (m.get("concept") in wanted if wanted else m.get("category") == args.get("category"))]
    current_only = args.get("current_only", False)
    positive = [m for m in found if not m.get("negated") and not (current_only and m.get("historical"))]
    negative = [m for m in found if m.get("negated")]
    need = args.get("min_count", 1)
    what = _describe(args)
    if len({m["concept"] for m in positive}) >= need:
        direct = any(not m.get("historical") for m in positive)
        return Outcome(MET, CONF_EXPLICIT if direct else CONF_HISTORICAL, _spans(positive),
                       f"Documented: {_quotes(positive)}")
    if negative and not positive:
        return Outcome(NOT_MET, CONF_NEGATED, _spans(negative), f"Notes state the opposite: {_quotes(negative)}")
    if positive:
        return Outcome(INSUFFICIENT, CONF_NONE, _spans(positive),
                       f"Only {len({m['concept'] for m in positive})} of {need} required for {what}: {_quotes(positive)}")
    historical = [m for m in found if m.get("historical") and not m.get("negated")]
    if historical:
        return Outcome(INSUFFICIENT, CONF_NONE, _spans(historical), f"Only a past mention of {what}: {_quotes(historical)}")
    return Outcome(INSUFFICIENT, CONF_NONE, [], f"No mention of {what}")


def _absent(args: dict, facts: Facts) -> Outcome:
    wanted = set(args["concepts"])
    found = [m for m in _mentions(facts, args) if m.get("concept") in wanted]
    current_only = args.get("current_only", True)
    present = [m for m in found if not m.get("negated") and not (current_only and m.get("historical"))]
    ruled_out = [m for m in found if m.get("negated")]
    if present:
        return Outcome(NOT_MET, CONF_NEGATED, _spans(present), f"Exclusion documented: {_quotes(present)}")
    if ruled_out:
        return Outcome(MET, CONF_EXPLICIT, _spans(ruled_out), f"Explicitly ruled out: {_quotes(ruled_out)}")
    # Safe by default: an exclusion nobody addresses (a boxed warning, an active infection) is not ruled out.
    status = args.get("silent", INSUFFICIENT)
    return Outcome(status, CONF_SILENT if status == MET else CONF_NONE, [],
                   f"No mention of {_describe(args)}; assumed absent" if status == MET
                   else f"{_describe(args)} not addressed")


def _treatment_failed(args: dict, facts: Facts) -> Outcome:
    wanted = set(args["concepts"])
    accepted = set(args.get("outcomes") or _FAILURE_OUTCOMES)
    need, min_weeks = args.get("min_count", 1), args.get("min_weeks")
    tried = [t for t in facts.extraction.get("prior_treatments") or []
             if t.get("concept") in wanted and not t.get("hypothetical") and not t.get("family")]
    counted = [t for t in tried if not t.get("negated") and t.get("outcome") in accepted]
    kinds = {t["concept"] for t in counted}
    label = f"{_names(sorted(wanted))} ({' / '.join(sorted(accepted))})"
    if len(kinds) >= need:
        return _long_enough(counted, min_weeks)
    against = [t for t in tried if t.get("negated") or (t.get("outcome") == "ongoing" and "ongoing" not in accepted)]
    if against:
        return Outcome(NOT_MET, CONF_CONTRADICTED, _spans(against + counted),
                       f"{len(kinds)} of {need} treatments failed; notes show {_quotes(against, outcome=True)}")
    if counted or tried:
        return Outcome(INSUFFICIENT, CONF_NONE, _spans(counted + tried),
                       f"{len(kinds)} of {need} treatment failures documented: {_quotes(counted + tried, outcome=True)}")
    return Outcome(INSUFFICIENT, CONF_NONE, [], f"No trial of {label} documented")


def _long_enough(counted: list[dict], min_weeks: float | None) -> Outcome:
    quoted = _quotes(counted, outcome=True)
    if min_weeks is None:
        return Outcome(MET, CONF_FAILED, _spans(counted), f"Documented: {quoted}")
    if all(t.get("outcome") in _UNTIMED_OUTCOMES for t in counted):
        return Outcome(MET, CONF_FAILED, _spans(counted), f"Documented: {quoted}")
    timed = [t for t in counted if t.get("outcome") not in _UNTIMED_OUTCOMES]
    weeks = [t["duration_weeks"] for t in timed if _is_number(t.get("duration_weeks"))]
    if weeks and max(weeks) >= min_weeks:
        return Outcome(MET, CONF_FAILED_DATED, _spans(counted), f"Documented: {quoted}; longest trial {max(weeks):g} weeks")
    if weeks:
        return Outcome(NOT_MET, CONF_CONTRADICTED, _spans(counted),
                       f"Longest documented trial {max(weeks):g} weeks, policy asks for {min_weeks:g}: {quoted}")
    return Outcome(INSUFFICIENT, CONF_NONE, _spans(counted),
                   f"Trial length not documented (policy asks for {min_weeks:g} weeks): {quoted}")


def _measurement(args: dict, facts: Facts) -> Outcome:
    names = set(_measurement_names(args))
    found = [m for m in facts.extraction.get("severity_scores") or []
             if (not names or m.get("name") in names)
             and (not args.get("qualifier") or m.get("qualifier") == args["qualifier"])]
    label = (_names(sorted(names), _MEASUREMENT_LABELS, " or ") or "severity measure") + (
        f" ({args['qualifier']})" if args.get("qualifier") else "")
    if not found:
        return Outcome(INSUFFICIENT, CONF_NONE, [], f"No {label} value documented")
    if "op" not in args:
        return Outcome(MET, CONF_MEASURED, _spans(found), f"{label} documented: {_quotes(found)}")
    test, threshold = _OPS[args["op"]], args["value"]
    passing = [m for m in found if _is_number(m.get("value")) and test(m["value"], threshold)]
    if passing:
        return Outcome(MET, CONF_MEASURED, _spans(passing),
                       f"{label} {_values(passing)} meets {args['op']} {threshold:g}")
    return Outcome(NOT_MET, CONF_MEASURED_AGAINST, _spans(found),
                   f"{label} {_values(found)} does not meet {args['op']} {threshold:g}")


def _diagnosis(args: dict, facts: Facts) -> Outcome:
    prefixes = args.get("prefixes") or []
    aligned = [c for c in facts.diagnosis_codes if not prefixes or code_matches(c, prefixes)]
    wanted = set(args.get("concepts") or [])
    corroborating = [m for m in _mentions(facts, {}) if not m.get("negated")
                     and (m.get("concept") in wanted if wanted else m.get("category") == "condition")]
    if aligned:
        noted = f"; notes: {_quotes(corroborating)}" if corroborating else "; not restated in the notes"
        return Outcome(MET, CONF_CODED if corroborating else CONF_CODED_ONLY, _spans(corroborating),
                       f"Diagnosis {', '.join(aligned)} on the request{noted}")
    expected = ", ".join(prefixes) or "any"
    return Outcome(NOT_MET, CONF_CODED, _spans(corroborating),
                   f"No request diagnosis in {expected} (request has {', '.join(facts.diagnosis_codes) or 'none'})")


def _age(args: dict, facts: Facts) -> Outcome:
    stated = [m for m in facts.extraction.get("severity_scores") or [] if m.get("name") == "age"]
    if facts.age_years is None:
        return Outcome(INSUFFICIENT, CONF_NONE, _spans(stated), "Date of birth unavailable")
    ok = _OPS[args["op"]](facts.age_years, args["value"])
    return Outcome(MET if ok else NOT_MET, CONF_DOB, _spans(stated),
                   f"Age {facts.age_years:.1f} years from date of birth {'meets' if ok else 'does not meet'} "
                   f"{args['op']} {args['value']:g}")


def _symptom_duration(args: dict, facts: Facts) -> Outcome:
    duration = facts.extraction.get("symptom_duration")
    if not duration or not _is_number(duration.get("weeks")):
        return Outcome(INSUFFICIENT, CONF_NONE, [], "Symptom duration not documented")
    ok = duration["weeks"] >= args["min_weeks"]
    span = [{"text": duration.get("text", ""), "start": duration["start"], "end": duration["end"]}]
    return Outcome(MET if ok else NOT_MET, CONF_EXPLICIT, span,
                   f"Symptoms for {duration['weeks']:g} weeks (\"{duration.get('text', '')}\"), "
                   f"policy asks for {args['min_weeks']:g}")


_LEAVES: dict[str, Callable[[dict, Facts], Outcome]] = {
    "mention": _mention, "absent": _absent, "treatment_failed": _treatment_failed, "measurement": _measurement,
    "diagnosis": _diagnosis, "age": _age, "symptom_duration": _symptom_duration,
}


# ---------------------------------------------------------------- helpers

def code_matches(code: str, prefixes: list[str] | tuple[str, ...]) -> bool:
    """ICD-10-CM prefix match, ignoring the dot ("M17.11" is under "M17" and "M17.1")."""
    bare = code.replace(".", "").upper()
    return any(bare.startswith(p.replace(".", "").upper()) for p in prefixes)


def _mentions(facts: Facts, args: dict) -> list[dict]:
    """Every usable mention: hypothetical and family-history mentions only when a rule asks for them."""
    seen, out = set(), []
    for key in _MENTION_LISTS:
        for m in facts.extraction.get(key) or []:
            if m.get("hypothetical") and not args.get("include_hypothetical"):
                continue
            if m.get("family") and not args.get("include_family"):
                continue
            ident = (m.get("concept"), m.get("start"), m.get("end"))
            if ident not in seen:
                seen.add(ident)
                out.append(m)
    return out


def _spans(items: list[dict]) -> list[dict[str, Any]]:
    seen, spans = set(), []
    for m in sorted(items, key=lambda m: m.get("start", 0)):
        key = (m.get("start"), m.get("end"))
        if key not in seen and isinstance(m.get("start"), int) and isinstance(m.get("end"), int):
            seen.add(key)
            spans.append({"text": m.get("text", ""), "start": m["start"], "end": m["end"]})
    return spans[:_EVIDENCE_CAP]


def _quotes(items: list[dict], outcome: bool = False) -> str:
    parts = []
    for m in sorted(items, key=lambda m: m.get("start", 0))[:_EVIDENCE_CAP]:
        extra = []
        if outcome and m.get("outcome"):
            extra.append("not done" if m.get("negated") else m["outcome"])
        if outcome and _is_number(m.get("duration_weeks")):
            extra.append(f"{m['duration_weeks']:g} wk")
        parts.append(f"\"{m.get('text', '')}\"" + (f" ({', '.join(extra)})" if extra else ""))
    return ", ".join(dict.fromkeys(parts))


def _values(measurements: list[dict]) -> str:
    return ", ".join(dict.fromkeys(f"{m['value']:g}" for m in measurements if _is_number(m.get("value"))))


def _describe(args: dict) -> str:
    if args.get("concepts"):
        return _names(args["concepts"], sep=" or ")
    return f"any {args.get('category', '').replace('_', ' ')}"


def _names(ids: list[str], labels: dict[str, str] | None = None, sep: str = ", ") -> str:
    """Readable names for ids in rationales (they reach letters): "physical_therapy" -> "physical therapy"."""
    return sep.join((labels or {}).get(i, i.replace("_", " ")) for i in ids)
