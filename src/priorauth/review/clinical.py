"""The clinical agent: code validation against the real code sets and evidence extraction from the notes.

Pure apart from lookups in in-memory reference data (the ICD-10-CM set, the policy library's
citations); the caller supplies the extractor, built once at start.
"""
from __future__ import annotations

from priorauth import policies
from priorauth.codes import diagnosis_validation
from priorauth.review.compliance import service_type
from priorauth.review.schemas import PROCEDURE


def procedure_validation(codes: list[str]) -> list[dict]:
    """CPT/HCPCS by format only: CPT descriptors are AMA-licensed and not shipped."""
    return [{"code": code, "valid": bool(PROCEDURE.match(code)), "service_type": service_type(code),
             "source": "orchestrator_preflight"} for code in codes]


def _summary(request: dict, diagnoses: list[dict], extraction: dict) -> str:
    valid = [d["code"] for d in diagnoses if d["valid"] and d["billable"]]
    parts = [f"Diagnoses {', '.join(valid)} validated against ICD-10-CM." if valid
             else "No valid billable ICD-10-CM diagnosis code."]
    if extraction.get("chief_complaint"):
        parts.append(f"Chief complaint: {extraction['chief_complaint']}.")
    failed = sorted({t["text"] for t in extraction.get("prior_treatments", [])
                     if t.get("outcome") in ("failed", "intolerant", "contraindicated") and not t.get("negated")})
    if failed:
        parts.append(f"Prior treatment without adequate response: {', '.join(failed)}.")
    scores = [m["text"] for m in extraction.get("severity_scores", [])]
    if scores:
        parts.append(f"Severity: {', '.join(scores[:6])}.")
    imaging = [m["text"] for m in extraction.get("imaging_findings", []) if not m.get("negated")]
    if imaging:
        parts.append(f"Imaging: {', '.join(imaging[:6])}.")
    parts.append(f"Extraction confidence {extraction.get('extraction_confidence', 0)}/100.")
    return " ".join(parts)


def review(request: dict, extractor, procedures: list[dict] | None = None) -> dict:
    diagnoses = [diagnosis_validation(code) for code in request["diagnosis_codes"]]
    extraction = extractor.extract(request["clinical_notes"])
    matched = policies.match(request)
    policy = matched.policy if matched else None
    mentions = sum(len(v) for v in extraction.values() if isinstance(v, list))
    literature = policies.literature(policy) if policy else []
    return {
        "diagnosis_validation": diagnoses,
        "procedure_validation": procedures if procedures is not None else procedure_validation(request["procedure_codes"]),
        "clinical_extraction": extraction,
        "literature_support": literature,
        "clinical_trials": policies.trials(policy) if policy else [],
        "clinical_summary": _summary(request, diagnoses, extraction),
        "tool_results": [
            {"tool": "icd10_code_set", "source": "ICD-10-CM (simple-icd-10-cm, local)", "codes": len(diagnoses)},
            {"tool": "clinical_nlp", "source": "medspaCy ConText with prior-authorization rules (local)",
             "mentions": mentions},
            {"tool": "policy_citations", "source": "priorauth policy library (offline)",
             "citations": len(literature)},
        ],
    }
