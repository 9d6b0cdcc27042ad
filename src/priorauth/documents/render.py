"""PDF rendering for submissions: the filled payer form, the fax cover sheet and the merged packet.

Pure functions: plain dicts in, PDF bytes out; no database, no network. Any input field may be
missing or null. Output is deterministic (fixed metadata and creation date), so equal inputs give
equal bytes.

Fonts: DejaVu (when installed) covers accented Latin, Greek and Cyrillic names; characters a font
cannot draw (e.g. CJK, absent from DejaVu) print as '?'. Without DejaVu, fpdf2's core fonts are
used and text is folded to Latin-1. Parsing and subsetting a TrueType font with fontTools costs far
more than laying out a form (~200 ms vs ~3 ms), so each face is reduced once per process to a
fixed repertoire, its metrics parsed once, and every document embeds that reduced face as is.
"""

from __future__ import annotations

import copy
import io
import json
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
from fpdf.enums import XPos, YPos
from fpdf.fonts import SubsetMap, TTFFont
from PIL import Image, ImageSequence
from pypdf import PdfReader, PdfWriter

__all__ = [
    "DocumentError",
    "build_packet",
    "preload_fonts",
    "render_cover_sheet",
    "render_filled_form",
]


class DocumentError(Exception):
    """A document cannot be produced from its input (e.g. an unreadable packet part)."""


# --- fonts ---------------------------------------------------------------------------------------

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = {
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
    ("mono", ""): "DejaVuSansMono.ttf",
}
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
        if not isinstance(font, _ReducedFace):  # other fonts: fontTools as usual
            super().subset(font)


def _install_subsetter() -> bool:
    """Route fpdf2's font subsetting through _Subsetter; False if this fpdf2 is laid out
    differently (then reduced faces are subset per document: correct, only slower)."""
    current = getattr(fpdf.output, "ftsubset", None)
    if isinstance(current, types.ModuleType) and getattr(current, "Subsetter", None) is _Subsetter:
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
    fast: bool


@lru_cache(maxsize=None)
def _face(family: str, style: str) -> _Face | None:
    path = FONT_DIR / _FONT_FILES[(family, style)]
    if not path.is_file():
        return None
    font = ttLib.TTFont(path, recalcTimestamp=False, lazy=True)  # lazy: ~6x faster to subset
    options = ftsubset.Options()
    options.notdef_outline = options.recommended_glyphs = True
    options.hinting = options.glyph_names = False  # smaller; viewers render DejaVu fine unhinted
    options.layout_features = []  # fpdf2 does no shaping here; it drops these tables anyway
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "MATH", "kern", "hdmx", "FFTM", "gasp"]
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=[c for lo, hi in _REPERTOIRE for c in range(lo, hi + 1)])
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    data = buf.getvalue()
    template = TTFFont(FPDF(), io.BytesIO(data), family + style, style)
    glyph_ids = {name: i for i, name in enumerate(template.ttfont.getGlyphOrder())}
    return _Face(template, data, glyph_ids, _install_subsetter())


@lru_cache(maxsize=1)
def _fonts_available() -> bool:
    return all((FONT_DIR / name).is_file() for name in _FONT_FILES.values())


def preload_fonts() -> None:
    """Prepare the fonts now (a few hundred ms, once per process) rather than on first use."""
    if _fonts_available():
        for family, style in _FONT_FILES:
            _face(family, style)


def _attach(pdf: FPDF, family: str, style: str) -> frozenset[int]:
    """Register a prepared face with this document; returns the code points it can draw."""
    face = _face(family, style)
    assert face is not None
    font = copy.copy(face.template)  # shares the read-only metrics; per-document state below
    font.i = len(pdf.fonts) + 1
    font.missing_glyphs = []
    font.subset = SubsetMap(font)
    font.ttfont = (
        _ReducedFace(face.data, face.glyph_ids)
        if face.fast
        else ttLib.TTFont(io.BytesIO(face.data), recalcTimestamp=False, lazy=True)
    )
    pdf.fonts[font.fontkey] = font
    return frozenset(face.template.cmap)


def _fit(text: str, drawable: frozenset[int]) -> str:
    """Text the current fonts can draw: fold what they lack (NFKD) or print '?'."""
    text = unicodedata.normalize("NFC", text)
    if all(ord(ch) in drawable or ch == "\n" for ch in text):
        return text
    out = []
    for ch in text:
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


class _Doc(FPDF):
    """A Letter page document with our fonts, deterministic metadata and text folding."""

    def __init__(self, title: str, created: datetime, families: Iterable[str] = ("sans",)) -> None:
        super().__init__(format="letter", unit="mm")
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=15)
        self.footer_text = ""
        self.unicode = _fonts_available()
        drawable: set[int] = set()
        self.families: dict[str, str] = {}
        for family in families:
            if self.unicode:
                styles = [s for f, s in _FONT_FILES if f == family]
                cmaps = [_attach(self, family, s) for s in styles]
                drawable |= frozenset.intersection(*cmaps)
                self.families[family] = family
            else:
                drawable |= _LATIN1
                self.families[family] = _CORE_FAMILIES[family]
        self.drawable = frozenset(drawable)
        self.set_title(self.fit(title))
        self.set_producer("priorauth")
        self.set_creator("priorauth")
        self.set_creation_date(created)
        self.set_lang("en")

    def fit(self, text: str) -> str:
        return _fit(text, self.drawable)

    def use(self, size: float, bold: bool = False, family: str = "sans") -> None:
        self.set_font(self.families[family], "B" if bold else "", size)

    def footer(self) -> None:
        if not self.footer_text:
            return
        self.set_y(-11)
        self.use(7.5)
        self.set_text_color(100)
        self.cell(0, 4, self.fit(self.footer_text), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)

    def heading(self, text: str) -> None:
        if self.get_y() > self.h - 40:  # keep a heading with at least a few of its rows
            self.add_page()
        self.ln(2.5)
        self.use(10.5, bold=True)
        self.set_fill_color(228, 232, 238)
        self.cell(0, 6.5, self.fit(text), fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def put(self, h: float, text: str, link: str = "") -> None:
        """Text from x to the right margin, then a new line. cell() when it fits on one line:
        multi_cell's line breaking costs several times more, and most values are short."""
        text = self.fit(text)
        room = self.w - self.r_margin - self.get_x() - 2 * self.c_margin
        if "\n" not in text and self.get_string_width(text) <= room:
            self.cell(0, h, text, link=link, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:
            self.multi_cell(0, h, text, align="L", link=link or None,
                            new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip

    def row(self, label: str, value: str | None, label_w: float = 46) -> None:
        self.use(9, bold=True)
        self.cell(label_w, 5, self.fit(label))
        self.use(9)
        if value:
            self.put(5, value)
        else:
            self.set_text_color(120)
            self.put(5, "—")
            self.set_text_color(0)

    def text_block(self, text: str, size: float = 9, bold: bool = False, gray: int = 0) -> None:
        self.use(size, bold)
        self.set_text_color(gray)
        self.put(size * 0.5, text)
        self.set_text_color(0)

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


def _service_line(service: dict[str, Any]) -> str:
    code = _join([service.get("code"), f"({_s(service.get('codeSystem')).upper()})"
                  if service.get("codeSystem") else None])  # fmt: skip
    return _join([code, service.get("drugName") or service.get("description")], " — ")


def _ordering_provider(providers: list[Any]) -> dict[str, Any]:
    ranked = sorted(
        (_d(p) for p in providers),
        key=lambda p: {"ordering": 0, "prescribing": 1, "requesting": 2}.get(_s(p.get("role")), 9),
    )
    return ranked[0] if ranked else {}


# --- filled form ---------------------------------------------------------------------------------


def _walk(items: Any, group: str | None = None) -> Iterable[tuple[dict[str, Any], str | None]]:
    """(item, text of its nearest enclosing group) in questionnaire order."""
    for item in _l(items):
        item = _d(item)
        yield item, group
        inner = _s(item.get("text")) or group if item.get("type") == "group" else group
        yield from _walk(item.get("item"), inner)


def _option_labels(item: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for option in _l(item.get("answerOption")):
        coding = _d(_d(option).get("valueCoding"))
        if coding.get("code") is not None:
            labels[_s(coding["code"])] = _s(coding.get("display")) or _s(coding["code"])
    return labels


def _answer_text(value: Any, item: dict[str, Any]) -> str:
    labels = _option_labels(item)

    def one(v: Any) -> str:
        if isinstance(v, dict):  # quantity, coding, attachment, reference...
            if "value" in v and ("unit" in v or "code" in v):
                return _join([v.get("value"), v.get("unit") or v.get("code")])
            for key in ("display", "title", "code", "reference", "url"):
                if v.get(key):
                    return _s(v[key])
            return json.dumps(v, sort_keys=True, ensure_ascii=False)
        if isinstance(v, str):
            return labels.get(v, v)
        return _s(v)

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
    doc = _Doc(title, _when(case.get("updatedAt"), case.get("createdAt")))
    doc.set_subject("Prior authorization request")
    doc.footer_text = _join([title, source_form.get("version") and f"v{_s(source_form.get('version'))}",
                             case.get("id")], " · ")  # fmt: skip
    doc.add_page()

    # Header: which form this is and where it comes from, so a reviewer can check the source.
    doc.text_block(title, 15, bold=True)
    doc.text_block(_join([source_form.get("version") and f"Version {_s(source_form['version'])}",
                          source_form.get("publisher")], " · "), 8.5, gray=80)  # fmt: skip
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
        details = _join([_person(p), p.get("organizationName"),
                         _npi(p) and f"NPI {_npi(p)}",
                         _join([p.get("phone") and f"Phone {_s(p['phone'])}",
                                p.get("fax") and f"Fax {_s(p['fax'])}"], " · ")], "\n")  # fmt: skip
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
    doc.row("Requested dates",
            _join([service.get("requestedStartDate"), service.get("requestedEndDate")], " to "))  # fmt: skip

    doc.heading("Diagnoses")
    codes = [_join([_d(x).get("code"), _d(x).get("codeSystem") and
                    f"({_s(_d(x)['codeSystem']).upper().replace('_', '-')})"])
             for x in _l(case.get("diagnoses"))]  # fmt: skip
    doc.row("Codes", _join(codes, "\n"))

    doc.heading("Urgency")
    expedited = _s(case.get("urgency")).lower() == "expedited"
    doc.row("Review", "EXPEDITED" if expedited else "Standard")

    doc.heading("Questionnaire")
    items = {_s(item.get("linkId")): (item, group) for item, group in _walk(_d(questionnaire).get("item"))}
    shown_group: str | None = None
    for state in (_d(s) for s in _l(question_states)):
        if state.get("state") == "hidden":
            continue  # a question the payer's logic switched off is not part of this request
        link_id = _s(state.get("linkId"))
        item, group = items.get(link_id, ({}, None))
        if group and group != shown_group:
            doc.ln(1)
            doc.text_block(group, 9.5, bold=True, gray=60)
            shown_group = group
        text = _s(state.get("text") or item.get("text")) or link_id
        if state.get("state") == "required":
            text += " *"
        value = answers.get(link_id)
        answer = _answer_text(value, item) if state.get("answered", True) else ""
        doc.text_block(text, 9, bold=True)
        doc.set_x(doc.l_margin + 5)
        doc.use(9)
        if answer:
            doc.put(4.5, answer)
        else:
            doc.set_text_color(120)
            doc.put(4.5, "— not answered —")
            doc.set_text_color(0)
        doc.ln(1.2)
    doc.ln(2)
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
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def render_cover_sheet(
    case: dict[str, Any],
    attachments: list[dict[str, Any]],
    submitted_at: str,
    submission_id: str,
    channel: str,
    total_pages: int | None = None,
) -> bytes:
    """A one-page fax-style cover sheet. total_pages, when known, is printed as the page count
    of the whole transmission (cover included)."""
    case = _d(case)
    patient, coverage, service = (_d(case.get(k)) for k in ("patient", "coverage", "service"))
    doc = _Doc("Prior authorization fax cover sheet", _when(submitted_at))
    doc.set_auto_page_break(False)  # one page by construction; the attachment list is capped
    doc.add_page()
    doc.use(20, bold=True)
    doc.cell(0, 10, "FAX", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.text_block("Prior authorization request", 12, bold=True)
    expedited = _s(case.get("urgency")).lower() == "expedited"
    if expedited:
        doc.ln(1)
        doc.use(14, bold=True)
        doc.set_text_color(170, 0, 0)
        doc.cell(0, 8, doc.fit("EXPEDITED — URGENT REVIEW REQUESTED"), border=1, align="C",
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        doc.set_text_color(0)

    doc.heading("To")
    doc.row("Payer", _s(coverage.get("payerId")))
    doc.row("Plan / group", _join([coverage.get("planType"), coverage.get("groupNumber")], " · "))

    doc.heading("From")
    sender = _ordering_provider(_l(case.get("providers")))
    doc.row("Provider", _join([_person(sender), sender.get("role") and f"({_s(sender['role'])})"]))
    doc.row("Organization", _s(sender.get("organizationName")))
    doc.row("NPI", _npi(sender))
    doc.row("Phone / fax", _join([sender.get("phone") and f"Phone {_s(sender['phone'])}",
                                  sender.get("fax") and f"Fax {_s(sender['fax'])}"], " · "))  # fmt: skip

    doc.heading("Regarding")
    doc.row("Patient", _person(patient))
    doc.row("Date of birth", _s(patient.get("dateOfBirth")))
    doc.row("Member ID", _s(coverage.get("memberId")))
    doc.row("Service", _service_line(service))
    doc.row("Urgency", "EXPEDITED" if expedited else "Standard")

    doc.heading("Submission")
    doc.row("Submission ID", _s(submission_id))
    doc.row("Authorization", _join([case.get("id"), case.get("externalId") and
                                    f"(external ID {_s(case['externalId'])})"]))  # fmt: skip
    doc.row("Submitted at", _s(submitted_at))
    doc.row("Channel", _s(channel))

    files = [_d(a) for a in _l(attachments)]
    doc.heading(f"Attachments ({len(files)})")
    doc.use(8.5)
    room = int((doc.h - 62 - doc.get_y()) // 4.5)  # rows that fit above the notice
    shown = files if len(files) <= room else files[: max(room - 1, 0)]
    for n, a in enumerate(shown, 1):
        name = _s(a.get("filename")) or _s(a.get("id")) or "attachment"
        name = name if len(name) <= 60 else name[:57] + "..."
        doc.cell(8, 4.5, f"{n}.")
        doc.cell(112, 4.5, doc.fit(name))
        doc.cell(38, 4.5, doc.fit(_s(a.get("contentType"))))
        doc.cell(0, 4.5, _size(a.get("size")), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if len(shown) < len(files):
        doc.cell(0, 4.5, f"... and {len(files) - len(shown)} more", new_x=XPos.LMARGIN,
                 new_y=YPos.NEXT)  # fmt: skip
    if not files:
        doc.cell(0, 4.5, "None", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    doc.set_y(doc.h - 48)
    pages = (f"Total pages including this cover sheet: {total_pages}" if total_pages else
             "Pages: this cover sheet, the prior authorization form and "
             f"{len(files)} attachment(s) listed above.")  # fmt: skip
    doc.text_block(pages, 9, bold=True)
    doc.text_block("If any pages are missing or illegible, contact the sender.", 8.5)
    doc.ln(2)
    doc.text_block(_CONFIDENTIAL, 7.5, gray=60)
    return doc.done()


# --- packet --------------------------------------------------------------------------------------

_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/tif": "image/tiff",
            "image/x-png": "image/png"}  # fmt: skip
_IMAGE_MODES = {"1", "L", "RGB", "RGBA", "CMYK"}


def _image_pages(data: bytes, kind: str) -> bytes:
    """Each image (each TIFF frame) on its own page, fit inside the margins."""
    doc = _Doc("Attachment", _EPOCH, families=())
    doc.set_auto_page_break(False)
    with Image.open(io.BytesIO(data)) as img:
        if kind == "image/tiff":
            frames: list[Any] = [frame.copy() for frame in ImageSequence.Iterator(img)]
        else:
            img.load()  # decode now, so a truncated file fails here, not inside fpdf2
            frames = [io.BytesIO(data)]  # fpdf2 embeds JPEG as is from the original bytes
            size = img.size
        for frame in frames:
            if isinstance(frame, Image.Image):
                size = frame.size
                if frame.mode not in _IMAGE_MODES:
                    frame = frame.convert("RGBA" if "transparency" in frame.info else "RGB")
            w, h = size
            doc.add_page(orientation="L" if w > h else "P")
            doc.image(frame, x=12.7, y=12.7, w=doc.w - 25.4, h=doc.h - 25.4,
                      keep_aspect_ratio=True)  # fmt: skip
    return doc.done()


def _text_pages(data: bytes, charset: str | None) -> bytes:
    try:
        text = data.decode(charset or "utf-8-sig", errors="replace")
    except LookupError:  # unknown charset name
        text = data.decode("utf-8-sig", errors="replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    doc = _Doc("Attachment", _EPOCH, families=("mono",))
    doc.add_page()
    doc.use(8.5, family="mono")
    doc.multi_cell(0, 3.9, doc.fit(text), align="L", wrapmode="CHAR",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
    return doc.done()


def build_packet(parts: list[tuple[str, bytes]]) -> bytes:
    """Merge the parts, in order, into one PDF. Each part is (content_type, bytes): a PDF, a
    PNG/JPEG/TIFF image (one page per image or frame) or plain text (monospace pages)."""
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
                pdf = _image_pages(data, kind)
            elif kind == "text/plain":
                pdf = _text_pages(data, charset)
            else:
                raise DocumentError(f"{label}: unsupported content type")
            reader = PdfReader(io.BytesIO(pdf))
            if reader.is_encrypted and not reader.decrypt(""):
                raise DocumentError(f"{label}: PDF is password-protected")
            writer.append(reader, import_outline=False)
        except DocumentError:
            raise
        except Exception as exc:  # any parser's error: say which part, hide the library type
            raise DocumentError(f"{label} cannot be read: {exc}") from exc
    writer.add_metadata({"/Title": "Prior authorization packet", "/Producer": "priorauth"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
