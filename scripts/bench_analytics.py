"""Analytics at scale: the work behind GET /api/v1/analytics (the store's rows, then the summary) over
N conversations of one tenant spread over 90 days, in a scratch MariaDB database (dropped at the end).

    python scripts/bench_analytics.py [N]      # default 100000; MariaDB at 127.0.0.1:3306, root
"""
import asyncio
import datetime as dt
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from callcenter import analytics, migrations  # noqa: E402
from callcenter.store import Store, now_ms, sessions, visitors  # noqa: E402
from tests.harness import DEFAULT_MYSQL_URL, ScratchDatabase  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
database = ScratchDatabase(DEFAULT_MYSQL_URL, prefix="cc_analytics_probe_")
url = database.create()
try:
    migrations.upgrade(url)
    async def main():
        store = Store(url)
        try:
            await store.create_tenant("big", "Big")
            now = now_ms(); rng = random.Random(1)
            await store.insert_rows(visitors, [{"tenant_id": "big", "name": f"v{i}", "email": "", "created_at_ms": now,
                                                "last_seen_at_ms": now} for i in range(N)])
            rows = []
            for i in range(N):
                created = now - rng.randint(0, 89 * 86_400_000)
                first = created + rng.randint(1000, 600_000) if rng.random() < 0.9 else None
                resolved = first + rng.randint(60_000, 3_600_000) if first and rng.random() < 0.7 else None
                rows.append({"id": uuid.uuid4().hex, "tenant_id": "big", "visitor_id": i + 1, "channel": "web",
                             "status": "resolved" if resolved else "open", "assigned_agent_id": None,
                             "customer_name": "", "customer_email": "", "page_url": "", "user_agent": "",
                             "created_at_ms": created, "updated_at_ms": created, "resolved_at_ms": resolved,
                             "last_seq": 0, "last_message_preview": "", "last_message_sender": "",
                             "waiting_since_ms": None, "agent_unread": 0, "agent_read_seq": 0, "visitor_read_seq": 0,
                             "first_response_at_ms": first, "first_agent_response_at_ms": first})
            for k in range(0, N, 5000):
                await store.insert_rows(sessions, rows[k:k + 5000])
            for days in (7, 30, 90):
                took = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    last = analytics.parse_range(None, None, 0).last
                    rng_ = analytics.DateRange(last - dt.timedelta(days=days - 1), last, 0)
                    started, resolved = await store.analytics_rows("big", rng_.start_ms, rng_.end_ms)
                    t1 = time.perf_counter()
                    analytics.summarize(rng_, started, resolved, [])
                    t2 = time.perf_counter()
                    took.append((t1 - t0, t2 - t1, len(started)))
                took.sort()
                q, s, n = took[2]
                print(f"{days} days: {n} conversations, store {q*1000:.0f} ms + summarize {s*1000:.0f} ms (median of 5)")
        finally:
            await store.close()
    asyncio.run(main())
finally:
    database.drop()
