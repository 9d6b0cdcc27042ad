"""PDF rendering for submissions: the filled payer form, the fax cover sheet and the merged packet.

Pure functions: plain dicts in, PDF bytes out; no database, no network. Any input field may be
missing or null. Output is deterministic (fixed metadata and creation date), so equal inputs give
equal bytes.

Fonts: DejaVu (when installed) covers accented Latin, Greek and Cyrillic names; characters it
cannot draw (e.g. CJK) print as '?'. Without DejaVu, fpdf2's core fonts are used and text is folded
to Latin-1.

Speed (a typical form, cover sheet and their packet take ~25 ms of CPU together): parsing and
subsetting a TrueType font with fontTools costs ~200 ms, so each face is reduced once per process
to a fixed repertoire, its metrics parsed once, and every document embeds that reduced face as
is. Each embedded face still costs fpdf2 ~4 ms per document, so a document uses one face and draws
bold by also stroking the glyph outlines (simulated bold) rather than embedding DejaVuSans-Bold
too. Text is placed line by line with FPDF.text() and our own word wrap: cell() costs 3x per line
and multi_cell() is quadratic in paragraph length.
"""

from __future__ import annotations

import copy
import io
import json
import re
import types
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import fpdf.output
from fontTools import subset as ftsubset
from fontTools import ttLib
from fpdf import FPDF
from fpdf.enums import TextMode
from fpdf.fonts import SubsetMap, TTFFont
from PIL import Image, ImageSequence
from pypdf import PdfReader, PdfWriter

from priorauth.config import RENDER_LIMITS, RenderLimits
from priorauth.documents.limits import Budget, TooLargeToRender

__all__ = [
    "DocumentError",
    "build_packet",
    "check_text",
    "preload_fonts",
    "render_cover_sheet",
    "render_filled_form",
]


class DocumentError(Exception):
    """A document cannot be produced from its input (e.g. an unreadable packet part)."""


# --- fonts ---------------------------------------------------------------------------------------

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = {"sans": "DejaVuSans.ttf", "mono": "DejaVuSansMono.ttf"}
_CORE_FAMILIES = {"sans": "helvetica", "mono": "courier"}
_LATIN1 = frozenset(range(0x20, 0x7F)) | frozenset(range(0xA0, 0x100))
# What a reduced face keeps (~30 KB compressed): Latin incl. Romanian and Vietnamese, Greek,
# Cyrillic, and the punctuation and symbols forms use. Text is NFC-normalized first, so
# combining marks are not needed.
_REPERTOIRE = [
    (0x20, 0x7E), (0xA0, 0x17F), (0x218, 0x21B), (0x370, 0x3FF), (0x400, 0x45F),
    (0x1E00, 0x1EFF), (0x2010, 0x2027), (0x2030, 0x203A), (0x20AC, 0x20AC), (0x2116, 0x2116),
    (0x2122, 0x2122), (0x2190, 0x2193), (0x2212, 0x2212), (0x2264, 0x2265), (0x25A0, 0x25A1),
    (0x25CF, 0x25CF), (0x2610, 0x2612), (0x2713, 0x2717),
]  # fmt: skip
# Typography that NFKD does not fold, for fonts without it (core fonts are Latin-1 only).
_PLAIN = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...",
                        "•": "*", "→": "->", "≤": "<=", "≥": ">=", "−": "-"})  # fmt: skip
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)  # creation date when the input gives none


class _ReducedFace:
    """Stands in for fontTools' TTFont when fpdf2 embeds a font: the face is already reduced to a
    small repertoire, so it is embedded whole instead of being subset again for every document."""

    def __init__(self, data: bytes, glyph_ids: dict[str, int]) -> None:
        self._data, self._glyph_ids = data, glyph_ids

    def getGlyphID(self, name: str) -> int:  # noqa: N802 (fontTools' name)
        return self._glyph_ids[name]

    def save(self, file: io.BytesIO) -> None:
        file.write(self._data)

    def close(self) -> None:
        pass

    def __contains__(self, table: str) -> bool:  # fpdf2 asks about "CFF "; DejaVu is glyf
        return False


class _Subsetter(ftsubset.Subsetter):  # type: ignore[misc]
    def subset(self, font: Any) -> None:
        if not isinstance(font, _ReducedFace):  # any other font: fontTools as usual
            super().subset(font)


def _install_subsetter() -> bool:
    """Route fpdf2's font subsetting through _Subsetter; False if this fpdf2 is laid out
    differently (then reduced faces are subset per document: correct, only slower)."""
    current = getattr(fpdf.output, "ftsubset", None)
    if getattr(current, "Subsetter", None) is _Subsetter:
        return True
    if current is not ftsubset:
        return False
    shim = types.ModuleType("priorauth_ftsubset")
    shim.__dict__.update(ftsubset.__dict__)
    shim.Subsetter = _Subsetter  # type: ignore[attr-defined]
    fpdf.output.ftsubset = shim  # type: ignore[attr-defined]
    return True


@dataclass(frozen=True)
class _Face:
    template: TTFFont  # metrics parsed once, copied into each document
    data: bytes  # the reduced font program
    glyph_ids: dict[str, int]
    drawable: frozenset[int]  # code points the face has
    fast: bool  # embedded as is (see _ReducedFace)


@lru_cache(maxsize=None)
def _face(family: str) -> _Face:
    font = ttLib.TTFont(FONT_DIR / _FONT_FILES[family], recalcTimestamp=False, lazy=True)
    options = ftsubset.Options()
    options.notdef_outline = options.recommended_glyphs = True
    options.hinting = options.glyph_names = False  # smaller; viewers render DejaVu fine unhinted
    options.layout_features = []  # fpdf2 does no text shaping here
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "MATH", "kern", "hdmx", "FFTM", "gasp"]
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=[c for lo, hi in _REPERTOIRE for c in range(lo, hi + 1)])
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    data = buf.getvalue()
    template = TTFFont(FPDF(), io.BytesIO(data), family, "")
    glyph_ids = {name: i for i, name in enumerate(template.ttfont.getGlyphOrder())}
    return _Face(template, data, glyph_ids, frozenset(template.cmap), _install_subsetter())


@lru_cache(maxsize=1)
def _fonts_available() -> bool:
    return all((FONT_DIR / name).is_file() for name in _FONT_FILES.values())


def preload_fonts() -> None:
    """Prepare the fonts now (~0.3 s, once per process) rather than in the first render."""
    if _fonts_available():
        for family in _FONT_FILES:
            _face(family)


def _attach(pdf: FPDF, family: str) -> frozenset[int]:
    """Register a prepared face with this document; returns the code points it can draw."""
    face = _face(family)
    font = copy.copy(face.template)  # shares the read-only metrics; per-document state below
    font.i = len(pdf.fonts) + 1
    font.desc = copy.copy(face.template.desc)  # fpdf2 writes object ids into it at output
    font.missing_glyphs = []
    font.subset = SubsetMap(font)
    font.ttfont = (
        _ReducedFace(face.data, face.glyph_ids)
        if face.fast
        else ttLib.TTFont(io.BytesIO(face.data), recalcTimestamp=False, lazy=True)
    )
    pdf.fonts[font.fontkey] = font
    return face.drawable


def _fit(text: str, drawable: frozenset[int]) -> str:
    """Text the document's font can draw: fold what it lacks (NFKD) or print '?'."""
    text = unicodedata.normalize("NFC", text)
    if all(ord(ch) in drawable or ch == "\n" for ch in text):
        return text
    out = []
    for ch in text.translate(_PLAIN) if 0x2014 not in drawable else text:
        if ord(ch) in drawable or ch == "\n":
            out.append(ch)
        elif ch == "\t":
            out.append("    ")
        elif unicodedata.category(ch) in ("Cc", "Cf"):  # controls, zero-width marks: drop
            continue
        else:
            folded = "".join(
                c
                for c in unicodedata.normalize("NFKD", ch)
                if ord(c) in drawable and not unicodedata.combining(c)
            )
            out.append(folded or "?")
    return "".join(out)


def _fits_latin1(*values: Any) -> bool:
    """True when every string in the values (walked recursively) prints in a standard PDF font.
    Standard fonts need no embedding: documents render ~3x faster and ~8x smaller."""
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and any(ord(ch) > 0xFF for ch in value.translate(_PLAIN)):
                return False
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return True


class _Doc(FPDF):
    """A Letter-size document with one font family, deterministic metadata and simple,
    fast line layout (see the module docstring). `content` is what the document will print:
    the embedded Unicode font is used only when some of it is outside Latin-1."""

    def __init__(self, title: str, created: datetime, family: str | None = "sans", content: Any = ()) -> None:
        super().__init__(format="letter", unit="mm")
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=15)
        self.footer_text = ""
        self.clip = 0  # when set, row values longer than this are cut (the one-page cover)
        self.stroke_bold = False
        self.unicode = _fonts_available() and not _fits_latin1(title, content)
        self.family = ""
        self.drawable = _LATIN1
        if family and self.unicode:
            self.drawable, self.family = _attach(self, family), family
        elif family:
            self.family = _CORE_FAMILIES[family]
        self.set_title(self.fit(title))
        self.set_producer("priorauth")
        self.set_creator("priorauth")
        self.set_creation_date(created)
        self.set_lang("en")

    def fit(self, text: str) -> str:
        return _fit(text, self.drawable)

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold and not self.unicode else "", size)
        self.stroke_bold = bold and self.unicode  # one face only: see line()

    def set_text_color(self, r: Any, g: int = -1, b: int = -1) -> None:
        super().set_text_color(r, g, b)
        self.set_draw_color(r, g, b)  # simulated bold strokes in the text's color

    def width(self, text: str) -> float:
        assert self.current_font is not None
        return self.current_font.get_text_width(text, self.font_size_pt, None)[1] / self.k

    def wrap(self, text: str, width: float) -> list[str]:
        """Greedy word wrap with the current font; words longer than a line (URLs) are cut."""
        space, lines = self.width(" "), []
        for para in text.split("\n"):
            line, used = "", 0.0
            for word in para.split(" "):
                w = self.width(word)
                if line and used + space + w <= width:
                    line, used = f"{line} {word}", used + space + w
                    continue
                if line:
                    lines.append(line)
                while w > width and len(word) > 1:
                    cut = 1
                    while cut < len(word) and self.width(word[: cut + 1]) <= width:
                        cut += 1
                    lines.append(word[:cut])
                    word = word[cut:]
                    w = self.width(word)
                line, used = word, w
            lines.append(line)
        return lines

    def line(self, h: float, text: str, x: float | None = None, link: str = "",
             right: bool = False, advance: bool = True) -> None:  # fmt: skip
        """One line of text in a band of height h (a new page first if it would not fit)."""
        if self.auto_page_break and not self.in_footer and self.y + h > self.page_break_trigger:
            self.add_page()
        text = self.fit(text)
        x = self.l_margin if x is None else x
        if right:
            x = self.w - self.r_margin - self.width(text)
        baseline = self.y + 0.5 * h + 0.3 * self.font_size
        if text and self.stroke_bold:
            # Simulated bold: fill and stroke the outlines (stroke 4.5% of the em; fpdf2 takes
            # a text stroke width in points). q/Q resets the mode, which text() does not do.
            with self.local_context(text_mode=TextMode.FILL_STROKE,
                                    line_width=0.045 * self.font_size_pt):  # fmt: skip
                self.text(x, baseline, text)
        elif text:
            self.text(x, baseline, text)
        if link:
            self.link(x, self.y, self.width(text), h, link)
        if advance:
            self.y += h

    def put(self, h: float, text: str, x: float | None = None, link: str = "") -> None:
        """Text wrapped between x and the right margin."""
        x = self.l_margin if x is None else x
        for line in self.wrap(self.fit(text), self.w - self.r_margin - x):
            self.line(h, line, x, link)

    def text_block(self, text: str, size: float = 9, bold: bool = False, gray: int = 0,
                   x: float | None = None) -> None:  # fmt: skip
        self.use(size, bold)
        self.set_text_color(gray)
        self.put(size * 0.5, text, x)
        self.set_text_color(0)

    def heading(self, text: str) -> None:
        if self.auto_page_break and self.y > self.h - 45:  # keep a heading with some rows
            self.add_page()
        self.y += 2.5
        self.set_fill_color(228, 232, 238)
        self.rect(self.l_margin, self.y, self.epw, 6.5, style="F")
        self.use(10.5, bold=True)
        self.line(6.5, text, self.l_margin + 1.5)
        self.y += 1

    def keep(self, h: float) -> None:
        """Start a new page unless h more millimetres fit on this one."""
        if self.auto_page_break and self.y + h > self.page_break_trigger:
            self.add_page()

    def row(self, label: str, value: str | None, bold: bool = False, label_w: float = 46) -> None:
        self.keep(5)  # the label goes on the page of the value's first line
        self.use(9, bold=True)
        self.line(5, label, advance=False)
        self.use(9, bold)
        if value and self.clip and len(value) > self.clip:
            value = value[: self.clip - 3] + "..."
        if value:
            self.put(5, value, self.l_margin + label_w)
        else:
            self.set_text_color(120)
            self.line(5, "—", self.l_margin + label_w)
            self.set_text_color(0)

    def footer(self) -> None:
        if not self.footer_text:
            return
        bold = self.stroke_bold  # fpdf2 restores font and colors after the footer, not this
        self.set_y(-11)
        self.use(7.5)
        self.set_text_color(100)
        self.line(4, self.footer_text, advance=False)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")  # cell() fills in {nb}
        self.stroke_bold = bold

    def done(self) -> bytes:
        return bytes(self.output())


# --- small helpers over the case dict ------------------------------------------------------------


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any) -> str:
    """A scalar as display text; None and empty become ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).strip()


def _join(parts: Iterable[Any], sep: str = " ") -> str:
    return sep.join(p for p in (_s(x) for x in parts) if p)


def _when(*candidates: Any) -> datetime:
    for value in candidates:
        if isinstance(value, str) and value.strip():
            try:
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return _EPOCH


def _person(p: dict[str, Any]) -> str:
    return _join([p.get("firstName"), p.get("lastName")])


def _identifiers(items: Any) -> str:
    return _join((_join([_d(i).get("type"), _d(i).get("value")], ": ") for i in _l(items)), ", ")


def _npi(provider: dict[str, Any]) -> str:
    for ident in _l(provider.get("identifiers")):
        if _s(_d(ident).get("type")).lower() == "npi":
            return _s(_d(ident).get("value"))
    return ""


def _address(addr: dict[str, Any]) -> str:
    lines = [_s(x) for x in _l(addr.get("line"))]
    last = _join([_join([addr.get("city"), addr.get("state")], ", "), addr.get("postalCode")])
    return _join([*lines, last, addr.get("country")], "\n")


def _phones(p: dict[str, Any]) -> str:
    return _join([p.get("phone") and f"Phone {_s(p['phone'])}",
                  p.get("fax") and f"Fax {_s(p['fax'])}"], " · ")  # fmt: skip


def _service_line(service: dict[str, Any]) -> str:
    system = _s(service.get("codeSystem")).upper()
    code = _join([service.get("code"), system and f"({system})"])
    return _join([code, service.get("drugName") or service.get("description")], " — ")


def _ordering_provider(providers: list[Any]) -> dict[str, Any]:
    rank = {"ordering": 0, "prescribing": 1, "requesting": 2}
    ranked = sorted((_d(p) for p in providers), key=lambda p: rank.get(_s(p.get("role")), 9))
    return ranked[0] if ranked else {}


# --- filled form ---------------------------------------------------------------------------------


def _walk(items: Any, group: str | None = None) -> Iterable[tuple[dict[str, Any], str | None]]:
    """(item, text of its nearest enclosing group) in questionnaire order."""
    for item in _l(items):
        item = _d(item)
        yield item, group
        inner = (_s(item.get("text")) or group) if item.get("type") == "group" else group
        yield from _walk(item.get("item"), inner)


def _answer_text(value: Any, item: dict[str, Any]) -> str:
    labels = {}  # choice code -> the display the questionnaire gives it
    for option in _l(item.get("answerOption")):
        coding = _d(_d(option).get("valueCoding"))
        if coding.get("code") is not None:
            labels[_s(coding["code"])] = _s(coding.get("display")) or _s(coding["code"])

    def one(v: Any) -> str:
        if isinstance(v, dict):  # quantity, coding, attachment, reference...
            if "value" in v and ("unit" in v or "code" in v):
                return _join([v.get("value"), v.get("unit") or v.get("code")])
            for key in ("display", "title", "code", "reference", "url"):
                if v.get(key):
                    return _s(v[key])
            return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
        return labels.get(v, v) if isinstance(v, str) else _s(v)

    values = value if isinstance(value, list) else [value]
    return _join((one(v) for v in values if v is not None), "; ")


def render_filled_form(
    case: dict[str, Any],
    questionnaire: dict[str, Any],
    question_states: list[dict[str, Any]],
    answers: dict[str, Any],
    source_form: dict[str, Any],
) -> bytes:
    """The payer's prior-authorization form, filled in from the case and its answers."""
    case, source_form, answers = _d(case), _d(source_form), _d(answers)
    patient, coverage, service = (_d(case.get(k)) for k in ("patient", "coverage", "service"))
    title = _s(source_form.get("title")) or "Prior authorization request"
    version = _s(source_form.get("version"))
    doc = _Doc(title, _when(case.get("updatedAt"), case.get("createdAt")),
               content=(case, questionnaire, question_states, answers, source_form))
    doc.set_subject("Prior authorization request")
    doc.footer_text = _join([title, version and f"v{version}", case.get("id")], " · ")
    doc.add_page()

    # Header: which form this is and where it comes from, so a reviewer can check the source.
    doc.text_block(title, 15, bold=True)
    doc.text_block(_join([version and f"Version {version}", source_form.get("publisher")], " · "),
                   8.5, gray=80)  # fmt: skip
    if source_form.get("citation"):
        doc.text_block(f"Source: {_s(source_form['citation'])}", 8.5, gray=80)
    url = _s(source_form.get("url") or source_form.get("citationUrl"))
    if url:
        doc.use(8.5)
        doc.set_text_color(30, 70, 160)
        doc.put(4.25, url, link=url)
        doc.set_text_color(0)
    doc.text_block(_join([case.get("id") and f"Authorization {_s(case['id'])}",
                          case.get("externalId") and f"External ID {_s(case['externalId'])}"],
                         " · "), 8.5, gray=80)  # fmt: skip

    doc.heading("Patient")
    doc.row("Name", _person(patient))
    doc.row("Date of birth", _s(patient.get("dateOfBirth")))
    if patient.get("gender"):
        doc.row("Gender", _s(patient["gender"]).capitalize())
    doc.row("Address", _address(_d(patient.get("address"))))
    doc.row("Identifiers", _identifiers(patient.get("identifiers")))

    doc.heading("Coverage")
    for label, key in [("Payer ID", "payerId"), ("Member ID", "memberId"),
                       ("Group number", "groupNumber"), ("Plan type", "planType"),
                       ("Insurance state", "insuranceState")]:  # fmt: skip
        doc.row(label, _s(coverage.get(key)))

    doc.heading("Providers")
    providers = [_d(p) for p in _l(case.get("providers"))]
    for p in providers:
        npi = _npi(p)
        details = _join([_person(p), p.get("organizationName"), npi and f"NPI {npi}", _phones(p)],
                        "\n")  # fmt: skip
        doc.row(_s(p.get("role")).capitalize() or "Provider", details)
    if not providers:
        doc.row("Provider", None)

    doc.heading("Service")
    doc.row("Code", _s(service.get("code")))
    doc.row("Code system", _s(service.get("codeSystem")).upper())
    doc.row("Drug name", _s(service.get("drugName")))
    if service.get("description"):
        doc.row("Description", _s(service["description"]))
    doc.row("Quantity", _s(service.get("quantity")))
    doc.row("Days supply", _s(service.get("daysSupply")))
    dates = _join([service.get("requestedStartDate"), service.get("requestedEndDate")], " to ")
    doc.row("Requested dates", dates)

    doc.heading("Diagnoses")
    codes = []
    for dx in (_d(x) for x in _l(case.get("diagnoses"))):
        system = _s(dx.get("codeSystem")).upper().replace("_", "-")
        codes.append(_join([dx.get("code"), system and f"({system})"]))
    doc.row("Codes", _join(codes, "\n"))

    doc.heading("Urgency")
    expedited = _s(case.get("urgency")).lower() == "expedited"
    doc.row("Review", "EXPEDITED" if expedited else "Standard", bold=expedited)

    doc.heading("Questionnaire")
    items = {_s(i.get("linkId")): (i, g) for i, g in _walk(_d(questionnaire).get("item"))}
    shown_group: str | None = None
    indent = doc.l_margin + 5
    # A question the payer's logic switched off (hidden) is not part of this request.
    visible = [s for s in map(_d, _l(question_states)) if s.get("state") != "hidden"]
    if not visible:
        doc.text_block("This form has no questions for this request.", 9, gray=120)
    for state in visible:
        link_id = _s(state.get("linkId"))
        item, group = items.get(link_id, ({}, None))
        text = _s(state.get("text") or item.get("text")) or link_id
        if state.get("state") == "required":
            text += " *"
        # Keep a question (and a new group title) with the first line of its answer.
        doc.use(9, bold=True)
        new_group = group if group and group != shown_group else None
        doc.keep(4.5 * len(doc.wrap(doc.fit(text), doc.epw)) + 4.5 + (5.75 if new_group else 0))
        if new_group:
            doc.y += 1
            doc.text_block(new_group, 9.5, bold=True, gray=60)
            shown_group = new_group
        # An answer the evaluator rejected does not count as given (answered: false).
        answer = _answer_text(answers.get(link_id), item) if state.get("answered", True) else ""
        doc.text_block(text, 9, bold=True)
        if answer:
            doc.text_block(answer, 9, x=indent)
        else:
            doc.text_block("— not answered —", 9, gray=120, x=indent)
        doc.y += 1.2
    doc.y += 2
    doc.text_block("* required by the payer", 7.5, gray=100)
    return doc.done()


# --- cover sheet ---------------------------------------------------------------------------------

_CONFIDENTIAL = (
    "CONFIDENTIALITY NOTICE: This transmission contains protected health information that is "
    "privileged and confidential under HIPAA (45 CFR Parts 160 and 164) and applicable state law. "
    "It is intended only for the recipient named above, for the purpose of a prior authorization "
    "review. If you are not the intended recipient, any review, disclosure, copying or "
    "distribution is prohibited; please notify the sender immediately and destroy all copies."
)


def _size(n: Any) -> str:
    if not isinstance(n, (int, float)) or isinstance(n, bool):
        return ""
    if n < 1024:
        return f"{n:.0f} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def render_cover_sheet(
    case: dict[str, Any],
    attachments: list[dict[str, Any]],
    submitted_at: str,
    submission_id: str,
    channel: str,
    total_pages: int | None = None,
) -> bytes:
    """A one-page fax-style cover sheet. total_pages, when the caller knows it, is printed as
    the page count of the whole transmission (cover included)."""
    case = _d(case)
    patient, coverage, service = (_d(case.get(k)) for k in ("patient", "coverage", "service"))
    doc = _Doc("Prior authorization fax cover sheet", _when(submitted_at),
               content=(case, attachments, submission_id, channel))
    doc.set_auto_page_break(False)  # one page by construction: values and the list are capped
    doc.clip = 150
    doc.add_page()
    doc.use(20, bold=True)
    doc.line(10, "FAX")
    doc.text_block("Prior authorization request", 12, bold=True)
    expedited = _s(case.get("urgency")).lower() == "expedited"
    if expedited:
        doc.y += 1.5
        doc.set_text_color(170, 0, 0)
        doc.set_line_width(0.5)
        doc.rect(doc.l_margin, doc.y, doc.epw, 8)
        doc.use(14, bold=True)
        text = doc.fit("EXPEDITED — URGENT REVIEW REQUESTED")
        doc.line(8, text, doc.l_margin + (doc.epw - doc.width(text)) / 2)
        doc.set_text_color(0)

    doc.heading("To")
    doc.row("Payer", _s(coverage.get("payerId")))
    doc.row("Plan / group", _join([coverage.get("planType"), coverage.get("groupNumber")], " · "))

    doc.heading("From")
    sender = _ordering_provider(_l(case.get("providers")))
    doc.row("Provider", _join([_person(sender), sender.get("role") and f"({_s(sender['role'])})"]))
    doc.row("Organization", _s(sender.get("organizationName")))
    doc.row("NPI", _npi(sender))
    doc.row("Phone / fax", _phones(sender))

    doc.heading("Regarding")
    doc.row("Patient", _person(patient))
    doc.row("Date of birth", _s(patient.get("dateOfBirth")))
    doc.row("Member ID", _s(coverage.get("memberId")))
    doc.row("Service", _service_line(service))
    doc.row("Urgency", "EXPEDITED" if expedited else "Standard", bold=expedited)

    doc.heading("Submission")
    doc.row("Submission ID", _s(submission_id))
    external = case.get("externalId") and f"(external ID {_s(case['externalId'])})"
    doc.row("Authorization", _join([case.get("id"), external]))
    doc.row("Submitted at", _s(submitted_at))
    doc.row("Channel", _s(channel))

    files = [_d(a) for a in _l(attachments)]
    doc.heading(f"Attachments ({len(files)})")
    doc.use(8.5)
    room = int((doc.h - 62 - doc.y) // 4.5)  # rows that fit above the page count and notice
    shown = files if len(files) <= room else files[: max(room - 1, 0)]
    x = doc.l_margin
    for n, a in enumerate(shown, 1):
        name = _s(a.get("filename")) or _s(a.get("id")) or "attachment"
        name = name if len(name) <= 60 else name[:57] + "..."
        doc.line(4.5, f"{n}.", x, advance=False)
        doc.line(4.5, name, x + 8, advance=False)
        doc.line(4.5, _s(a.get("contentType"))[:28], x + 120, advance=False)
        doc.line(4.5, _size(a.get("size")), right=True)
    if len(shown) < len(files):
        doc.line(4.5, f"... and {len(files) - len(shown)} more", x + 8)
    if not files:
        doc.line(4.5, "None", x + 8)

    doc.y = doc.h - 48
    if total_pages:
        pages = f"Total pages including this cover sheet: {total_pages}"
    else:
        pages = (f"Pages: this cover sheet, the prior authorization form and the {len(files)} "
                 "attachment(s) listed above.")  # fmt: skip
    doc.text_block(pages, 9, bold=True)
    doc.text_block("If any pages are missing or illegible, contact the sender.", 8.5)
    doc.y += 2
    doc.text_block(_CONFIDENTIAL, 7.5, gray=60)
    return doc.done()


# --- packet --------------------------------------------------------------------------------------

_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/tif": "image/tiff",
            "image/x-png": "image/png"}  # fmt: skip
_IMAGE_MARGIN = 12.7


def _image_pages(data: bytes, kind: str, limits: RenderLimits) -> bytes:
    """Each image (each TIFF frame) on its own page, fit inside the margins. Frames are decoded one at
    a time, each checked against the limits from its header first; Pillow reuses or frees a frame's
    pixels when it seeks to the next, so memory is bounded by the largest frame, not their sum."""
    doc = _Doc("Attachment", _EPOCH, family=None)
    doc.set_auto_page_break(False)
    budget = Budget(limits)
    with Image.open(io.BytesIO(data)) as img:
        frames = ImageSequence.Iterator(img) if kind == "image/tiff" else (img,)
        for frame in frames:
            budget.add(frame)
            w, h = frame.size
            # Decode now, so a truncated file fails here and not inside fpdf2. A JPEG goes in from
            # its bytes, which fpdf2 embeds as is; checking it at 1/8 scale is enough and quick.
            if kind == "image/jpeg":
                frame.draft(frame.mode, (max(w // 8, 1), max(h // 8, 1)))
            frame.load()
            doc.add_page(orientation="L" if w > h else "P")
            box_w, box_h = doc.w - 2 * _IMAGE_MARGIN, doc.h - 2 * _IMAGE_MARGIN
            doc.image(io.BytesIO(data) if kind == "image/jpeg" else frame,  # fpdf2 converts modes it cannot embed
                      x=_IMAGE_MARGIN, y=_IMAGE_MARGIN, w=box_w, h=box_h, keep_aspect_ratio=True)
    return doc.done()


_TEXT_SIZE, _TEXT_LINE = 8.5, 3.9  # points, mm


def _text_of(data: bytes, charset: str | None) -> str:
    try:
        text = data.decode(charset or "utf-8-sig", errors="replace")
    except LookupError:  # an unknown charset name
        text = data.decode("utf-8-sig", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)


@lru_cache(maxsize=1)
def _text_geometry() -> tuple[int, int]:
    """Characters per line and lines per page of a text attachment (monospace: the same for any text)."""
    doc = _Doc("Attachment", _EPOCH, family="mono")
    doc.add_page()
    doc.use(_TEXT_SIZE)
    return max(int(doc.epw / doc.width("M")), 1), max(int((doc.h - doc.t_margin - doc.b_margin) / _TEXT_LINE), 1)


def check_text(data: bytes, charset: str | None, limits: RenderLimits) -> None:
    """Refuse text that would print to more pages than the limit, counted without printing it (1 MB of
    newlines is 17,000 pages: 14 s and 250 MB to render)."""
    per_line, per_page = _text_geometry()
    text = _text_of(data, charset)
    # Each line prints as one row plus one more per per_line characters it runs over (no list of lines:
    # 25 MB of newlines would be 26 million strings).
    overruns = re.findall(f"[^\n]{{{per_line + 1},}}", text)
    rows = text.count("\n") + 1 + sum((len(line) - 1) // per_line for line in overruns)
    pages = -(-rows // per_page)
    if pages > limits.text_pages:
        raise TooLargeToRender("text_pages", limits.text_pages, pages, f"The text prints to about {pages:,} "
                               f"pages; at most {limits.text_pages:,} pages of text are accepted")


def _text_pages(data: bytes, charset: str | None, limits: RenderLimits) -> bytes:
    check_text(data, charset, limits)
    text = _text_of(data, charset)
    doc = _Doc("Attachment", _EPOCH, family="mono", content=text)
    doc.add_page()
    doc.use(_TEXT_SIZE)
    # Monospace: a line holds a fixed number of characters; cut long lines, keep indentation.
    per_line = max(int(doc.epw / doc.width("M")), 1)
    for line in doc.fit(text).split("\n"):
        for start in range(0, max(len(line), 1), per_line):
            doc.line(_TEXT_LINE, line[start : start + per_line])
    return doc.done()


def build_packet(parts: list[tuple[str, bytes]], render_limits: RenderLimits = RENDER_LIMITS) -> bytes:
    """Merge the parts, in order, into one PDF. Each part is (content_type, bytes): a PDF, a
    PNG/JPEG/TIFF image (one page per image or frame, within render_limits) or plain text
    (monospace pages)."""
    if not parts:
        raise DocumentError("packet has no parts")
    writer = PdfWriter()
    for n, (content_type, data) in enumerate(parts, 1):
        kind, _, params = _s(content_type).lower().partition(";")
        kind = _ALIASES.get(kind.strip(), kind.strip())
        label = f"part {n} ({kind or 'no content type'})"
        charset = next((p.split("=", 1)[1].strip(" \"'") for p in params.split(";")
                        if p.strip().startswith("charset=")), None)  # fmt: skip
        try:
            if kind == "application/pdf":
                pdf = data
            elif kind in ("image/png", "image/jpeg", "image/tiff"):
                pdf = _image_pages(data, kind, render_limits)
            elif kind == "text/plain":
                pdf = _text_pages(data, charset, render_limits)
            else:
                raise DocumentError(f"{label}: unsupported content type")
            reader = PdfReader(io.BytesIO(pdf))
            if reader.is_encrypted and not reader.decrypt(""):
                raise DocumentError(f"{label}: PDF is password-protected")
            writer.append(reader, import_outline=False)
        except DocumentError:
            raise
        except TooLargeToRender as exc:
            raise DocumentError(f"{label} is too large to render: {exc}") from None
        except Exception as exc:  # any parser's error: say which part, hide the library type
            raise DocumentError(f"{label} cannot be read: {exc}") from exc
    writer.add_metadata({"/Title": "Prior authorization packet", "/Producer": "priorauth"})
    out = io.BytesIO()
    try:
        writer.write(out)
    except Exception as exc:  # pypdf reads some objects of the parts only now
        raise DocumentError(f"packet cannot be written: {exc}") from exc
    return out.getvalue()
