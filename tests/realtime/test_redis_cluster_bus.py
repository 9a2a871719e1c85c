"""Two real workers on a real 3-master Redis Cluster (`redis+cluster://`, the session's `redis_cluster`
fixture on free ports, never the shared Redis): the quick start across workers with sharded pub/sub, a
tenant's events only where its sockets are, and a node restarted mid-conversation with nothing lost."""
from __future__ import annotations

import asyncio

import pytest
from tornado.httpclient import AsyncHTTPClient

from callcenter.app import create_services
from callcenter.bus import tenant_channel
from callcenter.config import Config
from tests.cluster import Cluster
from tests.helpers import ApiClient, TenantFactory, wait_until
from tests.realtime.test_tenant_channels import metric, only_the_tenants_it_holds
from tests.wsclient import ResumingClient, WsClient

SECRET = "redis-cluster-test-secret-0123456789abcdef"


@pytest.fixture
def on_cluster(redis_cluster, mysql_database_url, redis_prefix, tmp_path, io_loop):
    """(two `callcenter serve` workers on the Redis Cluster, in-process services for tenants and tokens)."""
    config = Config(database_url=mysql_database_url, redis_url=redis_cluster.url, redis_prefix=redis_prefix,
                    secret_key=SECRET, data_dir=tmp_path)
    workers = Cluster(database_url=mysql_database_url, redis_url=redis_cluster.url, redis_prefix=redis_prefix,
                      secret_key=SECRET, logdir=tmp_path, workers=2).start()
    svc = create_services(config)
    io_loop.run_sync(svc.start)
    yield workers, TenantFactory(svc)
    io_loop.run_sync(svc.close)
    workers.stop()


def _bases(workers: Cluster) -> tuple[str, str]:
    a, b = (f"http://127.0.0.1:{w.port}" for w in workers.workers)
    return a, b


@pytest.mark.gen_test(timeout=90)
async def test_quick_start_across_two_workers_on_a_redis_cluster(on_cluster, redis_cluster, redis_prefix):
    workers, setup = on_cluster
    a, b = _bases(workers)
    api_a = ApiClient(AsyncHTTPClient(), a)
    tenant = await setup()
    agent_ws = await WsClient.connect(b, tenant.agent.token)
    visitor = await tenant.visitor(api_a)
    await agent_ws.next("chat.session.started", timeout=10)  # started on A, heard on B
    visitor_ws = await WsClient.connect(a, visitor.token)
    try:
        await visitor_ws.send("chat.message.send", message="Hi, is anyone there?", client_msg_id="v1")
        frame = await agent_ws.next("chat.message.new", timeout=10)
        assert frame["data"]["message"]["body"] == "Hi, is anyone there?"
        await agent_ws.send("chat.message.send", session_id=visitor.session_id, message="Yes! How can I help?")
        assert await wait_until(lambda: [m["body"] for m in visitor_ws.messages()] == [
            "Hi, is anyone there?", "Yes! How can I help?"], timeout=10)
        # Sharded pub/sub: the tenant's channel has its subscribers on the node that owns its slot only.
        channel = tenant_channel(redis_prefix, tenant.id)
        owner = redis_cluster.node_for_key(channel)
        for i, port in enumerate(redis_cluster.ports):
            counts = redis_cluster._cli("pubsub", "shardnumsub", channel, port=port).split()
            assert int(counts[-1]) == (2 if i == owner else 0), (i, owner, counts)
        for base in (a, b):
            assert await metric(base, "callcenter_bus_subscriptions") == 1
        assert await metric(b, "callcenter_bus_events_received_total") > 0
    finally:
        agent_ws.close()
        visitor_ws.close()


@pytest.mark.gen_test(timeout=90)
async def test_on_a_cluster_a_worker_hears_no_tenant_it_holds_no_socket_of(on_cluster):
    workers, setup = on_cluster
    await only_the_tenants_it_holds(*_bases(workers), setup)


@pytest.mark.gen_test(timeout=150)
async def test_a_node_restarted_mid_conversation_loses_nothing(on_cluster, redis_cluster, redis_prefix):
    """The node that owns the tenant's channel is restarted while both sides talk: sends keep succeeding
    (the store has them), the workers resubscribe on that node, and the agent on B and the visitor on A
    each end with every message exactly once, in order."""
    workers, setup = on_cluster
    a, b = _bases(workers)
    api_a, api_b = ApiClient(AsyncHTTPClient(), a), ApiClient(AsyncHTTPClient(), b)
    tenant = await setup()
    visitor = await tenant.visitor(api_a)
    agent = await ResumingClient(b, tenant.agent.token, track=[visitor.session_id]).start()
    widget = await ResumingClient(a, visitor.token, track=[visitor.session_id]).start()
    try:
        sent = 0

        async def talk(count: int) -> None:
            nonlocal sent
            for _ in range(count):
                sent += 1
                if sent % 2:
                    resp = await api_a.post("/api/v1/chat/public/message", {
                        "session_id": visitor.session_id, "message": f"visitor {sent}"}, token=visitor.token)
                else:
                    resp = await api_b.post("/api/v1/chat/messages", {
                        "session_id": visitor.session_id, "message": f"agent {sent}"}, token=tenant.agent.token)
                assert resp.status == 201, resp.body
                await asyncio.sleep(0.05)

        await talk(6)
        await agent.wait_for_seq(visitor.session_id, 6)
        owner = redis_cluster.node_for_key(tenant_channel(redis_prefix, tenant.id))
        restart = asyncio.get_running_loop().run_in_executor(None, redis_cluster.restart_node, owner)
        await talk(10)
        await restart
        await talk(4)
        total = sent
        await agent.wait_for_seq(visitor.session_id, total, timeout=60)
        await widget.wait_for_seq(visitor.session_id, total, timeout=60)
        assert agent.seqs(visitor.session_id) == list(range(1, total + 1))
        assert widget.seqs(visitor.session_id) == list(range(1, total + 1))
        assert any("resubscribed" in w.log() for w in workers.workers), workers.logs()
    finally:
        await agent.stop()
        await widget.stop()


def _move_slot(cluster, slot: int, to: int) -> None:
    """Give an empty slot (channels are not keys) to master `to`: IMPORTING / MIGRATING, then NODE on every
    master, as `redis-cli --cluster reshard` does for a slot without keys."""
    ids = [cluster._cli("cluster", "myid", port=port).strip() for port in cluster.ports]
    source = cluster.node_for_slot(slot)
    cluster._cli("cluster", "setslot", str(slot), "importing", ids[source], port=cluster.ports[to])
    cluster._cli("cluster", "setslot", str(slot), "migrating", ids[to], port=cluster.ports[source])
    for port in [cluster.ports[to], cluster.ports[source]] + [p for i, p in enumerate(cluster.ports)
                                                              if i not in (to, source)]:
        cluster._cli("cluster", "setslot", str(slot), "node", ids[to], port=port)
    cluster.wait_ok()
    cluster._slots = [cluster._own_slots(i) for i in range(len(cluster.ports))]


@pytest.mark.gen_test(timeout=60)
async def test_a_moved_slot_is_followed_by_publisher_and_subscriber(redis_cluster, redis_prefix):
    """The slot of a tenant's channel moves to another master while both buses use it: the subscriber's node
    drops the shard channel (SUNSUBSCRIBE), the bus subscribes on the new owner and resyncs the tenant's
    sockets; the publisher's SPUBLISH gets MOVED and is published again there. No event is lost."""
    from redis.crc import key_slot

    from callcenter.bus import RedisBus, make_redis
    from callcenter.events import Event
    url = redis_cluster.url
    one, two = RedisBus(make_redis(url), redis_prefix, url), RedisBus(make_redis(url), redis_prefix, url)
    got: list[Event] = []
    resynced: list = []
    two.add_listener(got.append)

    async def note(tenants):
        resynced.append(tenants)
    two.add_reconnect_listener(note)
    await one.start()
    await two.start()
    channel = tenant_channel(redis_prefix, "moving")
    slot = key_slot(channel.encode())
    home = redis_cluster.node_for_slot(slot)
    try:
        await two.subscribe_tenant("moving")
        await one.publish(Event("test.event", "moving", {"n": 1}))
        assert await wait_until(lambda: [e.data["n"] for e in got] == [1])
        await asyncio.get_running_loop().run_in_executor(None, _move_slot, redis_cluster, slot, (home + 1) % 3)
        assert await wait_until(lambda: frozenset(["moving"]) in resynced, timeout=10), resynced
        assert two.subscriptions == 1
        await one.publish(Event("test.event", "moving", {"n": 2}))  # one's map is stale: MOVED, then again
        assert await wait_until(lambda: [e.data["n"] for e in got] == [1, 2])
    finally:
        await asyncio.get_running_loop().run_in_executor(None, _move_slot, redis_cluster, slot, home)
        for bus in (one, two):
            await bus.close()
            await bus.redis.aclose()
