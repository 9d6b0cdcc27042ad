"""The coverage agent: provider verification, the matching policy and its criteria, documentation gaps.

Pure: the provider's NPPES status is looked up by the caller and passed in.
"""
from __future__ import annotations

from priorauth import policies
from priorauth.codes import npi_is_valid


def check_digit_only(npi: str) -> dict:
    """Provider verification when no registry was consulted."""
    valid = npi_is_valid(npi)
    return {"npi": npi, "check_digit_valid": valid, "status": "not_found" if valid else "invalid", "name": None,
            "deactivation_date": None, "source": "check digit only"}


def review(request: dict, clinical_findings: dict, provider: dict | None = None) -> dict:
    extraction = clinical_findings.get("clinical_extraction") or {}
    matched = policies.match(request)
    score = matched.policy_match if matched else 0.0
    # Path A: a policy names the requested code. Path B (general medical necessity) otherwise, also when
    # only the diagnoses point at a policy: its criteria are written for another service.
    specific = matched is not None and score >= 0.5
    policy = matched.policy if specific else policies.general_policy()
    return {
        "provider_verification": provider or check_digit_only(request["provider_npi"]),
        "path": "A" if specific else "B",
        **policies.evaluate(policy, request, extraction),
        "policy_match": score,
    }
