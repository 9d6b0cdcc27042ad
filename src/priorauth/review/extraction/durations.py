"""Durations ("6 weeks of NSAIDs", "PT for 3 months", "x 12 weeks", "3-year history of") and how they
attach to the concept mentions around them."""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import NamedTuple

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "eighteen": 18, "twenty": 20,
    "twenty-four": 24, "thirty": 30,
}
_WEEKS_PER_UNIT = {"d": 1 / 7, "w": 1.0, "m": 4.345, "y": 52.18}
_NUMBER = r"\d+(?:\.\d+)?|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"

_DURATION = re.compile(
    rf"(?:(?<![\w.])|(?<=[xX]))(?P<n>{_NUMBER})(?:\s*+(?:-|–|to)\s*+(?:{_NUMBER}))?\s*+-?\s*+"
    r"(?P<unit>days?|weeks?|wks?|months?|mos?|years?|yrs?)\b(?![\s-]*old\b)",
    re.IGNORECASE,
)
_SINCE = re.compile(
    rf"\bsince\s+(?:(?:early|late|mid|(?:the\s+)?(?:beginning|start|end)\s+of|{_MONTHS})[\s-]+)?(?:19|20)\d\d\b",
    re.IGNORECASE,
)
# Between a mention (or a list of them) and a following duration: at most a dose or a frequency
# ("800 mg TID", "2x/week"), then "for", "x", "over the past", ... or nothing at all.
_DOSE_OR_FREQUENCY = (  # possessive: no backtracking into it
    r"(?:[\s,()\-–:/%]|\d++(?:\.\d++)?x?|(?:mg|mcg|g|ml|units?|tabs?|tablets?|po|bid|tid|qid|qd|qhs|prn|daily|"
    r"nightly|weekly|twice|once|times|a|per|day|week|wk|sessions?|visits?)\b)*+"
)
_FOLLOWING_GAP = re.compile(
    rf"^{_DOSE_OR_FREQUENCY}(?:(?<![^\s(,\-–])(?:for|x|×|over|during|lasting|within)"
    r"(?:\s+(?:the|a|an|about|approximately|approx\.?|at\s+least|more\s+than|greater\s+than|over|nearly|almost|"
    r"roughly|past|last|previous|prior|total\s+of|>|≥|~))*[\s(]*)?$",
    re.IGNORECASE,
)
# Between a preceding duration and its mention: "6 weeks of", "12-week course of", "3 months of daily".
_PRECEDING_GAP = re.compile(
    r"^[\s\-–]*(?:(?:of|on|with|a|an|the|daily|formal|supervised|outpatient|consecutive|continuous|regular|trial|"
    r"course|program|regimen|period|sessions?|treatment|therapy|use|history|hx)\s+)*$",
    re.IGNORECASE,
)
_COORDINATION = re.compile(r"^[\s,/&+()]*(?:(?:and|or|plus|as\s+well\s+as)[\s,/&+()]*)?$", re.IGNORECASE)
_ONSET = re.compile(
    r"\b(?:onset|began|begun|started|starting|beginning|developed|first\s+noted)\b[^.;\n]{0,30}?"
    rf"(?P<duration>(?<![\w.])(?:{_NUMBER})\s*+-?\s*+(?:days?|weeks?|wks?|months?|mos?|years?|yrs?))\s+ago\b",
    re.IGNORECASE,
)
_HISTORY_OF = re.compile(r"[\s\-–]*(?:history|hx)\s+of\b", re.IGNORECASE)  # used with match(text, pos)
_MAX_GAP = 40


class Duration(NamedTuple):
    text: str
    weeks: float | None
    start: int
    end: int

    def as_dict(self) -> dict:
        return {"text": self.text, "weeks": self.weeks, "start": self.start, "end": self.end}


def find_durations(text: str) -> list[Duration]:
    found = [_from_match(text, m) for m in _DURATION.finditer(text)]
    found += [Duration(m.group(), None, m.start(), m.end()) for m in _SINCE.finditer(text)]
    return sorted(found, key=lambda d: d.start)


def _from_match(text: str, match: re.Match) -> Duration:
    number = match.group("n").lower()
    value = float(_NUMBER_WORDS[number]) if number in _NUMBER_WORDS else float(number)
    weeks = round(value * _WEEKS_PER_UNIT[match.group("unit")[0].lower()], 2)
    return Duration(text[match.start():match.end()], weeks, match.start(), match.end())


def onset_durations(text: str) -> list[Duration]:
    """'symptoms began 6 months ago'."""
    out = []
    for match in _ONSET.finditer(text):
        inner = _DURATION.search(text, match.start("duration"), match.end("duration"))
        if inner:
            out.append(_from_match(text, inner))
    return out


def history_durations(text: str, durations: list[Duration]) -> list[Duration]:
    """'3-year history of ...': a symptom duration even when the words after it are not a known concept."""
    return [d for d in durations if d.weeks is not None and _HISTORY_OF.match(text, d.end)]


def chains(text: str, slots: list[tuple[int, int]]) -> list[list[int]]:
    """Group slots (sorted, non-overlapping spans) joined only by 'and', ',', '/', 'or' into lists."""
    groups: list[list[int]] = []
    for index, (start, _) in enumerate(slots):
        if groups and _COORDINATION.match(text[slots[groups[-1][-1]][1]:start]):
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


class Durations:
    """Durations sorted by start, found by position in O(log n) (long notes hold thousands)."""

    def __init__(self, items: list[Duration]):
        self.items = sorted(items, key=lambda d: d.start)
        self._starts = [d.start for d in self.items]

    def starting_between(self, low: int, high: int) -> list[Duration]:
        return self.items[bisect_left(self._starts, low):bisect_right(self._starts, high)]


def duration_for_chain(text: str, chain_start: int, chain_end: int, durations: Durations,
                       boundaries: list[int]) -> Duration | None:
    """The duration written right before ("6 weeks of X") or right after ("X for 6 weeks") a list.

    `boundaries` are the sorted starts of all mentions: a duration never attaches across one."""
    nearby = durations.starting_between(chain_start - 2 * _MAX_GAP, chain_start)
    before = [d for d in nearby if chain_start - _MAX_GAP <= d.end <= chain_start]
    for duration in reversed(before):
        if not _mention_between(boundaries, duration.end, chain_start) and \
                _PRECEDING_GAP.match(text[duration.end:chain_start]):
            return duration
    for duration in durations.starting_between(chain_end, chain_end + _MAX_GAP):
        gap = text[chain_end:duration.start]
        if _mention_between(boundaries, chain_end, duration.start) or any(c in gap for c in ".;\n"):
            continue
        if _FOLLOWING_GAP.match(gap):
            return duration
    return None


def _mention_between(boundaries: list[int], start: int, end: int) -> bool:
    index = bisect_left(boundaries, start)
    return index < len(boundaries) and boundaries[index] < end
