"""Webhook events: their names, what a webhook and a delivery look like in the API, and the outbox
that queues an event for the tenant's webhooks right after the change committed.

The events (each carries `data.conversation`, the conversation as the agent API serialises it):
- `conversation.created`  a visitor started a chat;
- `message.created`       a visitor's, an agent's or the AI's message (`data.message`). Never a private
                          note (sender_type "note", AI summaries included) and never a system line
                          ("Ann joined the conversation"): the state changes those lines describe
                          have events of their own;
- `conversation.assigned` assigned or transferred (`data.agent`: who has it now; `data.by_agent_id`);
- `conversation.resolved` (`data.by_agent_id`);
- `conversation.rated`    the visitor rated it (`data.rating`).

Which webhooks take which event is read per tenant and cached for SUBSCRIBERS_CACHE_SECS in each
worker (a change made in this worker applies at once), so a tenant without webhooks costs no query
per event and nothing is queued for it.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Callable

from redis.exceptions import RedisError

from . import domain, models
from .errors import Unavailable
from .store import Store, now_ms
from .webhook_models import MESSAGE_CREATED
from .webhook_queue import Item, MemoryWebhookQueue, RedisWebhookQueue

log = logging.getLogger("callcenter.webhooks")

SUBSCRIBERS_CACHE_SECS = 5.0
MAX_CACHED_TENANTS = 10_000


class WebhookOutbox:
    """Queues events for the tenant's active webhooks that take them (one queue entry per webhook)."""

    def __init__(self, store: Store, queue: MemoryWebhookQueue | RedisWebhookQueue):
        self.store = store
        self.queue = queue
        self._subscribers: dict[str, tuple[float, list[tuple[int, list[str]]]]] = {}

    def forget(self, tenant_id: str) -> None:
        """The tenant's webhooks changed (here): read them again at the next event."""
        self._subscribers.pop(tenant_id, None)

    async def subscribers(self, tenant_id: str, event: str) -> list[int]:
        cached = self._subscribers.get(tenant_id)
        now = time.monotonic()
        if cached is None or cached[0] <= now:
            if len(self._subscribers) >= MAX_CACHED_TENANTS:
                self._subscribers.clear()
            cached = (now + SUBSCRIBERS_CACHE_SECS, await self.store.active_webhook_subscriptions(tenant_id))
            self._subscribers[tenant_id] = cached
        return [webhook_id for webhook_id, events in cached[1] if event in events]

    async def emit(self, event: str, session: dict, data: dict | Callable[[], dict]) -> None:
        """After the commit: queue `event` about `session` for the webhooks that take it (`data`, or a
        function making it: called only when some webhook does). The change has happened whatever
        becomes of this (a store or Redis outage is logged)."""
        tenant_id = session["tenant_id"]
        try:
            webhook_ids = await self.subscribers(tenant_id, event)
            if not webhook_ids:
                return
            created = now_ms()
            event_id = f"evt_{uuid.uuid4().hex}"
            body = models.json_dumps({"id": event_id, "event": event, "created_at": models.iso(created),
                                      "tenant_id": tenant_id,
                                      "data": {"conversation": models.agent_session_model(session),
                                               **(data() if callable(data) else data)}})
            await self.queue.put([Item(webhook_id, tenant_id, session["id"], event, event_id, created, body)
                                  for webhook_id in webhook_ids])
        except (Unavailable, RedisError, OSError) as exc:
            log.warning("webhooks: %s of session %s not queued (%s)", event, session.get("id"), exc)

    # ---- the product's moments, as the services call them after their commit -----------------------

    async def message_created(self, message: dict, session: dict | None) -> None:
        if session is not None and message["sender_type"] in domain.CONVERSATION_SENDER_TYPES:
            # Every message passes here: its model is made only for a tenant with a webhook taking it.
            await self.emit(MESSAGE_CREATED, session, lambda: {"message": models.message_model(message)})
