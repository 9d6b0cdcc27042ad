"""Wire models of the review face, validated as the reference's table says before any agent runs.

Messages keep the reference's wording: pydantic prefixes a ValueError with "Value error, ", so
`invalid ICD-10 diagnosis code: 'NOT-A-CODE' (...)` reaches the client as the reference shows it.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from priorauth.plain import check_plain
from priorauth.timeutil import utcnow

ICD10 = re.compile(r"^[A-TV-Z][0-9][A-Z0-9](?:\.[A-Z0-9]{1,4})?$")  # U codes are reserved by WHO
PROCEDURE = re.compile(r"^([0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})$")  # CPT, CPT Category III, HCPCS Level II
_DOB = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MIN_RATIONALE = 20


def _codes(value: list[str], field: str, pattern: re.Pattern, invalid: str, example: str) -> list[str]:
    codes = [code.strip().upper() for code in value]
    codes = [code for code in codes if code]
    if not codes:
        raise ValueError(f"at least one non-blank {field} is required")
    for code in codes:
        if not pattern.match(code):
            raise ValueError(f"invalid {invalid}: {code!r} (expected format e.g. {example})")
    return codes


class Plain(BaseModel):
    """A request body of this face: only finite numbers and valid text anywhere inside it."""

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        return check_plain(data)


class PriorAuthRequest(Plain):
    """POST /api/review and the per-agent routes. Unknown fields are ignored, as in the reference."""

    patient_name: str = Field(max_length=200)
    patient_dob: str = Field(max_length=10)
    provider_npi: str = Field(max_length=20)
    diagnosis_codes: list[str] = Field(max_length=50)
    procedure_codes: list[str] = Field(max_length=50)
    clinical_notes: str = Field(max_length=100_000)
    insurance_id: str = Field(max_length=64)

    @field_validator("patient_dob")
    @classmethod
    def _dob(cls, value: str) -> str:
        if not _DOB.match(value):
            raise ValueError("patient_dob must be in YYYY-MM-DD format")
        try:
            born = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"patient_dob is not a real calendar date: {value!r}") from None
        if born > utcnow().date():
            raise ValueError("patient_dob must not be in the future")
        return value

    @field_validator("diagnosis_codes")
    @classmethod
    def _diagnoses(cls, value: list[str]) -> list[str]:
        return _codes(value, "diagnosis code", ICD10, "ICD-10 diagnosis code", "R91.1, M17.11, J18.9")

    @field_validator("procedure_codes")
    @classmethod
    def _procedures(cls, value: list[str]) -> list[str]:
        return _codes(value, "procedure code", PROCEDURE, "CPT/HCPCS procedure code", "27447, 0275T, J0135")


# ---- upstream results the coverage and synthesis agents accept (fixtures included) ------------------------------
# Typed so that a malformed fixture is a 422, not a crash inside an agent; unknown fields pass through.

class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Span(_Open):
    text: str
    start: int = Field(0, ge=0)
    end: int = Field(0, ge=0)


class Mention(Span):
    concept: str = ""
    category: str = ""
    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False


class Treatment(Mention):
    outcome: Literal["failed", "intolerant", "contraindicated", "ongoing", "completed", "unknown"] = "unknown"
    duration_weeks: float | None = Field(None, ge=0)


class Measurement(Span):
    name: str
    value: float
    unit: str | None = None
    qualifier: str | None = None


class SymptomDuration(Span):
    weeks: float | None = Field(None, ge=0)


class Extraction(_Open):
    chief_complaint: str = ""
    chief_complaint_span: list[int] | None = None
    symptoms: list[Mention] = []
    symptom_duration: SymptomDuration | None = None
    severity_scores: list[Measurement] = []
    prior_treatments: list[Treatment] = []
    imaging_findings: list[Mention] = []
    functional_limitations: list[Mention] = []
    red_flags: list[Mention] = []
    conditions: list[Mention] = []
    evaluations: list[Mention] = []
    findings: list[Mention] = []
    extraction_confidence: int | None = Field(None, ge=0, le=100)


class CodeCheck(_Open):
    code: str
    valid: bool = False
    billable: bool = False
    hierarchy_note: str = ""


class ClinicalResult(_Open):
    diagnosis_validation: list[CodeCheck] = []
    procedure_validation: list[CodeCheck] = []
    clinical_extraction: Extraction | None = None


class ComplianceResult(_Open):
    missing_items: list[str] | None = None


class Provider(_Open):
    npi: str = ""
    check_digit_valid: bool = False
    status: str | None = None
    deactivation_date: str | None = None


class Criterion(_Open):
    criterion: str
    status: Literal["MET", "NOT_MET", "INSUFFICIENT"]
    confidence: float = Field(0, ge=0, le=100)
    required: bool = True
    evidence: list[Span] = []
    rationale: str = ""


class Gap(_Open):
    what: str
    critical: bool = False
    request: str = ""


class PolicyRef(_Open):
    citation: str = ""
    title: str = ""


class CoverageResult(_Open):
    provider_verification: Provider | None = None
    path: Literal["A", "B"] = "A"
    policy: PolicyRef | None = None
    policy_match: float = Field(0.0, ge=0, le=1)
    criteria_assessment: list[Criterion] = []
    documentation_gaps: list[Gap] = []


class CoverageAgentRequest(Plain):
    request: PriorAuthRequest
    clinical_findings: ClinicalResult = ClinicalResult()


class SynthesisAgentRequest(Plain):
    request: PriorAuthRequest
    compliance_result: ComplianceResult = ComplianceResult()
    clinical_result: ClinicalResult = ClinicalResult()
    coverage_result: CoverageResult = CoverageResult()
    cpt_validation: Any = None


class DecisionRequest(Plain):
    model_config = ConfigDict(str_strip_whitespace=True)

    request_id: str = Field(min_length=1, max_length=64)
    action: Literal["accept", "override"]
    reviewer_name: str = Field(min_length=1, max_length=200)
    override_recommendation: Literal["approve", "pend_for_review", "deny"] | None = None
    override_rationale: str | None = Field(default=None, max_length=5000)
    denial_reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _override_fields(self) -> DecisionRequest:
        if self.action == "accept":
            if self.override_recommendation or self.override_rationale or self.denial_reason:
                raise ValueError("accept takes no override_recommendation, override_rationale or denial_reason")
            return self
        if self.override_recommendation is None:
            raise ValueError("override requires override_recommendation")
        if len(self.override_rationale or "") < MIN_RATIONALE:
            raise ValueError(f"override requires an override_rationale of at least {MIN_RATIONALE} characters")
        if self.override_recommendation == "deny" and not self.denial_reason:
            raise ValueError("an override to deny requires a denial_reason")
        if self.override_recommendation != "deny" and self.denial_reason:
            raise ValueError("denial_reason is only allowed with override_recommendation 'deny'")
        return self
