"""Faults on one worker: database down and back, a client that stops reading, a peer that
vanished, a socket that never authenticates, a frame flood."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import pytest
from sqlalchemy.engine import make_url

from callcenter.realtime import connection as connection_module
from callcenter.app import create_services, make_app
from callcenter.config import Config
from tests.helpers import TenantFactory, snapshot, wait_until
from tests.mocking import TcpProxy
from tests.wsclient import WsClient


@pytest.fixture
def db_proxy(mysql_database_url, io_loop):
    """A TCP proxy in front of the test's MariaDB that the test can take down and bring back."""
    url = make_url(mysql_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
    io_loop.run_sync(proxy.up)
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    io_loop.run_sync(proxy.down)


@pytest.fixture
def proxied_app(db_proxy, redis_server_url, redis_prefix, tmp_path, io_loop):
    proxy, url = db_proxy
    config = Config(database_url=url, redis_url=redis_server_url, redis_prefix=redis_prefix,
                    secret_key="fault-test-secret-key-0123456789", data_dir=tmp_path)
    svc = create_services(config)
    io_loop.run_sync(svc.start)
    yield proxy, svc
    io_loop.run_sync(svc.close)


@pytest.fixture
def app(request, services):
    """Uses the proxied services when the test asks for them, else the normal per-backend ones."""
    if "proxied_app" in request.fixturenames:
        return make_app(request.getfixturevalue("proxied_app")[1])
    if "dead_peer" in request.node.name:
        services.config.heartbeat_interval_secs = 0.3
    return make_app(services)


@pytest.fixture
def backend():
    return "mysql"


@pytest.mark.gen_test(timeout=60)
async def test_database_down_answers_503_and_recovers_without_restart(proxied_app, api, base_url):
    proxy, svc = proxied_app
    tenant = await TenantFactory(svc)()
    visitor = await tenant.visitor(api)
    ok = await api.post("/api/v1/chat/public/message", {"session_id": visitor.session_id, "message": "one"},
                        token=visitor.token)
    assert ok.status == 201
    ws = await WsClient.connect(base_url, visitor.token)
    before = await snapshot(svc.store, tenant.id)

    await proxy.down()
    down = await api.post("/api/v1/chat/messages", {"session_id": visitor.session_id, "message": "lost?"},
                          token=tenant.agent.token)
    assert down.status in (401, 503)  # the agent lookup or the insert finds the database gone
    assert down.status == 503 and down.error_code in ("database_unavailable", "unavailable"), down.body
    health = await api.get("/healthz")
    assert health.status == 503 and health.json["checks"]["store"] != "ok"
    await ws.send("chat.message.send", message="also lost?", client_msg_id="w1")
    err = await ws.next("error")
    assert err["data"]["code"] == "database_unavailable" and err["data"]["ref"] == "w1"

    await proxy.up()
    for _ in range(50):
        again = await api.post("/api/v1/chat/public/message", {"session_id": visitor.session_id, "message": "two"},
                               token=visitor.token)
        if again.status == 201:
            break
        await asyncio.sleep(0.1)
    assert again.status == 201 and again.json["message"]["seq"] == 2  # nothing half-written took seq 2
    after = await snapshot(svc.store, tenant.id)
    assert len(after["messages"]) == len(before["messages"]) + 1
    assert (await api.get("/healthz")).status == 200
    ws.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_socket_that_authenticates_while_the_database_is_down_is_told_to_retry(proxied_app, api, base_url,
                                                                                        caplog):
    """The auth frame needs the store (is the agent active? does the chat exist?). While it is down
    the socket is closed with 1013 "try again later" and a reason, like REST's 503: not dropped
    without a close frame (1006), and logged once for a burst, not once per socket."""
    proxy, svc = proxied_app
    tenant = await TenantFactory(svc)()
    visitor = await tenant.visitor(api)
    await proxy.down()
    caplog.set_level("WARNING", logger="callcenter.hub")
    codes, reasons = [], []
    for token in [tenant.agent.token, visitor.token] * 5:
        client = await WsClient.connect(base_url, token, expect_ok=False)
        codes.append(await client.closed(timeout=15))
        reasons.append(client.conn.close_reason)
    assert codes == [1013] * 10, codes
    assert all(reason and "reconnect" in reason for reason in reasons), reasons
    burst_lines = [r for r in caplog.records if "close 1013" in r.getMessage()]
    assert len(burst_lines) == 1, [r.getMessage() for r in caplog.records]

    await proxy.up()
    for _ in range(200):
        if (await api.get("/healthz")).status == 200:
            break
        await asyncio.sleep(0.1)
    client = await WsClient.connect(base_url, visitor.token)  # auth.ok again: nothing to restart
    assert client.auth["session_id"] == visitor.session_id
    client.close()


async def _raw_ws(port: int, rcvbuf: int | None = None):
    """A WebSocket client that never reads after the handshake (and so never answers pings)."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    response = await reader.readuntil(b"\r\n\r\n")
    assert b" 101 " in response
    writer.transport.pause_reading()
    return writer


def _send_frame(writer, text: str) -> None:
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


@pytest.mark.gen_test(timeout=60)
async def test_client_that_stops_reading_is_disconnected_and_broadcast_does_not_wait(
        api, base_url, http_port, services, tenant_factory, monkeypatch):
    monkeypatch.setattr(connection_module, "MAX_PENDING_BYTES", 64 * 1024)
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    slow = await _raw_ws(http_port, rcvbuf=4096)
    _send_frame(slow, json.dumps({"type": "auth", "token": tenant.agent.token}))
    healthy = await WsClient.connect(base_url, tenant.admin.token)
    await wait_until(lambda: len(services.hub.agents.get(tenant.id, ())) == 2)
    # Loopback send buffers autotune up to megabytes; pin the slow socket's small so the
    # worker's own bound is what gets reached.
    for conn in services.hub.agents[tenant.id]:
        if conn.agent["id"] == tenant.agent.id:
            conn.handler.ws_connection.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    body = "x" * 4000
    for i in range(120):
        resp = await api.post("/api/v1/chat/public/message", {"session_id": visitor.session_id,
                              "message": f"{i} {body}"}, token=visitor.token)
        assert resp.status == 201
    # The healthy socket got everything; the one that never reads was cut off, not buffered forever.
    await wait_until(lambda: len(healthy.messages(visitor.session_id)) == 120)
    assert [m["seq"] for m in healthy.messages(visitor.session_id)] == list(range(1, 121))
    assert await wait_until(lambda: len(services.hub.agents.get(tenant.id, ())) == 1)
    assert services.metrics.slow_disconnects._value.get() >= 1
    slow.close()
    healthy.close()


@pytest.mark.gen_test(timeout=30)
async def test_dead_peer_found_by_heartbeat(api, http_port, services, tenant_factory):
    tenant = await tenant_factory()
    dead = await _raw_ws(http_port)
    _send_frame(dead, json.dumps({"type": "auth", "token": tenant.agent.token}))
    assert await wait_until(lambda: len(services.hub.agents.get(tenant.id, ())) == 1)
    # It never answers the server's pings (interval 0.3 s here): the worker lets it go.
    assert await wait_until(lambda: not services.hub.agents.get(tenant.id), timeout=10)
    dead.close()


@pytest.mark.gen_test(timeout=30)
async def test_each_socket_is_pinged_once_per_heartbeat_interval(http_server, base_url, services, tenant_factory, monkeypatch):
    """However few sockets a worker holds, a round of heartbeats lasts the interval: a socket is
    not pinged more often than that (it was every 10 ms with two sockets)."""
    pings: dict[str, int] = {}
    heartbeat = connection_module.Connection.heartbeat

    def counted(conn, now, timeout_secs):
        pings[conn.id] = pings.get(conn.id, 0) + 1
        heartbeat(conn, now, timeout_secs)

    monkeypatch.setattr(connection_module.Connection, "heartbeat", counted)
    # (Before the sockets: a round planned with the default interval would last 20 s.)
    services.config.heartbeat_interval_secs = 0.25
    tenant = await tenant_factory()
    clients = [await WsClient.connect(base_url, tenant.agent.token) for _ in range(3)]
    assert await wait_until(lambda: len(pings) == 3 and min(pings.values()) >= 2)
    pings.clear()
    await asyncio.sleep(1.5)  # six intervals
    assert len(pings) == 3 and all(3 <= count <= 8 for count in pings.values()), pings
    assert all(client.close_code is None for client in clients)  # the pongs came back in time
    for client in clients:
        client.close()


@pytest.mark.gen_test(timeout=30)
async def test_no_auth_frame_in_time_and_frame_flood(http_server, base_url, services, tenant_factory, monkeypatch):
    monkeypatch.setattr(connection_module, "AUTH_TIMEOUT_SECS", 0.3)
    silent = await WsClient.connect(base_url)
    assert await silent.closed() == connection_module.CLOSE_AUTH_TIMEOUT
    tenant = await tenant_factory()
    flooder = await WsClient.connect(base_url, tenant.agent.token)
    for i in range(services.config.ws_frame_burst + services.config.ws_flood_limit + 50):
        try:
            await flooder.send("ping", t=i)
        except Exception:  # the server closed it mid-flood
            break
    assert await flooder.closed() == connection_module.CLOSE_FLOOD
    assert any(f["type"] == "error" and f["data"]["code"] == "rate_limited" for f in flooder.frames)
