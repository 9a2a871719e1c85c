"""The store of record: per-session sequence numbers under real concurrency, idempotent sends,
the migrations against the table definitions, session listing and read marks.

MariaDB tests run against the run's own database (`mysql_database_url`); SQLite tests on a fresh
copy of the migrated template. Every test makes its own tenants, so nothing depends on leftovers.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import queue
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from callcenter import migrations
from callcenter.boundary import decode_cursor, encode_cursor
from callcenter.domain import preview_of
from callcenter.errors import NotFound
from callcenter.store import SessionFilter, Store, messages, metadata, new_session_id, sessions
from callcenter.store import base as store_base
from callcenter.store import sends as store_sends
from callcenter.store import writer as store_writer

from .helpers import sqlite_template

PROCESSES = 4
COROUTINES_PER_PROCESS = 8
MESSAGES_PER_COROUTINE = 5


# ---- fixtures --------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "mysql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        db_file = tmp_path / "store.sqlite3"
        db_file.write_bytes(sqlite_template().read_bytes())
        return f"sqlite+aiosqlite:///{db_file}"
    return request.getfixturevalue("mysql_database_url")


@pytest.fixture
def store(store_url, io_loop):
    s = Store(store_url)
    yield s
    io_loop.run_sync(s.close)


async def new_tenant(store: Store) -> str:
    tenant_id = f"st-{uuid.uuid4().hex[:12]}"
    await store.create_tenant(tenant_id, f"Tenant {tenant_id}")
    return tenant_id


async def new_session(store: Store, tenant_id: str, name: str = "Vera", email: str = "vera@example.com") -> str:
    return (await store.start_session(tenant_id, channel="web", customer_name=name, customer_email=email))["id"]


async def send(store: Store, tenant_id: str, session_id: str, body: str, *, sender: str = "visitor",
               sender_id: int = 1, client_msg_id: str | None = None):
    return await store.send_message(tenant_id, session_id, sender_type=sender, sender_id=sender_id,
                                    sender_name=sender.title(), body=body, client_msg_id=client_msg_id)


def record_batches(store: Store, monkeypatch) -> list[tuple[int, bool]]:
    """From now on, every send batch the store runs, as (its size, whether it looked up client_msg_ids)."""
    batches: list[tuple[int, bool]] = []
    store_batch = store_sends.store_batch

    async def recording(sql, requests, check_duplicates=True):
        batches.append((len(requests), check_duplicates))
        return await store_batch(sql, requests, check_duplicates=check_duplicates)

    # Where the send writer and the system notes' appends call it.
    monkeypatch.setattr(store_writer, "store_batch", recording)
    monkeypatch.setattr(store_sends, "store_batch", recording)
    return batches


async def gather_all(*coros) -> list:
    """Like asyncio.gather, but every call finishes (and returns its connection) before an error is raised."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


async def strict_sql_mode(store: Store) -> bool:
    """MariaDB's default: an over-long value is an error (not truncated)."""
    async with store.engine.connect() as conn:
        return "STRICT" in (await conn.execute(sa.text("SELECT @@SESSION.sql_mode"))).scalar_one()


async def seqs_of(store: Store, tenant_id: str, session_id: str) -> list[int]:
    return [m["seq"] for m in await store.list_messages(tenant_id, session_id, limit=100_000)]


# ---- (1) seq: no gap, no duplicate, across processes and coroutines ---------------------------------

def _sender_process(url, tenant_id, session_id, worker, barrier, results) -> None:
    """One 'worker': its own Store (engine, pool), COROUTINES_PER_PROCESS concurrent senders."""
    try:
        results.put((worker, asyncio.run(_sender_main(url, tenant_id, session_id, worker, barrier))))
    except BaseException as exc:  # reported to the test, which fails with it
        results.put((worker, f"{type(exc).__name__}: {exc}"))


async def _sender_main(url, tenant_id, session_id, worker, barrier):
    store = Store(url, pool_size=COROUTINES_PER_PROCESS)
    try:
        # Open the pool's connections first, so the senders start together rather than one per connect.
        async def hold() -> None:
            async with store.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
                await asyncio.sleep(0.2)
        await asyncio.gather(*(hold() for _ in range(COROUTINES_PER_PROCESS)))
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 60)

        async def sender(c: int) -> list[tuple[int, int, str]]:
            out = []
            for i in range(MESSAGES_PER_COROUTINE):
                kind = "visitor" if (c + i) % 2 == 0 else "agent"
                cid = f"w{worker}-c{c}-m{i}"
                result = await send(store, tenant_id, session_id, f"message {cid}", sender=kind,
                                    sender_id=1 + worker, client_msg_id=cid)
                assert result.created
                out.append((result.message["id"], result.message["seq"], cid))
            return out

        per_coroutine = await gather_all(*(sender(c) for c in range(COROUTINES_PER_PROCESS)))
        return [row for rows in per_coroutine for row in rows]
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_sends_from_several_processes_get_gapless_unique_seqs(mysql_database_url):
    """Like several web workers, each with many requests in flight, all sending into one session."""
    url = mysql_database_url
    store = Store(url)
    try:
        tenant_id = await new_tenant(store)
        session_id = await new_session(store, tenant_id)
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(PROCESSES)
        results = ctx.Queue()
        procs = [ctx.Process(target=_sender_process, args=(url, tenant_id, session_id, w, barrier, results),
                             daemon=True) for w in range(PROCESSES)]
        for p in procs:
            p.start()
        loop = asyncio.get_running_loop()
        reported: dict[int, object] = {}
        try:
            for _ in procs:
                worker, rows = await loop.run_in_executor(None, results.get, True, 90)
                reported[worker] = rows
        except queue.Empty:
            pytest.fail(f"workers did not report: {sorted(set(range(PROCESSES)) - set(reported))}")
        finally:
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():  # only the processes this test started
                    p.kill()
                    p.join(timeout=5)
        failures = {w: r for w, r in reported.items() if isinstance(r, str)}
        assert not failures, failures

        total = PROCESSES * COROUTINES_PER_PROCESS * MESSAGES_PER_COROUTINE
        sent = [row for rows in reported.values() for row in rows]
        assert len(sent) == total
        assert sorted(seq for _, seq, _ in sent) == list(range(1, total + 1)), "every caller got a distinct seq"

        stored = await store.list_messages(tenant_id, session_id, limit=total + 10)
        assert [m["seq"] for m in stored] == list(range(1, total + 1)), "no duplicate, no gap"
        assert {(m["id"], m["seq"], m["client_msg_id"]) for m in stored} == set(sent), "each caller saw its row"
        assert len({m["id"] for m in stored}) == total
        # Per coroutine, the seqs grow in the order it sent (each send waited for the previous).
        by_sender: dict[str, list[int]] = {}
        for _, seq, cid in sorted(sent, key=lambda r: r[2]):
            by_sender.setdefault(cid.rsplit("-", 1)[0], []).append(seq)
        assert all(s == sorted(s) for s in by_sender.values())

        session = await store.get_session(tenant_id, session_id)
        assert session["last_seq"] == total
        assert session["agent_unread"] == sum(1 for m in stored if m["sender_type"] == "visitor")
        assert session["last_message_preview"] == stored[-1]["body"]
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_concurrent_coroutines_get_gapless_unique_seqs(store):
    tenant_id = await new_tenant(store)
    session_id = await new_session(store, tenant_id)
    n = 40
    results = await gather_all(*(send(store, tenant_id, session_id, f"m{i}", sender="visitor" if i % 3 else "agent")
                                     for i in range(n)))
    assert sorted(r.message["seq"] for r in results) == list(range(1, n + 1))
    assert await seqs_of(store, tenant_id, session_id) == list(range(1, n + 1))
    assert (await store.get_session(tenant_id, session_id))["last_seq"] == n


@pytest.mark.gen_test(timeout=60)
async def test_one_batch_of_mixed_sends_gets_each_its_own_answer(store, monkeypatch):
    """Concurrent sends are stored as one batch (group commit); inside it every send still gets
    its own outcome: seqs per session in call order, the first message for a repeated
    client_msg_id, NotFound for a session that is missing or another tenant's."""
    tenant_id, other_tenant = await new_tenant(store), await new_tenant(store)
    session_a, session_b = await new_session(store, tenant_id), await new_session(store, tenant_id)
    foreign = await new_session(store, other_tenant)
    batches = record_batches(store, monkeypatch)
    results = await asyncio.gather(
        send(store, tenant_id, session_a, "a1"),
        send(store, tenant_id, session_b, "b1", client_msg_id="twice"),
        send(store, tenant_id, session_a, "a2", sender="agent"),
        send(store, tenant_id, new_session_id(), "nowhere"),
        send(store, tenant_id, foreign, "not yours"),
        send(store, tenant_id, session_b, "b1 again", client_msg_id="twice"),
        send(store, tenant_id, session_a, "a3"),
        return_exceptions=True)
    assert [size for size, _ in batches] == [7], "one transaction for all of them"
    a1, b1, a2, nowhere, not_yours, b1_again, a3 = results
    assert [r.message["seq"] for r in (a1, a2, a3)] == [1, 2, 3]
    assert b1.created and b1.message["seq"] == 1
    assert not b1_again.created and b1_again.message["id"] == b1.message["id"]
    assert isinstance(nowhere, NotFound) and isinstance(not_yours, NotFound)
    assert await seqs_of(store, tenant_id, session_a) == [1, 2, 3]
    assert [m["body"] for m in await store.list_messages(tenant_id, session_b)] == ["b1"]
    assert await store.count(messages, other_tenant) == 0
    session = await store.get_session(tenant_id, session_a)
    assert (session["last_seq"], session["agent_unread"], session["last_message_preview"]) == (3, 2, "a3")
    assert a3.session["last_seq"] == 3 and a1.session["last_seq"] == 1, "each send's own view of the session"


@pytest.mark.gen_test(timeout=60)
async def test_a_repeated_client_msg_id_in_a_later_batch_returns_the_first_message(store, monkeypatch):
    """Batches skip the client_msg_id lookup: a repeat fails on the unique key, and the batch runs
    again with the lookup, so the repeat gets the first message and the others still go in."""
    tenant_id = await new_tenant(store)
    session_id = await new_session(store, tenant_id)
    first = await send(store, tenant_id, session_id, "hello", client_msg_id="c1")
    batches = record_batches(store, monkeypatch)
    again, other = await asyncio.gather(send(store, tenant_id, session_id, "hello", client_msg_id="c1"),
                                        send(store, tenant_id, session_id, "next", client_msg_id="c2"))
    assert [lookup for _, lookup in batches] == [False, True], "one try without the lookup, then one with it"
    assert not again.created and again.message["id"] == first.message["id"]
    assert other.created and other.message["seq"] == 2
    assert await seqs_of(store, tenant_id, session_id) == [1, 2]


async def queue_behind_a_slow_lock(store: Store, tenant_id: str, monkeypatch, first: str,
                                   behind: list[str]) -> tuple[list, list[str]]:
    """One send to `first`, whose batch's lock query is held back a moment, and meanwhile sends to
    `behind`: their outcomes (in order) and every query the send connections got."""
    from callcenter.mysql_wire import WireConnection

    queries: list[str] = []
    query = WireConnection.query

    async def recording_query(self, sql):
        queries.append(sql)
        if len(queries) == 1:
            await asyncio.sleep(0.2)
        return await query(self, sql)

    monkeypatch.setattr(WireConnection, "query", recording_query)
    leading = asyncio.ensure_future(send(store, tenant_id, first, "first"))
    await asyncio.sleep(0.05)
    assert len(queries) == 1, "the first batch is waiting for its lock"
    results = await gather_all(leading, *(send(store, tenant_id, sid, f"behind {i}") for i, sid in enumerate(behind)))
    return results, queries


@pytest.mark.gen_test(timeout=60)
async def test_the_batch_queued_behind_another_is_locked_in_that_ones_last_round_trip(mysql_database_url,
                                                                                     monkeypatch):
    """A busy worker's batches are one round trip each: the sends queued while a batch runs become
    the next batch as it writes, and their session rows are locked in its write's round trip,
    right after its COMMIT (so they are read as it left them)."""
    store = Store(mysql_database_url)
    try:
        tenant_id = await new_tenant(store)
        a, b = await new_session(store, tenant_id), await new_session(store, tenant_id)
        await send(store, tenant_id, a, "warm-up")  # a send connection kept
        batches = record_batches(store, monkeypatch)
        results, queries = await queue_behind_a_slow_lock(store, tenant_id, monkeypatch, a, [a, b, b])
        assert [size for size, _ in batches] == [1, 3]
        assert len(queries) == 3, "lock, write + the next batch's lock, write"
        assert queries[1].index("COMMIT") < queries[1].index("FOR UPDATE")
        assert "FOR UPDATE" not in queries[2]
        assert [r.message["seq"] for r in results] == [2, 3, 1, 2]
        assert results[1].session["last_seq"] == 3, "the next batch saw the first one's write"
        assert await seqs_of(store, tenant_id, a) == [1, 2, 3] and await seqs_of(store, tenant_id, b) == [1, 2]
        assert (await store.get_session(tenant_id, a))["last_message_preview"] == "behind 0"
        assert store._writer._next is None and len(store._writer._idle) == 1, "no locks left held"
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_locking_the_next_batch_failing_after_a_commit_fails_neither_batch(mysql_database_url, monkeypatch):
    """The next batch's lock is the last statement of a batch's round trip: when it fails (a
    deadlock victim, say) the batch before it has committed and is answered as stored, not run
    again; the next batch then locks its rows itself, on another connection."""
    store = Store(mysql_database_url)
    try:
        tenant_id = await new_tenant(store)
        a, b = await new_session(store, tenant_id), await new_session(store, tenant_id)
        await send(store, tenant_id, a, "warm-up")
        lock_sql = store_sends.MySQLSendSql._lock_sql
        calls: list[int] = []

        def failing_second_lock(self, ids):
            calls.append(len(ids))
            return "SELECT no_such_column FROM sessions" if len(calls) == 2 else lock_sql(self, ids)

        monkeypatch.setattr(store_sends.MySQLSendSql, "_lock_sql", failing_second_lock)
        batches = record_batches(store, monkeypatch)
        results, queries = await queue_behind_a_slow_lock(store, tenant_id, monkeypatch, a, [b, a])
        assert [size for size, _ in batches] == [1, 2] and calls == [1, 2, 2]
        assert len(queries) == 4, "lock, write + the failing lock, lock again, write"
        assert [r.message["seq"] for r in results] == [2, 1, 3]
        assert await seqs_of(store, tenant_id, a) == [1, 2, 3] and await seqs_of(store, tenant_id, b) == [1]
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_send_the_database_refuses_does_not_fail_its_batch(mysql_database_url):
    store = Store(mysql_database_url)
    try:
        tenant_id = await new_tenant(store)
        session_id = await new_session(store, tenant_id)
        if not await strict_sql_mode(store):
            pytest.skip("needs MariaDB's default strict mode")
        bad = store.send_message(tenant_id, session_id, sender_type="agent", sender_id=1,
                                 sender_name="N" * 5000, body="too long a name")
        good = [send(store, tenant_id, session_id, f"m{i}") for i in range(3)]
        results = await asyncio.gather(good[0], bad, *good[1:], return_exceptions=True)
        assert isinstance(results[1], sa.exc.DBAPIError)
        assert [r.message["seq"] for r in (results[0], *results[2:])] == [1, 2, 3]
        assert await seqs_of(store, tenant_id, session_id) == [1, 2, 3]
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_sends_without_insert_returning(mysql_database_url, monkeypatch):
    """MySQL 8 has no INSERT … RETURNING: the ids are read back under the same locks (by the send
    batches' driver SQL, and by the SQLAlchemy path of system notes)."""
    store = Store(mysql_database_url)
    try:
        tenant_id = await new_tenant(store)
        session_a, session_b = await new_session(store, tenant_id), await new_session(store, tenant_id)
        await send(store, tenant_id, session_a, "first")
        await store.get_session(tenant_id, session_a)  # connects the pool, so the dialect knows the server
        store.engine.dialect.insert_returning = False
        monkeypatch.setattr(store_sends.MySQLSendSql, "_returning", property(lambda self: False))
        results = await gather_all(*(send(store, tenant_id, (session_a, session_b)[i % 2], f"m{i}")
                                     for i in range(10)))
        _, [note] = await store.set_assignment(tenant_id, session_b, 7, system_note="Agent joined")
        stored = {(m["session_id"], m["seq"]): m["id"] for sid in (session_a, session_b)
                  for m in await store.list_messages(tenant_id, sid)}
        assert {(r.message["session_id"], r.message["seq"]): r.message["id"] for r in results}.items() <= stored.items()
        assert stored[(session_b, note["seq"])] == note["id"]
        assert len(stored) == 12
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_send_connection_the_server_dropped_is_replaced(mysql_database_url):
    """The send writer keeps its connections between batches; one the server closed meanwhile
    (restart, wait_timeout) costs the next batch a retry on a new connection, not an error."""
    store = Store(mysql_database_url)
    try:
        tenant_id = await new_tenant(store)
        session_id = await new_session(store, tenant_id)
        await send(store, tenant_id, session_id, "one")
        kept = [conn.thread_id() for conn in store._writer._idle]
        assert kept
        async with store.engine.connect() as conn:
            for thread_id in kept:
                await conn.exec_driver_sql(f"KILL CONNECTION {int(thread_id)}")
        assert (await send(store, tenant_id, session_id, "two", client_msg_id="c2")).message["seq"] == 2
        assert await seqs_of(store, tenant_id, session_id) == [1, 2]
        assert not set(kept) & {conn.thread_id() for conn in store._writer._idle}
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_the_health_ping_shares_the_send_connections_and_replaces_a_dropped_one(mysql_database_url):
    """`Store.ping` (GET /healthz) is a COM_PING on a connection the sends keep: one the server
    killed is replaced without a failed check, and a burst of checks keeps no more connections
    than sends use."""
    store = Store(mysql_database_url)
    try:
        await store.ping()
        kept = [conn.thread_id() for conn in store._writer._idle]
        assert len(kept) == 1
        async with store.engine.connect() as conn:
            await conn.exec_driver_sql(f"KILL CONNECTION {int(kept[0])}")
        await store.ping()
        assert [conn.thread_id() for conn in store._writer._idle] != kept
        await gather_all(*(store.ping() for _ in range(20)))
        assert 1 <= len(store._writer._idle) <= store_writer.SEND_BATCHES_IN_FLIGHT + 1
        tenant_id = await new_tenant(store)
        session_id = await new_session(store, tenant_id)
        assert (await send(store, tenant_id, session_id, "after the pings")).message["seq"] == 1
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_sends_store_hostile_text_verbatim(store):
    """Quotes, backslashes, NUL, format markers and SQL in every text a send writes (on MySQL the
    batch writes them as escaped literals) come back exactly as sent."""
    tenant_id = await new_tenant(store)
    session_id = await new_session(store, tenant_id)
    hostile = "O'Brien \\' \" \x00 \n\r\x1a %s %(x)s {0} '); DROP TABLE messages; -- 😀 \u2028 ` \\"
    results = await gather_all(*(store.send_message(tenant_id, session_id, sender_type="visitor", sender_id=1,
                                                    sender_name=hostile[:200], body=f"{hostile} {i}",
                                                    client_msg_id=f"'{i}\\") for i in range(3)))
    assert [r.message["body"] for r in results] == [f"{hostile} {i}" for i in range(3)]
    stored = await store.list_messages(tenant_id, session_id)
    assert [(m["body"], m["sender_name"], m["client_msg_id"]) for m in stored] == [
        (f"{hostile} {i}", hostile[:200], f"'{i}\\") for i in range(3)]
    session = await store.get_session(tenant_id, session_id)
    assert session["last_message_preview"] == preview_of(f"{hostile} 2")
    again = await store.send_message(tenant_id, session_id, sender_type="visitor", sender_id=1, sender_name="V",
                                     body="retry", client_msg_id="'1\\")
    assert not again.created and again.message["seq"] == 2


@pytest.mark.gen_test(timeout=30)
async def test_an_sqlite_send_waits_for_another_writer_then_answers_503(tmp_path, monkeypatch):
    """Another process holding SQLite's write lock longer than the busy timeout: the send fails with
    StoreUnavailable (a 503), nothing is half-written, and the next send works once the lock is gone."""
    import sqlite3

    from callcenter.store import StoreUnavailable

    monkeypatch.setattr(store_base, "SQLITE_BUSY_TIMEOUT_SECS", 0.3)
    monkeypatch.setattr(store_writer, "SQLITE_BUSY_TIMEOUT_SECS", 0.3)
    path = tmp_path / "locked.sqlite3"
    store = Store(f"sqlite+aiosqlite:///{path}")
    try:
        await migrations.upgrade_async(store.url)
        tenant_id = await new_tenant(store)
        session_id = await new_session(store, tenant_id)
        await send(store, tenant_id, session_id, "one")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable):
                await send(store, tenant_id, session_id, "two")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert (await send(store, tenant_id, session_id, "three")).message["seq"] == 2
        assert [m["body"] for m in await store.list_messages(tenant_id, session_id)] == ["one", "three"]
    finally:
        await store.close()


# ---- (2) client_msg_id: a retry never makes a second message ---------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_concurrent_sends_with_one_client_msg_id_make_one_message(store):
    tenant_id = await new_tenant(store)
    session_id = await new_session(store, tenant_id)
    results = await gather_all(*(send(store, tenant_id, session_id, "Where is my order?",
                                          client_msg_id="retry-me") for _ in range(20)))
    assert sum(r.created for r in results) == 1, "exactly one caller created it"
    assert len({r.message["id"] for r in results}) == 1, "every caller got the same message"
    assert {r.message["seq"] for r in results} == {1}
    stored = await store.list_messages(tenant_id, session_id)
    assert [(m["seq"], m["client_msg_id"]) for m in stored] == [(1, "retry-me")]
    session = await store.get_session(tenant_id, session_id)
    assert session["last_seq"] == 1 and session["agent_unread"] == 1, "the losers changed nothing"

    # The losers' rolled-back attempts left no gap, and a later retry still returns the first message.
    assert (await send(store, tenant_id, session_id, "next")).message["seq"] == 2
    again = await send(store, tenant_id, session_id, "Where is my order?", client_msg_id="retry-me")
    assert not again.created and again.message["id"] == results[0].message["id"]
    assert await seqs_of(store, tenant_id, session_id) == [1, 2]


@pytest.mark.gen_test(timeout=30)
async def test_client_msg_id_is_scoped_to_its_sender(store):
    tenant_id = await new_tenant(store)
    session_id = await new_session(store, tenant_id)
    visitor = await send(store, tenant_id, session_id, "hi", sender="visitor", sender_id=1, client_msg_id="c-1")
    agent = await send(store, tenant_id, session_id, "hello", sender="agent", sender_id=1, client_msg_id="c-1")
    other_agent = await send(store, tenant_id, session_id, "hey", sender="agent", sender_id=2, client_msg_id="c-1")
    assert visitor.created and agent.created and other_agent.created
    assert [visitor.message["seq"], agent.message["seq"], other_agent.message["seq"]] == [1, 2, 3]
    # Ids are compared byte for byte: a different case is a different id (MySQL folds case by default).
    upper = await send(store, tenant_id, session_id, "hi", sender="visitor", sender_id=1, client_msg_id="C-1")
    assert upper.created and upper.message["seq"] == 4


# ---- (3) a failed send leaves no gap -------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_failed_sends_leave_no_gap(store):
    tenant_a, tenant_b = await new_tenant(store), await new_tenant(store)
    session_a = await new_session(store, tenant_a)
    session_b = await new_session(store, tenant_b)
    assert (await send(store, tenant_a, session_a, "one")).message["seq"] == 1
    before = await store.get_session(tenant_a, session_a)

    with pytest.raises(NotFound):  # another tenant's session
        await send(store, tenant_b, session_a, "sneaky")
    with pytest.raises(NotFound):  # no such session
        await send(store, tenant_a, new_session_id(), "lost")
    with pytest.raises(NotFound):
        await send(store, tenant_a, session_b, "cross", client_msg_id="x-1")

    assert await store.get_session(tenant_a, session_a) == before
    assert (await store.get_session(tenant_b, session_b))["last_seq"] == 0
    assert await store.count(messages, tenant_b) == 0
    assert (await send(store, tenant_a, session_a, "two")).message["seq"] == 2
    assert await seqs_of(store, tenant_a, session_a) == [1, 2]


@pytest.mark.gen_test(timeout=30)
async def test_a_send_failing_inside_its_transaction_rolls_back_whole(mysql_database_url):
    """The session row is bumped first; if the message insert then fails, the bump is undone too."""
    store = Store(mysql_database_url)
    try:
        tenant_id = await new_tenant(store)
        session_id = await new_session(store, tenant_id)
        await send(store, tenant_id, session_id, "one")
        before = await store.get_session(tenant_id, session_id)
        if await strict_sql_mode(store):  # the default: an over-long value is an error, after the session row's UPDATE ran
            with pytest.raises(sa.exc.DBAPIError) as info:
                await store.send_message(tenant_id, session_id, sender_type="agent", sender_id=1,
                                         sender_name="N" * 5000, body="too long a name")
            assert "too long a name" not in str(info.value), "errors do not quote the values"
            assert await store.get_session(tenant_id, session_id) == before
        assert (await send(store, tenant_id, session_id, "two")).message["seq"] == before["last_seq"] + 1
        assert await seqs_of(store, tenant_id, session_id) == list(range(1, before["last_seq"] + 2))
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_database_errors_do_not_quote_the_data(store):
    """A failed statement's error (logged on a 500 or a 503) names the SQL, never the values: those
    are message bodies, e-mail addresses, search text."""
    tenant_id = await new_tenant(store)
    secret = "private message text 4111-1111"
    row = {"tenant_id": tenant_id, "session_id": new_session_id(), "seq": 1, "sender_type": "visitor",
           "sender_id": 1, "sender_name": "V", "body": secret, "client_msg_id": None, "created_at_ms": 1}
    with pytest.raises(sa.exc.IntegrityError) as info:  # no such session: the foreign key refuses it
        await store.insert_rows(messages, [row])
    assert "messages" in str(info.value)
    assert secret not in str(info.value)


# ---- (4) migrations == table definitions ---------------------------------------------------------------

def _include(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and name == "alembic_version")


async def schema_diff(url: str) -> list:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c, opts={
                "compare_type": True, "compare_server_default": True, "include_object": _include,
            }), metadata))
    finally:
        await engine.dispose()


def test_migrations_match_the_tables_on_sqlite(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    migrations.upgrade(url)
    assert asyncio.run(migrations.current_revision(url)) == migrations.head_revision()
    assert asyncio.run(schema_diff(url)) == []


def test_migrations_match_the_tables_on_mariadb(mysql_database_url):
    # The run's database was made by `migrations.upgrade` (conftest), the same code as `callcenter migrate`.
    assert asyncio.run(migrations.current_revision(mysql_database_url)) == migrations.head_revision()
    assert asyncio.run(schema_diff(mysql_database_url)) == []


def test_mariadb_ids_are_case_sensitive_and_text_is_utf8mb4(mysql_database_url):
    async def columns() -> dict:
        engine = create_async_engine(mysql_database_url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.text(
                    "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                    "WHERE table_schema = DATABASE() AND collation_name IS NOT NULL"))).all()
        finally:
            await engine.dispose()
        return {(t, c): coll for t, c, coll in rows}

    found = asyncio.run(columns())
    for key in [("tenants", "id"), ("sessions", "id"), ("sessions", "tenant_id"), ("messages", "session_id"),
                ("messages", "client_msg_id")]:
        assert found[key] == "utf8mb4_bin", key
    assert all(coll.startswith("utf8mb4") for coll in found.values()), found


# ---- (5) list_sessions: cursor pages and filters; read marks -------------------------------------------

async def _set(store: Store, session_id: str, **values) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(sessions.update().where(sessions.c.id == session_id).values(**values))


@pytest.mark.gen_test(timeout=60)
async def test_list_sessions_pages_and_filters(store):
    tenant_id, other_tenant = await new_tenant(store), await new_tenant(store)
    base = 1_700_000_000_000
    made = []
    for i in range(13):
        sid = await new_session(store, tenant_id, name=f"Customer {i}", email=f"c{i}@example.com")
        status = ("open", "assigned", "resolved")[i % 3]
        agent = (7 if i % 2 else 8) if status != "open" else None
        # Timestamps in groups of three: the cursor must break ties by id.
        await _set(store, sid, status=status, assigned_agent_id=agent, updated_at_ms=base + i // 3)
        made.append({"id": sid, "status": status, "agent": agent, "ts": base + i // 3, "name": f"Customer {i}"})
    decoy = await new_session(store, other_tenant, name="Customer 1", email="c1@example.com")
    await send(store, other_tenant, decoy, "discount code 50% off")
    newest_first = sorted(made, key=lambda s: (s["ts"], s["id"]), reverse=True)

    async def all_pages(flt: SessionFilter, limit: int) -> list[str]:
        ids, cursor, pages = [], None, 0
        while True:
            rows, cursor = await store.list_sessions(tenant_id, flt, limit=limit, cursor=cursor)
            assert len(rows) <= limit
            ids += [r["id"] for r in rows]
            pages += 1
            if cursor is None:
                return ids
            assert rows and decode_cursor(encode_cursor(*cursor)) == cursor, "cursors survive the URL round trip"
            assert pages < 50

    everything = [s["id"] for s in newest_first]
    for limit in (1, 4, 5, 13, 50):
        assert await all_pages(SessionFilter(), limit) == everything, f"limit {limit}"
    rows, cursor = await store.list_sessions(tenant_id, SessionFilter(), limit=13)
    assert len(rows) == 13 and cursor is None, "an exact last page has no next cursor"

    def expected(pred) -> list[str]:
        return [s["id"] for s in newest_first if pred(s)]

    for status in ("open", "assigned", "resolved"):
        assert await all_pages(SessionFilter(status=status), 2) == expected(lambda s, st=status: s["status"] == st)
    assert await all_pages(SessionFilter(status="active"), 3) == expected(lambda s: s["status"] != "resolved")
    assert await all_pages(SessionFilter(assigned_agent_id=7), 2) == expected(lambda s: s["agent"] == 7)
    assert await all_pages(SessionFilter(unassigned=True), 2) == expected(lambda s: s["agent"] is None)
    assert await all_pages(SessionFilter(status="assigned", assigned_agent_id=8), 1) == expected(
        lambda s: s["status"] == "assigned" and s["agent"] == 8)

    # Search: name, email, and message text; LIKE wildcards in the query are literal characters.
    assert await all_pages(SessionFilter(query="Customer 1"), 2) == expected(
        lambda s: s["name"].startswith("Customer 1"))
    assert await all_pages(SessionFilter(query="c12@example"), 5) == [made[12]["id"]]
    await send(store, tenant_id, made[4]["id"], "is the discount code 50% off?")
    await send(store, tenant_id, made[5]["id"], "is it 500 off?")
    await _set(store, made[4]["id"], updated_at_ms=base)
    await _set(store, made[5]["id"], updated_at_ms=base)
    assert await all_pages(SessionFilter(query="50% off"), 5) == [made[4]["id"]]
    assert await all_pages(SessionFilter(query="%"), 5) == [made[4]["id"]]
    assert await all_pages(SessionFilter(query="_"), 5) == []
    assert await all_pages(SessionFilter(query="nobody at all"), 5) == []

    # The other tenant's look-alike is never listed, with or without filters.
    rows, _ = await store.list_sessions(tenant_id, SessionFilter(query="c1@example.com"), limit=50)
    assert decoy not in [r["id"] for r in rows]
    rows, _ = await store.list_sessions(other_tenant, SessionFilter(), limit=50)
    assert [r["id"] for r in rows] == [decoy]


@pytest.mark.parametrize("bad", ["", "!!!", "bm90LWEtY3Vyc29y", encode_cursor(1, "x" * 40),
                                 encode_cursor(1, "abc'--")])
def test_decode_cursor_refuses_what_it_did_not_make(bad):
    with pytest.raises(ValueError):
        decode_cursor(bad)


@pytest.mark.gen_test(timeout=30)
async def test_mark_read_and_agent_unread(store):
    tenant_id = await new_tenant(store)
    session_id = await new_session(store, tenant_id)
    for sender in ("visitor", "visitor", "agent", "visitor", "visitor"):  # seqs 1..5
        await send(store, tenant_id, session_id, f"from {sender}", sender=sender)
    session = await store.get_session(tenant_id, session_id)
    assert (session["agent_unread"], session["agent_read_seq"], session["visitor_read_seq"]) == (4, 0, 0)

    row = await store.mark_read(tenant_id, session_id, "agent", 3)
    assert (row["agent_read_seq"], row["agent_unread"]) == (3, 2), "visitor messages after seq 3: 4 and 5"
    stored = await store.get_session(tenant_id, session_id)
    assert (stored["agent_read_seq"], stored["agent_unread"]) == (3, 2), "the returned row is what was stored"

    row = await store.mark_read(tenant_id, session_id, "agent", 1)
    assert (row["agent_read_seq"], row["agent_unread"]) == (3, 2), "read marks never move back"

    row = await store.mark_read(tenant_id, session_id, "agent", 99)
    assert (row["agent_read_seq"], row["agent_unread"]) == (5, 0), "clamped to the last message"

    await send(store, tenant_id, session_id, "one more")  # seq 6, visitor
    await send(store, tenant_id, session_id, "agent reply", sender="agent")  # seq 7
    stored = await store.get_session(tenant_id, session_id)
    assert (stored["last_seq"], stored["agent_unread"], stored["agent_read_seq"]) == (7, 1, 5)

    row = await store.mark_read(tenant_id, session_id, "visitor", 7)
    assert row["visitor_read_seq"] == 7 and row["agent_unread"] == 1, "the visitor's mark leaves the agent's alone"
    row = await store.mark_read(tenant_id, session_id, "agent", 6)
    assert (row["agent_read_seq"], row["agent_unread"]) == (6, 0)
    stored = await store.get_session(tenant_id, session_id)
    assert (stored["agent_read_seq"], stored["agent_unread"], stored["visitor_read_seq"]) == (6, 0, 7)

    other = await new_tenant(store)
    with pytest.raises(NotFound):
        await store.mark_read(other, session_id, "agent", 7)
    with pytest.raises(NotFound):
        await store.mark_read(tenant_id, new_session_id(), "agent", 1)
    assert (await store.get_session(tenant_id, session_id))["agent_read_seq"] == 6


@pytest.mark.gen_test(timeout=120)
async def test_mysql_over_tls_with_the_options_in_the_url():
    """A server that takes TLS connections only, its CA given as `?ssl_ca=` in the URL: migrations,
    the pool and the send writer's own connections (their transport taken over after aiomysql's TLS
    handshake) all go over TLS."""
    from tests.mocking import private_mariadb

    with private_mariadb() as server:
        import pymysql
        admin = pymysql.connect(host="127.0.0.1", port=server.port, user="root", ssl={"ca": server.cert})
        admin.cursor().execute("CREATE DATABASE cc_tls")
        admin.close()
        url = server.url("cc_tls")
        await asyncio.get_running_loop().run_in_executor(None, migrations.upgrade, url)
        assert await migrations.current_revision(url) == migrations.head_revision()
        store = Store(url)
        try:
            tenant_id = await new_tenant(store)
            session_id = await new_session(store, tenant_id)
            results = await gather_all(*(send(store, tenant_id, session_id, f"m{i}") for i in range(12)))
            assert sorted(r.message["seq"] for r in results) == list(range(1, 13))
            await store.ping()
            send_conn = (store._writer._next or (None,))[0] or store._writer._idle[0]
            [[(_, cipher)]] = await send_conn.query("SHOW STATUS LIKE 'Ssl_cipher'")
            assert cipher, "the send connection is encrypted"
            async with store.engine.connect() as conn:
                pool_cipher = (await conn.exec_driver_sql("SHOW STATUS LIKE 'Ssl_cipher'")).one()[1]
            assert pool_cipher
            assert await seqs_of(store, tenant_id, session_id) == list(range(1, 13))
        finally:
            await store.close()
