"""One WebSocket client, transport side: authentication and origin, output batching and backpressure,
the inbound token bucket, heartbeats, catch-up from the store. What to send in which order is the
`DeliveryCursor`'s (realtime/delivery.py); what each client frame does is `frames.py`'s.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from tornado.websocket import WebSocketClosedError

from .. import domain, events, models
from ..boundary import json_dumps, origin_allowed
from ..domain import Actor
from ..errors import ApiError, Unauthorized
from ..events import Event
from .delivery import Decision, DeliveryCursor
from .frames import FRAME_HANDLERS

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger("callcenter.ws")

AUTH_TIMEOUT_SECS = 5.0
# Output a client has not taken yet; past either bound it is disconnected (and resumes).
MAX_PENDING_FRAMES = 2000
MAX_PENDING_BYTES = 2 * 1024 * 1024
MAX_RESUME_SESSIONS = 500
RESUME_PAGE = 500
MAX_CATCH_UP_PER_SESSION = 5000
# Inbound frames: a token bucket per socket (Config.ws_frames_per_sec, ws_frame_burst); a client refused
# more than Config.ws_flood_limit frames within FLOOD_WINDOW_SECS is disconnected.
FLOOD_WINDOW_SECS = 10.0

# Resume keys are session ids: anything else (a lone surrogate, a 10 kB string) never reaches the store.
SESSION_ID_RE = re.compile(models.SESSION_ID_PATTERN)

CLOSE_AUTH_TIMEOUT = 4000
CLOSE_UNAUTHORIZED = 4001
CLOSE_FORBIDDEN_ORIGIN = 4003
CLOSE_TOO_SLOW = 4008
CLOSE_REVOKED = 4010
CLOSE_FLOOD = 4029
CLOSE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455: "Try Again Later" (the database or Redis is unreachable)


class Connection:
    __slots__ = ("handler", "services", "hub", "id", "origin", "kind", "tenant_id", "agent", "actor", "cursor",
                 "pending_frames", "pending_bytes", "closed", "tokens", "tokens_at", "typing_sent", "auth_timer",
                 "flooded", "flood_window_start", "ping_sent_at", "outgoing", "tenant_hint")

    def __init__(self, handler, services, hub: Hub, origin: str | None, tenant_hint: str | None = None):
        self.handler = handler
        self.services = services
        self.hub = hub
        self.id = uuid.uuid4().hex[:12]
        self.origin = origin
        # `/ws?tenant=<id>`: the tenant the client says it is of (nginx routes on it); the token must agree.
        self.tenant_hint = tenant_hint
        self.kind: str | None = None  # domain.AGENT or domain.VISITOR once authenticated
        self.tenant_id = ""
        self.agent: dict | None = None  # an agent's row (the hub reads its id)
        self.actor: Actor | None = None
        self.cursor = DeliveryCursor()
        self.pending_frames = 0
        self.pending_bytes = 0
        self.closed = False
        self.tokens = float(services.config.ws_frame_burst)
        self.tokens_at = time.monotonic()
        self.typing_sent: dict[str, tuple[float, bool]] | None = None
        self.flooded = 0
        self.flood_window_start = self.tokens_at
        self.auth_timer = asyncio.get_running_loop().call_later(AUTH_TIMEOUT_SECS, self._auth_timeout)
        # When the hub's unanswered ping went out (0: none outstanding); any frame or pong answers it.
        self.ping_sent_at = 0.0
        self.outgoing: list[str] | None = None  # frames of this step, not written yet

    @property
    def session_id(self) -> str | None:
        """A visitor's one conversation (None for an agent)."""
        return self.actor.session_id if self.actor is not None else None

    # ---- output --------------------------------------------------------------

    def send_raw(self, payload: str) -> None:
        if self.closed:
            return
        if self.pending_frames >= MAX_PENDING_FRAMES or self.pending_bytes >= MAX_PENDING_BYTES:
            log.info("ws %s: client is not reading (%d frames pending); disconnecting", self.id, self.pending_frames)
            self.services.metrics.slow_disconnects.inc()
            self.close(CLOSE_TOO_SLOW, "too slow: reconnect and resume")
            return
        # Frames sent in one step of the loop (an ack and the echo of its message, a replay) leave
        # together right after it: one write, one system call, one wake-up of the client.
        if self.outgoing is None:
            self.outgoing = []
            asyncio.get_running_loop().call_soon(self._flush)
        self.outgoing.append(payload)
        self.pending_frames += 1
        self.pending_bytes += len(payload)

    def _flush(self) -> None:
        payloads, self.outgoing = self.outgoing, None
        if not payloads or self.closed:
            return
        try:
            future = self.handler.write_texts(payloads)
        except WebSocketClosedError:
            return
        future.add_done_callback(partial(self._written, len(payloads), sum(map(len, payloads))))

    def _written(self, frames: int, size: int, future) -> None:
        self.pending_frames -= frames
        self.pending_bytes -= size
        if not future.cancelled():
            future.exception()  # retrieved: a closed stream is handled by on_close

    def send(self, type_: str, data: dict) -> None:
        self.send_raw(json_dumps({"type": type_, "data": data}))

    def send_error(self, code: str, message: str, ref: Any = None) -> None:
        data = {"code": code, "message": message}
        if ref is not None:
            data["ref"] = ref
        self.send("error", data)

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self._flush()  # what was sent before (an error that explains the close) goes first
            self.closed = True
            self.handler.close(code, reason)

    # ---- input ---------------------------------------------------------------

    def _take_token(self) -> bool:
        now = time.monotonic()
        config = self.services.config
        self.tokens = min(config.ws_frame_burst, self.tokens + (now - self.tokens_at) * config.ws_frames_per_sec)
        self.tokens_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        # Refused frames are counted per window, so refills during a flood do not reset it.
        if now - self.flood_window_start > FLOOD_WINDOW_SECS:
            self.flood_window_start, self.flooded = now, 0
        self.flooded += 1
        return False

    def heartbeat(self, now: float, timeout_secs: float) -> None:
        """One heartbeat round (from the hub): drop the socket if the last ping went unanswered."""
        if self.closed:
            return
        if self.ping_sent_at and now - self.ping_sent_at >= timeout_secs:
            log.info("ws %s: no answer to ping in %.0f s; dropping it", self.id, now - self.ping_sent_at)
            self.close(1001, "ping timed out")
            return
        try:
            self.handler.ping()
        except WebSocketClosedError:
            return
        if not self.ping_sent_at:
            self.ping_sent_at = now

    def on_pong(self) -> None:
        self.ping_sent_at = 0.0

    async def on_frame(self, raw: str | bytes) -> None:
        self.ping_sent_at = 0.0
        if self.closed:
            return
        if not self._take_token():
            if self.flooded > self.services.config.ws_flood_limit:
                self.close(CLOSE_FLOOD, "too many frames")
            elif self.flooded == 1:
                self.send_error("rate_limited", "too many frames; slow down")
            return
        try:
            frame = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            self.send_error("invalid_json", "frames must be JSON objects")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            self.send_error("invalid_frame", 'frames look like {"type": "...", "data": {...}}')
            return
        type_ = frame["type"]
        if self.kind is None:
            if type_ != "auth":
                self.close(CLOSE_UNAUTHORIZED, "authenticate first")
                return
            await self._authenticate(frame)
            return
        handler = FRAME_HANDLERS.get(type_)
        data = frame.get("data", {})
        ref = data.get("client_msg_id") if isinstance(data, dict) else None
        if handler is None:
            self.send_error("unknown_type", f"unknown frame type {type_[:40]!r}", ref)
            return
        try:
            await handler(self, data)
        except ApiError as exc:
            if exc.status >= 500:  # as the REST handlers do: why a client was told to retry
                log.warning("ws %s %s: %s", self.id, type_, getattr(exc, "detail", exc.message))
            self.send_error(exc.code, exc.message, ref)

    # ---- authentication and resume ------------------------------------------------

    def _auth_timeout(self) -> None:
        if self.kind is None:
            self.close(CLOSE_AUTH_TIMEOUT, "no auth frame in time")

    async def _authenticate(self, frame: dict) -> None:
        self.auth_timer.cancel()
        self.auth_timer = None
        token = frame.get("token")
        if not isinstance(token, str) or not token:
            self.close(CLOSE_UNAUTHORIZED, "auth frame needs a token")
            return
        auth = self.services.auth
        try:
            # (An agent's row may come from this worker's cache: it is checked again below, once registered.)
            self.actor, self.agent, allowed_origins = await auth.socket_identity(token, self.tenant_hint)
            if self.agent is not None:
                origin_ok = self.origin is None or self.origin == self.handler.own_origin()
            else:
                origin_ok = self.origin is None or origin_allowed(
                    self.origin, {"allowed_origins": allowed_origins}, self.handler.request)
        except Unauthorized as exc:
            self.close(CLOSE_UNAUTHORIZED, exc.message[:100])
            return
        except ApiError as exc:  # the store cannot tell who this is now (503): not the client's fault
            self.hub.unavailable_log.note(getattr(exc, "detail", exc.message))
            self.close(CLOSE_TRY_AGAIN_LATER, "temporarily unavailable: reconnect in a moment")
            return
        if not origin_ok:
            self.close(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
            return
        if self.closed:
            return  # gone while its check was read
        kind = self.actor.kind
        self.kind, self.tenant_id = kind, self.actor.tenant_id
        if kind == domain.AGENT:
            self.typing_sent = {}
        resume = frame.get("resume") or {}
        if not isinstance(resume, dict) or len(resume) > MAX_RESUME_SESSIONS or not all(
                isinstance(k, str) and SESSION_ID_RE.fullmatch(k) and isinstance(v, int) and not isinstance(v, bool)
                and 0 <= v <= models.MAX_DB_INT for k, v in resume.items()):
            self.close(CLOSE_UNAUTHORIZED, "resume must map session ids to seqs")
            return
        if kind == domain.VISITOR:
            resume = {self.session_id: resume.get(self.session_id, self.actor.session["last_seq"])}
        if self.hub.draining:
            # Upgraded before SIGTERM's drain, authenticated after it: go elsewhere like the others.
            self.close(CLOSE_RESTART, "server restarting: reconnect")
            return
        # Registered first, with live events held, then the store is read: nothing falls between.
        self.cursor.begin_catch_up()
        await self.hub.add(self)
        try:
            # One read in a batch with the other sockets': what it missed and, for an agent, its check against
            # the store now that any later revocation reaches it (the row it was let in with may be cached).
            fresh, pages = await auth.socket_catch_up(self.actor, resume, RESUME_PAGE, agent=self.agent)
        except ApiError as exc:
            log.warning("ws %s: catch-up failed (%s); closing so the client resumes", self.id, exc.message)
            self.close(CLOSE_RESTART, "temporarily unavailable: reconnect and resume")
            return
        if self.closed:
            return
        if self.agent is not None:
            if fresh is None:
                self.close(CLOSE_UNAUTHORIZED, "this sign-in is no longer valid; sign in again")
                return
            self.agent, self.actor = fresh, Actor.of_agent(fresh)
        data: dict[str, Any] = {"kind": self.kind, "worker": self.hub.worker_id, "connection_id": self.id,
                                "heartbeat_interval_secs": self.services.config.heartbeat_interval_secs}
        if self.agent:
            data["agent"] = models.agent_model(self.agent)
            data["presence"] = {str(k): v for k, v in (await self.hub.presence_snapshot(self.tenant_id)).items()}
        else:
            data["session_id"] = self.session_id
        self.send("auth.ok", data)
        self.cursor.resume(resume)
        await self._catch_up(set(resume), pages)

    # ---- delivery -----------------------------------------------------------------

    def deliver(self, event: Event, payload: str) -> None:
        if self.closed or self.kind is None:
            return
        if event.meta.get("origin") == self.id:
            return  # our own typing / presence echo
        self._act(self.cursor.offer(event, payload), event, payload)

    def _act(self, decision: Decision, event: Event, payload: str) -> None:
        if decision is Decision.SEND:
            self.send_raw(payload)
        elif decision is Decision.GAP:
            asyncio.get_running_loop().create_task(self._catch_up({event.session_id}))
        elif decision is Decision.OVERFLOW:
            self.close(CLOSE_TOO_SLOW, "too far behind: reconnect and resume")

    async def _catch_up(self, session_ids: set[str], pages: dict[str, list[dict]] | None = None) -> None:
        """Send what the store has after what this socket saw, for each session, then what was held.
        `pages`: the first page of each, read already. The reads are batched with the other sockets'."""
        pending = list(session_ids)
        sent = dict.fromkeys(pending, 0)
        try:
            while pending and not self.closed:
                if pages is None:
                    after = {sid: self.cursor.after(sid) for sid in pending}
                    _, pages = await self.services.auth.socket_catch_up(self.actor, after, RESUME_PAGE)
                more = []
                for session_id in pending:
                    rows = pages.get(session_id, ())
                    for row in rows:
                        self.send_raw(json_dumps({"type": events.MESSAGE_NEW, "data": {
                            "message": models.message_model(row), "session_id": session_id, "replayed": True}}))
                        self.cursor.track(session_id, row["seq"])
                    sent[session_id] += len(rows)
                    if len(rows) >= RESUME_PAGE and sent[session_id] < MAX_CATCH_UP_PER_SESSION:
                        more.append(session_id)
                pending, pages = more, None
        except ApiError as exc:
            log.warning("ws %s: catch-up failed (%s); closing so the client resumes", self.id, exc.message)
            self.close(CLOSE_RESTART, "temporarily unavailable: reconnect and resume")
            return
        for event, payload, decision in self.cursor.release():
            if self.closed:
                return
            self._act(decision, event, payload)

    def resync(self) -> None:
        """After a bus outage: fill every tracked session's gap; agents also refetch their lists."""
        if self.closed or self.kind is None:
            return
        if self.kind == domain.AGENT:
            self.send("chat.resync", {"reason": "realtime connection restored"})
        if self.cursor.begin_catch_up():
            asyncio.get_running_loop().create_task(self._catch_up(set(self.cursor.seen)))

    # ---- teardown ------------------------------------------------------------------

    async def on_closed(self) -> None:
        self.closed = True
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        if self.kind is not None:
            await self.hub.remove(self)
