from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from priorauth.db import Base, JSONType, UTCDateTime
from priorauth.timeutil import utcnow


class Authorization(Base):
    __tablename__ = "authorizations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    workflow_state: Mapped[str] = mapped_column(String(32))
    decision_state: Mapped[str] = mapped_column(String(16), default="unknown")
    version: Mapped[int] = mapped_column(Integer, default=1)
    payer_id: Mapped[str | None] = mapped_column(String(200), nullable=True)  # copied out of `case` for filtering
    # The case as the client sent it (patient, coverage, providers, service, diagnoses, answers, urgency).
    case: Mapped[dict] = mapped_column("case_data", JSONType)
    # The questionnaire resolved at creation, fixed for the life of the authorization.
    questionnaire: Mapped[dict] = mapped_column(JSONType)
    submission_channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The payer's last response (wire `decisionDetails`), plus under TRACK_KEY the lifecycle's own
    # bookkeeping that outlives a response: payer due time, appeal, cancellation, last submission error.
    decision_details: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    latest_submission_attempt_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_event_sequence: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("organization_id", "idempotency_key"),
        Index("ix_authorizations_org_id", "organization_id", "id"),
        Index("ix_authorizations_org_external", "organization_id", "external_id"),
    )


TRACK_KEY = "_lifecycle"


class AuthorizationEvent(Base):
    __tablename__ = "authorization_events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("authorization_id", "sequence"),)


class Action(Base):
    __tablename__ = "authorization_actions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))  # validation_issue | payer_request_for_information
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    blocking: Mapped[bool] = mapped_column(Boolean, default=True)
    # Validation actions are matched to issues by this key when they are recomputed.
    issue_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSONType, default=dict)
    resolution: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Attachment(Base):
    __tablename__ = "authorization_attachments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"), index=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id"))
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Artifact(Base):
    """A generated document: filled form, cover sheet, packet (submission or draft)."""

    __tablename__ = "authorization_artifacts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"), index=True)
    submission_attempt_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))  # filled_form | cover_sheet | submission_packet | draft_packet
    purpose: Mapped[str] = mapped_column(String(16))  # preview | submission
    content_type: Mapped[str] = mapped_column(String(100), default="application/pdf")
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    page_count: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
