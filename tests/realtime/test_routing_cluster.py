"""Auto-assignment with two real workers on MariaDB + Redis deciding at the same moment (issue 26):
50 conversations started concurrently across both, 3 agents (two online with capacity 5, one away):
exactly 10 assigned, 5 each, 40 in line in arrival order; each resolve gives the next in line once;
an agent going offline or away stops receiving."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from tornado.httpclient import AsyncHTTPClient

from callcenter.app import create_services
from callcenter.config import Config
from callcenter.store import messages, sessions
from tests.cluster import Cluster
from tests.helpers import ApiClient, TenantFactory
from tests.wsclient import WsClient

SECRET = "routing-cluster-secret-key-0123456789abcdef"


@pytest.fixture
def cluster_config(mysql_database_url, redis_server_url, redis_prefix, tmp_path):
    return Config(database_url=mysql_database_url, redis_url=redis_server_url, redis_prefix=redis_prefix,
                  secret_key=SECRET, data_dir=tmp_path)


@pytest.fixture
def cluster(cluster_config, tmp_path):
    c = Cluster(database_url=cluster_config.database_url, redis_url=cluster_config.redis_url,
                redis_prefix=cluster_config.redis_prefix, secret_key=SECRET, logdir=tmp_path, workers=2,
                env={"CALLCENTER_SESSION_STARTS_PER_IP": "1000"}).start()
    yield c
    c.stop()


@pytest.fixture
def setup(cluster_config, io_loop):
    svc = create_services(cluster_config)
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.close)


async def routing_rows(store, tenant_id: str) -> list[dict]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(
            sessions.c.id, sessions.c.customer_name, sessions.c.assigned_agent_id, sessions.c.queued_at_ms,
            sessions.c.created_at_ms, sessions.c.status).where(sessions.c.tenant_id == tenant_id))).mappings().all()
    return [dict(r) for r in rows]


async def joined_notes(store, tenant_id: str) -> dict[str, int]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(messages.c.session_id, sa.func.count()).where(
            messages.c.tenant_id == tenant_id, messages.c.sender_type == "system",
            messages.c.body.like("% joined the conversation")).group_by(messages.c.session_id))).all()
    return dict(rows)


async def settle(store, tenant_id: str, condition, timeout: float = 20.0) -> list[dict]:
    rows = await routing_rows(store, tenant_id)
    for _ in range(int(timeout / 0.1)):
        if condition(rows):
            return rows
        await asyncio.sleep(0.1)
        rows = await routing_rows(store, tenant_id)
    raise AssertionError(f"routing never settled: {rows}")


def loads(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        if r["status"] == "assigned":
            out[r["assigned_agent_id"]] = out.get(r["assigned_agent_id"], 0) + 1
    return out


def in_line(rows: list[dict]) -> list[dict]:
    return sorted((r for r in rows if r["queued_at_ms"] is not None), key=lambda r: (r["queued_at_ms"], r["id"]))


@pytest.mark.gen_test(timeout=120)
async def test_two_workers_assign_each_conversation_once_by_capacity(cluster, setup):
    store = setup.store
    w0, w1 = (ApiClient(AsyncHTTPClient(), w.url) for w in cluster.workers)
    tenant = await TenantFactory(setup)()
    ann = await TenantFactory(setup).add_agent(tenant, name="Ann")
    resp = await w0.patch("/api/v1/tenant", {"routing": "auto"}, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    # Bob (capacity 5) on worker 0, Ann (5) on worker 1, the admin online but away on worker 1.
    bob_ws = await WsClient.connect(cluster.workers[0].url, tenant.agent.token)
    ann_ws = await WsClient.connect(cluster.workers[1].url, ann.token)
    admin_ws = await WsClient.connect(cluster.workers[1].url, tenant.admin.token)
    await admin_ws.send("presence.set", status="away")
    await asyncio.sleep(0.5)

    async def start(n: int) -> str:
        api = (w0, w1)[n % 2]
        resp = await api.post("/api/v1/chat/public/start", {
            "tenant_id": tenant.id, "channel": "web", "customer_name": f"V{n:02d}", "customer_email": "v@x.example"})
        assert resp.status == 201, resp.body
        return resp.json["session_id"]

    await asyncio.gather(*(start(n) for n in range(50)))
    rows = await settle(store, tenant.id, lambda rows: sum(loads(rows).values()) == 10)
    await asyncio.sleep(1.0)  # any late, wrong assignment would show now
    rows = await routing_rows(store, tenant.id)
    assert loads(rows) == {tenant.agent.id: 5, ann.id: 5}
    line = in_line(rows)
    assert len(line) == 40 and all(r["assigned_agent_id"] is None for r in line)
    # Arrival order: the line is the order the conversations were created in.
    assert [r["id"] for r in line] == [r["id"] for r in sorted(line, key=lambda r: (r["created_at_ms"], r["id"]))]
    first_ten = {r["id"] for r in rows if r["assigned_agent_id"]}
    assert (await joined_notes(store, tenant.id)) == {sid: 1 for sid in first_ten}

    # Five resolves at once, spread over both workers: the five first in line are given out, once each.
    bobs = [r["id"] for r in rows if r["assigned_agent_id"] == tenant.agent.id]
    anns = [r["id"] for r in rows if r["assigned_agent_id"] == ann.id]
    to_resolve = bobs[:3] + anns[:2]
    results = await asyncio.gather(*(
        (w0, w1)[i % 2].post(f"/api/v1/chat/sessions/{sid}/resolve", {}, token=tenant.admin.token)
        for i, sid in enumerate(to_resolve)))
    assert [r.status for r in results] == [200] * 5
    rows = await settle(store, tenant.id, lambda rows: len(in_line(rows)) == 35)
    await asyncio.sleep(1.0)
    rows = await routing_rows(store, tenant.id)
    assert loads(rows) == {tenant.agent.id: 5, ann.id: 5}
    next_five = {r["id"] for r in line[:5]}
    assert {r["id"] for r in rows if r["status"] == "assigned"} == (first_ten - set(to_resolve)) | next_five
    assert (await joined_notes(store, tenant.id)) == {sid: 1 for sid in first_ten | next_five}

    # Ann goes offline: her resolved conversation's slot is nobody's (Bob is full, the admin away).
    ann_ws.close()
    await asyncio.sleep(1.0)
    ann_now = [r["id"] for r in rows if r["assigned_agent_id"] == ann.id and r["status"] == "assigned"]
    resp = await w1.post(f"/api/v1/chat/sessions/{ann_now[0]}/resolve", {}, token=tenant.admin.token)
    assert resp.status == 200
    await asyncio.sleep(1.5)
    rows = await routing_rows(store, tenant.id)
    assert len(in_line(rows)) == 35 and loads(rows) == {tenant.agent.id: 5, ann.id: 4}
    # The admin comes back (online): five for them, the next five in line.
    await admin_ws.send("presence.set", status="online")
    rows = await settle(store, tenant.id, lambda rows: len(in_line(rows)) == 30)
    await asyncio.sleep(1.0)
    rows = await routing_rows(store, tenant.id)
    assert loads(rows) == {tenant.agent.id: 5, ann.id: 4, tenant.admin.id: 5}
    assert {r["id"] for r in rows if r["assigned_agent_id"] == tenant.admin.id} == {r["id"] for r in line[5:10]}
    notes = await joined_notes(store, tenant.id)
    assert set(notes.values()) == {1} and len(notes) == 20
    for ws in (bob_ws, admin_ws):
        ws.close()
