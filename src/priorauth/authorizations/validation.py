"""Blocking problems of a case, computed from plain values (no I/O).

Each issue has a stable `key` (code + path) so validation actions can be matched across recomputes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from priorauth.codes import diagnosis_code_problem, npi_is_valid, service_code_problem
from priorauth.questionnaires import QuestionnaireEvaluation, evaluate

# (path, label) of the top-level fields a payer needs before anything can be submitted.
_CONTEXT = (
    ("patient.firstName", "Patient first name"),
    ("patient.lastName", "Patient last name"),
    ("patient.dateOfBirth", "Patient date of birth"),
    ("coverage.payerId", "Payer"),
    ("coverage.memberId", "Member ID"),
    ("service.code", "Service code"),
    ("service.codeSystem", "Service code system"),
)
_DRUG_CONTEXT = (
    ("service.drugName", "Drug name"),
    ("service.quantity", "Quantity"),
    ("service.daysSupply", "Days supply"),
)


@dataclass(frozen=True)
class Issue:
    code: str
    path: str
    message: str

    @property
    def key(self) -> str:
        return f"{self.code}:{self.path}"

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "message": self.message, "severity": "blocking"}


@dataclass
class CaseAssessment:
    issues: list[Issue]
    context_requirements: list[dict[str, str]]
    questionnaire: QuestionnaireEvaluation

    @property
    def blocking(self) -> bool:
        return bool(self.issues)


def _get(case: dict, path: str) -> Any:
    value: Any = case
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _is_drug(service: dict) -> bool:
    return service.get("codeSystem") == "ndc"


def context_requirements(case: dict) -> list[dict[str, str]]:
    fields = list(_CONTEXT)
    if _is_drug(case.get("service") or {}):
        fields += _DRUG_CONTEXT
    missing = [{"path": p, "label": label, "reason": "missing"} for p, label in fields if _get(case, p) in (None, "")]
    providers = case.get("providers") or []
    ordering = [p for p in providers if p.get("role") in ("ordering", "prescribing")]
    if not ordering:
        missing.append({"path": "providers", "label": "Ordering provider", "reason": "missing"})
    elif not any(i.get("type", "").lower() == "npi" for p in ordering for i in (p.get("identifiers") or [])):
        missing.append({"path": "providers[].identifiers", "label": "Ordering provider NPI", "reason": "missing"})
    if not case.get("diagnoses"):
        missing.append({"path": "diagnoses", "label": "At least one diagnosis", "reason": "missing"})
    return missing


def _rule_issues(case: dict, today: date) -> list[Issue]:
    issues: list[Issue] = []
    dob = _get(case, "patient.dateOfBirth")
    if dob:
        born = date.fromisoformat(dob)
        if born >= today:
            issues.append(Issue("invalid_date_of_birth", "patient.dateOfBirth", "Date of birth must be in the past."))
        elif born.year < 1900:
            issues.append(Issue("invalid_date_of_birth", "patient.dateOfBirth", "Date of birth is before 1900."))
    for i, provider in enumerate(case.get("providers") or []):
        for j, ident in enumerate(provider.get("identifiers") or []):
            if ident.get("type", "").lower() == "npi" and not npi_is_valid(ident.get("value", "")):
                issues.append(Issue("invalid_npi", f"providers[{i}].identifiers[{j}].value",
                                    f"'{ident.get('value')}' is not a valid NPI (10 digits with a Luhn check digit)."))
    for i, dx in enumerate(case.get("diagnoses") or []):
        problem = diagnosis_code_problem(dx.get("code", ""))
        if problem:
            issues.append(Issue("invalid_diagnosis_code", f"diagnoses[{i}].code", problem))
    service = case.get("service") or {}
    if service.get("code") and service.get("codeSystem"):
        problem = service_code_problem(service["code"], service["codeSystem"])
        if problem:
            issues.append(Issue("invalid_service_code", "service.code", problem))
    start, end = service.get("requestedStartDate"), service.get("requestedEndDate")
    if start and end and date.fromisoformat(end) < date.fromisoformat(start):
        issues.append(Issue("invalid_date_range", "service.requestedEndDate",
                            "requestedEndDate must be on or after requestedStartDate."))
    return issues


def assess(case: dict, resolved: dict, today: date) -> CaseAssessment:
    """Everything that stands between this case and a submission."""
    evaluation = evaluate(resolved["questionnaire"], resolved.get("requirementGroups") or [], case.get("answers") or {})
    requirements = context_requirements(case)
    issues = [Issue("missing_context", r["path"], f"{r['label']} is required.") for r in requirements]
    issues += _rule_issues(case, today)
    issues += [Issue("missing_required_answer", f"answers.{link}", f"Question '{link}' requires an answer.")
               for link in evaluation.missing_required]
    issues += [Issue("invalid_answer", f"answers.{p['linkId']}", p["message"]) for p in evaluation.answer_problems]
    return CaseAssessment(issues=issues, context_requirements=requirements, questionnaire=evaluation)
