"""Helpers shared by the extraction tests."""
from priorauth.review.extraction import Concept

POLICY_CONCEPTS = [
    Concept("total_knee_arthroplasty", "treatment", ["total knee arthroplasty", "TKA"]),
    Concept("knee_osteoarthritis", "condition", ["knee osteoarthritis", "osteoarthritis of the knee"]),
    Concept("polysomnography", "evaluation", ["polysomnography", "sleep study", "PSG", "in-lab sleep study"]),
    Concept("tb_test_negative", "evaluation", ["TB test negative", "negative TB test", "QuantiFERON negative"]),
]


def mentions(extraction: dict, concept: str) -> list[dict]:
    lists = ("symptoms", "conditions", "prior_treatments", "imaging_findings", "functional_limitations",
             "red_flags", "evaluations", "findings")
    return [m for name in lists for m in extraction[name] if m["concept"] == concept]


def only(extraction: dict, concept: str) -> dict:
    found = mentions(extraction, concept)
    assert len(found) == 1, (concept, found)
    return found[0]


def measurement(extraction: dict, name: str) -> dict:
    found = [m for m in extraction["severity_scores"] if m["name"] == name]
    assert found, (name, extraction["severity_scores"])
    return found[0]
