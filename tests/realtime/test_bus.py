"""The Redis bus under the limits set on purpose (redis-py's defaults would bite here): publisher and
subscriber connections of its own beside a bounded pool that waits rather than raising, a subscriber
connection that may sit idle, and a server that stops answering."""
import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from callcenter import bus as bus_module
from callcenter import redis_pubsub
from callcenter.bus import BusUnavailable, RedisBus, make_redis
from callcenter.events import Event
from callcenter.metrics import Metrics
from callcenter.publisher import EventPublisher
from tests.helpers import wait_until
from tests.mocking import private_redis


def set_bus_limits(monkeypatch, **values: float) -> None:
    """Scale the bus's timeouts down for a test, in whichever of its modules (bus, redis_pubsub) reads each."""
    for name, value in values.items():
        modules = [m for m in (bus_module, redis_pubsub) if hasattr(m, name)]
        assert modules, name
        for module in modules:
            monkeypatch.setattr(module, name, value)


async def started_bus(redis_url: str, prefix: str, **redis_kwargs) -> tuple[RedisBus, list[Event]]:
    """A bus as a worker runs it, listening to tenant t1's channel (a socket of t1 is here)."""
    received: list[Event] = []
    bus = RedisBus(make_redis(redis_url, **redis_kwargs), prefix, redis_url)
    bus.add_listener(received.append)
    await bus.start()
    await bus.subscribe_tenant("t1")
    assert bus.subscriptions == 1
    return bus, received


def publisher_conn(bus: RedisBus):
    return bus._nodes["redis"].publisher._conn


async def close_buses(*buses: RedisBus) -> None:
    for bus in buses:
        await bus.close()
        await bus.redis.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_the_bus_has_connections_of_its_own_and_a_dry_pool_makes_its_users_wait(redis_server_url, redis_prefix,
                                                                                      monkeypatch):
    # A pool of one connection, held by a slow command: publishing and receiving go on regardless.
    bus, received = await started_bus(redis_server_url, redis_prefix, max_connections=1)
    other, elsewhere = await started_bus(redis_server_url, redis_prefix)  # another worker's
    try:
        blocked = asyncio.ensure_future(bus.redis.blpop([redis_prefix + "never"], timeout=1))
        await asyncio.sleep(0.1)
        await bus.publish(Event("test.event", "t1", {"n": 1}))
        # (The other worker has 1 before it publishes 2: its own event would reach it at once, 1 only
        # through Redis, so otherwise it could see [2, 1]; the same race as f73ce16's tests.)
        assert await wait_until(lambda: [e.data["n"] for e in elsewhere] == [1])
        await other.publish(Event("test.event", "t1", {"n": 2}))
        assert not blocked.done(), "published while the pool's only connection was taken"
        assert await wait_until(lambda: [e.data["n"] for e in elsewhere] == [1, 2])
        assert await wait_until(lambda: [e.data["n"] for e in received] == [1, 2])

        # The pool's other users (rate limits, presence) wait for the free connection...
        assert await bus.redis.get(redis_prefix + "nothing") is None
        assert blocked.done() and await blocked is None
        # ... and, dry for longer than the pool's wait, get a clear error rather than hanging.
        monkeypatch.setattr(bus.redis.connection_pool, "timeout", 0.2)
        blocked = asyncio.ensure_future(bus.redis.blpop([redis_prefix + "never"], timeout=1))
        await asyncio.sleep(0.1)
        with pytest.raises(RedisConnectionError):
            await bus.redis.get(redis_prefix + "nothing")
        await blocked
        assert bus.reconnects == other.reconnects == 0, "the subscribers were never disturbed"
    finally:
        await close_buses(bus, other)


@pytest.mark.gen_test(timeout=60)
async def test_a_redis_that_stops_answering_fails_publishes_in_time_and_the_bus_comes_back(redis_prefix, monkeypatch):
    """A hung server (SIGSTOP: connections stay open, nothing answers): a publish fails with
    BusUnavailable within the command timeout instead of waiting forever, the subscriber's PING finds
    the dead link and it resubscribes once the server answers again; then events flow both ways."""
    set_bus_limits(monkeypatch, REDIS_SOCKET_TIMEOUT_SECS=0.5)
    set_bus_limits(monkeypatch, REDIS_CONNECT_TIMEOUT_SECS=0.5)
    set_bus_limits(monkeypatch, SUBSCRIBER_POLL_SECS=0.3)
    with private_redis() as server:
        one, got_one = await started_bus(server.url, redis_prefix)
        two, got_two = await started_bus(server.url, redis_prefix)
        try:
            await one.publish(Event("test.event", "t1", {"n": 1}))
            assert await wait_until(lambda: [e.data["n"] for e in got_two] == [1])

            server.pause()
            started = time.monotonic()
            with pytest.raises(BusUnavailable):
                await one.publish(Event("test.event", "t1", {"n": 2}))
            assert time.monotonic() - started < 5
            assert [e.data["n"] for e in got_one] == [1, 2], "this worker's own sockets still got it"
            assert await wait_until(lambda: one.reconnects > 0 and two.reconnects > 0, timeout=10)

            server.resume()
            assert await wait_until(lambda: one.subscriptions == two.subscriptions == 1, timeout=15)
            # A worker's own event reaches its listeners at once, another's only through Redis: 4 is
            # published once 3 has arrived, or two's listeners could see 4 before 3.
            await one.publish(Event("test.event", "t1", {"n": 3}))
            assert await wait_until(lambda: [e.data["n"] for e in got_two] == [1, 3])
            await two.publish(Event("test.event", "t1", {"n": 4}))
            assert await wait_until(lambda: [e.data["n"] for e in got_one] == [1, 2, 3, 4])
            assert [e.data["n"] for e in got_two] == [1, 3, 4]
        finally:
            server.resume()
            await close_buses(one, two)


@pytest.mark.gen_test(timeout=30)
async def test_each_worker_gets_each_event_once_and_malformed_ones_are_dropped(redis_server_url, redis_prefix):
    """The publisher's listeners get its event at once and not again when Redis echoes it back; the
    other workers get it once, the frame exactly as serialized by the publisher."""
    one, got_one = await started_bus(redis_server_url, redis_prefix)
    two, got_two = await started_bus(redis_server_url, redis_prefix)
    try:
        await one.publish(Event("chat.message.new", "t1", {"message": {"seq": 1, "body": "</script> é"}},
                                session_id="s1", to_visitor=True, meta={"origin": "c1"}))
        for junk in (b"not an event", b"x" * 12 + b'{"type":"a"}', b"y" * 12 + b'{"type":"a","tenant_id":"t"}\n[]'):
            await one.redis.publish(one.channel("t1"), junk)
        # Two's own event reaches its listeners at once, one's only through Redis: wait for one's first.
        assert await wait_until(lambda: len(got_two) == 1)
        await two.publish(Event("test.event", "t1", {"n": 2}))
        assert await wait_until(lambda: len(got_one) == 2 and len(got_two) == 2)
        await asyncio.sleep(0.3)  # nothing more arrives: no echo, no junk
        assert [e.type for e in got_one] == [e.type for e in got_two] == ["chat.message.new", "test.event"]
        first = got_two[0]
        assert (first.session_id, first.to_visitor, first.meta) == ("s1", True, {"origin": "c1"})
        assert first.frame_json() == got_one[0].frame_json() == (
            '{"type":"chat.message.new","data":{"message":{"seq":1,"body":"<\\/script> é"}}}')
        assert one.reconnects == two.reconnects == 0
    finally:
        await close_buses(one, two)


@pytest.mark.gen_test(timeout=30)
async def test_a_service_event_leaves_for_other_workers_at_once_and_reaches_this_one_after_the_step(
        redis_server_url, redis_prefix):
    """EventPublisher.publish: the other workers' copy is handed to the publisher in the caller's own
    step (so Redis has it as early as possible); this worker's sockets get theirs right after that
    step, so a sender's ack, queued later in the same step, still goes out before the echo."""
    one, got_one = await started_bus(redis_server_url, redis_prefix)
    two, got_two = await started_bus(redis_server_url, redis_prefix)
    chat = EventPublisher(one, Metrics())
    try:
        await chat.publish(Event("test.event", "t1", {"n": 1}), Event("test.event", "t1", {"n": 2}))
        assert one.waiting == 2 and got_one == []
        await asyncio.sleep(0)
        assert [e.data["n"] for e in got_one] == [1, 2]
        assert await wait_until(lambda: [e.data["n"] for e in got_two] == [1, 2])
        await chat.wait_published()
        # Once closed, the bus publishes nothing more (and opens no connection for it).
        await one.close()
        with pytest.raises(BusUnavailable):
            await one.publish(Event("test.event", "t1", {"n": 3}))
        assert publisher_conn(one).closed
    finally:
        await close_buses(one, two)


@pytest.mark.gen_test(timeout=30)
async def test_an_idle_subscriber_stays_subscribed(redis_server_url, redis_prefix, monkeypatch):
    """Quiet for many socket timeouts (minutes in production, scaled down here): no reconnect, no
    lost event afterwards. The subscriber's read is bounded by its own poll, not the socket timeout."""
    set_bus_limits(monkeypatch, REDIS_SOCKET_TIMEOUT_SECS=0.2)
    set_bus_limits(monkeypatch, SUBSCRIBER_POLL_SECS=0.5)
    bus, received = await started_bus(redis_server_url, redis_prefix)
    try:
        await asyncio.sleep(3)  # 15 socket timeouts of silence
        assert bus.reconnects == 0
        await bus.ping()
        await bus.publish(Event("test.event", "t1", {"after": "silence"}))
        assert await wait_until(lambda: [e.data for e in received] == [{"after": "silence"}])
    finally:
        await close_buses(bus)


@pytest.mark.gen_test(timeout=30)
async def test_events_published_together_travel_as_one_message_in_order(redis_server_url, redis_prefix):
    one, got_one = await started_bus(redis_server_url, redis_prefix)
    two, got_two = await started_bus(redis_server_url, redis_prefix)
    batches: list[int] = []
    one.on_batch = batches.append
    try:
        futures = [one.publish_nowait(Event("test.event", "t1", {"n": n, "text": "a\nb"})) for n in range(120)]
        await asyncio.gather(*futures)
        assert await wait_until(lambda: len(got_two) == 120)
        assert [e.data for e in got_two] == [e.data for e in got_one] == [{"n": n, "text": "a\nb"} for n in range(120)]
        assert sum(batches) == 120 and len(batches) < 120, "published together, not one by one"
    finally:
        await close_buses(one, two)


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("protocol", [2, 3])
async def test_the_bus_speaks_either_redis_protocol_the_url_asks_for(redis_server_url, redis_prefix, protocol,
                                                                    monkeypatch):
    """RESP2 delivers channel messages and the subscriber's PONG as arrays, RESP3 as pushes: both
    reach the listeners, and a quiet subscriber's PINGs are answered on either."""
    set_bus_limits(monkeypatch, SUBSCRIBER_POLL_SECS=0.2)
    url = redis_server_url + ("&" if "?" in redis_server_url else "?") + f"protocol={protocol}"
    one, got_one = await started_bus(url, redis_prefix)
    two, got_two = await started_bus(url, redis_prefix)
    try:
        await one.publish(Event("test.event", "t1", {"n": 1}))
        await two.publish(Event("test.event", "t1", {"n": 2}))
        assert publisher_conn(one).protocol == publisher_conn(two).protocol == protocol
        assert await wait_until(lambda: sorted(e.data["n"] for e in got_two) == [1, 2])
        assert await wait_until(lambda: sorted(e.data["n"] for e in got_one) == [1, 2])
        await asyncio.sleep(0.7)  # a few PINGs of a quiet subscriber
        assert one.reconnects == two.reconnects == 0
        await one.publish(Event("test.event", "t1", {"n": 3}))
        assert await wait_until(lambda: [e.data["n"] for e in got_two][-1:] == [3])
    finally:
        await close_buses(one, two)


@pytest.mark.gen_test(timeout=60)
async def test_the_bus_over_tls_survives_a_redis_restart(redis_prefix, monkeypatch):
    """rediss://: redis-py makes the TLS handshake, the bus's own connections then run over the TLS
    transport; after the server restarts both buses reconnect (a new handshake each) and resubscribe."""
    set_bus_limits(monkeypatch, RESUBSCRIBE_BACKOFF_MAX_SECS=0.5)
    with private_redis(tls=True) as server:
        assert server.url.startswith("rediss://")
        one, got_one = await started_bus(server.url, redis_prefix)
        two, got_two = await started_bus(server.url, redis_prefix)
        try:
            await one.publish(Event("test.event", "t1", {"n": 1}))
            assert await wait_until(lambda: [e.data["n"] for e in got_two] == [1])
            assert publisher_conn(one).transport.get_extra_info("ssl_object") is not None

            server.stop()
            with pytest.raises(BusUnavailable):
                await one.publish(Event("test.event", "t1", {"n": 2}))
            server.start()
            assert await wait_until(lambda: one.reconnects > 0 and two.reconnects > 0
                                    and one.subscriptions == two.subscriptions == 1, timeout=20)
            await two.publish(Event("test.event", "t1", {"n": 3}))
            assert await wait_until(lambda: [e.data["n"] for e in got_one] == [1, 2, 3])  # before one's own 4
            await one.publish(Event("test.event", "t1", {"n": 4}))
            assert await wait_until(lambda: [e.data["n"] for e in got_two] == [1, 3, 4])
            assert [e.data["n"] for e in got_one] == [1, 2, 3, 4]
        finally:
            await close_buses(one, two)
