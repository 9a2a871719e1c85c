"""Event names and payload builders: the one place that knows what a frame looks like.

An `Event` says who should get it: the tenant's agents, the session's visitor,
or one agent. The hub routes it to the sockets of this worker; the bus carries
it to the other workers. Services publish only after their transaction commits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

from . import domain, models

# The reference's names, kept as they are.
MESSAGE_NEW = "chat.message.new"
SESSION_STARTED = "chat.session.started"
SESSION_ASSIGNED = "chat.session.assigned"
AGENT_JOINED = "chat.agent.joined"
TYPING = "chat.typing"
# Added in the same style.
MESSAGE_SEND = "chat.message.send"
MESSAGE_ACK = "chat.message.ack"
MESSAGE_READ = "chat.message.read"
SESSION_RESOLVED = "chat.session.resolved"
SESSION_REOPENED = "chat.session.reopened"
SESSION_TRANSFERRED = "chat.session.transferred"
SESSION_UPDATED = "chat.session.updated"
AGENT_PRESENCE = "chat.agent.presence"
VISITOR_PRESENCE = "chat.visitor.presence"
# AI replies: the text of a reply while the model writes it (to the visitor; the stored message
# follows as chat.message.new), and a conversation handed to humans (to the tenant's agents).
AI_PARTIAL = "chat.ai.partial"
SESSION_HANDOFF = "chat.session.handoff"
# How long a chat.typing lasts without another (the typist's client sends one every few seconds).
TYPING_TTL_MS = 6000
# A private note named an agent (to that agent's sockets only).
NOTE_MENTION = "chat.note.mention"
# A webhook failing too long was switched off (to the tenant's admins' sockets, one event per admin).
WEBHOOK_DISABLED = "webhook.disabled"
# Routing (issue 26): the team's loads and the queue (to the tenant's agents), and a waiting visitor's
# place in line (to that visitor).
ROUTING_UPDATED = "chat.routing.updated"
QUEUE_UPDATED = "chat.queue.updated"
# Internal: never sent to clients as such; the hub closes the agent's sockets.
AGENT_REVOKED = "internal.agent.revoked"
# Internal: every waiting visitor's place in line at once; each hub tells its own visitors (QUEUE_UPDATED).
QUEUE_POSITIONS = "internal.queue.positions"


@dataclass
class Event:
    type: str
    tenant_id: str
    data: dict
    session_id: str | None = None
    to_agents: bool = True
    to_visitor: bool = False
    # Only this agent (still within the tenant); None means every agent of the tenant.
    agent_id: int | None = None
    meta: dict = field(default_factory=dict)

    def frame(self) -> dict:
        return {"type": self.type, "data": self.data}

    def frame_json(self) -> str:
        """The frame as sent to sockets, serialized once per event (and carried as such by the bus)."""
        cached = self.__dict__.get("_frame_json")
        if cached is None:
            cached = self.__dict__["_frame_json"] = models.json_dumps(self.frame())
        return cached

    def route(self) -> dict:
        """Everything but the data: who gets it, and the meta."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "data"}

    @classmethod
    def from_route(cls, route: dict, frame_json: str) -> "Event":
        """The event again from `route()` and `frame_json()` (TypeError/KeyError/ValueError when they are not)."""
        frame = json.loads(frame_json)
        event = cls(data=frame["data"], **route)
        if frame["type"] != event.type or not isinstance(event.data, dict):
            raise ValueError("the frame does not match its route")
        event.__dict__["_frame_json"] = frame_json
        return event


def message_new(message: dict, session: dict | None = None) -> Event:
    """A stored message, to the tenant's agents and (unless it is a private note) the visitor."""
    data = {"message": models.message_model(message), "session_id": message["session_id"]}
    if session is not None:
        data["session"] = models.session_model(session)
    return Event(MESSAGE_NEW, message["tenant_id"], data, session_id=message["session_id"],
                 to_agents=True, to_visitor=domain.visible_to_visitor(message["sender_type"]))


def session_started(session: dict) -> Event:
    return Event(SESSION_STARTED, session["tenant_id"], {"session": models.agent_session_model(session)},
                 session_id=session["id"], to_agents=True, to_visitor=False)


def session_assigned(session: dict, agent: dict | None, by_agent: dict | None) -> Event:
    return Event(SESSION_ASSIGNED, session["tenant_id"], {
        "session_id": session["id"],
        "session": models.session_model(session),
        "agent": models.agent_public_model(agent) if agent else None,
        "by_agent_id": by_agent["id"] if by_agent else None,
    }, session_id=session["id"], to_agents=True, to_visitor=True)


def agent_joined(session: dict, agent: dict) -> Event:
    """Told to the agent who now has the conversation ("you were assigned")."""
    return Event(AGENT_JOINED, session["tenant_id"], {
        "session_id": session["id"], "session": models.agent_session_model(session),
        "agent": models.agent_public_model(agent),
    }, session_id=session["id"], to_agents=True, to_visitor=False, agent_id=agent["id"])


def session_transferred(session: dict, from_agent: dict | None, to_agent: dict, by_agent: dict) -> Event:
    return Event(SESSION_TRANSFERRED, session["tenant_id"], {
        "session_id": session["id"], "session": models.session_model(session),
        "from_agent": models.agent_public_model(from_agent) if from_agent else None,
        "to_agent": models.agent_public_model(to_agent), "by_agent_id": by_agent["id"],
    }, session_id=session["id"], to_agents=True, to_visitor=True)


def session_status(session: dict, by_agent: dict | None, resolved: bool) -> Event:
    return Event(SESSION_RESOLVED if resolved else SESSION_REOPENED, session["tenant_id"], {
        "session_id": session["id"], "session": models.session_model(session),
        "by_agent_id": by_agent["id"] if by_agent else None,
    }, session_id=session["id"], to_agents=True, to_visitor=True)


def message_read(session: dict, reader: str, seq: int, agent_id: int | None = None) -> Event:
    return Event(MESSAGE_READ, session["tenant_id"], {
        "session_id": session["id"], "reader": reader, "seq": seq,
        "agent_id": agent_id,
        "unread": session.get("agent_unread", 0),
    }, session_id=session["id"], to_agents=True, to_visitor=True)


def ai_typing(session: dict, is_typing: bool, name: str) -> Event:
    """The AI composing a reply, in the shape of a person's chat.typing (sender "ai")."""
    return Event(TYPING, session["tenant_id"], {
        "session_id": session["id"], "is_typing": is_typing, "expires_in_ms": 30_000, "sender": "ai", "name": name,
    }, session_id=session["id"], to_agents=True, to_visitor=True)


def ai_partial(tenant_id: str, session_id: str, reply_to: int, text: str) -> Event:
    """The reply so far (the whole text each time, so a lost frame costs nothing)."""
    return Event(AI_PARTIAL, tenant_id, {"session_id": session_id, "reply_to": reply_to, "text": text},
                 session_id=session_id, to_agents=False, to_visitor=True)


def session_handoff(session: dict, reason: str) -> Event:
    return Event(SESSION_HANDOFF, session["tenant_id"], {
        "session_id": session["id"], "session": models.agent_session_model(session), "reason": reason,
    }, session_id=session["id"], to_agents=True, to_visitor=False)


def session_updated(session: dict) -> Event:
    """Labels or the rating changed: to the tenant's agents (labels are never the visitor's)."""
    return Event(SESSION_UPDATED, session["tenant_id"], {
        "session_id": session["id"], "session": models.agent_session_model(session),
    }, session_id=session["id"], to_agents=True, to_visitor=False)


def webhook_disabled(tenant_id: str, webhook: dict, admin_id: int) -> Event:
    """A failing webhook was switched off (`webhook`: as the API shows it): to one admin's sockets."""
    return Event(WEBHOOK_DISABLED, tenant_id, {"webhook": webhook}, to_agents=True, agent_id=admin_id)


def note_mention(note: dict, session: dict, agent_id: int, by_agent_id: int) -> Event:
    """A note named `agent_id`: to that agent's sockets only."""
    return Event(NOTE_MENTION, session["tenant_id"], {
        "session_id": session["id"], "message": models.message_model(note), "by_agent_id": by_agent_id,
        "session": models.agent_session_model(session),
    }, session_id=session["id"], to_agents=True, to_visitor=False, agent_id=agent_id)


def queue_positions(tenant_id: str, positions: dict[str, list], total: int) -> Event:
    """The tenant's queue, in line order: session id -> [position, estimated wait in seconds or None]
    for the first few hundred, and how many wait in all."""
    return Event(QUEUE_POSITIONS, tenant_id, {"positions": positions, "total": total},
                 to_agents=False, to_visitor=False)


def queue_updated(tenant_id: str, session_id: str, place: list | None) -> Event:
    """One visitor's place in line (None: no longer waiting)."""
    queue = {"position": place[0], "estimated_wait_secs": place[1]} if place else None
    return Event(QUEUE_UPDATED, tenant_id, {"session_id": session_id, "queue": queue},
                 session_id=session_id, to_agents=False, to_visitor=True)
