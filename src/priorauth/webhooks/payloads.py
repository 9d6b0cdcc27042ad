"""Webhook payload bodies (pure: plain values in, JSON-ready dicts and bytes out)."""

from __future__ import annotations

import json
from datetime import datetime

from priorauth.timeutil import iso

PING = "ping"


def authorization_summary(auth: dict, event_sequence: int, event_data: dict) -> dict:
    """The `data` of a `priorauth` payload: what a subscriber needs to decide whether to fetch more.

    `auth` holds the authorization as read when the delivery was created; for a status change the
    states are the ones the event changed to, so every delivery tells the state it announces.
    """
    current = event_data.get("current") if isinstance(event_data, dict) else None
    current = current if isinstance(current, dict) else {}
    return {
        "authorization": {
            "id": auth["id"],
            "workflowState": current.get("workflowState", auth["workflow_state"]),
            "decisionState": current.get("decisionState", auth["decision_state"]),
            "externalId": auth["external_id"],
            "payerId": auth["payer_id"],
            "version": auth["version"],
            "sequence": event_sequence,
        }
    }


def priorauth_event(event_id: str, event_type: str, created_at: datetime, data: dict) -> dict:
    """Payload format `priorauth`: `{id: evt_…, type, createdAt, data}`."""
    return {"id": event_id, "type": event_type, "createdAt": iso(created_at), "data": data}


def ping(event_id: str, endpoint_id: str, created_at: datetime) -> dict:
    return priorauth_event(event_id, PING, created_at, {"endpointId": endpoint_id})


def body_bytes(payload: dict) -> bytes:
    """The exact bytes that are signed and sent: compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
