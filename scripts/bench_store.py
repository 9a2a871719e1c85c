#!/usr/bin/env python3
"""Time the store's own query functions against a generated data set, and EXPLAIN their SQL.

    CALLCENTER_DATABASE_URL=mysql+aiomysql://root@127.0.0.1:3306/cc_bench \\
        python scripts/bench_store.py --tenant-id bench-tenant

Fill the database first with scripts/gen_data.py. Each case calls a real
`Store` method (the one the API handlers call) many times and reports
p50/p95/p99/max latency in milliseconds, measured around the awaited call
(pool checkout and pre-ping, the query, turning rows into dicts):

- list_sessions, first page (limit 50): all; status=open; assigned=me (the
  busiest agent); unassigned; status=active (open+assigned); and the page after
  a cursor deep in the list;
- visitor_history (the "previous conversations" of a session's detail), on
  random sessions; the substring search (list_sessions q=…) a few times, with
  a frequent word and with a word that matches nothing (its worst case);
- list_messages on random sessions: after_seq=0 limit 100 (first page of
  history); before_seq=last_seq+1 limit 100 (the latest page, what the
  dashboard opens); and before_seq paging further back in long sessions;
- send_message as an agent, one call per message on random open/assigned
  sessions, with and without client_msg_id. SQLAlchemy event listeners count
  the statements and the transactions (BEGIN/COMMIT/ROLLBACK) each send makes,
  to show one message is one write transaction.

The SQL each function really sent is captured with a before_cursor_execute
listener during one call, then run again with the same parameters under
EXPLAIN (UPDATEs) or, on MariaDB, ANALYZE (SELECTs: the plan plus r_rows, the
rows really read). Whole-table/index scans and lookups reading more than 1,000
rows are listed as findings at the end.
send_message adds messages to the tenant (it is a write benchmark): run it on
a throwaway database.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from callcenter.store import SessionFilter, Store, agents, sessions  # noqa: E402


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


class SqlCapture:
    """Counts statements and transactions on the engine; optionally records the statements."""

    def __init__(self, engine):
        self.statements: list[tuple[str, object]] = []
        self.recording = False
        self.counts = {"statements": 0, "begin": 0, "commit": 0, "rollback": 0}
        sync = engine.sync_engine
        sa.event.listen(sync, "before_cursor_execute", self._stmt)
        sa.event.listen(sync, "begin", lambda conn: self._bump("begin"))
        sa.event.listen(sync, "commit", lambda conn: self._bump("commit"))
        sa.event.listen(sync, "rollback", lambda conn: self._bump("rollback"))

    def _bump(self, key: str) -> None:
        self.counts[key] += 1

    def _stmt(self, conn, cursor, statement, parameters, context, executemany):
        self.counts["statements"] += 1
        if self.recording:
            self.statements.append((statement, parameters))

    def reset(self) -> None:
        self.statements = []
        self.counts = dict.fromkeys(self.counts, 0)


class Bench:
    def __init__(self, store: Store, capture: SqlCapture, repeat: int, warmup: int):
        self.store, self.capture, self.repeat, self.warmup = store, capture, repeat, warmup
        self.results: list[tuple[str, int, list[float], str]] = []
        self.explains: list[tuple[str, list[tuple[str, object]]]] = []

    async def case(self, label: str, make_call, *, repeat: int | None = None, warmup: int | None = None,
                   note: str = "", explain: bool = True) -> None:
        """Time `make_call()` (a function returning a fresh coroutine) `repeat` times; record its SQL once."""
        repeat = repeat or self.repeat
        for _ in range(self.warmup if warmup is None else warmup):
            await make_call()
        self.capture.reset()
        self.capture.recording = True
        await make_call()
        self.capture.recording = False
        if explain:
            self.explains.append((label, list(self.capture.statements)))
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            await make_call()
            times.append((time.perf_counter() - t0) * 1000)
        self.results.append((label, repeat, sorted(times), note))
        r = self.results[-1][2]
        print(f"  {label:<58} p50 {percentile(r, 50):7.2f}  p99 {percentile(r, 99):7.2f} ms", file=sys.stderr)


def table(results, markdown: bool) -> str:
    head = ("case", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms")
    rows = []
    for label, n, r, _note in results:
        rows.append((label, str(n), *(f"{percentile(r, p):.2f}" for p in (50, 95, 99)), f"{r[-1]:.2f}",
                     f"{statistics.fmean(r):.2f}"))
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(out)
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    fmt = lambda row: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(tuple("-" * w for w in widths)), *map(fmt, rows)])


SCAN_TYPES = {"ALL", "index"}  # whole table / whole index
MANY_ROWS = 1000  # rows read per lookup above which a plan is reported as a scan
SHOWN = ("id", "select_type", "table", "type", "key", "key_len", "ref", "rows", "r_rows", "filtered", "r_filtered",
         "Extra")


def _num(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


async def explain_all(store: Store, explains, markdown: bool, analyze: bool) -> tuple[str, list[str]]:
    """EXPLAIN each captured statement with its own parameters (MariaDB: ANALYZE for SELECTs, which
    runs the query and adds r_rows, the rows really read). Returns the text and the findings."""
    out, warnings, seen = [], [], set()
    async with store.engine.connect() as conn:
        for label, statements in explains:
            for statement, params in statements:
                verb = statement.lstrip().split(None, 1)[0].upper()
                if verb not in ("SELECT", "UPDATE", "DELETE") or (statement, repr(params)) in seen:
                    continue
                seen.add((statement, repr(params)))
                how = "ANALYZE" if analyze and verb == "SELECT" else "EXPLAIN"
                raw = await conn.exec_driver_sql(f"{how} {statement}", params)
                all_cols = list(raw.keys())
                rows = [dict(zip(all_cols, ("NULL" if v is None else str(v) for v in r))) for r in raw.all()]
                cols = [c for c in SHOWN if c in all_cols]
                try:
                    literal = statement % tuple("NULL" if p is None else repr(p) for p in params)
                except (TypeError, ValueError):
                    literal = statement
                out.append(f"-- {label} ({how})\n{' '.join(literal.split())}")
                widths = [max(len(c), *(len(r[c]) for r in rows)) for c in cols]
                out.append("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
                for d in rows:
                    out.append("  ".join(d[c].ljust(w) for c, w in zip(cols, widths)))
                    table_name = d.get("table", "")
                    if table_name.startswith("<derived"):
                        continue  # the materialized page of ids (at most LIMIT rows), sorted once more
                    read = _num(d.get("r_rows")) if "r_rows" in d else _num(d.get("rows"))
                    if d.get("type") in SCAN_TYPES or (d.get("key") == "NULL" and table_name != "NULL"):
                        warnings.append(f"{label}: {table_name} read by type={d.get('type')} key={d.get('key')}")
                    elif read > MANY_ROWS:
                        warnings.append(f"{label}: {table_name} reads {read:,.0f} rows per lookup "
                                        f"({'measured' if 'r_rows' in d else 'estimated'}) through {d.get('key')}")
                    if "filesort" in d.get("Extra", "") and read > MANY_ROWS:
                        warnings.append(f"{label}: {table_name} sorts {read:,.0f} rows")
                out.append("")
    text = "\n".join(out)
    if markdown:
        text = "```\n" + text + "\n```"
    return text, warnings


async def _session_rows(store: Store, tenant: str, ids: list[str]) -> list:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(sessions.c.id, sessions.c.visitor_id, sessions.c.customer_email)
                                   .where(sessions.c.tenant_id == tenant, sessions.c.id.in_(ids)))).all()
    return [dict(r._mapping) for r in rows]


async def main_async(args) -> int:
    store = Store(args.database_url, pool_size=args.pool_size)
    capture = SqlCapture(store.engine)
    rng = random.Random(args.seed)
    tenant = args.tenant_id
    try:
        async with store.engine.connect() as conn:
            srows = (await conn.execute(
                sa.select(sessions.c.id, sessions.c.last_seq, sessions.c.status, sessions.c.updated_at_ms)
                .where(sessions.c.tenant_id == tenant))).all()
            busiest = (await conn.execute(
                sa.select(sessions.c.assigned_agent_id, sa.func.count().label("n"))
                .where(sessions.c.tenant_id == tenant, sessions.c.assigned_agent_id.is_not(None))
                .group_by(sessions.c.assigned_agent_id).order_by(sa.desc("n")).limit(1))).first()
            agent_row = (await conn.execute(agents.select().where(
                agents.c.tenant_id == tenant, agents.c.id == busiest.assigned_agent_id))).first() if busiest else None
            n_messages = (await conn.execute(sa.text("SELECT COUNT(*) FROM messages"))).scalar_one()
            version = (await conn.execute(sa.text("SELECT VERSION()"))).scalar_one() \
                if not store.is_sqlite else "sqlite"
        if not srows or agent_row is None:
            print(f"tenant {tenant!r} has no sessions/assigned agents: run scripts/gen_data.py first", file=sys.stderr)
            return 2
        agent = dict(agent_row._mapping)
        print(f"server {version}; tenant {tenant}: {len(srows):,} sessions, {n_messages:,} messages in the "
              f"database; agent #{agent['id']} {agent['name']} has {busiest.n:,} sessions", file=sys.stderr)
        ids = [r.id for r in srows]
        long_sessions = [(r.id, r.last_seq) for r in srows if r.last_seq > 100]
        live = [r.id for r in srows if r.status != "resolved"]
        deep = sorted(srows, key=lambda r: (r.updated_at_ms, r.id), reverse=True)[len(srows) // 2]
        bench = Bench(store, capture, args.repeat, args.warmup)

        print("list_sessions (first page, limit 50):", file=sys.stderr)
        ls = store.list_sessions
        await bench.case("list_sessions all", lambda: ls(tenant, SessionFilter(), limit=50))
        await bench.case("list_sessions status=open", lambda: ls(tenant, SessionFilter(status="open"), limit=50))
        await bench.case(f"list_sessions assigned=me (agent #{agent['id']}, {busiest.n:,} sessions)",
                         lambda: ls(tenant, SessionFilter(assigned_agent_id=agent["id"]), limit=50))
        await bench.case("list_sessions unassigned", lambda: ls(tenant, SessionFilter(unassigned=True), limit=50))
        await bench.case("list_sessions status=active (open+assigned)",
                         lambda: ls(tenant, SessionFilter(status="active"), limit=50))
        await bench.case("list_sessions all, page at the middle (cursor)",
                         lambda: ls(tenant, SessionFilter(), limit=50, cursor=(deep.updated_at_ms, deep.id)))

        print("other reads the dashboard makes:", file=sys.stderr)
        detail = {r["id"]: r for r in await _session_rows(store, tenant, rng.sample(ids, min(len(ids), 2000)))}
        detail_ids = list(detail)

        def history():
            s = detail[rng.choice(detail_ids)]
            return store.visitor_history(tenant, s["visitor_id"], s["customer_email"], exclude=s["id"])
        await bench.case("visitor_history (session detail: the customer's other sessions)", history)
        if args.search_repeat:
            await bench.case("list_sessions q=invoice (substring search, frequent word)",
                             lambda: ls(tenant, SessionFilter(query="invoice"), limit=50),
                             repeat=args.search_repeat, warmup=0)
            await bench.case("list_sessions q=<no match> (one call: at most 20,000 sessions or 1 s)",
                             lambda: ls(tenant, SessionFilter(query="no-such-words"), limit=50),
                             repeat=args.search_repeat, warmup=0)

            async def search_to_the_end():
                cursor, calls = None, 0
                while True:
                    _rows, cursor, _until = await store.search_sessions(
                        tenant, SessionFilter(query="no-such-words"), limit=50, cursor=cursor)
                    calls += 1
                    if cursor is None:
                        return calls
            print(f"  (a no-match search takes {await search_to_the_end()} calls to reach the oldest session)",
                  file=sys.stderr)
            await bench.case("search q=<no match>, every call to the oldest session (the old one-query cost)",
                             search_to_the_end, repeat=args.search_repeat, warmup=0, explain=False)

        print("list_messages (random sessions):", file=sys.stderr)
        lm = store.list_messages
        await bench.case("list_messages after_seq=0 limit 100",
                         lambda: lm(tenant, rng.choice(ids), after_seq=0, limit=100))
        by_id = {r.id: r.last_seq for r in srows}

        def latest_page():
            sid = rng.choice(ids)
            return lm(tenant, sid, before_seq=by_id[sid] + 1, limit=100)
        await bench.case("list_messages before_seq=last_seq+1 limit 100 (latest page)", latest_page)
        if long_sessions:
            def older_page():
                sid, last = rng.choice(long_sessions)
                return lm(tenant, sid, before_seq=rng.randint(101, last), limit=100)
            await bench.case(f"list_messages before_seq paging (last_seq>100: {len(long_sessions):,} sessions)",
                             older_page)

        print("send_message (agent, one call per message):", file=sys.stderr)
        sm = store.send_message
        send_counts = {}
        for with_id in (True, False):
            label = f"send_message {'with' if with_id else 'without'} client_msg_id"

            def send(with_id=with_id):
                return sm(tenant, rng.choice(live), sender_type="agent", sender_id=agent["id"],
                          sender_name=agent["name"], body=f"Bench reply {secrets.token_hex(6)}: thanks for waiting!",
                          client_msg_id=secrets.token_hex(8) if with_id else None)
            capture.reset()
            await bench.case(label, send, repeat=args.sends, explain=with_id)
            total = args.sends + 1  # the recorded call and the timed ones (counts reset after warmup)
            send_counts[label] = {k: v / total for k, v in capture.counts.items()}
        out = [table(bench.results, args.markdown), ""]
        out.append("Statements and transactions per send_message call (SQLAlchemy events, averaged):")
        for label, c in send_counts.items():
            out.append(f"  {label}: {c['statements']:.2f} statements, {c['begin']:.2f} BEGIN, "
                       f"{c['commit']:.2f} COMMIT, {c['rollback']:.2f} ROLLBACK")
        out.append("  (the write transaction is BEGIN/UPDATE sessions/SELECT last_seq/INSERT message/COMMIT; with a "
                   "client_msg_id one more SELECT checks for a retry first, on a read connection that SQLAlchemy "
                   "ends with ROLLBACK)")
        print("\n".join(out))
        if not store.is_sqlite and not args.no_explain:
            text, warnings = await explain_all(store, bench.explains, args.markdown, "mariadb" in version.lower())
            print("\nEXPLAIN of the statements the store sent:\n")
            print(text)
            print("Scan check: " + (f"no full table/index scans, no lookup reading over {MANY_ROWS:,} rows"
                                    if not warnings else f"{len(warnings)} finding(s)"))
            for w in warnings:
                print("  - " + w)
    finally:
        await store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    p = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    p.add_argument("--database-url", default=os.environ.get("CALLCENTER_DATABASE_URL"),
                   help="the product's database URL; default: $CALLCENTER_DATABASE_URL")
    p.add_argument("--tenant-id", default="bench-tenant", help="tenant filled by gen_data.py")
    p.add_argument("--repeat", type=int, default=1000, help="timed calls per read case")
    p.add_argument("--sends", type=int, default=500, help="timed calls per send_message case")
    p.add_argument("--search-repeat", type=int, default=3,
                   help="timed calls of the (scanning) substring search; 0 skips it")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls before each case")
    p.add_argument("--pool-size", type=int, default=10, help="Store pool size")
    p.add_argument("--seed", type=int, default=7, help="random seed for picking sessions")
    p.add_argument("--markdown", action="store_true", help="print the table and EXPLAIN as Markdown")
    p.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN section")
    args = p.parse_args(argv)
    if not args.database_url:
        p.error("no database: pass --database-url or set CALLCENTER_DATABASE_URL")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
