"""The AI job queue: Redis Streams with a consumer group, or an asyncio queue in one process.

A job is keyed by the visitor message it answers (its id and seq). With Redis, every
`callcenter ai-worker` reads the stream `<prefix>ai:jobs` in the consumer group `ai-workers`:
XREADGROUP hands each job to one worker; the worker acknowledges it (XACK, then XDEL) when done.
A worker that dies leaves its jobs pending; any other worker takes them over with XAUTOCLAIM once
they have been idle `reclaim_secs`. A live worker keeps its long jobs from looking idle by
re-claiming them for itself (XCLAIM … JUSTID) every third of that. A job answered twice (the first
worker stored the reply, then died before XACK) is harmless: the reply's client_msg_id is derived
from the visitor message, so the store keeps one.

On a Redis Cluster the stream keeps its name: each command names only it, so it needs no hash tag (and a
deployment upgrading keeps the jobs it holds).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from ..redis_streams import ack_and_delete, claim_idle, ensure_group, entry_field, entry_ref, is_nogroup

log = logging.getLogger("callcenter.ai")

STREAM_MAXLEN = 100_000
GROUP = "ai-workers"
MEMORY_QUEUE_SIZE = 10_000


@dataclasses.dataclass(frozen=True)
class Job:
    tenant_id: str
    session_id: str
    message_id: int  # the visitor message this job answers
    seq: int
    enqueued_at: float = 0.0  # time.time(), for the queue-wait metric
    # The visitor's message and the session row as storing it left them: with these (and the
    # history a worker keeps of the conversations it answers) a job needs no read before the model.
    message: dict | None = None
    session: dict | None = None

    def encode(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> "Job":
        data = json.loads(raw)
        message, session = data.get("message"), data.get("session")
        return cls(str(data["tenant_id"]), str(data["session_id"]), int(data["message_id"]), int(data["seq"]),
                   float(data.get("enqueued_at") or 0.0), message if isinstance(message, dict) else None,
                   session if isinstance(session, dict) else None)


@dataclasses.dataclass
class Lease:
    """A job handed to this worker; `ref` is its stream entry id (None in memory)."""
    job: Job | None  # None: an entry that could not be decoded (acknowledged and dropped)
    ref: str | None = None


class MemoryQueue:
    """In one process (the embedded default): nothing to reclaim, nothing survives a restart."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Job] = asyncio.Queue(MEMORY_QUEUE_SIZE)

    async def put(self, job: Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            log.warning("ai: queue full; session %s waits for a human", job.session_id)

    async def get(self, count: int) -> list[Lease]:
        leases = [Lease(await self._queue.get())]
        while len(leases) < count and not self._queue.empty():
            leases.append(Lease(self._queue.get_nowait()))
        return leases

    async def ack(self, lease: Lease) -> None:
        pass

    async def keep(self, leases: list[Lease]) -> None:
        pass

    async def depth(self) -> int:
        return self._queue.qsize()


class RedisStreamQueue:
    def __init__(self, redis: aioredis.Redis, prefix: str, *, consumer: str = "", reclaim_secs: float = 60.0,
                 block_ms: int = 1000):
        self.redis = redis
        self.stream = f"{prefix}ai:jobs"
        self.consumer = consumer
        self.reclaim_ms = max(1, int(reclaim_secs * 1000))
        self.block_ms = block_ms
        self._group_ready = False
        self._next_claim = 0.0

    async def put(self, job: Job) -> None:
        await self.redis.xadd(self.stream, {"job": job.encode()}, maxlen=STREAM_MAXLEN, approximate=True)

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        # From the stream's start: jobs queued before the first worker ever ran are answered too.
        await ensure_group(self.redis, self.stream, GROUP)
        self._group_ready = True

    async def get(self, count: int) -> list[Lease]:
        """Up to `count` jobs: first those whose worker went silent, then new ones (waiting up to block_ms)."""
        await self.ensure_group()
        now = time.monotonic()
        if now >= self._next_claim:
            # XAUTOCLAIM scans the pending list; every quarter of the idle time is often enough.
            self._next_claim = now + self.reclaim_ms / 4000
            _next, claimed = await claim_idle(self.redis, self.stream, GROUP, self.consumer, self.reclaim_ms,
                                              count=count)
            if claimed:
                log.info("ai: took over %d job(s) of a worker that went silent", len(claimed))
                return [self._lease(entry_id, fields) for entry_id, fields in claimed]
        try:
            got = await self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=count,
                                              block=self.block_ms)
        except ResponseError as exc:
            if is_nogroup(exc):  # the stream was deleted under us: make the group again
                self._group_ready = False
                return []
            raise
        leases = []
        for _stream, entries in got or []:
            leases.extend(self._lease(entry_id, fields) for entry_id, fields in entries)
        return leases

    @staticmethod
    def _lease(entry_id, fields) -> Lease:
        ref = entry_ref(entry_id)
        raw = entry_field(fields, "job")
        try:
            return Lease(Job.decode(raw), ref) if raw else Lease(None, ref)
        except (ValueError, KeyError, TypeError):
            log.warning("ai: dropped a malformed job %s", ref)
            return Lease(None, ref)

    async def ack(self, lease: Lease) -> None:
        if lease.ref is None:
            return
        await ack_and_delete(self.redis, self.stream, GROUP, lease.ref)

    async def keep(self, leases: list[Lease]) -> None:
        """Reset the idle time of jobs still being worked on, so no other worker takes them over."""
        refs = [lease.ref for lease in leases if lease.ref]
        if refs:
            await self.redis.xclaim(self.stream, GROUP, self.consumer, 0, refs, justid=True)

    async def depth(self) -> int:
        return int(await self.redis.xlen(self.stream))
