"""Redis pub/sub for the bus (callcenter/bus.py), one server at a time: this worker's publisher and its
subscriber on a server, each on a connection of its own (`RespConnection`), with plain or sharded
commands (a Redis Cluster's SPUBLISH / SSUBSCRIBE). Which server a channel lives on is the bus's business."""
from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Callable, Iterable, Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from .redis_client import REDIS_CONNECT_TIMEOUT_SECS, REDIS_SOCKET_TIMEOUT_SECS
from .redis_wire import RespConnection

log = logging.getLogger("callcenter.bus")

RESUBSCRIBE_BACKOFF_MAX_SECS = 5.0
SUBSCRIBER_POLL_SECS = 10.0
MAX_PUBLISH_BATCH = 200  # events per channel message


class BusUnavailable(Exception):
    """The bus cannot take the event right now."""


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Stop a background loop and let it finish unwinding."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class SubscriptionOwner(Protocol):
    """What a Subscriber tells the bus it serves."""
    reconnects: int

    def on_channel_message(self, payload: bytes) -> None: ...

    def channel_misplaced(self, channel: str) -> None: ...

    def node_lost(self, subscriber: "Subscriber") -> None: ...

    async def resubscribed(self, channels: Iterable[str]) -> None: ...


class Commands:
    """The pub/sub commands of a plain server, or the sharded ones of a cluster."""

    def __init__(self, sharded: bool) -> None:
        self.publish, self.subscribe, self.unsubscribe = (
            ("SPUBLISH", "ssubscribe", "sunsubscribe") if sharded else ("PUBLISH", "subscribe", "unsubscribe"))


def is_redirect(exc: BaseException | None) -> bool:
    """A cluster node's answer that the slot lives elsewhere (MOVED) or is being moved (ASK)."""
    return isinstance(exc, ResponseError) and str(exc).startswith(("MOVED", "ASK"))


class Publisher:
    """This worker's events to one Redis server, on a connection of its own (`RespConnection`).

    What is published in one loop step leaves as one PUBLISH per channel right after that step (up to
    MAX_PUBLISH_BATCH events per message), in the order it was made, without waiting for the reply
    to the PUBLISH before it. Each event's Future says when Redis took it (BusUnavailable when it did
    not: only the other workers missed it, their clients catch up from the store). The connection
    is opened when first needed and again after it is lost; what is published meanwhile waits for
    it in order. A cluster node's MOVED reply goes to `on_redirect`, which publishes there again."""

    def __init__(self, pool: aioredis.ConnectionPool, source_id: str, command: str,
                 on_redirect: Callable[[list[tuple[str, bytes]], asyncio.Future], None] | None = None):
        self.pool = pool
        self.source_id = source_id
        self.command = command
        self.on_redirect = on_redirect
        self._conn: RespConnection | None = None
        self._connecting: asyncio.Task | None = None
        self._step: tuple[dict[str, list[str]], asyncio.Future] | None = None  # this step's records and Future
        self._backlog: list[tuple[list[tuple[str, bytes]], asyncio.Future]] = []  # waiting for the connection
        self._in_flight: set[asyncio.Future] = set()
        self._closed = False
        # Told each PUBLISH's number of events (the app factory points it at a metrics histogram).
        self.on_batch: Callable[[int], None] | None = None

    @property
    def waiting(self) -> int:
        """Events not written to Redis yet."""
        step = sum(map(len, self._step[0].values())) if self._step else 0
        return step + sum(len(payloads) for payloads, _ in self._backlog)

    def enqueue(self, channel: str, record: str) -> "asyncio.Future[None]":
        if self._step is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._in_flight.add(future)
            future.add_done_callback(self._in_flight.discard)
            self._step = ({}, future)
            loop.call_soon(self._flush_step)
        self._step[0].setdefault(channel, []).append(record)
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

    def drop_connection(self) -> None:
        """The server is gone (a cluster node that left): what waits fails, nothing is opened again."""
        self._closed = True
        if self._conn is not None:
            self._conn.close()

    def _flush_step(self) -> None:
        (records_by_channel, future), self._step = self._step, None
        payloads = []
        for channel, records in records_by_channel.items():
            for start in range(0, len(records), MAX_PUBLISH_BATCH):
                chunk = records[start:start + MAX_PUBLISH_BATCH]
                if self.on_batch is not None:
                    self.on_batch(len(chunk))
                payloads.append((channel, (self.source_id + "\n".join(chunk)).encode()))
        self.send(payloads, future)

    def send(self, payloads: list[tuple[str, bytes]], future: asyncio.Future) -> None:
        """Publish (channel, payload) pairs in order; `future` is settled once Redis took them all."""
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

    def _write(self, conn: RespConnection, payloads: list[tuple[str, bytes]], future: asyncio.Future) -> None:
        replies = [conn.execute(self.command, channel, payload) for channel, payload in payloads]
        reply = replies[0] if len(replies) == 1 else asyncio.gather(*replies, return_exceptions=True)
        reply.add_done_callback(partial(self._settle, payloads, replies, future))

    def _settle(self, payloads: list[tuple[str, bytes]], replies: list[asyncio.Future], future: asyncio.Future,
                _: asyncio.Future) -> None:
        if future.done():
            return
        failures = [(pair, reply.exception()) for pair, reply in zip(payloads, replies)
                    if reply.cancelled() or reply.exception() is not None]
        if not failures:
            future.set_result(None)
        elif self.on_redirect is not None and all(is_redirect(exc) for _, exc in failures):
            self.on_redirect([pair for pair, _ in failures], future)
        else:
            exc = failures[0][1]
            future.set_exception(BusUnavailable(str(exc) if exc is not None else "publishing was cancelled"))

    async def _connect(self) -> None:
        try:
            self._conn = await RespConnection.open(
                self.pool, connect_timeout_secs=REDIS_CONNECT_TIMEOUT_SECS,
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


class Subscriber:
    """This worker's subscriptions on one Redis server, on a connection of its own that is made again after
    it is lost (with every channel subscribed again, then the reconnect listeners told which tenants).
    A channel counts as subscribed once the server confirmed it."""

    def __init__(self, owner: "SubscriptionOwner", pool: aioredis.ConnectionPool, name: str, commands: Commands):
        self.owner = owner
        self.commands = commands
        self.pool = pool
        self.name = name
        self.channels: set[str] = set()  # wanted here
        self.confirmed: set[str] = set()
        self._confirming: dict[str, asyncio.Future] = {}
        self._conn: RespConnection | None = None
        self.connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"redis-bus-subscriber-{self.name}")

    async def close(self) -> None:
        self._closing = True
        await cancel_and_wait(self._task)

    def add(self, channel: str) -> "asyncio.Future[None]":
        """Subscribe (if not already); the Future is done once the server confirmed it."""
        self.channels.add(channel)
        if channel in self.confirmed:
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future
        future = self._confirming.get(channel)
        if future is None:
            future = self._confirming[channel] = asyncio.get_running_loop().create_future()
            # On the current connection at once; a connection still being made subscribes to every wanted
            # channel as soon as it is there.
            if self._conn is not None and not self._conn.closed:
                self._send_subscribe(self._conn, channel)
        return future

    def remove(self, channel: str) -> None:
        self.channels.discard(channel)
        was_confirmed = channel in self.confirmed
        self.confirmed.discard(channel)
        pending = self._confirming.pop(channel, None)
        if pending is not None and not pending.done():
            pending.cancel()
        conn = self._conn
        if (was_confirmed or pending is not None) and conn is not None and not conn.closed:
            reply = conn.execute(self.commands.unsubscribe.upper(), channel,
                                 expect=(self.commands.unsubscribe, channel))
            reply.add_done_callback(_ignore_reply)

    def _send_subscribe(self, conn: RespConnection, channel: str) -> None:
        reply = conn.execute(self.commands.subscribe.upper(), channel, expect=(self.commands.subscribe, channel))
        reply.add_done_callback(partial(self._subscribed, conn, channel))

    def _subscribed(self, conn: RespConnection, channel: str, reply: asyncio.Future) -> None:
        if reply.cancelled():
            return
        exc = reply.exception()
        if exc is None:
            if channel in self.channels and conn is self._conn:
                self.confirmed.add(channel)
                future = self._confirming.pop(channel, None)
                if future is not None and not future.done():
                    future.set_result(None)
            return
        if is_redirect(exc):
            # The slot is another node's now: the bus reads the map again and moves the channel there.
            self.owner.channel_misplaced(channel)
        elif not conn.closed:
            log.warning("bus: %s refused the subscription to %s: %s", self.name, channel, exc)

    def on_unsolicited(self, kind: bytes, channel: bytes) -> None:
        """A cluster node dropped a sharded subscription by itself (its slot moved away)."""
        name = channel.decode()
        if name in self.confirmed:
            self.confirmed.discard(name)
            self.owner.channel_misplaced(name)

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while not self._closing:
            conn: RespConnection | None = None
            try:
                conn = await RespConnection.open(
                    self.pool, connect_timeout_secs=REDIS_CONNECT_TIMEOUT_SECS,
                    command_timeout_secs=REDIS_SOCKET_TIMEOUT_SECS, on_message=self.owner.on_channel_message,
                    on_unsolicited=self.on_unsolicited)
                self._conn = conn
                lost = set(self.channels)
                for channel in lost:
                    self._confirming.setdefault(channel, asyncio.get_running_loop().create_future())
                    self._send_subscribe(conn, channel)
                if lost:
                    await asyncio.wait([asyncio.gather(*(self._confirming[c] for c in lost if c in self._confirming),
                                                       return_exceptions=True), conn.lost],
                                       return_when=asyncio.FIRST_COMPLETED)
                if conn.closed:
                    raise RedisConnectionError("the subscriber's connection ended while subscribing")
                self.connected.set()
                if first:
                    log.info("bus: subscriber connected to %s", self.name)
                else:
                    log.info("bus: resubscribed on %s after %d reconnects (%d channels)", self.name,
                             self.owner.reconnects, len(lost))
                if lost:  # sockets of these tenants went on without their channel for a while
                    await self.owner.resubscribed(lost)
                first = False
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
                self.connected.clear()
                self.confirmed.clear()
                self.owner.reconnects += 1
                first = False
                log.warning("bus: connection to %s lost (%s); resubscribing in %.1fs", self.name, exc, backoff)
                self.owner.node_lost(self)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RESUBSCRIBE_BACKOFF_MAX_SECS)
            finally:
                if conn is not None:
                    conn.close()


def _ignore_reply(reply: asyncio.Future) -> None:
    if not reply.cancelled():
        reply.exception()
