"""The synthesis agent: decision gates, confidence and the recommendation. Pure.

Gates run in order and stop at the first failure: 1 provider, 2 codes, 3 medical necessity.
The engine recommends `approve` or `pend_for_review`, never a denial: only a licensed human denies.
"""
from __future__ import annotations

from priorauth.codes import diagnosis_validation
from priorauth.codes.nppes import check_digit_status
from priorauth.review import clinical as clinical_agent
from priorauth.review import compliance as compliance_agent

HIGH, MEDIUM = 0.80, 0.50
DISCLAIMER = ("AI-assisted draft. Coverage policies reflect Medicare LCDs/NCDs only; commercial and Medicare "
              "Advantage plans may apply different criteria. A licensed clinician makes the final determination; "
              "this engine never denies a request.")


def confidence_level(confidence: float) -> str:
    return "HIGH" if confidence >= HIGH else "MEDIUM" if confidence >= MEDIUM else "LOW"


def confidence(avg_criteria: float, extraction: float, compliance_score: float, policy_match: float) -> float:
    """The reference's weights: criteria 0.4, extraction 0.3, compliance 0.2, policy match 0.1."""
    return round(0.4 * avg_criteria / 100 + 0.3 * extraction / 100 + 0.2 * compliance_score + 0.1 * policy_match, 2)


def _provider_gate(provider: dict) -> tuple[bool, str, list[dict]]:
    npi = provider.get("npi", "")
    if not provider.get("check_digit_valid"):
        return False, f"Provider NPI {npi} fails the NPI check digit (Luhn, prefix 80840).", [{
            "what": "Valid provider NPI", "critical": True,
            "request": "Please confirm the ordering provider's 10-digit NPI; the one given is not a valid NPI."}]
    if provider.get("status") == "deactivated":
        return False, (f"Provider NPI {npi} is deactivated in NPPES"
                       f"{' since ' + provider['deactivation_date'] if provider.get('deactivation_date') else ''}."), [{
            "what": "Active provider NPI", "critical": True,
            "request": "Please submit the request under an active NPI; NPPES lists this one as deactivated."}]
    where = {"active": "active in the local NPPES table", "not_found": "not in the local NPPES table"}.get(
        provider.get("status"), provider.get("status") or "checked")
    return True, f"Provider NPI {npi} passes the check digit; {where}.", []


def _codes_gate(diagnoses: list[dict], procedures: list[dict]) -> tuple[bool, str, list[dict]]:
    problems, gaps = [], []
    for dx in diagnoses:
        if not dx.get("valid"):
            problems.append(f"{dx['code']} is not an ICD-10-CM code")
        elif not dx.get("billable"):
            problems.append(f"{dx['code']} is not billable")
        else:
            continue
        gaps.append({"what": f"Billable ICD-10-CM code instead of {dx['code']}", "critical": True,
                     "request": dx.get("hierarchy_note") or f"Please provide a valid, billable code for {dx['code']}."})
    for px in procedures:
        if not px.get("valid"):
            problems.append(f"procedure code {px['code']} is not a CPT/HCPCS code")
            gaps.append({"what": f"Valid procedure code instead of {px['code']}", "critical": True,
                         "request": "Please provide the CPT or HCPCS Level II code of the requested service."})
    if problems:
        return False, "; ".join(problems) + ".", gaps
    return True, (f"All ICD-10 codes valid and billable ({', '.join(d['code'] for d in diagnoses)}); "
                  f"procedure codes valid ({', '.join(p['code'] for p in procedures)})."), []


def _necessity_gate(coverage: dict) -> tuple[bool, str]:
    criteria = coverage.get("criteria_assessment") or []
    required = [c for c in criteria if c.get("required", True)]
    met = [c for c in required if c.get("status") == "MET"]
    policy = coverage.get("policy") or {}
    basis = f"{policy.get('citation', '')} {policy.get('title', '')}".strip() or "general medical necessity"
    path = "policy path A" if coverage.get("path", "A") == "A" else "general medical-necessity path B"
    if not required:
        return False, f"No criteria could be assessed ({path})."
    if coverage.get("path") == "B":  # safe by default: without the payer's criteria, only a human may decide
        return False, (f"No coverage policy in the library covers this service ({path}); a reviewer applies the "
                       "plan's medical-necessity criteria.")
    if len(met) == len(required):
        return True, f"{basis} ({path}): {len(met)}/{len(required)} required criteria met."
    unmet = [f"{c['criterion']} ({c['status']})" for c in required if c.get("status") != "MET"]
    return False, f"{basis} ({path}): {len(met)}/{len(required)} required criteria met; not met: {'; '.join(unmet)}."


def _evidence(criterion: dict) -> str:
    quotes = [f"\"{e['text']}\"" for e in criterion.get("evidence", [])[:3]]
    return f"{criterion['criterion']} — {', '.join(quotes) if quotes else criterion.get('rationale', '')}".strip()


def decide(request: dict, compliance: dict, clinical: dict, coverage: dict) -> dict:
    """The synthesis result; missing upstream parts (per-agent calls with fixtures) are recomputed."""
    provider = coverage.get("provider_verification") or check_digit_status(request["provider_npi"])
    diagnoses = clinical.get("diagnosis_validation") or [diagnosis_validation(c) for c in request["diagnosis_codes"]]
    procedures = clinical.get("procedure_validation") or clinical_agent.procedure_validation(request["procedure_codes"])
    if compliance.get("missing_items") is None:
        compliance = compliance_agent.review(request)

    gates, gaps, failed = [], [], False
    checks = (("provider", lambda: _provider_gate(provider)), ("codes", lambda: _codes_gate(diagnoses, procedures)),
              ("medical_necessity", lambda: (*_necessity_gate(coverage), coverage.get("documentation_gaps") or [])))
    for number, (name, check) in enumerate(checks, start=1):
        if failed:
            gates.append({"gate": number, "name": name, "status": "SKIPPED", "detail": "Not evaluated: an earlier gate failed."})
            continue
        passed, detail, gate_gaps = check()
        gates.append({"gate": number, "name": name, "status": "PASS" if passed else "FAIL", "detail": detail})
        gaps.extend(gate_gaps)
        failed = not passed

    criteria = coverage.get("criteria_assessment") or []
    avg_criteria = sum(c.get("confidence", 0) for c in criteria) / len(criteria) if criteria else 0.0
    # An agent fixture may send the field as null: no extraction found nothing.
    extraction = (clinical.get("clinical_extraction") or {}).get("extraction_confidence") or 0
    score = confidence(avg_criteria, extraction, compliance_agent.compliance_score(compliance),
                       coverage.get("policy_match", 0.0))
    level = confidence_level(score)
    approve = not failed and level != "LOW"
    policy = coverage.get("policy") or {}
    met = [c for c in criteria if c.get("status") == "MET"]
    rationale = " ".join(f"Gate {g['gate']} {g['status']}: {g['detail']}" for g in gates)
    if not failed and not approve:
        rationale += f" Confidence {score:.2f} is LOW, so the case goes to a human reviewer."
    return {
        "recommendation": "approve" if approve else "pend_for_review",
        "confidence": score,
        "confidence_level": level,
        "decision_gates": gates,
        # Each component on 0-1, before its weight (criteria 0.4, extraction 0.3, compliance 0.2, policy 0.1).
        "confidence_breakdown": {"criteria": round(avg_criteria / 100, 3), "extraction": extraction / 100,
                                 "compliance": compliance_agent.compliance_score(compliance),
                                 "policy_match": coverage.get("policy_match", 0.0)},
        "clinical_rationale": rationale,
        "summary": _summary(approve, gates, level, score, met, criteria, gaps),
        "coverage_criteria_met": [_evidence(c) for c in met],
        "coverage_criteria_not_met": [_evidence(c) for c in criteria if c.get("status") != "MET"],
        "missing_documentation": [g["what"] for g in gaps],
        "documentation_gaps": gaps,
        "policy_references": [f"{policy['citation']} — {policy.get('title', '')}"] if policy.get("citation") else [],
        "disclaimer": DISCLAIMER,
        "assessment_confidence": round(avg_criteria),
        "criteria_met_count": f"{len(met)}/{len(criteria)}",
    }


def _summary(approve: bool, gates: list[dict], level: str, score: float, met: list, criteria: list,
             gaps: list[dict]) -> str:
    if approve:
        return (f"All decision gates pass and {len(met)}/{len(criteria)} coverage criteria are met with cited "
                f"evidence; recommended for approval ({level} confidence, {score:.2f}).")
    failing = next((g for g in gates if g["status"] == "FAIL"), None)
    reason = f"Gate {failing['gate']} ({failing['name'].replace('_', ' ')}) did not pass" if failing \
        else f"confidence is {level} ({score:.2f})"
    asks = f" {len(gaps)} documentation item(s) requested." if gaps else ""
    return f"Pended for clinical review: {reason}.{asks} The engine never denies; a licensed reviewer decides."
