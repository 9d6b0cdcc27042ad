"""Content type from the bytes themselves (magic numbers), never from the client's header."""
from __future__ import annotations

import re

ALLOWED = ("application/pdf", "image/png", "image/jpeg", "image/tiff", "text/plain")
IMAGES = ("image/png", "image/jpeg", "image/tiff")
MARKUP = "text/html"  # what sniff() calls text a browser would run as HTML, SVG or XML: never accepted

# Text that starts (after a BOM and whitespace) like a document a browser renders: the patterns of the
# WHATWG MIME Sniffing standard's HTML and XML rules, any doctype, SVG and a few active elements.
_MARKUP_START = re.compile(
    rb"(?:\xef\xbb\xbf)?[\t\n\x0c\r ]*(?:<\?xml|<!--|<!doctype"
    rb"|<(?:html|head|body|script|iframe|frame|frameset|object|embed|svg|math|style|title|meta|link|base"
    rb"|form|img|a|b|br|p|div|h1|font|table)(?=[\t\n\x0c\r />]))",
    re.IGNORECASE)


def sniff(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if data and b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return MARKUP if _MARKUP_START.match(data) else "text/plain"
    return None
