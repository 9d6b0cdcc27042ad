"""The coverage agent: provider verification, the matching policy and its criteria, documentation gaps.

Pure: the provider's NPPES status is looked up by the caller and passed in.
"""
from __future__ import annotations

from priorauth import policies
from priorauth.codes.nppes import check_digit_status


def review(request: dict, clinical_findings: dict, provider: dict | None = None) -> dict:
    extraction = clinical_findings.get("clinical_extraction") or {}
    matched = policies.match(request)
    score = matched.policy_match if matched else 0.0
    # Path A: a policy names the requested code. Path B (general medical necessity) otherwise, also when
    # only the diagnoses point at a policy: its criteria are written for another service.
    specific = matched is not None and score >= 0.5
    policy = matched.policy if specific else policies.general_policy()
    assessed = policies.evaluate(policy, request, extraction)
    if not specific:  # never approved without the payer's criteria: say what the reviewer will need
        codes = ", ".join(request.get("procedure_codes") or []) or "the requested service"
        assessed["documentation_gaps"] = [{
            "what": f"Medical-necessity review of {codes} (no automated coverage policy)", "critical": False,
            "request": f"No coverage policy in the automated library covers {codes}, so a clinical reviewer applies "
                       "the plan's criteria. Please send the ordering provider's documentation of the indication, "
                       "the treatments already tried with dates and response, and how the result will change care."},
            *assessed["documentation_gaps"]]
    return {
        "provider_verification": provider or check_digit_status(request["provider_npi"]),
        "path": "A" if specific else "B",
        **assessed,
        "policy_match": score,
    }
