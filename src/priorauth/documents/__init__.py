"""PDF documents: the filled payer form, the fax cover sheet and the submission packet."""

from .render import (
    DocumentError,
    build_packet,
    check_text,
    preload_fonts,
    render_cover_sheet,
    render_filled_form,
)

__all__ = [
    "DocumentError",
    "build_packet",
    "check_text",
    "preload_fonts",
    "render_cover_sheet",
    "render_filled_form",
]
