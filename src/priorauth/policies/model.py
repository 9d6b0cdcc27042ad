"""Plain value types of the policy library: concepts, criteria, indications, policies, matches."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# The categories the clinical extractor sorts mentions into (review contract, section 1).
CATEGORIES = frozenset({"symptom", "condition", "treatment", "imaging_finding", "functional_limitation",
                        "red_flag", "evaluation", "finding"})

# The extractor's fixed measurement names; criteria may only refer to these.
MEASUREMENT_NAMES = frozenset({
    "kl_grade", "ahi", "rdi", "odi", "bmi", "hba1c", "spo2", "pao2", "hematocrit", "fev1_percent", "easi", "iga",
    "bsa_percent", "eosinophils", "das28", "cdai", "seizures_per_month", "mrd_percent", "cpap_hours_per_night",
    "cpap_nights_percent", "pain_score", "age", "nodule_size_mm",
})

# Treatments the extractor ships base patterns for: policies refer to them without redefining them.
BASE_CONCEPT_IDS = frozenset({
    "nsaids", "acetaminophen", "physical_therapy", "home_exercise", "weight_loss", "corticosteroid_injection",
    "hyaluronic_acid_injection", "bracing", "assistive_device", "activity_modification", "opioids",
    "muscle_relaxants", "chiropractic", "epidural_steroid_injection",
})
BASE_CONCEPT_CATEGORY = "treatment"


class Concept(NamedTuple):
    """What the extractor looks for: case-insensitive literal phrases, filed under one category."""

    id: str
    category: str
    patterns: list[str]


@dataclass(frozen=True)
class Gap:
    what: str
    request: str
    critical: bool


@dataclass(frozen=True)
class Criterion:
    id: str
    criterion: str
    rule: dict[str, Any]
    required: bool
    gap: Gap
    note: str | None = None


@dataclass(frozen=True)
class Indication:
    """A branch of a policy (e.g. RA vs Crohn's) with its own criteria, chosen per request."""

    id: str
    title: str
    diagnoses: dict[str, str]
    when: dict[str, Any] | None
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, eq=False)
class Policy:
    id: str
    title: str
    citation: str
    url: str
    codes: tuple[str, ...]
    diagnoses: dict[str, str]          # ICD-10-CM prefix -> label, for alignment
    criteria: tuple[Criterion, ...]
    indications: tuple[Indication, ...] = ()
    unlisted_codes: tuple[str, ...] = ()  # NOC codes (J3490...) that match only with a drug name in the notes
    drug_names: tuple[str, ...] = ()
    concepts: tuple[Concept, ...] = ()
    references: tuple[dict[str, Any], ...] = ()
    literature: tuple[dict[str, Any], ...] = ()
    trials: tuple[dict[str, Any], ...] = ()
    note: str | None = None
    general: bool = False
    file: str = ""

    @property
    def covered_diagnoses(self) -> dict[str, str]:
        """Every ICD-10-CM prefix the policy covers, its own and its indications'."""
        merged = dict(self.diagnoses)
        for indication in self.indications:
            merged.update(indication.diagnoses)
        return merged

    @property
    def all_codes(self) -> tuple[str, ...]:
        return self.codes + self.unlisted_codes

    def all_criteria(self) -> tuple[Criterion, ...]:
        return self.criteria + tuple(c for i in self.indications for c in i.criteria)


@dataclass(frozen=True, eq=False)
class PolicyMatch:
    policy: Policy
    policy_match: float
    matched_codes: tuple[str, ...] = ()
    aligned_diagnoses: tuple[str, ...] = field(default=())
