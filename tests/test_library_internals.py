"""The libraries' internals the product relies on, one test each. A new version of Tornado,
aiomysql, redis-py or Python that moves one fails here with the attribute, the version, what
relies on it and what to do, instead of working half (as the handshake release did on Tornado 6.5+,
where `_dict` / `_as_list` were cleared by name and `_combined_cache` kept everything).

| internal | library | relied on by |
|---|---|---|
| `RequestHandler._headers` | Tornado | handlers/ws.py `_release_handshake` (frees the response headers) |
| `HTTPHeaders.__init__` resets all its state | Tornado | handlers/ws.py `_release_handshake` (frees both header objects) |
| `RequestHandler._reason` | Tornado | `write_error` of handlers/base.py, pages.py, ws.py (the error message) |
| `WebSocketProtocol.stream` (public, undocumented) | Tornado | handlers/ws.py `write_texts` (frames in one write) |
| `Connection._writer` / `._reader` | aiomysql | mysql_wire.py `WireConnection` (takes the socket over) |
| `StreamReader._buffer` | asyncio | mysql_wire.py (bytes aiomysql read past the handshake) |
| `server_status`, `encoding`, `client_flag`, `closed` (public, undocumented) | aiomysql | mysql_wire.py |
| `AbstractConnection._reader` / `._writer` | redis-py | redis_wire.py `RespConnection.open` (takes the socket over) |
| `make_connection`, `can_read(_destructive)`, `protocol` (public, undocumented) | redis-py | redis_wire.py |

Nothing else in callcenter/ reads a library's private attribute (`Row._mapping` of SQLAlchemy and
`namedtuple._replace` are public APIs despite the underscore). When a test here fails after an
upgrade: adapt the code it names (each has a fallback or a clear failure), run this module and the
suite on the new version, then raise that library's upper bound in setup.py. Until then the bound
keeps the tested version installed.
"""
from __future__ import annotations

import ast
import asyncio
import gc
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import aiomysql
import pytest
import redis
from packaging.requirements import Requirement
from tornado import httpclient, httputil, iostream, websocket
from tornado import version as tornado_version

from callcenter.bus import make_redis
from callcenter.handlers.ws import SocketHandler
from callcenter.mysql_wire import WireConnection
from callcenter.redis_wire import RespConnection
from callcenter.store import Store

from .helpers import wait_until

PYTHON = f"Python {sys.version.split()[0]}"
TORNADO = f"Tornado {tornado_version}"
AIOMYSQL = f"aiomysql {aiomysql.__version__}"
REDIS_PY = f"redis-py {redis.__version__}"
ROOT = Path(__file__).resolve().parents[1]


def moved(internal: str, where: str, relied_on_by: str, todo: str) -> str:
    """The failure message: what moved, in which version, who relies on it, what to do."""
    return (f"{internal} is gone or changed in {where}. {relied_on_by} relies on it. {todo} Until that is "
            f"done, keep the library below this version (setup.py install_requires; constraints.txt).")


# ---- Tornado: a real /ws handshake on the embedded backend ----------------------------------------

def footprint(obj) -> int:
    """Bytes of `obj`, its attributes and what they hold one and two levels down (the header
    objects' state: dicts of name -> str or list of str)."""
    state = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(obj, slot):
                state[slot] = getattr(obj, slot)
    size = sys.getsizeof(obj)
    for value in state.values():
        size += sys.getsizeof(value)
        if isinstance(value, dict):
            for key, item in value.items():
                size += sys.getsizeof(key) + sys.getsizeof(item)
                if isinstance(item, list):
                    size += sum(map(sys.getsizeof, item))
    return size


@dataclass
class Handshake:
    handler: SocketHandler
    request_headers: httputil.HTTPHeaders
    response_headers: object  # what RequestHandler._headers held (an HTTPHeaders, if Tornado still has it)
    response_items: dict  # the response headers' items before the release
    reason: object  # RequestHandler._reason at open() (the 101's reason phrase)
    footprint_before: dict


@pytest.fixture
def handshakes(monkeypatch) -> list[Handshake]:
    """Every socket whose handshake is released from now on, with its header objects as they were."""
    seen: list[Handshake] = []
    release = SocketHandler._release_handshake

    def recording(self) -> None:
        request_headers, response_headers = self.request.headers, getattr(self, "_headers", None)
        before = {"request": footprint(request_headers), "response": footprint(response_headers)}
        items = dict(response_headers) if isinstance(response_headers, httputil.HTTPHeaders) else {}
        reason = getattr(self, "_reason", None)
        release(self)
        seen.append(Handshake(self, request_headers, response_headers, items, reason, before))

    monkeypatch.setattr(SocketHandler, "_release_handshake", recording)
    return seen


async def open_socket(base_url: str, handshakes: list[Handshake]):
    """A /ws connection (not authenticated) and its server side."""
    url = base_url.replace("http://", "ws://") + "/ws"
    headers = {"Origin": base_url, "User-Agent": "library-internals-test " + "x" * 200, "Cookie": "a=" + "c" * 300}
    conn = await websocket.websocket_connect(httpclient.HTTPRequest(url, headers=headers))
    assert await wait_until(lambda: handshakes, timeout=5), "the server never opened the socket"
    return conn, handshakes[-1]


@pytest.mark.parametrize("backend", ["sqlite"])  # (the embedded default is enough)
@pytest.mark.gen_test(timeout=20)
async def test_tornado_keeps_a_handlers_response_headers_in__headers(backend, http_server, base_url, handshakes):
    conn, shake = await open_socket(base_url, handshakes)
    try:
        assert isinstance(shake.response_headers, httputil.HTTPHeaders) and "Sec-Websocket-Accept" in \
            shake.response_items, moved(
                "RequestHandler._headers (the response's HTTPHeaders)", TORNADO,
                "callcenter/handlers/ws.py SocketHandler._release_handshake (it empties the handshake's response "
                "headers, which every idle socket would otherwise keep)",
                "Find where this version keeps a handler's response headers and empty that object in "
                "_release_handshake (it skips them now, so only the request's are freed).")
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["sqlite"])  # (the embedded default is enough)
@pytest.mark.gen_test(timeout=20)
async def test_release_handshake_leaves_both_header_objects_empty(backend, http_server, base_url, handshakes):
    """What `_release_handshake` claims to free is freed: after open(), the request's and the
    response's header objects (the same objects: the handshake coroutine still refers to them)
    hold no more than a new, empty HTTPHeaders; before, they held the handshake's headers."""
    conn, shake = await open_socket(base_url, handshakes)
    try:
        handler = shake.handler
        empty = footprint(httputil.HTTPHeaders())
        assert handler.request.headers is shake.request_headers, "the request's header object was replaced"
        for name, headers in (("request", shake.request_headers), ("response", shake.response_headers)):
            assert shake.footprint_before[name] > empty + 500, f"the {name} headers held little to begin with"
            left = footprint(headers)
            state = getattr(headers, "__dict__", {})
            assert len(headers) == 0 and list(headers.get_all()) == [] and left <= empty, moved(
                f"HTTPHeaders.__init__ resetting all of an HTTPHeaders' state ({name} headers: {left} bytes "
                f"left, {empty} in a new one; state {state!r})", TORNADO,
                "callcenter/handlers/ws.py SocketHandler._release_handshake (it re-runs __init__ on the "
                "handshake's header objects to free them)",
                "Look at tornado/httputil.py HTTPHeaders for where it keeps what __init__ no longer resets, "
                "and empty that too.")
        assert handler.request.body == b"" and handler.request.arguments == {} and handler.request.files == {}
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["sqlite"])  # (the embedded default is enough)
@pytest.mark.gen_test(timeout=20)
async def test_tornado_keeps_the_status_reason_in__reason(backend, http_server, base_url, handshakes):
    conn, shake = await open_socket(base_url, handshakes)
    try:
        assert shake.reason == "Switching Protocols" and shake.handler.get_status() == 101, moved(
            "RequestHandler._reason (the status line's reason phrase)", TORNADO,
            "write_error in callcenter/handlers/base.py, pages.py and ws.py (the error's message; an "
            "AttributeError there would leave every error response without its JSON body)",
            "Use httputil.responses.get(status_code, 'Unknown') there instead.")
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["sqlite"])  # (the embedded default is enough)
@pytest.mark.gen_test(timeout=20)
async def test_write_texts_writes_frames_to_the_protocols_stream(backend, http_server, base_url, handshakes, monkeypatch):
    conn, shake = await open_socket(base_url, handshakes)
    try:
        handler = shake.handler
        stream = getattr(handler.ws_connection, "stream", None)
        assert isinstance(stream, iostream.BaseIOStream), moved(
            "WebSocketProtocol.stream (the upgraded connection's IOStream)", TORNADO,
            "callcenter/handlers/ws.py SocketHandler.write_texts (several frames in one write)",
            "Find the stream in the new WebSocketProtocol; meanwhile write_texts falls back to one "
            "write_message (and Task) per frame: the same frames, more CPU.")
        one_by_one = []
        monkeypatch.setattr(handler, "write_message", lambda *args, **kwargs: one_by_one.append(args))
        await handler.write_texts(["one", "two €", "x" * 70_000])
        assert [await conn.read_message() for _ in range(3)] == ["one", "two €", "x" * 70_000]
        assert not one_by_one, "write_texts fell back to write_message"
    finally:
        conn.close()


# ---- aiomysql and asyncio: what mysql_wire takes over ---------------------------------------------

@pytest.fixture
def connect_args(mysql_database_url):
    """aiomysql.connect() arguments as the send writer uses them."""
    return Store(mysql_database_url).driver_connect_args()


@pytest.mark.gen_test(timeout=30)
async def test_aiomysql_keeps_its_streams_in__writer_and__reader(connect_args):
    opened = await aiomysql.connect(**connect_args)
    try:
        writer, reader = getattr(opened, "_writer", None), getattr(opened, "_reader", None)
        assert isinstance(writer, asyncio.StreamWriter) and isinstance(reader, asyncio.StreamReader), moved(
            "aiomysql Connection._writer / _reader (asyncio streams)", AIOMYSQL,
            "callcenter/mysql_wire.py WireConnection (it takes the socket over after aiomysql's handshake; "
            "the send path fails with a RuntimeError naming this test until it is adapted)",
            "Find the transport in the new version and adapt WireConnection.__init__.")
        conn = WireConnection(opened)
        assert await conn.query("SELECT 1") == [[(1,)]]
        conn.close()
    finally:
        opened.close()


@pytest.mark.gen_test(timeout=30)
async def test_aiomysql_connection_attributes_mysql_wire_reads(connect_args):
    opened = await aiomysql.connect(**connect_args)
    try:
        read = {name: getattr(opened, name, None) for name in ("server_status", "encoding", "client_flag")}
        assert isinstance(read["server_status"], int) and read["encoding"] == "utf8" \
            and isinstance(read["client_flag"], int) and opened.closed is False, moved(
                f"aiomysql Connection.server_status / encoding / client_flag / closed (read: {read!r})", AIOMYSQL,
                "callcenter/mysql_wire.py WireConnection", "Adapt WireConnection to the new names.")
    finally:
        opened.close()
    assert opened.closed is True, moved("aiomysql Connection.closed after close()", AIOMYSQL,
                                        "callcenter/mysql_wire.py WireConnection.closed", "Adapt it.")


def test_asyncio_stream_reader_keeps_unread_bytes_in__buffer():
    loop = asyncio.new_event_loop()
    try:
        reader = asyncio.StreamReader(loop=loop)
        reader.feed_data(b"left over")
        assert isinstance(getattr(reader, "_buffer", None), bytearray) and reader._buffer == b"left over", moved(
            "asyncio.StreamReader._buffer (the bytes read from the socket and not consumed yet)", PYTHON,
            "callcenter/mysql_wire.py WireConnection (it carries over what aiomysql read past the handshake; "
            "redis-py reads it too)",
            "Find the new place, or refuse a connection with bytes pending after the handshake.")
    finally:
        loop.close()


# ---- redis-py: what redis_wire takes over ---------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_redis_py_keeps_a_connections_streams_in__reader_and__writer(redis_server_url):
    client = make_redis(redis_server_url)
    pool = client.connection_pool
    try:
        opener = pool.make_connection()
        await opener.connect()
        reader, writer = getattr(opener, "_reader", None), getattr(opener, "_writer", None)
        assert isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter), moved(
            "redis-py AbstractConnection._reader / _writer (asyncio streams)", REDIS_PY,
            "callcenter/redis_wire.py RespConnection.open (it takes the socket over after redis-py's handshake; "
            "the bus fails to connect with an error naming this test until it is adapted)",
            "Find the transport in the new version and adapt RespConnection.open.")
        pending = getattr(opener, "can_read", None) or getattr(opener, "can_read_destructive", None)
        assert pending is not None and await pending() is False, moved(
            "redis-py AbstractConnection.can_read / can_read_destructive", REDIS_PY,
            "callcenter/redis_wire.py RespConnection.open (nothing may be left over from the handshake)",
            "Use the new name for it.")
        assert str(getattr(opener, "protocol", None)) in ("2", "3", "None"), moved(
            "redis-py AbstractConnection.protocol", REDIS_PY, "callcenter/redis_wire.py RespConnection.open",
            "Read the negotiated RESP version from the new place.")

        # The hand-over: with both set to None, redis-py neither closes the transport nor warns about it.
        transport = writer.transport
        opener._reader = opener._writer = None
        await opener.disconnect()
        with warnings.catch_warnings():  # what earlier tests left for the collector is not this test's
            warnings.simplefilter("ignore")
            gc.collect()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del opener, pending
            gc.collect()
        assert not transport.is_closing() and not [w for w in caught if issubclass(w.category, ResourceWarning)], \
            moved("redis-py leaving a connection alone whose _reader / _writer are None", REDIS_PY,
                  "callcenter/redis_wire.py RespConnection.open (the transport is its own after the hand-over)",
                  "Find how the new version lets go of a connection's socket.")
        transport.close()

        conn = await RespConnection.open(pool, connect_timeout_secs=5, command_timeout_secs=5)
        try:
            assert await conn.execute("PING") in (b"PONG", "PONG")
        finally:
            conn.close()
    finally:
        await client.aclose()


# ---- the bounds -------------------------------------------------------------------------------------

def test_every_pin_in_constraints_is_inside_setup_py_bounds():
    """constraints.txt is what CI tested; setup.py's ranges must hold it (an upper bound below a pin
    would make `pip install -e '.[test]' -c constraints.txt` fail), and the libraries whose
    internals are relied on have an upper bound."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    [requires] = [node.value for node in ast.walk(tree)
                  if isinstance(node, ast.keyword) and node.arg == "install_requires"]
    requirements = [Requirement(text) for text in ast.literal_eval(requires)]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    outside = [f"{req} (constraints.txt: {pins[key]})" for req in requirements
               if (key := req.name.lower().replace("_", "-")) in pins and not req.specifier.contains(pins[key])]
    assert not outside, f"pins outside setup.py's bounds: {outside}"
    bounded = {req.name.lower() for req in requirements if any(spec.operator == "<" for spec in req.specifier)}
    assert {"tornado", "redis", "hiredis", "aiomysql", "pymysql", "sqlalchemy"} <= bounded, bounded
