"""The event bus between workers, chosen by URL (`memory://` or `redis://…`).

Every worker publishes the events its services emit and hands every event, its
own and the other workers', to its listeners, normally the hub. Its own go to its
listeners at once (no round trip through Redis for the sockets it holds); the
copy that comes back from the channel is recognised by its source id and skipped
before any decoding. Pub/sub is only the fast path: a client that misses an event
while a bus is down gets it from the store when it resumes.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from functools import partial
from typing import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .batching import Batcher
from .events import Event

log = logging.getLogger("callcenter.bus")

Listener = Callable[[Event], Awaitable[None] | None]

RESUBSCRIBE_BACKOFF_MAX_SECS = 5.0
REDIS_SOCKET_TIMEOUT_SECS = 5.0
REDIS_CONNECT_TIMEOUT_SECS = 3.0
REDIS_POOL_SIZE = 200
REDIS_POOL_WAIT_SECS = 5.0
SUBSCRIBER_POLL_SECS = 10.0
MAX_PUBLISH_BATCH = 200  # events per channel message
SOURCE_ID_CHARS = 12


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Stop a background loop and let it finish unwinding."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class BusUnavailable(Exception):
    """The bus cannot take the event right now."""


class Bus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._reconnect_listeners: list[Callable[[], Awaitable[None]]] = []
        self.reconnects = 0

    def add_reconnect_listener(self, listener: Callable[[], Awaitable[None]]) -> None:
        """Called after the bus comes back from an outage (events may have been missed)."""
        self._reconnect_listeners.append(listener)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _deliver(self, event: Event) -> None:
        """Hand the event to every listener now (a coroutine listener's work goes on as a task)."""
        for listener in list(self._listeners):
            try:
                result = listener(event)
                if asyncio.iscoroutine(result):
                    asyncio.get_running_loop().create_task(result).add_done_callback(
                        partial(_log_listener_failure, event.type))
            except Exception:  # one broken listener must not stop the others
                log.exception("bus listener failed on %s", event.type)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        pass

    async def publish(self, event: Event) -> None:
        """Deliver, and return once the other workers' channel has the event (BusUnavailable
        when it cannot take it: only the other workers missed it)."""
        future = self.publish_nowait(event)
        if future is not None:
            await future

    def publish_nowait(self, event: Event) -> "asyncio.Future[None] | None":
        """Deliver to this worker's listeners now, and start publishing to the other workers: the
        Future says when the channel has it (None: there are no others). No task per event."""
        future = self.send_to_others(event)
        self._deliver(event)
        return future

    def send_to_others(self, event: Event) -> "asyncio.Future[None] | None":
        """Start publishing to the other workers only (this worker's listeners get the event from
        `deliver_here`): the Future says when the channel has it; None when there are no others."""
        raise NotImplementedError

    def deliver_here(self, event: Event) -> None:
        """Hand the event to this worker's listeners (what the other workers get from the channel)."""
        self._deliver(event)


def _log_listener_failure(event_type: str, task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("bus listener failed on %s", event_type, exc_info=task.exception())


class MemoryBus(Bus):
    """One process: publishing is delivering."""

    def send_to_others(self, event: Event) -> None:
        return None


def make_redis(url: str, *, max_connections: int = REDIS_POOL_SIZE) -> aioredis.Redis:
    """A Redis client with limits set on purpose: a bounded pool that waits instead of raising."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=REDIS_POOL_WAIT_SECS,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECS,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECS,
        health_check_interval=30,
        socket_keepalive=True,
    )
    return aioredis.Redis(connection_pool=pool)


class RedisBus(Bus):
    """Redis pub/sub on one channel per deployment (key prefix); resubscribes by itself."""

    def __init__(self, redis: aioredis.Redis, prefix: str):
        super().__init__()
        self.redis = redis
        self.channel = f"{prefix}events"
        self._task: asyncio.Task | None = None
        self._subscribed = asyncio.Event()
        self._closing = False
        # (Its callers already hand over a loop step's events together: no extra step to gather more.)
        self.publisher: Batcher[str, None] = Batcher(self._publish_batch, max_batch=MAX_PUBLISH_BATCH,
                                                      name="redis-bus-publisher", gather_ready=False)
        # Starts every payload this bus publishes: its own events are skipped when they come back.
        self.source_id = uuid.uuid4().hex[:SOURCE_ID_CHARS]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-bus")
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=REDIS_CONNECT_TIMEOUT_SECS * 2)
        except asyncio.TimeoutError:
            log.warning("bus: not subscribed yet; will keep trying in the background")

    async def close(self) -> None:
        self._closing = True
        await self.publisher.wait_idle()
        await cancel_and_wait(self._task)

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except RedisError as exc:
            raise BusUnavailable(str(exc)) from exc
        if not self._subscribed.is_set():
            raise BusUnavailable("not subscribed to the event channel")

    def send_to_others(self, event: Event) -> "asyncio.Future[None]":
        """Events published meanwhile go to the channel together, in the order they were made.

        A channel message: this bus's source id, then per event two lines: the event without its
        data (JSON) and the frame as sockets get it (JSON has no raw newline). One PUBLISH per
        batch, one message for each subscriber to read, and no worker serializes a frame again."""
        route = json.dumps(event.route(), separators=(",", ":"))
        return self.publisher.enqueue(f"{route}\n{event.frame_json()}")

    def _decode(self, payload: bytes) -> list[Event]:
        """The events in a channel message; none for this bus's own (delivered when published)."""
        if payload[:SOURCE_ID_CHARS] == self.source_id.encode():
            return []
        lines = payload[SOURCE_ID_CHARS:].decode().split("\n")
        if len(lines) % 2:
            raise ValueError("an event is a route line and a frame line")
        return [Event.from_route(json.loads(route), frame) for route, frame in zip(lines[::2], lines[1::2])]

    async def _publish_batch(self, records: list[str]) -> list[None]:
        try:
            await self.redis.publish(self.channel, self.source_id + "\n".join(records))
        except RedisError as exc:
            raise BusUnavailable(str(exc)) from exc
        return [None] * len(records)

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closing:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                if self.reconnects == 0:
                    log.info("bus: subscribed to %s", self.channel)
                else:
                    log.info("bus: resubscribed to %s after %d reconnects", self.channel, self.reconnects)
                    for listener in list(self._reconnect_listeners):
                        try:
                            await listener()
                        except Exception:  # one listener's failure must not stop the bus
                            log.exception("bus reconnect listener failed")
                backoff = 0.1
                while True:
                    # A bounded wait returns None when idle (minutes of silence are normal) and
                    # lets redis-py send its periodic health-check PING on this connection.
                    message = await pubsub.get_message(timeout=SUBSCRIBER_POLL_SECS)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        received = self._decode(message["data"])
                    except (ValueError, TypeError, KeyError) as exc:
                        log.warning("bus: dropped malformed message: %s", exc)
                        continue
                    for event in received:
                        self._deliver(event)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError, RedisError) as exc:
                self._subscribed.clear()
                self.reconnects += 1
                log.warning("bus: connection lost (%s); resubscribing in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RESUBSCRIBE_BACKOFF_MAX_SECS)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass


def make_bus(redis_url: str | None, prefix: str, redis: aioredis.Redis | None = None) -> Bus:
    if not redis_url or redis_url.startswith("memory"):
        return MemoryBus()
    return RedisBus(redis or make_redis(redis_url), prefix)
