#!/usr/bin/env python3
"""The Redis event bus alone: CPU per event in the publishing and the subscribing worker, and the
time from publishing to delivery, with nothing else running (no store, no sockets).

    python scripts/bench_bus.py                         # Redis at 127.0.0.1:6379, db 15
    python scripts/bench_bus.py --rate 2000 --events 20000 --redis redis://127.0.0.1:6379/15

Two processes, as two workers: the publisher sends `--events` chat.message.new-shaped events at
`--rate` a second, one per loop step (as a worker publishes each stored message), through
`RedisBus.publish_nowait`; the subscriber's bus hands them to a listener that notes the time.
Each process reports its own CPU time (user + system) over the run. Runs against whatever tree the
script sits in, so an older commit's checkout can run its own copy for a comparison.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter.bus import RedisBus, make_redis  # noqa: E402
from callcenter.events import Event  # noqa: E402


def cpu_secs() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def event(n: int) -> Event:
    message = {"id": n, "session_id": "s" * 32, "seq": n, "sender_type": "visitor", "sender_id": 7,
               "sender_name": "Visitor 7", "body": f"bench message {n} " + "x" * 40, "client_msg_id": uuid.uuid4().hex,
               "created_at": "2026-11-26T07:00:00.000Z"}
    session = {"id": "s" * 32, "status": "open", "assigned_agent_id": None, "last_seq": n, "agent_unread": 1}
    return Event("chat.message.new", "bench-tenant", {"message": message, "session": session},
                 session_id="s" * 32, to_visitor=True, meta={"published_at": time.time()})


def subscriber(url: str, prefix: str, events: int, ready, results) -> None:
    async def run() -> None:
        bus = RedisBus(make_redis(url), prefix, url)
        latencies: list[float] = []
        done = asyncio.Event()

        def on_event(received: Event) -> None:
            latencies.append(time.time() - received.meta["published_at"])
            if len(latencies) == events:
                done.set()

        bus.add_listener(on_event)
        await bus.start()
        await bus.subscribe_tenant("bench-tenant")  # as a worker holding a socket of the tenant does
        ready.set()
        started = None
        while not done.is_set():
            if latencies and started is None:
                started = cpu_secs()
            try:
                await asyncio.wait_for(done.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
        cpu = cpu_secs() - (started or cpu_secs())
        await bus.close()
        await bus.redis.aclose()
        results.put({"latencies": latencies, "cpu": cpu})

    asyncio.run(run())


async def publish(url: str, prefix: str, events: int, rate: float) -> dict:
    bus = RedisBus(make_redis(url), prefix, url)
    await bus.start()
    try:
        await bus.publish(event(0))  # connections open before the clock starts
        cpu0, t0 = cpu_secs(), time.perf_counter()
        for n in range(1, events + 1):
            due = t0 + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            future = bus.publish_nowait(event(n))
            if future is not None:
                future.add_done_callback(lambda f: f.exception())
        await bus.wait_idle()
        return {"cpu": cpu_secs() - cpu0, "secs": time.perf_counter() - t0}
    finally:
        await bus.close()
        await bus.redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args()
    prefix = f"cc_bench_bus_{uuid.uuid4().hex[:8]}:"
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Event(), ctx.Queue()
    sub = ctx.Process(target=subscriber, args=(args.redis, prefix, args.events + 1, ready, results))
    sub.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the subscriber did not start")
        pub = asyncio.run(publish(args.redis, prefix, args.events, args.rate))
        got = results.get(timeout=120)
    finally:
        sub.join(10)
        if sub.is_alive():
            sub.kill()
    lat = [x * 1e3 for x in got["latencies"][1:]]
    head = os.popen("git -C %s rev-parse --short HEAD 2>/dev/null" % Path(__file__).resolve().parent.parent).read()
    print(json.dumps({
        "tree": str(Path(__file__).resolve().parent.parent), "git_head": head.strip(), "events": args.events,
        "rate": args.rate, "publisher_cpu_us_per_event": round(pub["cpu"] / args.events * 1e6, 1),
        "subscriber_cpu_us_per_event": round(got["cpu"] / args.events * 1e6, 1),
        "latency_ms": {"p50": round(percentile(lat, .5), 3), "p99": round(percentile(lat, .99), 3),
                       "max": round(max(lat), 3)},
        "received": len(got["latencies"]) - 1,
    }))


if __name__ == "__main__":
    main()
