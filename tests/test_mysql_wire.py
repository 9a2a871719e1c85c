"""The send writer's lean MySQL client (`callcenter.mysql_wire`) against the real MariaDB: the same
values aiomysql gives, multi-statement results, errors that leave the connection usable, a
connection the server dropped, hostile text under both ways of reading backslashes (sql_mode
NO_BACKSLASH_ESCAPES set for the test's own sessions only, never globally), and the protocol's
packet splitting (with a fake transport, since the server refuses packets that large)."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import uuid
from typing import AsyncIterator

import aiomysql
import pymysql
import pytest
from sqlalchemy.engine import make_url

from callcenter import mysql_wire
from callcenter.mysql_wire import MAX_PACKET_PAYLOAD, WireConnection, _ResponseReader
from callcenter.store import Store

from .helpers import wait_until

HOSTILE_TEXTS = ["it's", 'say "hi"', "back\\slash", "\\'; DROP TABLE sessions; --", "emoji 😀 and é",
                 "tab\tnew\nline", "percent %s %(x)s", "\x00nul"]
# Each of these is read differently, or ends the literal early, if escaped for the other mode.
MODE_SENSITIVE_TEXTS = ["\\'", "\\", "ends in a backslash\\", "\\\\'", "''", "'\\", "\\'' OR 1=1 -- ",
                        "\\n is not a newline", "\\0 \\Z \\% \\_ \\b", "\x00\x1a\r\n\t\b", "'); SELECT 1; -- ",
                        "😀\\😀", "\u2028\u2029", "%s %% {} {0}", "", " ", "`;`"]
# This session's sql_mode plus NO_BACKSLASH_ESCAPES (run by aiomysql right after connecting).
NO_BACKSLASH_ESCAPES_INIT = ("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), "
                             "'NO_BACKSLASH_ESCAPES')")
SERVER_STATUS_NO_BACKSLASH_ESCAPES = 0x200


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


async def sql_mode(conn: WireConnection) -> set[str]:
    [[(mode,)]] = await conn.query("SELECT @@SESSION.sql_mode")
    return set(mode.split(","))


async def assert_stored_verbatim(conn: WireConnection, texts: list[str]) -> None:
    """Each text written as a literal into a table and read back: the same text, byte for byte (as
    the server itself reports it in hex), found by an equality on the same literal, and nothing else
    ran (one result per statement, the table holding exactly these rows). (HEX on both sides of
    the lookup: a PAD SPACE collation would find ' ' for '')."""
    await conn.query("CREATE TEMPORARY TABLE IF NOT EXISTS hostile (n INT PRIMARY KEY, body TEXT) "
                     "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; DELETE FROM hostile")
    values = ", ".join(f"({n}, '{conn.escape_string(text)}')" for n, text in enumerate(texts))
    assert await conn.query(f"INSERT INTO hostile (n, body) VALUES {values}") == [[]]
    rows = (await conn.query("SELECT n, body, HEX(body) FROM hostile ORDER BY n"))[0]
    assert [(body, hex_) for _n, body, hex_ in rows] == [(text, text.encode().hex().upper()) for text in texts]
    for text in texts:
        found = await conn.query(f"SELECT n FROM hostile WHERE HEX(body) = HEX('{conn.escape_string(text)}') "
                                 "ORDER BY n")
        assert found == [[(m,) for m, other in enumerate(texts) if other == text]], repr(text)


@pytest.mark.parametrize("no_backslash_escapes", [False, True], ids=["default-mode", "NO_BACKSLASH_ESCAPES"])
@pytest.mark.gen_test(timeout=30)
async def test_hostile_text_is_stored_verbatim_in_either_sql_mode(connect_args, no_backslash_escapes):
    args = {**connect_args, "init_command": NO_BACKSLASH_ESCAPES_INIT} if no_backslash_escapes else connect_args
    async with wire(args) as conn:
        assert ("NO_BACKSLASH_ESCAPES" in await sql_mode(conn)) is no_backslash_escapes
        assert conn.no_backslash_escapes is no_backslash_escapes
        texts = HOSTILE_TEXTS + MODE_SENSITIVE_TEXTS
        literals = ", ".join(f"'{conn.escape_string(text)}'" for text in texts)
        assert await conn.query(f"SELECT {literals}") == [[tuple(texts)]]
        await assert_stored_verbatim(conn, texts)


@pytest.mark.gen_test(timeout=30)
async def test_escaping_follows_the_mode_when_the_session_changes_it(connect_args):
    """The server reports the mode in the status flags of every response, so a SET on the
    connection itself takes effect for the next literal."""
    async with wire(connect_args) as conn:
        await conn.query(f"SET @default_mode = @@SESSION.sql_mode; {NO_BACKSLASH_ESCAPES_INIT}")
        assert conn.no_backslash_escapes and "NO_BACKSLASH_ESCAPES" in await sql_mode(conn)
        await assert_stored_verbatim(conn, MODE_SENSITIVE_TEXTS)
        await conn.query("SET SESSION sql_mode = @default_mode")
        assert not conn.no_backslash_escapes and "NO_BACKSLASH_ESCAPES" not in await sql_mode(conn)
        await assert_stored_verbatim(conn, MODE_SENSITIVE_TEXTS)


@pytest.mark.gen_test(timeout=30)
async def test_connect_learns_the_mode_before_the_first_literal(connect_args, monkeypatch):
    """The status aiomysql read last may predate the session's mode (its handshake greeting, from
    before the server's init_connect ran, when aiomysql had nothing to SET): `connect` asks the
    server (COM_PING) before any literal is escaped. Here aiomysql's status is made stale by hand."""
    real_connect = aiomysql.connect

    async def stale_status(**kwargs):
        opened = await real_connect(**kwargs)
        opened.server_status &= ~SERVER_STATUS_NO_BACKSLASH_ESCAPES
        return opened

    monkeypatch.setattr(aiomysql, "connect", stale_status)
    async with wire({**connect_args, "init_command": NO_BACKSLASH_ESCAPES_INIT}) as conn:
        assert conn.no_backslash_escapes
        await assert_stored_verbatim(conn, MODE_SENSITIVE_TEXTS)


@pytest.mark.gen_test(timeout=30)
async def test_text_the_connection_cannot_encode_is_refused_before_sending(connect_args):
    """A lone surrogate (JSON can carry one) fails the query with a DataError, as the server's own
    refusals do, and the connection goes on."""
    async with wire(connect_args) as conn:
        literal = conn.escape_string("half a pair: \ud800")
        with pytest.raises(pymysql.err.DataError):
            await conn.query(f"SELECT '{literal}'")
        assert await conn.query("SELECT 1") == [[(1,)]]
        assert not conn.closed


@pytest.mark.gen_test(timeout=60)
async def test_sends_store_hostile_text_verbatim_under_no_backslash_escapes(mysql_database_url):
    """The whole send path (the send writer's batches as literals on WireConnections, and the store's
    SQLAlchemy reads) on sessions with NO_BACKSLASH_ESCAPES: every text is stored as sent, a retry
    with the same hostile client_msg_id finds the first message, and a plain connection in the
    default mode reads the same bytes back."""
    url = make_url(mysql_database_url).update_query_dict({"init_command": NO_BACKSLASH_ESCAPES_INIT})
    store = Store(url.render_as_string(hide_password=False))
    try:
        async with wire(store.driver_connect_args()) as probe:  # (how the send writer connects)
            assert probe.no_backslash_escapes
        tenant_id = f"nbe-{uuid.uuid4().hex[:12]}"
        await store.create_tenant(tenant_id, "NO_BACKSLASH_ESCAPES tenant")
        session = await store.start_session(tenant_id, channel="web", customer_name="O'Brien \\",
                                            customer_email="o@example.com")
        texts = HOSTILE_TEXTS + MODE_SENSITIVE_TEXTS
        results = await asyncio.gather(*(
            store.send_message(tenant_id, session["id"], sender_type="visitor", sender_id=1,
                               sender_name=f"name {text}"[:200], body=f"{text} {i}", client_msg_id=f"'{i}\\")
            for i, text in enumerate(texts)))
        assert [r.message["body"] for r in results] == [f"{text} {i}" for i, text in enumerate(texts)]
        stored = await store.list_messages(tenant_id, session["id"])
        assert sorted((m["body"], m["sender_name"], m["client_msg_id"]) for m in stored) == sorted(
            (f"{text} {i}", f"name {text}"[:200], f"'{i}\\") for i, text in enumerate(texts))
        again = await store.send_message(tenant_id, session["id"], sender_type="visitor", sender_id=1,
                                         sender_name="V", body="retry", client_msg_id="'3\\")
        assert not again.created and again.message["id"] == results[3].message["id"]

        plain = await aiomysql.connect(**Store(mysql_database_url).driver_connect_args())
        try:
            async with plain.cursor() as cursor:
                await cursor.execute("SELECT HEX(body) FROM messages WHERE session_id = %s ORDER BY seq",
                                     (session["id"],))
                got = sorted(row[0] for row in await cursor.fetchall())
        finally:
            plain.close()
        assert got == sorted(f"{text} {i}".encode().hex().upper() for i, text in enumerate(texts))
    finally:
        await store.close()


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
