"""Redis Streams with a consumer group, as the durable queues use them (the AI job queue in
callcenter/ai/queue.py, the webhook deliveries in callcenter/webhook_queue.py): the group made once
from the stream's start, entries taken over from a consumer that went silent, acknowledged entries
deleted (the stream holds only work not yet done).

On a Redis Cluster: every command here names one stream (a pipeline of XACK and XDEL names the same one),
so each queue works on any slot; several streams read together (the webhook partitions) share a hash tag."""
from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import ResponseError


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> None:
    """The consumer group of `stream` (and the stream), from its start: entries added before the first
    consumer ever ran are read too. A group that exists already is fine."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def is_nogroup(exc: ResponseError) -> bool:
    """The stream (and so its group) was deleted under us: make the group again."""
    return "NOGROUP" in str(exc)


def entry_ref(entry_id) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def entry_field(fields, name: str):
    """A field of an entry as read by redis-py (bytes keys without decode_responses), or None."""
    fields = fields or {}
    return fields.get(name.encode()) or fields.get(name)


async def claim_idle(redis: aioredis.Redis, stream: str, group: str, consumer: str, min_idle_ms: int, *,
                     count: int, start_id: str = "0-0") -> tuple[str, list]:
    """XAUTOCLAIM: (the id to go on from, "0-0" at the end; the [(entry id, fields)] now `consumer`'s)."""
    next_id, claimed, *_ = await redis.xautoclaim(stream, group, consumer, min_idle_ms, start_id=start_id,
                                                  count=count)
    return entry_ref(next_id), [(entry_ref(i), f) for i, f in claimed]


async def ack_and_delete(redis: aioredis.Redis, stream: str, group: str, *refs: str) -> None:
    """Done with these entries: acknowledged and removed from the stream, in one round trip."""
    if not refs:
        return
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xack(stream, group, *refs)
        pipe.xdel(stream, *refs)
        await pipe.execute()
