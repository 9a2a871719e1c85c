"""The webhook delivery queue: one entry per (event, webhook), durable in Redis, in process without it.

Entries are partitioned by (webhook, conversation) over PARTITIONS streams
`<prefix>webhooks:{wh}:p<n>` read in the consumer group `webhook-senders` (callcenter/redis_streams.py,
as the AI job queue). A partition is delivered by one worker at a time: the one holding its lease (a
Redis lock `<prefix>webhooks:{wh}:lease:p<n>`, renewed every third of CALLCENTER_WEBHOOK_LEASE_SECS).
When a worker dies its leases run out; another worker takes the partitions and first claims every
entry still pending in them (XAUTOCLAIM from the start, in stream order), so a conversation's events
keep their order for each webhook. The live workers share the partitions: each registers in
`<prefix>webhooks:{wh}:workers` (a sorted set of lease deadlines) and holds at most its share,
ceil(PARTITIONS / live workers); one holding more stops reading the surplus (draining) and gives each
back once nothing of it is in hand, so a partition changes hands only between deliveries. An entry is acknowledged (XACK, XDEL) once it is delivered or
given up: until then it survives any worker's death (at least once: the receiver de-duplicates by the
X-Callcenter-Delivery event id).

Without Redis (the embedded default, one process) the queue is an asyncio queue: what it holds is
lost when the process stops. On a Redis Cluster the `{wh}` tag keeps the partitions, their leases and the
worker list on one slot (one XREADGROUP reads them all), as on a single Redis.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
import zlib
from typing import Callable

import redis.asyncio as aioredis
from redis.exceptions import LockError, RedisError, ResponseError

from .redis_streams import ack_and_delete, claim_idle, ensure_group, entry_field, is_nogroup

log = logging.getLogger("callcenter.webhooks")

PARTITIONS = 16
GROUP = "webhook-senders"
STREAM_MAXLEN = 100_000
MEMORY_QUEUE_SIZE = 10_000
READ_COUNT = 100
CLAIM_COUNT = 100


@dataclasses.dataclass(frozen=True)
class Item:
    """One event for one webhook; `body` is the JSON the receiver gets (the same for every webhook)."""
    webhook_id: int
    tenant_id: str
    session_id: str
    event: str
    event_id: str
    created_at_ms: int
    body: str

    @property
    def key(self) -> tuple[int, str]:
        """What must stay in order: one conversation's events for one webhook."""
        return self.webhook_id, self.session_id

    @property
    def partition(self) -> int:
        return zlib.crc32(f"{self.webhook_id}:{self.session_id}".encode()) % PARTITIONS

    def encode(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw) -> "Item | None":
        try:
            d = json.loads(raw)
            return cls(int(d["webhook_id"]), str(d["tenant_id"]), str(d["session_id"]), str(d["event"]),
                       str(d["event_id"]), int(d["created_at_ms"]), str(d["body"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclasses.dataclass
class Entry:
    """An item handed to this worker; `ref` its stream entry id (None in memory). `item` is None for
    an entry that could not be read (acknowledged and dropped)."""
    partition: int
    item: Item | None
    ref: str | None = None


class MemoryWebhookQueue:
    """One process: every partition is this one's."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Item] = asyncio.Queue(MEMORY_QUEUE_SIZE)
        self.held: set[int] = set(range(PARTITIONS))

    async def put(self, items: list[Item]) -> None:
        for item in items:
            try:
                self._queue.put_nowait(item)
            except asyncio.QueueFull:
                log.warning("webhooks: queue full; event %s not delivered to webhook %s", item.event_id,
                            item.webhook_id)

    async def maintain(self, busy: Callable[[int], bool] = lambda n: False) -> list[Entry]:
        return []

    def pop_lost(self) -> set[int]:
        return set()

    async def read(self, count: int, block_secs: float) -> list[Entry]:
        try:
            first = await asyncio.wait_for(self._queue.get(), block_secs)
        except asyncio.TimeoutError:
            return []
        entries = [Entry(first.partition, first)]
        while len(entries) < count and not self._queue.empty():
            item = self._queue.get_nowait()
            entries.append(Entry(item.partition, item))
        return entries

    async def ack(self, entry: Entry) -> None:
        pass

    async def close(self) -> None:
        pass


class RedisWebhookQueue:
    def __init__(self, redis: aioredis.Redis, prefix: str, consumer: str, lease_secs: float):
        self.redis = redis
        self.consumer = consumer
        self.lease_secs = lease_secs
        # One hash tag for all: a read of several partitions is one command (one slot in a cluster).
        self.streams = [f"{prefix}webhooks:{{wh}}:p{n}" for n in range(PARTITIONS)]
        self._leases = [redis.lock(f"{prefix}webhooks:{{wh}}:lease:p{n}", timeout=lease_secs, blocking=False,
                                   thread_local=False) for n in range(PARTITIONS)]
        self._workers = f"{prefix}webhooks:{{wh}}:workers"
        self.held: set[int] = set()
        # Held partitions being given back: not read any more, released once nothing of them is in hand.
        self.draining: set[int] = set()
        self._lost: set[int] = set()
        self._groups_ready: set[int] = set()

    async def put(self, items: list[Item]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.xadd(self.streams[item.partition], {"item": item.encode()}, maxlen=STREAM_MAXLEN,
                          approximate=True)
            await pipe.execute()

    async def _ensure_group(self, n: int) -> None:
        if n not in self._groups_ready:
            await ensure_group(self.redis, self.streams[n], GROUP)
            self._groups_ready.add(n)

    async def _share(self) -> int:
        """This worker's share of the partitions: ceil(PARTITIONS / live workers), itself counted."""
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._workers, {self.consumer: now_ms + int(self.lease_secs * 1000)})
            pipe.zremrangebyscore(self._workers, "-inf", now_ms)
            pipe.zcard(self._workers)
            pipe.pexpire(self._workers, int(self.lease_secs * 3000))
            _, _, live, _ = await pipe.execute()
        return math.ceil(PARTITIONS / max(1, int(live)))

    async def maintain(self, busy: Callable[[int], bool] = lambda n: False) -> list[Entry]:
        """Renew the leases held, give back the surplus over this worker's share once idle (`busy(n)`:
        entries of partition n are in hand), take free ones up to the share. The entries now this
        worker's: everything pending in a partition just taken (its last holder's unfinished work, in
        order), and entries of held partitions idle past a lease (read just as the partition changed hands)."""
        for n in sorted(self.held):
            try:
                await self._leases[n].reacquire()
            except LockError:
                log.warning("webhooks: lost partition %d (another worker delivers it now)", n)
                self.held.discard(n)
                self.draining.discard(n)
                self._lost.add(n)
        share = await self._share()
        keep = len(self.held) - len(self.draining)
        if keep < share:  # a worker left: drain less
            for n in sorted(self.draining)[:share - keep]:
                self.draining.discard(n)
        elif keep > share:
            # Idle ones first; busy ones too when needed (no longer read, they go once their lanes end).
            surplus = sorted(self.held - self.draining, key=lambda n: (busy(n), -n))[:keep - share]
            self.draining.update(surplus)
        for n in sorted(self.draining):
            if not busy(n):
                await self._give_back(n)
        claimed: list[Entry] = []
        for n in range(PARTITIONS):
            fresh = n not in self.held
            if fresh:
                if len(self.held) >= share or not await self._leases[n].acquire(token=self.consumer):
                    continue
                self.held.add(n)
            elif n in self.draining:
                continue
            await self._ensure_group(n)
            claimed.extend(await self._claim(n, 0 if fresh else int(self.lease_secs * 1000)))
        if claimed:
            log.info("webhooks: took over %d delivery(s) left pending", len(claimed))
        return claimed

    async def _give_back(self, n: int) -> None:
        try:
            await self._leases[n].release()
        except LockError as exc:
            log.debug("webhooks: lease %d not released (%s)", n, exc)
        self.held.discard(n)
        self.draining.discard(n)

    async def _claim(self, n: int, min_idle_ms: int) -> list[Entry]:
        entries, start = [], "0-0"
        while True:
            start, got = await claim_idle(self.redis, self.streams[n], GROUP, self.consumer, min_idle_ms,
                                          count=CLAIM_COUNT, start_id=start)
            entries.extend(self._entry(n, ref, fields) for ref, fields in got)
            if start == "0-0" or not got:
                return entries

    def pop_lost(self) -> set[int]:
        lost, self._lost = self._lost, set()
        return lost

    async def read(self, count: int, block_secs: float) -> list[Entry]:
        held = sorted(self.held - self.draining)
        if not held:
            await asyncio.sleep(block_secs)
            return []
        try:
            got = await self.redis.xreadgroup(GROUP, self.consumer, {self.streams[n]: ">" for n in held},
                                              count=count, block=max(1, int(block_secs * 1000)))
        except ResponseError as exc:
            if is_nogroup(exc):
                self._groups_ready.clear()
                for n in held:
                    await self._ensure_group(n)
                return []
            raise
        index = {s: n for n, s in enumerate(self.streams)}
        entries = []
        for stream, found in got or []:
            n = index[stream.decode() if isinstance(stream, bytes) else stream]
            entries.extend(self._entry(n, ref.decode() if isinstance(ref, bytes) else ref, fields)
                           for ref, fields in found)
        return entries

    @staticmethod
    def _entry(n: int, ref: str, fields) -> Entry:
        raw = entry_field(fields, "item")
        item = Item.decode(raw) if raw else None
        if item is None:
            log.warning("webhooks: dropped a malformed queue entry %s", ref)
        return Entry(n, item, ref)

    async def ack(self, entry: Entry) -> None:
        if entry.ref is not None:
            await ack_and_delete(self.redis, self.streams[entry.partition], GROUP, entry.ref)

    async def close(self) -> None:
        """Give the partitions back at once (a clean stop: others need not wait for the leases to run out)."""
        for n in sorted(self.held):
            try:
                await self._leases[n].release()
            except (LockError, OSError) as exc:
                log.debug("webhooks: lease %d not released (%s)", n, exc)
        self.held.clear()
        self.draining.clear()
        try:
            await self.redis.zrem(self._workers, self.consumer)
        except (RedisError, OSError) as exc:
            log.debug("webhooks: not unregistered (%s)", exc)
