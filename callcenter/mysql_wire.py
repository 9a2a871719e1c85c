"""A lean MySQL/MariaDB client for the send writer's hot path.

aiomysql opens the connection (handshake, authentication, TLS); then `WireConnection` takes its
transport over and speaks just two commands, COM_QUERY and COM_PING, parsing each response from one
buffer as it arrives. aiomysql reads every packet through a coroutine of its own and parses every
column descriptor into an object: on a 2-core VM that cost about 120 µs of CPU and as much latency
per query, twice what the query itself costs (see docs/BENCHMARKS.md). Values are converted with
PyMySQL's own decoders and errors raised as PyMySQL's exceptions, so callers see what aiomysql
would have given them.
"""
from __future__ import annotations

import asyncio
import struct
from typing import Any, Callable

import pymysql
from pymysql import converters
from pymysql.constants import CLIENT, FIELD_TYPE, SERVER_STATUS

COM_QUERY = 0x03
COM_PING = 0x0E
# A payload this long continues in the next packet (the protocol's 16 MiB packet limit).
MAX_PACKET_PAYLOAD = 0xFFFFFF
BINARY_CHARSET = 63
_OK, _EOF, _ERR, _NULL = 0x00, 0xFE, 0xFF, 0xFB
_TEXT_TYPES = {FIELD_TYPE.BIT, FIELD_TYPE.BLOB, FIELD_TYPE.LONG_BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.STRING,
               FIELD_TYPE.TINY_BLOB, FIELD_TYPE.VAR_STRING, FIELD_TYPE.VARCHAR, FIELD_TYPE.GEOMETRY}

Converter = Callable[[bytes], Any]


def _aiomysql_version() -> str:
    import aiomysql

    return getattr(aiomysql, "__version__", "?")


def _lenenc_int(data: bytes, pos: int) -> tuple[int | None, int]:
    """A length-encoded integer at `pos` (None for the NULL marker) and the position after it."""
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == _NULL:
        return None, pos + 1
    if first == 0xFC:
        return data[pos + 1] | data[pos + 2] << 8, pos + 3
    if first == 0xFD:
        return data[pos + 1] | data[pos + 2] << 8 | data[pos + 3] << 16, pos + 4
    return struct.unpack_from("<Q", data, pos + 1)[0], pos + 9


def _column_converter(definition: bytes, encoding: str) -> Converter:
    """How to turn a column's text-protocol value into Python, from its definition packet (as
    PyMySQL does: text in the connection's encoding unless the charset is binary, then its decoder)."""
    pos = 0
    for _ in range(6):  # catalog, schema, table, org_table, name, org_name
        length, pos = _lenenc_int(definition, pos)
        pos += length or 0
    pos += 1  # length of the fixed fields
    charset, _length, field_type = struct.unpack_from("<HIB", definition, pos)
    if field_type == FIELD_TYPE.JSON or (field_type in _TEXT_TYPES and charset != BINARY_CHARSET):
        decode_as = encoding
    elif field_type in _TEXT_TYPES:
        decode_as = None  # BINARY / VARBINARY / BLOB: bytes
    else:
        decode_as = "ascii"  # numbers, dates and times
    decoder = converters.decoders.get(field_type)
    if decoder is converters.through:
        decoder = None
    if decode_as is None:
        return bytes
    if decoder is int:
        return int  # (int() reads ASCII digits from bytes as they are)
    if decoder is None:
        return lambda raw: raw.decode(decode_as)
    return lambda raw: decoder(raw.decode(decode_as))


class _ResponseReader(asyncio.Protocol):
    """Collects the packets of one command's response and parses them as they come: each result
    set's rows (one list per statement of a multi-statement query) or the server's error."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.transport: asyncio.Transport | None = None
        self.server_status = 0
        self.lost: Exception | None = None
        self._buffer = bytearray()
        self._partial = b""  # a payload that continues in the next packet
        self._waiter: asyncio.Future | None = None
        self._results: list[list[tuple]] = []
        self._columns: list[Converter] | None = None  # the result set being read
        self._columns_left = 0
        self._rows: list[tuple] = []
        self._stray = False  # bytes arrived while no command was waiting

    # ---- asyncio.Protocol ----------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            self._stray = True
            return
        try:
            self._parse()
        except Exception as exc:  # a response we cannot read: this command fails, the connection is done
            self._stray = True
            if not self._waiter.done():
                self._waiter.set_exception(pymysql.err.InterfaceError(0, f"unreadable response: {exc!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = pymysql.err.OperationalError(2013, f"Lost connection to MySQL server during query ({exc})")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self.lost)

    # ---- commands --------------------------------------------------------

    async def command(self, command: int, argument: bytes = b"") -> list[list[tuple]]:
        if self.lost is not None:
            raise pymysql.err.OperationalError(*self.lost.args)
        if self._stray or self._buffer:
            # Something the server said unasked (it usually closes at once after), or the answer to a
            # cancelled command: not a state to guess in. The connection is done.
            self.transport.close()
            raise pymysql.err.OperationalError(2013, "Lost connection to MySQL server: unexpected data")
        if self._waiter is not None:
            raise pymysql.err.InterfaceError(0, "a command is already running on this connection")
        self._write_packets(bytes((command,)) + argument)
        self._waiter = asyncio.get_running_loop().create_future()
        self._results, self._columns, self._rows = [], None, []
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def _write_packets(self, payload: bytes) -> None:
        # A payload of 16 MiB or more goes in pieces; one that fills its last piece ends with an empty packet.
        sequence = 0
        chunks = []
        view = memoryview(payload)
        while True:
            piece = view[:MAX_PACKET_PAYLOAD]
            view = view[MAX_PACKET_PAYLOAD:]
            chunks.append(struct.pack("<I", len(piece))[:3] + bytes((sequence & 0xFF,)))
            chunks.append(piece)
            sequence += 1
            if len(piece) < MAX_PACKET_PAYLOAD:
                break
        self.transport.write(b"".join(chunks))

    # ---- parsing ---------------------------------------------------------

    def _take_packets(self) -> list[bytes]:
        """The complete payloads in the buffer, taken out of it."""
        buffer = self._buffer
        payloads = []
        pos = 0
        while len(buffer) - pos >= 4:
            length = buffer[pos] | buffer[pos + 1] << 8 | buffer[pos + 2] << 16
            end = pos + 4 + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[pos + 4:end])
            pos = end
            if length == MAX_PACKET_PAYLOAD:
                self._partial += payload
                continue
            if self._partial:
                payload, self._partial = self._partial + payload, b""
            payloads.append(payload)
        del buffer[:pos]
        return payloads

    def _parse(self) -> None:
        waiter = self._waiter
        for payload in self._take_packets():
            if waiter.done():
                self._stray = True  # more than one response: the connection is not to be trusted
                return
            header = payload[0]
            if header == _ERR and (self._columns is None or self._columns_left == 0):
                self._finish_with_error(payload)
            elif self._columns is None:
                self._result_start(payload)
            elif self._columns_left > 0:
                self._columns.append(_column_converter(payload, self.encoding))
                self._columns_left -= 1
                if self._columns_left == 0:
                    self._columns_left = -1  # the EOF that ends the definitions comes next
            elif self._columns_left == -1:
                self._columns_left = 0  # (that EOF)
            elif header == _EOF and len(payload) < 9:
                self._results.append(self._rows)
                self._columns, self._rows = None, []
                self._result_end(struct.unpack_from("<H", payload, 3)[0])
            else:
                self._rows.append(self._row(payload))

    def _result_start(self, payload: bytes) -> None:
        if payload[0] == _OK:
            pos = 1
            for _ in range(2):  # affected rows, last insert id
                _value, pos = _lenenc_int(payload, pos)
            self._results.append([])
            self._result_end(struct.unpack_from("<H", payload, pos)[0])
            return
        count, _pos = _lenenc_int(payload, 0)
        if not count:
            raise pymysql.err.InterfaceError(0, f"unexpected packet 0x{payload[0]:02x} at a result's start")
        self._columns, self._columns_left = [], count

    def _result_end(self, status: int) -> None:
        self.server_status = status
        if not status & SERVER_STATUS.SERVER_MORE_RESULTS_EXISTS:
            self._waiter.set_result(self._results)

    def _finish_with_error(self, payload: bytes) -> None:
        try:
            pymysql.err.raise_mysql_exception(payload)
        except pymysql.err.Error as exc:
            exc.results_before_error = self._results  # the statements before the failing one ran
            self._waiter.set_exception(exc)

    def _row(self, payload: bytes) -> tuple:
        values = []
        pos = 0
        for convert in self._columns:
            first = payload[pos]
            if first < 0xFB:
                length, pos = first, pos + 1
            elif first == _NULL:
                values.append(None)
                pos += 1
                continue
            else:
                length, pos = _lenenc_int(payload, pos)
            values.append(convert(payload[pos:pos + length]))
            pos += length
        return tuple(values)


class WireConnection:
    """COM_QUERY and COM_PING on a connection aiomysql opened; one command at a time. The methods
    the send writer uses have aiomysql's names."""

    def __init__(self, opened):
        if opened.client_flag & CLIENT.DEPRECATE_EOF:
            raise ValueError("WireConnection parses the EOF-terminated protocol only")
        self._opened = opened  # the aiomysql Connection: it owns the socket
        self._server_info = opened.get_server_info()
        self._thread_id = opened.thread_id()
        try:
            # aiomysql keeps its asyncio streams private (`_writer`, `_reader`), and asyncio its
            # StreamReader's buffer (`_buffer`): tests/test_library_internals.py checks all three.
            transport = opened._writer.transport
            handshake_rest = bytes(opened._reader._buffer)  # (nothing is expected after the handshake)
        except AttributeError as exc:
            opened.close()
            raise RuntimeError(
                f"mysql_wire cannot take over a connection of aiomysql {_aiomysql_version()} ({exc}): see "
                "tests/test_library_internals.py, and pin aiomysql below this version until it is adapted") from exc
        self._reader = _ResponseReader(opened.encoding)
        self._reader.transport = transport
        self._reader.server_status = opened.server_status
        self._reader._buffer += handshake_rest
        transport.set_protocol(self._reader)
        if transport.is_closing():
            self._reader.connection_lost(None)

    @classmethod
    async def connect(cls, **connect_args: Any) -> "WireConnection":
        """A connection opened by aiomysql, then one COM_PING: its OK packet carries the session's
        status flags as they are after everything that ran at connect time (aiomysql's own SET
        statements, `init_command`, the server's `init_connect`), which `escape_string` needs. The
        status aiomysql read last can be its handshake greeting's, from before authentication."""
        import aiomysql

        conn = cls(await aiomysql.connect(**connect_args))
        try:
            await conn.ping()
        except BaseException:
            conn.close()
            raise
        return conn

    async def query(self, sql: str) -> list[list[tuple]]:
        """Every statement's rows (an empty list for a statement without a result set). A failing
        statement raises PyMySQL's error for it, with the rows of the statements before it (which
        ran) as its `results_before_error`; the statements after it did not run. Text the
        connection's encoding cannot carry (a lone surrogate) is refused with a DataError before
        anything is sent, so a batch's caller can tell it from a server error and retry the rest."""
        try:
            payload = sql.encode(self._opened.encoding)
        except UnicodeEncodeError as exc:
            raise pymysql.err.DataError(0, f"text that {self._opened.encoding} cannot encode: {exc.reason} "
                                           f"at {exc.start}") from None
        return await self._reader.command(COM_QUERY, payload)

    async def ping(self) -> None:
        await self._reader.command(COM_PING)

    def escape_string(self, value: str) -> str:
        """`value` for the inside of a '…' literal, so that this session reads back exactly `value`.
        A quote is doubled, which every sql_mode reads as one quote; a backslash is doubled unless
        the session has NO_BACKSLASH_ESCAPES (the server reports it in the status flags of every
        response; `connect` reads them once before any query). Everything else goes as it is: NUL,
        line breaks and Ctrl-Z need no escape in a query packet, which carries its own length. (So
        text without a backslash is written the same under either mode.)"""
        if "\\" in value and not self._reader.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
            value = value.replace("\\", "\\\\")
        return value.replace("'", "''")

    @property
    def no_backslash_escapes(self) -> bool:
        """Whether the session reads a backslash as itself (sql_mode NO_BACKSLASH_ESCAPES), as the
        server said in its last response."""
        return bool(self._reader.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES)

    def get_server_info(self) -> str:
        return self._server_info

    def thread_id(self) -> int:
        return self._thread_id

    @property
    def closed(self) -> bool:
        return self._reader.lost is not None or self._opened.closed

    def close(self) -> None:
        self._opened.close()
