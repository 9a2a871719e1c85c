"""A lean Redis connection for the event bus's hot path: publishing, and the subscriber.

redis-py opens the connection (address, TLS, AUTH, SELECT, HELLO: whatever the URL asks for); then
`RespConnection` takes its transport over. A command is written at once, pipelined behind those
still waiting for their reply; replies are parsed by hiredis as they arrive and handed to the
commands' futures in order, and pub/sub messages to a callback. redis-py takes a pool checkout, a
retry wrapper and a coroutine of its own per command: on a 2-core VM about 80 µs of CPU per PUBLISH,
and a publish had to wait for the previous one's reply (see docs/BENCHMARKS.md). Errors are
redis-py's exception classes, so callers handle them as they would redis-py's.
"""
from __future__ import annotations

import asyncio
import collections
import time
from typing import Callable

import hiredis
import redis
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# RESP3 delivers pub/sub messages (and subscribe confirmations) as pushes; RESP2 as plain arrays.
_PushNotification = getattr(hiredis, "PushNotification", ())
_MESSAGES = (b"message", b"smessage")  # a channel's, a shard channel's
_SUBSCRIPTION_REPLIES = (b"subscribe", b"unsubscribe", b"ssubscribe", b"sunsubscribe")

MessageCallback = Callable[[bytes], None]
# (kind, channel) of a subscription change that answers no command (a cluster node moving a slot away).
UnsolicitedCallback = Callable[[bytes, bytes], None]


def encode_command(*args: bytes | str) -> bytes:
    """One command as a RESP array of bulk strings (str as UTF-8)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


class RespConnection(asyncio.Protocol):
    """One Redis connection driven directly. `execute` writes a command now and returns the Future of
    its reply (an error reply raises ResponseError); a reply that takes longer than
    `command_timeout_secs` ends the connection (every waiting command fails with TimeoutError), as
    does a lost connection (ConnectionError). With `on_message`, the data of each pub/sub message
    goes there (the connection is then a subscriber: (S)SUBSCRIBE, (S)UNSUBSCRIBE, one channel per command,
    and PING). A subscription command names the confirmation it waits for (`expect`): one that arrives when
    no such command waits (a cluster node dropping a shard channel whose slot moved) goes to `on_unsolicited`."""

    def __init__(self, command_timeout_secs: float, on_message: MessageCallback | None = None,
                 on_unsolicited: UnsolicitedCallback | None = None):
        self.command_timeout_secs = command_timeout_secs
        self.on_message = on_message
        self.on_unsolicited = on_unsolicited
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiting: collections.deque[tuple[asyncio.Future, float, tuple | None]] = collections.deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = self._loop.create_future()  # done once the connection has ended
        self._end: Exception | None = None
        self._streams: tuple = ()
        self.protocol = 2

    @classmethod
    async def open(cls, pool: ConnectionPool, *, connect_timeout_secs: float, command_timeout_secs: float,
                   on_message: MessageCallback | None = None,
                   on_unsolicited: UnsolicitedCallback | None = None) -> "RespConnection":
        """A new connection with the pool's settings (it does not count against the pool's size)."""
        opener = pool.make_connection()
        try:
            async with asyncio.timeout(connect_timeout_secs):
                await opener.connect()
        except asyncio.TimeoutError:
            await opener.disconnect()
            raise RedisTimeoutError("Redis did not finish the connection handshake in time") from None
        # redis-py keeps the connection's asyncio streams private (`_reader`, `_writer`):
        # tests/test_library_internals.py checks that they are still there and still what this expects.
        reader, writer = getattr(opener, "_reader", False), getattr(opener, "_writer", False)
        if reader is None or writer is None:
            raise RedisConnectionError("Redis connection closed during the handshake")
        if not isinstance(reader, asyncio.StreamReader) or not isinstance(writer, asyncio.StreamWriter):
            await opener.disconnect()
            raise RedisConnectionError(f"redis_wire cannot take over a connection of redis-py {redis.__version__} "
                                       "(no asyncio streams in _reader / _writer): see tests/test_library_internals.py")
        # Nothing may be left over from the handshake, in redis-py's parser or in the stream. (The
        # check is `can_read` from redis-py 8 on, `can_read_destructive` before: that one may read
        # what is there, but the connection is dropped then anyway.)
        pending = getattr(opener, "can_read", None) or opener.can_read_destructive
        if await pending():
            await opener.disconnect()
            raise RedisConnectionError("unexpected data after the Redis handshake")
        # The transport is this object's now: redis-py's must neither close it nor warn about it.
        opener._reader = opener._writer = None
        self = cls(command_timeout_secs, on_message, on_unsolicited)
        self.protocol = int(opener.protocol or 2)  # as negotiated by redis-py (HELLO), 2 or 3
        # Held so that the stream objects are not collected: a StreamWriter closes its transport then.
        self._streams = (reader, writer)
        self.transport = writer.transport
        self.transport.set_protocol(self)
        if self.transport.is_closing():
            self.connection_lost(None)
        return self

    @property
    def closed(self) -> bool:
        return self._end is not None

    def execute(self, *args: bytes | str, expect: tuple[str, str] | None = None) -> "asyncio.Future":
        """`expect`: (kind, channel) of the subscription confirmation that answers this command."""
        future = self._loop.create_future()
        if self._end is not None:
            future.set_exception(self._failure())
            return future
        self.transport.write(encode_command(*args))
        tag = (expect[0].encode(), expect[1].encode()) if expect is not None else None
        self._waiting.append((future, time.monotonic() + self.command_timeout_secs, tag))
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self.command_timeout_secs, self._check_stalled)
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ---- protocol ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self._abort(RedisConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is False:
                return
            if isinstance(reply, list) and reply and self.on_message is not None:
                kind = reply[0]
                if kind in _MESSAGES:
                    self.on_message(reply[2])
                    continue
                if kind in _SUBSCRIPTION_REPLIES and len(reply) == 3 and (
                        not self._waiting or self._waiting[0][2] != (kind, reply[1])):
                    if self.on_unsolicited is not None:
                        self.on_unsolicited(kind, reply[1])
                    continue
            if isinstance(reply, _PushNotification) and reply[0] not in _SUBSCRIPTION_REPLIES:
                continue  # a push that answers no command of ours
            if not self._waiting:
                self._abort(RedisConnectionError("Redis sent a reply to no command"))
                return
            future, _, _ = self._waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._end is None:
            self._end = RedisConnectionError(f"Redis connection lost{f': {exc}' if exc else ''}")
        failure = self._failure()
        while self._waiting:
            future, _, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(failure)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if not self.lost.done():
            self.lost.set_result(None)

    def _failure(self) -> Exception:
        end = self._end or RedisConnectionError("Redis connection closed")
        return type(end)(*end.args)

    def _abort(self, reason: Exception) -> None:
        if self._end is None:
            self._end = reason
        self.transport.abort()

    def _check_stalled(self) -> None:
        """The oldest command still waiting past its deadline: the server or the link is stuck."""
        self._watchdog = None
        if not self._waiting:
            return
        deadline = self._waiting[0][1]
        if time.monotonic() >= deadline:
            self._abort(RedisTimeoutError(f"no reply from Redis in {self.command_timeout_secs:g}s"))
            return
        self._watchdog = self._loop.call_at(self._loop.time() + deadline - time.monotonic(), self._check_stalled)
