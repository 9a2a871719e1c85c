#!/usr/bin/env python3
"""The send writer's MySQL client (`callcenter.mysql_wire.WireConnection`) against aiomysql and
asyncmy, on the same server and the same queries: latency per query and the client's CPU per query.

    python scripts/bench_mysql_client.py                       # MariaDB at 127.0.0.1:3306, root
    python scripts/bench_mysql_client.py --url mysql+aiomysql://user:pw@host:3306 --queries 5000
    python scripts/bench_mysql_client.py --asyncmy-prepared    # and asyncmy's server-side prepared statements

Queries: `SELECT 1`, and a row the shape of a send batch's lock (one JSON_ARRAY of 27 values).
Each client runs the queries one after another, blocks of the clients alternating, with a short
sleep between queries (as a worker's event loop idles between batches) or none (`--tight`).
Every client sends the same SQL text through its plain text-protocol query (aiomysql's and
asyncmy's cursor `execute` + `fetchall`, `WireConnection.query`). With `--asyncmy-prepared`, a
fourth row per query: asyncmy's `prepare()` (binary protocol, the values as bound parameters, the
statement prepared once) executing the same query, for what bound parameters would cost on the hot
path. Nothing is written; no database is created.

`--case send-batch`: the send path, one batch of N messages (to N distinct sessions) end to end,
for N = 1 and 8 (`--sizes`), in a scratch database the script creates, migrates with the product's
schema and drops at the end (`tests.harness.ScratchDatabase`, `cc_bench_mysqlclient_<random>`). Clients:

- `WireConnection`: the product's hot path itself, `store.sends.MySQLSendSql` + `store_batch` on a
  `WireConnection` with multi-statements on, driven as `SendWriter._store_once` drives them: the
  lock (`SELECT JSON_ARRAY(…) … FOR UPDATE`), then `UPDATE …; INSERT … RETURNING …; COMMIT` as one
  query: 2 round trips a batch. With `--queued` every batch has the next one queued behind it (a
  busy worker), and the next batch's lock rides on this batch's write: 1 round trip a batch.
- asyncmy (and aiomysql, for reference): the same `store_batch` and the same SQL statements, every
  value a bound parameter, one statement per round trip in a transaction (autocommit off): lock,
  UPDATE, INSERT … RETURNING, COMMIT, 4 round trips a batch (`--queued` changes nothing for them:
  the next lock is a round trip of its own either way). "%s" is the driver's cursor with `%s`
  parameters (text protocol: the driver escapes the values into the text it sends); "prepared" is
  asyncmy's cursor with its statement cache on (`stmt_cache_size`): server-side prepared statements,
  values sent apart from the SQL in the binary protocol.

Before timing, every client sends batches of hostile text (quotes, backslashes, `%s`, `?`, emoji,
NUL, line breaks); after the run, every session's seqs must be gapless, every stored body and id
equal what was sent and answered, and each session row agree with its messages. Per batch: latency
p50/p95/p99 and the process's CPU time; then each other client ÷ WireConnection. `--runs R`
repeats the whole alternation R times and reports the medians of the runs' figures.

    python scripts/bench_mysql_client.py --case send-batch --runs 3
    python scripts/bench_mysql_client.py --case send-batch --runs 3 --tight
    python scripts/bench_mysql_client.py --case send-batch --runs 3 --tight --queued

asyncmy (the Cython MySQL driver) is needed only by this benchmark, not by the product: install it
by hand (`pip install asyncmy`); without it the script measures the other two and says so.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiomysql  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from callcenter.domain import MESSAGE_SESSION_COLUMNS, preview_of  # noqa: E402
from callcenter.mysql_wire import WireConnection  # noqa: E402
from callcenter.store.sends import (_MESSAGE_COLUMN_NAMES, _MESSAGE_INSERT_COLUMNS, _SESSION_COLUMN_NAMES,  # noqa: E402
                                    _USAGE_INSERT_COLUMNS, MySQLSendSql, SendRequest, SendResult, _by_client_key,
                                    store_batch)

LOCK_ROW_VALUES = [f"{'v' * (i % 7 + 1)}{i}" if i % 3 else i * 1000003 for i in range(27)]
QUERIES = {
    "select 1": "SELECT 1",
    "lock-shaped row": "SELECT JSON_ARRAY(" + ", ".join(
        f"'{value}'" if isinstance(value, str) else str(value) for value in LOCK_ROW_VALUES) + ")",
}
# The same queries with their values as bound parameters (`--asyncmy-prepared`).
PREPARED = {
    "select 1": ("SELECT 1", ()),
    "lock-shaped row": ("SELECT JSON_ARRAY(" + ", ".join("?" * len(LOCK_ROW_VALUES)) + ")", tuple(LOCK_ROW_VALUES)),
}
_NAME_OF_SQL = {sql: name for name, sql in QUERIES.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def aiomysql_query(conn, sql: str):
    cursor = await conn.cursor()
    await cursor.execute(sql)
    return await cursor.fetchall()


async def wire_query(conn, sql: str):
    return await conn.query(sql)


async def asyncmy_query(conn, sql: str):
    cursor = conn.cursor()
    await cursor.execute(sql)
    return await cursor.fetchall()


class AsyncmyPrepared:
    """asyncmy's server-side prepared statements: each query prepared once, executed with its
    parameters bound (the SQL text is ignored; `PREPARED` has the statement for each query)."""

    def __init__(self, conn):
        self.conn = conn
        self.statements: dict[str, object] = {}

    async def query(self, sql: str):
        name = _NAME_OF_SQL[sql]
        statement, params = PREPARED[name]
        if name not in self.statements:
            self.statements[name] = await self.conn.prepare(statement)
        return (await self.statements[name].execute(params)).rows

    def close(self) -> None:
        self.conn.close()


async def check_same_rows(clients: dict) -> None:
    """Every client reads the same rows for every query (so they are measured doing the same work)."""
    for name, sql in QUERIES.items():
        answers = {}
        for client, (conn, query) in clients.items():
            rows = await query(conn, sql)
            answers[client] = [tuple(row) for row in (rows[0] if client == "WireConnection" else rows)]
        first = next(iter(answers.values()))
        if any(rows != first for rows in answers.values()):
            raise SystemExit(f"the clients disagree on {name!r}: {answers}")


async def run(args) -> None:
    url = make_url(args.url)
    connect_args = {"host": url.host or "127.0.0.1", "port": url.port or 3306, "user": url.username or "root",
                    "password": url.password or "", "charset": "utf8mb4"}
    clients = {
        "aiomysql": (await aiomysql.connect(**connect_args), aiomysql_query),
        "WireConnection": (await WireConnection.connect(**connect_args), wire_query),
    }
    try:
        import asyncmy
    except ImportError:
        print("# asyncmy is not installed (pip install asyncmy): measuring aiomysql and WireConnection only")
    else:
        clients[f"asyncmy {importlib.metadata.version('asyncmy')}"] = (await asyncmy.connect(**connect_args),
                                                                       asyncmy_query)
        if args.asyncmy_prepared:
            prepared = AsyncmyPrepared(await asyncmy.connect(**connect_args))
            clients["asyncmy prepared"] = (prepared, lambda conn, sql: conn.query(sql))
    await check_same_rows(clients)
    print(f"# python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.queries} queries per client and "
          f"query, {'no pause' if args.tight else f'{args.pause_us} us pause'} between queries")
    print("| query | client | p50 us | p90 us | p99 us | client CPU us / query |")
    print("|---|---|---:|---:|---:|---:|")
    blocks = 10
    for name, sql in QUERIES.items():
        times = {client: [] for client in clients}
        cpu = {client: 0.0 for client in clients}
        for _ in range(blocks):
            for client, (conn, query) in clients.items():
                started_cpu = time.process_time()
                for _ in range(args.queries // blocks):
                    started = time.perf_counter()
                    await query(conn, sql)
                    times[client].append((time.perf_counter() - started) * 1e6)
                    if not args.tight:
                        await asyncio.sleep(args.pause_us / 1e6)
                cpu[client] += time.process_time() - started_cpu
        for client in clients:
            took = times[client]
            # (the pause's own loop work is in the CPU figure for every client alike)
            print(f"| {name} | {client} | {percentile(took, .5):.0f} | {percentile(took, .9):.0f} | "
                  f"{percentile(took, .99):.0f} | {cpu[client] / len(took) * 1e6:.0f} |")
    for conn, _query in clients.values():
        conn.close()


# ---- the send path (--case send-batch) ---------------------------------------------------------

HOSTILE_BODIES = [
    "it's a quote", 'say "hi"', "''", "back\\slash \\' \\\\ \\n \\0 end\\", "emoji 😀👍🏽 漢字 ﷽ 𝔘",
    "%s %(x)s %% %d ? ?? :1 $1 {0}", "'); DROP TABLE messages; -- ", "line\nbreak\ttab\r\nend", "nul\x00byte",
    "\x1a ctrl-z", "   spaced    out   ", "0x41 _binary'x' N'y' b'1'", "\u202eright-to-left\u202c", "x" * 1500,
]


# What each connection ran (server-side counters of its session): prepared statements really used.
STATUS_SQL = ("SHOW SESSION STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute', 'Com_select', "
              "'Com_update', 'Com_insert', 'Com_commit')")


class BoundSendSql:
    """`MySQLSendSql`'s statements for `store_batch` with every value a bound parameter, one statement
    per round trip in the connection's transaction (autocommit off): lock, [lookup,] UPDATE,
    INSERT … RETURNING, COMMIT. `execute(sql, params)` returns the statement's rows; `%s` marks."""

    def __init__(self, execute, commit):
        self._execute = execute
        self._commit = commit
        self._locked: dict[str, tuple] = {}

    async def lock_sessions(self, ids: list[str]) -> dict[str, dict]:
        rows = await self._execute(
            f"SELECT JSON_ARRAY({', '.join(_SESSION_COLUMN_NAMES)}) FROM sessions "
            f"WHERE id IN ({', '.join(['%s'] * len(ids))}) ORDER BY id FOR UPDATE", ids)
        found = {}
        for (packed,) in rows:
            row = dict(zip(_SESSION_COLUMN_NAMES, json.loads(packed)))
            found[row["id"]] = row
        self._locked = {sid: tuple(row[col] for col in MESSAGE_SESSION_COLUMNS) for sid, row in found.items()}
        return found

    async def stored_messages(self, keys: set[tuple]) -> dict[tuple, dict]:
        rows = await self._execute(
            f"SELECT {', '.join(_MESSAGE_COLUMN_NAMES)} FROM messages WHERE (session_id, sender_type, sender_id, "
            f"client_msg_id) IN ({', '.join(['(%s, %s, %s, %s)'] * len(keys))})", [v for key in keys for v in key])
        return _by_client_key(dict(zip(_MESSAGE_COLUMN_NAMES, row)) for row in rows)

    async def write(self, touched: list[dict], new_rows: list[dict], usage_rows: list[dict],
                    seq_before: dict[str, int]) -> dict[tuple[str, int], int]:
        def insert_sql(table: str, columns: tuple[str, ...], rows: list[dict]) -> tuple[str, list]:
            marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
            return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([marks] * len(rows))}",
                    [row[col] for row in rows for col in columns])

        inserted: list = []
        if usage_rows:
            await self._execute(*insert_sql("ai_usage", _USAGE_INSERT_COLUMNS, usage_rows))
        if new_rows:
            await self._execute(*self._write_back_sql(touched))
            sql, params = insert_sql("messages", _MESSAGE_INSERT_COLUMNS, new_rows)
            inserted = await self._execute(sql + " RETURNING id, session_id, seq", params)  # (MariaDB)
        await self._commit()
        return {(session_id, seq): message_id for message_id, session_id, seq in inserted}

    def _write_back_sql(self, touched: list[dict]) -> tuple[str, list]:
        """`MySQLSendSql._write_back_sql` with marks: the columns the batch changed, CASE per column."""
        sets, params = [], []
        for index, col in enumerate(MESSAGE_SESSION_COLUMNS):
            changed = [row for row in touched if row[col] != self._locked[row["id"]][index]]
            if not changed:
                continue
            if len(touched) == 1:
                sets.append(f"{col} = %s")
                params.append(changed[0][col])
            else:
                sets.append(f"{col} = CASE id {' '.join(['WHEN %s THEN %s'] * len(changed))} ELSE {col} END")
                for row in changed:
                    params.extend((row["id"], row[col]))
        params.extend(row["id"] for row in touched)
        return f"UPDATE sessions SET {', '.join(sets)} WHERE id IN ({', '.join(['%s'] * len(touched))})", params


class WireSender:
    """The product's hot path: `MySQLSendSql` + `store_batch` on a `WireConnection`, as
    `SendWriter._store_once` drives them (the next batch's lock claimed when one is queued)."""

    name = "WireConnection"

    def __init__(self, conn: WireConnection, *, queued: bool):
        self.conn = conn
        self.prelocked = None
        self.round_trips = "1" if queued else "2"

    async def batch(self, requests: list[SendRequest], next_ids: list[str]) -> list:
        sql = MySQLSendSql(self.conn, prelocked=self.prelocked, claim_next=lambda: next_ids)
        outcomes = await store_batch(sql, requests, check_duplicates=False)
        self.prelocked = sql.next_locked
        return outcomes

    async def statements_run(self) -> dict[str, int]:
        [rows] = await self.conn.query(STATUS_SQL)
        return {name: int(value) for name, value in rows}

    def close(self) -> None:
        self.conn.close()


class BoundSender:
    """`BoundSendSql` + `store_batch` on a driver connection's cursor."""

    round_trips = "4"

    def __init__(self, name: str, conn, cursor):
        self.name, self.conn, self.cursor = name, conn, cursor

    async def _execute(self, sql: str, params) -> list:
        await self.cursor.execute(sql, params)
        return await self.cursor.fetchall()

    async def batch(self, requests: list[SendRequest], next_ids: list[str]) -> list:
        # (next_ids: the next batch locks its rows itself, a round trip either way without multi-statements)
        try:
            return await store_batch(BoundSendSql(self._execute, self.conn.commit), requests, check_duplicates=False)
        except BaseException:
            await self.conn.rollback()
            raise

    async def statements_run(self) -> dict[str, int]:
        rows = await self._execute(STATUS_SQL, None)
        await self.conn.commit()
        return {name: int(value) for name, value in rows}

    def close(self) -> None:
        self.conn.close()


async def send_clients(args, store, database: str, connect_args: dict) -> list:
    from pymysql.constants import CLIENT

    # Exactly what SendWriter._connect opens.
    clients: list = [WireSender(await WireConnection.connect(
        **store.driver_connect_args(client_flag=CLIENT.MULTI_STATEMENTS)), queued=args.queued)]
    plain = {**connect_args, "db": database, "autocommit": False}
    try:
        import asyncmy
    except ImportError:
        print("# asyncmy is not installed (pip install asyncmy): measuring aiomysql and WireConnection only")
    else:
        version = importlib.metadata.version("asyncmy")
        asyncmy_args = {**connect_args, "database": database, "autocommit": False}
        conn = await asyncmy.connect(**asyncmy_args)
        clients.append(BoundSender(f"asyncmy {version} %s", conn, conn.cursor()))
        conn = await asyncmy.connect(**asyncmy_args, stmt_cache_size=args.stmt_cache_size)
        clients.append(BoundSender(f"asyncmy {version} prepared", conn, conn.cursor()))
    if not args.no_aiomysql:
        conn = await aiomysql.connect(**plain)
        clients.append(BoundSender("aiomysql %s", conn, await conn.cursor()))
    return clients


class SendBench:
    """The scratch database's sessions, the batches sent to them and what each send was answered."""

    def __init__(self, tenant_id: str, session_ids: list[str]):
        self.tenant_id = tenant_id
        self.session_ids = session_ids
        self.next_session = 0
        self.sent = 0
        self.expected: dict[tuple[str, int], tuple[int, str]] = {}  # (session, seq) -> (id, body)

    def make_batch(self, size: int, *, hostile: bool = False) -> list[SendRequest]:
        ids = [self.session_ids[(self.next_session + i) % len(self.session_ids)] for i in range(size)]
        self.next_session += size
        batch = []
        for sid in ids:
            self.sent += 1
            text = HOSTILE_BODIES[self.sent % len(HOSTILE_BODIES)]
            body = text if hostile else f"message {self.sent}: {text[:60]}"
            # As the widget sends: a client_msg_id, and the per-session budget (never reached here).
            batch.append(SendRequest(self.tenant_id, sid, "visitor", 1, "Bench Visitor", body,
                                     f"bench-{self.sent}", budget=(10 ** 9, 60)))
        return batch

    def record(self, client: str, requests: list[SendRequest], outcomes: list) -> None:
        for request, outcome in zip(requests, outcomes):
            if not (isinstance(outcome, SendResult) and outcome.created):
                raise SystemExit(f"{client}: a send was not stored: {outcome!r}")
            message = outcome.message
            if message["body"] != request.body or message["session_id"] != request.session_id:
                raise SystemExit(f"{client}: the outcome is not the request's message")
            self.expected[(message["session_id"], message["seq"])] = (message["id"], message["body"])

    async def verify(self, conn) -> int:
        """Gapless seqs, stored ids and bodies as answered, session rows in step; the messages checked."""
        cursor = await conn.cursor()
        await cursor.execute("SELECT session_id, seq, id, body FROM messages ORDER BY session_id, seq")
        stored: dict[str, list[tuple]] = {}
        for session_id, seq, message_id, body in await cursor.fetchall():
            stored.setdefault(session_id, []).append((seq, message_id, body))
        await cursor.execute("SELECT id, last_seq, agent_unread, last_message_preview FROM sessions")
        sessions = {row[0]: row[1:] for row in await cursor.fetchall()}
        await cursor.close()
        count = 0
        for sid in self.session_ids:
            last_seq, unread, preview = sessions[sid]
            rows = stored.pop(sid, [])
            if [seq for seq, _, _ in rows] != list(range(1, last_seq + 1)):
                raise SystemExit(f"session {sid}: seqs {[seq for seq, _, _ in rows][:20]}… for last_seq {last_seq}")
            for seq, message_id, body in rows:
                if self.expected.get((sid, seq)) != (message_id, body):
                    raise SystemExit(f"session {sid} seq {seq}: stored {(message_id, body)!r}, "
                                     f"sent {self.expected.get((sid, seq))!r}")
            if unread != last_seq or (rows and preview != preview_of(rows[-1][2])):
                raise SystemExit(f"session {sid}: row ({unread} unread, {preview!r}) not in step with its messages")
            count += len(rows)
        if stored or count != len(self.expected):
            raise SystemExit(f"{count} messages stored, {len(self.expected)} sent ({len(stored)} stray sessions)")
        return count


async def run_send_batches(args) -> None:
    from callcenter import migrations
    from callcenter.store import Store

    from tests.harness import ScratchDatabase

    base = make_url(args.url)
    connect_args = {"host": base.host or "127.0.0.1", "port": base.port or 3306, "user": base.username or "root",
                    "password": base.password or "", "charset": "utf8mb4"}
    scratch = ScratchDatabase(args.url, prefix="cc_bench_mysqlclient_")
    database = scratch.name
    clients: list = []
    store = None
    check = None
    try:
        url = await asyncio.to_thread(scratch.create)
        await asyncio.to_thread(migrations.upgrade, url)
        store = Store(url)
        tenant = "bench-tenant"
        await store.create_tenant(tenant, "Bench")
        session_ids = [(await store.start_session(tenant, channel="web", customer_name=f"Visitor {i}",
                                                  customer_email=f"v{i}@example.com"))["id"]
                       for i in range(args.sessions)]
        bench = SendBench(tenant, session_ids)
        clients = await send_clients(args, store, database, connect_args)
        check = await aiomysql.connect(**connect_args, db=database, autocommit=True)
        server = check.get_server_info()
        # Correctness first: hostile text through every client, every size, then everything read back.
        for size in args.sizes:
            for client in clients:
                for _ in range(max(3, len(HOSTILE_BODIES) // size + 1)):
                    requests = bench.make_batch(size, hostile=True)
                    bench.record(client.name, requests, await client.batch(requests, []))
        checked = await bench.verify(check)
        print(f"# {database} on {server}: {len(session_ids)} sessions; hostile text checked through every "
              f"client ({checked} messages)")
        print(f"# python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.batches} batches per client, "
              f"size and run, {args.runs} run(s), {args.blocks} alternating blocks each; "
              f"{'no pause' if args.tight else f'{args.pause_us} us pause'} between batches; "
              f"{'the next batch queued behind each' if args.queued else 'nothing queued behind a batch'}")
        results: dict[tuple[int, str], list[dict]] = {}
        for run_index in range(args.runs):
            for size in args.sizes:
                times = {client.name: [] for client in clients}
                cpu = {client.name: 0.0 for client in clients}
                for _ in range(args.blocks):
                    for client in clients:
                        block = [bench.make_batch(size) for _ in range(args.batches // args.blocks)]
                        took = times[client.name]
                        started_cpu = time.process_time()
                        for index, requests in enumerate(block):
                            # The next batch queued behind this one (its lock may ride on this write);
                            # none after a block's last, so that no lock outlives the block.
                            next_ids = ([r.session_id for r in block[index + 1]]
                                        if args.queued and index + 1 < len(block) else [])
                            started = time.perf_counter()
                            outcomes = await client.batch(requests, next_ids)
                            took.append((time.perf_counter() - started) * 1e6)
                            bench.record(client.name, requests, outcomes)
                            if not args.tight:
                                await asyncio.sleep(args.pause_us / 1e6)
                        cpu[client.name] += time.process_time() - started_cpu
                for client in clients:
                    took = times[client.name]
                    results.setdefault((size, client.name), []).append({
                        "p50": percentile(took, .5), "p95": percentile(took, .95), "p99": percentile(took, .99),
                        "cpu": cpu[client.name] / len(took) * 1e6})
            if args.runs > 1:
                print(f"# run {run_index + 1}: " + "; ".join(
                    f"{client.name} {size}: p50 {results[(size, client.name)][-1]['p50']:.0f} / "
                    f"cpu {results[(size, client.name)][-1]['cpu']:.0f}"
                    for size in args.sizes for client in clients))
        checked = await bench.verify(check)
        print(f"# verified: {checked} messages in {len(session_ids)} sessions, seqs gapless, ids and bodies as sent")
        batches = sum(len(args.sizes) * args.batches // args.blocks * args.blocks for _ in range(args.runs))
        for client in clients:
            ran = await client.statements_run()
            print(f"# {client.name}: statements per timed batch (the warm-up's counted too): " + ", ".join(
                f"{name.removeprefix('Com_')} {value / batches:.2f}" for name, value in sorted(ran.items())))
            if client.name.endswith("prepared") and ran["Com_stmt_execute"] < 3 * batches:
                raise SystemExit(f"{client.name}: {ran} - the statements did not run as prepared statements")
        median = {key: {stat: statistics.median(run[stat] for run in runs) for stat in runs[0]}
                  for key, runs in results.items()}
        if args.runs > 1:
            print(f"# the medians of the {args.runs} runs' figures")
        print("| batch | client | round trips | p50 µs | p95 µs | p99 µs | client CPU µs / batch |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        for size in args.sizes:
            for client in clients:
                m = median[(size, client.name)]
                print(f"| {size} | {client.name} | {client.round_trips} | {m['p50']:.0f} | {m['p95']:.0f} | "
                      f"{m['p99']:.0f} | {m['cpu']:.0f} |")
        print()
        print("| batch | client ÷ WireConnection | p50 | p99 | CPU | within 20 % |")
        print("|---:|---|---:|---:|---:|---|")
        for size in args.sizes:
            wire = median[(size, WireSender.name)]
            for client in clients[1:]:
                m = median[(size, client.name)]
                ratios = [m[stat] / wire[stat] for stat in ("p50", "p99", "cpu")]
                print(f"| {size} | {client.name} | {ratios[0]:.2f} | {ratios[1]:.2f} | {ratios[2]:.2f} | "
                      f"{'yes' if max(ratios) <= 1.2 else 'no'} |")
        if args.json:
            with open(args.json, "a") as out:
                out.write(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "json"},
                                      "results": {f"{size}|{name}": runs for (size, name), runs in results.items()}})
                          + "\n")
    finally:
        for client in clients:
            client.close()
        if check is not None:
            check.close()
        if store is not None:
            await store.close()
        await asyncio.to_thread(scratch.drop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("CALLCENTER_TEST_MYSQL", "mysql+aiomysql://root@127.0.0.1:3306"))
    parser.add_argument("--case", choices=("queries", "send-batch"), default="queries",
                        help="single queries (default), or the send path's batches in a scratch database")
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--pause-us", type=int, default=500)
    parser.add_argument("--tight", action="store_true", help="no pause between queries / batches")
    parser.add_argument("--asyncmy-prepared", action="store_true",
                        help="also asyncmy's server-side prepared statements (bound parameters)")
    send = parser.add_argument_group("--case send-batch")
    send.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")], default=[1, 8],
                      help="messages per batch, each to a distinct session (default 1,8)")
    send.add_argument("--batches", type=int, default=2000, help="batches per client, size and run")
    send.add_argument("--blocks", type=int, default=10, help="alternating blocks per size and run")
    send.add_argument("--runs", type=int, default=1, help="whole alternations; the medians of their figures")
    send.add_argument("--sessions", type=int, default=64)
    send.add_argument("--queued", action="store_true",
                      help="the next batch queued behind each (the product locks it in this batch's write)")
    send.add_argument("--stmt-cache-size", type=int, default=512, help="asyncmy's prepared statement cache")
    send.add_argument("--no-aiomysql", action="store_true", help="leave aiomysql out of the send path")
    send.add_argument("--json", help="append the runs' figures to this file (one JSON line per invocation)")
    args = parser.parse_args()
    if args.case == "send-batch":
        if max(args.sizes) > args.sessions:
            parser.error("--sessions must be at least the largest batch size")
        asyncio.run(run_send_batches(args))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
