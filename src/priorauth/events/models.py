"""Events of an organization that belong to no authorization (review decisions, approvals, admin notices)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from priorauth.db import Base, JSONType, UTCDateTime


class OrganizationEvent(Base):
    __tablename__ = "organization_events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # evt_..., time-ordered
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSONType)  # ids and states only, never PHI
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_organization_events_org_id", "organization_id", "id"),
                      Index("ix_organization_events_org_type", "organization_id", "type", "id"))
