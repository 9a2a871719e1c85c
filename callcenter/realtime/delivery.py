"""Ordered delivery for one socket, apart from the socket (so it is tested without one, as Zulip
tests its event queues apart from Tornado).

Per session, `seen` is the last seq this socket was sent. A `chat.message.new` with seq <= seen is a
repeat and dropped; one with seq > seen + 1 means something was missed (a resume, a bus outage, a
private note the visitor never gets), so the socket fetches the gap from the store before anything
else goes out. While it catches up, live events are held and offered again afterwards through the
same check: the store fills every hole, the check removes every repeat.
"""
from __future__ import annotations

import collections
import enum
from typing import Any

from .. import events

# Sessions whose seq an agent socket tracks (least recently active dropped first).
MAX_TRACKED_SESSIONS = 1000
# Live events held while catching up from the store.
MAX_HELD_EVENTS = 10_000


class Decision(enum.Enum):
    SEND = "send"  # hand it to the client now
    DROP = "drop"  # a repeat of what the client has
    HOLD = "hold"  # kept until the catch-up in progress ends
    GAP = "gap"  # something before it is missing: catch this session up from the store (it is held)
    OVERFLOW = "overflow"  # too much held: the client should reconnect and resume


class DeliveryCursor:
    __slots__ = ("seen", "held", "max_sessions", "max_held")

    def __init__(self, *, max_sessions: int = MAX_TRACKED_SESSIONS, max_held: int = MAX_HELD_EVENTS):
        self.seen: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.held: list[tuple[events.Event, Any]] | None = None  # None: not catching up
        self.max_sessions = max_sessions
        self.max_held = max_held

    @property
    def catching_up(self) -> bool:
        return self.held is not None

    def begin_catch_up(self) -> bool:
        """Hold live events from now on; False when a catch-up is already in progress."""
        if self.held is not None:
            return False
        self.held = []
        return True

    def resume(self, last_seqs: dict[str, int]) -> None:
        """What the client says it has seen (its resume), per session."""
        for session_id, seq in last_seqs.items():
            self.seen[session_id] = seq

    def after(self, session_id: str) -> int:
        """The seq to fetch after (0: from the start)."""
        return self.seen.get(session_id, 0)

    def track(self, session_id: str, seq: int) -> None:
        """`seq` of the session was sent."""
        self.seen[session_id] = seq
        self.seen.move_to_end(session_id)
        if len(self.seen) > self.max_sessions:
            self.seen.popitem(last=False)

    def offer(self, event: events.Event, payload: Any) -> Decision:
        """What to do with a live event (tracked as sent when the answer is SEND)."""
        if self.held is not None:
            if len(self.held) >= self.max_held:
                return Decision.OVERFLOW
            self.held.append((event, payload))
            return Decision.HOLD
        return self._check(event, payload)

    def _check(self, event: events.Event, payload: Any) -> Decision:
        if event.type != events.MESSAGE_NEW:
            return Decision.SEND
        session_id, seq = event.session_id, event.data["message"]["seq"]
        last = self.seen.get(session_id)
        if last is not None:
            if seq <= last:
                return Decision.DROP
            if seq > last + 1:
                self.held = [(event, payload)]
                return Decision.GAP
        self.track(session_id, seq)
        return Decision.SEND

    def release(self) -> "list[tuple[events.Event, Any, Decision]]":
        """The catch-up is done: every held event with what to do with it, in order. Stops at a new
        gap (that event's answer is GAP, and it and the rest stay held for the next catch-up)."""
        held, self.held = self.held or [], None
        out = []
        for i, (event, payload) in enumerate(held):
            decision = self._check(event, payload)
            out.append((event, payload, decision))
            if decision is Decision.GAP:
                self.held.extend(held[i + 1:])
                break
        return out
