"""The policy library: YAML files in ./library (one per policy), ./concepts.yaml (shared concepts) and
./general.yaml (general medical necessity, path B). Read and validated once; a broken file fails loudly
with its name.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from .model import (
    BASE_CONCEPT_CATEGORY,
    BASE_CONCEPT_IDS,
    CATEGORIES,
    Concept,
    Criterion,
    Gap,
    Indication,
    Policy,
)
from .rules import RuleError, check_rule

_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CONCEPT_ID_RE = re.compile(r"[a-z][a-z0-9_]*")
_SERVICE_CODE_RE = re.compile(r"[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4}")
_PREFIX_RE = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{0,4})?")
_NCT_RE = re.compile(r"NCT[0-9]{8}")
_POLICY_KEYS = {"id", "title", "citation", "url", "codes", "unlisted_codes", "drug_names", "diagnoses", "criteria",
                "indications", "concepts", "references", "literature", "trials", "note", "general"}
_CRITERION_KEYS = {"id", "criterion", "rule", "required", "gap", "note"}


class PolicyLibraryError(ValueError):
    """A library data file is malformed; the message starts with the file name."""


# ---------------------------------------------------------------- public loading

@lru_cache(maxsize=1)
def _packaged() -> tuple[tuple[Policy, ...], tuple[Concept, ...], Policy]:
    root = resources.files(__package__)
    shared = load_concepts(root / "concepts.yaml")
    policies = load_folder(root / "library", shared)
    general = load_policy_file(root / "general.yaml", shared)
    return policies, shared, general


def load_library() -> list[Policy]:
    """Every coverage policy in the packaged library (cached after the first call)."""
    return list(_packaged()[0])


def shared_concepts() -> list[Concept]:
    return list(_packaged()[1])


def general_policy() -> Policy:
    """The general medical-necessity policy used when no policy names the requested code (path B)."""
    return _packaged()[2]


def get_policy(policy_id: str) -> Policy:
    for policy in (*_packaged()[0], _packaged()[2]):
        if policy.id == policy_id:
            return policy
    raise KeyError(policy_id)


def concepts() -> list[Concept]:
    """The union of every concept the library declares (ids unique, patterns merged in file order)."""
    policies, shared, general = _packaged()
    return merge_concepts([*shared, *(c for p in (*policies, general) for c in p.concepts)])


def literature(policy: Policy) -> list[dict[str, Any]]:
    return [dict(item) for item in policy.literature]


def trials(policy: Policy) -> list[dict[str, Any]]:
    return [dict(item) for item in policy.trials]


# ---------------------------------------------------------------- loaders (also used by tests)

def load_concepts(path: Traversable) -> tuple[Concept, ...]:
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("concepts"), list):
        raise PolicyLibraryError(f"{path.name}: expected a mapping with a 'concepts' list")
    found = tuple(_concept(path.name, raw) for raw in data["concepts"])
    merge_concepts(list(found), path.name)
    return found


def load_folder(folder: Traversable, shared: tuple[Concept, ...] = ()) -> tuple[Policy, ...]:
    """Read and validate every *.yaml policy in a folder, then check the library as a whole."""
    files = sorted((p for p in folder.iterdir() if p.name.endswith((".yaml", ".yml"))), key=lambda p: p.name)
    policies = tuple(load_policy_file(path, shared) for path in files)
    _check_library(policies, shared)
    return policies


def load_policy_file(path: Traversable, shared: tuple[Concept, ...] = ()) -> Policy:
    return parse_policy(path.name, _read_yaml(path), shared)


def parse_policy(name: str, data: Any, shared: tuple[Concept, ...] = ()) -> Policy:
    def fail(message: str) -> PolicyLibraryError:
        return PolicyLibraryError(f"{name}: {message}")

    if not isinstance(data, dict):
        raise fail("a policy file holds one mapping")
    unknown = set(data) - _POLICY_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    for key in ("id", "title", "citation", "url"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise fail(f"'{key}' must be a non-empty string")
    if not _ID_RE.fullmatch(data["id"]):
        raise fail(f"id {data['id']!r} must be lower-case letters, digits, '-' or '_'")
    if not data["url"].startswith("https://"):
        raise fail("'url' must be an https:// address of the public source")
    general = bool(data.get("general", False))
    codes = _codes(data.get("codes"), "codes", fail)
    unlisted = _codes(data.get("unlisted_codes"), "unlisted_codes", fail)
    drug_names = _strings(data.get("drug_names"), "drug_names", fail)
    if not general and not codes and not unlisted:
        raise fail("a policy needs 'codes' (or 'unlisted_codes'); only the general policy has none")
    if unlisted and not drug_names:
        raise fail("'unlisted_codes' match only with a drug name in the notes: give 'drug_names'")
    try:
        policy = Policy(
            id=data["id"], title=data["title"].strip(), citation=data["citation"].strip(), url=data["url"].strip(),
            codes=codes, unlisted_codes=unlisted, drug_names=drug_names,
            diagnoses=_diagnoses(data.get("diagnoses"), "diagnoses", general),
            criteria=_criteria(data.get("criteria"), "criteria"),
            indications=tuple(_indication(raw, i) for i, raw in enumerate(data.get("indications") or [])),
            concepts=tuple(_concept(name, raw) for raw in data.get("concepts") or []),
            references=tuple(_reference(raw, "references") for raw in data.get("references") or []),
            literature=tuple(_literature(raw) for raw in data.get("literature") or []),
            trials=tuple(_trial(raw) for raw in data.get("trials") or []),
            note=(data.get("note") or "").strip() or None, general=general, file=name,
        )
    except (RuleError, ValueError, TypeError) as exc:
        if isinstance(exc, PolicyLibraryError):
            raise
        raise fail(str(exc)) from exc
    _check_policy(policy, shared, fail)
    return policy


def merge_concepts(items: list[Concept], where: str = "library") -> list[Concept]:
    """One concept per id; patterns unioned (case-insensitively) in order; categories must agree."""
    merged: dict[str, Concept] = {}
    for c in items:
        if c.id not in merged:
            merged[c.id] = Concept(c.id, c.category, list(c.patterns))
            continue
        known = merged[c.id]
        if known.category != c.category:
            raise PolicyLibraryError(f"{where}: concept '{c.id}' declared as {known.category} and as {c.category}")
        lower = {p.casefold() for p in known.patterns}
        known.patterns.extend(p for p in c.patterns if p.casefold() not in lower)
    return list(merged.values())


# ---------------------------------------------------------------- parts

def _read_yaml(path: Traversable) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyLibraryError(f"{path.name}: invalid YAML: {exc}") from exc
    except OSError as exc:
        raise PolicyLibraryError(f"{path.name}: cannot read: {exc}") from exc


def _codes(raw: Any, key: str, fail) -> tuple[str, ...]:
    codes = _strings(raw, key, fail)
    bad = [c for c in codes if not _SERVICE_CODE_RE.fullmatch(c)]
    if bad:
        raise fail(f"'{key}' must be CPT or HCPCS Level II codes, got {bad}")
    return codes


def _strings(raw: Any, key: str, fail) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, (str, int)) and str(x).strip() for x in raw):
        raise fail(f"'{key}' must be a list of strings")
    return tuple(str(x).strip() for x in raw)


def _diagnoses(raw: Any, where: str, allow_empty: bool = True) -> dict[str, str]:
    if raw is None and allow_empty:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must map ICD-10-CM prefixes to labels (e.g. M17: Osteoarthritis of knee)")
    bad = [p for p in raw if not isinstance(p, str) or not _PREFIX_RE.fullmatch(p)]
    if bad:
        raise ValueError(f"{where}: not ICD-10-CM prefixes: {bad}")
    return {p: str(label) for p, label in raw.items()}


def _criteria(raw: Any, where: str) -> tuple[Criterion, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where}: must be a list of criteria")
    return tuple(_criterion(item, f"{where}[{i}]") for i, item in enumerate(raw))


def _criterion(raw: Any, where: str) -> Criterion:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a criterion is a mapping")
    unknown = set(raw) - _CRITERION_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    cid = raw.get("id")
    if not isinstance(cid, str) or not _CONCEPT_ID_RE.fullmatch(cid):
        raise ValueError(f"{where}: 'id' must be snake_case")
    if not isinstance(raw.get("criterion"), str) or not raw["criterion"].strip():
        raise ValueError(f"{where} ({cid}): 'criterion' must describe the requirement")
    check_rule(raw.get("rule"), f"{where} ({cid}).rule")
    gap = raw.get("gap")
    if not isinstance(gap, dict) or not all(isinstance(gap.get(k), str) and gap[k].strip() for k in ("what", "request")):
        raise ValueError(f"{where} ({cid}): 'gap' needs 'what' and a concrete 'request'")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise ValueError(f"{where} ({cid}): 'required' is true or false")
    return Criterion(
        id=cid, criterion=raw["criterion"].strip(), rule=raw["rule"], required=required,
        gap=Gap(what=gap["what"].strip(), request=gap["request"].strip(), critical=bool(gap.get("critical", required))),
        note=(raw.get("note") or "").strip() or None,
    )


def _indication(raw: Any, index: int) -> Indication:
    where = f"indications[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw.get("title"):
        raise ValueError(f"{where}: needs 'id' and 'title'")
    unknown = set(raw) - {"id", "title", "diagnoses", "when", "criteria", "note"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    when = raw.get("when")
    if when is not None:
        check_rule(when, f"{where}.when")
    diagnoses = _diagnoses(raw.get("diagnoses"), f"{where}.diagnoses")
    if not diagnoses and when is None:
        raise ValueError(f"{where}: give 'diagnoses' and/or 'when' so the indication can be selected")
    return Indication(id=raw["id"], title=str(raw["title"]), diagnoses=diagnoses, when=when,
                      criteria=_criteria(raw.get("criteria"), f"{where}.criteria"))


def _concept(file: str, raw: Any) -> Concept:
    if not isinstance(raw, dict):
        raise PolicyLibraryError(f"{file}: a concept is a mapping with id, category, patterns")
    cid, category, patterns = raw.get("id"), raw.get("category"), raw.get("patterns")
    if not isinstance(cid, str) or not _CONCEPT_ID_RE.fullmatch(cid):
        raise PolicyLibraryError(f"{file}: concept id {cid!r} must be snake_case")
    if category not in CATEGORIES:
        raise PolicyLibraryError(f"{file}: concept '{cid}' has unknown category {category!r}")
    if cid in BASE_CONCEPT_IDS and category != BASE_CONCEPT_CATEGORY:
        raise PolicyLibraryError(f"{file}: base concept '{cid}' is a {BASE_CONCEPT_CATEGORY}")
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p.strip() for p in patterns):
        raise PolicyLibraryError(f"{file}: concept '{cid}' needs a non-empty list of phrases")
    return Concept(cid, category, [p.strip() for p in patterns])


def _reference(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw.get("citation") or not str(raw.get("url", "")).startswith("https://"):
        raise ValueError(f"{where}: each entry needs a 'citation' and an https 'url'")
    return dict(raw)


def _literature(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw.get("title") or not raw.get("source") or not isinstance(raw.get("year"), int):
        raise ValueError(f"literature: each entry needs 'title', 'source' and an integer 'year': {raw!r}")
    if not raw.get("url") and not raw.get("pmid"):
        raise ValueError(f"literature: '{raw['title']}' needs a 'url' or a 'pmid'")
    item = dict(raw)
    if "pmid" in item:
        item["pmid"] = str(item["pmid"])
        if not item["pmid"].isdigit():
            raise ValueError(f"literature: '{raw['title']}' has a non-numeric pmid")
    return item


def _trial(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw.get("title") or not _NCT_RE.fullmatch(str(raw.get("nct_id", ""))):
        raise ValueError(f"trials: each entry needs 'title' and an 'nct_id' like NCT01234567: {raw!r}")
    item = {"source": "ClinicalTrials.gov", **raw}
    item.setdefault("url", f"https://clinicaltrials.gov/study/{raw['nct_id']}")
    return item


def _check_policy(policy: Policy, shared: tuple[Concept, ...], fail) -> None:
    ids = [c.id for c in policy.all_criteria()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise fail(f"criterion ids must be unique, repeated: {duplicates}")
    if not policy.all_criteria():
        raise fail("a policy needs at least one criterion")
    declared = {c.id for c in policy.concepts} | {c.id for c in shared} | BASE_CONCEPT_IDS
    used = set()
    for criterion in policy.all_criteria():
        used |= check_rule(criterion.rule)
    for indication in policy.indications:
        if indication.when:
            used |= check_rule(indication.when)
    undeclared = sorted(used - declared)
    if undeclared:
        raise fail(f"criteria use undeclared concepts {undeclared}; declare them under 'concepts' or in concepts.yaml")
    merge_concepts(list(policy.concepts), policy.file)


def _check_library(policies: tuple[Policy, ...], shared: tuple[Concept, ...]) -> None:
    seen_ids: dict[str, str] = {}
    seen_codes: dict[str, str] = {}
    for p in policies:
        if p.id in seen_ids:
            raise PolicyLibraryError(f"{p.file}: policy id '{p.id}' is already used by {seen_ids[p.id]}")
        seen_ids[p.id] = p.file
        for code in p.codes:  # unlisted codes may be shared: the drug name tells them apart
            if code in seen_codes:
                raise PolicyLibraryError(f"{p.file}: code {code} is already claimed by {seen_codes[code]}")
            seen_codes[code] = p.file
    # Categories must agree across files, or the extractor would file a concept in two lists.
    categories: dict[str, tuple[str, str]] = {c.id: (c.category, "concepts.yaml") for c in shared}
    for p in policies:
        for c in p.concepts:
            known = categories.setdefault(c.id, (c.category, p.file))
            if known[0] != c.category:
                raise PolicyLibraryError(f"{p.file}: concept '{c.id}' is a {c.category} here but a {known[0]} in {known[1]}")
