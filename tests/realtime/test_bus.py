"""The Redis bus under the limits set on purpose (redis-py's defaults would bite here): a bounded
connection pool that waits rather than raising, and a subscriber connection that may sit idle."""
import asyncio

import pytest

from callcenter import bus as bus_module
from callcenter.bus import BusUnavailable, RedisBus, make_redis
from callcenter.events import Event
from callcenter.services import ChatService
from tests.helpers import wait_until


async def started_bus(redis_url: str, prefix: str, **redis_kwargs) -> tuple[RedisBus, list[Event]]:
    received: list[Event] = []
    bus = RedisBus(make_redis(redis_url, **redis_kwargs), prefix)
    bus.add_listener(received.append)
    await bus.start()
    return bus, received


@pytest.mark.gen_test(timeout=30)
async def test_publish_waits_for_a_free_connection_when_the_pool_runs_dry(redis_server_url, redis_prefix,
                                                                          monkeypatch):
    # Two connections: the subscriber holds one for good, a slow command holds the other.
    bus, received = await started_bus(redis_server_url, redis_prefix, max_connections=2)
    other, elsewhere = await started_bus(redis_server_url, redis_prefix)  # another worker's
    try:
        blocked = asyncio.ensure_future(bus.redis.blpop([redis_prefix + "never"], timeout=1))
        await asyncio.sleep(0.1)
        await bus.publish(Event("test.event", "t1", {"n": 1}))  # waits for blpop's connection, then goes
        assert await blocked is None
        assert await wait_until(lambda: [e.data for e in elsewhere] == [{"n": 1}])

        # Dry for longer than the pool's wait: a clear BusUnavailable (the send itself still succeeds
        # upstream: clients resume from the store), and the bus works again once a connection is free.
        monkeypatch.setattr(bus.redis.connection_pool, "timeout", 0.2)
        blocked = asyncio.ensure_future(bus.redis.blpop([redis_prefix + "never"], timeout=1))
        await asyncio.sleep(0.1)
        with pytest.raises(BusUnavailable):
            await bus.publish(Event("test.event", "t1", {"n": 2}))
        await blocked
        await bus.publish(Event("test.event", "t1", {"n": 3}))
        assert await wait_until(lambda: [e.data["n"] for e in elsewhere] == [1, 3])
        # This worker's own sockets got every event at once, the one Redis did not take included.
        assert [e.data["n"] for e in received] == [1, 2, 3]
        assert bus.reconnects == 0, "the subscriber was never disturbed"
    finally:
        for b in (bus, other):
            await b.close()
            await b.redis.aclose()


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
            await one.redis.publish(one.channel, junk)
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
        for b in (one, two):
            await b.close()
            await b.redis.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_service_event_leaves_for_other_workers_at_once_and_reaches_this_one_after_the_step(
        redis_server_url, redis_prefix):
    """ChatService.publish: the other workers' copy is handed to the publisher in the caller's own
    step (so Redis has it as early as possible); this worker's sockets get theirs right after that
    step, so a sender's ack, queued later in the same step, still goes out before the echo."""
    one, got_one = await started_bus(redis_server_url, redis_prefix)
    two, got_two = await started_bus(redis_server_url, redis_prefix)
    chat = ChatService(store=None, bus=one, signer=None, limiter=None, config=None)
    try:
        await chat.publish(Event("test.event", "t1", {"n": 1}), Event("test.event", "t1", {"n": 2}))
        assert one.publisher.waiting == 2 and got_one == []
        await asyncio.sleep(0)
        assert [e.data["n"] for e in got_one] == [1, 2]
        assert await wait_until(lambda: [e.data["n"] for e in got_two] == [1, 2])
        await chat.wait_published()
    finally:
        for b in (one, two):
            await b.close()
            await b.redis.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_an_idle_subscriber_stays_subscribed(redis_server_url, redis_prefix, monkeypatch):
    """Quiet for many socket timeouts (minutes in production, scaled down here): no reconnect, no
    lost event afterwards. The subscriber's read is bounded by its own poll, not the socket timeout."""
    monkeypatch.setattr(bus_module, "REDIS_SOCKET_TIMEOUT_SECS", 0.2)
    monkeypatch.setattr(bus_module, "SUBSCRIBER_POLL_SECS", 0.5)
    bus, received = await started_bus(redis_server_url, redis_prefix)
    try:
        await asyncio.sleep(3)  # 15 socket timeouts of silence
        assert bus.reconnects == 0
        await bus.ping()
        await bus.publish(Event("test.event", "t1", {"after": "silence"}))
        assert await wait_until(lambda: [e.data for e in received] == [{"after": "silence"}])
    finally:
        await bus.close()
        await bus.redis.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_events_published_together_travel_as_one_message_in_order(redis_server_url, redis_prefix):
    one, got_one = await started_bus(redis_server_url, redis_prefix)
    two, got_two = await started_bus(redis_server_url, redis_prefix)
    batches: list[int] = []
    one.publisher.on_batch = batches.append
    try:
        futures = [one.publish_nowait(Event("test.event", "t1", {"n": n, "text": "a\nb"})) for n in range(120)]
        await asyncio.gather(*futures)
        assert await wait_until(lambda: len(got_two) == 120)
        assert [e.data for e in got_two] == [e.data for e in got_one] == [{"n": n, "text": "a\nb"} for n in range(120)]
        assert sum(batches) == 120 and len(batches) < 120, "published together, not one by one"
    finally:
        for b in (one, two):
            await b.close()
            await b.redis.aclose()
