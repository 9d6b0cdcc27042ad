"""Settings from the environment (prefix PRIORAUTH_, plus DATABASE_URL)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def parse_schedule(text: str) -> tuple[float, ...]:
    """`"5,30,120"` -> (5.0, 30.0, 120.0); empty means no retries. Each wait must be >= 0."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        waits = tuple(float(part) for part in parts)
    except ValueError:
        raise ValueError("webhook_retry_schedule must be comma-separated seconds") from None
    if any(not (0 <= wait < 10**7) for wait in waits):
        raise ValueError("webhook_retry_schedule waits must be between 0 and 10,000,000 seconds")
    return waits


class RenderLimits(NamedTuple):
    """What one attachment may take to render into a packet. An image (PNG, JPEG or TIFF) is checked from
    its headers at upload, and again frame by frame, before each frame is decoded, when it is rendered; a
    text file by the pages it would print, at upload and again before it is rendered."""

    frames: int  # pages of a TIFF (a PNG or JPEG is one frame)
    frame_pixels: int  # width x height of any one frame
    total_pixels: int  # width x height summed over all frames
    text_pages: int  # pages a plain-text attachment prints to


# Defaults that take real scans: a 300 dpi letter page is 8.4 MP, a 600 dpi legal page 43 MP, a 48 MP
# phone photo 48 MP, a fax page (204x196 dpi) 3.8 MP; a 50-page fax or a 70-page 300 dpi scan fits in the
# total. Rendering decodes one frame at a time, so the frame limit bounds a render's memory (a 49 MP frame
# peaks at ~150 MB grey, ~560 MB colour with alpha, measured); the total and the frame count bound its
# time and the packet's pages. Text prints ~75 lines a page: 500 pages is ~1.9 MB of ordinary notes, while
# 25 MB of newlines would print 400,000 pages (about 6 GB and six minutes of rendering, measured on 1 MB).
RENDER_LIMITS = RenderLimits(frames=500, frame_pixels=50_000_000, total_pixels=600_000_000, text_pages=500)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRIORAUTH_", extra="ignore", populate_by_name=True)

    # production: webhook URLs must be https (the SSRF guard is on in every env; see webhook_allow_private).
    env: Literal["development", "production"] = "development"
    data_dir: Path = Path.home() / ".priorauth"
    # Empty means embedded SQLite under data_dir.
    database_url: str = Field("", validation_alias=AliasChoices("DATABASE_URL", "PRIORAUTH_DATABASE_URL"))
    max_file_bytes: int = 25 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    # Image attachments: see RENDER_LIMITS above (Pillow itself refuses an image or first TIFF page over 178,956,970 pixels).
    max_image_frames: int = Field(RENDER_LIMITS.frames, ge=1)
    max_image_frame_pixels: int = Field(RENDER_LIMITS.frame_pixels, ge=1)
    max_image_total_pixels: int = Field(RENDER_LIMITS.total_pixels, ge=1)
    max_text_pages: int = Field(RENDER_LIMITS.text_pages, ge=1)  # pages a text attachment may print to
    # A submission still `submitting` this long after it started is taken as crashed.
    submission_stale_seconds: float = 60.0
    worker_enabled: bool = True  # run the outbox worker inside `serve`
    worker_poll_seconds: float = 0.5
    # Ask the public NPPES API about an NPI the local table lacks (off: reviews stay offline).
    nppes_live: bool = False
    # Workflow control plane: a pending approval is auto-rejected after this many seconds (24 h).
    approval_ttl: float = Field(24 * 3600, gt=0)
    # Set to the reviewer portal's base URL to return approval_url on gates that need approval.
    portal_base_url: str = ""
    # Webhook delivery: the waits (seconds, comma-separated) after each failed attempt; when they
    # run out the delivery is failed. Each wait gets +-10 % jitter.
    webhook_retry_schedule: str = "5,30,120,600,1800,3600,10800,21600"
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_batch: int = Field(50, ge=1, le=1000)  # requests in flight per delivery loop
    # Connections per endpoint and loop: small pools keep httpx fast and slow receivers to themselves.
    webhook_connections_per_endpoint: int = Field(8, ge=1, le=100)
    webhook_disable_after_seconds: float = Field(3 * 24 * 3600, gt=0)  # failing this long: endpoint disabled
    # A claimed delivery whose process died is sent again after this; must outlast a request.
    webhook_lease_seconds: float = Field(60.0, gt=0)
    # SSRF guard off: webhook URLs may name loopback, private and link-local addresses and local names
    # (a receiver on this machine or the intranet). The server warns at start.
    webhook_allow_private: bool = False
    log_json: bool = False
    log_level: str = "INFO"

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must be longer than webhook_timeout_seconds")
        return self

    def loosened_guards(self) -> list[tuple[str, str]]:
        """(variable, effect) of each safety guard this configuration turns off; the server warns of each."""
        loosened = []
        if self.webhook_allow_private:
            loosened.append(("PRIORAUTH_WEBHOOK_ALLOW_PRIVATE", "the webhook SSRF guard is off: endpoints may "
                             "target loopback, private, link-local and cloud-metadata addresses"))
        return loosened

    @property
    def render_limits(self) -> RenderLimits:
        return RenderLimits(self.max_image_frames, self.max_image_frame_pixels, self.max_image_total_pixels,
                            self.max_text_pages)

    @property
    def retry_schedule(self) -> tuple[float, ...]:
        return parse_schedule(self.webhook_retry_schedule)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Accept the plain libpq form; the service always talks asyncpg.
            for plain in ("postgresql://", "postgres://"):
                if url.startswith(plain):
                    url = "postgresql+asyncpg://" + url[len(plain):]
            return url
        return f"sqlite+aiosqlite:///{self.data_dir / 'priorauth.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
