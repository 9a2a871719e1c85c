"""The event bus between workers, chosen by URL (`memory://`, `redis://…` or `redis+cluster://…`).

Every worker publishes the events its services emit and hands every event, its own and the other
workers', to its listeners, normally the hub. Events travel on one channel per tenant
(`<prefix>t:<tenant>`), and a worker listens only to the channels of the tenants it holds sockets of
(`subscribe_tenant` / `release_tenant`, called by the hub): with tenant-affine routing in front, a
tenant's events cross Redis to a worker only when its sockets are spread. On a Redis Cluster the
channels are sharded (SPUBLISH / SSUBSCRIBE): a tenant's events stay on the shard that owns its channel.

Its own events go to this worker's listeners at once (no round trip through Redis for the sockets it
holds); the copy that comes back from a channel is recognised by its source id and skipped before any
decoding. Pub/sub is only the fast path: a client that misses an event while a bus is down gets it
from the store when it resumes, and a subscription that was lost (a connection, a restarted node, a
moved slot) is made again and then the tenant's sockets catch up from the store (reconnect listeners).
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from functools import partial
from typing import Awaitable, Callable, Iterable

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .events import Event
from .redis_client import (REDIS_CONNECT_TIMEOUT_SECS, REDIS_SOCKET_TIMEOUT_SECS, cluster_nodes, is_cluster_url,
                           make_redis, node_pool)
from .redis_pubsub import BusUnavailable, Commands, Publisher, Subscriber, cancel_and_wait
from .redis_wire import RespConnection

__all__ = ["Bus", "BusUnavailable", "MemoryBus", "RedisBus", "cancel_and_wait", "make_bus", "make_redis",
           "tenant_channel"]

log = logging.getLogger("callcenter.bus")

Listener = Callable[[Event], Awaitable[None] | None]
# Told which tenants' events may have been missed (their channel was lost for a while); None: every tenant.
ReconnectListener = Callable[[frozenset[str] | None], Awaitable[None]]

SOURCE_ID_CHARS = 12
# A tenant's channel is kept this long after its last socket here left: a client that reconnects (a page
# load, a flaky phone) finds it still subscribed, and a tenant coming and going costs no churn.
TENANT_LINGER_SECS = 30.0
# How long a new socket waits for its tenant's subscription before it goes on without it (the bus is
# down: the reconnect listeners make it catch up once the subscription is made).
SUBSCRIBE_WAIT_SECS = REDIS_CONNECT_TIMEOUT_SECS
# A cluster's slot map is read again this often (and at once after a MOVED reply or a lost node).
TOPOLOGY_REFRESH_SECS = 30.0


def tenant_channel(prefix: str, tenant_id: str) -> str:
    return f"{prefix}t:{tenant_id}"


class Bus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._reconnect_listeners: list[ReconnectListener] = []
        self.reconnects = 0
        self.events_received = 0  # from the other workers, through a channel
        self.events_published = 0  # handed to the channels for the other workers
        # Told each count as it happens (the app factory points them at the metrics' counters).
        self.on_received: Callable[[int], None] | None = None
        self.on_published: Callable[[], None] | None = None

    def add_reconnect_listener(self, listener: ReconnectListener) -> None:
        """Called after a subscription comes back from an outage (the tenants' events may have been missed)."""
        self._reconnect_listeners.append(listener)

    async def _reconnected(self, tenants: frozenset[str] | None) -> None:
        for listener in list(self._reconnect_listeners):
            try:
                await listener(tenants)
            except Exception:  # one listener's failure must not stop the bus
                log.exception("bus reconnect listener failed")

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

    @property
    def subscriptions(self) -> int:
        """Tenant channels this worker listens to now."""
        return 0

    async def subscribe_tenant(self, tenant_id: str) -> None:
        """Listen to the tenant's channel (counted: one call per socket). Returns once the subscription is
        confirmed, so that what the caller then reads from the store and what comes through the channel
        leave nothing between them (or after SUBSCRIBE_WAIT_SECS if the bus is down)."""

    def release_tenant(self, tenant_id: str) -> None:
        """One `subscribe_tenant` less; the last one stops listening after TENANT_LINGER_SECS."""

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


class _Node:
    """One Redis server (a cluster's master, or the one plain server): a publisher and a subscriber."""

    def __init__(self, bus: "RedisBus", pool: aioredis.ConnectionPool, name: str):
        self.name = name
        self.publisher = Publisher(pool, bus.source_id, bus.commands.publish,
                                    on_redirect=bus.republish if bus.sharded else None)
        self.subscriber = Subscriber(bus, pool, name, bus.commands)


class RedisBus(Bus):
    """Redis pub/sub, a channel per tenant; on a cluster (`redis+cluster://`) sharded pub/sub on the node
    that owns each channel's slot. Resubscribes by itself. Each server's publisher and subscriber have a
    connection of their own, outside the pool (`RespConnection`)."""

    def __init__(self, redis: aioredis.Redis | aioredis.RedisCluster, prefix: str, url: str | None = None):
        super().__init__()
        self.redis = redis
        self.prefix = prefix
        self.url = url
        self.sharded = url is not None and is_cluster_url(url)
        self.commands = Commands(self.sharded)
        # Starts every payload this bus publishes: its own events are skipped when they come back.
        self.source_id = uuid.uuid4().hex[:SOURCE_ID_CHARS]
        self._source_prefix = self.source_id.encode()
        self._nodes: dict[str, _Node] = {}
        self._slots: list[str] = []  # cluster: slot -> node name
        self._wanted: dict[str, int] = {}  # tenant -> sockets here
        self._placed: dict[str, _Node] = {}  # channel -> the node subscribed on
        self._lingering: dict[str, asyncio.TimerHandle] = {}
        self._refreshing: asyncio.Task | None = None
        self._topology_task: asyncio.Task | None = None
        self._started = False
        # Told each PUBLISH's number of events (the app factory points it at a metrics histogram).
        self.on_batch: Callable[[int], None] | None = None
        if not self.sharded:
            self._nodes["redis"] = _Node(self, redis.connection_pool, "redis")
            self._nodes["redis"].publisher.on_batch = self._count_batch

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.sharded:
            try:
                await self._read_topology()
            except (RedisError, OSError) as exc:
                log.warning("bus: cannot read the cluster's slots yet (%s); will keep trying", exc)
            self._topology_task = asyncio.get_running_loop().create_task(self._topology_loop(),
                                                                         name="redis-bus-topology")
        self._started = True
        for node in self._nodes.values():
            node.subscriber.start()
        try:
            async with asyncio.timeout(REDIS_CONNECT_TIMEOUT_SECS * 2):
                await asyncio.gather(*(node.subscriber.connected.wait() for node in self._nodes.values()))
        except asyncio.TimeoutError:
            log.warning("bus: not connected to every node yet; will keep trying in the background")

    async def close(self) -> None:
        for handle in self._lingering.values():
            handle.cancel()
        self._lingering.clear()
        await cancel_and_wait(self._topology_task)
        await cancel_and_wait(self._refreshing)
        await asyncio.gather(*(node.publisher.close() for node in self._nodes.values()))
        await asyncio.gather(*(node.subscriber.close() for node in self._nodes.values()))

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except RedisError as exc:
            raise BusUnavailable(str(exc)) from exc
        if not self._nodes:
            raise BusUnavailable("the cluster's slots are not known yet")
        for node in self._nodes.values():
            if not node.subscriber.connected.is_set():
                raise BusUnavailable(f"not connected to {node.name}")

    # ---- metrics -------------------------------------------------------------------------------------

    @property
    def subscriptions(self) -> int:
        return sum(len(node.subscriber.confirmed) for node in self._nodes.values())

    @property
    def waiting(self) -> int:
        """Events not written to Redis yet (the `bus_publishes` batcher gauge)."""
        return sum(node.publisher.waiting for node in self._nodes.values())

    async def wait_idle(self) -> None:
        """Until every event published so far was taken by Redis or failed."""
        await asyncio.gather(*(node.publisher.wait_idle() for node in list(self._nodes.values())))

    def _count_batch(self, events: int) -> None:
        if self.on_batch is not None:
            self.on_batch(events)

    # ---- where a channel lives -----------------------------------------------------------------------

    def channel(self, tenant_id: str) -> str:
        return tenant_channel(self.prefix, tenant_id)

    def _node_for(self, channel: str) -> _Node | None:
        if not self.sharded:
            return self._nodes["redis"]
        if not self._slots:
            return None
        return self._nodes.get(self._slots[key_slot(channel.encode())])

    def _add_node(self, name: str, host: str, port: int) -> _Node:
        node = self._nodes.get(name)
        if node is None:
            node = self._nodes[name] = _Node(self, node_pool(self.url, host, port), name)
            node.publisher.on_batch = self._count_batch
            if self._started:
                node.subscriber.start()
        return node

    async def _read_topology(self) -> None:
        """The cluster's slot map, from the first node that answers (CLUSTER SLOTS); channels whose slot
        changed node are subscribed again where they live now."""
        seeds = [(node.publisher.pool, node.name) for node in self._nodes.values()]
        seeds += [(node_pool(self.url, host, port), f"{host}:{port}") for host, port in cluster_nodes(self.url)]
        failure: Exception | None = None
        for pool, name in seeds:
            try:
                conn = await RespConnection.open(pool, connect_timeout_secs=REDIS_CONNECT_TIMEOUT_SECS,
                                                 command_timeout_secs=REDIS_SOCKET_TIMEOUT_SECS)
            except (RedisError, OSError) as exc:
                failure = exc
                continue
            try:
                ranges = await conn.execute("CLUSTER", "SLOTS")
            except (RedisError, OSError) as exc:
                failure = exc
                continue
            finally:
                conn.close()
            if ranges:
                break
        else:
            raise failure or RedisConnectionError("no cluster node answered")
        slots = [""] * 16384
        for start, end, master, *_ in ranges:
            host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
            host = host or pool.connection_kwargs.get("host", "127.0.0.1")
            name = f"{host}:{int(master[1])}"
            self._add_node(name, host, int(master[1]))
            slots[int(start):int(end) + 1] = [name] * (int(end) - int(start) + 1)
        self._slots = slots
        self._replace_channels()

    def _replace_channels(self) -> None:
        """Each wanted channel subscribed on the node that owns it now (after the map changed)."""
        for tenant in list(self._wanted):
            channel = self.channel(tenant)
            node, placed = self._node_for(channel), self._placed.get(channel)
            if node is placed or node is None:
                continue
            if placed is not None:
                placed.subscriber.remove(channel)
            self._placed[channel] = node
            future = node.subscriber.add(channel)
            future.add_done_callback(partial(self._moved_channel_confirmed, tenant))

    def _moved_channel_confirmed(self, tenant: str, future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is None:
            asyncio.get_running_loop().create_task(self._reconnected(frozenset([tenant])))

    async def _topology_loop(self) -> None:
        while True:
            await asyncio.sleep(TOPOLOGY_REFRESH_SECS)
            await self._refresh_topology()

    async def _refresh_topology(self) -> None:
        try:
            await self._read_topology()
        except (RedisError, OSError) as exc:
            log.warning("bus: cannot read the cluster's slots (%s)", exc)

    def refresh_soon(self) -> "asyncio.Task":
        """Read the slot map again (once for a burst of reasons)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh_topology(),
                                                                      name="redis-bus-refresh")
        return self._refreshing

    def channel_misplaced(self, channel: str) -> None:
        """A node said the channel's slot is not its own (MOVED, or it dropped the subscription)."""
        if self.sharded:
            placed = self._placed.pop(channel, None)
            if placed is not None:
                placed.subscriber.remove(channel)
            self.refresh_soon()

    def node_lost(self, subscriber: Subscriber) -> None:
        if self.sharded:
            self.refresh_soon()

    async def resubscribed(self, channels: Iterable[str]) -> None:
        """A node's connection is back with these channels subscribed again: their tenants catch up."""
        start = len(self.prefix) + 2
        await self._reconnected(frozenset(channel[start:] for channel in channels))

    def republish(self, payloads: list[tuple[str, bytes]], future: asyncio.Future) -> None:
        """Publish again where the slots live now (after a MOVED reply), then settle `future`."""
        asyncio.get_running_loop().create_task(self._republish(payloads, future))

    async def _republish(self, payloads: list[tuple[str, bytes]], future: asyncio.Future) -> None:
        await self.refresh_soon()
        by_node: dict[_Node, list[tuple[str, bytes]]] = {}
        for channel, payload in payloads:
            node = self._node_for(channel)
            if node is None:
                future.done() or future.set_exception(BusUnavailable("the cluster's slots are not known"))
                return
            by_node.setdefault(node, []).append((channel, payload))
        loop = asyncio.get_running_loop()
        sent = []
        for node, pairs in by_node.items():
            again = loop.create_future()
            node.publisher.send(pairs, again)
            sent.append(again)
        results = await asyncio.gather(*sent, return_exceptions=True)
        if not future.done():
            failure = next((r for r in results if isinstance(r, BaseException)), None)
            if failure is None:
                future.set_result(None)
            else:
                future.set_exception(failure if isinstance(failure, BusUnavailable) else BusUnavailable(str(failure)))

    # ---- subscriptions -------------------------------------------------------------------------------

    async def subscribe_tenant(self, tenant_id: str) -> None:
        count = self._wanted.get(tenant_id, 0)
        self._wanted[tenant_id] = count + 1
        handle = self._lingering.pop(tenant_id, None)
        if handle is not None:
            handle.cancel()
        channel = self.channel(tenant_id)
        node = self._placed.get(channel)
        if node is not None and channel in node.subscriber.confirmed:
            return  # the usual case: another socket of the tenant is here already
        node = node or self._node_for(channel)
        if node is None:
            self.refresh_soon()
            return  # placed (and the tenant told to catch up) when the map is known
        self._placed[channel] = node
        future = node.subscriber.add(channel)
        if not future.done():
            try:
                await asyncio.wait_for(asyncio.shield(future), SUBSCRIBE_WAIT_SECS)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                # The bus is down (or the channel is moving): the socket catches up when it is back.
                if asyncio.current_task().cancelling():
                    raise

    def release_tenant(self, tenant_id: str) -> None:
        count = self._wanted.get(tenant_id, 0) - 1
        if count > 0:
            self._wanted[tenant_id] = count
            return
        if count < 0 or tenant_id in self._lingering:
            return
        self._wanted[tenant_id] = 0
        self._lingering[tenant_id] = asyncio.get_running_loop().call_later(
            TENANT_LINGER_SECS, self._unsubscribe, tenant_id)

    def _unsubscribe(self, tenant_id: str) -> None:
        self._lingering.pop(tenant_id, None)
        if self._wanted.get(tenant_id):
            return
        self._wanted.pop(tenant_id, None)
        channel = self.channel(tenant_id)
        node = self._placed.pop(channel, None)
        if node is not None:
            node.subscriber.remove(channel)

    # ---- events ----------------------------------------------------------------------------------------

    def send_to_others(self, event: Event) -> "asyncio.Future[None]":
        """Events published meanwhile go to their channels together, in the order they were made.

        A channel message: this bus's source id, then per event two lines: the event without its
        data (JSON) and the frame as sockets get it (JSON has no raw newline). One PUBLISH per channel
        per loop step, one message for each subscriber to read, and no worker serializes a frame again."""
        channel = self.channel(event.tenant_id)
        node = self._node_for(channel)
        self.events_published += 1
        if self.on_published is not None:
            self.on_published()
        if node is None:
            self.refresh_soon()
            future = asyncio.get_running_loop().create_future()
            future.set_exception(BusUnavailable("the cluster's slots are not known yet"))
            return future
        route = json.dumps(event.route(), separators=(",", ":"))
        return node.publisher.enqueue(channel, f"{route}\n{event.frame_json()}")

    def _decode(self, payload: bytes) -> list[Event]:
        """The events in a channel message; none for this bus's own (delivered when published)."""
        if payload[:SOURCE_ID_CHARS] == self._source_prefix:
            return []
        lines = payload[SOURCE_ID_CHARS:].decode().split("\n")
        if len(lines) % 2:
            raise ValueError("an event is a route line and a frame line")
        return [Event.from_route(json.loads(route), frame) for route, frame in zip(lines[::2], lines[1::2])]

    def on_channel_message(self, payload: bytes) -> None:
        try:
            received = self._decode(payload)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("bus: dropped malformed message: %s", exc)
            return
        self.events_received += len(received)
        if self.on_received is not None:
            self.on_received(len(received))
        for event in received:
            self._deliver(event)


def make_bus(redis_url: str | None, prefix: str, redis: aioredis.Redis | None = None) -> Bus:
    if not redis_url or redis_url.startswith("memory"):
        return MemoryBus()
    return RedisBus(redis or make_redis(redis_url), prefix, redis_url)
