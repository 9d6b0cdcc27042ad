"""Request bodies for tests: a complete total-knee-arthroplasty case, and helpers to vary it."""
from __future__ import annotations

import copy
import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# One sample case for the tests, the benchmark and examples/lifecycle.sh.
_TKA_CASE = json.loads((EXAMPLES / "tka-case.json").read_text())
TKA_ANSWERS = json.loads((EXAMPLES / "tka-answers.json").read_text())["answers"]


def tka_case(**overrides) -> dict:
    body = copy.deepcopy(_TKA_CASE)
    body.update(copy.deepcopy(overrides))
    return body


def complete_tka_case(**overrides) -> dict:
    return tka_case(answers=dict(TKA_ANSWERS), **overrides)


def tiny_pdf(text: str = "chart note") -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text=text)
    return bytes(doc.output())
