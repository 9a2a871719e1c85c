"""Operations files: deploy/nginx.conf, docker-compose.yml, Procfile, Dockerfile.

nginx runs for real (in front of tiny local HTTP servers); compose is checked
with `docker compose config` (no engine is needed for that).
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
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
from tests.nginx import BEGIN, END, NGINX, NGINX_CONF, nginx_command, render_nginx_conf, run_nginx

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
        if self.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
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


@contextlib.contextmanager
def upstream(name: str):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
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


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- nginx.conf

def test_nginx_conf_marks_the_compose_upstreams_and_renders_local_ones(tmp_path):
    source = NGINX_CONF.read_text()
    block = source[source.index(BEGIN):source.index(END)]
    assert re.findall(r"server\s+(\S+)", block) == ["web1:8080", "web2:8080"]

    conf = render_nginx_conf(["127.0.0.1:9101", "127.0.0.1:9102"], 9100, tmp_path).read_text()
    block = conf[conf.index(BEGIN):conf.index(END)]
    assert re.findall(r"server\s+(\S+)", block) == ["127.0.0.1:9101", "127.0.0.1:9102"]
    assert block.count("max_fails=3 fail_timeout=10s") == 2  # the parameters survive templating
    assert re.findall(r"listen\s+([^;]+);", conf) == ["127.0.0.1:9100"]
    assert "web1" not in conf and "web2" not in conf


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

        # Above client_max_body_size (1m): refused by nginx, never reaches a worker.
        before = len(srv.seen)
        status, _, _ = request(port, "POST", "/api/v1/chat/messages", b"x" * (1024 * 1024 + 1))
        assert status == 413
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
                          ("web1", ["callcenter", "serve", "--port", "8080"]),
                          ("web2", ["callcenter", "serve", "--port", "8080"])):
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
    mount = next(v for v in nginx["volumes"] if v["target"] == "/etc/nginx/nginx.conf")
    assert mount["read_only"] is True
    assert Path(mount["source"]).resolve() == NGINX_CONF.resolve()

    # nginx's upstream names exactly the compose web workers.
    block = NGINX_CONF.read_text().split(BEGIN, 1)[1].split(END, 1)[0]
    web_workers = [f"{name}:{svc['command'][-1]}" for name, svc in services.items()
                   if (svc.get("command") or [])[:2] == ["callcenter", "serve"]]
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
        assert argv[0] == "callcenter", command
        assert argv[1] == expected[name] and argv[1] in commands, (name, command, sorted(commands))
        # The arguments parse, with $PORT as the platform sets it.
        args = build_parser().parse_args([a.replace("$PORT", "5000") for a in argv[1:]])
        assert args.command == expected[name]
    assert "--port $PORT" in entries["web"]
    assert build_parser().parse_args(["serve", "--port", "5000"]).port == 5000
