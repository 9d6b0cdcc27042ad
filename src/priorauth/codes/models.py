from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from priorauth.db import Base, UTCDateTime
from priorauth.timeutil import utcnow


class NpiRecord(Base):
    """One NPI from the CMS NPPES dissemination file, loaded by `priorauth npi import`.

    Public reference data shared by every organization: unlike every other table it has no
    organization_id, and nothing in it is PHI (NPPES publishes it for anyone to download).
    """

    __tablename__ = "npi_registry"
    npi: Mapped[str] = mapped_column(String(10), primary_key=True)
    # 1 individual, 2 organization. Null when the file never said: NPPES blanks every field of a
    # deactivated NPI except the NPI and its dates, and the deactivation report has no type at all.
    entity_type: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    # "LAST, FIRST CREDENTIAL" for an individual, the legal business name for an organization.
    name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # Derived from the dates: deactivated when there is a deactivation date and no reactivation on
    # or after it.
    status: Mapped[str] = mapped_column(String(16))  # active | deactivated
    deactivation_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    reactivation_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    primary_taxonomy: Mapped[str | None] = mapped_column(String(20), nullable=True)
    state: Mapped[str | None] = mapped_column(String(2), nullable=True)  # practice location state
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
