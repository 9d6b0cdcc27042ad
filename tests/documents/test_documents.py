"""PDF renderers: each output opens in pypdf and carries the case's data; packets merge in order."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfReader

import priorauth.documents.render as render_module
from priorauth.config import RENDER_LIMITS, RenderLimits
from priorauth.documents import (
    DocumentError,
    build_packet,
    render_cover_sheet,
    render_filled_form,
)
from tests.support.images import png_header, tiff

QUESTIONNAIRE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "item": [
        {
            "linkId": "history",
            "type": "group",
            "text": "Treatment history",
            "item": [
                {"linkId": "tried_nsaids", "type": "boolean", "text": "Tried NSAIDs for 6 weeks?"},
                {
                    "linkId": "severity",
                    "type": "choice",
                    "text": "Disease severity",
                    "answerOption": [
                        {"valueCoding": {"code": "mod", "display": "Moderate to severe"}},
                        {"valueCoding": {"code": "mild", "display": "Mild"}},
                    ],
                },
                {"linkId": "tb_test", "type": "string", "text": "Secret follow-up about TB"},
                {"linkId": "notes", "type": "text", "text": "Clinical notes"},
            ],
        }
    ],
}
STATES = [
    {"linkId": "tried_nsaids", "text": "Tried NSAIDs for 6 weeks?", "type": "boolean",
     "state": "required", "answered": True},
    {"linkId": "severity", "text": "Disease severity", "type": "choice",
     "state": "required", "answered": True},
    {"linkId": "tb_test", "text": "Secret follow-up about TB", "type": "string",
     "state": "hidden", "answered": False},
    {"linkId": "notes", "text": "Clinical notes", "type": "text",
     "state": "optional", "answered": False},
]  # fmt: skip
ANSWERS = {"tried_nsaids": True, "severity": "mod", "tb_test": "should never print"}
SOURCE_FORM = {
    "id": "humira",
    "title": "Adalimumab Prior Authorization Request",
    "version": "2024-03",
    "publisher": "Example Health Plan",
    "url": "https://example.org/forms/adalimumab",
    "citation": "Example Health Plan, Adalimumab PA form (2024)",
}


def make_case(first: str = "Maria", last: str = "Garcia", urgency: str = "standard") -> dict:
    return {
        "id": "auth_01HX",
        "externalId": "EHR-77",
        "patient": {
            "firstName": first,
            "lastName": last,
            "dateOfBirth": "1980-04-02",
            "identifiers": [{"type": "mrn", "value": "MRN123"}],
            "address": {"line": ["1 Main St"], "city": "Austin", "state": "TX",
                        "postalCode": "78701"},  # fmt: skip
        },
        "coverage": {"payerId": "payer_sandbox", "memberId": "MEM-42", "groupNumber": "G1",
                     "planType": "commercial", "insuranceState": "TX"},  # fmt: skip
        "providers": [
            {"role": "ordering", "firstName": "Ann", "lastName": "Lee",
             "organizationName": "Lee Rheumatology",
             "identifiers": [{"type": "npi", "value": "1234567893"}]},
        ],  # fmt: skip
        "service": {"code": "J0135", "codeSystem": "hcpcs", "drugName": "adalimumab", "quantity": 2,
                    "daysSupply": 28, "requestedStartDate": "2024-05-01"},  # fmt: skip
        "diagnoses": [{"code": "M05.79", "codeSystem": "icd_10"}],
        "urgency": urgency,
    }


ATTACHMENTS = [
    {"id": "att_1", "filename": "chart-notes.pdf", "contentType": "application/pdf", "size": 48213},
    {"id": "att_2", "filename": "xray.png", "contentType": "image/png", "size": 1200},
]


def text_of(pdf: bytes) -> str:
    # Collapse whitespace: wrapped lines and cell gaps should not split what we look for.
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def form(case: dict) -> bytes:
    return render_filled_form(case, QUESTIONNAIRE, STATES, ANSWERS, SOURCE_FORM)


def cover(case: dict) -> bytes:
    return render_cover_sheet(case, ATTACHMENTS, "2024-05-01T12:00:00Z", "sub_9", "fax")


def test_filled_form_has_case_data_and_answers() -> None:
    text = text_of(form(make_case()))
    for expected in ["Adalimumab Prior Authorization Request", "2024-03",
                     "https://example.org/forms/adalimumab", "Maria Garcia", "1980-04-02",
                     "MEM-42", "1234567893", "J0135", "M05.79", "Tried NSAIDs", "Yes",
                     "Moderate to severe", "not answered"]:  # fmt: skip
        assert expected in text


def test_filled_form_leaves_out_hidden_questions() -> None:
    text = text_of(form(make_case()))
    assert "Secret follow-up" not in text
    assert "should never print" not in text


def test_cover_sheet_is_one_page_with_case_data() -> None:
    pdf = cover(make_case(urgency="expedited"))
    assert pages(pdf) == 1
    text = text_of(pdf)
    for expected in ["Maria Garcia", "1980-04-02", "MEM-42", "J0135", "EXPEDITED",
                     "chart-notes.pdf", "sub_9", "CONFIDENTIALITY", "Ann Lee"]:  # fmt: skip
        assert expected in text


def test_cover_sheet_stays_one_page_with_many_attachments() -> None:
    many = [dict(ATTACHMENTS[0], filename=f"doc-{i}.pdf") for i in range(80)]
    pdf = render_cover_sheet(make_case(), many, "2024-05-01T12:00:00Z", "sub_9", "fax")
    assert pages(pdf) == 1
    assert "more" in text_of(pdf)


def test_output_is_deterministic() -> None:
    assert form(make_case()) == form(make_case())
    assert cover(make_case()) == cover(make_case())
    parts = [("application/pdf", cover(make_case())), ("image/png", image_bytes("PNG"))]
    assert build_packet(parts) == build_packet(parts)
    meta = PdfReader(io.BytesIO(form(make_case()))).metadata
    assert meta is not None and meta.producer == "priorauth"


@pytest.mark.parametrize(
    ("first", "last", "printed"),
    [("Zoë", "Ñúñez", "Zoë Ñúñez"), ("Ōtsuka", "Дмитрий", "Ōtsuka Дмитрий"),
     ("李", "雷", "? ?")],  # DejaVu has no CJK glyphs: printed as '?', never a crash
)  # fmt: skip
def test_unicode_names(first: str, last: str, printed: str) -> None:
    case = make_case(first, last)
    for pdf in (form(case), cover(case)):
        text = text_of(pdf)
        assert printed in text and "J0135" in text


@pytest.mark.parametrize(
    "case",
    [
        {},
        {"patient": None, "coverage": None, "providers": None, "service": None,
         "diagnoses": None, "urgency": None},
        {"patient": {"address": {"line": None}, "identifiers": [None, {}]},
         "providers": [{}, None], "diagnoses": [{}, None], "service": {"quantity": 1.5}},
    ],
)  # fmt: skip
def test_missing_fields_do_not_crash(case: dict) -> None:
    assert pages(render_filled_form(case, {}, [], {}, {})) >= 1
    assert pages(render_filled_form(case, None, [{}], None, None)) >= 1  # type: ignore[arg-type]
    assert pages(render_cover_sheet(case, [], "", "", "")) == 1
    assert pages(render_cover_sheet(case, [{}], None, None, None)) == 1  # type: ignore[arg-type]


def two_page_pdf() -> bytes:
    pdf = FPDF()
    for n in (1, 2):
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.cell(text=f"chart page {n}")
    return bytes(pdf.output())


def image_bytes(fmt: str, frames: int = 1, size: tuple[int, int] = (40, 30)) -> bytes:
    images = [Image.new("RGB", size, (40 * i, 120, 200)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, fmt, save_all=frames > 1, append_images=images[1:])
    return buf.getvalue()


def test_packet_merges_every_part_in_order() -> None:
    tiff = image_bytes("TIFF", frames=2)
    assert Image.open(io.BytesIO(tiff)).n_frames == 2
    parts = [
        ("application/pdf", cover(make_case())),
        ("application/pdf", two_page_pdf()),
        ("image/png", image_bytes("PNG")),
        ("image/jpeg", image_bytes("JPEG", size=(30, 60))),
        ("image/tiff", tiff),
        ("text/plain; charset=utf-8", "Progress note\n\tpain 7/10 — Zoë".encode()),
    ]
    packet = build_packet(parts)
    assert pages(packet) == 1 + 2 + 1 + 1 + 2 + 1
    reader = PdfReader(io.BytesIO(packet))
    assert "Maria Garcia" in reader.pages[0].extract_text()
    assert "chart page 2" in reader.pages[2].extract_text()
    assert "pain 7/10" in reader.pages[-1].extract_text()
    assert reader.metadata is not None and reader.metadata.producer == "priorauth"


def test_long_text_part_flows_over_pages() -> None:
    packet = build_packet([("text/plain", ("line\n" * 400).encode())])
    assert pages(packet) > 1


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the broken TIFF header
@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/pdf", b"%PDF-1.4 not really a pdf"),
        ("application/pdf", b""),
        ("image/png", b"\x89PNG\r\n\x1a\n garbage"),
        ("image/jpeg", image_bytes("JPEG")[:60]),
        ("image/tiff", b"II*\x00 broken"),
        ("application/zip", b"PK"),
    ],
)
def test_unreadable_part_raises_document_error_naming_it(content_type: str, data: bytes) -> None:
    with pytest.raises(DocumentError) as info:
        build_packet([("text/plain", b"ok"), (content_type, data)])
    assert "part 2" in str(info.value)


@pytest.mark.parametrize(("part", "limits", "setting"), [
    # Only the second page is huge; the renderer refuses it from its header, before decoding a pixel.
    (("image/tiff", tiff([(100, 100)] + [(9000, 9000)] * 19)), RENDER_LIMITS, "PRIORAUTH_MAX_IMAGE_FRAME_PIXELS"),
    (("image/png", png_header(9000, 9000)), RENDER_LIMITS, "PRIORAUTH_MAX_IMAGE_FRAME_PIXELS"),
    # A 16x16 page in 40000x40000 tiles: decoding it would allocate 1.6 GB for the tile.
    (("image/tiff", tiff([(16, 16)], bits=8, tile=(40000, 40000))), RENDER_LIMITS, "PRIORAUTH_MAX_IMAGE_FRAME_PIXELS"),
    (("image/tiff", tiff([(10, 10)] * 3)), RenderLimits(frames=2, frame_pixels=100, total_pixels=300, text_pages=1),
     "PRIORAUTH_MAX_IMAGE_FRAMES"),
    (("image/tiff", tiff([(10, 10)] * 3)), RenderLimits(frames=3, frame_pixels=100, total_pixels=250, text_pages=1),
     "PRIORAUTH_MAX_IMAGE_TOTAL_PIXELS"),
], ids=["tiff-big-second-page", "png", "tiff-huge-tiles", "frames", "total"])
def test_an_image_over_its_budget_is_refused_before_it_is_decoded(
    part: tuple[str, bytes], limits: RenderLimits, setting: str
) -> None:
    """Files stored before uploads were checked (or under larger limits) still cannot exhaust memory."""
    with pytest.raises(DocumentError) as info:
        build_packet([("text/plain", b"ok"), part], limits)
    assert f"part 2 ({part[0]}) is too large to render" in str(info.value) and setting in str(info.value)


def test_frames_within_the_budget_render_one_page_each() -> None:
    limits = RenderLimits(frames=3, frame_pixels=100 * 100, total_pixels=3 * 100 * 100, text_pages=1)
    assert pages(build_packet([("image/tiff", tiff([(100, 100), (80, 40), (100, 100)]))], limits)) == 3


_PEAK_GROWTH = """
import resource
from priorauth.documents import build_packet
from tests.support.images import tiff
data = tiff([(4000, 4000)] * 24, bits=8)  # 24 grey pages: 16 MB each decoded, 384 MB together
build_packet([("image/tiff", tiff([(10, 10)], bits=8))])  # imports, fonts and first allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert len(build_packet([("image/tiff", data)])) > 0
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_rendering_a_long_tiff_holds_one_decoded_frame_at_a_time() -> None:
    """Peak memory of rendering 24 big pages, in a process of its own: about one page's worth of
    copies (~60 MB measured), where holding every decoded frame took 429 MB more."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _PEAK_GROWTH], cwd=root, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    growth_mb = int(done.stdout.split()[-1])
    assert growth_mb < 200, f"peak RSS grew by {growth_mb} MB while rendering"


def test_empty_packet_is_an_error() -> None:
    with pytest.raises(DocumentError):
        build_packet([])


def test_concurrent_renders_match_sequential_ones() -> None:
    # Documents share the prepared fonts; each must still get its own per-document state.
    from concurrent.futures import ThreadPoolExecutor

    cases = [make_case(f"Name{i}", "Zoë") for i in range(8)]
    expected = [form(c) for c in cases]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(form, cases)) == expected


def test_without_dejavu_core_fonts_and_latin1_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from priorauth.documents import render

    monkeypatch.setattr(render, "FONT_DIR", tmp_path)  # no fonts there
    render._fonts_available.cache_clear()
    try:
        case = make_case("Ōtsuka Zoë", "李雷")
        text = text_of(form(case)) + text_of(cover(case))
        assert "Otsuka Zoë ??" in text and "J0135" in text
        packet = build_packet([("text/plain", "Zoë — ok\tdone".encode())])
        assert "Zoë - ok" in text_of(packet)
    finally:
        render._fonts_available.cache_clear()


# Any JSON value, anywhere the renderers look: they must still produce a PDF.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_keys = ["id", "externalId", "urgency", "patient", "coverage", "providers", "service", "diagnoses",
         "firstName", "lastName", "dateOfBirth", "identifiers", "address", "line", "type", "value",
         "code", "codeSystem", "role", "organizationName", "memberId"]  # fmt: skip
_shaped = st.recursive(
    _json,
    lambda inner: st.dictionaries(st.sampled_from(_keys), inner, max_size=6)
    | st.lists(inner, max_size=3),
    max_leaves=20,
)
_state = st.dictionaries(st.sampled_from(["linkId", "text", "state", "answered"]), _json)


@settings(max_examples=40, deadline=None, database=None)
@given(case=_shaped, states=st.lists(_state, max_size=4),
       answers=st.dictionaries(st.text(max_size=5), _json, max_size=3))  # fmt: skip
def test_arbitrary_shapes_never_crash(case: Any, states: Any, answers: Any) -> None:
    assert pages(render_filled_form(case, {"item": states}, states, answers, case)) >= 1
    assert pages(render_cover_sheet(case, states, "x", "y", "z")) == 1


def test_latin1_text_uses_standard_fonts_and_other_scripts_embed_dejavu() -> None:
    latin = form(make_case("Zoë", "Ñúñez"))
    assert b"/Helvetica" in latin and b"DejaVu" not in latin
    if render_module._fonts_available():
        cyrillic = form(make_case("Ōtsuka", "Дмитрий"))
        assert b"DejaVu" in cyrillic and len(cyrillic) > len(latin)
