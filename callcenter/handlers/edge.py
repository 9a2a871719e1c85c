"""The HTTP edge: what every request goes through before a handler sees it.

- **Who is calling.** The server never believes forwarded headers by themselves: `X-Forwarded-For`,
  `X-Real-IP` and `X-Forwarded-Proto` count only when the connection comes from a trusted proxy
  (`CALLCENTER_TRUSTED_PROXIES`, default this machine: 127.0.0.1 and ::1). Otherwise anyone could
  pick their address, escape every per-address limit and forge the access log.
- **How big and how slow a body may be.** A body declared (`Content-Length`) larger than its
  route takes is answered `413` JSON at once, before a byte of it is read; the connection then
  lingers a moment, reading and dropping what the client still sends, so the client reads the
  answer instead of a reset. A chunked body is passed on up to one byte past the limit (the route
  answers its own 413) and the rest is dropped. Every body must arrive within its timeout and may
  not pause longer than the idle timeout: a client that sends headers and stalls is disconnected
  rather than holding a connection (or an upload slot) for minutes.
"""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import re
import socket
import time

from tornado import httputil, iostream, web

from .. import attachments
from ..errors import PayloadTooLarge
from ..models import json_dumps
from .base import SECURITY_HEADERS
from .files import MULTIPART_OVERHEAD_BYTES, UPLOAD_PATH_RE

log = logging.getLogger("callcenter.edge")
access_log = logging.getLogger("callcenter.access")

# The methods a metric label may carry; anything else a client makes up is counted as "other"
# (Tornado accepts any token as a method, and every label value is a time series kept forever).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# After a 413 sent before the body: how long the connection keeps reading (and dropping) the body.
LINGER_SECS = 5.0
LINGER_READ_BYTES = 64 * 1024
# A chunked body's size is known only at its end: it is read (and dropped past the route's limit)
# until then, within the body timeout.
CHUNKED_READ_LIMIT_BYTES = 1 << 62
PUBLIC_PATH_PREFIX = "/api/v1/chat/public/"
_CONTENT_LENGTH_RE = re.compile(r"^\d{1,19}$")


def _declared_length(headers: httputil.HTTPHeaders) -> str:
    """The Content-Length as sent; a proxy's repeated copies of one value ("5, 5") count as that value."""
    values = {value.strip() for value in headers.get("Content-Length", "").split(",")}
    return values.pop() if len(values) == 1 else ""


def metric_method(method: str | None) -> str:
    return method if method in KNOWN_METHODS else "other"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class TrustedProxies:
    """Which peers' forwarded headers are believed, and what they say about the client."""

    def __init__(self, entries) -> None:
        self._networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)

    def trusts(self, address: str | None) -> bool:
        addr = _ip(address or "")
        return addr is not None and any(addr in network for network in self._networks)

    def client_address(self, peer: str, headers: httputil.HTTPHeaders) -> str:
        """The client's address: the peer's own, unless the peer is a trusted proxy. Then the
        X-Forwarded-For hops are walked from the right (the nearest proxy's entry) past every trusted
        one; the first other address is the client (anything left of it was written by the client and
        proves nothing). Without X-Forwarded-For, X-Real-IP."""
        if not self.trusts(peer):
            return peer
        hops = [hop for value in headers.get_list("X-Forwarded-For") for hop in value.split(",") if hop.strip()]
        client = peer
        for hop in reversed(hops):
            addr = _ip(hop)
            if addr is None:
                break  # garbage: nothing left of it can be believed
            client = str(addr)
            if not self.trusts(client):
                return client
        if hops:
            return client
        real = _ip(headers.get("X-Real-IP", ""))
        return str(real) if real is not None else peer

    def scheme(self, peer: str, headers: httputil.HTTPHeaders, default: str) -> str:
        if not self.trusts(peer):
            return default
        proto = headers.get("X-Forwarded-Proto") or headers.get("X-Scheme") or ""
        proto = proto.split(",")[-1].strip().lower()
        return proto if proto in ("http", "https") else default


class Application(web.Application):
    """Tornado's Application with the edge in front of every request (both are per worker)."""

    def __init__(self, routes, *, services, **settings) -> None:
        super().__init__(routes, services=services, **settings)
        self.services = services
        self.trusted_proxies = TrustedProxies(services.config.trusted_proxies)

    def start_request(self, server_conn, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        return BodyGuard(self, super().start_request(server_conn, request_conn), request_conn)

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs):
        # The server runs without Tornado's `xheaders` (which believes anyone): remote_ip is the peer.
        peer = request.remote_ip
        request.remote_ip = self.trusted_proxies.client_address(peer, request.headers)
        request.protocol = self.trusted_proxies.scheme(peer, request.headers, request.protocol)
        return super().find_handler(request, **kwargs)

    def body_rules(self, path: str) -> BodyRules:
        config = self.services.config
        if UPLOAD_PATH_RE.match(path.split("?", 1)[0]):
            return BodyRules(config.max_upload_bytes + MULTIPART_OVERHEAD_BYTES, config.upload_timeout_secs,
                             attachments.file_too_large(config.max_upload_bytes))
        return BodyRules(config.max_body_bytes, config.body_timeout_secs,
                         PayloadTooLarge(f"request body is larger than {config.max_body_bytes} bytes"))


@dataclasses.dataclass(frozen=True)
class BodyRules:
    """What a route takes: the largest body in bytes, the seconds it may take to arrive, and the
    413 a larger one gets (the same the route itself would answer)."""
    max_bytes: int
    timeout_secs: float
    too_large: PayloadTooLarge


class BodyGuard(httputil.HTTPMessageDelegate):
    """Wraps one request's delegate: refuses an oversized body before reading it, caps a chunked
    one, and disconnects a body that stalls."""

    def __init__(self, app: Application, inner: httputil.HTTPMessageDelegate,
                 request_conn: httputil.HTTPConnection) -> None:
        self.app = app
        self.inner = inner
        self.conn = request_conn
        self.limit: int | None = None  # set while a body is expected
        self.received = 0
        self.last_data_at = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.start_line: httputil.RequestStartLine | None = None

    def headers_received(self, start_line, headers: httputil.HTTPHeaders):
        self.start_line = start_line
        rules = self.app.body_rules(start_line.path)
        declared = _declared_length(headers)
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        if _CONTENT_LENGTH_RE.match(declared) and int(declared) > rules.max_bytes and not chunked:
            self._refuse_too_large(start_line, headers, rules.too_large)
            return None
        if chunked or (declared and declared != "0"):
            self.limit = rules.max_bytes
            # HTTP1Connection's own per-request settings (what Tornado's stream_request_body routes use).
            self.conn.set_max_body_size(CHUNKED_READ_LIMIT_BYTES if chunked else rules.max_bytes)
            self.conn.set_body_timeout(rules.timeout_secs)
            self.last_data_at = time.monotonic()
            self._arm_idle_timer(self.app.services.config.body_idle_timeout_secs)
        return self.inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes):
        self.last_data_at = time.monotonic()
        if self.limit is not None:
            room = self.limit + 1 - self.received  # one byte past the limit tells the route it is over
            self.received += len(chunk)
            if room <= 0:
                return None
            chunk = chunk[:room]
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        self._disarm()
        self.inner.finish()

    def on_connection_close(self) -> None:
        self._disarm()
        self.inner.on_connection_close()

    # ---- stalled bodies -------------------------------------------------------

    def _arm_idle_timer(self, delay_secs: float) -> None:
        self.idle_timer = asyncio.get_running_loop().call_later(delay_secs, self._check_idle)

    def _disarm(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def _check_idle(self) -> None:
        idle_limit = self.app.services.config.body_idle_timeout_secs
        idle_for = time.monotonic() - self.last_data_at
        if idle_for < idle_limit:
            self._arm_idle_timer(idle_limit - idle_for)
            return
        self.idle_timer = None
        log.info("closing a request whose body stalled for %.0f s: %s %s", idle_for,
                 self.start_line.method[:16], self.start_line.path.split("?", 1)[0][:200])
        self.conn.close()

    # ---- 413 before the body -----------------------------------------------------

    def _refuse_too_large(self, start_line, headers: httputil.HTTPHeaders, error: PayloadTooLarge) -> None:
        context = getattr(self.conn, "context", None)
        peer = getattr(context, "remote_ip", None) or "-"
        client = self.app.trusted_proxies.client_address(peer, headers)
        body = json_dumps({"error": {"code": error.code, "message": error.message}}).encode()
        lines = ["HTTP/1.1 413 Payload Too Large", "Content-Type: application/json; charset=UTF-8",
                 f"Content-Length: {len(body)}", "Cache-Control: no-store", "Connection: close",
                 *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items())]
        origin = headers.get("Origin")
        if origin and start_line.path.startswith(PUBLIC_PATH_PREFIX) and "\r" not in origin and "\n" not in origin:
            # As every public route's errors: the widget may read why its call failed.
            lines += [f"Access-Control-Allow-Origin: {origin}", "Vary: Origin"]
        response = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
        stream = self.conn.detach()  # allowed in headers_received: Tornado reads nothing more of it
        self.app.services.spawn(answer_and_linger(stream, response))
        method = metric_method(start_line.method)
        self.app.services.metrics.http_requests.labels("BodyGuard", method, "413").inc()
        access_log.info("413 %s %s tenant=- 0.0ms ip=%s (body of %s bytes refused before reading)",
                        start_line.method[:16], start_line.path.split("?", 1)[0][:200], client,
                        headers.get("Content-Length"))


async def answer_and_linger(stream: iostream.IOStream, response: bytes) -> None:
    """Write the whole answer, end our side, then read and drop what the client still sends for a
    moment before closing: closing a socket with unread data resets it, and a client still sending
    its body would see the reset instead of the answer (nginx's lingering close)."""
    loop = asyncio.get_running_loop()
    try:
        await stream.write(response)
        stream.socket.shutdown(socket.SHUT_WR)
        deadline = loop.time() + LINGER_SECS
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.wait_for(stream.read_bytes(LINGER_READ_BYTES, partial=True), remaining)
    except (iostream.StreamClosedError, asyncio.TimeoutError, OSError):
        pass
    finally:
        stream.close()
