"""The queue of e-mails to send now: durable in Redis (a stream read in the consumer group
`mail-senders`, as the AI job queue and the webhook deliveries: callcenter/redis_streams.py), an asyncio
queue without it.

An entry names an outbox row and the attempt it is for (`Ticket`); the row itself (the store) says
what to send and whether it was sent, so an entry read twice (a worker that died holding it, taken over
by another after CLAIM_IDLE) sends at most once: the sender claims the attempt in the store first.
Entries are acknowledged and deleted once the attempt is over (sent, failed and rescheduled in the row,
or found already done). The memory queue loses what it holds when the process stops; nothing is lost
with it, since the outbox rows are due again after their lease and queued anew.

The stream `<prefix>mail:queue` is named alone by every command, so it works as it is on a Redis Cluster.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from .redis_streams import ack_and_delete, claim_idle, ensure_group, entry_field, entry_ref, is_nogroup

log = logging.getLogger("callcenter.mail")

GROUP = "mail-senders"
STREAM_MAXLEN = 100_000
MEMORY_QUEUE_SIZE = 10_000


@dataclasses.dataclass(frozen=True)
class Ticket:
    """One attempt at one e-mail: the outbox row's id and its attempts count when it was queued."""
    mail_id: int
    attempts: int

    def encode(self) -> str:
        return json.dumps([self.mail_id, self.attempts])

    @classmethod
    def decode(cls, raw) -> "Ticket | None":
        try:
            mail_id, attempts = json.loads(raw)
            return cls(int(mail_id), int(attempts))
        except (ValueError, TypeError):
            return None


@dataclasses.dataclass
class Entry:
    ticket: Ticket | None  # None: an entry that could not be read (acknowledged and dropped)
    ref: str | None = None  # its stream entry id (None in memory)


class MemoryMailQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Ticket] = asyncio.Queue(MEMORY_QUEUE_SIZE)

    async def put(self, ticket: Ticket) -> None:
        try:
            self._queue.put_nowait(ticket)
        except asyncio.QueueFull:  # the row is due again after its lease
            log.warning("mail: queue full; e-mail %s waits for its next turn", ticket.mail_id)

    async def read(self, count: int, block_secs: float) -> list[Entry]:
        try:
            first = await asyncio.wait_for(self._queue.get(), block_secs)
        except asyncio.TimeoutError:
            return []
        entries = [Entry(first)]
        while len(entries) < count and not self._queue.empty():
            entries.append(Entry(self._queue.get_nowait()))
        return entries

    async def take_over(self, count: int) -> list[Entry]:
        return []

    async def ack(self, entry: Entry) -> None:
        pass


class RedisMailQueue:
    def __init__(self, redis: aioredis.Redis, prefix: str, consumer: str, claim_idle_secs: float):
        self.redis = redis
        self.stream = f"{prefix}mail:queue"
        self.consumer = consumer
        self.claim_idle_ms = int(claim_idle_secs * 1000)
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if not self._group_ready:
            await ensure_group(self.redis, self.stream, GROUP)
            self._group_ready = True

    async def put(self, ticket: Ticket) -> None:
        await self.redis.xadd(self.stream, {"ticket": ticket.encode()}, maxlen=STREAM_MAXLEN, approximate=True)

    async def read(self, count: int, block_secs: float) -> list[Entry]:
        await self._ensure_group()
        try:
            got = await self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=count,
                                              block=max(1, int(block_secs * 1000)))
        except ResponseError as exc:
            if is_nogroup(exc):
                self._group_ready = False
                return []
            raise
        return [self._entry(entry_ref(ref), fields) for _stream, found in got or [] for ref, fields in found]

    async def take_over(self, count: int) -> list[Entry]:
        """Entries another sender read and left unacknowledged for longer than an attempt can take
        (it died): now this one's."""
        await self._ensure_group()
        _next, claimed = await claim_idle(self.redis, self.stream, GROUP, self.consumer, self.claim_idle_ms,
                                          count=count)
        return [self._entry(ref, fields) for ref, fields in claimed]

    @staticmethod
    def _entry(ref: str, fields) -> Entry:
        raw = entry_field(fields, "ticket")
        ticket = Ticket.decode(raw) if raw else None
        if ticket is None:
            log.warning("mail: dropped a malformed queue entry %s", ref)
        return Entry(ticket, ref)

    async def ack(self, entry: Entry) -> None:
        if entry.ref is not None:
            await ack_and_delete(self.redis, self.stream, GROUP, entry.ref)


__all__ = ["Ticket", "Entry", "MemoryMailQueue", "RedisMailQueue"]
