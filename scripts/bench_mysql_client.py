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

asyncmy (the Cython MySQL driver) is needed only by this benchmark, not by the product: install it
by hand (`pip install asyncmy`); without it the script measures the other two and says so.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiomysql  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from callcenter.mysql_wire import WireConnection  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("CALLCENTER_TEST_MYSQL", "mysql+aiomysql://root@127.0.0.1:3306"))
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--pause-us", type=int, default=500)
    parser.add_argument("--tight", action="store_true", help="no pause between queries")
    parser.add_argument("--asyncmy-prepared", action="store_true",
                        help="also asyncmy's server-side prepared statements (bound parameters)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
