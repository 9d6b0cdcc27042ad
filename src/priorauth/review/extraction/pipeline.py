"""Builds the medspaCy pipeline once: regex tokenizer -> TargetMatcher (concepts) -> ConText."""
from __future__ import annotations

import re
from typing import Iterable, NamedTuple

import medspacy  # noqa: F401  (registers the medspacy_* spaCy factories)
import spacy
from medspacy.target_matcher import TargetRule
from spacy.tokens import Doc

from .concepts import Concept
from .context_rules import default_rules, pa_rules
from .tokenizer import RegexTokenizer

TARGETS = "priorauth_concepts"
# Short capital acronyms ("PT", "OA", "ADLs") match case-sensitively: "pt" means patient.
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9]{1,2}s?$")


def silence_library_logs() -> None:
    """PyRuSH logs DEBUG lines through loguru; nothing of ours should reach the service logs."""
    try:
        from loguru import logger
    except ImportError:  # loguru only comes with PyRuSH
        return
    for name in ("PyRuSH", "medspacy"):
        logger.disable(name)


class Pipeline:
    """medspaCy's TargetMatcher and ConText, called directly so ConText gets the targets as a plain list
    (iterating a SpanGroup re-creates every Span on each pass of ConText's target x modifier loop)."""

    def __init__(self, concepts: Iterable[Concept]):
        silence_library_logs()
        self.nlp = spacy.blank("en")
        self.nlp.tokenizer = RegexTokenizer(self.nlp.vocab)  # first: the matchers tokenize phrases with it
        self.matcher = self.nlp.add_pipe("medspacy_target_matcher", config={"result_type": None})
        rules = target_rules(concepts, self.nlp.tokenizer)
        self.meanings = {rule.category: rule.metadata["concepts"] for rule in rules}
        self.matcher.add(rules)
        self.context = self.nlp.add_pipe("medspacy_context", config={
            "rules": None, "prune_on_target_overlap": True, "span_attrs": None,
        })
        self.context.add(default_rules())
        self.context.add(pa_rules())
        if not Doc.has_extension(TARGETS):
            Doc.set_extension(TARGETS, default=None)

    def __call__(self, text: str) -> list[Hit]:
        """Concept matches in `text` with the ConText modifiers that reach each of them."""
        doc = self.nlp.tokenizer(text)
        spans = self.matcher(doc)
        doc._.set(TARGETS, spans)
        self.context(doc, targets=TARGETS)
        reached: dict[tuple[int, int], list[tuple[str, int, int]]] = {}
        for target, modifier in doc._.context_graph.edges:
            reached.setdefault((target.start, target.end), []).append((modifier.category, *modifier.modifier_span))
        return [Hit(span.start_char, span.end_char, span.start, span.end, self.meanings[span.label_],
                    tuple(reached.get((span.start, span.end), ()))) for span in spans]


class Hit(NamedTuple):
    start_char: int
    end_char: int
    start: int  # token indices, to measure distances to modifiers
    end: int
    concepts: tuple[tuple[str, str], ...]  # (concept id, category)
    modifiers: tuple[tuple[str, int, int], ...]  # (category, token start, token end)


def target_rules(concepts: Iterable[Concept], tokenize) -> list[TargetRule]:
    """One rule per distinct token sequence; its metadata lists every (concept id, category) it means."""
    meanings: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for concept in concepts:
        for pattern in concept.patterns:
            for variant in phrase_variants(pattern):
                key = _token_key(variant, tokenize)
                if not key:
                    continue
                owners = meanings.setdefault(key, [])
                if (concept.id, concept.category) not in owners:
                    owners.append((concept.id, concept.category))
    rules = [_rule(f"C{index}", key, tuple(owners)) for index, (key, owners) in enumerate(meanings.items())]
    if not any(isinstance(rule.pattern, list) for rule in rules):
        # spaCy warns on every call of an empty token Matcher; this pattern never matches (no token is empty).
        rules.append(TargetRule("(never)", "C-none", pattern=[{"LENGTH": 0}], metadata={"concepts": ()}))
    return rules


def phrase_variants(pattern: str) -> list[str]:
    """The phrase, its simple plural or singular, and a spaced form of hyphenated words."""
    phrase = " ".join(str(pattern).split())
    if not phrase:
        return []
    variants = [phrase]
    head, _, last = phrase.rpartition(" ")
    other = _other_number(last)
    if other:
        variants.append(f"{head} {other}".strip())
    if "-" in phrase:
        variants += [v.replace("-", " ") for v in variants]
    return variants


def _other_number(word: str) -> str | None:
    if _ACRONYM.match(word):
        return word[:-1] if word.endswith("s") else word + "s"
    if not word.isalpha() or len(word) < 3:
        return None
    lower = word.lower()
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
        return word[:-1]
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if lower.endswith("y") and lower[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _token_key(phrase: str, tokenize) -> tuple[str, ...]:
    words = [token.text for token in tokenize(phrase) if not token.is_space]
    return tuple(w if _ACRONYM.match(w) else w.lower() for w in words)


def _rule(label: str, key: tuple[str, ...], owners: tuple[tuple[str, str], ...]) -> TargetRule:
    """The label is unique per rule, so a matched span leads back to its concepts without `span._`."""
    literal = " ".join(key)
    metadata = {"concepts": owners}
    if not any(_ACRONYM.match(word) for word in key):
        return TargetRule(literal, label, metadata=metadata)
    pattern = [{"ORTH": w} if _ACRONYM.match(w) else {"LOWER": w} for w in key]
    return TargetRule(literal, label, pattern=pattern, metadata=metadata)
