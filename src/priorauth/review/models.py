from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from priorauth.db import Base, JSONType, UTCDateTime


class Review(Base):
    """A completed automated review; `response` is the ReviewResponse exactly as it was returned."""

    __tablename__ = "reviews"
    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID, as in the reference
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    patient_name: Mapped[str] = mapped_column(String(200))
    recommendation: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    confidence_level: Mapped[str] = mapped_column(String(8))
    response: Mapped[dict] = deferred(mapped_column(JSONType, nullable=False))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_reviews_org_reviewed", "organization_id", "reviewed_at"),)


class ReviewDecision(Base):
    """The human decision on a review: one per review (the primary key makes a second one fail)."""

    __tablename__ = "review_decisions"
    request_id: Mapped[str] = mapped_column(ForeignKey("reviews.request_id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    authorization_number: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    final_recommendation: Mapped[str] = mapped_column(String(32))
    original_recommendation: Mapped[str] = mapped_column(String(32))
    was_overridden: Mapped[bool] = mapped_column(Boolean)
    override_rationale: Mapped[str | None] = mapped_column(Text, nullable=True)
    denial_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_by_client: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    letter: Mapped[dict] = mapped_column(JSONType)  # the letter fields, without the PDF
    # The letter as issued: kept byte for byte, since it is what the provider received.
    letter_pdf: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))

    __table_args__ = (UniqueConstraint("organization_id", "authorization_number"),)


class AuthorizationNumberCounter(Base):
    """The last authorization number issued per organization and day: PA-YYYYMMDD-NNNNN, gap-free."""

    __tablename__ = "authorization_number_counters"
    organization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYYMMDD (UTC)
    last_value: Mapped[int] = mapped_column(Integer)
