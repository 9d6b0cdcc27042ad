"""Chief complaint: a "Chief complaint:"/"CC:" line, else a "presents with ..." clause (the caller falls
back to the first symptom or condition mentioned)."""
from __future__ import annotations

import re

_I = re.IGNORECASE
_HEADER_LINE = re.compile(
    r"^[ \t>*\-•]*(?:chief\s+complaints?|CC|reason\s+for\s+(?:visit|referral|consultation|consult|request|evaluation)|"
    r"presenting\s+(?:complaints?|problem))[ \t]*[:\-–][ \t]*(?P<cc>[^\n]*)",
    _I | re.MULTILINE,
)
_PRESENTS = re.compile(
    r"\b(?:presents?|presenting|presented|comes?\s+in|came\s+in|(?:is|was)\s+seen|seen|is\s+here|here|referred|"
    r"evaluated)\s+(?:today\s+|to\s+(?:the\s+)?(?:clinic|office)\s+|in\s+(?:the\s+)?clinic\s+)?(?:with|for)\s+",
    _I,
)
_COMPLAINS = re.compile(r"\b(?:complains?\s+of|complaining\s+of|c/o)\s+", _I)
_LEADING = re.compile(
    r"^(?:(?:a|an|the|his|her|their|evaluation\s+of|eval\s+of|management\s+of|consideration\s+of|treatment\s+of|"
    r"follow-up\s+of)\s+|(?:a\s+)?(?:\d+|one|two|three|four|five|six|several)[\s-]*(?:day|week|month|year)s?[\s-]+"
    r"(?:history\s+of\s+)?)+",
    _I,
)
_CLAUSE_END = re.compile(
    r"[.;,(\n]|\s[A-Z][A-Za-z /]{1,30}:|\s(?:for|since|x|despite|that|which|who|after|over\s+the|and\s+is|"
    r"and\s+has|and\s+was|refractory|requiring|in\s+the\s+setting|secondary|due\s+to|"
    r"with\s+(?:no|minimal|failed|failure)|status\s+post|s/p)\b",
)
_MAX_LENGTH = 120


def find_chief_complaint(text: str) -> tuple[str, list[int]] | None:
    """(text, [start, end]) of the chief complaint written in the note, or None."""
    for match in _HEADER_LINE.finditer(text):
        found = _clause(text, match.start("cc"), match.end("cc"), header=True)
        if found:
            return found
    for pattern in (_PRESENTS, _COMPLAINS):
        for match in pattern.finditer(text):
            found = _clause(text, match.end(), min(len(text), match.end() + 400), header=False)
            if found:
                return found
    return None


def _clause(text: str, start: int, limit: int, header: bool) -> tuple[str, list[int]] | None:
    piece = text[start:limit]
    if not header:
        lead = _LEADING.match(piece)
        if lead:
            start, piece = start + lead.end(), piece[lead.end():]
    end_match = re.search(r"(?<!\d)\.(?:\s|$)|;|\s{2,}|\s[A-Z][A-Za-z /]{1,30}:\s", piece) if header \
        else _CLAUSE_END.search(piece)
    if end_match:
        piece = piece[:end_match.start()]
    if len(piece) > _MAX_LENGTH:
        piece = piece[:_MAX_LENGTH].rsplit(" ", 1)[0]
    stripped = piece.rstrip(" \t\r.,;:-")
    lead_space = len(stripped) - len(stripped.lstrip())
    stripped = stripped.strip()
    if not stripped or not any(ch.isalpha() for ch in stripped):
        return None
    begin = start + lead_space
    return text[begin:begin + len(stripped)], [begin, begin + len(stripped)]
