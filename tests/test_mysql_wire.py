"""The send writer's lean MySQL client (`callcenter.mysql_wire`) against the real MariaDB: the same
values aiomysql gives, multi-statement results, errors that leave the connection usable, a
connection the server dropped, and the protocol's packet splitting (with a fake transport, since
the server refuses packets that large)."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
from typing import AsyncIterator

import aiomysql
import pymysql
import pytest

from callcenter import mysql_wire
from callcenter.mysql_wire import MAX_PACKET_PAYLOAD, WireConnection, _ResponseReader
from callcenter.store import Store

from .helpers import wait_until

HOSTILE_TEXTS = ["it's", 'say "hi"', "back\\slash", "\\'; DROP TABLE sessions; --", "emoji 😀 and é",
                 "tab\tnew\nline", "percent %s %(x)s", "\x00nul"]


@pytest.fixture
def connect_args(mysql_database_url):
    """aiomysql.connect() arguments for the run's MariaDB database, as the send writer uses them."""
    return Store(mysql_database_url).driver_connect_args()


@contextlib.asynccontextmanager
async def wire(connect_args) -> AsyncIterator[WireConnection]:
    """An open WireConnection, closed afterwards."""
    conn = await WireConnection.connect(**connect_args)
    try:
        yield conn
    finally:
        conn.close()


@pytest.mark.gen_test(timeout=30)
async def test_results_match_aiomysql(connect_args):
    sql = ("SELECT 1, -9223372036854775808, NULL, 'é', CAST(x'00ff' AS BINARY), 1.50, 2.5e0, "
           "TIMESTAMP'2026-11-26 04:05:06', JSON_ARRAY(1, 'a', NULL), REPEAT('x', 300); "
           "DO 1; SELECT 2 UNION ALL SELECT 3; SELECT 'none' FROM DUAL WHERE 1 = 0")
    async with wire(connect_args) as conn:
        reference = await aiomysql.connect(**connect_args)
        try:
            got = await conn.query(sql)
            cursor = await reference.cursor()
            await cursor.execute(sql)
            expected = [list(await cursor.fetchall())]
            while await cursor.nextset():
                expected.append(list(await cursor.fetchall()))
            assert got == expected
            first = got[0][0]
            assert first[:5] == (1, -9223372036854775808, None, "é", b"\x00\xff")
            assert isinstance(first[5], decimal.Decimal) and isinstance(first[7], dt.datetime)
            assert got[1:] == [[], [(2,), (3,)], []]
        finally:
            reference.close()


@pytest.mark.gen_test(timeout=30)
async def test_hostile_text_round_trips(connect_args):
    async with wire(connect_args) as conn:
        literals = ", ".join(f"'{conn.escape_string(text)}'" for text in HOSTILE_TEXTS)
        assert await conn.query(f"SELECT {literals}") == [[tuple(HOSTILE_TEXTS)]]


@pytest.mark.gen_test(timeout=60)
async def test_a_large_result_arriving_in_pieces(connect_args):
    """Thousands of rows and a 3 MB value: the response comes in many reads."""
    async with wire(connect_args) as conn:
        [rows] = await conn.query("SELECT seq, REPEAT('ab', seq % 50) FROM seq_1_to_5000")
        assert len(rows) == 5000
        assert rows[-1] == (5000, "")
        assert rows[48] == (49, "ab" * 49)
        [[(big,)]] = await conn.query("SELECT REPEAT('é', 1500000)")
        assert big == "é" * 1_500_000


@pytest.mark.gen_test(timeout=30)
async def test_a_failing_statement_stops_the_query_and_leaves_the_connection_usable(connect_args):
    async with wire(connect_args) as conn:
        with pytest.raises(pymysql.err.ProgrammingError) as failed:
            await conn.query("SELECT 1; SELECT * FROM no_such_table; SELECT 3")
        assert failed.value.args[0] == 1146
        with pytest.raises(pymysql.err.IntegrityError):
            await conn.query("CREATE TEMPORARY TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (1)")
        assert await conn.query("SELECT COUNT(*) FROM t; SELECT 4") == [[(0,)], [(4,)]]
        await conn.ping()


@pytest.mark.gen_test(timeout=30)
async def test_a_connection_the_server_killed_fails_with_a_connection_error(connect_args):
    async with wire(connect_args) as conn:
        admin = await aiomysql.connect(**connect_args)
        try:
            async with admin.cursor() as cursor:
                await cursor.execute(f"KILL CONNECTION {conn.thread_id()}")
            with pytest.raises(pymysql.err.OperationalError) as failed:
                for _ in range(50):  # (the close reaches us a moment after KILL returns)
                    await conn.ping()
                    await asyncio.sleep(0.05)
            assert failed.value.args[0] == 2013
            assert conn.closed
        finally:
            admin.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_cancelled_query_leaves_a_connection_that_refuses_more(connect_args):
    """Its answer comes later, unasked: the next command fails and closes the connection rather
    than reading that answer as its own."""
    async with wire(connect_args) as conn:
        task = asyncio.ensure_future(conn.query("SELECT SLEEP(0.2)"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.4)
        with pytest.raises(pymysql.err.OperationalError):
            await conn.query("SELECT 1")
        assert await wait_until(lambda: conn.closed, timeout=2)


class _Transport:
    def __init__(self):
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data


def _packet(sequence: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes((sequence,)) + payload


@pytest.mark.gen_test(timeout=30)
async def test_payloads_of_16_mib_and_more_are_split_and_joined():
    reader = _ResponseReader("utf8")
    reader.transport = _Transport()
    query = "SELECT '" + "x" * (MAX_PACKET_PAYLOAD + 10) + "'"
    pending = asyncio.ensure_future(reader.command(mysql_wire.COM_QUERY, query.encode()))
    await asyncio.sleep(0)
    written = bytes(reader.transport.written)
    assert written[:4] == b"\xff\xff\xff\x00" and written[4] == mysql_wire.COM_QUERY
    second = 4 + MAX_PACKET_PAYLOAD
    assert int.from_bytes(written[second:second + 3], "little") == len(query) + 1 - MAX_PACKET_PAYLOAD
    assert written[second + 3] == 1

    # One VARCHAR column whose single value is exactly 16 MiB - 1 + 5 bytes: its row spans two packets.
    column = b"".join(bytes((len(part),)) + part for part in (b"def", b"", b"", b"", b"v", b""))
    column += b"\x0c" + (33).to_bytes(2, "little") + (0).to_bytes(4, "little") + bytes((253,)) + b"\x00\x00\x00\x00\x00"
    value = b"y" * (MAX_PACKET_PAYLOAD + 1)
    row = b"\xfe" + len(value).to_bytes(8, "little") + value
    eof = b"\xfe\x00\x00\x02\x00"
    stream = (_packet(1, b"\x01") + _packet(2, column) + _packet(3, eof) + _packet(4, row[:MAX_PACKET_PAYLOAD])
              + _packet(5, row[MAX_PACKET_PAYLOAD:]) + _packet(6, eof))
    for start in range(0, len(stream), 1 << 20):  # in 1 MiB reads
        reader.data_received(stream[start:start + (1 << 20)])
    assert await pending == [[(value.decode(),)]]
