"""When the payer must decide (pure).

CMS Interoperability and Prior Authorization final rule (CMS-0057-F, 89 FR 8758, February 8, 2024):
from January 1, 2026, impacted payers (Medicare Advantage, Medicaid, CHIP) must send prior-authorization
decisions within 72 hours for expedited requests and 7 calendar days for standard requests. The clock
starts when the payer receives the request: here, when a submission is committed, or when an appeal is
requested (the same clock, as for Part D redeterminations, 42 CFR 423.590).

The rule itself excludes drugs (Part D coverage determinations run on 72 h standard / 24 h expedited,
42 CFR 423.568, 423.572); one clock for every case is a deliberate simplification (docs/api.md).
"""
from __future__ import annotations

from datetime import datetime, timedelta

EXPEDITED_DECISION = timedelta(hours=72)
STANDARD_DECISION = timedelta(days=7)


def payer_decision_due(received_at: datetime, urgency: str | None) -> datetime:
    """The payer's decision due time for a request received at `received_at`."""
    return received_at + (EXPEDITED_DECISION if urgency == "expedited" else STANDARD_DECISION)
