"""ConText rules: medspaCy's defaults (expanded to phrases) plus prior-authorization rules.

Treatment outcomes are modifiers of their own categories. They never set negation: when a phrase such
as "no relief from" overlaps a default trigger ("no"), ConText keeps only the longer modifier, so
"No relief from 6 weeks of NSAIDs" is a documented failure instead of a negated NSAID.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import medspacy.context.context as medspacy_context
from medspacy.context import ConTextRule

NEGATED = "NEGATED_EXISTENCE"
HISTORICAL = "HISTORICAL"
HYPOTHETICAL = "HYPOTHETICAL"
FAMILY = "FAMILY"

# Outcome categories, in the order that breaks a tie between two equally close modifiers.
OUTCOMES = {
    "TX_FAILED": "failed",
    "TX_INTOLERANT": "intolerant",
    "TX_CONTRAINDICATED": "contraindicated",
    "TX_ONGOING": "ongoing",
    "TX_COMPLETED": "completed",
}
_AUX = ("", "was ", "were ", "is ", "are ", "has been ", "have been ", "had been ")

# category -> direction -> phrases. FORWARD phrases precede the treatment ("failed NSAIDs"), BACKWARD ones
# follow it ("PT without relief"), BIDIRECTIONAL ones may do either ("NSAIDs failed" / "failed NSAIDs").
_OUTCOME_PHRASES = {
    "TX_FAILED": {
        "FORWARD": [
            "no relief from", "no relief with", "no relief after", "no relief on", "no significant relief from",
            "no improvement with", "no improvement from", "no improvement after", "no improvement on",
            "no benefit from", "no benefit with", "no response to", "minimal relief from", "minimal relief with",
            "minimal improvement with", "little relief from", "little improvement with", "limited relief from",
            "limited benefit from", "temporary relief from", "temporary relief with", "transient relief from",
            "inadequate relief from", "inadequate response to", "inadequate response with", "insufficient response to",
            "suboptimal response to", "poor response to", "failure of", "failed trial of", "failed to respond to",
            "did not respond to", "has not responded to", "have not responded to", "not responded to",
            "unresponsive to", "refractory to", "resistant to", "persistent despite", "persists despite",
            "persisting despite", "despite", "in spite of", "tried and failed", "not relieved by", "not relieved with",
            "not improved with", "not improved by", "not helped by", "denies relief from", "denies any relief from",
            "denies improvement with", "unsuccessful trial of", "without relief from", "without relief with",
            "without improvement from", "without improvement with", "without benefit from",
        ],
        "BACKWARD": [
            "without relief", "without improvement", "without benefit", "without significant relief",
            "without significant improvement", "without lasting relief", "without sustained relief",
            "with no relief", "with no improvement", "with no benefit", "with minimal relief",
            "with minimal improvement", "with minimal benefit", "with little relief", "with little improvement",
            "with temporary relief", "with only temporary relief", "with transient relief", "no relief",
            "no improvement", "no benefit", "minimal relief", "minimal improvement", "only temporary relief",
            "temporary relief", "short-term relief", "transient relief", "short-lived relief", "provided only",
            "provided minimal", "provided little", "provided no relief", "gave no relief", "did not help",
            "did not improve", "has not helped", "have not helped", "not helpful", "not effective",
            "not relieved", "not improved", "discontinued due to lack of", "stopped due to lack of",
            "discontinued due to ineffectiveness",
        ],
        "BIDIRECTIONAL": ["failed", "ineffective", "unsuccessful", "not successful"],
    },
    "TX_INTOLERANT": {
        "FORWARD": [
            "intolerant of", "intolerant to", "intolerance to", "intolerance of", "could not tolerate",
            "unable to tolerate", "did not tolerate", "cannot tolerate", "can not tolerate", "can't tolerate",
            "couldn't tolerate", "didn't tolerate", "adverse reaction to", "side effects from", "side effects with",
            "side effects of", "GI upset from", "GI upset with",
        ],
        "BACKWARD": [
            "not tolerated", "poorly tolerated", "caused GI upset", "stopped due to", "discontinued due to",
            "discontinued because of", "stopped because of",
        ],
        "BIDIRECTIONAL": [
            "GI upset", "side effects", "side effect", "adverse effects", "adverse reaction", "intolerance",
            "intolerant",
        ],
    },
    "TX_CONTRAINDICATED": {
        "FORWARD": ["allergic to", "allergy to", "allergies to", "not a candidate for", "not candidate for"],
        "BACKWARD": [],
        "BIDIRECTIONAL": ["contraindicated", "contraindication", "contraindications", "allergy"],
    },
    "TX_ONGOING": {
        "FORWARD": [
            "currently on", "currently taking", "currently using", "currently receiving", "currently in",
            "currently doing", "currently undergoing", "currently", "continues on", "continue",
            "continuing", "will continue", "still taking", "still on", "remains on", "maintained on",
        ],
        "BACKWARD": ["ongoing", "is continuing"],
        "BIDIRECTIONAL": ["continues"],  # "continues PT" / "home exercise program continues"
    },
    "TX_COMPLETED": {
        "FORWARD": ["completed a course of", "has completed", "finished", "underwent", "s/p", "status post"],
        "BACKWARD": [],
        "BIDIRECTIONAL": ["completed"],
    },
}

# "did not get any relief from", "never experienced significant improvement with", ... (too many to list
# as phrases; also keeps ConText's token Matcher non-empty, which spaCy would otherwise warn about).
_NO_RELIEF_PATTERN = [
    {"LOWER": {"IN": ["not", "never", "t"]}},
    {"LOWER": {"IN": ["get", "got", "gotten", "have", "had", "experience", "experienced", "obtain", "obtained",
                      "achieve", "achieved", "report", "reported", "notice", "noticed", "find", "found"]}},
    {"LOWER": {"IN": ["any", "much", "significant", "lasting", "meaningful", "adequate", "sustained", "real"]},
     "OP": "?"},
    {"LOWER": {"IN": ["relief", "improvement", "benefit"]}},
    {"LOWER": {"IN": ["from", "with", "after", "on"]}, "OP": "?"},
]

# Generic verbs that imply ongoing use, kept to a short window so they do not reach across a sentence.
_NEAR_ONGOING = ["taking", "takes", "uses", "using"]

_HYPOTHETICAL_PHRASES = [
    "will start", "will begin", "will initiate", "will try", "plan to", "planned", "plan :", "recommend",
    "recommended", "recommends", "consider", "considering", "scheduled for", "candidate for", "proceed with",
    "wishes to proceed with", "requesting", "request authorization for", "to undergo",
]

# Phrases that must not trigger a default modifier: they win over it by being longer.
_PSEUDO_PHRASES = [
    "history of present illness", "history of the present illness", "history :", "clinical history",
    "brief history", "long history of", "longstanding history of", "long-standing history of",
    "continues to have", "continues to experience", "continues to report", "continues to complain",
    "continue to have", "no change in", "not only", "no longer able to",
]
# "since" is a default terminator (as in "because"); in notes it nearly always starts a date ("PT since 2024").
_DROPPED_DEFAULTS = {"since"}
_DURATION_UNITS = ["day", "week", "month", "year", "yr", "wk", "mo"]


def pa_rules() -> list[ConTextRule]:
    """Prior-authorization rules: treatment outcomes, plans, and pseudo-triggers."""
    rules = []
    for category, by_direction in _OUTCOME_PHRASES.items():
        for direction, phrases in by_direction.items():
            rules += [ConTextRule(p, category, direction=direction, terminated_by=_stops(category))
                      for p in _with_auxiliaries(phrases)]
    rules += [ConTextRule(p, "TX_ONGOING", direction="FORWARD", max_scope=6, terminated_by=_stops("TX_ONGOING"))
              for p in _NEAR_ONGOING]
    rules.append(ConTextRule("did not get relief", "TX_FAILED", pattern=_NO_RELIEF_PATTERN,
                             direction="BIDIRECTIONAL", terminated_by=_stops("TX_FAILED")))
    rules += [ConTextRule(p, HYPOTHETICAL, direction="FORWARD") for p in _HYPOTHETICAL_PHRASES]
    rules += [ConTextRule(p, "PSEUDO", direction="PSEUDO") for p in _PSEUDO_PHRASES + _duration_histories()]
    return rules


def _stops(category: str) -> set[str]:
    """An outcome's scope ends at another outcome or a plan: "failed NSAIDs, currently on PT"."""
    return (set(OUTCOMES) - {category}) | {HYPOTHETICAL}


def _with_auxiliaries(phrases: list[str]) -> list[str]:
    """'not effective' also as 'was not effective', so the default 'was not' cannot out-length it."""
    out = []
    for phrase in phrases:
        out += [aux + phrase for aux in _AUX] if phrase.startswith(("not ", "poorly ")) else [phrase]
    return out


def _duration_histories() -> list[str]:
    """'3-year history of knee pain' describes a current chronic problem, not a past one."""
    return [f"{unit}{plural} history of" for unit in _DURATION_UNITS for plural in ("", "s")]


def default_rules() -> list[ConTextRule]:
    """medspaCy's default ConText rules, with token patterns expanded into literal phrases.

    spaCy's token Matcher evaluates `IN` predicates on every token (~4 ms per note here); the
    PhraseMatcher does the same work in a fraction of that."""
    path = Path(medspacy_context.__file__).resolve().parents[2] / "resources" / "en" / "context_rules.json"
    rules = []
    for rule in ConTextRule.from_json(str(path)):
        phrases = _expand(rule.pattern) if isinstance(rule.pattern, list) else None
        if phrases is None:
            rules.append(rule)
            continue
        for phrase in phrases:
            if phrase in _DROPPED_DEFAULTS:
                continue
            rules.append(ConTextRule(phrase, rule.category, direction=rule.direction,
                                     terminated_by=rule.terminated_by, max_scope=rule.max_scope,
                                     allowed_types=rule.allowed_types, excluded_types=rule.excluded_types))
    return rules


def _expand(pattern: list[dict]) -> list[str] | None:
    """All phrases a LOWER-only token pattern can match, or None when it uses anything else."""
    choices = []
    for token in pattern:
        if set(token) - {"LOWER", "OP"} or token.get("OP", "?") != "?":
            return None
        value = token["LOWER"]
        words = value["IN"] if isinstance(value, dict) and set(value) == {"IN"} else value
        if not isinstance(words, (list, str)):
            return None
        options = [words] if isinstance(words, str) else list(words)
        choices.append(options + [""] if "OP" in token else options)
    phrases = {_join(parts) for parts in itertools.product(*choices)}
    phrases.discard("")
    return sorted(phrases) if len(phrases) <= 2000 else None


def _join(parts: tuple[str, ...]) -> str:
    """Join tokens as they are written: "didn't", "mother's"."""
    text = ""
    for part in parts:
        if not part:
            continue
        glue = "" if part.startswith(("'", "n'")) or not text else " "
        text += glue + part
    return text
