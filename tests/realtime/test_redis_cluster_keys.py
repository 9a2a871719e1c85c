"""Everything but the bus on a real 3-master Redis Cluster (`redis_cluster`, tests/redis_cluster.py): rate
limits, presence, the AI job queue, the webhook and mail queues, a node restarted mid-way; and the key
layout that keeps every multi-key operation on one slot (checked without a cluster)."""
from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisError

from callcenter.ai.queue import Job, RedisStreamQueue
from callcenter.mail_queue import RedisMailQueue, Ticket
from callcenter.presence import PRESENCE_TTL_SECS, RedisPresence
from callcenter.redis_client import REDIS_POOL_SIZE, Cluster, make_redis, node_pool
from callcenter.security import RedisRateLimiter
from callcenter.webhook_queue import PARTITIONS, Item, RedisWebhookQueue

PARALLEL = 12


def slot(key: str) -> int:
    return key_slot(key.encode())


def job(n: int, tenant_id: str = "t1") -> Job:
    return Job(tenant_id, f"s{n}", message_id=n, seq=n, enqueued_at=time.time())


# ---- the key layout (no server needed) -------------------------------------------------------------------

def test_keys_used_together_share_one_slot():
    """Each multi-key operation's keys, as the code builds them, hash to one slot (so one layout serves a
    single Redis and a cluster); different tenants and workers are free to spread."""
    presence = RedisPresence.__new__(RedisPresence)
    RedisPresence.__init__(presence, _ScriptlessClient(), "cc:", "w1")
    for tenant_id in ("t1", "acme-corp", "x}y{z"):
        keys, args = presence._calls([(tenant_id, "a:1", "online"), (tenant_id, "v:s1", None)])[0][0]
        assert len({slot(k) for k in keys}) == 1, keys  # the set script's keys
        assert slot(presence._owned_key(tenant_id, "w2")) == slot(keys[0])  # the sweep script's
        assert slot(presence._seen_key(tenant_id, "v:s9")) == slot(presence._subject_key(tenant_id, "v:s9"))
    assert slot(presence._subject_key("t1", "a:1")) != slot(presence._subject_key("t2", "a:1")), "tenants spread"

    webhooks = RedisWebhookQueue(_ScriptlessClient(), "cc:", "w1", lease_secs=30)
    together = webhooks.streams + [lock.name for lock in webhooks._leases] + [webhooks._workers]
    assert len({slot(k) for k in together}) == 1  # XREADGROUP over the partitions, their leases

    # Single-key structures (every command names one key): no tag needed, and none was renamed.
    assert RedisStreamQueue(None, "cc:").stream == "cc:ai:jobs"
    assert RedisMailQueue(None, "cc:", "c", 60).stream == "cc:mail:queue"


class _ScriptlessClient:
    """Enough of a client to build the key names."""

    def register_script(self, script):
        return script

    def lock(self, name, **kw):
        return type("Lock", (), {"name": name})()


def test_clients_from_the_url():
    """A cluster URL makes the cluster client (seeds, credentials, TLS, options); a node pool carries them
    to one node; a plain URL keeps the bounded single-server client."""
    client = make_redis("rediss+cluster://app:s3cret@10.0.0.1:7000,10.0.0.2:7001?socket_timeout=2", max_connections=7)
    assert isinstance(client, Cluster)
    assert [(n.host, n.port) for n in client.nodes_manager.startup_nodes.values()] == [("10.0.0.1", 7000),
                                                                                    ("10.0.0.2", 7001)]
    kwargs = client.nodes_manager.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["socket_timeout"]) == ("app", "s3cret", 2.0)
    assert kwargs["connection_class"].__name__ == "SSLConnection"
    pool = node_pool("rediss+cluster://app:s3cret@10.0.0.1:7000?socket_timeout=2", "10.0.0.9", 7009)
    assert (pool.connection_kwargs["host"], pool.connection_kwargs["port"]) == ("10.0.0.9", 7009)
    assert (pool.connection_kwargs["password"], pool.connection_kwargs["socket_timeout"]) == ("s3cret", 2.0)
    assert pool.connection_class.__name__ == "SSLConnection" and pool.max_connections == REDIS_POOL_SIZE
    plain = make_redis("redis://127.0.0.1:6379/3", max_connections=9)
    assert not isinstance(plain, RedisCluster) and plain.connection_pool.max_connections == 9


# ---- rate limits -----------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_rate_limits_hold_under_parallel_requests_on_the_cluster(redis_cluster, redis_prefix):
    redis = make_redis(redis_cluster.url)
    limiter = RedisRateLimiter(redis, redis_prefix)
    try:
        # Keys on every node, each hit by PARALLEL requests at once (one batch over three nodes).
        keys = [f"login:ip:10.0.0.{i}" for i in range(12)]
        assert {redis_cluster.node_for_key(redis_prefix + "rl:" + k) for k in keys} == {0, 1, 2}
        decisions = await asyncio.gather(*(limiter.hit(k, 5, 60) for k in keys for _ in range(PARALLEL)))
        for i, key in enumerate(keys):
            mine = decisions[i * PARALLEL:(i + 1) * PARALLEL]
            assert sum(d.allowed for d in mine) == 5, key
            assert all(0 < d.retry_after_secs <= 60 for d in mine if not d.allowed)
        assert await redis.ttl(redis_prefix + "rl:" + keys[0]) > 0, "a counter always has its expiry"
        await limiter.refund(keys[0])
        assert (await limiter.hit(keys[0], 12, 60)).allowed and not (await limiter.hit(keys[0], 12, 60)).allowed
        await limiter.reset(keys[0])
        assert (await limiter.hit(keys[0], 1, 60)).allowed
    finally:
        await redis.aclose()


# ---- presence --------------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_presence_on_the_cluster_sets_sweeps_and_remembers_last_seen(redis_cluster, redis_prefix):
    redis = make_redis(redis_cluster.url)
    a, b = RedisPresence(redis, redis_prefix, "worker-a"), RedisPresence(redis, redis_prefix, "worker-b")
    tenants = [f"tenant-{i}" for i in range(6)]
    assert len({redis_cluster.node_for_key(a._agents_key(t)) for t in tenants}) > 1, "tenants on several nodes"
    try:
        await a.refresh(dict), await b.refresh(dict)
        assert await a.last_seen_ms(tenants[0], "v:s1") is None
        assert await a.set(tenants[0], "a:1", "online") == ("offline", "online")
        # Several tenants, repeated subjects: the results of one `set` after another, in order.
        changes = [(t, "v:s1", "online") for t in tenants] + [(tenants[0], "a:1", "away"), (tenants[1], "v:s1", None),
                                                              (tenants[1], "v:s1", "away")]
        assert await b.set_many(changes) == [("offline", "online")] * 6 + [("online", "online"), ("online", "offline"),
                                                                           ("offline", "away")]
        assert await a.agents(tenants[0]) == {"a:1": "online"}
        assert await a.status(tenants[1], "v:s1") == "away"
        assert await a.set(tenants[0], "a:1", None) == ("online", "away")
        before = int(time.time() * 1000)
        assert await b.last_seen_ms(tenants[2], "v:s1") >= before, "online now: seen now"

        # Worker b stops beating (killed with -9): after the TTL, a's sweep removes its fields, in every
        # tenant, and reports each subject that went offline once.
        await redis.hset(b.workers_key, b.worker_id, str(time.time() - PRESENCE_TTL_SECS - 1))
        gone = await a.sweep()
        assert sorted(gone) == sorted([(t, "v:s1") for t in tenants] + [(tenants[0], "a:1")])
        assert await a.sweep() == []
        assert await a.status(tenants[3], "v:s1") == "offline" and await a.agents(tenants[0]) == {}
        seen = await a.last_seen_ms(tenants[3], "v:s1")
        assert seen is not None and before <= seen <= int(time.time() * 1000)
        assert await redis.pttl(a._seen_key(tenants[3], "v:s1")) > 0, "last-seen keys expire by themselves"
        assert not await redis.exists(b.tenants_key)
    finally:
        await redis.aclose()


# ---- the durable queues ----------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_ai_jobs_are_read_acked_and_reclaimed_from_a_dead_consumer(redis_cluster, redis_prefix):
    producer, consumers = make_redis(redis_cluster.url), make_redis(redis_cluster.url)
    dying = RedisStreamQueue(consumers, redis_prefix, consumer="dying", reclaim_secs=0.2, block_ms=100)
    alive = RedisStreamQueue(consumers, redis_prefix, consumer="alive", reclaim_secs=0.2, block_ms=100)
    try:
        await alive.ensure_group()
        for n in range(3):
            await RedisStreamQueue(producer, redis_prefix).put(job(n))
        taken = await dying.get(2)  # ... and never acknowledged: its worker died
        assert [lease.job.message_id for lease in taken] == [0, 1]
        rest = await alive.get(10)
        assert [lease.job.message_id for lease in rest] == [2]
        await alive.ack(rest[0])
        await asyncio.sleep(0.3)
        reclaimed = []
        while len(reclaimed) < 2:
            alive._next_claim = 0.0
            reclaimed += await alive.get(10)
        assert sorted(lease.job.message_id for lease in reclaimed) == [0, 1]
        for lease in reclaimed:
            await alive.ack(lease)
        assert await alive.depth() == 0
        assert (await consumers.xpending(alive.stream, "ai-workers"))["pending"] == 0
    finally:
        await producer.aclose()
        await consumers.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_webhook_and_mail_queues_put_read_and_ack_on_the_cluster(redis_cluster, redis_prefix):
    redis = make_redis(redis_cluster.url)
    webhooks = RedisWebhookQueue(redis, redis_prefix, "sender-1", lease_secs=5)
    mail = RedisMailQueue(redis, redis_prefix, "sender-1", claim_idle_secs=60)
    try:
        assert await webhooks.maintain() == [] and webhooks.held == set(range(PARTITIONS))  # leases (locks) held
        items = [Item(7, "t1", f"s{n}", "chat.message.new", f"e{n}", n, "{}") for n in range(20)]
        await webhooks.put(items)
        got = []
        while len(got) < len(items):
            got += await webhooks.read(100, 0.2)  # one XREADGROUP over the 16 partitions
        assert sorted(e.item.event_id for e in got) == sorted(i.event_id for i in items)
        for entry in got:
            await webhooks.ack(entry)
        assert await webhooks.read(100, 0.1) == []
        await webhooks.close()
        assert webhooks.held == set()

        for n in range(3):
            await mail.put(Ticket(n, 1))
        entries = await mail.read(10, 0.5)
        assert [e.ticket for e in entries] == [Ticket(0, 1), Ticket(1, 1), Ticket(2, 1)]
        for entry in entries:
            await mail.ack(entry)
        assert await redis.xlen(mail.stream) == 0
    finally:
        await redis.aclose()


@pytest.mark.gen_test(timeout=90)
async def test_the_ai_queue_rides_out_a_restarted_node_without_losing_a_job(redis_cluster, redis_prefix):
    """The node holding the job stream restarts (with its data: SHUTDOWN SAVE, loaded again) while jobs are
    put and answered: the clients wait for it, and every job is delivered and acknowledged."""
    producer, consumer = make_redis(redis_cluster.url), make_redis(redis_cluster.url)
    queue = RedisStreamQueue(consumer, redis_prefix, consumer="worker", reclaim_secs=1.0, block_ms=200)
    put_queue = RedisStreamQueue(producer, redis_prefix)
    total, done, stop, failures = 60, set(), asyncio.Event(), []
    loop = asyncio.get_running_loop()

    async def produce():
        for n in range(total):
            await put_queue.put(job(n))
            await asyncio.sleep(0.02)

    async def consume():  # as AIWorker does: a read that fails (the node is still away) is tried again
        while not stop.is_set():
            try:
                for lease in await queue.get(10):
                    done.add(lease.job.message_id)
                    await queue.ack(lease)
            except RedisError as exc:
                failures.append(exc)
                await asyncio.sleep(0.1)

    try:
        await queue.ensure_group()
        node = redis_cluster.node_for_key(queue.stream)
        consuming = asyncio.ensure_future(consume())
        producing = asyncio.ensure_future(produce())
        while len(done) < total // 3:
            await asyncio.sleep(0.01)
        await loop.run_in_executor(None, lambda: redis_cluster.restart_node(node, keep_data=True))
        await producing
        deadline = loop.time() + 30
        while len(done) < total:
            assert loop.time() < deadline, f"undelivered: {sorted(set(range(total)) - done)}, {failures}"
            await asyncio.sleep(0.05)
        stop.set()
        await consuming
        assert done == set(range(total))
        assert await queue.depth() == 0
        assert (await consumer.xpending(queue.stream, "ai-workers"))["pending"] == 0
    finally:
        stop.set()
        await producer.aclose()
        await consumer.aclose()
