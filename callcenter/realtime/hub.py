"""This worker's sockets, and the routing of bus events to them.

The hub is the bus listener: each event is serialized once, then handed to
the local connections it concerns (the tenant's agents, one agent, or the
session's visitor). Handing over never waits on a socket; each connection
buffers, orders, de-duplicates and bounds its own output.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Callable

from .. import events
from ..batching import Batcher
from ..bus import Bus, cancel_and_wait
from ..config import Config
from ..events import Event
from ..metrics import Metrics
from ..presence import PRESENCE_REFRESH_SECS, Presence, aggregate
from ..publisher import EventPublisher

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger("callcenter.hub")

# A heartbeat round pings every socket once per `Config.heartbeat_interval_secs`, spread over the
# round in slices of about HEARTBEAT_PINGS_PER_SLICE sockets, at most one slice per
# HEARTBEAT_TICK_SECS (10,000 sockets: 5 every 10 ms). With no socket the hub looks again after
# HEARTBEAT_IDLE_RECHECK_SECS.
HEARTBEAT_TICK_SECS = 0.01
HEARTBEAT_PINGS_PER_SLICE = 5
HEARTBEAT_IDLE_RECHECK_SECS = 1.0
# Sockets refused while the store is unreachable are logged once per this many seconds (with a count).
UNAVAILABLE_LOG_INTERVAL_SECS = 10.0
# Presence changes per Presence.set_many call.
PRESENCE_BATCH = 500


class BurstLog:
    """One warning for a burst of the same failure: the first at once, then at most one per interval,
    saying how many happened since (400 sockets refused in a second are one line, not 400)."""

    def __init__(self, logger: logging.Logger, what: str, interval_secs: float) -> None:
        self.logger, self.what, self.interval_secs = logger, what, interval_secs
        self.logged_at = -math.inf
        self.unlogged = 0

    def note(self, detail: str) -> None:
        self.unlogged += 1
        now = time.monotonic()
        if now - self.logged_at >= self.interval_secs:
            self.logger.warning("%s (%d since the last such line): %s", self.what, self.unlogged, detail)
            self.logged_at, self.unlogged = now, 0


class Hub:
    def __init__(self, config: Config, bus: Bus, publisher: EventPublisher, presence: Presence, metrics: Metrics):
        self.config = config
        self.bus = bus
        self.publisher = publisher
        self.presence = presence
        self.metrics = metrics
        self.worker_id = presence.worker_id
        self.agents: dict[str, set[Connection]] = defaultdict(set)
        self.visitors: dict[str, set[Connection]] = defaultdict(set)
        # Local connection counts per presence subject, and each subject's status here.
        self._local: dict[tuple[str, str], dict[Connection, str]] = defaultdict(dict)
        self._task: asyncio.Task | None = None
        self._heartbeat_task: asyncio.Task | None = None
        self.draining = False
        # Called with (tenant id, agent id, status) when an agent's status changes (routing listens).
        self.presence_listeners: list[Callable[[str, int, str], None]] = []
        # Per waiting session with a visitor socket here: (tenant id, the place in line it was last told).
        self._queue_told: dict[str, tuple[str, list]] = {}
        self.unavailable_log = BurstLog(log, "sockets refused with close 1013 (try again later)",
                                        UNAVAILABLE_LOG_INTERVAL_SECS)
        # The presence changes of one step of the loop (a reconnect storm's sockets) in one Presence.set_many.
        self.presence_changes: Batcher[tuple[str, str, str | None], tuple[str, str]] = Batcher(
            self.presence.set_many, max_batch=PRESENCE_BATCH, name="presence-changes")

    # ---- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        self.bus.add_listener(self.on_event)
        self.bus.add_reconnect_listener(self.on_bus_reconnect)
        try:
            await self.presence.refresh(self._local_presence)  # the first heartbeat, before any socket
        except Exception as exc:  # best effort, like every presence call
            log.warning("presence heartbeat failed: %s", exc)
        self._task = asyncio.create_task(self._housekeeping(), name="hub-housekeeping")
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="hub-heartbeat")

    async def close(self) -> None:
        self.bus.remove_listener(self.on_event)
        await cancel_and_wait(self._task)
        await cancel_and_wait(self._heartbeat_task)

    def all_connections(self) -> list[Connection]:
        conns = [c for group in self.agents.values() for c in group]
        conns += [c for group in self.visitors.values() for c in group]
        return conns

    async def drain(self, reason: str = "server restarting") -> None:
        """SIGTERM: ask every socket to reconnect elsewhere (close code 1012)."""
        self.draining = True
        for conn in self.all_connections():
            conn.close(1012, reason)

    # ---- registration --------------------------------------------------------

    def _place(self, conn: Connection) -> tuple[dict[str, set[Connection]], str, str]:
        """Where a connection is registered (registry, key) and its presence subject."""
        if conn.kind == "agent":
            return self.agents, conn.tenant_id, f"a:{conn.agent['id']}"
        return self.visitors, conn.session_id, f"v:{conn.session_id}"

    async def add(self, conn: Connection) -> None:
        registry, key, subject = self._place(conn)
        registry[key].add(conn)
        self.metrics.sockets_open.labels(conn.kind).inc()
        # Registered first, then the tenant's channel: the caller reads the store only once this returns, so an
        # event is either in what it reads or comes through the confirmed subscription.
        await self.bus.subscribe_tenant(conn.tenant_id)
        await self._presence_change(conn, subject, "online")

    async def remove(self, conn: Connection) -> None:
        registry, key, subject = self._place(conn)
        group = registry.get(key)
        if group is None or conn not in group:
            return
        group.discard(conn)
        if not group:
            registry.pop(key, None)
            if conn.kind != "agent":
                self._queue_told.pop(key, None)
        self.bus.release_tenant(conn.tenant_id)
        self.metrics.sockets_open.labels(conn.kind).dec()
        await self._presence_change(conn, subject, None)

    async def set_status(self, conn: Connection, status: str) -> None:
        await self._presence_change(conn, f"a:{conn.agent['id']}", status)

    async def _presence_change(self, conn: Connection, subject: str, status: str | None) -> None:
        key = (conn.tenant_id, subject)
        local = self._local[key]
        if status is None:
            local.pop(conn, None)
        else:
            local[conn] = status
        if not local:
            self._local.pop(key, None)
        here = aggregate(local.values()) if local else None
        try:
            # (In order with the other changes: one batch at a time, each applied in submission order.)
            before, after = await self.presence_changes.submit((conn.tenant_id, subject, here))
        except Exception as exc:  # presence is best effort; chat goes on without it
            log.warning("presence update failed: %s", exc)
            return
        if before != after:
            await self._announce(conn.tenant_id, subject, after)

    async def _announce(self, tenant_id: str, subject: str, status: str) -> None:
        kind, _, ident = subject.partition(":")
        if kind == "a":
            event = Event(events.AGENT_PRESENCE, tenant_id, {"agent_id": int(ident), "status": status})
            for listener in self.presence_listeners:
                listener(tenant_id, int(ident), status)
        else:
            event = Event(events.VISITOR_PRESENCE, tenant_id, {"session_id": ident, "online": status != "offline"},
                          session_id=ident)
        await self.publisher.publish(event)

    async def presence_snapshot(self, tenant_id: str) -> dict[int, str]:
        return await self.presence.agent_statuses(tenant_id)

    async def visitor_online(self, tenant_id: str, session_id: str) -> bool:
        try:
            return await self.presence.status(tenant_id, f"v:{session_id}") != "offline"
        except Exception:  # best effort
            return False

    # ---- routing ---------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if event.type == events.AGENT_REVOKED:
            for conn in list(self.agents.get(event.tenant_id, ())):
                if conn.agent["id"] == event.data["agent_id"]:
                    conn.close(4010, "sign-in revoked")
            return
        if event.type == events.QUEUE_POSITIONS:
            self._tell_queue(event)
            return
        targets: list[Connection] = []
        if event.to_agents:
            for conn in self.agents.get(event.tenant_id, ()):
                if event.agent_id is None or conn.agent["id"] == event.agent_id:
                    targets.append(conn)
        if event.to_visitor and event.session_id:
            targets.extend(c for c in self.visitors.get(event.session_id, ()) if c.tenant_id == event.tenant_id)
        if not targets:
            return
        payload = event.frame_json()
        published = event.meta.get("published_at")
        for conn in targets:
            conn.deliver(event, payload)
        if published and event.type == events.MESSAGE_NEW:
            self.metrics.delivery_latency.observe(max(0.0, time.time() - published))
        self.metrics.frames_delivered.inc(len(targets))

    def _tell_queue(self, event: Event) -> None:
        """Each of this worker's waiting visitors whose place changed hears it; one who was told a place
        and is no longer in line (assigned, resolved, routing switched off) hears null."""
        tenant_id, positions, total = event.tenant_id, event.data["positions"], event.data["total"]
        for session_id, place in positions.items():
            if session_id in self.visitors and self._queue_told.get(session_id, (None, None))[1] != place:
                self._tell_place(tenant_id, session_id, place)
        if total > len(positions):
            return  # the ones further back were not listed: not a sign that they left the line
        for session_id, (told_tenant, _) in list(self._queue_told.items()):
            if told_tenant == tenant_id and session_id not in positions:
                self._tell_place(tenant_id, session_id, None)

    def _tell_place(self, tenant_id: str, session_id: str, place: list | None) -> None:
        if place is None:
            self._queue_told.pop(session_id, None)
        else:
            self._queue_told[session_id] = (tenant_id, place)
        update = events.queue_updated(tenant_id, session_id, place)
        payload = update.frame_json()
        for conn in self.visitors.get(session_id, ()):
            if conn.tenant_id == tenant_id:
                conn.deliver(update, payload)

    async def on_bus_reconnect(self, tenants: frozenset[str] | None = None) -> None:
        """Events of these tenants (None: of all) may have been missed while their channel was lost: their
        sockets catch up from the store."""
        conns = [conn for conn in self.all_connections() if tenants is None or conn.tenant_id in tenants]
        log.info("bus back: resyncing %d sockets", len(conns))
        for conn in conns:
            conn.resync()

    async def _heartbeat(self) -> None:
        """Ping every socket once per interval, from this one loop rather than a task per socket
        (memory per idle socket), in small slices so that 10,000 sockets never mean a burst of
        writes (and of pongs coming back) that holds up requests: 25 pings per 50 ms gave /healthz
        a p99 over 5 ms with 10,000 idle sockets, 5 per 10 ms about 4. A socket silent since its
        last ping is dropped. Few sockets make few, long slices: a round always lasts the interval
        (a socket is not pinged more often), and an idle worker wakes up about once a second."""
        while True:
            interval = self.config.heartbeat_interval_secs
            sockets = self.all_connections()
            if not sockets:
                await asyncio.sleep(min(interval, HEARTBEAT_IDLE_RECHECK_SECS))
                continue
            slices = max(1, min(math.ceil(len(sockets) / HEARTBEAT_PINGS_PER_SLICE),
                                math.floor(interval / HEARTBEAT_TICK_SECS)))
            per_slice = math.ceil(len(sockets) / slices)
            for start in range(0, slices * per_slice, per_slice):
                await asyncio.sleep(interval / slices)
                now = time.monotonic()
                for conn in sockets[start:start + per_slice]:
                    conn.heartbeat(now, timeout_secs=interval)

    def _local_presence(self) -> dict[tuple[str, str], str]:
        return {key: aggregate(local.values()) for key, local in self._local.items()}

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_SECS)
            try:
                await self.presence.refresh(self._local_presence)
                for tenant_id, subject in await self.presence.sweep():
                    await self._announce(tenant_id, subject, "offline")
            except Exception as exc:  # keep the loop alive whatever a round hits
                log.warning("presence housekeeping failed: %s", exc)
