"""Image files for upload and rendering tests, built in the test: real TIFF, PNG and JPEG bytes.

`tiff()` writes a multi-page TIFF by hand: each page is one deflate-compressed strip of a single
colour, and pages of the same size share their strip, so a 9000x9000 page costs ~10 KB and twenty
of them take milliseconds to build (Pillow's own writer would encode every page). Pillow decodes the
result like any scanner's TIFF.
"""
from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

from PIL import Image

_SHORT, _LONG = 3, 4


def tiff(pages: Sequence[tuple[int, int]], *, bits: int = 1, tile: tuple[int, int] | None = None) -> bytes:
    """A little-endian TIFF with one page per (width, height): bilevel (bits=1) or 8-bit grey (bits=8).
    With `tile`, each page claims to be stored in one tile of that size (its data stays the page's):
    the lie a decoder only meets when it allocates the tile."""
    strips: dict[tuple[int, int], tuple[int, int]] = {}  # page size -> (offset, length) of its strip
    body = bytearray(b"II*\x00\x00\x00\x00\x00")  # the first IFD's offset is patched in below
    for size in dict.fromkeys(pages):
        width, height = size
        row = (width + 7) // 8 if bits == 1 else width
        strip = zlib.compress(b"\xff" * (row * height), 9)  # all white
        strips[size] = (len(body), len(strip))
        body += strip
        body += b"\x00" * (len(body) % 2)  # IFDs start on a word boundary
    struct.pack_into("<I", body, 4, len(body))
    for n, (width, height) in enumerate(pages):
        offset, length = strips[(width, height)]
        layout = ([(273, _LONG, offset), (277, _SHORT, 1), (278, _LONG, height), (279, _LONG, length)]
                  if tile is None else  # strips, or TileWidth, TileLength, TileOffsets, TileByteCounts
                  [(277, _SHORT, 1), (322, _LONG, tile[0]), (323, _LONG, tile[1]), (324, _LONG, offset),
                   (325, _LONG, length)])
        entries = [(256, _LONG, width), (257, _LONG, height), (258, _SHORT, bits), (259, _SHORT, 8),
                   (262, _SHORT, 1), *layout]
        ifd_size = 2 + 12 * len(entries) + 4
        following = len(body) + ifd_size if n + 1 < len(pages) else 0
        body += struct.pack("<H", len(entries))
        for tag, kind, value in entries:
            body += struct.pack("<HHI", tag, kind, 1) + struct.pack("<I", value)
        body += struct.pack("<I", following)
    return bytes(body)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height but carries one byte of pixel data: a check that reads
    only headers sees its full size; anything that decodes it fails."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def image(fmt: str, size: tuple[int, int], mode: str = "L") -> bytes:
    """One blank image encoded by Pillow (PNG or JPEG)."""
    buf = io.BytesIO()
    Image.new(mode, size, 255).save(buf, fmt)
    return buf.getvalue()
