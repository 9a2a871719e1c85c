"""A drain after a restart loses no handshake: two real workers (MariaDB + Redis) behind real nginx.

The sequence that made deploy/nginx.conf answer 502 ("no live upstreams"): worker A is
killed (kill -9) and nginx marks it failed; A is restarted and gets only WebSockets;
later worker B is told to stop (SIGTERM: its listener closes at once, and a handshake
that reaches it while it drains gets the app's 503). nginx lets a failed server back in
only when a request to it *completes*, and a WebSocket completes hours later, so A
stayed "failed" and, with B gone, nginx had no server left. Here clients keep opening
handshakes and GETting /healthz through nginx throughout B's drain and after it:
every handshake must get its 101 and every /healthz its 200. The handshakes name
tenants (/ws?tenant=<id>, hashed to a worker on nginx's consistent-hash ring), so
those of B's tenants must move along the ring to A, B's 503 and refusals included.
"""
from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import time
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from tests.cluster import Cluster
from tests.helpers import require_program
from tests.nginx import NGINX, NGINX_CONF, parse_nginx_conf, run_nginx
# The cluster fixtures (two `callcenter serve` processes on the run's MariaDB database and a
# private Redis prefix; in-process services for tenants and tokens) are test_cluster's own.
from tests.realtime.test_cluster import cluster, cluster_config, setup  # noqa: F401 (pytest fixtures)
from tests.wsclient import WsClient

HANDSHAKE_LOOPS = 3        # concurrent clients opening handshakes, as a reconnect burst does
PAUSE_SECS = 0.02          # between one client's requests
AFTER_EXIT_SECS = 3.0      # how long the clients keep going after B has exited
SOCKETS_ON_A = 2           # long-lived sockets that nginx must place on the restarted worker
TENANTS = 8                # tenant ids the handshakes name (/ws?tenant=...): both workers almost surely own some


def fail_timeout_secs(conf: Path) -> float:
    """The longest fail_timeout of any upstream server in a rendered configuration (nginx's default: 10s)."""
    longest = 0.0
    http = parse_nginx_conf(conf.read_text()).block("http")
    for upstream in http.all("upstream"):
        for server in upstream.all("server"):
            value = next((a.split("=", 1)[1] for a in server.args if a.startswith("fail_timeout=")), "10s")
            number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", value).groups()
            longest = max(longest, int(number) * {"ms": 0.001, "s": 1, None: 1, "m": 60}[unit])
    return longest


async def handshake(port: int, tenant: str | None = None) -> tuple[str, asyncio.StreamWriter | None]:
    """One WebSocket upgrade through nginx (/ws?tenant=`tenant` when given): the response's status
    line, and the open socket on a 101."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    except (OSError, asyncio.TimeoutError) as exc:
        return f"connect: {exc!r}", None
    key = base64.b64encode(os.urandom(16)).decode()
    path = "/ws" + (f"?tenant={tenant}" if tenant is not None else "")
    writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.close()
        return f"response: {exc!r}", None
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 101 " not in status + " ":
        writer.close()
        return status, None
    return status, writer


class Traffic:
    """Clients that keep opening handshakes and GETting /healthz through nginx until stopped."""

    def __init__(self, port: int):
        self.port = port
        self.handshakes: list[str] = []      # status line (or error) of each handshake
        self.health: list[str] = []          # status (or error) of each /healthz
        self.sockets: list[asyncio.StreamWriter] = []  # upgraded sockets, kept open like real clients
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start_handshakes(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks += [loop.create_task(self._handshakes()) for _ in range(HANDSHAKE_LOOPS)]

    def start_healthz(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._healthz()))

    async def _handshakes(self) -> None:
        while not self._stop.is_set():
            # Tenants spread over both workers' stretches of the ring (and one without a tenant).
            n = len(self.handshakes)
            status, writer = await handshake(self.port, f"drain-t{n % TENANTS}" if n % (TENANTS + 1) else None)
            self.handshakes.append(status)
            if writer is not None:
                self.sockets.append(writer)
            await asyncio.sleep(PAUSE_SECS)

    async def _healthz(self) -> None:
        http = AsyncHTTPClient()
        url = f"http://127.0.0.1:{self.port}/healthz"
        while not self._stop.is_set():
            try:
                resp = await http.fetch(url, raise_error=False, request_timeout=15)
                self.health.append(str(resp.code) if resp.code == 200 else f"{resp.code} {resp.body[:200]!r}")
            except (OSError, HTTPClientError, asyncio.TimeoutError) as exc:
                self.health.append(f"error: {exc!r}")
            await asyncio.sleep(PAUSE_SECS)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        for writer in self.sockets:
            writer.close()

    def failures(self) -> tuple[list[str], list[str]]:
        return ([s for s in self.handshakes if " 101 " not in s + " "], [h for h in self.health if h != "200"])


async def restarted_worker_drain(cluster: Cluster, tenants, nginx_dir: Path, *,  # noqa: F811
                                 source: Path = NGINX_CONF) -> Traffic:
    """Run the scenario through nginx rendered from `source`; the traffic seen during B's drain."""
    a, b = cluster.workers
    tenant = await tenants()
    http = AsyncHTTPClient()
    with run_nginx(cluster.upstreams, nginx_dir, source=source) as (port, _proc):
        gateway = f"http://127.0.0.1:{port}"
        a_addr = f"127.0.0.1:{a.port}"

        # 1. A dies without a word; requests through nginx find it refusing and fail over to B.
        a.proc.kill()
        a.proc.wait(10)
        for i in range(24):
            resp = await http.fetch(f"{gateway}/healthz?i={i}", raise_error=False)
            assert resp.code == 200, (resp.code, resp.body)
        errors = nginx_dir / "nginx.stderr"
        deadline = time.monotonic() + 5
        while not re.search(rf"upstream server temporarily disabled.*upstream: \"http://{re.escape(a_addr)}/",
                            errors.read_text()):
            assert time.monotonic() < deadline, f"nginx never marked A failed:\n{errors.read_text()[-3000:]}"
            await asyncio.sleep(0.05)

        # 2. A comes back on its port; it gets WebSockets through nginx (long-lived, authenticated) and no REST.
        a.start()
        direct = await WsClient.connect(a.url, tenant.agent.token)
        a_id = direct.auth["worker"]
        direct.close()
        on_a: list[WsClient] = []
        on_b: list[WsClient] = []  # kept open meanwhile, like a client's other sockets
        deadline = time.monotonic() + fail_timeout_secs(nginx_dir / "nginx.conf") + 15
        while len(on_a) < SOCKETS_ON_A:
            assert time.monotonic() < deadline, "nginx never placed a WebSocket on the restarted worker"
            ws = await WsClient.connect(gateway, tenant.agent.token)
            (on_a if ws.auth["worker"] == a_id else on_b).append(ws)
            if ws.auth["worker"] != a_id:
                await asyncio.sleep(0.2)
        for ws in on_b:
            ws.close()

        # 3. Longer than any fail_timeout later (nothing else reaches A meanwhile), B is told to stop.
        await asyncio.sleep(fail_timeout_secs(nginx_dir / "nginx.conf") + 1.5)
        # Handshakes first, so that A still sees only sockets (as after a reconnect burst), then /healthz too.
        traffic = Traffic(port)
        traffic.start_handshakes()
        try:
            await asyncio.sleep(0.5)
            traffic.start_healthz()
            b.signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            while b.proc.poll() is None:
                assert time.monotonic() < deadline, f"B did not exit after SIGTERM:\n{b.log()[-3000:]}"
                await asyncio.sleep(0.05)
            exited_at = (len(traffic.handshakes), len(traffic.health))
            await asyncio.sleep(AFTER_EXIT_SECS)
        finally:
            await traffic.stop()
        for ws in on_a:
            ws.close()
        assert b.proc.returncode == 0, b.log()[-3000:]
        # The clients kept going after B was gone (so A answered them all).
        assert len(traffic.handshakes) > exited_at[0] + 10 and len(traffic.health) > exited_at[1] + 10
        return traffic


@pytest.fixture
def nginx_installed():
    """Skips (fails under CALLCENTER_REQUIRE_ALL=1) before any worker starts when nginx is missing."""
    return require_program(NGINX)


@pytest.mark.slow
@pytest.mark.gen_test(timeout=180)
async def test_draining_one_worker_after_the_other_restarted_loses_no_handshake(
        nginx_installed, cluster, setup, tmp_path):  # noqa: F811
    traffic = await restarted_worker_drain(cluster, setup, tmp_path / "nginx")
    bad_handshakes, bad_health = traffic.failures()
    log = (tmp_path / "nginx" / "nginx.stderr").read_text(errors="replace")
    assert not bad_handshakes and not bad_health, (
        f"{len(bad_handshakes)} of {len(traffic.handshakes)} handshakes and {len(bad_health)} of "
        f"{len(traffic.health)} /healthz failed: {sorted(set(bad_handshakes))[:5]} {sorted(set(bad_health))[:5]}\n"
        f"{log[-3000:]}")
    assert "no live upstreams" not in log
