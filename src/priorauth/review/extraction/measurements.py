"""Severity scores and measurements by regular expression, with their spans.

Names are the contract's fixed set. A written range ("KL grade 3-4", "2-3 seizures per week") keeps
its lower bound, the value a reviewer can rely on."""
from __future__ import annotations

import re
from typing import Callable, Iterator, NamedTuple

_I = re.IGNORECASE
_DECIMAL = r"\d{1,4}(?:\.\d+)?"
_FILLER_WORDS = (
    "score|scores|level|value|index|result|reading|measured|measuring|measures|measurement|count|noted|recorded|"
    "documented|of|is|was|were|are|has\\s+been|now|today|recent|recently|most\\s+recent|latest|baseline|"
    "currently|at|approximately|approx|about|around|calculated|reported|on\\s+\\d{1,2}/\\d{1,2}(?:/\\d{2,4})?"
)
# What may sit between a name and its value: "BMI of", "HbA1c (03/2025):", "AHI was >".
_FILL = rf"(?:\s*+(?:\([^()\n]{{0,24}}\)|(?:{_FILLER_WORDS})\b\.?|[=:~\-–<>≤≥]))*+\s*+"
_RANGE_TAIL = r"(?:\s*+(?:-|–|to)\s*+\d+(?:\.\d+)?)?"
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "a": 1}
_PER_MONTH = {"d": 30.44, "w": 4.345, "m": 1.0, "y": 1 / 12, "a": 1 / 12}
_SENTENCE_END = re.compile(r"[.!?](?=\s)|[\n;]")
_PAP_CONTEXT = re.compile(r"CPAP|BiPAP|BPAP|APAP|\bPAP\b|adheren|complian|\busage\b|\buse\b|\bused\b|\buses\b", _I)

_QUALIFIERS = (
    ("rest", re.compile(r"\bat\s+rest\b|\bresting\b|\brest\b", _I)),
    ("exercise", re.compile(r"exert|exercis|ambulat|walk|6MWT|six[\s-]minute|activity|treadmill|stairs", _I)),
    ("sleep", re.compile(r"sleep|nocturnal|overnight|during\s+the\s+night|\bnight", _I)),
)


class Measurement(NamedTuple):
    name: str
    value: float
    unit: str | None
    start: int
    end: int
    qualifier: str | None = None

    def as_dict(self, text: str) -> dict:
        return {"name": self.name, "value": self.value, "unit": self.unit, "text": text[self.start:self.end],
                "start": self.start, "end": self.end, "qualifier": self.qualifier}


class _Spec(NamedTuple):
    name: str
    pattern: re.Pattern
    unit: str | None
    low: float
    high: float
    convert: Callable[[re.Match], tuple[float, str | None] | None] | None = None
    qualified: bool = False
    needs_pap_context: bool = False


def _named(names: str, value: str = _DECIMAL, tail: str = "", flags: int = _I) -> re.Pattern:
    return re.compile(rf"(?:{names}){_FILL}(?P<value>{value})(?!\.?\d){_RANGE_TAIL}{tail}", flags)


def _kl_value(match: re.Match) -> tuple[float, str | None]:
    raw = match.group("value").lower()
    return float(_ROMAN.get(raw, raw)), None


def _odi_unit(match: re.Match) -> tuple[float, str | None]:
    percent = "%" in match.group() or "oswestry" in match.group().lower()
    return float(match.group("value")), "%" if percent else "events/hour"


def _eosinophil_value(match: re.Match) -> tuple[float, str | None] | None:
    value = float(match.group("value").replace(",", ""))
    unit = (match.group("eunit") or "").lower().replace(" ", "")
    if "%" in unit:
        return None  # a differential percentage, not a count
    if "10" in unit or unit.startswith("k"):
        value *= 1000  # x10^9/L and K/uL
    elif not unit and value < 20:
        return None  # bare small number: unit unknown
    return value, "cells/uL"


def _seizure_rate(match: re.Match) -> tuple[float, str | None]:
    number = match.group("value").lower()
    count = float(_NUMBER_WORDS.get(number, number)) if number in _NUMBER_WORDS else float(number)
    period = match.group("period").lower()
    return round(count * _PER_MONTH[period[0]], 1), "per month"


def _nodule_size(match: re.Match) -> tuple[float, str | None]:
    sizes = [float(match.group(g)) for g in ("a", "b", "c") if match.group(g)]
    scale = 10.0 if match.group("unit").lower() == "cm" else 1.0
    return round(max(sizes) * scale, 1), "mm"


_NODULE = r"(?:nodules?|mass(?:es)?|lesions?)\b"
_SIZE = (r"(?P<a>\d+(?:\.\d+)?)(?:\s*+(?:x|×|by)\s*+(?P<b>\d+(?:\.\d+)?))?"
         r"(?:\s*+(?:x|×|by)\s*+(?P<c>\d+(?:\.\d+)?))?\s*+-?\s*+(?P<unit>mm|cm)\b")
_PERIOD = r"(?P<period>day|week|wk|month|mo|year|yr)\b"
_SEIZURE_COUNT = r"\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten"
_EOS_UNIT = (r"(?P<eunit>\s*+(?:cells\s*+/\s*+(?:u|µ|μ|mc)?L|cells\s*+/\s*+mm3|/\s*+(?:u|µ|μ|mc)L|/\s*+mm3|"
             r"(?:x|×)\s*+10\^?9\s*+/\s*+L|K\s*+/\s*+(?:u|µ|μ|mc)L|%))?")

_SPECS: tuple[_Spec, ...] = (
    _Spec("kl_grade", re.compile(
        r"(?:Kellgren[\s-]*(?:and[\s-]*|&\s*+)?Lawrence|\bK-?L(?![a-z]))(?:\s*+\(\s*+KL\s*+\))?"
        r"(?:\s*+(?:grade|gr\.?|score|classification|stage|of|is|was|=|:|-))*\s*+"
        r"(?P<value>IV|III|II|I|[0-4])(?:\s*+(?:-|–|to|/)\s*+(?:IV|III|II|I|[0-4]))?(?![\w.])", _I),
        None, 0, 4, _kl_value),
    _Spec("kl_grade", re.compile(
        r"\bgrade\s*+(?P<value>IV|III|II|I|[0-4])\s*+(?:\(\s*+)?"
        r"(?:Kellgren[\s-]*(?:and[\s-]*|&\s*+)?Lawrence|K-?L\b)\)?", _I), None, 0, 4, _kl_value),
    _Spec("ahi", _named(r"\bAHI\b|apnea[\s-]+hypopnea\s+index",
                        tail=r"(?:\s*+(?:events?\s*+)?(?:/|per)\s*+(?:hour|hr|h)\b)?"), "events/hour", 0, 200),
    _Spec("rdi", _named(r"\bRDI\b|respiratory\s+disturbance\s+index",
                        tail=r"(?:\s*+(?:events?\s*+)?(?:/|per)\s*+(?:hour|hr|h)\b)?"), "events/hour", 0, 200),
    _Spec("odi", _named(r"\bODI\b|oxygen\s+desaturation\s+index|Oswestry(?:\s+Disability\s+Index)?",
                        tail=r"(?:\s*+%|\s*+(?:events?\s*+)?(?:/|per)\s*+(?:hour|hr|h)\b)?"), None, 0, 200, _odi_unit),
    _Spec("bmi", _named(r"\bBMI\b|body\s+mass\s+index", value=r"\d{2}(?:\.\d+)?",
                        tail=r"(?:\s*+kg\s*+/\s*+m(?:2|²|\^2))?"), "kg/m2", 10, 100),
    _Spec("hba1c", _named(r"\b(?:h(?:a?emoglobin|gb|b)\s*+A1c|A1c\b|glyc(?:ated|osylated)\s+ha?emoglobin)",
                          value=r"\d{1,2}(?:\.\d+)?", tail=r"(?:\s*+%)?"), "%", 3, 20),
    _Spec("spo2", _named(r"(?:\bSpO2|\bSaO2|\bO2\s*+sat(?:uration)?s?\b|oxygen\s+saturation|\bsats?\b|"
                         r"pulse\s+ox(?:imetry)?)"
                         r"(?:\s+(?:nadir|lowest|average|mean|resting|dropped\s+to|drops\s+to|fell\s+to|"
                         r"decreased\s+to|declined\s+to|on\s+room\s+air|on\s+RA|to))*",
                         value=r"\d{2,3}(?:\.\d)?", tail=r"\s*+%"), "%", 50, 100, None, True),
    _Spec("spo2", re.compile(r"\bdesaturat\w*\s+(?:\w+\s+){0,2}?(?:to|down\s+to|as\s+low\s+as)\s+"
                             r"(?P<value>\d{2,3}(?:\.\d)?)\s*+%", _I), "%", 50, 100, None, True),
    _Spec("pao2", _named(r"\bPaO2|\bpO2\b|arterial\s+(?:oxygen|O2)\s+(?:tension|pressure|partial\s+pressure)",
                         value=r"\d{2,3}(?:\.\d+)?", tail=r"(?:\s*+mm\s*+Hg)?"), "mmHg", 20, 700, None, True),
    _Spec("hematocrit", _named(r"hematocrit|haematocrit|\bHct\b", value=r"\d{2}(?:\.\d+)?", tail=r"(?:\s*+%)?"),
          "%", 10, 80),
    _Spec("fev1_percent", re.compile(r"\bFEV1\b[^;\n%]{0,30}?(?<![\d.])(?P<value>\d{1,3}(?:\.\d+)?)\s*+%\s*+(?:of\s+)?"
                                     r"(?:the\s+)?pred(?:icted|\.)?", _I), "% predicted", 5, 200),
    _Spec("fev1_percent", re.compile(r"\bFEV1\s*+%\s*+(?:predicted|pred\.?)?" + _FILL +
                                     r"(?P<value>\d{1,3}(?:\.\d+)?)(?:\s*+%)?", _I), "% predicted", 5, 200),
    _Spec("fev1_percent", _named(r"\bFEV1\b", value=r"\d{1,3}(?:\.\d+)?", tail=r"\s*+%"), "% predicted", 5, 200),
    _Spec("easi", _named(r"\bEASI\b(?:\s*+score)?", value=r"\d{1,2}(?:\.\d+)?"), None, 0, 72),
    _Spec("iga", re.compile(r"(?:(?-i:\bv?IGA\b)(?:[\s-]*AD)?|Investigator'?s?\s+Global\s+Assessment)"
                            + _FILL + r"(?P<value>[0-4])(?![\d.]|\s*+(?:mg|g/|%))", _I), None, 0, 4),
    _Spec("bsa_percent", _named(r"\bBSA\b|body\s+surface\s+area(?:\s+(?:involvement|involved|affected))?",
                                value=r"\d{1,3}(?:\.\d+)?", tail=r"\s*+%"), "%", 0, 100),
    _Spec("bsa_percent", re.compile(r"(?P<value>\d{1,3}(?:\.\d+)?)\s*+%\s*+(?:of\s+(?:the\s+)?)?"
                                    r"(?:\bBSA\b|body\s+surface\s+area)", _I), "%", 0, 100),
    _Spec("eosinophils", re.compile(
        r"(?:absolute\s+)?(?:blood\s+)?(?:eosinophils?(?:\s+count)?|\beos\b|\bAEC\b)" + _FILL +
        r"(?P<value>\d{1,3}(?:,\d{3})+|\d{1,5}(?:\.\d+)?)" + _EOS_UNIT, _I), "cells/uL", 0, 100000,
        _eosinophil_value),
    _Spec("das28", _named(r"\bDAS\s*+-?\s*+28(?:\s*+-\s*+(?:ESR|CRP))?(?:\s*+score)?", value=r"\d{1,2}(?:\.\d+)?"),
          None, 0, 10),
    _Spec("cdai", _named(r"\bCDAI\b(?:\s*+score)?", value=r"\d{1,3}(?:\.\d+)?"), None, 0, 600),
    _Spec("seizures_per_month", re.compile(
        rf"(?<![\w.])(?P<value>{_SEIZURE_COUNT})(?:\s*+(?:-|–|to)\s*+\d+)?\s+(?:[a-z-]+\s+){{0,2}}?seizures?\s*+"
        rf"(?:per|a|/|each|every)\s*+{_PERIOD}", _I), "per month", 0, 10000, _seizure_rate),
    _Spec("seizures_per_month", re.compile(
        rf"\bseizures?\b[^.;\n\d]{{0,30}}?(?P<value>\d+(?:\.\d+)?)(?:\s*+(?:-|–|to)\s*+\d+)?\s*+(?:times\s*+|episodes\s*+)?"
        rf"(?:per|a|/|each|every)\s*+{_PERIOD}", _I), "per month", 0, 10000, _seizure_rate),
    _Spec("seizures_per_month", re.compile(
        rf"(?<![\w.])(?P<value>{_SEIZURE_COUNT})\s+(?:[a-z-]+\s+){{0,2}}?seizures?\s+"
        r"(?P<period>daily|weekly|monthly|yearly|annually)\b", _I), "per month", 0, 10000, _seizure_rate),
    _Spec("mrd_percent", re.compile(
        r"(?:\bMRD\b|minimal\s+residual\s+disease|measurable\s+residual\s+disease)(?:\s*+\(\s*+MRD\s*+\))?"
        r"[^.;\n\d]{0,30}?(?P<value>\d+(?:\.\d+)?)\s*+%", _I), "%", 0, 100),
    _Spec("cpap_hours_per_night", re.compile(
        r"(?P<value>\d{1,2}(?:\.\d+)?)\s*+(?:hours?|hrs?|h)\s*+(?:per|/|a|each|every)\s*+night", _I),
        "hours/night", 0, 24, None, False, True),
    _Spec("cpap_hours_per_night", re.compile(
        r"(?:nightly|average|mean)\s+(?:\w+\s+){0,2}?(?:use|usage)\s+(?:of\s+|was\s+|is\s+)?"
        r"(?P<value>\d{1,2}(?:\.\d+)?)\s*+(?:hours?|hrs?|h)\b", _I), "hours/night", 0, 24, None, False, True),
    _Spec("cpap_nights_percent", re.compile(
        r"(?P<value>\d{1,3}(?:\.\d+)?)\s*+%\s*+(?:of\s+)?(?:the\s+|all\s+)?nights\b", _I),
        "%", 0, 100, None, False, True),
    _Spec("pain_score", re.compile(
        r"(?:\bpain\b|\bVAS\b|\bNRS\b)(?:\s+(?:score|level|rating|intensity|scale))?[^.;\n\d]{0,25}?"
        r"(?P<value>\d{1,2}(?:\.\d)?)\s*+/\s*+10\b", _I), None, 0, 10),
    _Spec("pain_score", re.compile(
        r"(?<![\w./])(?P<value>\d{1,2}(?:\.\d)?)\s*+/\s*+10\s+(?:[a-z-]+\s+){0,2}?pain\b", _I), None, 0, 10),
    _Spec("pain_score", re.compile(
        r"\bpain\s+(?:score|level|rating)\s*+(?:of|is|was|=|:)?\s*+(?P<value>\d{1,2}(?:\.\d)?)(?![\d.]|\s*+/)", _I),
        None, 0, 10),
    _Spec("nodule_size_mm", re.compile(rf"\b{_NODULE}[^.;\n\d]{{0,30}}?{_SIZE}", _I), "mm", 0, 500, _nodule_size),
    _Spec("nodule_size_mm", re.compile(rf"(?<![\w.]){_SIZE}(?:\s*+-\s*+|\s+)(?:[a-z-]+\s+){{0,3}}?{_NODULE}", _I),
          "mm", 0, 500, _nodule_size),
)

# Cheap substring checks: a spec's regex runs only when one of its words occurs in the note.
_TRIGGERS = {
    "kl_grade": ("kellgren", "kl", "k-l"), "ahi": ("ahi", "hypopnea"), "rdi": ("rdi", "disturbance"),
    "odi": ("odi", "desaturation index", "oswestry"), "bmi": ("bmi", "body mass"),
    "hba1c": ("a1c", "glycated", "glycosylated"), "spo2": ("o2", "sat", "pulse ox"), "pao2": ("o2", "arterial"),
    "hematocrit": ("hematocrit", "haematocrit", "hct"), "fev1_percent": ("fev1",), "easi": ("easi",),
    "iga": ("iga", "global assessment"), "bsa_percent": ("bsa", "surface area"), "eosinophils": ("eos", "aec"),
    "das28": ("das",), "cdai": ("cdai",), "seizures_per_month": ("seizure",), "mrd_percent": ("mrd", "residual"),
    "cpap_hours_per_night": ("night",), "cpap_nights_percent": ("night",), "pain_score": ("pain", "vas", "nrs"),
    "nodule_size_mm": ("nodule", "mass", "lesion"),
}
_AGE_TRIGGERS = ("old", "y/o", "yo", "y.o", "age")

_AGE = (
    re.compile(r"(?<![\w.])(?P<value>\d{1,3})\s*+-?\s*+(?:years?|yrs?|y)[\s-]*+old\b", _I),
    re.compile(r"(?<![\w.])(?P<value>\d{1,3})\s*+(?:y/o|yo|y\.o\.)(?!\w)", _I),
    re.compile(r"(?:^|(?<=\n)|(?<=[.,;] ))[ \t]*(?:age|aged)\s*+:?\s*+(?P<value>\d{1,3})\b", _I),
)


def find_measurements(text: str) -> list[Measurement]:
    lowered = text.lower()
    found: list[Measurement] = []
    for spec in _SPECS:
        if not any(word in lowered for word in _TRIGGERS[spec.name]):
            continue
        for match in spec.pattern.finditer(text):
            measurement = _measure(text, spec, match)
            if measurement and not _overlaps_same_name(found, measurement):
                found.append(measurement)
    age = _first_age(text) if any(word in lowered for word in _AGE_TRIGGERS) else None
    if age:
        found.append(age)
    return sorted(found, key=lambda m: (m.start, m.name))


def _measure(text: str, spec: _Spec, match: re.Match) -> Measurement | None:
    if spec.convert:
        converted = spec.convert(match)
        if converted is None:
            return None
        value, unit = converted
    else:
        value, unit = float(match.group("value")), spec.unit
    if not spec.low <= value <= spec.high:
        return None
    if spec.needs_pap_context and not _PAP_CONTEXT.search(_sentence_before(text, match.start())):
        return None
    qualifier = _qualifier(text, match.start(), match.end()) if spec.qualified else None
    return Measurement(spec.name, value, unit, match.start(), match.end(), qualifier)


def _overlaps_same_name(found: list[Measurement], new: Measurement) -> bool:
    return any(m.name == new.name and m.start < new.end and new.start < m.end for m in found)


def _first_age(text: str) -> Measurement | None:
    """The patient's age: the first one written ("67-year-old", "67 y/o", "Age: 67")."""
    candidates = []
    for pattern in _AGE:
        match = next((m for m in pattern.finditer(text) if 0 < int(m.group("value")) <= 120), None)
        if match:
            candidates.append(Measurement("age", float(match.group("value")), "years", match.start(), match.end()))
    return min(candidates, default=None, key=lambda m: m.start)


def _sentence_before(text: str, position: int) -> str:
    window = text[max(0, position - 200):position]
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    return window[ends[-1]:] if ends else window


def _qualifier(text: str, start: int, end: int) -> str | None:
    """rest / exercise / sleep from the words closest after the value, else just before it."""
    after = re.split(r"[.;\n]|\d{2,3}\s*+%", text[end:end + 60], maxsplit=1)[0]
    before = re.split(r"[.;\n]", text[max(0, start - 40):start])[-1]
    for window, nearest in ((after, min), (before, max)):
        hits = [(m.start(), name) for name, pattern in _QUALIFIERS for m in pattern.finditer(window)]
        if hits:
            return nearest(hits)[1]
    return None


def iter_names() -> Iterator[str]:
    """Every measurement name this module can produce (the contract's fixed set)."""
    seen = set()
    for name in [spec.name for spec in _SPECS] + ["age"]:
        if name not in seen:
            seen.add(name)
            yield name
