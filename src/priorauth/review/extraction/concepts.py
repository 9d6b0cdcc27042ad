"""Concepts: what the extractor looks for, and the small generic lexicon shipped with it."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Iterable, NamedTuple

import yaml

CATEGORIES = (
    "symptom", "condition", "treatment", "imaging_finding", "functional_limitation",
    "red_flag", "evaluation", "finding",
)


class Concept(NamedTuple):
    id: str
    category: str
    patterns: list[str]


@lru_cache(maxsize=1)
def _base_concepts() -> tuple[Concept, ...]:
    text = resources.files(__package__).joinpath("lexicon.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return tuple(
        Concept(concept_id, category, list(patterns))
        for category, concepts in data.items()
        for concept_id, patterns in concepts.items()
    )


def base_concepts() -> list[Concept]:
    """The generic lexicon (lexicon.yaml): symptoms, limitations, imaging findings, treatments, ..."""
    return [Concept(c.id, c.category, list(c.patterns)) for c in _base_concepts()]


def merge_concepts(concepts: Iterable) -> list[Concept]:
    """Validate and de-duplicate by id; a later concept replaces an earlier one (base + policy: policy wins)."""
    merged: dict[str, Concept] = {}
    for item in concepts:
        concept = Concept(*item)
        if not isinstance(concept.id, str) or not concept.id:
            raise ValueError(f"concept id must be a non-empty string: {concept!r}")
        if concept.category not in CATEGORIES:
            raise ValueError(f"concept {concept.id!r}: unknown category {concept.category!r}")
        if isinstance(concept.patterns, str):
            raise ValueError(f"concept {concept.id!r}: patterns must be a list of phrases")
        merged.pop(concept.id, None)  # re-insert so order follows the winning definition
        merged[concept.id] = Concept(concept.id, concept.category, [str(p) for p in concept.patterns])
    return list(merged.values())
