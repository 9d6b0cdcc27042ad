"""The payer questionnaire library: JSON files in ./library, resolved by service code and payer.

Each file holds one FHIR R4 Questionnaire plus the metadata the lifecycle API needs (services it
covers, payers, public source, supporting-documentation guidance, requirement groups). Files are
read and validated once, on first use; a broken file fails loudly with its name.

`supportingDocumentationGuidance[].requiredWhen` is the linkId of a boolean question: the document
is needed when that question is shown and answered true; null means it is always needed.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from fhir.resources.R4B.questionnaire import Questionnaire

from .evaluate import iter_items

GENERIC_ID = "generic"
_ITEM_TYPES = {
    "group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time", "string",
    "text", "url", "choice", "open-choice", "attachment", "reference", "quantity",
}  # fmt: skip
_OPERATORS = {"exists", "=", "!=", ">", "<", ">=", "<="}
_CODE_SYSTEMS = {"hcpcs", "cpt", "ndc"}
# Callers send code systems as short names or as the FHIR system URIs used in PAS bundles.
_SYSTEM_ALIASES = {
    "http://www.ama-assn.org/go/cpt": "cpt",
    "urn:oid:2.16.840.1.113883.6.12": "cpt",
    "https://bluebutton.cms.gov/resources/codesystem/hcpcs": "hcpcs",
    "http://www.cms.gov/medicare/coding/hcpcsreleasecodesets": "hcpcs",
    "https://www.cms.gov/medicare/coding/hcpcsreleasecodesets": "hcpcs",
    "urn:oid:2.16.840.1.113883.6.285": "hcpcs",
    "http://hl7.org/fhir/sid/ndc": "ndc",
    "urn:oid:2.16.840.1.113883.6.69": "ndc",
}


class QuestionnaireLibraryError(ValueError):
    """A library data file is malformed; the message starts with the file name."""


@dataclass(frozen=True)
class ResolvedQuestionnaire:
    id: str
    title: str
    version: str
    questionnaire: dict[str, Any]
    source: dict[str, Any]
    supporting_documentation_guidance: list[dict[str, Any]]
    requirement_groups: list[dict[str, Any]]
    source_form: dict[str, Any]


def normalize_code_system(code_system: str | None) -> str | None:
    if code_system is None or not code_system.strip():
        return None
    system = code_system.strip().lower()
    return _SYSTEM_ALIASES.get(system, system)


def normalize_code(code_system: str | None, code: str | None) -> str | None:
    if code is None or not code.strip():
        return None
    code = code.strip().upper()
    if normalize_code_system(code_system) != "ndc":
        return code
    parts = code.split("-")
    # A hyphenated 10-digit NDC (4-4-2, 5-3-2, 5-4-1) converts to 11 digits by padding its
    # segments to 5-4-2; otherwise compare the digits as given.
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return parts[0].zfill(5) + parts[1].zfill(4) + parts[2].zfill(2)
    return re.sub(r"\D", "", code)


def resolve(
    payer_id: str | None, code_system: str | None, code: str | None
) -> ResolvedQuestionnaire:
    """The questionnaire for this payer and service; the generic one when none matches.

    A payer-specific file wins over one for any payer ("*"). With no code system given, the code
    is matched in every system (CPT, HCPCS and NDC codes do not collide).
    """
    system = normalize_code_system(code_system)
    wanted = normalize_code(system, code)
    payer = _norm_payer(payer_id)
    entries = _load_library()

    def pick(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
        specific = [e for e in candidates if payer is not None and payer in e["_payers"]]
        return (specific or [e for e in candidates if "*" in e["_payers"]] or [None])[0]

    entry = None
    if wanted is not None:
        entry = pick(
            [
                e
                for e in entries
                if any(
                    (system is None or system == s) and wanted == c for s, c in e["_codes"]
                )
            ]
        )
    resolved_by = "service_code" if entry is not None else "generic"
    if entry is None:
        entry = pick([e for e in entries if e["id"] == GENERIC_ID or not e["_codes"]])
        if entry is None:  # only possible if someone removes generic.json
            raise QuestionnaireLibraryError("generic.json: no generic questionnaire in library")

    q = entry["questionnaire"]
    return ResolvedQuestionnaire(
        id=entry["id"],
        title=entry["title"],
        version=entry["version"],
        questionnaire=copy.deepcopy(q),
        source=copy.deepcopy(entry["source"]),
        supporting_documentation_guidance=copy.deepcopy(entry["supportingDocumentationGuidance"]),
        requirement_groups=copy.deepcopy(entry["requirementGroups"]),
        source_form={
            "id": entry["id"],
            "title": entry["title"],
            "version": entry["version"],
            "publisher": q.get("publisher"),
            "url": q.get("url"),
            "citation": entry["source"].get("citation"),
            "provenance": {
                "resolvedBy": resolved_by,
                "payerId": payer_id,
                "serviceCode": code.strip().upper() if code and code.strip() else None,
                "codeSystem": system,
            },
        },
    )


def library_entries() -> list[dict[str, Any]]:
    """Deep copies of every library file (for listings and tests)."""
    return [
        {k: v for k, v in copy.deepcopy(e).items() if not k.startswith("_")}
        for e in _load_library()
    ]


def _norm_payer(payer_id: str | None) -> str | None:
    return payer_id.strip().casefold() if payer_id and payer_id.strip() else None


@lru_cache(maxsize=1)
def _load_library() -> tuple[dict[str, Any], ...]:
    return load_folder(resources.files(__package__) / "library")


def load_folder(folder: Traversable) -> tuple[dict[str, Any], ...]:
    """Read and validate every *.json file in a folder (the packaged library, or one in tests)."""
    entries = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.endswith(".json"):
            entries.append(_load_entry(path.name, path.read_text(encoding="utf-8")))
    if not any(e["id"] == GENERIC_ID for e in entries):
        raise QuestionnaireLibraryError("generic.json: the library needs a generic questionnaire")
    _check_no_overlap(entries)
    return tuple(entries)


def _load_entry(name: str, text: str) -> dict[str, Any]:
    def fail(message: str) -> QuestionnaireLibraryError:
        return QuestionnaireLibraryError(f"{name}: {message}")

    try:
        entry = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON: {exc}") from exc
    for key in ("id", "title", "version"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise fail(f"'{key}' must be a non-empty string")
    source = entry.get("source")
    if not isinstance(source, dict) or not source.get("citation") or not source.get("url"):
        raise fail("'source' needs a citation and a url")
    payers = entry.get("payers")
    if not isinstance(payers, list) or not payers:
        raise fail("'payers' must be a non-empty list (use [\"*\"] for any payer)")

    q = entry.get("questionnaire")
    if not isinstance(q, dict) or q.get("resourceType") != "Questionnaire":
        raise fail("'questionnaire' must be a FHIR Questionnaire resource")
    try:
        Questionnaire.model_validate(q)
    except Exception as exc:  # pydantic's message names the bad element
        raise fail(f"invalid FHIR Questionnaire: {exc}") from exc
    # fhir.resources does not check code values, so check what the evaluator relies on.
    if q.get("status") != "active" or not q.get("url"):
        raise fail("questionnaire needs status 'active' and a canonical url")
    walk = list(iter_items(q.get("item") or []))
    link_ids = [item["linkId"] for item, _ in walk]
    if len(set(link_ids)) != len(link_ids):
        raise fail("questionnaire linkIds must be unique")
    for item, _ in walk:
        if item.get("type") not in _ITEM_TYPES:
            raise fail(f"item '{item['linkId']}' has unknown type {item.get('type')!r}")
        for cond in item.get("enableWhen") or []:
            if cond["question"] not in link_ids or cond["operator"] not in _OPERATORS:
                raise fail(f"item '{item['linkId']}' has a bad enableWhen {cond}")
        if len(item.get("enableWhen") or []) > 1 and item.get("enableBehavior") not in {
            "all",
            "any",
        }:
            raise fail(f"item '{item['linkId']}' needs enableBehavior for several conditions")

    codes = []
    for service in entry.get("services") or []:
        system = normalize_code_system(service.get("codeSystem"))
        code = normalize_code(system, service.get("code"))
        if system not in _CODE_SYSTEMS or not code:
            raise fail(f"bad service {service}")
        codes.append((system, code))
    for group in entry.get("requirementGroups") or []:
        unknown = set(group.get("linkIds") or []) - set(link_ids)
        if not group.get("id") or not group.get("linkIds") or unknown:
            raise fail(f"requirement group {group.get('id')!r} names unknown linkIds {unknown}")
    for doc in entry.get("supportingDocumentationGuidance") or []:
        when = doc.get("requiredWhen")
        if not doc.get("id") or not doc.get("description") or (when and when not in link_ids):
            raise fail(f"supporting documentation {doc.get('id')!r} is incomplete")

    entry.setdefault("supportingDocumentationGuidance", [])
    entry.setdefault("requirementGroups", [])
    entry["_codes"] = codes
    entry["_payers"] = {p if p == "*" else _norm_payer(p) for p in payers}
    entry["_file"] = name
    return entry


def _check_no_overlap(entries: list[dict[str, Any]]) -> None:
    """Two files claiming the same code for the same payer would make resolution arbitrary."""
    seen: dict[tuple[str, str, str], str] = {}
    for e in entries:
        for system, code in e["_codes"] or [("", "")]:
            for payer in e["_payers"]:
                key = (system, code, payer)
                if key in seen:
                    raise QuestionnaireLibraryError(
                        f"{e['_file']}: {system or 'generic'} {code} for payer {payer!r} "
                        f"is already claimed by {seen[key]}"
                    )
                seen[key] = e["_file"]
