"""What a client may send on its socket after the auth frame: the frames, validated, and one handler
each. Handlers parse, ask the chat service, and answer on the socket; the Connection runs them."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pydantic

from .. import domain, events, models
from ..boundary import validate
from ..errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from .connection import Connection

# A typist's own "is typing" goes out at most this often (the receivers' copy lasts TYPING_TTL_MS).
TYPING_THROTTLE_SECS = 2.0
# Sessions whose typing state an agent socket remembers for the throttle.
MAX_TYPING_SESSIONS = 50


class TypingFrame(models.Body):
    session_id: str | None = None
    is_typing: bool = True


class ReadFrame(models.Body):
    session_id: str | None = None
    seq: int = pydantic.Field(ge=0)


class PresenceFrame(models.Body):
    status: str = pydantic.Field(pattern=r"^(online|away)$")


class SendFrame(models._SendBody):
    session_id: str | None = None


def _validate(model, data: Any):
    if not isinstance(data, dict):
        raise InvalidInput("data must be an object", code="invalid_frame")
    return validate(model, data, code="invalid_frame")


def _session_for(conn: Connection, requested: str | None) -> str:
    """The conversation a frame is about: a visitor's own (naming another looks like it does not
    exist), an agent's the one it names."""
    if conn.kind == domain.VISITOR:
        if requested not in (None, conn.session_id):
            raise NotFound("no such session", code="session_not_found")
        return conn.session_id
    if not requested:
        raise InvalidInput("session_id is required", code="invalid_frame")
    return requested


async def on_send(conn: Connection, data: Any) -> None:
    body = _validate(SendFrame, data)
    session_id = _session_for(conn, body.session_id)
    result = await conn.services.chat.send(conn.actor, session_id, body.message, body.client_msg_id,
                                           body.attachment_ids)
    msg = result.message
    conn.send(events.MESSAGE_ACK, {"client_msg_id": body.client_msg_id, "id": msg["id"], "seq": msg["seq"],
                                   "session_id": session_id, "created": result.created,
                                   "created_at": models.iso(msg["created_at_ms"])})


async def on_typing(conn: Connection, data: Any) -> None:
    body = _validate(TypingFrame, data)
    session_id = _session_for(conn, body.session_id)
    now = time.monotonic()
    sent = conn.typing_sent if conn.typing_sent is not None else {}
    last = sent.get(session_id)
    if last and last[1] == body.is_typing and now - last[0] < TYPING_THROTTLE_SECS:
        return  # throttled: the receivers' copy has not expired yet
    # (Checks the session first: only a session the typist may see is remembered for the throttle.)
    await conn.services.chat.typing(conn.actor, session_id, body.is_typing, origin=conn.id)
    sent[session_id] = (now, body.is_typing)
    if len(sent) > MAX_TYPING_SESSIONS:
        sent.pop(next(iter(sent)))
    conn.typing_sent = sent


async def on_read(conn: Connection, data: Any) -> None:
    body = _validate(ReadFrame, data)
    await conn.services.chat.read(conn.actor, _session_for(conn, body.session_id), body.seq)


async def on_presence(conn: Connection, data: Any) -> None:
    if conn.kind != domain.AGENT:
        raise InvalidInput("only agents have a presence status", code="invalid_frame")
    body = _validate(PresenceFrame, data)
    await conn.hub.set_status(conn, body.status)


async def on_ping(conn: Connection, data: Any) -> None:
    conn.send("pong", {"t": data.get("t") if isinstance(data, dict) else None, "server_time": time.time()})


FRAME_HANDLERS = {
    events.MESSAGE_SEND: on_send,
    events.TYPING: on_typing,
    events.MESSAGE_READ: on_read,
    "presence.set": on_presence,
    "ping": on_ping,
}
