"""Tenant channels: a worker hears a tenant's events only while it holds sockets of that tenant, and a
socket's catch-up from the store starts only once its worker listens, so nothing falls between the two.

The bus tests use two RedisBus objects on the shared Redis (their own key prefix, so their own channels);
the worker tests run two real `callcenter serve` processes on MariaDB + Redis and talk to each directly.
"""
from __future__ import annotations

import asyncio
import random
import re

import pytest
from tornado.httpclient import AsyncHTTPClient

from callcenter.bus import RedisBus, make_redis
from callcenter.events import Event
from tests.helpers import ApiClient, wait_until
from tests.realtime.test_bus import set_bus_limits
from tests.realtime.test_cluster import cluster, cluster_config, setup  # noqa: F401 (fixtures)
from tests.wsclient import WsClient


async def bus_on(url: str, prefix: str) -> tuple[RedisBus, list[Event]]:
    received: list[Event] = []
    bus = RedisBus(make_redis(url), prefix, url)
    bus.add_listener(received.append)
    await bus.start()
    return bus, received


@pytest.mark.gen_test(timeout=30)
async def test_a_worker_hears_only_the_tenants_it_holds_sockets_of(redis_server_url, redis_prefix, monkeypatch):
    set_bus_limits(monkeypatch, TENANT_LINGER_SECS=0.3)
    one, got_one = await bus_on(redis_server_url, redis_prefix)
    two, got_two = await bus_on(redis_server_url, redis_prefix)
    try:
        await one.subscribe_tenant("a")
        await one.subscribe_tenant("a")  # two sockets of tenant a
        await two.subscribe_tenant("b")
        assert (one.subscriptions, two.subscriptions) == (1, 1)
        for n in range(30):
            await two.publish(Event("test.event", "b", {"n": n}))  # b talks: one holds no socket of b
        await two.publish(Event("test.event", "a", {"n": "for a"}))
        assert await wait_until(lambda: [e.data["n"] for e in got_one] == ["for a"])
        assert one.events_received == 1, "none of tenant b's 30 events reached a worker without b's sockets"
        assert two.events_received == 0 and two.events_published == 31

        # The last socket of a leaves: the channel lingers a while (a reload finds it), then it is dropped.
        one.release_tenant("a")
        one.release_tenant("a")
        assert one.subscriptions == 1
        await two.publish(Event("test.event", "a", {"n": "lingering"}))
        assert await wait_until(lambda: one.events_received == 2)
        assert await wait_until(lambda: one.subscriptions == 0, timeout=5)
        await two.publish(Event("test.event", "a", {"n": "gone"}))
        await asyncio.sleep(0.3)
        assert one.events_received == 2

        # Back within the linger: the subscription is kept (no unsubscribe, no second subscribe).
        await one.subscribe_tenant("a")
        one.release_tenant("a")
        await asyncio.sleep(0.1)
        await one.subscribe_tenant("a")
        await asyncio.sleep(0.4)
        assert one.subscriptions == 1
        await two.publish(Event("test.event", "a", {"n": "again"}))
        assert await wait_until(lambda: [e.data["n"] for e in got_one][-1] == "again")
        # A release without a subscription (a socket that never got that far) changes nothing.
        two.release_tenant("never")
        assert two.subscriptions == 1

        # subscribe_tenant returns once Redis has the subscription: what is published right after reaches it
        # (a store read made after it can therefore miss nothing).
        for n in range(20):
            await one.subscribe_tenant(f"fresh{n}")
            await two.publish(Event("test.event", f"fresh{n}", {"n": f"fresh{n}"}))
        assert await wait_until(lambda: sum(e.data["n"].startswith("fresh") for e in got_one) == 20)
    finally:
        for bus in (one, two):
            await bus.close()
            await bus.redis.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_subscribing_waits_for_the_confirmation_and_a_dead_bus_does_not_hold_sockets(redis_prefix,
                                                                                            monkeypatch):
    """subscribe_tenant returns once Redis confirmed (the caller then reads the store); with Redis gone it
    gives up after SUBSCRIBE_WAIT_SECS, and the channel is subscribed (and its tenant resynced) once the
    server is back."""
    from tests.mocking import private_redis
    set_bus_limits(monkeypatch, SUBSCRIBE_WAIT_SECS=0.5)
    set_bus_limits(monkeypatch, RESUBSCRIBE_BACKOFF_MAX_SECS=0.3)
    resynced: list = []
    with private_redis() as server:
        one, _ = await bus_on(server.url, redis_prefix)

        async def note(tenants):
            resynced.append(tenants)
        one.add_reconnect_listener(note)
        try:
            await one.subscribe_tenant("a")
            assert one.subscriptions == 1
            server.stop()
            assert await wait_until(lambda: one.subscriptions == 0, timeout=10)
            started = asyncio.get_running_loop().time()
            await one.subscribe_tenant("b")  # the bus is down: the socket goes on (and resyncs later)
            assert asyncio.get_running_loop().time() - started < 3
            server.start()
            assert await wait_until(lambda: one.subscriptions == 2, timeout=15)
            assert await wait_until(lambda: any(t is not None and {"a", "b"} <= t for t in resynced))
        finally:
            await one.close()
            await one.redis.aclose()


async def metric(base: str, name: str) -> float:
    body = (await AsyncHTTPClient().fetch(base + "/metrics")).body.decode()
    found = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", body, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def only_the_tenants_it_holds(a: str, b: str, setup) -> None:
    """Tenant X talks on worker A only; worker B, holding sockets of tenant Y only, receives none of X's
    events (its received counter stays still), then Y's. (Also run on a Redis Cluster.)"""
    api_a = ApiClient(AsyncHTTPClient(), a)
    x, y = await setup(), await setup()
    x_agent = await WsClient.connect(a, x.agent.token)
    x_visitor = await x.visitor(api_a)
    x_visitor_ws = await WsClient.connect(a, x_visitor.token)
    y_agent = await WsClient.connect(b, y.agent.token)
    y_visitor_ws = None
    try:
        assert await metric(b, "callcenter_bus_subscriptions") == 1
        before = await metric(b, "callcenter_bus_events_received_total")
        for n in range(20):
            await x_visitor_ws.send("chat.message.send", message=f"x{n}", client_msg_id=f"x{n}")
        assert await wait_until(lambda: len(x_agent.messages()) == 20, timeout=15)
        await asyncio.sleep(0.5)
        assert await metric(b, "callcenter_bus_events_received_total") == before, "B heard tenant X"
        assert await metric(a, "callcenter_bus_events_published_total") >= 20

        y_visitor = await y.visitor(api_a)  # started through A: its events cross to B, where Y's agent is
        y_visitor_ws = await WsClient.connect(a, y_visitor.token)
        await y_visitor_ws.send("chat.message.send", message="hello y", client_msg_id="y1")
        assert await wait_until(lambda: [m["body"] for m in y_agent.messages()] == ["hello y"], timeout=10)
        assert await metric(b, "callcenter_bus_events_received_total") > before
        assert await metric(a, "callcenter_bus_subscriptions") == 2
    finally:
        for ws in (x_agent, x_visitor_ws, y_agent, y_visitor_ws):
            if ws is not None:
                ws.close()


@pytest.mark.gen_test(timeout=90)
async def test_a_worker_receives_nothing_of_a_tenant_it_holds_no_socket_of(cluster, setup):  # noqa: F811
    a, b = (f"http://127.0.0.1:{w.port}" for w in cluster.workers)
    await only_the_tenants_it_holds(a, b, setup)


@pytest.mark.gen_test(timeout=120)
async def test_a_new_workers_catch_up_and_the_live_events_leave_no_gap_under_sends(cluster, setup):  # noqa: F811
    """The first socket of a tenant on worker B subscribes to its channel, and only then reads the store:
    a message stored just before, during or just after that connect reaches the agent exactly once and in
    order, with no later message to reveal a gap (each round sends one message, then stays quiet)."""
    a, b = (f"http://127.0.0.1:{w.port}" for w in cluster.workers)
    api_a = ApiClient(AsyncHTTPClient(), a)
    rng = random.Random(28)
    for round_ in range(8):
        tenant = await setup()  # a new tenant: B holds no socket of it, so this connect subscribes
        visitor = await tenant.visitor(api_a)
        visitor_ws = await WsClient.connect(a, visitor.token)
        await visitor_ws.send("chat.message.send", message="first", client_msg_id="m1")
        await visitor_ws.next("chat.message.ack")

        async def send_later():
            await asyncio.sleep(rng.uniform(0, 0.03))
            await visitor_ws.send("chat.message.send", message="second", client_msg_id="m2")
            await visitor_ws.next("chat.message.ack")

        sending = asyncio.ensure_future(send_later())
        agent_ws = await WsClient.connect(b, tenant.agent.token, resume={visitor.session_id: 0})
        await sending
        try:
            assert await wait_until(lambda: len(agent_ws.messages(visitor.session_id)) >= 2, timeout=5), (
                f"round {round_}: the agent on B got {agent_ws.messages(visitor.session_id)}")
            await agent_ws.quiet(0.2)
            assert [m["seq"] for m in agent_ws.messages(visitor.session_id)] == [1, 2], f"round {round_}"
        finally:
            agent_ws.close()
            visitor_ws.close()
