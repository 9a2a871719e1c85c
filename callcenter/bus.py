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

from .events import Event
from .redis_wire import RespConnection

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


class _Publisher:
    """This worker's events to the other workers' channel, on a connection of its own (`RespConnection`).

    What is published in one loop step leaves as one PUBLISH right after that step (up to
    MAX_PUBLISH_BATCH events per message), in the order it was made, without waiting for the reply
    to the PUBLISH before it. Each event's Future says when Redis took it (BusUnavailable when it did
    not: only the other workers missed it, their clients catch up from the store). The connection
    is opened when first needed and again after it is lost; what is published meanwhile waits for
    it in order."""

    def __init__(self, redis: aioredis.Redis, channel: str, source_id: str):
        self.redis = redis
        self.channel = channel
        self.source_id = source_id
        self._conn: RespConnection | None = None
        self._connecting: asyncio.Task | None = None
        self._step: tuple[list[str], asyncio.Future] | None = None  # this step's records and their Future
        self._backlog: list[tuple[list[bytes], asyncio.Future]] = []  # waiting for the connection
        self._in_flight: set[asyncio.Future] = set()
        self._closed = False
        # Told each PUBLISH's number of events (the app factory points it at a metrics histogram).
        self.on_batch: Callable[[int], None] | None = None

    @property
    def waiting(self) -> int:
        """Events not written to Redis yet."""
        step = len(self._step[0]) if self._step else 0
        return step + sum(len(payloads) for payloads, _ in self._backlog)

    def enqueue(self, record: str) -> "asyncio.Future[None]":
        if self._step is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._in_flight.add(future)
            future.add_done_callback(self._in_flight.discard)
            self._step = ([], future)
            loop.call_soon(self._flush_step)
        self._step[0].append(record)
        return self._step[1]

    async def wait_idle(self) -> None:
        """Until every event enqueued so far was taken by Redis or failed."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def close(self) -> None:
        """After what was enqueued: nothing more is published (no connection is opened again)."""
        await self.wait_idle()
        self._closed = True
        if self._conn is not None:
            self._conn.close()

    def _flush_step(self) -> None:
        (records, future), self._step = self._step, None
        payloads = []
        for start in range(0, len(records), MAX_PUBLISH_BATCH):
            chunk = records[start:start + MAX_PUBLISH_BATCH]
            if self.on_batch is not None:
                self.on_batch(len(chunk))
            payloads.append((self.source_id + "\n".join(chunk)).encode())
        conn = self._conn
        if conn is not None and not conn.closed and not self._backlog:
            self._write(conn, payloads, future)
            return
        if self._closed:
            future.set_exception(BusUnavailable("the bus is closed"))
            return
        self._backlog.append((payloads, future))
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._connect(), name="redis-bus-publisher")

    def _write(self, conn: RespConnection, payloads: list[bytes], future: asyncio.Future) -> None:
        replies = [conn.execute("PUBLISH", self.channel, payload) for payload in payloads]
        reply = replies[0] if len(replies) == 1 else asyncio.gather(*replies)
        reply.add_done_callback(partial(_settle_publish, future))

    async def _connect(self) -> None:
        try:
            self._conn = await RespConnection.open(
                self.redis.connection_pool, connect_timeout_secs=REDIS_CONNECT_TIMEOUT_SECS,
                command_timeout_secs=REDIS_SOCKET_TIMEOUT_SECS)
        except (RedisError, OSError) as exc:
            failure = BusUnavailable(f"cannot connect to Redis: {exc}")
            for _, future in self._backlog:
                if not future.done():
                    future.set_exception(failure)
            return
        finally:
            self._connecting = None
            backlog, self._backlog = self._backlog, []
        for payloads, future in backlog:
            self._write(self._conn, payloads, future)


def _settle_publish(future: asyncio.Future, reply: asyncio.Future) -> None:
    if future.done():
        return
    if reply.cancelled():
        future.set_exception(BusUnavailable("publishing was cancelled"))
    elif reply.exception() is not None:
        future.set_exception(BusUnavailable(str(reply.exception())))
    else:
        future.set_result(None)


class RedisBus(Bus):
    """Redis pub/sub on one channel per deployment (key prefix); resubscribes by itself. The publisher
    and the subscriber each have a connection of their own, outside the pool (`RespConnection`)."""

    def __init__(self, redis: aioredis.Redis, prefix: str):
        super().__init__()
        self.redis = redis
        self.channel = f"{prefix}events"
        self._task: asyncio.Task | None = None
        self._subscribed = asyncio.Event()
        self._closing = False
        # Starts every payload this bus publishes: its own events are skipped when they come back.
        self.source_id = uuid.uuid4().hex[:SOURCE_ID_CHARS]
        self._source_prefix = self.source_id.encode()
        self.publisher = _Publisher(redis, self.channel, self.source_id)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-bus")
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=REDIS_CONNECT_TIMEOUT_SECS * 2)
        except asyncio.TimeoutError:
            log.warning("bus: not subscribed yet; will keep trying in the background")

    async def close(self) -> None:
        self._closing = True
        await self.publisher.close()
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
        loop step, one message for each subscriber to read, and no worker serializes a frame again."""
        route = json.dumps(event.route(), separators=(",", ":"))
        return self.publisher.enqueue(f"{route}\n{event.frame_json()}")

    def _decode(self, payload: bytes) -> list[Event]:
        """The events in a channel message; none for this bus's own (delivered when published)."""
        if payload[:SOURCE_ID_CHARS] == self._source_prefix:
            return []
        lines = payload[SOURCE_ID_CHARS:].decode().split("\n")
        if len(lines) % 2:
            raise ValueError("an event is a route line and a frame line")
        return [Event.from_route(json.loads(route), frame) for route, frame in zip(lines[::2], lines[1::2])]

    def _on_channel_message(self, payload: bytes) -> None:
        try:
            received = self._decode(payload)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("bus: dropped malformed message: %s", exc)
            return
        for event in received:
            self._deliver(event)

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closing:
            conn: RespConnection | None = None
            try:
                conn = await RespConnection.open(
                    self.redis.connection_pool, connect_timeout_secs=REDIS_CONNECT_TIMEOUT_SECS,
                    command_timeout_secs=REDIS_SOCKET_TIMEOUT_SECS, on_message=self._on_channel_message)
                await conn.execute("SUBSCRIBE", self.channel)
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
                while not conn.closed:
                    # Minutes of silence are normal: each SUBSCRIBER_POLL_SECS a PING proves the link
                    # (a server or link that stopped answering fails it within the command timeout).
                    done, _ = await asyncio.wait([conn.lost], timeout=SUBSCRIBER_POLL_SECS)
                    if not done:
                        await conn.execute("PING")
                raise RedisConnectionError("the subscriber's connection ended")
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                self.reconnects += 1
                log.warning("bus: connection lost (%s); resubscribing in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RESUBSCRIBE_BACKOFF_MAX_SECS)
            finally:
                if conn is not None:
                    conn.close()


def make_bus(redis_url: str | None, prefix: str, redis: aioredis.Redis | None = None) -> Bus:
    if not redis_url or redis_url.startswith("memory"):
        return MemoryBus()
    return RedisBus(redis or make_redis(redis_url), prefix)
