"""Code sets: ICD-10-CM (lazy, from simple_icd_10_cm), NPI check digit, CPT/HCPCS/NDC formats.

Pure functions; the only I/O is the one-time ICD-10-CM load on first lookup. The local NPPES
table (import and NPI status, which need the database) lives in `priorauth.codes.nppes`.
"""

from priorauth.codes.diagnosis import diagnosis_validation
from priorauth.codes.formats import (
    cpt_is_valid_format,
    hcpcs_is_valid_format,
    ndc_normalize,
    npi_is_valid,
)
from priorauth.codes.icd10 import Icd10Status, icd10_status, normalize_icd10
from priorauth.codes.problems import diagnosis_code_problem, service_code_problem

__all__ = [
    "Icd10Status",
    "cpt_is_valid_format",
    "diagnosis_code_problem",
    "diagnosis_validation",
    "hcpcs_is_valid_format",
    "icd10_status",
    "ndc_normalize",
    "normalize_icd10",
    "npi_is_valid",
    "service_code_problem",
]
