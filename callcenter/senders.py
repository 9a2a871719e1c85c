"""Who a message comes from, and who may read it: the one place that decides what a visitor sees.

Every message of a conversation has its place in the conversation's sequence (seq). A private note
(a transfer's note for the next agent, the AI's summary for the team) is for the tenant's agents
only: never in the visitor's history, socket, resume or widget, never in what is sent to the
visitor later, and never in the AI's prompt (which reads visitor, agent and AI turns only).
"""
from __future__ import annotations

VISITOR = "visitor"
AGENT = "agent"
AI = "ai"
SYSTEM = "system"  # "Ann joined the conversation": both sides see these
NOTE = "note"  # agents only

SENDER_TYPES = (VISITOR, AGENT, AI, SYSTEM, NOTE)
# Senders whose messages the visitor never gets, in any form.
PRIVATE_SENDER_TYPES = (NOTE,)
# The turns of the conversation proper (what the AI reads and summarizes).
CONVERSATION_SENDER_TYPES = (VISITOR, AGENT, AI)


def visible_to_visitor(sender_type: str) -> bool:
    return sender_type not in PRIVATE_SENDER_TYPES
