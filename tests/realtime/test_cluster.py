"""Two real workers on MariaDB + Redis behind real nginx: the quick start across workers, and faults.

Each test's clients behave like the widget and dashboard do: they reconnect through
nginx and resume with the last seq they saw. The assertions are the delivery
contract: every message, exactly once, in order.
"""
from __future__ import annotations

import asyncio
import signal

import pytest
from tornado.httpclient import AsyncHTTPClient

from callcenter.app import create_services
from callcenter.config import Config
from tests.cluster import Cluster
from tests.fake_push import FakePushService
from tests.helpers import ApiClient, TenantFactory
from tests.mocking import private_redis
from tests.nginx import run_nginx
from tests.wsclient import ResumingClient, WsClient

SECRET = "cluster-test-secret-key-0123456789abcdef"


@pytest.fixture
def cluster_config(mysql_database_url, redis_server_url, redis_prefix, tmp_path):
    return Config(database_url=mysql_database_url, redis_url=redis_server_url, redis_prefix=redis_prefix,
                  secret_key=SECRET, data_dir=tmp_path)


def _start_cluster(config: Config, tmp_path, workers: int = 2, env: dict[str, str] | None = None) -> Cluster:
    return Cluster(database_url=config.database_url, redis_url=config.redis_url, redis_prefix=config.redis_prefix,
                   secret_key=SECRET, logdir=tmp_path, workers=workers, env=env).start()


@pytest.fixture
def cluster(cluster_config, tmp_path):
    """Two `callcenter serve` processes sharing the test database and Redis prefix."""
    c = _start_cluster(cluster_config, tmp_path)
    yield c
    c.stop()


@pytest.fixture
def gateway(cluster, tmp_path):
    """Base URL of real nginx (deploy/nginx.conf) in front of the cluster."""
    with run_nginx(cluster.upstreams, tmp_path / "nginx") as (port, _proc):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def setup(cluster_config, io_loop):
    """In-process services on the same store, for making tenants and tokens."""
    svc = create_services(cluster_config)
    io_loop.run_sync(svc.start)
    yield TenantFactory(svc)
    io_loop.run_sync(svc.close)


async def _socket_on_worker(url: str, token: str, avoid: str | None = None, prefer: str | None = None) -> WsClient:
    """Connect until nginx hands us a worker other than `avoid` (round robin makes that quick)."""
    for _ in range(20):
        ws = await WsClient.connect(url, token)
        worker = ws.auth["worker"]
        if (avoid is None or worker != avoid) and (prefer is None or worker == prefer):
            return ws
        ws.close()
    raise AssertionError("nginx never balanced to the other worker")


@pytest.mark.gen_test(timeout=60)
async def test_quick_start_with_visitor_and_agent_on_different_workers(gateway, setup):
    api = ApiClient(AsyncHTTPClient(), gateway)
    tenant = await setup()
    agent_ws = await WsClient.connect(gateway, tenant.agent.token)
    visitor = await tenant.visitor(api)
    await agent_ws.next("chat.session.started")
    visitor_ws = await _socket_on_worker(gateway, visitor.token, avoid=agent_ws.auth["worker"])
    assert visitor_ws.auth["worker"] != agent_ws.auth["worker"]

    await visitor_ws.send("chat.message.send", message="Hi, is anyone there?", client_msg_id="v1")
    assert (await visitor_ws.next("chat.message.ack"))["data"]["seq"] == 1
    new = await agent_ws.next("chat.message.new")
    assert new["data"]["message"]["body"] == "Hi, is anyone there?"

    await api.post(f"/api/v1/chat/sessions/{visitor.session_id}/assign", {}, token=tenant.agent.token)
    assert (await visitor_ws.next("chat.session.assigned"))["data"]["agent"]["id"] == tenant.agent.id
    await agent_ws.send("chat.typing", session_id=visitor.session_id, is_typing=True)
    assert (await visitor_ws.next("chat.typing"))["data"]["sender"] == "agent"
    await agent_ws.send("chat.message.send", session_id=visitor.session_id, message="Yes! How can I help?")
    while True:
        frame = await visitor_ws.next("chat.message.new")
        if frame["data"]["message"]["sender_type"] == "agent":
            break
    assert frame["data"]["message"]["body"] == "Yes! How can I help?"
    # Presence crosses workers too.
    other = await _socket_on_worker(gateway, tenant.admin.token, avoid=agent_ws.auth["worker"])
    assert other.auth["presence"].get(str(tenant.agent.id)) == "online"
    for ws in (agent_ws, visitor_ws, other):
        ws.close()


@pytest.mark.gen_test(timeout=60)
async def test_files_cross_workers_and_nginx(gateway, setup):
    """A 5 MB file (above nginx's 1 MB for JSON, within its upload location's limit) is uploaded through
    nginx, sent from one worker and downloaded byte for byte from every worker."""
    from tests.api.test_attachments import multipart

    api = ApiClient(AsyncHTTPClient(), gateway)
    tenant = await setup()
    agent_ws = await WsClient.connect(gateway, tenant.agent.token)
    visitor = await tenant.visitor(api)
    visitor_ws = await _socket_on_worker(gateway, visitor.token, avoid=agent_ws.auth["worker"])
    data = b"%PDF-1.7\n" + bytes(range(256)) * (5 * 1024 * 4)
    body, headers = multipart([("file", "manual.pdf", data)])
    resp = await api.request("POST", f"/api/v1/chat/public/session/{visitor.session_id}/attachments", raw=body,
                             token=visitor.token, headers=headers)
    assert resp.status == 201, resp.body
    meta = resp.json["attachment"]
    await visitor_ws.send("chat.message.send", message="", client_msg_id="f1", attachment_ids=[meta["id"]])
    await visitor_ws.next("chat.message.ack")
    while True:
        frame = await agent_ws.next("chat.message.new")
        if frame["data"]["message"]["sender_type"] == "visitor":
            break
    assert frame["data"]["message"]["attachments"] == [meta]
    for _ in range(4):  # least_conn spreads these over both workers
        got = await api.get(f"/api/v1/chat/sessions/{visitor.session_id}/attachments/{meta['id']}",
                            token=tenant.agent.token)
        assert got.status == 200 and got.body == data
    for ws in (agent_ws, visitor_ws):
        ws.close()


@pytest.mark.gen_test(timeout=90)
async def test_kill_9_worker_clients_resume_elsewhere_nothing_lost_or_duplicated(cluster, gateway, setup):
    api = ApiClient(AsyncHTTPClient(), gateway)
    tenant = await setup()
    visitor = await tenant.visitor(api)
    agent = await ResumingClient(gateway, tenant.agent.token, track=[visitor.session_id]).start()
    watcher = await ResumingClient(gateway, visitor.token, track=[visitor.session_id]).start()
    sent = 0

    async def send(n):
        nonlocal sent
        for _ in range(n):
            sent += 1
            body = {"session_id": visitor.session_id, "message": f"message {sent}", "client_msg_id": f"c{sent}"}
            # A POST nginx had already handed to the dying worker comes back 502; like the widget, retry
            # it with the same client_msg_id: it is stored once whether or not the first try landed.
            for _attempt in range(20):
                resp = await api.post("/api/v1/chat/public/message", body, token=visitor.token)
                if resp.status not in (502, 503, 504):
                    break
                await asyncio.sleep(0.1)
            assert resp.status in (200, 201), resp.body

    await send(10)
    await agent.wait_for_seq(visitor.session_id, 10)
    # Kill whichever worker holds the agent's socket, mid-stream.
    holder = agent.workers[-1]
    pids_before = [w.proc.pid for w in cluster.workers]
    for worker in cluster.workers:
        worker.signal(signal.SIGKILL) if _holds(worker, holder) else None
    sender = asyncio.ensure_future(send(30))
    await sender
    await agent.wait_for_seq(visitor.session_id, 40, timeout=40)
    await watcher.wait_for_seq(visitor.session_id, 40, timeout=40)
    await asyncio.sleep(0.5)
    assert agent.seqs(visitor.session_id) == list(range(1, 41)), cluster.logs()
    assert watcher.seqs(visitor.session_id) == list(range(1, 41))
    assert len(agent.workers) >= 2 and agent.workers[-1] != holder
    assert [w.proc.pid for w in cluster.workers] == pids_before
    await agent.stop()
    await watcher.stop()


def _holds(worker, worker_id: str) -> bool:
    return f"worker-id {worker_id}" in worker.log()


@pytest.mark.gen_test(timeout=90)
async def test_sigterm_drains_sockets_and_finishes_inflight_requests(cluster, gateway, setup):
    api = ApiClient(AsyncHTTPClient(), gateway)
    tenant = await setup()
    visitor = await tenant.visitor(api)
    agent = await ResumingClient(gateway, tenant.agent.token, track=[visitor.session_id]).start()
    holder = agent.workers[-1]
    worker = next(w for w in cluster.workers if _holds(w, holder))
    direct = ApiClient(AsyncHTTPClient(force_instance=True), worker.url)

    async def post(i):
        try:
            return await direct.post("/api/v1/chat/public/message", {"session_id": visitor.session_id,
                                     "message": f"in flight {i}"}, token=visitor.token)
        except OSError:
            return None  # refused once the worker stopped accepting: never sent, never stored

    requests = [asyncio.ensure_future(post(i)) for i in range(60)]
    # Signal once the worker is demonstrably serving the burst: others are in flight or queued.
    await asyncio.wait(requests, return_when=asyncio.FIRST_COMPLETED)
    worker.signal(signal.SIGTERM)
    results = await asyncio.gather(*requests)
    assert worker.wait(20) == 0, worker.log()
    statuses = [r.status for r in results if r is not None]
    assert statuses and all(s == 201 for s in statuses), statuses  # nothing cut off half way (599)
    stored = await api.get(f"/api/v1/chat/public/session/{visitor.session_id}", token=visitor.token)
    assert len(stored.json["messages"]) == len(statuses)
    await agent.wait_for_seq(visitor.session_id, len(statuses))
    assert agent.seqs(visitor.session_id) == list(range(1, len(statuses) + 1))
    assert 1012 in agent.close_codes
    # The socket's own messages reach it from its worker at once (no Redis round trip), so all may
    # have arrived before the close: wait for the reconnect itself, which lands on the other worker.
    await asyncio.wait_for(agent.connected.wait(), 20)
    assert agent.workers[-1] != holder
    await agent.stop()


@pytest.mark.gen_test(timeout=120)
async def test_redis_restart_workers_resubscribe_and_missed_messages_arrive(mysql_database_url, redis_prefix,
                                                                           tmp_path, io_loop):
    with private_redis() as redis_server:
        config = Config(database_url=mysql_database_url, redis_url=redis_server.url, redis_prefix=redis_prefix,
                        secret_key=SECRET, data_dir=tmp_path)
        cluster = _start_cluster(config, tmp_path)
        svc = create_services(config)
        try:
            await svc.start()
            with run_nginx(cluster.upstreams, tmp_path / "nginx") as (port, _):
                gateway = f"http://127.0.0.1:{port}"
                api = ApiClient(AsyncHTTPClient(), gateway)
                tenant = await TenantFactory(svc)()
                visitor = await tenant.visitor(api)
                agent = await ResumingClient(gateway, tenant.agent.token, track=[visitor.session_id]).start()
                widget = await ResumingClient(gateway, visitor.token, track=[visitor.session_id]).start()
                for i in range(1, 4):
                    await api.post("/api/v1/chat/public/message", {"session_id": visitor.session_id,
                                   "message": f"before {i}"}, token=visitor.token)
                await agent.wait_for_seq(visitor.session_id, 3)

                redis_server.stop()
                for i in range(1, 6):  # stored while Redis is down: the send still succeeds
                    resp = await api.post("/api/v1/chat/messages", {"session_id": visitor.session_id,
                                          "message": f"during {i}"}, token=tenant.agent.token)
                    assert resp.status == 201, resp.body
                redis_server.start()

                await agent.wait_for_seq(visitor.session_id, 8, timeout=40)
                await widget.wait_for_seq(visitor.session_id, 8, timeout=40)
                # Live again afterwards, through the resubscribed bus.
                await api.post("/api/v1/chat/public/message", {"session_id": visitor.session_id,
                               "message": "after"}, token=visitor.token)
                await agent.wait_for_seq(visitor.session_id, 9)
                await widget.wait_for_seq(visitor.session_id, 9)
                assert agent.seqs(visitor.session_id) == list(range(1, 10))
                assert widget.seqs(visitor.session_id) == list(range(1, 10))
                assert all("resubscribed" in w.log() for w in cluster.workers), cluster.logs()
                await agent.stop()
                await widget.stop()
        finally:
            await svc.close()
            cluster.stop()


@pytest.mark.gen_test(timeout=90)
async def test_serve_workers_2_supervises_its_workers(cluster_config, tmp_path):
    """`callcenter serve --workers 2`: two workers on one port; a killed worker is replaced;
    SIGTERM to the supervisor stops them all."""
    import os
    import re

    from tests.harness import ServeProcess, wait_healthy

    env = {**os.environ, "CALLCENTER_DATABASE_URL": cluster_config.database_url,
           "CALLCENTER_REDIS_URL": cluster_config.redis_url, "CALLCENTER_REDIS_PREFIX": cluster_config.redis_prefix,
           "CALLCENTER_SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "workers.log"
    server = ServeProcess(env, log_path, args=("--workers", "2"))
    server.start()
    proc, url = server.proc, server.url
    try:
        def worker_pids():
            return [int(p) for p in re.findall(r"worker pid (\d+) worker-id", log_path.read_text())]

        for _ in range(100):
            if len(worker_pids()) >= 2:
                break
            await asyncio.sleep(0.1)
        first = worker_pids()
        assert len(first) == 2, log_path.read_text()
        # /metrics sums both workers (prometheus multiprocess mode): 20 health checks, whoever served them.
        import urllib.request
        for _ in range(20):
            urllib.request.urlopen(url + "/healthz").read()
        text = urllib.request.urlopen(url + "/metrics").read().decode()
        served = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("callcenter_http_requests_total{") and "HealthHandler" in line)
        assert served >= 20, text[:2000]
        os.kill(first[0], signal.SIGKILL)
        for _ in range(100):
            if len(worker_pids()) >= 3:
                break
            await asyncio.sleep(0.1)
        assert len(worker_pids()) == 3 and "died" in log_path.read_text()
        wait_healthy(url, proc, log_path)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        for pid in worker_pids()[1:]:
            assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.gen_test(timeout=90)
async def test_push_skips_agents_online_on_any_worker(cluster_config, tmp_path, setup):
    """Pushes go to agents whose dashboard is closed, whichever worker stored the change and whichever
    worker holds the other agents' sockets (presence in Redis)."""
    with FakePushService() as fake:
        cluster = _start_cluster(cluster_config, tmp_path, env=fake.env())
        try:
            with run_nginx(cluster.upstreams, tmp_path / "nginx") as (port, _proc):
                gateway = f"http://127.0.0.1:{port}"
                api = ApiClient(AsyncHTTPClient(), gateway)
                tenant = await setup()
                agent_device, admin_device = fake.new_subscription(), fake.new_subscription()
                for who, device in ((tenant.agent, agent_device), (tenant.admin, admin_device)):
                    resp = await api.post("/api/v1/push/subscriptions", device, token=who.token)
                    assert resp.status == 201, resp.body

                # The agent's dashboard is open: only the admin's phone hears of a new chat.
                agent_ws = await WsClient.connect(gateway, tenant.agent.token)
                first = await tenant.visitor(api, name="First")
                [push] = await asyncio.to_thread(fake.wait_for, 1, 20)
                assert push.endpoint_id == admin_device["endpoint"].rsplit("/", 1)[1]
                assert (push.payload["type"], push.payload["session_id"]) == ("new_conversation", first.session_id)

                # Now the admin's dashboard is open and the agent's closed: the agent's phone hears.
                admin_ws = await _socket_on_worker(gateway, tenant.admin.token, avoid=agent_ws.auth["worker"])
                agent_ws.close()
                while True:
                    frame = await admin_ws.next("chat.agent.presence")
                    if frame["data"]["agent_id"] == tenant.agent.id and frame["data"]["status"] == "offline":
                        break
                second = await tenant.visitor(api, name="Second")
                pushes = await asyncio.to_thread(fake.wait_for, 2, 20)
                assert pushes[1].endpoint_id == agent_device["endpoint"].rsplit("/", 1)[1]
                assert pushes[1].payload["session_id"] == second.session_id
                admin_ws.close()
        finally:
            cluster.stop()
        assert [p.payload["session_id"] for p in fake.received] == [first.session_id, second.session_id]
