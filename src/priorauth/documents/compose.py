"""The document sets the lifecycle produces, composed from the renderers (pure, CPU-bound: run in a thread).

Each document comes back with its page count, counted here in the worker thread so that parsing the
PDFs again never runs on the event loop.
"""
from __future__ import annotations

import io
from typing import NamedTuple

from pypdf import PdfReader

from priorauth.config import RenderLimits
from priorauth.documents.render import DocumentError, build_packet, render_cover_sheet, render_filled_form

__all__ = ["DocumentError", "Pdf", "render_preview", "render_submission"]


class Pdf(NamedTuple):
    content: bytes
    pages: int


def _pdf(content: bytes) -> Pdf:
    return Pdf(content, len(PdfReader(io.BytesIO(content)).pages))


def _form(auth_id: str, case: dict, resolved: dict, question_states: list[dict]) -> bytes:
    return render_filled_form({"id": auth_id, **case}, resolved["questionnaire"], question_states,
                              case.get("answers") or {}, resolved["sourceForm"])


def render_preview(auth_id: str, case: dict, resolved: dict, question_states: list[dict],
                   parts: list[tuple[str, bytes]], render_limits: RenderLimits) -> dict[str, Pdf]:
    """The filled form and a draft packet (the form followed by the attachments)."""
    form = _form(auth_id, case, resolved, question_states)
    packet = build_packet([("application/pdf", form), *parts], render_limits)
    return {"filled_form": _pdf(form), "draft_packet": _pdf(packet)}


def render_submission(auth_id: str, case: dict, resolved: dict, question_states: list[dict],
                      attachments: list[dict], parts: list[tuple[str, bytes]], submitted_at: str,
                      attempt_id: str, channel: str, render_limits: RenderLimits) -> dict[str, Pdf]:
    """The filled form, the cover sheet and the packet (cover + form + attachments)."""
    form = _form(auth_id, case, resolved, question_states)
    cover = render_cover_sheet({"id": auth_id, **case}, attachments, submitted_at, attempt_id, channel)
    packet = build_packet([("application/pdf", cover), ("application/pdf", form), *parts], render_limits)
    return {"filled_form": _pdf(form), "cover_sheet": _pdf(cover), "submission_packet": _pdf(packet)}
