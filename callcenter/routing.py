"""Routing and availability: auto-assignment by capacity, the queue visitors wait in, business hours.

In auto mode a new conversation (or one the AI hands over) waits in the tenant's queue until an online
agent has room: the store gives it out under the tenant's row lock, so several workers deciding at
once still assign each conversation once. What frees a slot or adds one (a resolve, a transfer, an
agent coming online, a raised capacity, opening time) asks for a dispatch; a sweep every
ROUTING_SWEEP_INTERVAL_SECS catches anything missed (a worker that died mid-way, opening hours).

After a change the tenant hears of it, coalesced to one round per ROUTING_NOTIFY_INTERVAL_SECS: its
agents get `chat.routing.updated` (loads and the queue), and the waiting visitors their place in line
(one internal event carries every position; each worker tells its own visitors' sockets).
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Callable

from . import business_hours, domain, events, models
from .bus import cancel_and_wait
from .config import Config
from .errors import ApiError
from .presence import Presence
from .publisher import EventPublisher
from .push import PushNotifier
from .store import Store, now_ms
from .webhook_models import CONVERSATION_ASSIGNED

log = logging.getLogger("callcenter.routing")

ROUTING_SWEEP_INTERVAL_SECS = 15.0
ROUTING_NOTIFY_INTERVAL_SECS = 1.0
# Assignments per transaction (a long queue is given out in several).
ASSIGN_BATCH = 200
# Visitors told their place in line: the first this many (the others hear once they move up).
QUEUE_POSITIONS_TOLD = 1000
# How long a tenant's typical time to a first answer (the wait estimate) is kept before it is read again.
WAIT_ESTIMATE_TTL_SECS = 60.0
WAIT_ESTIMATES_KEPT = 10_000
# Online agents whose avatar the widget's header shows.
TEAM_AVATARS_SHOWN = 3


def estimated_wait_secs(position: int, typical_secs: int | None, agents_online: int) -> int | None:
    """About how long the `position`-th in line waits: the tenant's typical time to a first answer per
    round of the online agents ahead of it (None without history)."""
    if typical_secs is None:
        return None
    return typical_secs * math.ceil(position / max(1, agents_online))


class RoutingService:
    def __init__(self, store: Store, publisher: EventPublisher, presence: Presence, push: PushNotifier,
                 config: Config, clock: Callable[[], float] = time.time):
        self.store = store
        self.publisher = publisher
        self.presence = presence
        self.push = push
        self.config = config
        self.clock = clock
        self._dispatching: set[str] = set()
        self._dispatch_again: set[str] = set()
        self._notify_due: set[str] = set()
        self._typical: dict[str, tuple[float, int | None]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="routing-sweep")

    async def close(self) -> None:
        await cancel_and_wait(self._sweeper)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- what a new conversation does ----------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def is_open(self, tenant: dict) -> bool:
        return business_hours.is_open(business_hours.settings_of(tenant), self.now_ms())

    @staticmethod
    def mode(tenant: dict) -> str:
        return domain.workspace_settings(tenant)["routing"]

    # ---- triggers (each returns at once; the work runs in the background) ------------------------------

    def changed(self, tenant_id: str) -> None:
        """Something that may free or add a slot happened (new conversation, resolve, transfer, capacity)."""
        self._spawn(self.dispatch(tenant_id))

    def reopened(self, session: dict) -> None:
        """An unassigned conversation was reopened: in auto mode it joins the queue again."""
        self._spawn(self._requeue(session["tenant_id"], session["id"]))

    async def _requeue(self, tenant_id: str, session_id: str) -> None:
        try:
            tenant = await self.store.get_tenant(tenant_id)
            if tenant is not None and self.mode(tenant) == "auto" and await self.store.enqueue(tenant_id, session_id):
                await self.dispatch(tenant_id)
        except ApiError as exc:
            log.warning("routing: could not queue session %s again: %s", session_id, exc.message)

    def on_agent_status(self, tenant_id: str, agent_id: int, status: str) -> None:
        """An agent came online (room appears), went away or offline (loads change for the team view)."""
        if status == "online":
            self.changed(tenant_id)
        else:
            self.notify_later(tenant_id)

    def on_event(self, event: events.Event) -> None:
        """Bus listener: a conversation the AI handed to humans joins the queue (any worker may see it first;
        queueing it twice is a no-op)."""
        if event.type == events.SESSION_HANDOFF:
            self._spawn(self._requeue(event.tenant_id, event.data["session_id"]))

    async def mode_changed(self, tenant_id: str, mode: str, ai_answers_first: bool) -> None:
        """Switched to auto: the waiting conversations join the queue, oldest first (while the AI answers,
        only those it handed over). Switched to manual: the queue empties (they stay unassigned)."""
        if mode == "auto":
            await self.store.queue_unassigned(tenant_id, only_handed_off=ai_answers_first)
            self.changed(tenant_id)
        else:
            await self.store.clear_queue(tenant_id)
            self.notify_later(tenant_id)

    # ---- assignment ---------------------------------------------------------------------------------------

    async def dispatch(self, tenant_id: str) -> None:
        """Give out what can be given now. One at a time per tenant in this worker; a call while one runs
        makes it run once more afterwards (a burst of triggers costs two rounds, not one each)."""
        if tenant_id in self._dispatching:
            self._dispatch_again.add(tenant_id)
            return
        self._dispatching.add(tenant_id)
        try:
            while True:
                self._dispatch_again.discard(tenant_id)
                await self._dispatch_round(tenant_id)
                if tenant_id not in self._dispatch_again:
                    break
        except ApiError as exc:
            log.warning("routing: dispatch for tenant %s failed (%s); the sweep tries again", tenant_id, exc.message)
        except Exception:  # a background round (e.g. a deadlock the database broke): the sweep tries again
            log.exception("routing: dispatch for tenant %s failed; the sweep tries again", tenant_id)
        finally:
            self._dispatching.discard(tenant_id)
        self.notify_later(tenant_id)

    async def _dispatch_round(self, tenant_id: str) -> None:
        tenant = await self.store.get_tenant(tenant_id)
        if tenant is None or self.mode(tenant) != "auto" or not self.is_open(tenant):
            return
        statuses = await self.presence.agent_statuses(tenant_id)
        online = [agent_id for agent_id, status in statuses.items() if status == "online"]
        while online:
            given = await self.store.assign_from_queue(tenant_id, online, limit=ASSIGN_BATCH)
            if given:
                await self._announce(given)
            if len(given) < ASSIGN_BATCH:
                break

    async def _announce(self, given: list[tuple[dict, dict, dict]]) -> None:
        evts = []
        for session, agent, note in given:
            evts += [events.message_new(note, session), events.session_assigned(session, agent, None),
                     events.agent_joined(session, agent)]
        await self.publisher.publish(*evts)
        for session, agent, _ in given:
            await self.publisher.to_webhooks(CONVERSATION_ASSIGNED, session, agent=models.agent_model(agent),
                                             by_agent_id=None)
            self.push.on_auto_assigned(session, agent)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(ROUTING_SWEEP_INTERVAL_SECS)
            try:
                for tenant_id in await self.store.tenants_with_queue():
                    await self.dispatch(tenant_id)
            except ApiError as exc:
                log.warning("routing sweep failed: %s", exc.message)

    # ---- what the team and the visitors see -------------------------------------------------------------

    async def typical_first_response_secs(self, tenant_id: str) -> int | None:
        cached = self._typical.get(tenant_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        typical = await self.store.typical_first_response_secs(tenant_id)
        if len(self._typical) >= WAIT_ESTIMATES_KEPT:
            self._typical.clear()
        self._typical[tenant_id] = (now + WAIT_ESTIMATE_TTL_SECS, typical)
        return typical

    async def queue_of(self, session: dict) -> dict | None:
        """A waiting conversation's place in line and wait estimate (None when it is not waiting)."""
        if session.get("queued_at_ms") is None:
            return None
        tenant_id = session["tenant_id"]
        position = await self.store.queue_position(tenant_id, session["id"])
        if position is None:
            return None
        online = sum(1 for s in (await self.presence.agent_statuses(tenant_id)).values() if s == "online")
        return {"position": position,
                "estimated_wait_secs": estimated_wait_secs(position, await self.typical_first_response_secs(tenant_id),
                                                           online)}

    async def team_info(self, tenant_id: str) -> dict:
        """What the widget may show of the team: how many are online, how fast they usually answer, and
        the avatars (initials and colour, never a name or address) of up to TEAM_AVATARS_SHOWN of them."""
        statuses = await self.presence.agent_statuses(tenant_id)
        online = sorted(agent_id for agent_id, status in statuses.items() if status == "online")
        avatars = []
        for agent_id in online[:TEAM_AVATARS_SHOWN]:
            agent = await self.store.get_agent(tenant_id, agent_id)
            if agent is not None and agent["active"]:
                avatars.append({"initials": domain.initials(agent["name"]),
                                "color": domain.agent_profile(agent)["avatar_color"]})
        return {"agents_online": len(online), "avatars": avatars,
                "typical_first_response_secs": await self.typical_first_response_secs(tenant_id)}

    async def overview(self, tenant_id: str) -> dict:
        """The team's loads against capacity and the queue (GET /routing and chat.routing.updated)."""
        overview, _ = await self._overview(tenant_id, positions_told=0)
        return overview

    async def _overview(self, tenant_id: str, positions_told: int) -> tuple[dict, list[str]]:
        """(the overview, {} without such a tenant; the first `positions_told` queued ids in line order)."""
        tenant = await self.store.get_tenant(tenant_id)
        if tenant is None:
            return {}, []
        ids, count, oldest = await self.store.queue_snapshot(tenant_id, limit=positions_told)
        statuses = await self.presence.agent_statuses(tenant_id)
        agents = [a for a in await self.store.list_agents(tenant_id) if a["active"] and not a["invited"]]
        settings = domain.workspace_settings(tenant)
        return {
            "mode": settings["routing"], "queue_length": count, "oldest_queued_at": models.iso(oldest),
            "queue_alert_secs": settings["queue_alert_secs"], "open": self.is_open(tenant),
            "agents": [{"agent_id": a["id"], "name": a["name"], "status": statuses.get(a["id"], "offline"),
                        "open_conversations": a["open_sessions"], "max_conversations": a["max_conversations"]}
                       for a in agents],
        }, ids

    def notify_later(self, tenant_id: str) -> None:
        """Tell the tenant's agents and waiting visitors, once for every change within the interval."""
        if tenant_id in self._notify_due:
            return
        self._notify_due.add(tenant_id)
        self._spawn(self._notify(tenant_id))

    async def _notify(self, tenant_id: str) -> None:
        try:
            await asyncio.sleep(ROUTING_NOTIFY_INTERVAL_SECS)
        finally:
            self._notify_due.discard(tenant_id)
        try:
            overview, ids = await self._overview(tenant_id, positions_told=QUEUE_POSITIONS_TOLD)
            if not overview:
                return
            count = overview["queue_length"]
            typical = await self.typical_first_response_secs(tenant_id)
            online = sum(1 for a in overview["agents"] if a["status"] == "online")
            positions = {sid: [n, estimated_wait_secs(n, typical, online)] for n, sid in enumerate(ids, start=1)}
            await self.publisher.publish(
                events.Event(events.ROUTING_UPDATED, tenant_id, overview, to_agents=True),
                events.queue_positions(tenant_id, positions, count))
        except ApiError as exc:  # (Unavailable among them)
            log.warning("routing: could not tell tenant %s of the queue: %s", tenant_id, exc.message)
