"""Where a submission goes. Two channels exist by design (DESIGN.md): the sandbox payer, which answers
only through the sandbox payer-events route, and the built-in review (a later issue). Unmapped payer
ids go to the sandbox so every authorization can be driven end to end in development."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from priorauth.ids import new_id
from priorauth.timeutil import iso, utcnow


@dataclass(frozen=True)
class Outbound:
    authorization_id: str
    attempt_id: str
    payer_id: str | None
    packet: bytes


class SandboxChannel:
    name = "sandbox"

    async def send(self, outbound: Outbound) -> dict:
        """Accept the packet and hand back the confirmation a real payer endpoint would give."""
        return {"channel": self.name, "reference": new_id("sbx"), "acceptedAt": iso(utcnow()),
                "packetSha256": hashlib.sha256(outbound.packet).hexdigest(), "packetBytes": len(outbound.packet)}


SANDBOX = SandboxChannel()


def channel_for(payer_id: str | None) -> SandboxChannel:
    return SANDBOX
