"""What an attachment may take to render: for an image, frames and pixels counted from headers, never
from pixels (the pages a text file prints are counted where it is printed, in render.py).

A compressed image can be tiny on disk and huge in memory: a 12 KB TIFF of twenty 9000x9000 pages
decodes to 1.6 GB. Pillow opens images lazily (headers only) and seeking a TIFF reads the next
page's header, so every frame is counted before any pixel is decoded. Pillow's own bomb check
(Image.MAX_IMAGE_PIXELS) looks at the first frame only, and only warns below 179 MP.

Pure: bytes and limits in; TooLargeToRender out when they do not fit.
"""
from __future__ import annotations

import io
from itertools import count

from PIL import Image

from priorauth.config import RenderLimits

__all__ = ["Budget", "TooLargeToRender", "check_image"]

# The setting that loosens each limit, named in every refusal.
SETTINGS = {"frames": "PRIORAUTH_MAX_IMAGE_FRAMES", "frame_pixels": "PRIORAUTH_MAX_IMAGE_FRAME_PIXELS",
            "total_pixels": "PRIORAUTH_MAX_IMAGE_TOTAL_PIXELS", "text_pages": "PRIORAUTH_MAX_TEXT_PAGES"}


class TooLargeToRender(Exception):
    """An attachment over one of its limits: `limit` is a field of RenderLimits."""

    def __init__(self, limit: str, maximum: int, actual: int | None, message: str):
        super().__init__(f"{message} ({SETTINGS[limit]})")
        self.limit, self.maximum, self.actual = limit, maximum, actual

    @property
    def setting(self) -> str:
        return SETTINGS[self.limit]


class Budget:
    """Counts the frames of one image as they come and refuses the first one over a limit."""

    def __init__(self, limits: RenderLimits):
        self.limits = limits
        self.frames = self.pixels = 0

    def add(self, frame: Image.Image) -> None:
        """Count the frame Pillow is on, from its header: its pixels, and the one tile the TIFF decoder
        allocates besides them (a 150-byte TIFF can declare a 16x16 page in 40000x40000 tiles)."""
        width, height = frame.size
        tags = getattr(frame, "tag_v2", {})  # TIFF only
        tile_width, tile_height = _number(tags.get(322)), _number(tags.get(323))  # TileWidth, TileLength
        pixels = width * height
        self.frames += 1
        if self.frames > self.limits.frames:
            raise TooLargeToRender("frames", self.limits.frames, self.frames,
                                    f"The image has more than {self.limits.frames:,} frames (pages)")
        if pixels > self.limits.frame_pixels:
            raise TooLargeToRender("frame_pixels", self.limits.frame_pixels, pixels,
                                    f"Frame {self.frames} is {width}x{height} = {pixels:,} pixels; at most "
                                    f"{self.limits.frame_pixels:,} pixels per frame are accepted")
        if tile_width * tile_height > self.limits.frame_pixels:
            raise TooLargeToRender("frame_pixels", self.limits.frame_pixels, tile_width * tile_height,
                                    f"Frame {self.frames} is stored in tiles of {tile_width}x{tile_height} = "
                                    f"{tile_width * tile_height:,} pixels; at most {self.limits.frame_pixels:,} "
                                    "pixels per frame are accepted")
        self.pixels += pixels
        if self.pixels > self.limits.total_pixels:
            raise TooLargeToRender("total_pixels", self.limits.total_pixels, self.pixels,
                                    f"The frames hold more than {self.limits.total_pixels:,} pixels together "
                                    f"({self.pixels:,} by frame {self.frames})")


def _number(value: object) -> int:
    """A TIFF tag's value as one number (a malformed file may give several)."""
    if isinstance(value, tuple):
        return max((v for v in value if isinstance(v, int)), default=0)
    return value if isinstance(value, int) else 0


def check_image(data: bytes, limits: RenderLimits) -> None:
    """Count every frame a render would draw (each TIFF page; the one image of a PNG or JPEG) from
    the headers. Raises TooLargeToRender; an image whose headers cannot be read is left to the renderer,
    which checks each frame again before decoding it and reports what it cannot read."""
    budget = Budget(limits)
    try:
        with Image.open(io.BytesIO(data)) as img:
            budget.add(img)
            if img.format == "TIFF":  # seek() reads a page's header, not its pixels
                for frame in count(1):
                    img.seek(frame)
                    budget.add(img)
    except TooLargeToRender:
        raise
    except Image.DecompressionBombError:  # the first frame is beyond what Pillow opens at all
        opens = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise TooLargeToRender("frame_pixels", limits.frame_pixels, None,
                            f"Frame 1 is over {opens:,} pixels, more than the image decoder opens; at most "
                            f"{limits.frame_pixels:,} pixels per frame are accepted") from None
    except Exception:  # EOFError after the last page; or headers Pillow cannot read
        pass
