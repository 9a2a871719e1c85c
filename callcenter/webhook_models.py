"""Webhooks as the API shows them, and the names of their events (pure: the handlers' and the
services' alike; callcenter/webhook_events.py says what each event carries)."""
from __future__ import annotations

from . import models

CONVERSATION_CREATED = "conversation.created"
MESSAGE_CREATED = "message.created"
CONVERSATION_ASSIGNED = "conversation.assigned"
CONVERSATION_RESOLVED = "conversation.resolved"
CONVERSATION_RATED = "conversation.rated"
WEBHOOK_EVENTS = (CONVERSATION_CREATED, MESSAGE_CREATED, CONVERSATION_ASSIGNED, CONVERSATION_RESOLVED,
                  CONVERSATION_RATED)


def webhook_model(row: dict) -> dict:
    """A webhook as the API shows it: never its secret."""
    return {"id": row["id"], "url": row["url"], "events": list(row["events"]), "active": bool(row["active"]),
            "disabled_reason": row.get("disabled_reason"), "failing_since": models.iso(row.get("failing_since_ms")),
            "created_at": models.iso(row["created_at_ms"])}


def delivery_model(row: dict) -> dict:
    return {"id": row["id"], "event": row["event"], "event_id": row["event_id"], "status_code": row["status_code"],
            "error": row["error"], "duration_ms": row["duration_ms"], "attempts": row["attempts"],
            "delivered": bool(row["delivered"]), "created_at": models.iso(row["created_at_ms"]),
            "last_attempt_at": models.iso(row["last_attempt_at_ms"]),
            "next_attempt_at": models.iso(row["next_attempt_at_ms"])}
