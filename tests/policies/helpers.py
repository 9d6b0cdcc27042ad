"""Hand-built extraction dicts for evaluator tests: spans are located in the notes, as the extractor does."""
from __future__ import annotations

from typing import Any

_LISTS = {"symptom": "symptoms", "treatment": "prior_treatments", "imaging_finding": "imaging_findings",
          "functional_limitation": "functional_limitations", "red_flag": "red_flags", "condition": "conditions",
          "evaluation": "evaluations", "finding": "findings"}


def span(notes: str, text: str, occurrence: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(occurrence + 1):
        start = notes.index(text, start + 1)
    return start, start + len(text)


def mention(notes: str, text: str, concept: str, category: str, **flags: Any) -> dict[str, Any]:
    start, end = span(notes, text)
    item = {"concept": concept, "category": category, "text": text, "start": start, "end": end,
            "negated": False, "historical": False, "hypothetical": False, "family": False}
    item.update(flags)
    if category == "treatment":
        item.setdefault("outcome", "unknown")
        item.setdefault("duration_weeks", None)
    return item


def measurement(notes: str, text: str, name: str, value: float, qualifier: str | None = None) -> dict[str, Any]:
    start, end = span(notes, text)
    return {"name": name, "value": value, "unit": None, "text": text, "start": start, "end": end,
            "qualifier": qualifier}


def extraction(*items: dict[str, Any], duration: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {key: [] for key in _LISTS.values()}
    out.update({"chief_complaint": "", "chief_complaint_span": None, "symptom_duration": duration,
                "severity_scores": [], "extraction_confidence": 80})
    for item in items:
        if "name" in item and "value" in item:
            out["severity_scores"].append(item)
        else:
            out[_LISTS[item["category"]]].append(item)
    return out


def request(notes: str, procedure: str, diagnoses: list[str], dob: str = "1955-03-15") -> dict[str, Any]:
    return {"patient_name": "Test Patient", "patient_dob": dob, "provider_npi": "1234567893",
            "diagnosis_codes": diagnoses, "procedure_codes": [procedure], "clinical_notes": notes,
            "insurance_id": "TEST123"}
