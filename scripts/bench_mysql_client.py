#!/usr/bin/env python3
"""The send writer's MySQL client (`callcenter.mysql_wire.WireConnection`) against aiomysql, on the
same server and the same queries: latency per query and the client's CPU per query.

    python scripts/bench_mysql_client.py                       # MariaDB at 127.0.0.1:3306, root
    python scripts/bench_mysql_client.py --url mysql+aiomysql://user:pw@host:3306 --queries 5000

Queries: `SELECT 1`, and a row the shape of a send batch's lock (one JSON_ARRAY of 27 values).
Each client runs the queries one after another, blocks of both clients alternating, with a short
sleep between queries (as a worker's event loop idles between batches) or none (`--tight`).
Nothing is written; no database is created.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiomysql  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from callcenter.mysql_wire import WireConnection  # noqa: E402

QUERIES = {
    "select 1": "SELECT 1",
    "lock-shaped row": "SELECT JSON_ARRAY(" + ", ".join(
        f"'{'v' * (i % 7 + 1)}{i}'" if i % 3 else str(i * 1000003) for i in range(27)) + ")",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def aiomysql_query(conn, sql: str):
    cursor = await conn.cursor()
    await cursor.execute(sql)
    return await cursor.fetchall()


async def wire_query(conn, sql: str):
    return await conn.query(sql)


async def run(args) -> None:
    url = make_url(args.url)
    connect_args = {"host": url.host or "127.0.0.1", "port": url.port or 3306, "user": url.username or "root",
                    "password": url.password or "", "charset": "utf8mb4"}
    clients = {
        "aiomysql": (await aiomysql.connect(**connect_args), aiomysql_query),
        "WireConnection": (await WireConnection.connect(**connect_args), wire_query),
    }
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
            # (the pause's own loop work is in the CPU figure for both clients alike)
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
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
