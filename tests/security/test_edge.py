"""The HTTP edge, tried as an attacker would (callcenter/handlers/edge.py):

- forwarded headers count only from a trusted proxy (spoofed X-Forwarded-For / X-Real-IP from
  anyone else change neither the per-address limits nor the access log);
- any oversized body gets the 413 JSON, whatever its size or framing, and the client reads it;
- a body that stalls is disconnected, so stalled uploads cannot hold the upload slots;
- a refused upload is answered 429 JSON, never a reset; one address holds only its share of slots;
- the sign-in limit holds under parallel guesses;
- made-up HTTP methods do not grow /metrics.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import time
import urllib.parse
import uuid

import pytest
from tornado.httputil import HTTPHeaders

from callcenter.handlers.edge import TrustedProxies
from tests.cluster import embedded_server
from tests.helpers import PASSWORD

from .support import gen_test, multipart_file

START = "/api/v1/chat/public/start"
UNTRUSTING = ("192.0.2.1",)  # a proxy address no test connection comes from


# ---- who is calling -----------------------------------------------------------------------

@pytest.mark.parametrize("peer,headers,expected", [
    ("198.51.100.9", {"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "5.6.7.8"}, "198.51.100.9"),  # untrusted peer
    ("127.0.0.1", {"X-Forwarded-For": "1.2.3.4"}, "1.2.3.4"),
    ("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 1.2.3.4"}, "1.2.3.4"),  # the client wrote 6.6.6.6 itself
    ("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 1.2.3.4, 10.0.0.7"}, "1.2.3.4"),  # 10.0.0.7: a trusted hop
    ("127.0.0.1", {"X-Forwarded-For": "10.0.0.8, 10.0.0.7"}, "10.0.0.8"),  # all trusted: the farthest
    ("127.0.0.1", {"X-Forwarded-For": "1.2.3.4, not-an-ip"}, "127.0.0.1"),  # garbage ends the walk
    ("127.0.0.1", {"X-Real-IP": "1.2.3.4"}, "1.2.3.4"),
    ("127.0.0.1", {"X-Real-IP": "<script>"}, "127.0.0.1"),
    ("::ffff:127.0.0.1", {"X-Forwarded-For": "2001:db8::1"}, "2001:db8::1"),
    ("::1", {}, "::1"),
])
def test_client_address(peer, headers, expected):
    proxies = TrustedProxies(["127.0.0.1", "::1", "10.0.0.0/8"])
    assert proxies.client_address(peer, HTTPHeaders(headers)) == expected


def test_scheme_only_from_a_trusted_proxy():
    proxies = TrustedProxies(["127.0.0.1"])
    tls = HTTPHeaders({"X-Forwarded-Proto": "https"})
    assert proxies.scheme("127.0.0.1", tls, "http") == "https"
    assert proxies.scheme("198.51.100.9", tls, "http") == "http"
    assert proxies.scheme("127.0.0.1", HTTPHeaders({"X-Forwarded-Proto": "gopher"}), "http") == "http"


@pytest.mark.trusted_proxies(UNTRUSTING)
@gen_test
async def test_spoofed_forwarded_headers_escape_no_limit(api, services, tenant_factory, caplog):
    """A client that is not a trusted proxy picks a new X-Forwarded-For / X-Real-IP per call: the
    per-address limit on new chats still counts its real address, and the log shows that address."""
    services.config.session_starts_per_ip = 5
    tenant = await tenant_factory()
    caplog.set_level(logging.INFO, logger="callcenter.access")
    statuses = []
    for i in range(8):
        spoof = f"203.0.113.{i + 1}"
        resp = await api.post(START, {"tenant_id": tenant.id}, headers={"X-Forwarded-For": spoof, "X-Real-IP": spoof})
        statuses.append(resp.status)
    assert statuses == [201] * 5 + [429] * 3, statuses
    lines = [r.getMessage() for r in caplog.records if "/chat/public/start" in r.getMessage()]
    assert lines and all(line.endswith("ip=127.0.0.1") for line in lines), lines


@gen_test
async def test_a_trusted_proxy_names_the_client(api, services, tenant_factory):
    """From the proxy on this machine (the default trust), each forwarded client has its own budget."""
    services.config.session_starts_per_ip = 2
    tenant = await tenant_factory()
    for client in ("203.0.113.7", "203.0.113.8"):
        for _ in range(2):
            resp = await api.post(START, {"tenant_id": tenant.id}, headers={"X-Forwarded-For": f"6.6.6.6, {client}"})
            assert resp.status == 201, resp.body
        assert (await api.post(START, {"tenant_id": tenant.id},
                               headers={"X-Forwarded-For": client})).status == 429


@pytest.fixture
def app(services, request):
    """The app, made after the test's marker settings (trusted proxies are read when it is made)."""
    from callcenter.app import make_app

    marker = request.node.get_closest_marker("trusted_proxies")
    if marker is not None:
        services.config.trusted_proxies = marker.args[0]
    return make_app(services)


@pytest.mark.trusted_proxies(UNTRUSTING)
@gen_test
async def test_untrusted_peer_cannot_claim_https(api, tenant_factory):
    resp = await api.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert resp.status == 200 and "Strict-Transport-Security" not in resp.headers


def _post_from(source_ip: str, url: str, path: str, body: dict, headers: dict) -> int:
    """A POST whose connection comes from `source_ip` (any 127.x address is this machine)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10, source_address=(source_ip, 0))
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
        return conn.getresponse().status
    finally:
        conn.close()


def test_serve_listens_on_this_machine_and_believes_only_its_proxy(tmp_path):
    """`callcenter serve` with no --host listens on 127.0.0.1 only (it printed a 127.0.0.1 URL while
    listening on every interface), and a client that is not the local proxy (here 127.0.0.2) cannot
    pick its address with X-Forwarded-For / X-Real-IP: Tornado's xheaders believed anyone."""
    with embedded_server(tmp_path, host=None, CALLCENTER_SESSION_STARTS_PER_IP="3",
                         CALLCENTER_LOG_LEVEL="INFO") as (url, log_path):
        port = urllib.parse.urlsplit(url).port
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=5).close()
        statuses = [_post_from("127.0.0.2", url, START, {"tenant_id": "demo-tenant"},
                               {"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"198.51.100.{i}"})
                    for i in range(1, 6)]
        assert statuses == [201] * 3 + [429] * 2, statuses
        # The proxy on this machine (127.0.0.1, trusted by default) still names its clients.
        assert _post_from("127.0.0.1", url, START, {"tenant_id": "demo-tenant"},
                          {"X-Forwarded-For": "203.0.113.99"}) == 201
        # (A request's access line is written just after its answer: wait for all six.)
        deadline = time.monotonic() + 10
        while log_path.read_text().count("/api/v1/chat/public/start") < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        log = log_path.read_text()
    starts = [line for line in log.splitlines() if "/api/v1/chat/public/start" in line]
    assert sum("ip=127.0.0.2" in line for line in starts) == 5 and "ip=203.0.113.1" not in log, starts
    assert any("ip=203.0.113.99" in line for line in starts), starts


# ---- raw HTTP helpers -----------------------------------------------------------------------

async def raw_request(port: int, head: str, body_parts=(), *, read_timeout: float = 20.0) -> tuple[int, dict, bytes]:
    """Send a request by hand (headers, then each body part), then read the whole answer until the
    server closes or it is complete; (status, headers, body). ConnectionResetError propagates."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode())
        for part in body_parts:
            writer.write(part)
            await writer.drain()
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), read_timeout)
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), read_timeout)
        return status, headers, body
    finally:
        writer.close()


def post_head(path: str, length: int | None, *, content_type="application/json", extra: str = "") -> str:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{framing}{extra}"
            "Connection: close\r\n\r\n")


def chunked(data: bytes, size: int = 16 * 1024):
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def assert_413(status: int, headers: dict, body: bytes, code: str = "payload_too_large") -> None:
    assert status == 413, (status, body[:200])
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == code


# ---- bodies -------------------------------------------------------------------------------------

@gen_test
async def test_any_oversized_body_gets_the_413_json(http_port, services, tenant_factory, api):
    """64 KB + 1, 2 MiB (Tornado's old hard limit answered a bare 400 or reset above 1 MiB), a
    declared 100 GB that never comes, and chunked bodies: all get the same 413 JSON, and the client
    reads it (no reset while it is still sending)."""
    limit = services.config.max_body_bytes
    for size in (limit + 1, 2 * 1024 * 1024):
        status, headers, body = await raw_request(http_port, post_head("/api/v1/chat/messages", size),
                                                  [b"x" * size])
        assert_413(status, headers, body)
    status, headers, body = await raw_request(http_port, post_head(START, 100 * 1024 ** 3,
                                                                   extra="Origin: https://shop.example\r\n"),
                                              [b"{" * 65536])
    assert_413(status, headers, body)
    assert headers["access-control-allow-origin"] == "https://shop.example", "the widget can read why"
    for size in (limit + 1, 3 * 1024 * 1024):
        status, headers, body = await raw_request(http_port, post_head(START, None), chunked(b" " * size))
        assert_413(status, headers, body)
    # A body within the limit still works, chunked or not.
    tenant = await tenant_factory()
    ok = json.dumps({"tenant_id": tenant.id}).encode()
    assert (await raw_request(http_port, post_head(START, len(ok)), [ok]))[0] == 201
    assert (await raw_request(http_port, post_head(START, None), chunked(ok, 7)))[0] == 201


@gen_test
async def test_an_upload_over_the_file_limit_gets_the_413_json(http_port, services, tenant_factory, api):
    services.config.max_upload_bytes = 100_000
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    path = f"/api/v1/chat/public/session/{visitor.session_id}/attachments"
    auth = f"Authorization: Bearer {visitor.token}\r\n"
    data, headers = multipart_file("big.txt", b"a" * 300_000)
    for framing, parts in ((len(data), [data]), (None, chunked(data))):
        status, hdrs, body = await raw_request(http_port, post_head(path, framing, content_type=headers[
            "Content-Type"], extra=auth), parts)
        assert_413(status, hdrs, body, "file_too_large")
    small, headers = multipart_file("small.txt", b"hello")
    status, _, body = await raw_request(http_port, post_head(path, len(small), content_type=headers["Content-Type"],
                                                             extra=auth), [small])
    assert status == 201, body


@gen_test
async def test_a_stalled_body_is_disconnected(http_server, http_port, services, caplog):
    services.config.body_idle_timeout_secs = 0.3
    caplog.set_level(logging.INFO, logger="callcenter.edge")
    reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    writer.write(post_head(START, 100).encode() + b'{"tenant')  # ... and nothing more
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 20) == b"", "closed without an answer"
    writer.close()
    assert any("stalled" in r.getMessage() for r in caplog.records)


async def _stalled_upload(port: int, path: str, token: str, ip: str):
    """Headers of a 50 kB upload from `ip` (forwarded by the trusted local proxy), then nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data, headers = multipart_file("slow.txt", b"s" * 50_000)
    writer.write(post_head(path, len(data), content_type=headers["Content-Type"],
                           extra=f"Authorization: Bearer {token}\r\nX-Forwarded-For: {ip}\r\n").encode() + data[:100])
    await writer.drain()
    return reader, writer


@gen_test
async def test_stalled_uploads_hold_only_their_share_and_only_for_a_while(http_port, services, tenant_factory, api):
    """One address stalling uploads gets its two slots, no more; everyone else still uploads; the
    stalled ones are dropped after the idle timeout and their slots come back."""
    services.config.body_idle_timeout_secs = 1.0
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    path = f"/api/v1/chat/public/session/{visitor.session_id}/attachments"
    stalled = [await _stalled_upload(http_port, path, visitor.token, "203.0.113.66") for _ in range(2)]
    for _ in range(100):
        if services.uploads_by_ip.get("203.0.113.66") == 2:
            break
        await asyncio.sleep(0.05)
    assert services.uploads_by_ip == {"203.0.113.66": 2}
    data, headers = multipart_file("third.txt", b"third")
    extra = f"Authorization: Bearer {visitor.token}\r\nX-Forwarded-For: 203.0.113.66\r\n"
    status, hdrs, body = await raw_request(http_port, post_head(path, len(data), content_type=headers[
        "Content-Type"], extra=extra), [data])
    assert status == 429 and json.loads(body)["error"]["code"] == "rate_limited", body
    assert hdrs["retry-after"]
    other = extra.replace("203.0.113.66", "203.0.113.67")
    status, _, body = await raw_request(http_port, post_head(path, len(data), content_type=headers["Content-Type"],
                                                             extra=other), [data])
    assert status == 201, body
    for reader, writer in stalled:
        assert await asyncio.wait_for(reader.read(), 20) == b""
        writer.close()
    for _ in range(100):
        if not services.uploads_by_ip and services.uploads_in_progress == 0:
            break
        await asyncio.sleep(0.05)
    assert services.uploads_by_ip == {} and services.uploads_in_progress == 0
    status, _, body = await raw_request(http_port, post_head(path, len(data), content_type=headers["Content-Type"],
                                                             extra=extra), [data])
    assert status == 201, body


@gen_test
async def test_refused_uploads_read_their_429_instead_of_a_reset(http_port, services, tenant_factory, api):
    """40 uploads at once where the worker takes 2: every client reads an answer (201 or the 429
    JSON); a server that answered before reading the body and closed reset most of them."""
    services.config.max_concurrent_uploads = 2
    services.config.max_concurrent_uploads_per_ip = 40
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    path = f"/api/v1/chat/public/session/{visitor.session_id}/attachments"
    data, headers = multipart_file("file.txt", b"f" * 400_000)
    head = post_head(path, len(data), content_type=headers["Content-Type"],
                     extra=f"Authorization: Bearer {visitor.token}\r\n")
    parts = [data[i:i + 64 * 1024] for i in range(0, len(data), 64 * 1024)]
    results = await asyncio.gather(*(raw_request(http_port, head, parts) for _ in range(40)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    statuses = sorted(status for status, _, _ in results)
    assert set(statuses) <= {201, 429} and 201 in statuses and 429 in statuses, statuses
    for status, _, body in results:
        if status == 429:
            assert json.loads(body)["error"]["code"] == "rate_limited"


# ---- sign-in limit under concurrency --------------------------------------------------------------

@gen_test
async def test_parallel_guesses_get_no_more_tries_than_the_limit(api, services, tenant_factory, backend):
    """40 wrong passwords at once for one account (limit 5): exactly 5 are checked (401), the rest
    429, and the right password then waits too. Counted after the check, every guess in flight passed."""
    limit = services.config.login_max_failures
    tenant = await tenant_factory()
    guess = {"email": tenant.agent.email, "tenant_id": tenant.id}
    resps = await asyncio.gather(*(api.post("/api/v1/auth/login", {**guess, "password": f"guess-{i}"})
                                   for i in range(40)))
    statuses = [r.status for r in resps]
    assert statuses.count(401) == limit and statuses.count(429) == 40 - limit, statuses
    assert (await api.post("/api/v1/auth/login", {**guess, "password": PASSWORD})).status == 429
    # A right password is not a failure: a colleague signing in from the same address is unaffected.
    for _ in range(limit * 6):
        ok = await api.post("/api/v1/auth/login", {"email": tenant.admin.email, "tenant_id": tenant.id,
                                                   "password": PASSWORD})
        assert ok.status == 200, ok.body


# ---- metrics labels --------------------------------------------------------------------------------

@gen_test
async def test_made_up_methods_do_not_grow_metrics(api, backend):
    for _ in range(60):
        method = "X" + uuid.uuid4().hex[:10].upper()
        resp = await api.request(method, "/api/v1/chat/sessions")
        assert resp.status in (400, 405), resp.status
    text = (await api.get("/metrics")).body.decode()
    methods = {line.split('method="', 1)[1].split('"', 1)[0] for line in text.splitlines()
               if line.startswith("callcenter_http_requests_total{")}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    assert "other" in methods
