"""Events out: told to everyone after the commit, without the caller waiting for the bus.

One `EventPublisher` per process. Services publish through it once their transaction has committed
(a message is stored before anyone hears of it); the bus carries each event to the other workers and
the hub hands it to this worker's sockets.
"""
from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import TYPE_CHECKING

from .bus import Bus, BusUnavailable
from .events import Event
from .metrics import Metrics

if TYPE_CHECKING:  # (the outbox reads the store: the real-time layer, which imports this module, may not)
    from .webhook_events import WebhookOutbox

log = logging.getLogger("callcenter.services")


class EventPublisher:
    def __init__(self, bus: Bus, metrics: Metrics, webhooks: "WebhookOutbox | None" = None):
        self.bus = bus
        self.metrics = metrics
        self.webhooks = webhooks  # the tenants' webhooks hear of the same moments (webhook_events.py)
        self._outbox: list[Event] = []  # published in this step, flushed right after it
        self._publishing: set[asyncio.Future] = set()  # on their way to the bus

    async def publish(self, *evts: Event) -> None:
        """Tell everyone, after the commit, without waiting for the bus: the caller (a socket's
        next frame, the HTTP answer) goes on while Redis takes the event. Events go out in the
        order they were published. The other workers' copy leaves at once; this worker's sockets
        get theirs right after the caller's current step (so a sender's ack goes out before the
        echo of its message). A bus outage only delays delivery: clients resume from the store,
        so the request still succeeds. (Async for the callers' sake; it never waits.)"""
        now = time.time()
        for event in evts:
            event.meta.setdefault("published_at", now)
            future = self.bus.send_to_others(event)
            if future is None:
                self._published(event.type)
            else:
                self._publishing.add(future)
                future.add_done_callback(partial(self._on_published, event.type))
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._deliver_outbox)
        self._outbox.extend(evts)

    async def to_webhooks(self, event: str, session: dict, **data) -> None:
        """After the commit too: queue a webhook event (webhook_events.py; nothing for a tenant without a
        webhook taking it). Awaited by the change's caller, so one request's events are queued in order."""
        if self.webhooks is not None:
            await self.webhooks.emit(event, session, data)

    async def message_to_webhooks(self, message: dict, session: dict | None) -> None:
        """`message.created` for a visitor's, an agent's or the AI's message (never a note or a system line)."""
        if self.webhooks is not None:
            await self.webhooks.message_created(message, session)

    def _deliver_outbox(self) -> None:
        batch, self._outbox = self._outbox, []
        for event in batch:
            self.bus.deliver_here(event)

    def _on_published(self, event_type: str, future: asyncio.Future) -> None:
        self._publishing.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            self._published(event_type)
        elif isinstance(exc, BusUnavailable):
            log.warning("bus unavailable, %s not published live (%s)", event_type, exc)
        else:
            log.error("publishing %s failed", event_type, exc_info=exc)

    def _published(self, event_type: str) -> None:
        self.metrics.events_published.labels(event_type).inc()

    async def wait_published(self) -> None:
        """Until every event published so far is on the bus (shutdown)."""
        while self._outbox or self._publishing:
            await asyncio.sleep(0)  # the outbox's flush is already scheduled
            if self._publishing:
                await asyncio.gather(*self._publishing, return_exceptions=True)
