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
    return {
        "provider_verification": provider or check_digit_status(request["provider_npi"]),
        "path": "A" if specific else "B",
        **policies.evaluate(policy, request, extraction),
        "policy_match": score,
    }
