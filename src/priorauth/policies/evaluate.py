"""Matching a request to a policy and assessing the policy's criteria. Pure: plain values in and out."""
from __future__ import annotations

import re
from datetime import date
from typing import Any

from .library import get_policy, load_library
from .model import Criterion, Indication, Policy, PolicyMatch
from .rules import MET, Facts, assess, code_matches

# policy_match scores (review contract, section 2).
SCORE_CODE_ALL_ALIGNED = 1.0
SCORE_CODE_SOME_ALIGNED = 0.75
SCORE_CODE_NONE_ALIGNED = 0.5
SCORE_DIAGNOSIS_ONLY = 0.25


def match(request: dict[str, Any], library: list[Policy] | None = None) -> PolicyMatch | None:
    """The best policy for the request: by code first, then by how many diagnoses it covers.

    Returns None when neither a code nor a diagnosis points at any policy.
    """
    best: PolicyMatch | None = None
    for policy in library if library is not None else load_library():
        candidate = _score(policy, request)
        if candidate.policy_match > 0 and (best is None or _rank(candidate) > _rank(best)):
            best = candidate
    return best


def policy_match(policy: Policy, request: dict[str, Any]) -> float:
    return _score(policy, request).policy_match


def evaluate(policy: Policy | str, request: dict[str, Any], extraction: dict[str, Any] | None,
             *, today: date | None = None) -> dict[str, Any]:
    """Assess every criterion of the policy (and of the indication the request falls under)."""
    if isinstance(policy, str):
        policy = get_policy(policy)
    facts = Facts(extraction=extraction or {}, diagnosis_codes=tuple(request.get("diagnosis_codes") or ()),
                  age_years=age_in_years(request.get("patient_dob"), today or date.today()))
    indication = select_indication(policy, facts)
    criteria = policy.criteria + (indication.criteria if indication else ())
    assessments = [_assess_criterion(c, facts) for c in criteria]
    return {
        "policy": {"id": policy.id, "title": policy.title, "citation": policy.citation, "url": policy.url},
        "policy_match": 0.0 if policy.general else policy_match(policy, request),
        "indication": {"id": indication.id, "title": indication.title} if indication else None,
        "diagnosis_alignment": diagnosis_alignment(policy, facts.diagnosis_codes, indication),
        "criteria_assessment": assessments,
        "documentation_gaps": [_gap(c) for c, a in zip(criteria, assessments, strict=True) if a["status"] != MET],
    }


def select_indication(policy: Policy, facts: Facts) -> Indication | None:
    """The first indication (in file order) whose diagnoses and `when` rule both fit the request."""
    for indication in policy.indications:
        if indication.diagnoses and not any(code_matches(c, list(indication.diagnoses)) for c in facts.diagnosis_codes):
            continue
        if indication.when is not None and assess(indication.when, facts).status != MET:
            continue
        return indication
    return None


def diagnosis_alignment(policy: Policy, codes: tuple[str, ...], indication: Indication | None = None) -> dict[str, Any]:
    if policy.general:
        return {"aligned": list(codes), "not_aligned": [],
                "note": "General medical necessity: any documented, valid diagnosis is assessed."}
    covered = policy.covered_diagnoses
    aligned = [c for c in codes if code_matches(c, list(covered))]
    not_aligned = [c for c in codes if c not in aligned]
    parts = []
    if aligned:
        labels = "; ".join(f"{c} ({_label(c, covered)})" for c in aligned)
        parts.append(f"Covered by {policy.citation}: {labels}.")
    else:
        parts.append(f"No request diagnosis is among those {policy.citation} covers "
                     f"({', '.join(sorted(covered)) or 'none listed'}).")
    if not_aligned and aligned:
        parts.append(f"Not a covered diagnosis (secondary or comorbidity codes are expected): {', '.join(not_aligned)}.")
    if indication:
        parts.append(f"Assessed under the indication: {indication.title}.")
    elif policy.indications:
        parts.append("No indication of this policy fits the request's diagnoses.")
    return {"aligned": aligned, "not_aligned": not_aligned, "note": " ".join(parts)}


def age_in_years(dob: str | None, today: date) -> float | None:
    try:
        born = date.fromisoformat(dob) if dob else None
    except ValueError:
        return None
    return None if born is None or born > today else (today - born).days / 365.25


# ---------------------------------------------------------------- internals

def _score(policy: Policy, request: dict[str, Any]) -> PolicyMatch:
    codes = [c.strip().upper() for c in request.get("procedure_codes") or []]
    notes = request.get("clinical_notes") or ""
    matched = [c for c in codes if c in policy.codes]
    if policy.unlisted_codes and _names_drug(notes, policy.drug_names):
        matched += [c for c in codes if c in policy.unlisted_codes]
    diagnoses = [c.strip().upper() for c in request.get("diagnosis_codes") or []]
    aligned = tuple(c for c in diagnoses if code_matches(c, list(policy.covered_diagnoses)))
    if policy.general:
        score = 0.0
    elif matched:
        score = (SCORE_CODE_ALL_ALIGNED if diagnoses and len(aligned) == len(diagnoses)
                 else SCORE_CODE_SOME_ALIGNED if aligned else SCORE_CODE_NONE_ALIGNED)
    else:
        score = SCORE_DIAGNOSIS_ONLY if aligned else 0.0
    return PolicyMatch(policy=policy, policy_match=score, matched_codes=tuple(matched), aligned_diagnoses=aligned)


def _rank(m: PolicyMatch) -> tuple[float, int]:
    # Ties (two policies covering the same diagnoses) keep the earlier file: strict ">" in match().
    return m.policy_match, len(m.aligned_diagnoses)


def _names_drug(notes: str, names: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9]){re.escape(n)}(?![A-Za-z0-9])", notes, re.IGNORECASE) for n in names)


def _assess_criterion(criterion: Criterion, facts: Facts) -> dict[str, Any]:
    outcome = assess(criterion.rule, facts)
    return {"id": criterion.id, "criterion": criterion.criterion, "status": outcome.status,
            "confidence": outcome.confidence, "required": criterion.required,
            "evidence": outcome.evidence, "rationale": outcome.rationale}


def _gap(criterion: Criterion) -> dict[str, Any]:
    return {"what": criterion.gap.what, "critical": criterion.gap.critical, "request": criterion.gap.request}


def _label(code: str, covered: dict[str, str]) -> str:
    # The most specific prefix that matches names the diagnosis best.
    best = max((p for p in covered if code_matches(code, [p])), key=len)
    return covered[best]
