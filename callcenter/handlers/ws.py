"""The /ws endpoint: a thin Tornado WebSocket handler; the Connection object does the work."""
from __future__ import annotations

import logging
import re
from asyncio import Future

from tornado import httputil, web, websocket
from tornado.iostream import StreamClosedError

from .. import models
from ..realtime.connection import CLOSE_UNAUTHORIZED, Connection
from .base import TOKEN_QUERY_NAMES, SecureHeaders, route

log = logging.getLogger("callcenter.ws")

MAX_FRAME_BYTES = 64 * 1024
MAX_TENANT_HINT_BYTES = 64
TENANT_ID_RE = re.compile(models.TENANT_ID_PATTERN)
TEXT_OPCODE = 0x1


def text_frame(payload: str) -> bytes:
    """One unmasked, final text frame (RFC 6455 §5.2), as a server sends it."""
    data = payload.encode()
    size = len(data)
    if size < 126:
        header = bytes((0x80 | TEXT_OPCODE, size))
    elif size < 1 << 16:
        header = bytes((0x80 | TEXT_OPCODE, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | TEXT_OPCODE, 127)) + size.to_bytes(8, "big")
    return header + data


def tenant_hint(values: list[bytes] | None) -> tuple[str | None, bool]:
    """`/ws?tenant=<id>`: (the tenant id, True); (None, True) without one; (None, False) when it is not one
    well-formed tenant id (given twice, too long, not a tenant id's characters). The query is a routing hint
    for nginx's tenant-affine hash (deploy/nginx.conf): the token in the auth frame still decides, and
    must be of this tenant (Connection closes 4001 otherwise)."""
    if not values:
        return None, True
    if len(values) != 1 or len(values[0]) > MAX_TENANT_HINT_BYTES:
        return None, False
    try:
        value = values[0].decode("ascii")
    except UnicodeDecodeError:
        return None, False
    return (value, True) if TENANT_ID_RE.fullmatch(value) else (None, False)


class SocketHandler(SecureHeaders, websocket.WebSocketHandler):
    conn: Connection | None = None
    api = {"GET": {"summary": "WebSocket: upgrade, then send {\"type\": \"auth\", \"token\": …} as the first frame",
                   "tags": ["realtime"], "status": 101, "errors": [400, 503]}}

    def check_origin(self, origin: str) -> bool:
        # Who may connect from where depends on the token (agent: same origin; visitor: the
        # tenant's allowed origins), so the Connection checks it once the auth frame arrives.
        return True

    _own_origin = ""

    def own_origin(self) -> str:
        return self._own_origin or f"{self.request.protocol}://{self.request.host}"

    async def get(self, *args, **kwargs):
        if any(name.lower() in TOKEN_QUERY_NAMES for name in self.request.query_arguments):
            self.set_status(400)
            self.finish_error(400, "token_in_url", "tokens are not accepted in URLs; send them in the auth frame")
            return
        if (self.request.headers.get("Upgrade", "").lower() != "websocket"
                or "upgrade" not in self.request.headers.get("Connection", "").lower()):
            # Tornado's own answer would be plain text; every route answers the JSON error shape.
            self.set_status(400)
            self.finish_error(400, "websocket_required", "this is the WebSocket endpoint: send an Upgrade request")
            return
        hub = self.settings["services"].hub
        if hub.draining:
            raise web.HTTPError(503)
        return await super().get(*args, **kwargs)

    def open(self) -> None:
        # Chat frames are small and come in bursts (message, session update, ack): without TCP_NODELAY,
        # Nagle's algorithm holds the next one until the peer's delayed ACK (~40 ms on Linux).
        self.set_nodelay(True)
        services = self.settings["services"]
        self._own_origin = f"{self.request.protocol}://{self.request.host}"
        hint, hint_ok = tenant_hint(self.request.query_arguments.get("tenant"))
        self.conn = Connection(self, services, services.hub, self.request.headers.get("Origin"), hint)
        self._release_handshake()
        if not hint_ok:
            self.conn.close(CLOSE_UNAUTHORIZED, "?tenant= must be one tenant id")

    def _release_handshake(self) -> None:
        """Drop what only the handshake needed: a socket lives for hours, and with 10,000 of them
        the request and response headers alone would be tens of megabytes.

        The suspended handshake coroutine (`WebSocketHandler.get`) still refers to the request's
        header object, so both header objects are emptied in place rather than replaced, by running
        `HTTPHeaders.__init__` on them again: that starts them over empty with whatever tables the
        installed Tornado keeps (6.4: `_dict` and `_as_list`; 6.6: `_as_list` and `_combined_cache`),
        so no private name of HTTPHeaders is written here and none can be missed (clearing `_dict`
        and `_as_list` by name left 6.6's `_combined_cache` full). The mapping's
        `clear()` would empty them too, but deleting key by key keeps each dict's allocated table.
        The response headers are reached through `RequestHandler._headers` (Tornado has no public
        accessor): tests/test_library_internals.py checks that it is still there and that both
        objects hold nothing after open()."""
        request = self.request
        for headers in (request.headers, getattr(self, "_headers", None)):
            if isinstance(headers, httputil.HTTPHeaders):
                httputil.HTTPHeaders.__init__(headers)
        request.arguments = request.query_arguments = request.body_arguments = request.files = {}
        request.body = b""
        self.path_args = self.open_args = ()
        self.path_kwargs = self.open_kwargs = {}

    def write_texts(self, payloads: list[str]) -> "Future[None]":
        """Text frames in one write to the stream: its Future (which fails with StreamClosedError
        once the socket is gone). Tornado's `write_message` makes a write, and a Task, per frame.

        The frames are plain RFC 6455 server frames (unmasked, uncompressed), which are valid on any
        connection this handler accepts: `get_compression_options` returns None, so Tornado never
        negotiates permessage-deflate (and even where it is negotiated, RFC 7692 lets a message go
        uncompressed, RSV1 clear). No private attribute is read: the protocol's `stream` is a public
        attribute of Tornado's WebSocketProtocol (checked by tests/test_library_internals.py); where
        it is missing, Tornado's own `write_message` is used, one frame at a time."""
        protocol = self.ws_connection
        if protocol is None or protocol.is_closing():
            raise websocket.WebSocketClosedError()
        stream = getattr(protocol, "stream", None)
        if stream is None:
            return [self.write_message(payload) for payload in payloads][-1]
        try:
            return stream.write(b"".join(map(text_frame, payloads)))
        except StreamClosedError:
            raise websocket.WebSocketClosedError() from None

    async def on_message(self, message) -> None:
        if self.conn is not None:
            await self.conn.on_frame(message)

    def on_pong(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.on_pong()

    def on_close(self) -> None:
        if self.conn is not None:
            self.settings["services"].spawn(self.conn.on_closed())
            # No handler <-> connection cycle left behind: reference counting frees a closed
            # socket's objects at once, without waiting for (and lengthening) a full collection.
            self.conn = None

    def write_error(self, status_code: int, **kwargs) -> None:
        code = {503: "unavailable", 405: "method_not_allowed"}.get(status_code, "bad_request" if status_code < 500
                                                                   else "internal_error")
        self.finish_error(status_code, code, "this worker is restarting; reconnect" if status_code == 503
                          else self._reason)

    def get_compression_options(self):
        return None  # per-message deflate costs memory per socket; frames are small

    def log_exception(self, typ, value, tb) -> None:
        # The path only: Tornado's own line carries the full URI (a query string may hold a token).
        if isinstance(value, web.HTTPError):
            return
        log.error("uncaught exception in %s %s", self.request.method, self.request.path, exc_info=(typ, value, tb))


routes = [route("/ws", SocketHandler)]
