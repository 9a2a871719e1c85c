"""Delivering webhook events, in the background of every web worker (never in a request).

The queue (webhook_queue.py) hands this worker the entries of the partitions it holds. Entries of one
(webhook, conversation) form a lane, delivered one at a time in queue order: a delivery that fails
holds back the later events of that conversation for that webhook (and nothing else) until it is
delivered or given up. Lanes run side by side.

One delivery: POST (webhook_net.WebhookSender); a 2xx is delivered. A 5xx, 408, 429, timeout or
network error is retried after CALLCENTER_WEBHOOK_RETRY_BASE_SECS, doubling each time up to
CALLCENTER_WEBHOOK_RETRY_MAX_SECS, until CALLCENTER_WEBHOOK_GIVE_UP_SECS after the event (the last
attempt is made at that moment). A 3xx or another 4xx is recorded as failed and not retried. Every
attempt updates the delivery's row (the API's deliveries list). A failure marks the webhook failing
(since then); a delivery clears it. A webhook that has been failing for the give-up time (or whose
delivery was given up with no success since its first attempt) is switched off: `active: false`,
`disabled_reason`, an audit event (actor: the system), and `webhook.disabled` to each of the
tenant's admins' sockets. Events still queued for a webhook that is off or deleted are dropped.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time

from redis.exceptions import RedisError

from . import events
from .audit import AuditService
from .config import Config
from .errors import Unavailable
from .publisher import EventPublisher
from .store import Store, now_ms
from .webhook_events import WebhookOutbox
from .webhook_models import webhook_model
from .webhook_net import SecretBox, WebhookSender
from .webhook_queue import PARTITIONS, Entry, Item, MemoryWebhookQueue, RedisWebhookQueue

log = logging.getLogger("callcenter.webhooks")

# Entries this worker keeps in its lanes at most; past it, it reads no more until some are done.
MAX_ENTRIES_IN_HAND = 10_000
READ_BLOCK_SECS = 1.0
STORE_RETRY_MAX_SECS = 30.0
SYSTEM_ACTOR_NAME = "system"


def duration_text(secs: float) -> str:
    """86400 -> "24 hours" (the reason a webhook was switched off)."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if secs >= size and secs % size == 0:
            n = int(secs // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{secs:g} second{'' if secs == 1 else 's'}"


@dataclasses.dataclass
class Lane:
    partition: int
    entries: collections.deque = dataclasses.field(default_factory=collections.deque)
    task: asyncio.Task | None = None


class WebhookDispatcher:
    def __init__(self, store: Store, queue: MemoryWebhookQueue | RedisWebhookQueue, outbox: WebhookOutbox,
                 publisher: EventPublisher, config: Config, secrets: SecretBox, audit: AuditService | None = None):
        self.store = store
        self.queue = queue
        self.outbox = outbox
        self.publisher = publisher
        self.config = config
        self.secrets = secrets
        self.audit = audit
        self.sender = WebhookSender(config.webhook_allow_hosts, config.webhook_timeout_secs)
        self.lanes: dict[tuple[int, str], Lane] = {}
        self._known: set[tuple[int, str]] = set()  # (partition, entry ref) in a lane
        self._in_hand = 0
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read_loop(), name="webhook-reader"),
                       loop.create_task(self._lease_loop(), name="webhook-leases")]

    async def close(self) -> None:
        """Stop: deliveries in hand are cancelled (in Redis they stay pending: another worker, or this
        one's successor, takes them over), partitions are given back, the HTTP client closed."""
        self._stopping = True
        pending = {*self._tasks, *(lane.task for lane in self.lanes.values() if lane.task is not None)}
        while pending:
            # Again until they end: a cancellation that lands inside the Redis client can be swallowed there.
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=0.1)
        self.lanes.clear()
        try:
            await self.queue.close()
        except (RedisError, OSError) as exc:
            log.warning("webhooks: could not give the partitions back (%s)", exc)
        self.sender.close()

    # ---- taking entries ------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        every = max(0.05, self.config.webhook_lease_secs / 3)
        while not self._stopping:
            try:
                claimed = await self.queue.maintain(self._busy)
            except (RedisError, OSError) as exc:
                log.warning("webhooks: cannot renew the queue's partitions (%s)", exc)
                claimed = []
            for n in self.queue.pop_lost():
                self._drop_partition(n)
            self._dispatch(claimed)
            await asyncio.sleep(every)

    async def _read_loop(self) -> None:
        backoff = 0.1
        block = min(READ_BLOCK_SECS, max(0.05, self.config.webhook_lease_secs / 4))
        while not self._stopping:
            if self._in_hand >= MAX_ENTRIES_IN_HAND:
                await asyncio.sleep(0.5)
                continue
            try:
                entries = await self.queue.read(min(100, MAX_ENTRIES_IN_HAND - self._in_hand), block)
            except (RedisError, OSError) as exc:
                log.warning("webhooks: cannot read the queue (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            self._dispatch(entries)

    def _dispatch(self, entries: list[Entry]) -> None:
        for entry in entries:
            ident = (entry.partition, entry.ref or "")
            if entry.ref is not None and (ident in self._known or entry.partition not in self.queue.held):
                continue  # in a lane already, or of a partition no longer this worker's
            key = entry.item.key if entry.item is not None else (0, f"malformed:{entry.ref}")
            lane = self.lanes.get(key)
            if lane is None:
                lane = self.lanes[key] = Lane(entry.partition)
            lane.entries.append(entry)
            self._in_hand += 1
            if entry.ref is not None:
                self._known.add(ident)
            if lane.task is None:
                lane.task = asyncio.get_running_loop().create_task(self._run_lane(key, lane))

    def _busy(self, n: int) -> bool:
        """Entries of partition n are in hand (it must not change hands now)."""
        return any(lane.partition == n for lane in self.lanes.values())

    def _drop_partition(self, n: int) -> None:
        for key, lane in list(self.lanes.items()):
            if lane.partition == n:
                if lane.task is not None:
                    lane.task.cancel()
                self._forget(lane)
                self.lanes.pop(key, None)

    def _forget(self, lane: Lane) -> None:
        for entry in lane.entries:
            self._known.discard((entry.partition, entry.ref or ""))
        self._in_hand -= len(lane.entries)
        lane.entries.clear()

    async def _run_lane(self, key: tuple[int, str], lane: Lane) -> None:
        try:
            while lane.entries:
                entry = lane.entries[0]
                if entry.item is not None:
                    await self._deliver_steadily(entry.item)
                try:
                    await self.queue.ack(entry)
                except (RedisError, OSError) as exc:
                    log.warning("webhooks: could not acknowledge %s (%s)", entry.ref, exc)
                if lane.entries and lane.entries[0] is entry:
                    lane.entries.popleft()
                    self._in_hand -= 1
                    self._known.discard((entry.partition, entry.ref or ""))
        finally:
            if self.lanes.get(key) is lane:
                del self.lanes[key]

    async def _deliver_steadily(self, item: Item) -> None:
        """Deliver (or give up) one item; the store or Redis away only delays it."""
        wait = 0.5
        while True:
            try:
                await self.deliver(item)
                return
            except (Unavailable, RedisError, OSError) as exc:
                log.warning("webhooks: delivery of %s paused (%s)", item.event_id, exc)
                await asyncio.sleep(wait)
                wait = min(wait * 2, STORE_RETRY_MAX_SECS)
            except Exception:  # a bug must not hold the lane for ever
                log.exception("webhooks: delivery of %s to webhook %s failed", item.event_id, item.webhook_id)
                return

    # ---- one delivery -----------------------------------------------------------------------------

    async def deliver(self, item: Item) -> None:
        cfg = self.config
        give_up_at_ms = item.created_at_ms + int(cfg.webhook_give_up_secs * 1000)
        delay = cfg.webhook_retry_base_secs
        first_failure_ms: int | None = None
        body = item.body.encode()
        while True:
            webhook = await self.store.get_webhook(item.tenant_id, item.webhook_id)
            if webhook is None or not webhook["active"]:
                return  # deleted or switched off meanwhile: not delivered
            attempt = await self.sender.send(webhook["url"], self.secrets.open(webhook["secret"]), item.event,
                                             item.event_id, body)
            now = now_ms()
            if attempt.delivered:
                await self.store.record_webhook_attempt(
                    item.tenant_id, item.webhook_id, event=item.event, event_id=item.event_id,
                    status_code=attempt.status_code, error=None, duration_ms=attempt.duration_ms, delivered=True,
                    next_attempt_at_ms=None)
                if webhook["failing_since_ms"] is not None:
                    await self.store.webhook_succeeded(item.tenant_id, item.webhook_id)
                return
            first_failure_ms = first_failure_ms or now
            wait_ms = min(int(delay * 1000), max(0, give_up_at_ms - now))
            retry = attempt.retryable and now < give_up_at_ms
            await self.store.record_webhook_attempt(
                item.tenant_id, item.webhook_id, event=item.event, event_id=item.event_id,
                status_code=attempt.status_code, error=attempt.error, duration_ms=attempt.duration_ms,
                delivered=False, next_attempt_at_ms=now + wait_ms if retry else None)
            row = await self.store.webhook_failed(item.tenant_id, item.webhook_id, now)
            failing_since = (row or {}).get("failing_since_ms")
            gave_up = attempt.retryable and not retry  # the event's time ran out
            if failing_since is not None and (now - failing_since >= cfg.webhook_give_up_secs * 1000
                                              or gave_up and failing_since <= first_failure_ms):
                await self.disable(row)
                return
            if not retry:
                log.info("webhooks: %s to webhook %s failed (%s); not retried", item.event_id, item.webhook_id,
                         attempt.error)
                return
            await asyncio.sleep(wait_ms / 1000)
            delay = min(delay * 2, cfg.webhook_retry_max_secs)

    async def disable(self, row: dict) -> None:
        """Switch a failing webhook off and tell the tenant's admins (once: whoever switches it off)."""
        reason = f"failing for {duration_text(self.config.webhook_give_up_secs)}"
        disabled = await self.store.disable_webhook(row["tenant_id"], row["id"], reason)
        if disabled is None:
            return
        self.outbox.forget(row["tenant_id"])
        log.warning("webhooks: webhook %s of tenant %s switched off (%s)", row["id"], row["tenant_id"], reason)
        admins = [a for a in await self.store.list_agents(row["tenant_id"]) if a["role"] == "admin" and a["active"]]
        model = webhook_model(disabled)
        await self.publisher.publish(*(events.webhook_disabled(row["tenant_id"], model, admin["id"])
                                       for admin in admins))
        if self.audit is not None:
            await self.audit.record({"tenant_id": row["tenant_id"], "id": None, "name": SYSTEM_ACTOR_NAME},
                                    "webhook.disabled", "webhook", row["id"], {"url": row["url"], "reason": reason})


__all__ = ["WebhookDispatcher", "PARTITIONS", "duration_text"]
