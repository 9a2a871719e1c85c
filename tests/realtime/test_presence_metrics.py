"""Presence (agents online/away/offline, visitors online/offline) and /metrics, on both backends."""
import asyncio
import time

import pytest

from callcenter.app import create_services
from callcenter.redis_client import make_redis
from callcenter.presence import LAST_SEEN_RETENTION_SECS, PRESENCE_TTL_SECS, RedisPresence
from tests.wsclient import WsClient


async def presence_of(ws: WsClient, agent_id: int) -> str:
    while True:
        frame = await ws.next("chat.agent.presence")
        if frame["data"]["agent_id"] == agent_id:
            return frame["data"]["status"]


@pytest.mark.gen_test(timeout=20)
async def test_agent_and_visitor_presence(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    admin = await WsClient.connect(base_url, tenant.admin.token)
    agent = await WsClient.connect(base_url, tenant.agent.token)
    assert await presence_of(admin, tenant.agent.id) == "online"
    await agent.send("presence.set", status="away")
    assert await presence_of(admin, tenant.agent.id) == "away"
    # A second socket of the same agent being online makes the agent online again.
    second = await WsClient.connect(base_url, tenant.agent.token)
    assert await presence_of(admin, tenant.agent.id) == "online"
    second.close()
    assert await presence_of(admin, tenant.agent.id) == "away"
    agent.close()
    assert await presence_of(admin, tenant.agent.id) == "offline"

    visitor = await tenant.visitor(api)
    vws = await WsClient.connect(base_url, visitor.token)
    seen = await admin.next("chat.visitor.presence")
    assert seen["data"] == {"session_id": visitor.session_id, "online": True}
    vws.close()
    assert (await admin.next("chat.visitor.presence"))["data"]["online"] is False
    # Visitors never hear about agents' presence.
    v2 = await WsClient.connect(base_url, visitor.token)
    late = await WsClient.connect(base_url, tenant.agent.token)
    assert not [f for f in await v2.quiet(0.3) if f["type"] == "chat.agent.presence"]
    for ws in (admin, v2, late):
        ws.close()


@pytest.mark.gen_test(timeout=20)
async def test_metrics_report_sockets_messages_and_latency(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    agent = await WsClient.connect(base_url, tenant.agent.token)
    visitor = await tenant.visitor(api)
    vws = await WsClient.connect(base_url, visitor.token)
    await vws.send("chat.message.send", message="count me", client_msg_id="m1")
    await agent.next("chat.message.new")
    text = (await api.get("/metrics")).body.decode()
    for needle in ('callcenter_sockets_open{kind="agent"} 1.0', 'callcenter_sockets_open{kind="visitor"} 1.0',
                   'callcenter_messages_stored_total{sender_type="visitor"} 1.0',
                   "callcenter_frames_delivered_total", "callcenter_delivery_latency_seconds_count",
                   "callcenter_bus_reconnects", "callcenter_http_requests_total",
                   'callcenter_batch_size_count{batcher="store_sends"}', 'callcenter_queue_depth{queue="store_sends"}'):
        assert needle in text, needle
    vws.close()
    agent.close()


# ---- Redis presence across workers (two RedisPresence objects stand for two workers) ----------------

@pytest.mark.gen_test(timeout=20)
async def test_redis_presence_aggregates_workers_and_sweeps_a_dead_one(redis_server_url, redis_prefix):
    redis = make_redis(redis_server_url)
    a, b = RedisPresence(redis, redis_prefix, "worker-a"), RedisPresence(redis, redis_prefix, "worker-b")
    try:
        await a.refresh(dict), await b.refresh(dict)
        assert await a.set("t1", "a:1", "online") == ("offline", "online")
        assert await b.set("t1", "a:1", "away") == ("online", "online")
        assert await a.set("t1", "a:1", None) == ("online", "away")
        assert await a.set("t1", "v:s1", "online") == ("offline", "online")
        assert await b.agents("t1") == {"a:1": "away"} and await b.agents("t2") == {}
        assert await b.status("t1", "v:s1") == "online"

        # Worker a stops beating (killed with -9): after the TTL, b's sweep removes its fields once.
        await redis.hset(a.workers_key, a.worker_id, str(time.time() - PRESENCE_TTL_SECS - 1))
        assert await b.sweep() == [("t1", "v:s1")]
        assert await b.sweep() == []
        assert await b.status("t1", "v:s1") == "offline"
        assert await b.agents("t1") == {"a:1": "away"}, "b's own subjects stay"
    finally:
        await redis.aclose()


@pytest.mark.gen_test(timeout=20)
async def test_redis_presence_is_written_again_after_redis_lost_its_data(redis_server_url, redis_prefix):
    redis = make_redis(redis_server_url)
    a, b = RedisPresence(redis, redis_prefix, "worker-a"), RedisPresence(redis, redis_prefix, "worker-b")
    local = {("t1", "a:7"): "online", ("t1", "v:s9"): "online"}
    try:
        await a.refresh(lambda: local)
        for (tenant_id, subject), status in local.items():
            await a.set(tenant_id, subject, status)
        await a.refresh(lambda: pytest.fail("nothing to rewrite while the heartbeat is there"))
        for key in [k async for k in redis.scan_iter(match=redis_prefix + "*")]:  # a restart without persistence
            await redis.delete(key)
        assert await b.status("t1", "v:s9") == "offline"
        await a.refresh(lambda: local)
        assert await b.status("t1", "v:s9") == "online" and await b.agents("t1") == {"a:7": "online"}
    finally:
        await redis.aclose()


@pytest.mark.gen_test(timeout=20)
async def test_set_many_is_set_after_set_and_last_seen_outlives_the_socket(redis_server_url, redis_prefix):
    redis = make_redis(redis_server_url)
    a = RedisPresence(redis, redis_prefix, "worker-a")
    try:
        await a.refresh(dict)
        assert await a.set_many([("t1", "v:s1", "online"), ("t2", "a:4", "away"), ("t1", "v:s1", None),
                                 ("t2", "a:4", "online")]) == [("offline", "online"), ("offline", "away"),
                                                               ("online", "offline"), ("away", "online")]
        assert await a.agents("t2") == {"a:4": "online"} and await a.status("t1", "v:s1") == "offline"
        left = await a.last_seen_ms("t1", "v:s1")
        assert left is not None and left <= int(time.time() * 1000)
        assert await a.last_seen_ms("t1", "v:never") is None
        assert 0 < await redis.pttl(a._seen_key("t1", "v:s1")) <= LAST_SEEN_RETENTION_SECS * 1000
    finally:
        await redis.aclose()


@pytest.mark.gen_test(timeout=20)
async def test_a_sweep_removes_what_a_worker_of_the_previous_key_layout_left(redis_server_url, redis_prefix):
    """Upgrading a single Redis: a worker of the release before the hash tags dies; its subjects' fields
    (`presence:s:<tenant>:<subject>`) and its `presence:owned:<worker>` set go with the first sweep."""
    redis = make_redis(redis_server_url)
    p = redis_prefix + "presence:"
    b = RedisPresence(redis, redis_prefix, "worker-b")
    try:
        await redis.hset(f"{p}s:t1:v:s1", "old-worker", "online")
        await redis.hset(f"{p}s:t1:v:s1", "other-old-worker", "online")
        await redis.sadd(f"{p}owned:old-worker", "t1|v:s1")
        await redis.hset(b.workers_key, "old-worker", str(time.time() - PRESENCE_TTL_SECS - 1))
        assert await b.sweep() == []
        assert await redis.hgetall(f"{p}s:t1:v:s1") == {b"other-old-worker": b"online"}
        assert not await redis.exists(f"{p}owned:old-worker") and not await redis.hexists(b.workers_key, "old-worker")
    finally:
        await redis.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_closing_the_services_lets_closed_sockets_finish_their_bookkeeping(config):
    """A socket that closes just before shutdown updates the hub and presence in the background;
    closing the services waits for that (bounded) instead of closing Redis and the store under it."""
    svc = create_services(config)
    await svc.start()
    finished = []

    async def late_bookkeeping() -> None:
        await asyncio.sleep(0.05)
        await svc.store.ping()
        await svc.bus.ping()
        finished.append(True)

    svc.spawn(late_bookkeeping())
    await svc.close()
    assert finished == [True]
