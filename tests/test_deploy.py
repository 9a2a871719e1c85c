"""Operations files: deploy/nginx.conf, docker-compose.yml, Procfile, Dockerfile.

nginx runs for real (in front of tiny local HTTP servers); compose is checked
with `docker compose config` (no engine is needed for that).
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.helpers import free_port, require, require_program
from tests.nginx import (BEGIN, END, NGINX, NGINX_CONF, nginx_command, parse_nginx_conf, render_nginx_conf,
                         run_nginx)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROCFILE = ROOT / "Procfile"
DOCKERFILE = ROOT / "Dockerfile"
CMD_TIMEOUT = 60


# ---------------------------------------------------------------- a tiny upstream

class _Upstream(BaseHTTPRequestHandler):
    """Answers every request with JSON describing what it received; /ws upgrades and echoes."""

    protocol_version = "HTTP/1.1"
    server_version = "upstream"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _reply(self, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _describe(self, body: bytes = b"") -> bytes:
        return json.dumps({"worker": self.server.name, "method": self.command, "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()},
                           "body_len": len(body), "body_sha256": hashlib.sha256(body).hexdigest()}).encode()

    def do_GET(self) -> None:
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.split("?", 1)[0] == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while chunk := self.rfile.read1(65536):
                self.wfile.write(chunk)
            self.close_connection = True
        elif self.path == "/big.json":
            self._reply(json.dumps({"items": ["x" * 40] * 200}).encode())
        elif self.path == "/chat-widget.js":
            self._reply(b"/* widget */\n" + b"console.log('hello');\n" * 200, "application/javascript")
        else:
            self._reply(self._describe())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        self._reply(self._describe(body))


class _Draining(_Upstream):
    """A worker that got SIGTERM: the app answers a handshake (and here every GET) 503."""

    def do_GET(self) -> None:
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = json.dumps({"error": {"code": "unavailable", "message": "this worker is restarting; reconnect"}})
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


@contextlib.contextmanager
def upstream(name: str, handler: type[BaseHTTPRequestHandler] = _Upstream):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.name, server.seen = name, []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def ws_handshake(port: int) -> tuple[bytes, socket.socket]:
    """A WebSocket upgrade request through nginx: the response head and the (open) socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nOrigin: http://127.0.0.1\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {head!r}"
        head += chunk
    return head, sock


def raw_request_head(port: int, head: str) -> tuple[int, dict, bytes]:
    """Send only a request head (e.g. announcing a huge body that never comes); nginx's whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                top, body = data.split(b"\r\n\r\n", 1)
                length = re.search(rb"(?im)^content-length:\s*(\d+)", top)
                if length and len(body) >= int(length.group(1)):
                    break
    top, body = data.split(b"\r\n\r\n", 1)
    lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def assert_json_413(status: int, headers: dict, body: bytes) -> None:
    """nginx's own 413 in the app's JSON error shape."""
    assert status == 413, (status, body)
    assert headers["content-type"] == "application/json", headers
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large" and error["message"], body
    assert set(error) == {"code", "message"}


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- nginx.conf

def _http_block(text: str):
    return parse_nginx_conf(text).block("http")


def _server_params(upstream) -> list[tuple[str, dict[str, str]]]:
    """(address, {parameter: value}) of each server line of an upstream block."""
    return [(d.args[0], dict((a.split("=", 1) + [""])[:2] for a in d.args[1:])) for d in upstream.all("server")]


def test_nginx_conf_marks_the_compose_upstreams_and_renders_local_ones(tmp_path):
    source = NGINX_CONF.read_text()
    blocks = re.findall(rf"{re.escape(BEGIN)}(.*?){re.escape(END)}", source, re.DOTALL)
    upstreams = _http_block(source).all("upstream")
    assert len(blocks) == len(upstreams) == 2  # every upstream's servers are marked
    for block in blocks:
        assert re.findall(r"server\s+(\S+)", block) == ["web1:8080", "web2:8080"]

    conf = render_nginx_conf(["127.0.0.1:9101", "127.0.0.1:9102"], 9100, tmp_path).read_text()
    for before, after in zip(upstreams, _http_block(conf).all("upstream")):
        assert after.args == before.args
        assert [addr for addr, _ in _server_params(after)] == ["127.0.0.1:9101", "127.0.0.1:9102"]
        # Each block keeps its own parameters.
        assert [params for _, params in _server_params(after)] == [params for _, params in _server_params(before)]
    assert re.findall(r"listen\s+([^;]+);", conf) == ["127.0.0.1:9100"]
    directives = re.sub(r"#[^\n]*", "", conf)  # the comments may still mention them
    assert "web1" not in directives and "web2" not in directives


def test_upstreams_share_their_state_and_a_websocket_never_locks_a_worker_out():
    """nginx forgets a server's failures only when a request to it completes, and a WebSocket
    completes hours later: failure accounting must never apply to the socket upstream."""
    http = _http_block(NGINX_CONF.read_text())
    upstreams = {u.args[0]: u for u in http.all("upstream")}
    server = http.block("server")
    rest_name = server.block("location", "/").args_of("proxy_pass")[0].removeprefix("http://")
    ws_location = server.block("location", "=", "/ws")
    ws_name = ws_location.args_of("proxy_pass")[0].removeprefix("http://")
    assert rest_name != ws_name and set(upstreams) == {rest_name, ws_name}

    for name, upstream in upstreams.items():
        # One failure state and connection count for all nginx worker processes.
        assert upstream.args_of("zone") and upstream.args_of("zone")[0] == name
    # REST balances open requests; sockets meet per tenant (/ws?tenant=<id>) on a consistent-hash ring.
    assert upstreams[rest_name].args_of("least_conn") == []
    assert upstreams[ws_name].args_of("hash") == ["$arg_tenant", "consistent"]
    assert upstreams[ws_name].args_of("least_conn") is None

    for _, params in _server_params(upstreams[ws_name]):
        assert params.get("max_fails") == "0", params
    assert upstreams[ws_name].args_of("keepalive") is None
    # A handshake is an idempotent GET, answered 503 by a worker only while it drains: try the next one.
    assert set(ws_location.args_of("proxy_next_upstream")) == {"error", "timeout", "http_503"}
    timeout = ws_location.args_of("proxy_connect_timeout")[0]
    assert re.fullmatch(r"[1-3]s|\d{1,4}ms", timeout), timeout

    # REST recovers within seconds (the one request let through after fail_timeout completes at once),
    # and the app's own 503s (database or Redis down, with the reason) pass through, never retried.
    for _, params in _server_params(upstreams[rest_name]):
        assert int(params["max_fails"]) >= 1 and re.fullmatch(r"[1-9]s", params["fail_timeout"]), params
    assert server.args_of("proxy_next_upstream") == ["error", "timeout"]
    for location in server.all("location"):
        if location is not ws_location:
            assert location.args_of("proxy_next_upstream") is None, location.args


def test_metrics_are_for_loopback_only():
    """Private ranges are not internal behind a Docker userland proxy (every outside caller comes
    from the bridge gateway): only loopback may scrape through nginx."""
    server = _http_block(NGINX_CONF.read_text()).block("server")
    metrics = server.block("location", "=", "/metrics")
    rules = [(d.name, d.args) for d in metrics.children if d.name in ("allow", "deny")]
    assert rules == [("allow", ["127.0.0.0/8"]), ("allow", ["::1"]), ("deny", ["all"])]
    assert "web1:8080/metrics" in NGINX_CONF.read_text()  # the comment says how to scrape each worker


def test_nginx_answers_its_own_413_in_the_json_error_shape():
    server = _http_block(NGINX_CONF.read_text()).block("server")
    assert server.args_of("error_page") == ["413", "=", "@payload_too_large"]
    named = server.block("location", "@payload_too_large")
    assert named.args_of("default_type") == ["application/json"]
    status, body = named.args_of("return")
    assert status == "413"
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    for location in server.all("location"):  # nothing overrides it in a location
        assert location.args_of("error_page") is None, location.args


def test_nginx_conf_passes_nginx_t(tmp_path):
    require_program(NGINX)
    conf = render_nginx_conf([f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"], free_port(), tmp_path)
    done = subprocess.run(nginx_command(conf, tmp_path, "-t"), capture_output=True, text=True,
                          timeout=CMD_TIMEOUT)
    output = done.stdout + done.stderr + (tmp_path / "error.log").read_text(errors="replace")
    assert done.returncode == 0, output
    assert "test is successful" in output
    assert "[emerg]" not in output and "[alert]" not in output, output


def test_run_nginx_proxies_with_forwarded_headers_gzip_and_body_limit(tmp_path):
    with upstream("a") as (srv, addr), run_nginx([addr], tmp_path / "nginx") as (port, proc):
        # Client-supplied forwarding headers cannot spoof the address the app sees.
        status, _, body = request(port, "GET", "/api/v1/whatever?x=1", headers={
            "X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"})
        assert status == 200, body
        seen = json.loads(body)
        assert seen["path"] == "/api/v1/whatever?x=1"
        hdrs = seen["headers"]
        assert hdrs["x-real-ip"] == "127.0.0.1"
        assert hdrs["x-forwarded-for"].split(",")[-1].strip() == "127.0.0.1"  # what Tornado's xheaders reads
        assert hdrs["x-forwarded-proto"] == "http"
        assert hdrs["host"] == f"127.0.0.1:{port}"  # the port survives: same-origin checks compare it

        # A body above the buffer (so it goes through nginx's temp dir under the prefix) arrives whole.
        payload = os.urandom(200 * 1024)
        status, _, body = request(port, "POST", "/api/v1/chat/messages", payload,
                                  {"Content-Type": "application/octet-stream"})
        assert status == 200, body
        assert json.loads(body)["body_sha256"] == hashlib.sha256(payload).hexdigest()

        # Above client_max_body_size (1m): refused by nginx, never reaches a worker, in the app's
        # JSON error shape (not nginx's HTML page).
        before = len(srv.seen)
        status, headers, body = request(port, "POST", "/api/v1/chat/messages", b"x" * (1024 * 1024 + 1),
                                        {"Content-Type": "application/json"})
        assert_json_413(status, headers, body)
        assert len(srv.seen) == before

        for path, ctype in (("/big.json", "application/json"), ("/chat-widget.js", "application/javascript")):
            status, headers, body = request(port, "GET", path, headers={"Accept-Encoding": "gzip"})
            assert status == 200
            assert headers.get("content-encoding") == "gzip", (path, headers)
            assert headers["content-type"].startswith(ctype)
            assert gzip.decompress(body)
            # Caching headers are the app's to set: nginx adds none.
            assert "expires" not in headers and "cache-control" not in headers

        status, _, _ = request(port, "GET", "/metrics")  # loopback is allowed to scrape
        assert status == 200

        log = tmp_path / "nginx" / "nginx.stdout"
        deadline = time.monotonic() + 5
        while "ustatus=200" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"upstream={addr}" in log.read_text()
        assert proc.poll() is None
    assert proc.poll() is not None  # stopped at exit


def test_a_dead_worker_is_skipped(tmp_path):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    with upstream("live") as (srv, live), run_nginx([dead, live], tmp_path) as (port, _):
        for i in range(6):
            status, _, body = request(port, "GET", f"/api/v1/chat/sessions?i={i}")
            assert status == 200, body
            assert json.loads(body)["worker"] == "live"
        # A refused connection means nothing was sent, so even a POST moves on (exactly once).
        status, _, body = request(port, "POST", "/api/v1/chat/messages", b'{"message": "hi"}',
                                  {"Content-Type": "application/json"})
        assert status == 200, body
        assert sum(1 for method, _, _ in srv.seen if method == "POST") == 1


def test_bodies_over_either_limit_get_the_json_413(tmp_path):
    with upstream("a") as (srv, addr), run_nginx([addr], tmp_path) as (port, _):
        cases = (("/api/v1/chat/messages", 1024 * 1024 + 1),                      # location /: 1m
                 ("/api/v1/chat/public/session/s-1/attachments", 11 * 1024 * 1024 + 1),  # uploads: 11m
                 ("/api/v1/chat/sessions/s-1/attachments", 50 * 1024 * 1024))
        for path, size in cases:
            # Only the head: nginx refuses on Content-Length alone, before any body arrives.
            assert_json_413(*raw_request_head(port, f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                                     f"Content-Type: application/json\r\n"
                                                     f"Content-Length: {size}\r\n\r\n"))
        # Within the upload location's limit (above the 1m of the rest): passed on.
        payload = os.urandom(2 * 1024 * 1024)
        status, _, body = request(port, "POST", "/api/v1/chat/public/session/s-1/attachments", payload,
                                  {"Content-Type": "application/octet-stream"})
        assert status == 200 and json.loads(body)["body_len"] == len(payload)
        assert [path for method, path, _ in srv.seen if method == "POST"] == [
            "/api/v1/chat/public/session/s-1/attachments"]


def test_a_handshake_answered_503_by_a_draining_worker_goes_to_the_next(tmp_path):
    with upstream("draining", _Draining) as (draining, gone), upstream("live") as (live, addr), \
            run_nginx([gone, addr], tmp_path) as (port, _):
        for _ in range(6):
            head, sock = ws_handshake(port)
            sock.close()
            assert b" 101 " in head.split(b"\r\n", 1)[0], head
        assert any(path == "/ws" for _, path, _ in draining.seen)  # it was asked, and its 503 retried
        # REST keeps the app's 503 (database or Redis down, with its reason): passed through, not retried.
        statuses = [request(port, "GET", f"/api/v1/chat/sessions?i={i}")[0] for i in range(6)]
        assert set(statuses) == {200, 503}, statuses


def _ws_worker(port: int, tenant: str | None) -> str:
    """Which upstream nginx hands a /ws request of `tenant` (a plain GET: the upstream names itself)."""
    status, _, body = request(port, "GET", "/ws" + (f"?tenant={tenant}" if tenant is not None else ""))
    assert status == 200, body
    return json.loads(body)["worker"]


def test_websocket_handshakes_meet_per_tenant_and_move_along_the_ring_when_a_worker_dies(tmp_path):
    """/ws?tenant=<id>: every request of a tenant reaches the same worker, tenants spread over the
    workers, no tenant argument is balanced round-robin; a dead worker's tenants all go to one
    surviving worker each (the next on the ring) and the other tenants do not move."""
    tenants = [f"t{i}" for i in range(24)]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(upstream(name)) for name in ("w0", "w1", "w2")]
        port, _ = stack.enter_context(run_nginx([addr for _, addr in servers], tmp_path))
        placed = {t: _ws_worker(port, t) for t in tenants}
        assert all(_ws_worker(port, t) == placed[t] for t in tenants for _ in range(2))
        assert len(set(placed.values())) == 3, placed
        assert len({_ws_worker(port, None) for _ in range(6)}) == 3

        dead_server, _ = next(s for s in servers if s[0].name == placed["t0"])
        dead_server.shutdown()
        dead_server.server_close()  # refuses from now on, like a worker killed with -9
        moved = {t: {_ws_worker(port, t) for _ in range(3)} for t in tenants}
        for t in tenants:
            if placed[t] == dead_server.name:
                assert len(moved[t]) == 1 and moved[t] != {dead_server.name}, (t, moved[t])
            else:
                assert moved[t] == {placed[t]}, (t, placed[t], moved[t])


def test_websocket_upgrade_is_proxied(tmp_path):
    with upstream("a") as (srv, addr), run_nginx([addr], tmp_path) as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nOrigin: http://127.0.0.1\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                         .encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                assert chunk, f"connection closed after {head!r}"
                head += chunk
            status_line = head.split(b"\r\n", 1)[0]
            assert b" 101 " in status_line, head
            rest = head.split(b"\r\n\r\n", 1)[1]
            # The upgraded connection is a tunnel both ways.
            for frame in (b"\x81\x05hello", b"\x81\x05again"):
                sock.sendall(frame)
                got = rest
                while len(got) < len(frame):
                    chunk = sock.recv(4096)
                    assert chunk, "tunnel closed"
                    got += chunk
                assert got == frame
                rest = b""
        method, path, hdrs = next(entry for entry in srv.seen if entry[1] == "/ws")
        assert hdrs["upgrade"] == "websocket"
        assert hdrs["connection"].lower() == "upgrade"
        assert hdrs["x-real-ip"] == "127.0.0.1"
        assert hdrs["host"] == f"127.0.0.1:{port}"


def test_websocket_location_is_set_for_long_lived_sockets():
    text = NGINX_CONF.read_text()
    ws = text[text.index("location = /ws"):]
    ws = ws[:ws.index("}")]
    assert "proxy_buffering off;" in ws
    assert re.search(r"proxy_read_timeout\s+1h;", ws) and re.search(r"proxy_send_timeout\s+1h;", ws)
    assert "$connection_upgrade" in ws and "map $http_upgrade $connection_upgrade" in text


# ---------------------------------------------------------------- docker compose

def _compose(*args: str, env: dict) -> subprocess.CompletedProcess:
    docker = require_program("docker")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=CMD_TIMEOUT)
    require(version.returncode == 0, "the docker compose plugin is not installed (docker compose version failed)")
    return subprocess.run([docker, "compose", "-f", str(COMPOSE_FILE), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=CMD_TIMEOUT)


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CALLCENTER_", "GEMINI_", "COMPOSE_")) and k != "DOCKER_HOST"}
    env.update(extra)
    return env


def test_docker_compose_config_is_valid():
    done = _compose("config", "--format", "json", env=_env(CALLCENTER_SECRET_KEY="compose-test-secret"))
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert set(services) == {"mariadb", "redis", "migrate", "web1", "web2", "ai", "nginx"}

    assert services["mariadb"]["image"].startswith("mariadb:10.11")
    assert any("utf8mb4" in arg for arg in services["mariadb"]["command"])
    assert services["mariadb"]["healthcheck"]["test"] and services["mariadb"]["volumes"]
    assert services["redis"]["image"].startswith("redis:7")

    for name, command in (("migrate", ["callcenter", "migrate"]), ("ai", ["callcenter", "ai-worker"]),
                          ("web1", ["callcenter", "serve", "--host", "0.0.0.0", "--port", "8080"]),
                          ("web2", ["callcenter", "serve", "--host", "0.0.0.0", "--port", "8080"])):
        svc = services[name]
        assert svc["command"] == command
        assert svc["build"]["dockerfile"] == "Dockerfile"
        env = svc["environment"]
        assert env["CALLCENTER_SECRET_KEY"] == "compose-test-secret"
        assert env["CALLCENTER_DATABASE_URL"].startswith("mysql+aiomysql://")
        assert env["CALLCENTER_REDIS_URL"].startswith("redis://")
    for name in ("web1", "web2", "ai"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"

    nginx = services["nginx"]
    assert [p["target"] for p in nginx["ports"]] == [80]
    # The workers believe forwarded headers (the client's address, https) from nginx's fixed address
    # only: not from the network's gateway, where a published port's outside callers can appear.
    nginx_ip = nginx["networks"]["default"]["ipv4_address"]
    subnet = json.loads(done.stdout)["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(nginx_ip) in ipaddress.ip_network(subnet)
    for name in ("web1", "web2", "ai", "migrate"):
        assert services[name]["environment"]["CALLCENTER_TRUSTED_PROXIES"] == nginx_ip
    mount = next(v for v in nginx["volumes"] if v["target"] == "/etc/nginx/nginx.conf")
    assert mount["read_only"] is True
    assert Path(mount["source"]).resolve() == NGINX_CONF.resolve()

    # Each of nginx's upstreams names exactly the compose web workers.
    web_workers = [f"{name}:{svc['command'][-1]}" for name, svc in services.items()
                   if (svc.get("command") or [])[:2] == ["callcenter", "serve"]]
    blocks = re.findall(rf"{re.escape(BEGIN)}(.*?){re.escape(END)}", NGINX_CONF.read_text(), re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        assert sorted(re.findall(r"server\s+(\S+)", block)) == sorted(web_workers) == ["web1:8080", "web2:8080"]


def test_docker_compose_requires_the_secret_key():
    done = _compose("config", "--quiet", env=_env())
    assert done.returncode != 0
    assert "set CALLCENTER_SECRET_KEY" in done.stderr


def test_dockerfile_runs_as_a_non_root_user():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"pip install\b.*\s\.", text)
    # serve listens on 127.0.0.1 unless told: a container must say every interface.
    assert re.search(r'^CMD \["callcenter", "serve", "--host", "0.0.0.0"\]', text, re.MULTILINE)


# ---------------------------------------------------------------- Procfile

def _procfile() -> dict[str, str]:
    entries = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callcenter.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=CMD_TIMEOUT, env=_env())


def test_procfile_names_the_three_processes_with_real_commands():
    from callcenter.cli import build_parser

    entries = _procfile()
    assert set(entries) == {"web", "ai", "release"}
    help_text = _cli("--help")  # the installed command line, as a platform would run it
    assert help_text.returncode == 0, help_text.stderr
    commands = set(re.findall(r"^\s{4}(\S+)", help_text.stdout, re.MULTILINE))
    expected = {"web": "serve", "ai": "ai-worker", "release": "migrate"}
    for name, command in entries.items():
        argv = shlex.split(command)
        # The shell a platform runs each line with may set the process's environment first.
        while argv and re.fullmatch(r"CALLCENTER_[A-Z_]+=.*", argv[0]):
            argv.pop(0)
        assert argv[0] == "callcenter", command
        assert argv[1] == expected[name] and argv[1] in commands, (name, command, sorted(commands))
        # The arguments parse, with $PORT as the platform sets it.
        args = build_parser().parse_args([a.replace("$PORT", "5000") for a in argv[1:]])
        assert args.command == expected[name]
    assert "--port $PORT" in entries["web"]
    # Behind the platform's router: every interface, and its forwarded headers believed (overridable).
    assert "--host 0.0.0.0" in entries["web"] and "CALLCENTER_TRUSTED_PROXIES=" in entries["web"]
    assert build_parser().parse_args(["serve", "--port", "5000"]).port == 5000
