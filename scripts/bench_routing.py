#!/usr/bin/env python3
"""Routing (issue 26): the time to assign, with real `callcenter serve` workers on MariaDB + Redis.

    python scripts/bench_routing.py                  # one worker, then two (about 2-3 minutes)
    python scripts/bench_routing.py --workers 2 --json routing.json
    python scripts/bench_routing.py --quick          # a small smoke run (100 conversations, 10 agents)

Per setup (--workers 1 and/or 2; visitors, agents and requests spread round-robin over the workers), in
one scratch MariaDB database (cc_bench_routing_<hex>, dropped at the end) and a unique Redis key prefix
(deleted at the end), each case in a tenant of its own switched to {"routing": "auto"} by its admin
(PATCH /api/v1/tenant) with the agents' capacity set by PATCH /api/v1/agents/{id}:

A. Backlog drain. --conversations conversations started (POST /chat/public/start) with nobody online:
   all queued. Each visitor's socket is open (authenticated, listening). Then --agents agents with
   capacity --capacity-a connect at once: per conversation the time from the moment the agents began
   connecting to its visitor's chat.session.assigned (p50/p99/max), and the whole drain. Checked:
   every visitor heard chat.session.assigned exactly once, the database has exactly one "joined the
   conversation" note per conversation, and no agent holds more than its capacity.
B. Steady flow. The same with capacity --capacity-b (agents x capacity assigned, the rest in line);
   then the agents resolve one of their conversations each (POST /chat/sessions/{id}/resolve), in
   turn, at --resolve-rate a second in all for --resolve-secs s (open loop): per resolve, the time from
   its HTTP answer to the chat.session.assigned of the conversation that filled that slot (the agent's
   next assignment: only the agent who resolved has room, so its k-th resolve is refilled by its k-th
   assignment after the first ones). Checked as in A, and per agent at every moment: assignments seen
   <= capacity + resolves sent before.
C. Time to assign with room. Agents online with room, nobody in line: --new conversations started one
   after the other, start request sent -> chat.session.assigned; and, interleaved in the same run, the
   same done by hand in a manual-mode tenant: POST /chat/sessions/{id}/assign by an agent (its visitor's
   socket open) -> the visitor's chat.session.assigned (the floor). Both measured on a socket of the
   tenant's admin (connected, status away, so given nothing), which hears every chat.session.assigned,
   because an auto conversation is usually given out before its visitor's socket (opened after the
   start's answer, as the widget does) is listening; how many visitor sockets still heard it is shown.
   Reported: C(auto)/C(manual), p50 and p99.

The agents' sockets (every agent socket hears every event of the tenant, as a dashboard does) live in a
child process of their own, reading and discarding; times on both sides are CLOCK_MONOTONIC.
Everything started here is stopped by PID; /proc/loadavg is printed before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing as mp
import os
import platform
import resource
import shlex
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import DEFAULT_MYSQL_URL, ScratchDatabase, ServeProcess, mysql_admin  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "Bench-Routing-1"
ASSIGNED = "chat.session.assigned"


# ---- stats -------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def stats_ms(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50": pct(ms, 50), "p99": pct(ms, 99), "max": max(ms) if ms else float("nan")}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the workers started here inherit it


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


# ---- agents' sockets: a child process of their own ------------------------------------------------

def agents_process(pipe) -> None:
    raise_fd_limit()
    asyncio.run(_agents(pipe))


async def _agents(pipe) -> None:
    from tornado import httpclient, websocket

    loop = asyncio.get_running_loop()
    conns: list = []
    stats = {"frames": 0, "closed": 0}

    async def connect(base: str, token: str) -> float:
        ok = loop.create_future()

        def on_message(msg) -> None:
            if msg is None:
                stats["closed"] += 1
                if not ok.done():
                    ok.set_exception(ConnectionError("closed before auth.ok"))
                return
            stats["frames"] += 1
            if not ok.done() and '"auth.ok"' in msg:
                ok.set_result(time.monotonic())

        conn = await websocket.websocket_connect(httpclient.HTTPRequest(ws_url(base)), on_message_callback=on_message)
        conns.append(conn)
        await conn.write_message(json.dumps({"type": "auth", "token": token}))
        return await asyncio.wait_for(ok, 30)

    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd[0] == "connect":
            stats.update(frames=0, closed=0)
            t0 = time.monotonic()
            try:
                oks = await asyncio.gather(*(connect(base, tok) for base, tok in cmd[1]))
                pipe.send(("connected", t0, max(oks)))
            except Exception as exc:  # reported, not hidden
                pipe.send(("error", repr(exc)))
        elif cmd[0] == "close":
            before = dict(stats)  # closed: by the server, before we close them
            for conn in conns:
                conn.close()
            conns.clear()
            await asyncio.sleep(0.2)
            pipe.send(("closed", before))
        else:
            return


class Agents:
    """The child process holding the agents' sockets."""

    def __init__(self):
        ctx = mp.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=agents_process, args=(child,), daemon=True)
        self.proc.start()

    async def _ask(self, cmd: tuple) -> tuple:
        self.pipe.send(cmd)
        reply = await asyncio.get_running_loop().run_in_executor(None, self.pipe.recv)
        if reply[0] == "error":
            raise RuntimeError(f"agent sockets: {reply[1]}")
        return reply

    async def connect(self, pairs: list[tuple[str, str]]) -> tuple[float, float]:
        _, t0, t_all = await self._ask(("connect", pairs))
        return t0, t_all

    async def close(self) -> dict:
        return (await self._ask(("close",)))[1]

    def stop(self) -> None:
        try:
            self.pipe.send(("exit",))
        except OSError:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()  # our own child, by its handle
            self.proc.join(5)


# ---- the visitor side and the HTTP calls (this process) -------------------------------------------

class Sock:
    """One WebSocket (a visitor's, or an observing admin's) noting when each chat.session.assigned came."""

    def __init__(self, on_assigned=None):
        self.assigned: list[tuple[float, str, int]] = []  # (monotonic, session id, agent id)
        self.on_assigned = on_assigned
        self.conn = None
        self.closed = False
        self._ok: asyncio.Future | None = None

    async def open(self, base: str, token: str) -> "Sock":
        from tornado import httpclient, websocket

        self._ok = asyncio.get_running_loop().create_future()
        self.conn = await websocket.websocket_connect(httpclient.HTTPRequest(ws_url(base)),
                                                      on_message_callback=self._on)
        try:
            self.conn.protocol.stream.set_nodelay(True)  # as browsers do
        except Exception:
            pass
        await self.conn.write_message(json.dumps({"type": "auth", "token": token}))
        await asyncio.wait_for(self._ok, 30)
        return self

    def _on(self, msg) -> None:
        now = time.monotonic()
        if msg is None:
            self.closed = True
            if self._ok is not None and not self._ok.done():
                self._ok.set_exception(ConnectionError("closed before auth.ok"))
            return
        if ASSIGNED in msg:
            frame = json.loads(msg)
            if frame.get("type") == ASSIGNED:
                data = frame["data"]
                entry = (now, data["session_id"], (data.get("agent") or {}).get("id"))
                self.assigned.append(entry)
                if self.on_assigned:
                    self.on_assigned(*entry)
        elif self._ok is not None and not self._ok.done() and '"auth.ok"' in msg:
            self._ok.set_result(now)

    async def send(self, type_: str, **data) -> None:
        await self.conn.write_message(json.dumps({"type": type_, "data": data}))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Http:
    def __init__(self):
        from tornado.httpclient import AsyncHTTPClient

        AsyncHTTPClient.configure(None, max_clients=64)
        self.client = AsyncHTTPClient()

    async def call(self, method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        resp = await self.client.fetch(url, method=method, body=json.dumps(body) if body is not None else None,
                                       headers=headers, raise_error=False, request_timeout=60)
        return resp.code, (json.loads(resp.body) if resp.body else {})

    async def ok(self, method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
        code, doc = await self.call(method, url, body, token)
        if code not in (200, 201):
            raise RuntimeError(f"{method} {url}: {code} {doc}")
        return doc


async def bounded(n: int, coros) -> list:
    sem = asyncio.Semaphore(n)

    async def one(c):
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))


# ---- setup ---------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args, db_url: str, db_name: str, prefix: str, secret: str, logdir: Path):
        from callcenter.security import TokenSigner
        from callcenter.store import Store

        self.args = args
        self.db_url, self.db_name, self.prefix = db_url, db_name, prefix
        self.store = Store(db_url)
        self.signer = TokenSigner(secret, agent_ttl_secs=7200, visitor_ttl_secs=7200)
        self.logdir = logdir
        self.http = Http()
        self.urls: list[str] = []
        self.agents_proc: Agents | None = None

    def url(self, i: int) -> str:
        return self.urls[i % len(self.urls)]

    async def tenant(self, n_agents: int, capacity: int, mode: str) -> dict:
        """A tenant (admin + n agents, signed in) in `mode`, capacities set, through the API where there is one."""
        from callcenter.security import hash_password

        tid = f"bench-rt-{uuid.uuid4().hex[:10]}"
        await self.store.create_tenant(tid, f"Routing bench {tid}", [], {})
        pw = hash_password(PASSWORD, rounds=4)
        admin = await self.store.create_agent(tid, f"admin@{tid}.example", pw, "Ada Admin", "admin")
        agents = [await self.store.create_agent(tid, f"a{k}@{tid}.example", pw, f"Agent {k}", "agent")
                  for k in range(n_agents)]
        t = {"id": tid, "admin": self.signer.agent_token(admin), "admin_id": admin["id"],
             "agents": [(a["id"], self.signer.agent_token(a)) for a in agents], "capacity": capacity}
        if mode == "auto":
            await self.http.ok("PATCH", self.url(0) + "/api/v1/tenant", {"routing": "auto"}, t["admin"])
        await bounded(16, (self.http.ok("PATCH", self.url(k) + f"/api/v1/agents/{aid}", {"max_conversations": capacity},
                                        t["admin"]) for k, (aid, _) in enumerate(t["agents"])))
        return t

    async def start(self, tenant: dict, i: int) -> dict:
        return await self.http.ok("POST", self.url(i) + "/api/v1/chat/public/start", {
            "tenant_id": tenant["id"], "channel": "web", "customer_name": f"Visitor {i}",
            "customer_email": f"v{i}@bench.example"})

    async def visitors(self, tenant: dict, n: int, on_assigned=None) -> dict[str, Sock]:
        """n conversations started, then a listening socket for each: session id -> Sock."""
        started = await bounded(32, (self.start(tenant, i) for i in range(n)))
        socks = {doc["session_id"]: Sock(on_assigned) for doc in started}
        await bounded(64, (socks[doc["session_id"]].open(self.url(i), doc["token"]) for i, doc in enumerate(started)))
        return socks

    def agent_pairs(self, tenant: dict) -> list[tuple[str, str]]:
        return [(self.url(k), tok) for k, (_, tok) in enumerate(tenant["agents"])]

    # ---- database checks ----

    def query(self, sql: str, params: tuple) -> list[tuple]:
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=self.db_name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def db_check(self, tenant: dict) -> dict:
        notes = dict(self.query("SELECT session_id, COUNT(*) FROM messages WHERE tenant_id=%s AND sender_type='system' "
                                "AND body LIKE %s GROUP BY session_id", (tenant["id"], "% joined the conversation")))
        loads = dict(self.query("SELECT assigned_agent_id, COUNT(*) FROM sessions WHERE tenant_id=%s "
                                "AND status='assigned' GROUP BY assigned_agent_id", (tenant["id"],)))
        statuses = dict(self.query("SELECT status, COUNT(*) FROM sessions WHERE tenant_id=%s GROUP BY status",
                                   (tenant["id"],)))
        queued = self.query("SELECT COUNT(*) FROM sessions WHERE tenant_id=%s AND queued_at_ms IS NOT NULL",
                            (tenant["id"],))[0][0]
        return {"joined_notes": notes, "loads": loads, "statuses": statuses, "queued": queued,
                "max_load": max(loads.values(), default=0), "notes_more_than_one": sum(1 for v in notes.values() if v > 1)}


# ---- A: backlog drain ------------------------------------------------------------------------------

async def case_a(b: Bench) -> dict:
    a = b.args
    tenant = await b.tenant(a.agents, a.capacity_a, "auto")
    socks = await b.visitors(tenant, a.conversations)
    await asyncio.sleep(1.5)  # the queue positions told, the workers quiet
    t0, t_all = await b.agents_proc.connect(b.agent_pairs(tenant))
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline and any(not s.assigned for s in socks.values()):
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # a late second assignment would show now
    firsts = [s.assigned[0][0] - t0 for s in socks.values() if s.assigned]
    db = b.db_check(tenant)
    out = {
        "connect_all_ms": (t_all - t0) * 1000,
        "latency": stats_ms(firsts), "drain_ms": max(firsts) * 1000 if firsts else float("nan"),
        "visitors": len(socks), "never_assigned": sum(1 for s in socks.values() if not s.assigned),
        "assigned_twice": sum(1 for s in socks.values() if len(s.assigned) > 1),
        "db_notes_exactly_one": sum(1 for sid in socks if db["joined_notes"].get(sid) == 1),
        "db_notes_more_than_one": db["notes_more_than_one"], "db_max_load": db["max_load"],
        "db_statuses": db["statuses"], "db_queued": db["queued"], "capacity": a.capacity_a,
        "visitor_socks_closed": sum(1 for s in socks.values() if s.closed),
    }
    for s in socks.values():
        s.close()
    out["agent_sockets"] = await b.agents_proc.close()
    return out


# ---- B: steady flow ------------------------------------------------------------------------------

async def case_b(b: Bench) -> dict:
    a = b.args
    tenant = await b.tenant(a.agents, a.capacity_b, "auto")
    token_of = dict(tenant["agents"])
    holding: dict[int, collections.deque] = collections.defaultdict(collections.deque)
    seen: dict[int, list[float]] = collections.defaultdict(list)  # agent -> times of its assignments

    def on_assigned(t: float, sid: str, agent_id: int) -> None:
        holding[agent_id].append(sid)
        seen[agent_id].append(t)

    socks = await b.visitors(tenant, a.conversations, on_assigned)
    await asyncio.sleep(1.0)
    first_wave = a.agents * a.capacity_b
    await b.agents_proc.connect(b.agent_pairs(tenant))
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline and sum(len(v) for v in seen.values()) < first_wave:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)  # the first wave settled (and nothing more given)
    initial = {aid: len(ts) for aid, ts in seen.items()}
    over_first_wave = sum(initial.values()) - first_wave

    n = int(a.resolve_rate * a.resolve_secs)
    agent_ids = [aid for aid, _ in tenant["agents"]]
    resolves: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)  # agent -> (sent, answered)
    errors: list[str] = []
    skipped: list[int] = []

    async def resolve(i: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        aid = agent_ids[i % len(agent_ids)]
        if not holding[aid]:
            skipped.append(aid)  # its refill has not come yet: the flow is behind
            return
        sid = holding[aid].popleft()
        sent = time.monotonic()
        code, doc = await b.http.call("POST", b.url(i) + f"/api/v1/chat/sessions/{sid}/resolve", {}, token_of[aid])
        answered = time.monotonic()
        if code != 200:
            errors.append(f"resolve {sid}: {code} {doc}")
            return
        resolves[aid].append((sent, answered))

    t_start = time.monotonic() + 0.2
    await asyncio.gather(*(resolve(i, t_start + i / a.resolve_rate) for i in range(n)))
    want = first_wave + sum(len(v) for v in resolves.values())
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline and sum(len(v) for v in seen.values()) < want:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    from_answer, from_sent, missing, over_capacity = [], [], 0, 0
    for aid in agent_ids:
        later = sorted(seen[aid])[initial.get(aid, 0):]
        mine = sorted(resolves[aid])
        for k, (sent, answered) in enumerate(mine):
            if k < len(later):
                from_answer.append(later[k] - answered)
                from_sent.append(later[k] - sent)
            else:
                missing += 1
        # Capacity at every moment: assignments seen by then <= capacity + resolves sent before.
        events = sorted([(t, 1) for t in seen[aid]] + [(s, -1) for s, _ in mine])
        load = 0
        for _, d in events:
            load += d
            over_capacity += load > a.capacity_b
    db = b.db_check(tenant)
    resolved_http = [ans - s for v in resolves.values() for s, ans in v]
    out = {
        "first_wave": sum(initial.values()), "first_wave_expected": first_wave, "first_wave_extra": over_first_wave,
        "resolves": sum(len(v) for v in resolves.values()), "resolve_errors": errors[:5], "resolves_skipped": len(skipped),
        "latency_from_answer": stats_ms(from_answer), "latency_from_sent": stats_ms(from_sent),
        "negative_from_answer": sum(1 for v in from_answer if v < 0),
        "resolve_http": stats_ms(resolved_http), "refills_missing": missing,
        "over_capacity_moments": over_capacity,
        "assigned_twice": sum(1 for s in socks.values() if len(s.assigned) > 1),
        "db_notes_more_than_one": db["notes_more_than_one"], "db_max_load": db["max_load"],
        "db_statuses": db["statuses"], "db_queued": db["queued"], "capacity": a.capacity_b,
        "visitor_socks_closed": sum(1 for s in socks.values() if s.closed),
    }
    for s in socks.values():
        s.close()
    out["agent_sockets"] = await b.agents_proc.close()
    return out


# ---- C: time to assign with room, auto and by hand -------------------------------------------------

async def case_c(b: Bench) -> dict:
    a = b.args
    auto = await b.tenant(a.agents, a.capacity_a, "auto")
    manual = await b.tenant(max(1, min(a.agents, 10)), a.capacity_a, "manual")
    # Observers: each tenant's admin, on worker 0, away (given nothing; hears every assignment).
    obs_auto, obs_manual = Sock(), Sock()
    await obs_auto.open(b.url(0), auto["admin"])
    await obs_manual.open(b.url(0), manual["admin"])
    for obs in (obs_auto, obs_manual):
        await obs.send("presence.set", status="away")
    waiting: dict[str, asyncio.Future] = {}

    def wake(t: float, sid: str, agent_id: int) -> None:
        fut = waiting.get(sid)
        if fut is not None and not fut.done():
            fut.set_result(t)

    obs_auto.on_assigned = obs_manual.on_assigned = wake
    manual_socks = await b.visitors(manual, a.new)
    await b.agents_proc.connect(b.agent_pairs(auto))
    await asyncio.sleep(1.5)
    auto_socks: dict[str, Sock] = {}
    vis_wait: dict[str, asyncio.Future] = {}

    def vis_wake(t: float, sid: str, agent_id: int) -> None:
        fut = vis_wait.get(sid)
        if fut is not None and not fut.done():
            fut.set_result(t)

    for s in manual_socks.values():
        s.on_assigned = vis_wake
    res = {k: [] for k in ("auto_obs", "auto_visitor", "auto_start_http", "manual_obs", "manual_visitor",
                           "manual_http")}
    queued_at_start = 0
    timeouts = 0
    loop = asyncio.get_running_loop()
    visitor_opens = []
    for i in range(a.new):
        # auto: start -> the observer hears chat.session.assigned
        t0 = time.monotonic()
        doc = await b.start(auto, i)
        t_http = time.monotonic()
        sid = doc["session_id"]
        if doc.get("queue"):
            queued_at_start += 1
        fut = waiting[sid] = loop.create_future()
        if sid in {e[1] for e in obs_auto.assigned}:  # heard before we were waiting for it
            fut.set_result(next(e[0] for e in obs_auto.assigned if e[1] == sid))
        sock = auto_socks[sid] = Sock()
        visitor_opens.append(loop.create_task(sock.open(b.url(i), doc["token"])))  # as the widget does
        try:
            t1 = await asyncio.wait_for(fut, 10)
            res["auto_obs"].append(t1 - t0)
            res["auto_start_http"].append(t_http - t0)
        except asyncio.TimeoutError:
            timeouts += 1
        await asyncio.sleep(0.01)
        # by hand: POST /assign by an agent -> the visitor's (and the observer's) chat.session.assigned
        sid = list(manual_socks)[i]
        aid, tok = manual["agents"][i % len(manual["agents"])]
        fut, vfut = loop.create_future(), loop.create_future()
        waiting[sid], vis_wait[sid] = fut, vfut
        t0 = time.monotonic()
        await b.http.ok("POST", b.url(i) + f"/api/v1/chat/sessions/{sid}/assign", {}, tok)
        t_http = time.monotonic()
        try:
            tv = await asyncio.wait_for(vfut, 10)
            to = await asyncio.wait_for(fut, 10)
            res["manual_visitor"].append(tv - t0)
            res["manual_obs"].append(to - t0)
            res["manual_http"].append(t_http - t0)
        except asyncio.TimeoutError:
            timeouts += 1
        await asyncio.sleep(0.01)
    await asyncio.gather(*visitor_opens, return_exceptions=True)
    await asyncio.sleep(1.0)
    heard_by_visitor = 0
    for sid, s in auto_socks.items():
        if s.assigned:
            heard_by_visitor += 1
    db_auto, db_manual = b.db_check(auto), b.db_check(manual)
    out = {name: stats_ms(v) for name, v in res.items()}
    out.update({
        "ratio_p50": out["auto_obs"]["p50"] / out["manual_obs"]["p50"],
        "ratio_p99": out["auto_obs"]["p99"] / out["manual_obs"]["p99"],
        "ratio_p50_vs_manual_visitor": out["auto_obs"]["p50"] / out["manual_visitor"]["p50"],
        "ratio_p99_vs_manual_visitor": out["auto_obs"]["p99"] / out["manual_visitor"]["p99"],
        "timeouts": timeouts, "queued_at_start": queued_at_start,
        "auto_visitor_sockets_heard_it": heard_by_visitor, "auto_conversations": len(auto_socks),
        "auto_db_notes_more_than_one": db_auto["notes_more_than_one"], "auto_db_max_load": db_auto["max_load"],
        "auto_db_statuses": db_auto["statuses"],
        "auto_observer_assigned_twice": len(obs_auto.assigned) - len({e[1] for e in obs_auto.assigned}),
        "manual_db_statuses": db_manual["statuses"],
    })
    for s in [*auto_socks.values(), *manual_socks.values(), obs_auto, obs_manual]:
        s.close()
    out["agent_sockets"] = await b.agents_proc.close()
    return out


# ---- the run ---------------------------------------------------------------------------------------

async def run_setup(b: Bench, n_workers: int, env: dict) -> dict:
    workers = [ServeProcess(env, b.logdir / f"w{n_workers}-{i}.log") for i in range(n_workers)]
    started = []
    try:
        for w in workers:
            started.append(w.start())
        b.urls = [w.url for w in workers]
        out = {"workers": n_workers}
        for name, case in (("A", case_a), ("B", case_b), ("C", case_c)):
            if name not in b.args.cases:
                continue
            t = time.monotonic()
            spies = start_profiles(b.args, workers, f"w{n_workers}-{name}")
            try:
                out[name] = await case(b)
            finally:
                stop_profiles(spies)
            out[name]["secs"] = round(time.monotonic() - t, 1)
            print(f"  [{n_workers} worker{'s' * (n_workers > 1)}] case {name} done in {out[name]['secs']} s "
                  f"(load {loadavg()})", flush=True)
        problems = 0
        for w in workers:
            text = w.log()
            problems += text.count("Traceback") + text.count(" ERROR ")
        out["worker_log_errors"] = problems
        return out
    finally:
        for w in started:
            w.stop()


def start_profiles(args, workers: list, label: str) -> list:
    """--profile DIR: py-spy (--py-spy) records each worker during a case, as collapsed stacks."""
    if not args.profile:
        return []
    import subprocess

    Path(args.profile).mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([args.py_spy, "record", "-p", str(w.pid), "-r", "200", "--format", "raw", "-o",
                              str(Path(args.profile) / f"{label}-{i}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i, w in enumerate(workers)]


def stop_profiles(spies: list) -> None:
    import signal

    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    for spy in spies:
        try:
            spy.wait(30)
        except Exception:
            spy.kill()


def fmt(s: dict) -> str:
    return f"{s['p50']:.1f} / {s['p99']:.1f} / {s['max']:.1f}"


def report(results: list[dict], args) -> None:
    print()
    print("| workers | case | n | p50 / p99 / max ms |")
    print("|---:|---|---:|---|")
    for r in results:
        w, A, B, C = r["workers"], r.get("A"), r.get("B"), r.get("C")
        if A:
            print(f"| {w} | A. agents connect → visitor's assigned ({args.conversations} queued, {args.agents} agents "
                  f"× {args.capacity_a}) | {A['latency']['n']} | {fmt(A['latency'])} |")
            print(f"| {w} | A. all {args.agents} agents connected / last one assigned (drain) | | "
                  f"{A['connect_all_ms']:.0f} / {A['drain_ms']:.0f} |")
        if B:
            print(f"| {w} | B. resolve answered → next in line assigned ({args.resolve_rate:g}/s, capacity "
                  f"{args.capacity_b}) | {B['latency_from_answer']['n']} | {fmt(B['latency_from_answer'])} |")
            print(f"| {w} | B. resolve sent → next in line assigned | {B['latency_from_sent']['n']} | "
                  f"{fmt(B['latency_from_sent'])} |")
            print(f"| {w} | B. resolve HTTP | {B['resolve_http']['n']} | {fmt(B['resolve_http'])} |")
        if C:
            print(f"| {w} | C. auto: start sent → assigned (room, nobody in line) | {C['auto_obs']['n']} | "
                  f"{fmt(C['auto_obs'])} |")
            print(f"| {w} | C. auto: of which the start's HTTP answer | {C['auto_start_http']['n']} | "
                  f"{fmt(C['auto_start_http'])} |")
            print(f"| {w} | C. manual: POST /assign sent → assigned (admin's socket) | {C['manual_obs']['n']} | "
                  f"{fmt(C['manual_obs'])} |")
            print(f"| {w} | C. manual: POST /assign sent → visitor's assigned | {C['manual_visitor']['n']} | "
                  f"{fmt(C['manual_visitor'])} |")
            print(f"| {w} | **C(auto)/C(manual)**, p50 / p99 | | {C['ratio_p50']:.2f} / {C['ratio_p99']:.2f} |")
    print()
    for r in results:
        w, A, B, C = r["workers"], r.get("A"), r.get("B"), r.get("C")
        print(f"checks, {w} worker(s):")
        if A:
            print(f"  A: never assigned {A['never_assigned']}, assigned twice {A['assigned_twice']}, one joined note "
                  f"{A['db_notes_exactly_one']}/{A['visitors']}, >1 note {A['db_notes_more_than_one']}, max load "
                  f"{A['db_max_load']}/{A['capacity']}, statuses {A['db_statuses']}, still queued {A['db_queued']}; "
                  f"agent sockets {A['agent_sockets']}; {A['secs']} s")
        if B:
            print(f"  B: first wave {B['first_wave']}/{B['first_wave_expected']}, resolves {B['resolves']} "
                  f"(skipped, nothing to resolve yet: {B['resolves_skipped']}; errors {B['resolve_errors']}), refills "
                  f"missing {B['refills_missing']}, assigned before the resolve's answer {B['negative_from_answer']}, "
                  f"over capacity {B['over_capacity_moments']}, assigned twice {B['assigned_twice']}, >1 note "
                  f"{B['db_notes_more_than_one']}, max load {B['db_max_load']}/{B['capacity']}, statuses "
                  f"{B['db_statuses']}, still queued {B['db_queued']}; agent sockets {B['agent_sockets']}; {B['secs']} s")
        if C:
            print(f"  C: timeouts {C['timeouts']}, start answered with a queue place {C['queued_at_start']}, auto "
                  f"visitor sockets that heard their assignment {C['auto_visitor_sockets_heard_it']}/"
                  f"{C['auto_conversations']}, observer heard one twice {C['auto_observer_assigned_twice']}, >1 note "
                  f"{C['auto_db_notes_more_than_one']}, max load {C['auto_db_max_load']}, auto {C['auto_db_statuses']}, "
                  f"manual {C['manual_db_statuses']}; {C['secs']} s")
        print(f"  worker logs: {r['worker_log_errors']} tracebacks/errors")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", choices=["1", "2", "both"], default="both")
    p.add_argument("--conversations", type=int, default=1000, help="A and B: conversations started")
    p.add_argument("--agents", type=int, default=50)
    p.add_argument("--capacity-a", type=int, default=20, help="A and C: each agent's max_conversations")
    p.add_argument("--capacity-b", type=int, default=5, help="B: each agent's max_conversations")
    p.add_argument("--resolve-rate", type=float, default=50.0, help="B: resolves a second, all agents together")
    p.add_argument("--resolve-secs", type=float, default=10.0)
    p.add_argument("--new", type=int, default=300, help="C: conversations each way (auto and by hand)")
    p.add_argument("--timeout", type=float, default=60.0, help="longest wait for a drain")
    p.add_argument("--quick", action="store_true", help="smoke run: 100 conversations, 10 agents, 2 s of resolves")
    p.add_argument("--json", help="write all numbers here")
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument("--cases", default="ABC", help="which of A, B, C to run (default all)")
    p.add_argument("--profile", metavar="DIR", help="py-spy stacks of each worker per case, collapsed, in DIR")
    p.add_argument("--py-spy", default="py-spy", help="the py-spy program (--profile)")
    args = p.parse_args()
    if args.quick:
        args.conversations, args.agents, args.resolve_rate, args.resolve_secs, args.new = 100, 10, 20.0, 2.0, 30
        args.capacity_a = max(args.capacity_a, -(-args.conversations // args.agents))
    if args.agents * args.capacity_a < args.conversations:
        p.error("A needs agents × capacity-a ≥ conversations")
    if args.resolve_rate * args.resolve_secs > args.conversations - args.agents * args.capacity_b:
        p.error("B resolves more than are waiting in line")
    raise_fd_limit()
    print("command: " + " ".join(shlex.quote(x) for x in [sys.executable.rsplit('/', 1)[-1], *sys.argv]), flush=True)
    machine = {"nproc": os.cpu_count(), "python": platform.python_version(),
               "cpu": next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                            if ln.startswith("model name")), "?"),
               "mariadb": mysql_admin(DEFAULT_MYSQL_URL, "SELECT VERSION()"), "loadavg_before": loadavg(),
               "date": time.strftime("%Y-%m-%d %H:%M %Z"), "host": socket.gethostname()}
    try:
        import redis

        r = redis.Redis.from_url(REDIS_URL)
        machine["redis"] = r.info("server")["redis_version"]
        r.close()
    except Exception as exc:
        machine["redis"] = f"? ({exc})"
    try:
        machine["commit"] = os.popen(f"git -C {shlex.quote(str(ROOT))} rev-parse --short HEAD").read().strip()
    except Exception:
        pass
    print("machine: " + json.dumps(machine), flush=True)

    tag = uuid.uuid4().hex[:10]
    database = ScratchDatabase(DEFAULT_MYSQL_URL, name=f"cc_bench_routing_{tag}")
    prefix = f"ccbench-routing-{tag}:"
    secret = uuid.uuid4().hex * 2
    logdir = Path(tempfile.mkdtemp(prefix="cc-bench-routing-"))
    env = {**os.environ, "CALLCENTER_DATABASE_URL": database.url, "CALLCENTER_REDIS_URL": REDIS_URL,
           "CALLCENTER_REDIS_PREFIX": prefix, "CALLCENTER_SECRET_KEY": secret, "CALLCENTER_DATA_DIR": str(logdir),
           "CALLCENTER_SESSION_STARTS_PER_IP": "1000000", "PYTHONUNBUFFERED": "1"}
    results: list[dict] = []
    agents = None
    t_run = time.monotonic()
    try:
        database.create()
        import subprocess

        subprocess.run([sys.executable, "-m", "callcenter.cli", "migrate"], env=env, cwd=str(ROOT), check=True,
                       stdout=subprocess.DEVNULL)
        agents = Agents()

        async def go():
            b = Bench(args, database.url, database.name, prefix, secret, logdir)
            b.agents_proc = agents
            try:
                for n in ([1, 2] if args.workers == "both" else [int(args.workers)]):
                    results.append(await run_setup(b, n, env))
            finally:
                await b.store.close()
        asyncio.run(go())
    finally:
        if agents is not None:
            agents.stop()
        database.drop()
        try:
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            keys = list(r.scan_iter(match=prefix + "*", count=1000))
            for i in range(0, len(keys), 500):
                r.delete(*keys[i:i + 500])
            r.close()
        except Exception as exc:
            print(f"could not delete Redis keys {prefix}*: {exc}", file=sys.stderr)
        if args.keep_logs:
            print(f"worker logs: {logdir}")
        else:
            import shutil

            shutil.rmtree(logdir, ignore_errors=True)
    machine["loadavg_after"] = loadavg()
    machine["secs"] = round(time.monotonic() - t_run, 1)
    report(results, args)
    print(f"\nload average before / after: {machine['loadavg_before']} / {machine['loadavg_after']}; "
          f"{machine['secs']} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
