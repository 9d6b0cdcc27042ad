"""The document sets the lifecycle produces, composed from the renderers (pure, CPU-bound: run in a thread)."""
from __future__ import annotations

import io

from pypdf import PdfReader

from priorauth.documents.render import DocumentError, build_packet, render_cover_sheet, render_filled_form

__all__ = ["DocumentError", "page_count", "render_preview", "render_submission"]


def page_count(content: bytes) -> int:
    return len(PdfReader(io.BytesIO(content)).pages)


def _form(auth_id: str, case: dict, resolved: dict, question_states: list[dict]) -> bytes:
    return render_filled_form({"id": auth_id, **case}, resolved["questionnaire"], question_states,
                              case.get("answers") or {}, resolved["sourceForm"])


def render_preview(auth_id: str, case: dict, resolved: dict, question_states: list[dict],
                   parts: list[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    """(filled form, draft packet); the draft packet is the form followed by the attachments."""
    form = _form(auth_id, case, resolved, question_states)
    return form, build_packet([("application/pdf", form), *parts])


def render_submission(auth_id: str, case: dict, resolved: dict, question_states: list[dict],
                      attachments: list[dict], parts: list[tuple[str, bytes]], submitted_at: str,
                      attempt_id: str, channel: str) -> tuple[bytes, bytes, bytes]:
    """(filled form, cover sheet, packet = cover + form + attachments)."""
    form = _form(auth_id, case, resolved, question_states)
    cover = render_cover_sheet({"id": auth_id, **case}, attachments, submitted_at, attempt_id, channel)
    return form, cover, build_packet([("application/pdf", cover), ("application/pdf", form), *parts])
