"""Settings from the environment (prefix PRIORAUTH_, plus DATABASE_URL)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRIORAUTH_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path.home() / ".priorauth"
    # Empty means embedded SQLite under data_dir.
    database_url: str = Field("", validation_alias=AliasChoices("DATABASE_URL", "PRIORAUTH_DATABASE_URL"))
    max_file_bytes: int = 25 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
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
    log_json: bool = False
    log_level: str = "INFO"

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
