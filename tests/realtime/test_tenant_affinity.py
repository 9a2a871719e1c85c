"""Tenant-affine WebSockets: three real workers (MariaDB + Redis) behind real nginx (deploy/nginx.conf).

The widget and the dashboard open /ws?tenant=<id>; nginx hashes the tenant on a
consistent-hash ring, so all sockets of a tenant meet on one worker (auth.ok names
it) and different tenants spread over the workers. When that worker dies (kill -9),
the tenant's sockets all land on one surviving worker, the next on the ring.
"""
from __future__ import annotations

import asyncio
import signal

import pytest
from tornado import httpclient, websocket

from tests.cluster import Cluster
from tests.nginx import run_nginx
# In-process services on the run's MariaDB database and a private Redis prefix (tenants and tokens).
from tests.realtime.test_cluster import SECRET, cluster_config, setup  # noqa: F401 (pytest fixtures)
from tests.wsclient import WsClient

WORKERS = 3
TENANTS = 8          # P(all on one of 3 workers) = 3 / 3**8: the spread is practically certain
SOCKETS_PER_TENANT = 3


@pytest.fixture
def three_workers(cluster_config, tmp_path):
    c = Cluster(database_url=cluster_config.database_url, redis_url=cluster_config.redis_url,
                redis_prefix=cluster_config.redis_prefix, secret_key=SECRET, logdir=tmp_path,
                workers=WORKERS).start()
    yield c
    c.stop()


async def tenant_socket(base_url: str, tenant_id: str, token: str) -> WsClient:
    """A socket opened like the widget and the dashboard do: /ws?tenant=<id>, then the auth frame."""
    url = base_url.replace("http://", "ws://") + f"/ws?tenant={tenant_id}"
    client = WsClient(await websocket.websocket_connect(httpclient.HTTPRequest(url)))
    await client.send_frame({"type": "auth", "token": token})
    client.auth = (await client.next("auth.ok"))["data"]
    return client


@pytest.mark.gen_test(timeout=60)
async def test_a_tenants_sockets_meet_on_one_worker_and_move_together_when_it_dies(three_workers, setup,
                                                                                    tmp_path):
    tenants = [await setup() for _ in range(TENANTS)]
    # Which worker process is which worker id (a socket straight to each worker says).
    by_id = {}
    for worker in three_workers.workers:
        ws = await WsClient.connect(worker.url, tenants[0].agent.token)
        by_id[ws.auth["worker"]] = worker
        ws.close()
    assert len(by_id) == WORKERS

    with run_nginx(three_workers.upstreams, tmp_path / "nginx") as (port, _proc):
        gateway = f"http://127.0.0.1:{port}"
        sockets = {t.id: [await tenant_socket(gateway, t.id, tok)
                          for tok in (t.agent.token, t.admin.token, t.agent.token)] for t in tenants}
        placed = {}
        for t in tenants:
            workers = {ws.auth["worker"] for ws in sockets[t.id]}
            assert len(workers) == 1, (t.id, workers)
            placed[t.id] = workers.pop()
        assert len(set(placed.values())) > 1, placed

        victim_id = placed[tenants[0].id]
        victim = by_id[victim_id]
        victim.signal(signal.SIGKILL)
        victim.wait(10)
        # Its sockets end; their clients reconnect through nginx, as the widget does.
        for ws in sockets[tenants[0].id]:
            await ws.closed(timeout=10)
        again = [await tenant_socket(gateway, tenants[0].id, tok)
                 for tok in (tenants[0].agent.token, tenants[0].admin.token, tenants[0].agent.token)]
        landed = {ws.auth["worker"] for ws in again}
        assert len(landed) == 1 and victim_id not in landed, landed
        assert landed.pop() in by_id
        # A tenant on a surviving worker stays where it was.
        for t in tenants[1:]:
            if placed[t.id] != victim_id:
                ws = await tenant_socket(gateway, t.id, t.agent.token)
                assert ws.auth["worker"] == placed[t.id]
                ws.close()
                break
        for ws in again + [ws for t in tenants[1:] for ws in sockets[t.id]]:
            ws.close()
        await asyncio.sleep(0)
