"""ClinicalExtractor: notes in, the contract's `extraction` dict out."""
from __future__ import annotations

import re
import threading
from typing import Iterable, Iterator, NamedTuple

from .chief_complaint import find_chief_complaint
from .concepts import Concept, base_concepts, merge_concepts
from .context_rules import FAMILY, HISTORICAL, HYPOTHETICAL, NEGATED, OUTCOMES
from .durations import (
    Duration,
    Durations,
    chains,
    duration_for_chain,
    find_durations,
    history_durations,
    onset_durations,
)
from .measurements import find_measurements
from .pipeline import Hit, Pipeline

LIST_FOR_CATEGORY = {
    "symptom": "symptoms", "condition": "conditions", "treatment": "prior_treatments",
    "imaging_finding": "imaging_findings", "functional_limitation": "functional_limitations",
    "red_flag": "red_flags", "evaluation": "evaluations", "finding": "findings",
}
EXPECTED_ELEMENTS = 7
_OUTCOME_RANK = list(OUTCOMES)
_CHUNK_CHARS = 800  # ConText compares every modifier with every target of a Doc: keep Docs small
_FIRST_SENTENCE_END = re.compile(r"(?<!\d)[.!?](?=\s|$)|\n")


class Found(NamedTuple):
    """A concept mention with its ConText attributes, before it becomes a contract dict."""
    concept: str
    category: str
    start: int
    end: int
    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False
    outcome: str = "unknown"


class ClinicalExtractor:
    """Builds the medspaCy pipeline once (~0.5 s after the ~2.5 s medspaCy import); `extract` is
    deterministic and serialised by a lock, so one instance may be shared by worker threads."""

    def __init__(self, concepts: Iterable[Concept] | None = None):
        self.concepts = merge_concepts(base_concepts() if concepts is None else concepts)
        self._pipeline = Pipeline(self.concepts)
        self._lock = threading.Lock()
        self.extract("Patient denies chest pain.")  # warm the matchers' lazy state

    def extract(self, notes: str) -> dict:
        text = notes if isinstance(notes, str) else ("" if notes is None else str(notes))
        with self._lock:
            found = self._find(text)
        return build_extraction(text, found)

    def _find(self, text: str) -> list[Found]:
        found = []
        for offset, chunk in _chunks(text, _CHUNK_CHARS):
            if chunk.strip():
                for hit in self._pipeline(chunk):
                    found += _found_from_hit(hit, offset)
        return found


def _found_from_hit(hit: Hit, offset: int) -> list[Found]:
    categories = {category for category, _, _ in hit.modifiers}
    flags = dict(negated=NEGATED in categories, historical=HISTORICAL in categories,
                 hypothetical=HYPOTHETICAL in categories, family=FAMILY in categories)
    start, end = offset + hit.start_char, offset + hit.end_char
    return [Found(concept_id, category, start, end, outcome=_outcome(hit) if category == "treatment" else "unknown",
                  **flags)
            for concept_id, category in hit.concepts]


def _outcome(hit: Hit) -> str:
    """The closest outcome modifier wins; a tie goes to the more decisive outcome (failed first)."""
    best = None
    for category, mod_start, mod_end in hit.modifiers:
        if category not in OUTCOMES:
            continue
        rank = (max(mod_start - hit.end, hit.start - mod_end, 0), _OUTCOME_RANK.index(category))
        if best is None or rank < best[0]:
            best = (rank, OUTCOMES[category])
    return best[1] if best else "unknown"


def _chunks(text: str, limit: int) -> Iterator[tuple[int, str]]:
    """Cut notes at line breaks (else sentence ends, else spaces) into pieces of about `limit` chars.

    ConText works within sentences, so cutting between lines changes nothing but the cost."""
    position = 0
    while len(text) - position > limit:
        window_end = position + limit
        cut = _last_line_start(text, position, window_end)
        if cut <= position:
            cut = text.rfind(". ", position, window_end) + 2
        if cut <= position + 1:
            cut = text.rfind(" ", position, window_end) + 1
        if cut <= position:
            cut = window_end
        yield position, text[position:cut]
        position = cut
    yield position, text[position:]


def _last_line_start(text: str, start: int, end: int) -> int:
    """The last line start in text[start:end] that is not a wrapped, lower-case continuation."""
    cut = text.rfind("\n", start, end)
    while cut >= start:
        following = text[cut + 1:cut + 2]
        if not following.islower():
            return cut + 1
        cut = text.rfind("\n", start, cut)
    return -1


def build_extraction(text: str, found: list[Found]) -> dict:
    """Pure: mentions + the note text -> the contract dict."""
    found = sorted(found, key=lambda f: (f.start, f.end, f.concept))
    durations = Durations(find_durations(text))
    boundaries = sorted({f.start for f in found})
    treatment_weeks = _treatment_durations(text, found, durations, boundaries)
    extraction: dict = {name: [] for name in LIST_FOR_CATEGORY.values()}
    for item in found:
        mention = _mention_dict(text, item)
        if item.category == "treatment":
            duration = treatment_weeks.get((item.start, item.end))
            mention |= {"outcome": item.outcome, "duration_weeks": duration.weeks if duration else None}
        extraction[LIST_FOR_CATEGORY[item.category]].append(mention)
    chief = find_chief_complaint(text) or _fallback_chief_complaint(text, found)
    symptom_duration = _symptom_duration(text, found, durations, boundaries)
    extraction |= {
        "chief_complaint": chief[0] if chief else "",
        "chief_complaint_span": chief[1] if chief else None,
        "symptom_duration": symptom_duration.as_dict() if symptom_duration else None,
        "severity_scores": [m.as_dict(text) for m in find_measurements(text)],
    }
    extraction["extraction_confidence"] = extraction_confidence(extraction)
    return extraction


def _mention_dict(text: str, item: Found) -> dict:
    return {"concept": item.concept, "category": item.category, "text": text[item.start:item.end],
            "start": item.start, "end": item.end, "negated": item.negated, "historical": item.historical,
            "hypothetical": item.hypothetical, "family": item.family}


def _slots(items: list[Found]) -> list[tuple[int, int]]:
    return sorted({(f.start, f.end) for f in items})


def _treatment_durations(text: str, found: list[Found], durations: Durations,
                         boundaries: list[int]) -> dict[tuple[int, int], Duration]:
    slots = _slots([f for f in found if f.category == "treatment"])
    attached = {}
    for chain in chains(text, slots):
        duration = duration_for_chain(text, slots[chain[0]][0], slots[chain[-1]][1], durations, boundaries)
        if duration:
            attached.update({slots[i]: duration for i in chain})
    return attached


def _symptom_duration(text: str, found: list[Found], durations: Durations,
                      boundaries: list[int]) -> Duration | None:
    """The earliest duration tied to a current symptom or condition, one with weeks preferred."""
    present = [f for f in found if f.category in ("symptom", "condition") and not (f.negated or f.family)]
    slots = _slots(present)
    candidates = onset_durations(text) + history_durations(text, durations.items)
    for chain in chains(text, slots):
        duration = duration_for_chain(text, slots[chain[0]][0], slots[chain[-1]][1], durations, boundaries)
        if duration:
            candidates.append(duration)
    if not candidates:
        return None
    return min(candidates, key=lambda d: (d.weeks is None, d.start))


def _fallback_chief_complaint(text: str, found: list[Found]) -> tuple[str, list[int]] | None:
    """The first symptom or condition of the first sentence, else of the note."""
    present = [f for f in found if f.category in ("symptom", "condition") and not f.negated]
    if not present:
        return None
    first_start = len(text) - len(text.lstrip())
    end_match = _FIRST_SENTENCE_END.search(text, first_start)
    first_end = end_match.end() if end_match else len(text)
    in_first = [f for f in present if f.start < first_end]
    chosen = (in_first or present)[0]
    return text[chosen.start:chosen.end], [chosen.start, chosen.end]


def extraction_confidence(extraction: dict) -> int:
    """Share of the 7 expected elements found (age alone is not a severity score)."""
    def asserted(name: str) -> bool:
        return any(not (m["negated"] or m["hypothetical"] or m["family"]) for m in extraction[name])

    elements = (
        bool(extraction["chief_complaint"]),
        asserted("symptoms"),
        extraction["symptom_duration"] is not None,
        any(m["name"] != "age" for m in extraction["severity_scores"]),
        asserted("prior_treatments"),
        asserted("imaging_findings"),
        asserted("functional_limitations"),
    )
    return round(100 * sum(elements) / EXPECTED_ELEMENTS)
