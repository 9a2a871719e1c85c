#!/usr/bin/env python3
"""Real-time delivery benchmark: visitor socket on worker A -> store -> Redis -> agent socket on worker B.

    python scripts/bench_realtime.py                      # everything, both targets (~10-15 min)
    python scripts/bench_realtime.py --rates 200,1000 --duration 5 --no-sustained --idle 2000   # quick
    python scripts/bench_realtime.py --target callcenter --only idle --idle 10000
    python scripts/bench_realtime.py --only connect --connects 5000 --connect-tenants 100

What it does, per target (`callcenter`, the product; `socketio`, the minimal
python-socketio + AsyncRedisManager relay of scripts/bench/socketio_server.py;
with --target all or bare also `bare`, the bare-libraries floor of
scripts/bench/bare_server.py: two plain Tornado processes, one aiomysql INSERT
with autocommit and one redis-py PUBLISH per message, no product logic, speaking
the product's frames, in a MariaDB database of its own):

1. Setup. callcenter: a uniquely named MariaDB database (`callcenter migrate`),
   one tenant with --agents agents and the sessions (visitor tokens), a unique
   Redis key prefix, two `callcenter serve` workers A and B on free loopback
   ports. socketio: two server processes A and B sharing one Redis channel.
2. Fixed rates (--rates, --duration s each): --sessions visitor sockets on A,
   --agents agent sockets on B (every agent socket of the tenant gets every
   message). Visitors send `chat.message.send` open-loop: message i is due at
   t0 + i/rate, round-robin over the sessions, whatever the acks do. Its text
   carries that due time; the latency is (time the agent socket has the
   chat.message.new) - (due time), so a late sender counts against the result
   (no coordinated omission) and the sender's own lag is reported beside it.
   Per agent socket and session the seqs received must be exactly the seqs the
   acks announced, once each, in order: lost / duplicated / reordered counts.
   callcenter: the number of rows in `messages` must equal the acks at the end.
   `lost` = acknowledged (so stored) but never delivered to an agent socket;
   `unacked` = no ack within the drain window. Overload guard: once the oldest
   unacknowledged send is --abort-backlog s old (default 5), or more than 2 s
   worth of sends are unacknowledged, the run stops
   sending and is reported as overloaded (its backlog would take minutes to
   drain and spoil the next run); the next run waits for the backlog to clear.
3. Sustained (--sustained-rates ramp, --sustained-duration s each): the
   highest rate with p99 < 100 ms, nothing lost, duplicated, reordered or
   refused; then --bisect steps between the last pass and the first failure.
   Sessions grow with the rate (max(--sessions, rate / --per-session-rate)) so
   that no visitor socket goes past the product's per-socket frame limit
   (Config.ws_frames_per_sec, 20/s by default), which a real visitor never reaches.
4. Idle (--idle N): a fresh worker, N authenticated idle visitor sockets opened
   from --idle-procs client processes; VmRSS of the worker before and after ->
   KB per socket; meanwhile GET /healthz (a new TCP connection each time) and an
   application ping round trip over a WebSocket (the product's `ping` frame, the
   Socket.IO `ping` event with its ack) are probed --probe-hz times a second.
5. Connect burst (--only connect, not part of the default run): a fresh worker, --connects visitor
   sessions over --connect-tenants tenants (each with --connect-missed + 1 messages) and --connect-agents
   agents per tenant; every socket opened at once from --connect-procs processes, authenticated and
   resumed (done once auth.ok and the missed messages are in): connects/s and the worker's CPU ms per
   connect. --profile-worker PATH runs that worker under cProfile.

The load generators run in their own processes (--sender-procs for visitors,
one per agent socket), never in a server's. They share the 2 cores with the
servers, so their WebSocket client is a minimal one of their own (RawWS: a raw
asyncio.Protocol, frames parsed from a buffer and handed over synchronously,
masked frames written at once, TCP_NODELAY, no compression), the same for both
targets, to keep their CPU small; it is reported as "load gen" in the CPU column.
Everything started here is stopped by PID at the end; the database is dropped
and the Redis keys are deleted.
Results: Markdown tables on stdout, and all numbers as JSON with --json PATH.
"""
from __future__ import annotations

import argparse
import array
import asyncio
import base64
import collections
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import ScratchDatabase, ServeProcess, free_port, mysql_admin, serve_argv  # noqa: E402

MYSQL_HOST, MYSQL_PORT, MYSQL_USER = "127.0.0.1", 3306, "root"
MYSQL_URL = f"mysql+aiomysql://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}"
REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_SECS = 30.0
SUSTAINED_P99_LIMIT_MS = 100.0


# ============================================================================ helpers

def pct(values, q: float) -> float | None:
    """The q-quantile (0..1) of values by nearest rank; None when empty."""
    if not values:
        return None
    data = sorted(values)
    k = max(0, min(len(data) - 1, math.ceil(q * len(data)) - 1))
    return data[k]


def summary_ms(values) -> dict:
    data = sorted(values)
    if not data:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "p999": None, "max": None, "mean": None}

    def q(p):
        return data[max(0, min(len(data) - 1, math.ceil(p * len(data)) - 1))] * 1000
    return {"n": len(data), "p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "p999": q(0.999),
            "max": data[-1] * 1000, "mean": sum(data) / len(data) * 1000}


def vmrss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def find_pids(name: str) -> list[int]:
    """Read-only scan of /proc for processes whose comm is `name` (MariaDB, Redis: for CPU figures)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        out.append(int(entry))
            except OSError:
                pass
    return out


class CpuMeter:
    """CPU % of named processes between two snapshots (100 % = one core)."""

    def __init__(self, pids: dict[str, list[int]]):
        self.pids = pids
        self.t0 = None
        self.s0 = {}

    def _snap(self) -> dict[str, int]:
        snap = {name: sum(t for t in (cpu_ticks(p) for p in pids) if t is not None)
                for name, pids in self.pids.items()}
        snap["machine"] = machine_busy_ticks()
        return snap

    def start(self) -> None:
        self.t0, self.s0 = time.monotonic(), self._snap()

    def stop(self) -> dict[str, float]:
        """Per process group, plus `machine` (all cores busy) and `others` (what is not ours: other
        users of this machine; MariaDB and Redis count as ours even when others use them too)."""
        elapsed = time.monotonic() - self.t0
        s1 = self._snap()
        hz = os.sysconf("SC_CLK_TCK")
        out = {name: round((s1[name] - self.s0.get(name, 0)) / hz / elapsed * 100, 1) for name in s1}
        out["others"] = round(max(0.0, out["machine"] - sum(v for k, v in out.items() if k != "machine")), 1)
        return out


def machine_busy_ticks() -> int:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait (guest time is inside user)


def machine_busy_pct(window: float = 2.0) -> float:
    t0 = machine_busy_ticks()
    time.sleep(window)
    return (machine_busy_ticks() - t0) / os.sysconf("SC_CLK_TCK") / window * 100


QUIET = {"max_wait": 0.0, "threshold": 30.0}


def wait_quiet(label: str) -> float:
    """With --quiet-wait: wait (up to that long) until the whole machine is below --quiet-threshold % CPU
    (our own servers and clients are idle between runs); returns the last reading."""
    busy = machine_busy_pct(1.0)
    if QUIET["max_wait"] <= 0 or busy < QUIET["threshold"]:
        return round(busy, 1)
    deadline = time.monotonic() + QUIET["max_wait"]
    print(f"  waiting for a quiet machine before {label} (busy {busy:.0f}%)", flush=True)
    while busy >= QUIET["threshold"] and time.monotonic() < deadline:
        busy = machine_busy_pct(2.0)
    print(f"  ... busy {busy:.0f}%: going", flush=True)
    return round(busy, 1)


class Server(ServeProcess):
    """One server process we started (tests/harness.py's ServeProcess: waits for /healthz, stopped by its
    PID only): `argv` on `port`, run from the repository root, its output in `logdir`/NAME.log."""

    def __init__(self, name: str, argv: list[str], env: dict, logdir: Path, port: int):
        super().__init__(env, logdir / f"{name}.log", port=port, argv=argv, cwd=ROOT,
                         start_timeout=START_TIMEOUT_SECS, stop_timeout=20)
        self.name = name


# ============================================================================ minimal WebSocket client

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OK_CLOSE_CODES = (1000, 1001, 1005)


class ConnectionClosed(Exception):
    """The WebSocket is closed (named like websockets' exceptions: a socket's end is counted under the name)."""


class ConnectionClosedOK(ConnectionClosed):
    """Closed by a close frame with code 1000, 1001 or none (1005)."""


class ConnectionClosedError(ConnectionClosed):
    """Closed any other way: another close code, the TCP connection ended without a close frame, a protocol error."""


def _drop(_text: str) -> None:
    pass


class RawWS(asyncio.Protocol):
    """The load generator's WebSocket client (RFC 6455), a raw asyncio.Protocol kept minimal so that the
    load generator's CPU stays small next to the servers it measures on the same machine.

    Text messages only; no compression, extensions or subprotocols. The server's frames are parsed from one
    bytearray in data_received and each text message goes synchronously to on_message(text): no task,
    future or queue per message. send(text) writes one masked frame at once (nothing to await; the socket
    has TCP_NODELAY, as in browsers). Until listen() sets the handlers, messages queue for `await recv()`
    (the auth handshake). A ping is answered with a pong, a close frame with a close frame; fragmented text
    messages are reassembled; binary frames and masked server frames are protocol errors (close 1003/1002).
    close_code: None while open, then the peer's close code (1005: none given), 1006 when the TCP
    connection ended without a close frame. on_close(exc) is called once: exc None after a clean close
    (OK_CLOSE_CODES), else a ConnectionClosedError, or the exception on_message raised (later messages are
    then dropped, as behind a dead reader task)."""

    def __init__(self, host: str, port: int, path: str):
        self._key = base64.b64encode(os.urandom(16))
        self._request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key.decode()}\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self._lost: asyncio.Future = asyncio.get_running_loop().create_future()
        self._open = False
        self.close_code: int | None = None
        self.close_reason = ""
        self._close_sent = False
        self.on_message = None
        self.on_close = None
        self._told = False
        self._end: ConnectionClosed | None = None
        self._buf = bytearray()
        self._frag: list[bytes] | None = None
        self._queue: collections.deque = collections.deque()
        self._waiter: asyncio.Future | None = None

    # ---------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self._request)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost during the WebSocket handshake: {exc}"))
        if self.close_code is None:
            self.close_code = 1006
        self._finish(ConnectionClosedError("no close frame received or sent" + (f": {exc}" if exc else "")))
        if not self._lost.done():
            self._lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._open:
            if not self._handshake():
                return
        buf_len = len(buf)
        pos = 0
        try:
            while buf_len - pos >= 2 and self._end is None:
                b0 = buf[pos]
                length = buf[pos + 1]
                if length < 126:
                    start = pos + 2
                elif length == 126:
                    if buf_len - pos < 4:
                        break
                    length = (buf[pos + 2] << 8) | buf[pos + 3]
                    start = pos + 4
                elif length == 127:
                    if buf_len - pos < 10:
                        break
                    length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                    start = pos + 10
                else:  # the mask bit: a server must not mask its frames
                    self._protocol_error(1002, "masked frame from the server")
                    break
                end = start + length
                if end > buf_len:
                    break
                pos = end
                if b0 == 0x81:  # FIN, text, no RSV bits: the hot path
                    self._deliver(buf[start:end].decode())
                else:
                    self._other_frame(b0, bytes(buf[start:end]))
        except UnicodeDecodeError:
            self._protocol_error(1007, "invalid UTF-8 in a text message")
        if self._end is not None:
            buf.clear()
        elif pos:
            del buf[:pos]

    # ---------------------------------------------------------------- internals

    def _handshake(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > 65536:
                self._handshake_failed("response headers over 64 KiB")
            return False
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[:end + 4]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = lines[0].split(" ", 2)
        accept = base64.b64encode(hashlib.sha1(self._key + WS_GUID).digest()).decode()
        if len(status) < 2 or status[1] != "101":
            self._handshake_failed(f"server answered {lines[0]!r}, not 101 Switching Protocols")
        elif headers.get("upgrade", "").lower() != "websocket":
            self._handshake_failed(f"Upgrade: {headers.get('upgrade')!r}")
        elif headers.get("sec-websocket-accept") != accept:
            self._handshake_failed(f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}, expected {accept}")
        elif headers.get("sec-websocket-extensions"):
            self._handshake_failed(f"unrequested extension {headers['sec-websocket-extensions']!r}")
        else:
            self._open = True
            if not self.opened.done():
                self.opened.set_result(None)
            return True
        return False

    def _handshake_failed(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"WebSocket handshake failed: {why}"))
        self.transport.abort()

    def _deliver(self, text: str) -> None:
        on_message = self.on_message
        if on_message is None:
            self._queue.append(text)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)
            return
        try:
            on_message(text)
        except Exception as exc:  # the consumer is gone: later messages are dropped
            self.on_message = _drop
            self._tell(exc)

    def _other_frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if b0 & 0x70:
            self._protocol_error(1002, "reserved bits set (no extension was negotiated)")
        elif opcode == 0x9:  # ping
            if not self.transport.is_closing():
                self.transport.write(self._frame(0x8A, payload))
        elif opcode == 0xA:  # pong
            pass
        elif opcode == 0x8:  # close
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_code, self.close_reason = code, payload[2:].decode(errors="replace")
            if not self._close_sent and not self.transport.is_closing():
                self._close_sent = True
                self.transport.write(self._frame(0x88, payload[:2]))
            self.transport.close()
            kind = ConnectionClosedOK if code in OK_CLOSE_CODES else ConnectionClosedError
            self._finish(kind(f"received {code} ({self.close_reason})"))
        elif opcode == 0x1 and self._frag is None:  # first fragment of a text message (FIN unset)
            self._frag = [payload]
        elif opcode == 0x0 and self._frag is not None:  # continuation
            self._frag.append(payload)
            if b0 & 0x80:
                text, self._frag = b"".join(self._frag).decode(), None
                self._deliver(text)
        elif opcode == 0x2:
            self._protocol_error(1003, "unexpected binary frame")
        else:
            self._protocol_error(1002, f"unexpected frame opcode {opcode:#x}")

    def _protocol_error(self, code: int, why: str) -> None:
        self.close_code, self.close_reason = code, why
        if not self._close_sent and not self.transport.is_closing():
            self._close_sent = True
            self.transport.write(self._frame(0x88, code.to_bytes(2, "big") + why.encode()[:120]))
        self.transport.close()
        self._finish(ConnectionClosedError(f"sent {code} ({why})"))

    def _finish(self, end: ConnectionClosed) -> None:
        if self._end is not None:
            return
        self._end = end
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._tell(None if isinstance(end, ConnectionClosedOK) else end)

    def _tell(self, exc: BaseException | None) -> None:
        if self.on_close is not None and not self._told:
            self._told = True
            self.on_close(exc)

    @staticmethod
    def _frame(b0: int, payload: bytes) -> bytes:
        """One client frame: masked (RFC 6455 5.3) with a fresh key, XORed as one big integer."""
        n = len(payload)
        mask = os.urandom(4)
        if n < 126:
            head = bytes((b0, 0x80 | n))
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0xFE, n)
        else:
            head = struct.pack("!BBQ", b0, 0xFF, n)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        return head + mask + masked

    # ---------------------------------------------------------------- API

    def send(self, text: str) -> None:
        """Write one text frame now (no await); ConnectionClosed once the socket is closed or closing."""
        if self._end is not None or self.transport.is_closing():
            raise ConnectionClosedError(str(self._end) if self._end else "the connection is closing")
        self.transport.write(self._frame(0x81, text.encode()))

    async def recv(self) -> str:
        """The next text message (before listen() only); ConnectionClosed once closed and nothing is left."""
        while not self._queue:
            if self._end is not None:
                raise type(self._end)(*self._end.args)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def listen(self, on_message, on_close=None) -> None:
        """From now on hand every message to on_message(text) (queued ones first), and the end to on_close."""
        self.on_close = on_close
        self.on_message = on_message
        while self._queue and self.on_message is on_message:
            self._deliver(self._queue.popleft())
        if self._end is not None:
            self._tell(None if isinstance(self._end, ConnectionClosedOK) else self._end)

    async def close(self, code: int = 1000, timeout: float = 2.0) -> None:
        """Closing handshake: send a close frame, wait up to timeout for the server to end the connection."""
        if not self._close_sent and self._end is None and not self.transport.is_closing():
            self._close_sent = True
            self.transport.write(self._frame(0x88, code.to_bytes(2, "big")))
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), timeout)
        except asyncio.TimeoutError:
            self.transport.abort()


async def ws_connect(url: str, timeout: float = 30.0) -> RawWS:
    """TCP connect plus the HTTP/1.1 Upgrade handshake (101 and Sec-WebSocket-Accept checked)."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()

    async def connect() -> RawWS:
        transport, ws = await loop.create_connection(lambda: RawWS(host, port, path), host, port)
        try:
            await ws.opened
        except BaseException:
            transport.abort()
            raise
        return ws
    return await asyncio.wait_for(connect(), timeout)


# ============================================================================ wire protocols (client side)

class ProductProto:
    """The product's /ws frames (DESIGN.md): auth frame first, JSON {type, data}."""
    name = "callcenter"

    @staticmethod
    def ws_url(base: str) -> str:
        return base.replace("http://", "ws://") + "/ws"

    @staticmethod
    async def open(base: str, token: str):
        ws = await ws_connect(ProductProto.ws_url(base), 30)
        try:
            ws.send(json.dumps({"type": "auth", "token": token}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if frame.get("type") == "auth.ok":
                    return ws
                if frame.get("type") == "error":
                    raise ConnectionError(f"auth failed: {frame}")
        except BaseException:
            ws.transport.abort()
            raise

    @staticmethod
    async def open_resumed(base: str, token: str, resume: dict, replays: int, tenant: str = ""):
        """Open, authenticate with `resume`, and wait for auth.ok and the `replays` messages it should replay."""
        query = f"?tenant={urllib.parse.quote(tenant)}" if tenant else ""
        ws = await ws_connect(ProductProto.ws_url(base) + query, 30)
        try:
            ws.send(json.dumps({"type": "auth", "token": token, "resume": resume}))
            authed, replayed = False, 0
            while not authed or replayed < replays:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                kind = frame.get("type")
                if kind == "auth.ok":
                    authed = True
                elif kind == "chat.message.new" and frame["data"].get("replayed"):
                    replayed += 1
                elif kind == "error":
                    raise ConnectionError(f"auth failed: {frame}")
            return ws
        except BaseException:
            ws.transport.abort()
            raise

    @staticmethod
    def send_frame(body: str, cmid: str, ack_id: int) -> str:
        return json.dumps({"type": "chat.message.send", "data": {"message": body, "client_msg_id": cmid}})

    @staticmethod
    def ping_frame(ack_id: int) -> str:
        return json.dumps({"type": "ping", "data": {"t": ack_id}})

    @staticmethod
    def parse(raw: str):
        """-> (kind, payload): ack {client_msg_id, seq}, new {message}, error {code, ref}, pong, other."""
        frame = json.loads(raw)
        t = frame.get("type")
        data = frame.get("data") or {}
        if t == "chat.message.ack":
            return "ack", data
        if t == "chat.message.new":
            return "new", data["message"]
        if t == "error":
            return "error", data
        if t == "pong":
            return "pong", data
        return "other", None


class SocketIOProto:
    """Engine.IO 4 / Socket.IO 5 over a plain WebSocket: the same client (RawWS) as for the product."""
    name = "socketio"

    @staticmethod
    def ws_url(base: str) -> str:
        return base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"

    @staticmethod
    async def open(base: str, token: str):
        ws = await ws_connect(SocketIOProto.ws_url(base), 30)
        try:
            first = await asyncio.wait_for(ws.recv(), 30)
            if not first.startswith("0"):
                raise ConnectionError(f"unexpected engine.io open packet {first[:80]!r}")
            ws.send("40" + json.dumps({"token": token}))
            while True:
                raw = await asyncio.wait_for(ws.recv(), 30)
                if raw.startswith("40"):
                    return ws
                if raw.startswith("44"):
                    raise ConnectionError(f"connect refused: {raw[:200]}")
                if raw == "2":
                    ws.send("3")
        except BaseException:
            ws.transport.abort()
            raise

    @staticmethod
    async def open_resumed(base: str, token: str, resume: dict, replays: int, tenant: str = ""):
        """Socket.IO has no resume: a plain authenticated connect."""
        return await SocketIOProto.open(base, token)

    @staticmethod
    def send_frame(body: str, cmid: str, ack_id: int) -> str:
        return "42" + str(ack_id) + json.dumps(["send", {"message": body, "client_msg_id": cmid}])

    @staticmethod
    def ping_frame(ack_id: int) -> str:
        return "42" + str(ack_id) + json.dumps(["ping", {"t": ack_id}])

    @staticmethod
    def parse(raw: str):
        if raw == "2":
            return "eio-ping", None
        if raw.startswith("43"):
            i = 2
            while i < len(raw) and raw[i].isdigit():
                i += 1
            payload = json.loads(raw[i:])[0]
            if "seq" in payload:
                return "ack", payload
            if "server_time" in payload:
                return "pong", payload
            return "error", {"code": payload.get("error", "error")}
        if raw.startswith("42"):
            event, data = json.loads(raw[2:])[:2]
            if event == "message":
                return "new", data["message"]
            return "other", None
        return "other", None


# The bare-libraries floor speaks the product's frames.
PROTOS = {"callcenter": ProductProto, "socketio": SocketIOProto, "bare": ProductProto}


def _limit_fds() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ============================================================================ sender process (visitor sockets)

# Up to this many sockets a sender process waits with select(2), whose timeout has microseconds:
# epoll's has milliseconds, so asyncio rounds every sleep up to the next millisecond and sends go
# out in 1 ms clumps, each up to 1 ms late (the lateness counts in every latency measured, since
# latency runs from the due time). select scans every socket on each wait: not for many sockets.
PRECISE_SENDER_MAX_SOCKETS = 256


def sender_process(pipe, proto_name: str, base: str, sessions: list[tuple[str, str]]) -> None:
    _limit_fds()
    precise = len(sessions) <= PRECISE_SENDER_MAX_SOCKETS
    try:
        with asyncio.Runner(loop_factory=(lambda: asyncio.SelectorEventLoop(selectors.SelectSelector()))
                            if precise else None) as runner:
            runner.run(_sender(pipe, PROTOS[proto_name], base, sessions))
    except Exception:
        pipe.send(("crash", traceback.format_exc()))


async def _sender(pipe, proto, base: str, sessions: list[tuple[str, str]]) -> None:
    loop = asyncio.get_running_loop()
    socks = []
    pending: dict[str, tuple[int, float]] = {}  # client_msg_id -> (phase, due time)
    acks: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    ack_lat: dict[int, array.array] = defaultdict(lambda: array.array("d"))
    errors: dict[int, Counter] = defaultdict(Counter)
    echoes: Counter = Counter()
    closed = Counter()

    def listen(ws, sid: str) -> None:
        """Hand the socket's messages to on_message, called from its data_received (no task per message)."""
        parse = proto.parse

        def on_message(raw: str) -> None:
            kind, data = parse(raw)
            if kind == "ack":
                entry = pending.pop(data.get("client_msg_id"), None)
                if entry is not None:
                    phase, due = entry
                    acks[phase][sid].append(data["seq"])
                    ack_lat[phase].append(time.time() - due)
            elif kind == "new":
                echoes[sid] += 1
            elif kind == "error":
                entry = pending.pop(data.get("ref"), None)
                errors[entry[0] if entry else -1][data.get("code", "?")] += 1
            elif kind == "eio-ping":
                ws.send("3")

        def on_close(exc) -> None:  # a dropped socket is a result, not a crash
            if exc is not None:
                closed[type(exc).__name__] += 1
            else:
                closed[f"closed by server {ws.close_code} {ws.close_reason}".strip()] += 1
        ws.listen(on_message, on_close)

    sem = asyncio.Semaphore(50)

    async def open_one(sid, token):
        async with sem:
            ws = await proto.open(base, token)
        listen(ws, sid)
        return ws, sid

    t_connect = time.monotonic()
    tokens = dict(sessions)
    socks = list(await asyncio.gather(*(open_one(sid, tok) for sid, tok in sessions)))
    pipe.send(("ready", len(socks), time.monotonic() - t_connect))

    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd[0] == "close":
            for ws, _ in socks:
                ws.transport.abort()
            pipe.send(("closed",))
            return
        if cmd[0] == "settle":
            deadline = time.monotonic() + cmd[1]
            while pending and time.monotonic() < deadline:
                if all(ws.close_code is not None for ws, _ in socks):
                    break
                await asyncio.sleep(0.1)
            # An overloaded server may have closed sockets (its heartbeat times out behind queued frames):
            # open them again, as a widget would, so that the next run starts with all of them.
            reopened = 0
            for k, (ws, sid) in enumerate(socks):
                if ws.close_code is not None:
                    socks[k] = await open_one(sid, tokens[sid])
                    reopened += 1
            pipe.send(("settled", len(pending), reopened))
            continue
        _, phase, t0, rate, total, n_sessions, drain_secs, abort_backlog = cmd
        active = socks[:n_sessions]
        lags = array.array("d")
        order: collections.deque = collections.deque()  # (due, cmid) in send order: finds the oldest unacked
        send_failed = 0
        aborted_at = None
        ack_id = 0
        i = 0
        while i < total:
            now = time.time()
            due_n = min(total, int((now - t0) * rate) + 1) if now >= t0 else 0
            while i < due_n:
                due = t0 + i / rate
                ws, sid = active[i % len(active)]
                cmid = f"p{phase}-{sid[:8]}-{i}"
                ack_id += 1
                i += 1
                if ws.close_code is not None:
                    send_failed += 1
                    continue
                pending[cmid] = (phase, due)
                order.append((due, cmid))
                try:
                    ws.send(proto.send_frame(f"bench {phase} {i - 1} t{due:.6f}", cmid, ack_id))
                except ConnectionClosed:
                    pending.pop(cmid, None)
                    send_failed += 1
                    continue
                lags.append(time.time() - due)
            while order and order[0][1] not in pending:
                order.popleft()
            if abort_backlog and order and (time.time() - order[0][0] > abort_backlog
                                            or len(order) > rate * BACKLOG_SENDS_SECS):
                # Overloaded: the oldest send has waited longer than abort_backlog for its ack. Sending on
                # only piles up a backlog that takes minutes to drain (and spoils the next run).
                aborted_at = time.time() - t0
                break
            if i < total:
                delay = t0 + i / rate - time.time()
                await asyncio.sleep(delay if delay > 0 else 0)
        send_end = time.time()
        deadline = time.monotonic() + drain_secs
        while any(p == phase for p, _ in pending.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        unacked = sum(1 for p, _ in pending.values() if p == phase)
        pipe.send(("done", {
            "sent": i - send_failed, "scheduled": total, "send_failed": send_failed, "aborted_at": aborted_at,
            "send_secs": send_end - t0, "acked": sum(len(v) for v in acks[phase].values()),
            "unacked": unacked, "errors": dict(errors[phase]), "acks": {k: list(v) for k, v in acks[phase].items()},
            "lags": lags.tobytes(), "ack_lat": ack_lat[phase].tobytes(), "closed": dict(closed),
        }))


# ============================================================================ receiver process (one agent socket)

def receiver_process(pipe, proto_name: str, base: str, token: str) -> None:
    try:
        asyncio.run(_receiver(pipe, PROTOS[proto_name], base, token))
    except Exception:
        pipe.send(("crash", traceback.format_exc()))


async def _receiver(pipe, proto, base: str, token: str) -> None:
    loop = asyncio.get_running_loop()
    lat: dict[int, array.array] = defaultdict(lambda: array.array("d"))
    seqs: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    count: Counter = Counter()
    state = {"closed": None}
    ws = await proto.open(base, token)
    parse = proto.parse

    def on_message(raw: str) -> None:  # in the socket's data_received, once per message
        now = time.time()
        kind, msg = parse(raw)
        if kind == "new":
            parts = (msg.get("body") or "").split(" ")
            if len(parts) != 4 or parts[0] != "bench":
                return
            phase = int(parts[1])
            lat[phase].append(now - float(parts[3][1:]))
            seqs[phase][msg["session_id"]].append(msg["seq"])
            count[phase] += 1
        elif kind == "eio-ping":
            ws.send("3")

    def on_close(exc) -> None:
        state["closed"] = f"closed {ws.close_code}" if exc is None else f"{type(exc).__name__}: {exc}"

    ws.listen(on_message, on_close)
    pipe.send(("ready",))
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd[0] == "close":
            ws.transport.abort()
            pipe.send(("closed",))
            return
        if cmd[0] == "count":
            pipe.send(("count", count[cmd[1]], state["closed"]))
            continue
        if cmd[0] == "stats":
            phase, expected = cmd[1], cmd[2]
            lost = dup = reordered = unexpected = 0
            examples = []
            got = seqs[phase]
            for sid in set(expected) | set(got):
                exp, rec = expected.get(sid, []), got.get(sid, [])
                sexp, srec = set(exp), set(rec)
                lost += len(sexp - srec)
                if sexp - srec and len(examples) < 5:
                    examples.append({"session": sid, "missing": sorted(sexp - srec)[:10], "acked": exp[-12:],
                                     "received": rec[-12:]})
                unexpected += len(srec - sexp)
                dup += len(rec) - len(srec)
                reordered += sum(1 for a, b in zip(rec, rec[1:]) if b < a)
            pipe.send(("stats", {"lost_examples": examples, "lost": lost, "dup": dup, "reordered": reordered, "unexpected": unexpected,
                                 "received": count[phase], "lat": lat[phase].tobytes(), "closed": state["closed"]}))


# ============================================================================ idle client process

def idle_process(pipe, proto_name: str, base: str, tokens: list[str], concurrency: int) -> None:
    _limit_fds()
    try:
        asyncio.run(_idle(pipe, PROTOS[proto_name], base, tokens, concurrency))
    except Exception:
        pipe.send(("crash", traceback.format_exc()))


async def _idle(pipe, proto, base: str, tokens: list[str], concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(concurrency)
    socks = []
    dropped = Counter()

    def hold(ws) -> None:
        def on_message(raw: str) -> None:
            if raw == "2":
                ws.send("3")

        def on_close(exc) -> None:
            dropped[f"closed {ws.close_code}" if exc is None else type(exc).__name__] += 1
        ws.listen(on_message, on_close)

    async def one(token):
        async with sem:
            ws = await proto.open(base, token)
        socks.append(ws)
        hold(ws)

    t0 = time.monotonic()
    results = await asyncio.gather(*(one(t) for t in tokens), return_exceptions=True)
    fails = [r for r in results if isinstance(r, BaseException)]
    pipe.send(("connected", len(socks), len(fails), time.monotonic() - t0,
               [f"{type(f).__name__}: {f}"[:200] for f in fails[:3]]))
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd[0] == "status":
            pipe.send(("status", len(socks) - sum(dropped.values()), dict(dropped)))
        elif cmd[0] == "close":
            for ws in socks:
                ws.transport.abort()
            pipe.send(("closed",))
            return


def connect_process(pipe, proto_name: str, base: str, items: list[tuple], concurrency: int) -> None:
    _limit_fds()
    try:
        asyncio.run(_connect_burst(pipe, PROTOS[proto_name], base, items, concurrency))
    except Exception:
        pipe.send(("crash", traceback.format_exc()))


async def _connect_burst(pipe, proto, base: str, items: list[tuple], concurrency: int) -> None:
    """Wait for "go", then open every socket of `items` ((token, resume, replays, tenant hint)) with at most
    `concurrency` in flight, each done once authenticated and its missed messages replayed; the sockets stay
    open (answering pings) until "close". Reports ("done", ok, failed, elapsed s, latencies s, errors)."""
    loop = asyncio.get_running_loop()
    socks = []
    latencies = []
    pipe.send(("ready",))
    cmd = await loop.run_in_executor(None, pipe.recv)
    if cmd[0] != "go":
        return
    sem = asyncio.Semaphore(concurrency)

    def hold(ws) -> None:
        def on_message(raw: str) -> None:
            if raw == "2":
                ws.send("3")
        ws.listen(on_message, lambda exc: None)

    async def one(token, resume, replays, tenant):
        async with sem:
            t = time.monotonic()
            ws = await proto.open_resumed(base, token, resume, replays, tenant)
            latencies.append(time.monotonic() - t)
        socks.append(ws)
        hold(ws)

    t0 = time.monotonic()
    results = await asyncio.gather(*(one(*item) for item in items), return_exceptions=True)
    elapsed = time.monotonic() - t0
    fails = [r for r in results if isinstance(r, BaseException)]
    pipe.send(("done", len(socks), len(fails), elapsed, latencies,
               [f"{type(f).__name__}: {f}"[:200] for f in fails[:3]]))
    cmd = await loop.run_in_executor(None, pipe.recv)
    for ws in socks:
        ws.transport.abort()
    pipe.send(("closed",))


# ============================================================================ targets

def mariadb_and_redis_pids() -> dict[str, list[int]]:
    return {"mariadb": find_pids("mariadbd") or find_pids("mysqld"), "redis": find_pids("redis-server")}


def drop_database(database: ScratchDatabase) -> None:
    try:
        database.drop()
    except Exception as exc:
        print(f"  could not drop {database.name}: {exc}", file=sys.stderr)


class ProductTarget:
    name = "callcenter"

    def __init__(self, args, logdir: Path):
        self.args = args
        self.logdir = logdir
        tag = uuid.uuid4().hex[:10]
        self.database = ScratchDatabase(MYSQL_URL, name=f"cc_bench_rt_{tag}")
        self.db_name, self.db_url = self.database.name, self.database.url
        self.prefix = f"ccbench-rt-{tag}:"
        self.env = {**os.environ, "CALLCENTER_DATABASE_URL": self.db_url, "CALLCENTER_REDIS_URL": REDIS_URL,
                    "CALLCENTER_REDIS_PREFIX": self.prefix, "CALLCENTER_SECRET_KEY": uuid.uuid4().hex * 2,
                    "CALLCENTER_DATA_DIR": str(logdir), "PYTHONUNBUFFERED": "1"}
        self.servers: list[Server] = []
        self.db_created = False
        self.sessions: list[tuple[str, str]] = []
        self.agent_tokens: list[str] = []
        self.idle_tokens: list[str] = []
        self.tenant_id = ""

    def infra_pids(self) -> dict[str, list[int]]:
        return mariadb_and_redis_pids()

    def setup(self, n_sessions: int, n_agents: int, n_idle: int) -> None:
        self.database.create()
        self.db_created = True
        subprocess.run([sys.executable, "-m", "callcenter.cli", "migrate"], env=self.env, cwd=str(ROOT), check=True,
                       stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        asyncio.run(self._make_data(n_sessions, n_agents, n_idle))
        print(f"  [{self.name}] database {self.db_name}: {n_sessions} + {n_idle + 1 if n_idle else 0} sessions, "
              f"{n_agents} agents in {time.monotonic() - t0:.1f}s", flush=True)

    async def _make_data(self, n_sessions: int, n_agents: int, n_idle: int) -> None:
        from callcenter.app import create_services
        from callcenter.config import Config
        from callcenter.security import hash_password

        config = Config(database_url=self.db_url, redis_url=REDIS_URL, redis_prefix=self.prefix,
                        secret_key=self.env["CALLCENTER_SECRET_KEY"], data_dir=self.logdir)
        services = create_services(config)
        store, signer = services.store, services.signer
        pw = hash_password("Bench-Password-1", rounds=4)
        sem = asyncio.Semaphore(16)

        async def session(tenant_id: str, i: int) -> tuple[str, str]:
            async with sem:
                row = await store.start_session(tenant_id, channel="web", customer_name=f"Visitor {i}",
                                                customer_email=f"v{i}@example.com")
            return row["id"], signer.visitor_token(row["id"], tenant_id, row["visitor_id"])

        try:
            self.tenant_id = f"bench-{uuid.uuid4().hex[:8]}"
            await store.create_tenant(self.tenant_id, "Bench tenant", [], {})
            for k in range(n_agents):
                row = await store.create_agent(self.tenant_id, f"agent{k}@bench.example", pw, f"Agent {k}", "agent")
                self.agent_tokens.append(signer.agent_token(row))
            self.sessions = list(await asyncio.gather(*(session(self.tenant_id, i) for i in range(n_sessions))))
            if n_idle:
                # The idle sockets' tenant: one big site with many visitors at once (the worst case for it).
                idle_tenant = f"bench-idle-{uuid.uuid4().hex[:8]}"
                await store.create_tenant(idle_tenant, "Bench idle tenant", [], {})
                made = await asyncio.gather(*(session(idle_tenant, i) for i in range(n_idle + 1)))
                self.idle_tokens = [tok for _, tok in made]
        finally:
            await services.close()

    def setup_connect(self, n_visitors: int, n_tenants: int, missed: int, agents_per_tenant: int,
                      agent_resume: int) -> None:
        """`n_visitors` sessions over `n_tenants` tenants, each with `missed` + 1 messages, and their sockets' auth
        (resume from seq 1: `missed` messages replayed); `agents_per_tenant` agents per tenant, each resuming
        `agent_resume` of its tenant's sessions the same way."""
        if not self.db_created:
            self.database.create()
            self.db_created = True
            subprocess.run([sys.executable, "-m", "callcenter.cli", "migrate"], env=self.env, cwd=str(ROOT),
                           check=True, stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        asyncio.run(self._make_connect_data(n_visitors, n_tenants, missed, agents_per_tenant, agent_resume))
        print(f"  [{self.name}] connect data: {n_visitors} sessions x {missed + 1} messages over {n_tenants} tenants, "
              f"{agents_per_tenant * n_tenants} agents in {time.monotonic() - t0:.1f}s", flush=True)

    async def _make_connect_data(self, n_visitors: int, n_tenants: int, missed: int, agents_per_tenant: int,
                                 agent_resume: int) -> None:
        from callcenter.app import create_services
        from callcenter.config import Config
        from callcenter.security import hash_password

        config = Config(database_url=self.db_url, redis_url=REDIS_URL, redis_prefix=self.prefix,
                        secret_key=self.env["CALLCENTER_SECRET_KEY"], data_dir=self.logdir)
        services = create_services(config)
        store, signer = services.store, services.signer
        pw = hash_password("Bench-Password-1", rounds=4)
        sem = asyncio.Semaphore(16)
        tenants = [f"bench-c{k}-{uuid.uuid4().hex[:6]}" for k in range(n_tenants)]

        async def session(tenant_id: str, i: int) -> tuple:
            async with sem:
                row = await store.start_session(tenant_id, channel="web", customer_name=f"Visitor {i}",
                                                customer_email=f"v{i}@example.com")
                for m in range(missed + 1):
                    await store.send_message(tenant_id, row["id"], sender_type="visitor", sender_id=row["visitor_id"],
                                             sender_name=f"Visitor {i}", body=f"message {m}", client_msg_id=f"c{m}")
            token = signer.visitor_token(row["id"], tenant_id, row["visitor_id"])
            return (token, {row["id"]: 1}, missed, tenant_id)

        try:
            for tenant_id in tenants:
                await store.create_tenant(tenant_id, "Bench connect tenant", [], {})
            visitors = list(await asyncio.gather(*(session(tenants[i % n_tenants], i) for i in range(n_visitors))))
            agents = []
            for k, tenant_id in enumerate(tenants):
                mine = [v for v in visitors if v[3] == tenant_id][:agent_resume]
                for j in range(agents_per_tenant):
                    row = await store.create_agent(tenant_id, f"agent{j}@c{k}.example", pw, f"Agent {j}", "agent")
                    resume = {sid: seq for v in mine for sid, seq in v[1].items()}
                    agents.append((signer.agent_token(row), resume, missed * len(resume), tenant_id))
            # Agents spread among the visitors, as a storm brings them back.
            step = max(1, len(visitors) // max(1, len(agents)))
            items = list(visitors)
            for n, agent in enumerate(agents):
                items.insert(min(len(items), n * (step + 1)), agent)
            self.connect_items = items
        finally:
            await services.close()

    def _worker(self, name: str) -> Server:
        port = free_port()
        return Server(name, serve_argv("--host", "127.0.0.1", "--port", str(port)), self.env, self.logdir, port)

    def start_pair(self) -> tuple[Server, Server]:
        a, b = self._worker(f"{self.name}-A").start(), self._worker(f"{self.name}-B").start()
        self.servers += [a, b]
        return a, b

    def start_idle_server(self) -> Server:
        if self.args.profile_worker:  # the idle / connect worker under cProfile (written when it stops)
            port = free_port()
            argv = serve_argv("--host", "127.0.0.1", "--port", str(port))
            argv[1:1] = ["-m", "cProfile", "-o", str(self.args.profile_worker)]
            c = Server(f"{self.name}-idle", argv, self.env, self.logdir, port).start()
        else:
            c = self._worker(f"{self.name}-idle").start()
        self.servers.append(c)
        return c

    def stored_messages(self) -> int | None:
        return mysql_admin(MYSQL_URL, "SELECT COUNT(*) FROM messages WHERE tenant_id=%s", (self.tenant_id,),
                           database=self.db_name)

    def teardown(self) -> None:
        for srv in self.servers:
            srv.stop()
        if self.db_created:
            drop_database(self.database)
        try:
            import redis
            r = redis.Redis.from_url(REDIS_URL)
            keys = list(r.scan_iter(match=self.prefix + "*", count=1000))
            for i in range(0, len(keys), 500):
                r.delete(*keys[i:i + 500])
            r.close()
        except Exception as exc:
            print(f"  could not delete Redis keys {self.prefix}*: {exc}", file=sys.stderr)


class SocketIOTarget:
    name = "socketio"

    def __init__(self, args, logdir: Path):
        self.args = args
        self.logdir = logdir
        tag = uuid.uuid4().hex[:10]
        self.channel = f"ccbench-sio-{tag}"
        self.secret = uuid.uuid4().hex * 2
        self.servers: list[Server] = []
        self.sessions: list[tuple[str, str]] = []
        self.agent_tokens: list[str] = []
        self.idle_tokens: list[str] = []
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def infra_pids(self) -> dict[str, list[int]]:
        return {"redis": find_pids("redis-server")}

    def setup(self, n_sessions: int, n_agents: int, n_idle: int) -> None:
        import jwt
        tenant = f"bench-{uuid.uuid4().hex[:8]}"

        def tok(claims):
            return jwt.encode({**claims, "exp": int(time.time()) + 86400}, self.secret, algorithm="HS256")
        self.agent_tokens = [tok({"typ": "agent", "sub": str(k), "tid": tenant}) for k in range(n_agents)]
        self.sessions = []
        for _ in range(n_sessions):
            sid = uuid.uuid4().hex
            self.sessions.append((sid, tok({"typ": "visitor", "sid": sid, "tid": tenant})))
        self.idle_tokens = [tok({"typ": "visitor", "sid": uuid.uuid4().hex, "tid": tenant + "-idle"})
                            for _ in range(n_idle + 1 if n_idle else 0)]

    def setup_connect(self, n_visitors: int, n_tenants: int, missed: int, agents_per_tenant: int,
                      agent_resume: int) -> None:
        """The same sockets as the product's (Socket.IO has no resume: a plain authenticated connect each)."""
        import jwt

        def tok(claims):
            return jwt.encode({**claims, "exp": int(time.time()) + 86400}, self.secret, algorithm="HS256")
        tenants = [f"bench-c{k}-{uuid.uuid4().hex[:6]}" for k in range(n_tenants)]
        items = [(tok({"typ": "visitor", "sid": uuid.uuid4().hex, "tid": tenants[i % n_tenants]}), {}, 0, "")
                 for i in range(n_visitors)]
        agents = [(tok({"typ": "agent", "sub": str(j), "tid": t}), {}, 0, "") for t in tenants
                  for j in range(agents_per_tenant)]
        step = max(1, len(items) // max(1, len(agents)))
        for n, agent in enumerate(agents):
            items.insert(min(len(items), n * (step + 1)), agent)
        self.connect_items = items

    def _server(self, name: str) -> Server:
        port = free_port()
        return Server(name, [sys.executable, str(ROOT / "scripts" / "bench" / "socketio_server.py"), "--port",
                             str(port), "--redis-url", REDIS_URL, "--channel", self.channel, "--secret", self.secret,
                             "--redis-pool", str(self.args.socketio_redis_pool)],
                      self.env, self.logdir, port)

    def start_pair(self) -> tuple[Server, Server]:
        a, b = self._server(f"{self.name}-A").start(), self._server(f"{self.name}-B").start()
        self.servers += [a, b]
        return a, b

    def start_idle_server(self) -> Server:
        c = self._server(f"{self.name}-idle").start()
        self.servers.append(c)
        return c

    def stored_messages(self) -> int | None:
        return None

    def teardown(self) -> None:
        for srv in self.servers:
            srv.stop()


class BareTarget(SocketIOTarget):
    """The floor: scripts/bench/bare_server.py, two plain Tornado processes, one aiomysql INSERT
    (autocommit) and one redis-py PUBLISH per message, in a MariaDB database of its own."""
    name = "bare"

    def __init__(self, args, logdir: Path):
        super().__init__(args, logdir)
        self.database = ScratchDatabase(MYSQL_URL, prefix="cc_bench_bare_")
        self.db_name = self.database.name
        self.db_created = False

    def infra_pids(self) -> dict[str, list[int]]:
        return mariadb_and_redis_pids()

    def setup(self, n_sessions: int, n_agents: int, n_idle: int) -> None:
        super().setup(n_sessions, n_agents, n_idle)
        self.database.create()
        self.db_created = True

    def _server(self, name: str) -> Server:
        port = free_port()
        return Server(name, [sys.executable, str(ROOT / "scripts" / "bench" / "bare_server.py"), "--port",
                             str(port), "--redis-url", REDIS_URL, "--channel", self.channel, "--secret", self.secret,
                             "--mysql-db", self.db_name, "--mysql-host", MYSQL_HOST, "--mysql-port", str(MYSQL_PORT),
                             "--mysql-user", MYSQL_USER],
                      self.env, self.logdir, port)

    def stored_messages(self) -> int | None:
        return mysql_admin(MYSQL_URL, "SELECT COUNT(*) FROM bare_messages", database=self.db_name)

    def teardown(self) -> None:
        super().teardown()
        if self.db_created:
            drop_database(self.database)


TARGETS = {"callcenter": ProductTarget, "socketio": SocketIOTarget, "bare": BareTarget}


# ============================================================================ orchestration

class Clients:
    """The load-generating processes of one target: visitor senders on A, agent receivers on B."""

    def __init__(self, target, a: Server, b: Server, n_sessions_max: int, n_agents: int, sender_procs: int):
        ctx = mp.get_context("spawn")
        self.procs, self.senders, self.receivers = [], [], []
        sessions = target.sessions[:n_sessions_max]
        self.n_senders = max(1, min(sender_procs, len(sessions)))
        for m in range(self.n_senders):
            parent, child = ctx.Pipe()
            share = sessions[m::self.n_senders]
            p = ctx.Process(target=sender_process, args=(child, target.name, a.url, share), daemon=True)
            p.start()
            self.procs.append(p)
            self.senders.append((parent, len(share)))
        for k in range(n_agents):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=receiver_process, args=(child, target.name, b.url, target.agent_tokens[k]),
                            daemon=True)
            p.start()
            self.procs.append(p)
            self.receivers.append(parent)
        t0 = time.monotonic()
        for pipe, _ in self.senders:
            _expect(pipe, "ready", 120)
        for pipe in self.receivers:
            _expect(pipe, "ready", 60)
        print(f"  [{target.name}] {len(sessions)} visitor sockets on A ({self.n_senders} procs), {n_agents} agent "
              f"sockets on B, connected in {time.monotonic() - t0:.1f}s", flush=True)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def close(self) -> None:
        for pipe, _ in self.senders:
            _safe_send(pipe, ("close",))
        for pipe in self.receivers:
            _safe_send(pipe, ("close",))
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()  # by this Process object's own PID
                p.join(5)


def _safe_send(pipe, msg) -> None:
    try:
        pipe.send(msg)
    except (OSError, BrokenPipeError):
        pass


def _expect(pipe, kind: str, timeout: float):
    if not pipe.poll(timeout):
        raise RuntimeError(f"no {kind!r} from a load process within {timeout}s")
    msg = pipe.recv()
    if msg[0] == "crash":
        raise RuntimeError(f"load process crashed:\n{msg[1]}")
    if msg[0] != kind:
        raise RuntimeError(f"expected {kind!r}, got {msg[0]!r}")
    return msg


ABORT_BACKLOG_SECS = 5.0
# ... or once more than this many seconds' worth of sends are unacknowledged.
BACKLOG_SENDS_SECS = 2.0


def run_rate(target, clients: Clients, servers: tuple[Server, Server], phase: int, rate: float, duration: float,
             n_sessions: int, drain_secs: float) -> dict:
    """One open-loop run at `rate` msg/s for `duration` s over the first n_sessions sessions."""
    total = int(rate * duration)
    busy_before = wait_quiet(f"{target.name} {rate:.0f} msg/s")
    t0 = time.time() + 0.5
    # Split the sessions and the rate over the sender processes (each has every n-th session).
    per_proc = []
    for m, (pipe, n_have) in enumerate(clients.senders):
        n_m = len(range(m, n_sessions, clients.n_senders))
        if n_m == 0:
            continue
        share = n_m / n_sessions
        per_proc.append((pipe, n_m, rate * share, int(round(total * share))))
    for pipe, n_m, r_m, total_m in per_proc:
        pipe.send(("run", phase, t0, r_m, total_m, n_m, drain_secs, ABORT_BACKLOG_SECS))
    meter = CpuMeter({"worker A": [servers[0].pid], "worker B": [servers[1].pid], **target.infra_pids(),
                      "load gen": clients.pids})
    time.sleep(max(0.0, t0 - time.time()) + min(1.0, duration / 4))
    meter.start()
    time.sleep(max(0.5, duration - 2 * min(1.0, duration / 4)))
    cpu = meter.stop()
    sent = acked = unacked = send_failed = 0
    aborted_at = None
    errors: Counter = Counter()
    acks: dict[str, list[int]] = {}
    lags, ack_lat = array.array("d"), array.array("d")
    send_secs = 0.0
    sender_closed = Counter()
    for pipe, *_ in per_proc:
        msg = _expect(pipe, "done", duration + drain_secs + 120)[1]
        sent += msg["sent"]
        send_failed += msg["send_failed"]
        if msg["aborted_at"] is not None:
            aborted_at = min(aborted_at or 1e9, msg["aborted_at"])
        acked += msg["acked"]
        unacked += msg["unacked"]
        errors.update(msg["errors"])
        acks.update(msg["acks"])
        lags.frombytes(msg["lags"])
        ack_lat.frombytes(msg["ack_lat"])
        send_secs = max(send_secs, msg["send_secs"])
        sender_closed.update(msg["closed"])
    # Wait until the agent sockets have everything the acks announced (or give up after drain_secs).
    # Their counts also include sends acknowledged too late to be in `acks`, so "count >= acked" alone can
    # stop the wait early: wait for that and then for the counts to stay put for a second.
    want = acked
    deadline = time.monotonic() + drain_secs
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        counts = []
        for pipe in clients.receivers:
            pipe.send(("count", phase))
            counts.append(_expect(pipe, "count", 30)[1])
        if counts != last:
            last, stable_since = counts, time.monotonic()
        if all(c >= want for c in counts) and time.monotonic() - stable_since >= 1.0:
            break
        time.sleep(0.1)
    lost = dup = reordered = unexpected = received = 0
    lost_examples: list = []
    lat = array.array("d")
    receiver_closed = []
    for pipe in clients.receivers:
        pipe.send(("stats", phase, acks))
        st = _expect(pipe, "stats", 60)[1]
        lost += st["lost"]
        dup += st["dup"]
        reordered += st["reordered"]
        unexpected += st["unexpected"]
        received += st["received"]
        lat.frombytes(st["lat"])
        lost_examples += st["lost_examples"]
        if st["closed"]:
            receiver_closed.append(st["closed"])
    gaps = sum(1 for seqs in acks.values() for a, b in zip(seqs, seqs[1:]) if b != a + 1)
    res = {
        "target": target.name, "phase": phase, "rate": rate, "duration": duration, "sessions": n_sessions,
        "agents": len(clients.receivers), "sent": sent, "achieved_rate": round(sent / send_secs, 1) if send_secs else 0,
        "acked": acked, "unacked": unacked, "errors": dict(errors), "received": received,
        "expected_deliveries": acked * len(clients.receivers), "lost": lost, "send_failed": send_failed,
        "aborted_at_secs": round(aborted_at, 1) if aborted_at is not None else None, "lost_examples": lost_examples, "dup": dup, "reordered": reordered, "unexpected": unexpected, "ack_seq_gaps": gaps,
        "latency_ms": summary_ms(lat), "ack_latency_ms": summary_ms(ack_lat), "sender_lag_ms": summary_ms(lags),
        "cpu_pct": cpu, "machine_busy_pct_before": busy_before, "sender_socket_ends": dict(sender_closed), "receiver_socket_ends": receiver_closed,
    }
    res["ok_delivery"] = (lost == 0 and dup == 0 and reordered == 0 and unexpected == 0 and not errors
                          and gaps == 0 and sent == acked and not send_failed and aborted_at is None)
    return res


def fmt(v, nd=1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def print_rate_line(r: dict) -> None:
    lat = r["latency_ms"]
    print(f"  [{r['target']}] {r['rate']:>7.0f} msg/s x {r['duration']:.0f}s, {r['sessions']} sessions: "
          f"sent {r['sent']} ({r['achieved_rate']:.0f}/s) acked {r['acked']} | latency ms p50 {fmt(lat['p50'], 2)} "
          f"p95 {fmt(lat['p95'], 2)} p99 {fmt(lat['p99'], 2)} max {fmt(lat['max'], 1)} | lost {r['lost']} "
          f"unacked {r['unacked']} dup {r['dup']} reord {r['reordered']} err {sum(r['errors'].values())} "
          f"sendfail {r['send_failed']} | lag p99 {fmt(r['sender_lag_ms']['p99'], 2)} | cpu {r['cpu_pct']}"
          + (f" | OVERLOADED: stopped at {r['aborted_at_secs']}s (backlog over {ABORT_BACKLOG_SECS:.0f}s or "
             f"{BACKLOG_SENDS_SECS:.0f}s of sends)"
             if r["aborted_at_secs"] is not None else ""), flush=True)


def settle(clients: Clients, secs: float) -> int:
    left = reopened = 0
    for pipe, _ in clients.senders:
        pipe.send(("settle", secs))
    for pipe, _ in clients.senders:
        msg = _expect(pipe, "settled", secs + 120)
        left += msg[1]
        reopened += msg[2]
    if reopened:
        print(f"      {reopened} visitor sockets had been closed by the server; opened again", flush=True)
    return left


def run_delivery(target, args, results: dict) -> None:
    a, b = target.start_pair()
    max_sessions = args.sessions
    if args.sustained:
        max_sessions = max(max_sessions, math.ceil(max(args.sustained_rates) / args.per_session_rate))
    clients = Clients(target, a, b, max_sessions, args.agents, args.sender_procs)
    phase = 0
    try:
        # Warm-up: JIT-free Python still fills pools, caches and connections on the first messages.
        phase += 1
        warm = run_rate(target, clients, (a, b), phase, 200.0, 2.0, args.sessions, 10)
        acked_total = warm["acked"]
        out = results.setdefault("rates", [])
        for rate in args.rates:
            phase += 1
            time.sleep(1.0)
            r = run_rate(target, clients, (a, b), phase, rate, args.duration, args.sessions,
                         max(10.0, args.duration))
            print_rate_line(r)
            out.append(r)
            acked_total += r["acked"]
            if r["unacked"] or r["aborted_at_secs"] is not None or r["sender_socket_ends"]:
                left = settle(clients, 180)
                if left:
                    print(f"      {left} sends still unacknowledged after 180 s", flush=True)
        if args.sustained:
            steps = results.setdefault("sustained_steps", [])
            best, first_fail = None, None

            def step(rate: float) -> bool:
                nonlocal phase, acked_total
                phase += 1
                n = max(args.sessions, math.ceil(rate / args.per_session_rate))
                time.sleep(1.0)
                r = run_rate(target, clients, (a, b), phase, rate, args.sustained_duration, n,
                             max(10.0, args.sustained_duration))
                r["pass"] = bool(r["ok_delivery"] and r["latency_ms"]["p99"] is not None
                                 and r["latency_ms"]["p99"] < SUSTAINED_P99_LIMIT_MS)
                print_rate_line(r)
                print(f"      -> {'PASS' if r['pass'] else 'FAIL'}", flush=True)
                steps.append(r)
                acked_total += r["acked"]
                if r["unacked"] or not r["pass"] or r["sender_socket_ends"]:
                    left = settle(clients, 180)
                    if left:
                        print(f"      {left} sends still unacknowledged after 180 s", flush=True)
                return r["pass"]

            for rate in args.sustained_rates:
                if step(rate):
                    best = rate
                else:
                    first_fail = rate
                    break
            lo = best or 0.0
            hi = first_fail
            for _ in range(args.bisect if hi else 0):
                mid = round((lo + hi) / 2 / 50) * 50
                if mid <= lo or mid >= hi:
                    break
                if step(mid):
                    lo = best = mid
                else:
                    hi = mid
            results["sustained_max_rate"] = best
            results["sustained_first_fail"] = hi
        results["server_rss_kb"] = {"A": vmrss_kb(a.pid), "B": vmrss_kb(b.pid)}
        # Late acks (after a failed step's drain) are settled by now: every acked send is a stored row.
        settle(clients, 30)
        results["acked_total"] = acked_total
        stored = target.stored_messages()
        if stored is not None:
            results["stored_messages"] = stored
    finally:
        clients.close()
        for srv in (a, b):
            srv.stop()


def run_idle(target, args, results: dict) -> None:
    ctx = mp.get_context("spawn")
    srv = target.start_idle_server()
    tokens = target.idle_tokens
    probe_token, tokens = tokens[-1], tokens[:args.idle]
    out: dict = {"target": target.name, "sockets_requested": len(tokens)}
    procs = []
    try:
        # Warm-up: a few hundred sockets in and out, so that the baseline has the code paths loaded.
        warm_pipe, warm_child = ctx.Pipe()
        wp = ctx.Process(target=idle_process, args=(warm_child, target.name, srv.url, tokens[:200], 20), daemon=True)
        wp.start()
        _expect(warm_pipe, "connected", 120)
        warm_pipe.send(("close",))
        _expect(warm_pipe, "closed", 30)
        wp.join(10)
        time.sleep(2.0)
        out["machine_busy_pct_before"] = wait_quiet(f"{target.name} idle sockets")
        rss0 = vmrss_kb(srv.pid)
        out["rss_before_kb"] = rss0
        pipes = []
        t0 = time.monotonic()
        n_procs = max(1, args.idle_procs)
        for m in range(n_procs):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=idle_process, args=(child, target.name, srv.url, tokens[m::n_procs],
                                                       args.idle_concurrency), daemon=True)
            p.start()
            procs.append(p)
            pipes.append(parent)
        # Probe while the sockets come in as well (reported apart from the idle hold).
        connect_probe = {}
        ok = fail = 0
        errs = []

        async def probe_during_connect():
            res = await probe_loop(target, srv, None, until=lambda: all(pp.poll() for pp in pipes),
                                   hz=args.probe_hz, max_secs=600)
            connect_probe.update(res)
        asyncio.run(probe_during_connect())
        for pipe in pipes:
            msg = _expect(pipe, "connected", 600)
            ok += msg[1]
            fail += msg[2]
            errs += msg[4]
        connect_secs = time.monotonic() - t0
        out.update({"sockets_open": ok, "connect_failures": fail, "connect_errors": errs[:3],
                    "connect_secs": round(connect_secs, 1), "connect_rate": round(ok / connect_secs, 1),
                    "healthz_during_connect_ms": connect_probe.get("healthz")})
        print(f"  [{target.name}] idle: {ok} sockets open ({fail} failed) in {connect_secs:.1f}s", flush=True)
        time.sleep(3.0)
        out["rss_after_connect_kb"] = vmrss_kb(srv.pid)
        meter = CpuMeter({"idle worker": [srv.pid], **target.infra_pids()})
        meter.start()
        hold = asyncio.run(probe_loop(target, srv, probe_token, until=None, hz=args.probe_hz,
                                      max_secs=args.idle_hold))
        out["cpu_pct_during_hold"] = meter.stop()
        rss1 = vmrss_kb(srv.pid)
        still = 0
        dropped: Counter = Counter()
        for pipe in pipes:
            pipe.send(("status",))
            msg = _expect(pipe, "status", 30)
            still += msg[1]
            dropped.update(msg[2])
        out.update({"rss_after_hold_kb": rss1, "sockets_open_after_hold": still, "dropped": dict(dropped),
                    "kb_per_socket": round((rss1 - rss0) / ok, 2) if ok else None,
                    "healthz_ms": hold["healthz"], "ws_ping_ms": hold["ws_ping"], "hold_secs": args.idle_hold,
                    "probe_errors": hold["errors"]})
        print(f"  [{target.name}] idle: RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB = "
              f"{out['kb_per_socket']} KB/socket; /healthz p99 {fmt(hold['healthz']['p99'], 2)} ms max "
              f"{fmt(hold['healthz']['max'], 1)}; ws ping p99 {fmt(hold['ws_ping']['p99'], 2)} ms max "
              f"{fmt(hold['ws_ping']['max'], 1)}; still open {still}; cpu {out['cpu_pct_during_hold']}", flush=True)
        for pipe in pipes:
            _safe_send(pipe, ("close",))
        for pipe in pipes:
            try:
                _expect(pipe, "closed", 60)
            except RuntimeError:
                pass
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
        srv.stop()
        results["idle"] = out


def run_connect(target, args, results: dict) -> None:
    """A reconnect storm on one fresh worker: every socket of target.connect_items opened at once from
    --connect-procs processes (--connect-concurrency in flight each), authenticated and resumed (the product
    replays each socket's missed messages; a socket counts once they are in). Connects/s = sockets / the
    slowest process's wall time."""
    ctx = mp.get_context("spawn")
    srv = target.start_idle_server()
    items = target.connect_items
    out: dict = {"target": target.name, "sockets_requested": len(items), "procs": args.connect_procs,
                 "concurrency_per_proc": args.connect_concurrency}
    procs: list = []

    def start(chunks: list[list], concurrency: int) -> list:
        pipes = []
        for chunk in chunks:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=connect_process, args=(child, target.name, srv.url, chunk, concurrency),
                            daemon=True)
            p.start()
            procs.append(p)
            pipes.append(parent)
        for pipe in pipes:
            _expect(pipe, "ready", 60)
        return pipes

    def close(pipes: list) -> None:
        for pipe in pipes:
            _safe_send(pipe, ("close",))
        for pipe in pipes:
            try:
                _expect(pipe, "closed", 60)
            except RuntimeError:
                pass

    try:
        # Warm-up: a few hundred sockets in and out, so that the measured burst has the code paths loaded.
        warm = start([items[:min(300, len(items))]], 16)
        warm[0].send(("go",))
        _expect(warm[0], "done", 120)
        close(warm)
        time.sleep(2.0)
        out["machine_busy_pct_before"] = wait_quiet(f"{target.name} connect burst")
        n_procs = max(1, args.connect_procs)
        pipes = start([items[m::n_procs] for m in range(n_procs)], args.connect_concurrency)
        meter = CpuMeter({"worker": [srv.pid], **target.infra_pids(), "load gen": [p.pid for p in procs]})
        meter.start()
        for pipe in pipes:
            pipe.send(("go",))
        ok = fail = 0
        slowest = 0.0
        latencies: list = []
        errs: list = []
        for pipe in pipes:
            msg = _expect(pipe, "done", 600)
            ok += msg[1]
            fail += msg[2]
            slowest = max(slowest, msg[3])
            latencies += msg[4]
            errs += msg[5]
        out["cpu_pct"] = meter.stop()
        # CPU time of the worker per socket: steadier than the rate on a machine others share.
        worker_cpu_ms = out["cpu_pct"]["worker"] / 100 * slowest * 1000
        out.update({"sockets_open": ok, "connect_failures": fail, "connect_errors": errs[:3],
                    "burst_secs": round(slowest, 2), "connects_per_sec": round(ok / slowest, 1) if slowest else None,
                    "worker_cpu_ms_per_connect": round(worker_cpu_ms / ok, 3) if ok else None,
                    "connect_ms": summary_ms(latencies)})
        lat = out["connect_ms"]
        print(f"  [{target.name}] connect burst: {ok} sockets ({fail} failed) in {slowest:.2f}s = "
              f"{out['connects_per_sec']}/s; worker CPU {out['worker_cpu_ms_per_connect']} ms per connect; "
              f"per connect p50 {fmt(lat['p50'])} p99 {fmt(lat['p99'])} ms; "
              f"cpu {out['cpu_pct']}", flush=True)
        close(pipes)
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
        srv.stop()
        results["connect"] = out


async def probe_loop(target, srv: Server, ws_token: str | None, *, until, hz: float, max_secs: float) -> dict:
    """GET /healthz on a new connection, and (with a token) a ws ping round trip, hz times a second each."""
    proto = PROTOS[target.name]
    healthz, ws_ping = [], []
    errors = Counter()
    ws = None
    pongs: asyncio.Queue = asyncio.Queue()
    if ws_token:
        ws = await proto.open(srv.url, ws_token)

        def on_message(raw: str) -> None:
            kind, _ = proto.parse(raw)
            if kind == "pong":
                pongs.put_nowait(time.perf_counter())
            elif kind == "eio-ping":
                ws.send("3")
        ws.listen(on_message)

    async def http_probe():
        t = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", srv.port), 5)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            if not data.startswith(b"HTTP/1.1 200"):
                errors["healthz " + data[:20].decode(errors="replace")] += 1
                return
            healthz.append(time.perf_counter() - t)
        except (OSError, asyncio.TimeoutError) as exc:
            errors[f"healthz {type(exc).__name__}"] += 1

    async def ws_probe(n: int):
        t = time.perf_counter()
        try:
            ws.send(proto.ping_frame(n))
            t1 = await asyncio.wait_for(pongs.get(), 5)
            ws_ping.append(t1 - t)
        except asyncio.TimeoutError:
            errors["ws ping timeout"] += 1
        except ConnectionClosed:
            errors["ws ping on a closed socket"] += 1

    start = time.monotonic()
    n = 0
    while time.monotonic() - start < max_secs and not (until and until()):
        n += 1
        await http_probe()
        if ws is not None:
            await ws_probe(n)
        await asyncio.sleep(1.0 / hz)
    if ws is not None:
        await ws.close()
    return {"healthz": summary_ms(healthz), "ws_ping": summary_ms(ws_ping), "errors": dict(errors)}


# ============================================================================ report

def machine_info() -> dict:
    info = {"nproc": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()}
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_mib"] = int(f.readline().split()[1]) // 1024
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from importlib import metadata
    for dist in ("tornado", "redis", "hiredis", "SQLAlchemy", "aiomysql", "websockets", "python-socketio",
                 "python-engineio", "uvicorn"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        info["git_head"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                          text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "callcenter"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.split("\n")
        info["product_files_uncommitted"] = [line[3:] for line in dirty if line.strip()]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import pymysql
        conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER)
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@innodb_buffer_pool_size")
            v, flush, pool = cur.fetchone()
        conn.close()
        info["mariadb"] = v
        info["innodb_flush_log_at_trx_commit"] = flush
        info["innodb_buffer_pool_mib"] = int(pool) // 1024 // 1024
    except Exception:
        pass
    try:
        import redis
        r = redis.Redis.from_url(REDIS_URL)
        info["redis_server"] = r.info("server")["redis_version"]
        r.close()
    except Exception:
        pass
    info["calibration"] = calibration()
    return info


def cross_cpu_wakeup(pings: int = 400, gap_secs: float = 0.002) -> dict:
    """Round trips between two processes pinned to different CPUs, the other one idle in between
    (as every hop of a message finds its next process): what waking an idle CPU costs here. On
    some VMs this alone is a millisecond at p99."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return {}
    parent_end, child_end = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the echoing side
        try:
            parent_end.close()
            os.sched_setaffinity(0, {1})
            while data := child_end.recv(16):
                child_end.send(data)
        finally:
            os._exit(0)
    child_end.close()
    before = os.sched_getaffinity(0)
    took = []
    try:
        os.sched_setaffinity(0, {0})
        for _ in range(pings):
            started = time.perf_counter()
            parent_end.send(b"x")
            parent_end.recv(16)
            took.append((time.perf_counter() - started) * 1e6)
            time.sleep(gap_secs)
    finally:
        os.sched_setaffinity(0, before)
        parent_end.close()
        os.waitpid(pid, 0)
    took.sort()
    return {"wakeup_rtt_us_p50": round(took[len(took) // 2]), "wakeup_rtt_us_p99": round(took[int(len(took) * .99)])}


def calibration() -> dict:
    """How fast this machine is right now, to compare runs across machines (VMs of the same name
    differ by 2x and more, and a busy host shows as a wide spread): a pure-Python loop of a million
    additions (best and median of 7), a round trip to an idle CPU (`cross_cpu_wakeup`), a MariaDB
    `SELECT 1` round trip (median of 500) and a one-row commit (`commit_latency`)."""
    out: dict = {}
    loops = []
    for _ in range(7):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        loops.append((time.perf_counter() - started) * 1000)
    loops.sort()
    out["python_loop_1m_ms_best"], out["python_loop_1m_ms_median"] = round(loops[0], 1), round(loops[3], 1)
    out.update(cross_cpu_wakeup())
    try:
        import pymysql
        conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER)
        took = []
        with conn.cursor() as cur:
            for _ in range(500):
                started = time.perf_counter()
                cur.execute("SELECT 1")
                cur.fetchall()
                took.append((time.perf_counter() - started) * 1e6)
        out["mariadb_select1_us_median"] = round(sorted(took)[250])
        out.update(commit_latency(conn))
        conn.close()
    except Exception:
        pass
    return out


def commit_latency(conn, rounds: int = 400) -> dict:
    """A one-row INSERT and its COMMIT, 2 ms apart, in a scratch database: with
    innodb_flush_log_at_trx_commit=1 each COMMIT waits for the disk to sync the redo log, the floor
    under every send batch (p99 0.6 ms on one VM, 3.7 ms on another)."""
    database = f"cc_bench_calib_{uuid.uuid4().hex[:10]}"
    took = []
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database}")
        try:
            cur.execute(f"CREATE TABLE {database}.probe (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(8))")
            conn.autocommit(False)
            for _ in range(rounds):
                started = time.perf_counter()
                cur.execute(f"INSERT INTO {database}.probe (v) VALUES ('x')")
                conn.commit()
                took.append((time.perf_counter() - started) * 1e6)
                time.sleep(0.002)
        finally:
            conn.autocommit(True)
            cur.execute(f"DROP DATABASE {database}")
    took.sort()
    return {"mariadb_commit_us_p50": round(took[len(took) // 2]), "mariadb_commit_us_p99": round(took[int(len(took) * .99)])}


def ms(v) -> str:
    return fmt(v, 2) if v is not None and v < 100 else fmt(v, 1)


def note_of(r: dict) -> str:
    notes = []
    if r.get("aborted_at_secs") is not None:
        notes.append(f"overloaded: stopped at {r['aborted_at_secs']} s")
    if r.get("send_failed"):
        notes.append(f"{r['send_failed']} sends on closed sockets")
    if r.get("machine_busy_pct_before", 0) >= QUIET["threshold"]:
        notes.append(f"machine {r['machine_busy_pct_before']:.0f}% busy before")
    if r.get("cpu_pct", {}).get("others", 0) >= 25:
        notes.append(f"others used {r['cpu_pct']['others']:.0f}% CPU")
    if r.get("latency_ms", {}).get("p99") is not None and r["latency_ms"]["p99"] >= SUSTAINED_P99_LIMIT_MS \
            and not notes:
        notes.append("p99 over 100 ms")
    return "; ".join(notes)


def print_report(all_results: dict) -> None:
    print("\n## Results\n")
    print("| target | rate msg/s | sessions | sent | sent/s | p50 ms | p95 ms | p99 ms | max ms | lost | unacked | dup | "
          "reordered | refused | sender lag p99 ms | CPU % (A / B / mariadb / redis / load gen / others) | note |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for tname, res in all_results["targets"].items():
        for r in res.get("rates", []):
            lat, c = r["latency_ms"], r["cpu_pct"]
            cpu = " / ".join(fmt(c.get(k)) for k in ("worker A", "worker B", "mariadb", "redis", "load gen", "others"))
            print(f"| {tname} | {r['rate']:.0f} | {r['sessions']} | {r['sent']} | {r['achieved_rate']:.0f} | "
                  f"{ms(lat['p50'])} | {ms(lat['p95'])} | {ms(lat['p99'])} | {ms(lat['max'])} | {r['lost']} | "
                  f"{r['unacked']} | {r['dup']} | {r['reordered']} | {sum(r['errors'].values())} | "
                  f"{ms(r['sender_lag_ms']['p99'])} | {cpu} | {note_of(r)} |")
    print("\nSustained (p99 < 100 ms, nothing lost/duplicated/reordered/refused):\n")
    print("| target | rate msg/s | sessions | p50 ms | p99 ms | max ms | lost | unacked | dup | reordered | refused | "
          "CPU % (A / B / mariadb / redis / load gen / others) | pass |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for tname, res in all_results["targets"].items():
        for r in res.get("sustained_steps", []):
            lat = r["latency_ms"]
            c = r["cpu_pct"]
            cpu = " / ".join(fmt(c.get(k)) for k in ("worker A", "worker B", "mariadb", "redis", "load gen", "others"))
            print(f"| {tname} | {r['rate']:.0f} | {r['sessions']} | {ms(lat['p50'])} | {ms(lat['p99'])} | "
                  f"{ms(lat['max'])} | {r['lost']} | {r['unacked']} | {r['dup']} | {r['reordered']} | "
                  f"{sum(r['errors'].values())} | {cpu} | {'yes' if r['pass'] else 'no: ' + note_of(r)} |")
    for tname, res in all_results["targets"].items():
        if "sustained_max_rate" in res:
            print(f"\n{tname}: highest passing rate {res['sustained_max_rate']} msg/s "
                  f"(first failing {res.get('sustained_first_fail')})")
        if "stored_messages" in res:
            print(f"{tname}: {res['stored_messages']} messages stored in MariaDB; {res.get('acked_total')} "
                  "acknowledged within the runs' drain windows (warm-up included; late acks are not counted)")
    idle = {t: r["idle"] for t, r in all_results["targets"].items() if "idle" in r}
    if idle:
        print("\nIdle sockets on one worker:\n")
        print("| target | sockets | connect s | RSS before MiB | RSS after MiB | KB/socket | /healthz p50 / p99 / max ms"
              " | ws ping p50 / p99 / max ms | CPU % worker / others while idle |")
        print("|---|---:|---:|---:|---:|---:|---|---|---|")
        for t, r in idle.items():
            h, w = r["healthz_ms"], r["ws_ping_ms"]
            print(f"| {t} | {r['sockets_open']} | {r['connect_secs']} | {r['rss_before_kb'] / 1024:.1f} | "
                  f"{r['rss_after_hold_kb'] / 1024:.1f} | {r['kb_per_socket']} | {ms(h['p50'])} / {ms(h['p99'])} / "
                  f"{ms(h['max'])} | {ms(w['p50'])} / {ms(w['p99'])} / {ms(w['max'])} | "
                  f"{r['cpu_pct_during_hold'].get('idle worker')} / {r['cpu_pct_during_hold'].get('others')} |")
    bursts = {t: r["connect"] for t, r in all_results["targets"].items() if "connect" in r}
    if bursts:
        print("\nConnect burst on one worker (authenticated and resumed):\n")
        print("| target | sockets | failed | burst s | connects/s | worker CPU ms / connect "
              "| per connect p50 / p99 / max ms | CPU % worker / mariadb / redis / load gen |")
        print("|---|---:|---:|---:|---:|---:|---|---|")
        for t, r in bursts.items():
            lat, c = r["connect_ms"], r["cpu_pct"]
            print(f"| {t} | {r['sockets_open']} | {r['connect_failures']} | {r['burst_secs']} | "
                  f"{r['connects_per_sec']} | {r['worker_cpu_ms_per_connect']} | "
                  f"{ms(lat['p50'])} / {ms(lat['p99'])} / {ms(lat['max'])} | "
                  + " / ".join(fmt(c.get(k)) for k in ("worker", "mariadb", "redis", "load gen")) + " |")
    targets = all_results["targets"]
    for other in ("socketio", "bare"):
        if "callcenter" in targets and other in targets:
            print_ratios(targets["callcenter"], targets[other], other)


def print_ratios(p: dict, s: dict, other: str) -> None:
    print(f"\nRatios callcenter / {other} (latency, memory: lower is better for callcenter when < 1; "
          "throughput: higher is better when > 1):\n")
    print(f"| metric | callcenter | {other} | ratio |")
    print("|---|---:|---:|---:|")

    def row(name, x, y, nd=2):
        ratio = f"{x / y:.2f}" if x is not None and y not in (None, 0) else "-"
        print(f"| {name} | {fmt(x, nd)} | {fmt(y, nd)} | {ratio} |")
    for rp in p.get("rates", []):
        rs = next((r for r in s.get("rates", []) if r["rate"] == rp["rate"]), None)
        if rs is None:
            continue
        for q in ("p50", "p95", "p99", "max"):
            row(f"{rp['rate']:.0f} msg/s latency {q} (ms)", rp["latency_ms"][q], rs["latency_ms"][q])
    if "sustained_max_rate" in p and "sustained_max_rate" in s:
        row("sustained msg/s", p["sustained_max_rate"], s["sustained_max_rate"], 0)
    if "idle" in p and "idle" in s:
        row("KB per idle socket", p["idle"]["kb_per_socket"], s["idle"]["kb_per_socket"])
        row("idle /healthz p99 (ms)", p["idle"]["healthz_ms"]["p99"], s["idle"]["healthz_ms"]["p99"])
        row("idle ws ping p99 (ms)", p["idle"]["ws_ping_ms"]["p99"], s["idle"]["ws_ping_ms"]["p99"])
        row("idle connects/s", p["idle"]["connect_rate"], s["idle"]["connect_rate"], 0)
    if "connect" in p and "connect" in s:
        row("burst connects/s (resumed)", p["connect"]["connects_per_sec"], s["connect"]["connects_per_sec"], 0)
        row("worker CPU ms per connect", p["connect"]["worker_cpu_ms_per_connect"],
            s["connect"]["worker_cpu_ms_per_connect"], 3)


# ============================================================================ main

def parse_rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main() -> int:
    global ABORT_BACKLOG_SECS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--target", choices=("both", "all", "callcenter", "socketio", "bare"), default="both",
                        help="both = callcenter and socketio; all = those and bare, the bare-libraries floor")
    parser.add_argument("--only", choices=("all", "delivery", "idle", "connect"), default="all",
                        help="delivery = fixed rates (+ sustained); idle = the idle-socket test; "
                             "connect = the connect burst (not part of all)")
    parser.add_argument("--rates", type=parse_rates, default=parse_rates("200,1000,2000"))
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per fixed rate")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--agents", type=int, default=2, help="agent sockets on worker B (one process each)")
    parser.add_argument("--sender-procs", type=int, default=2, help="processes holding the visitor sockets")
    parser.add_argument("--no-sustained", dest="sustained", action="store_false")
    parser.add_argument("--sustained-rates", type=parse_rates,
                        default=parse_rates("250,500,750,1000,1500,2000,3000,4000,5000,6000,8000,10000"))
    parser.add_argument("--sustained-duration", type=float, default=10.0)
    parser.add_argument("--per-session-rate", type=float, default=10.0,
                        help="sustained mode: at most this many msg/s per visitor socket")
    parser.add_argument("--socketio-redis-pool", type=int, default=0,
                        help="socketio server: 0 = stock AsyncRedisManager; N = a blocking Redis pool of N")
    parser.add_argument("--bisect", type=int, default=2)
    parser.add_argument("--abort-backlog", type=float, default=ABORT_BACKLOG_SECS,
                        help="stop a run once the oldest send has waited this long for its ack (0: never)")
    parser.add_argument("--idle", type=int, default=10_000, help="idle sockets (0: skip)")
    parser.add_argument("--idle-procs", type=int, default=4)
    parser.add_argument("--idle-concurrency", type=int, default=16, help="connects in flight per idle process")
    parser.add_argument("--idle-hold", type=float, default=20.0)
    parser.add_argument("--probe-hz", type=float, default=20.0)
    parser.add_argument("--connects", type=int, default=3000, help="connect mode: visitor sockets in the burst")
    parser.add_argument("--connect-tenants", type=int, default=60)
    parser.add_argument("--connect-agents", type=int, default=1, help="connect mode: agents per tenant")
    parser.add_argument("--connect-agent-resume", type=int, default=5,
                        help="connect mode: sessions each agent resumes")
    parser.add_argument("--connect-missed", type=int, default=2, help="connect mode: messages replayed per session")
    parser.add_argument("--connect-procs", type=int, default=4)
    parser.add_argument("--connect-concurrency", type=int, default=32, help="connects in flight per process")
    parser.add_argument("--quiet-wait", type=float, default=0.0,
                        help="before each run wait up to this many s for the machine to be under --quiet-threshold")
    parser.add_argument("--quiet-threshold", type=float, default=30.0, help="%% CPU of the whole machine (100 = 1 core)")
    parser.add_argument("--json", type=Path, help="write all numbers here")
    parser.add_argument("--profile-worker", type=Path, help="callcenter: run the idle / connect worker under "
                        "cProfile and write its profile here when it stops")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    if args.only == "idle":
        args.rates, args.sustained = [], False
    if args.only == "delivery":
        args.idle = 0
    if args.only == "connect":
        args.rates, args.sustained, args.idle = [], False, 0

    def stop(signum, _frame):  # SIGTERM, and SIGINT even when started in the background: clean up first
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    QUIET.update(max_wait=args.quiet_wait, threshold=args.quiet_threshold)
    ABORT_BACKLOG_SECS = args.abort_backlog
    _limit_fds()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    sockets = max(args.idle, args.connects + 200 if args.only == "connect" else 0)
    if sockets and soft < sockets + 1000:
        print(f"the open-file limit ({soft}) is too low for {sockets} sockets", file=sys.stderr)
        return 2
    logdir = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    info = machine_info()
    print("# bench_realtime", " ".join(sys.argv[1:]))
    print("machine:", json.dumps(info))
    all_results: dict = {"machine": info, "argv": sys.argv[1:], "targets": {}}
    names = {"both": ["callcenter", "socketio"], "all": ["callcenter", "socketio", "bare"]}.get(args.target, [args.target])
    started = time.monotonic()
    try:
        for name in names:
            target = TARGETS[name](args, logdir)
            res: dict = {}
            all_results["targets"][name] = res
            try:
                max_sessions = args.sessions
                if args.sustained:
                    max_sessions = max(max_sessions, math.ceil(max(args.sustained_rates) / args.per_session_rate))
                target.setup(max_sessions if (args.rates or args.sustained) else 0, args.agents, args.idle)
                if args.rates or args.sustained:
                    run_delivery(target, args, res)
                if args.idle:
                    run_idle(target, args, res)
                if args.only == "connect":
                    target.setup_connect(args.connects, args.connect_tenants, args.connect_missed,
                                         args.connect_agents, args.connect_agent_resume)
                    run_connect(target, args, res)
            except Exception:
                traceback.print_exc()
                res["error"] = traceback.format_exc()
                for srv in target.servers:
                    print(f"--- {srv.name} log tail ---\n{srv.log_path.read_text(errors='replace')[-2000:]}",
                          file=sys.stderr)
            finally:
                target.teardown()
    finally:
        all_results["elapsed_secs"] = round(time.monotonic() - started, 1)
        print_report(all_results)
        print(f"\nelapsed {all_results['elapsed_secs']} s; logs in {logdir}")
        if args.json:
            args.json.write_text(json.dumps(all_results, indent=1, default=str))
        if not args.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
