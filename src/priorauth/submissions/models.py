from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from priorauth.db import Base, JSONType, UTCDateTime
from priorauth.timeutil import utcnow


class SubmissionAttempt(Base):
    """One outbound submission; its idempotency key is the submit lock."""

    __tablename__ = "submission_attempts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # submitting | submitted | failed
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tries: Mapped[int] = mapped_column(Integer, default=1)
    artifact_ids: Mapped[dict] = mapped_column(JSONType, default=dict)  # kind -> artifact id
    outbound: Mapped[dict | None] = mapped_column(JSONType, nullable=True)  # what the channel confirmed
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("organization_id", "idempotency_key"),)
