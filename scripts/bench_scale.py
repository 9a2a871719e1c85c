#!/usr/bin/env python3
"""Scale-out benchmark (issue 28): a fixed total load spread over many tenants, 1-4 workers behind nginx.

    python scripts/bench_scale.py                                    # all designs, workers 1-4, 20 s each
    python scripts/bench_scale.py --design tenant --redis single,cluster --workers 1,2,3,4
    python scripts/bench_scale.py --design single --old-tree /tmp/cc-ceb8cfd   # the commit before issue 28
    python scripts/bench_scale.py --quick                            # smoke run (~1 min)

Loopback only, bounded: every configuration runs --duration seconds of sending plus a drain of at most
--drain seconds; everything started here is stopped by its PID, the databases are dropped and the Redis
keys under this run's prefix deleted. The shared Redis (127.0.0.1:6379) is only used under a private key
prefix and never reconfigured; the Redis Cluster is three redis-server processes of our own on free ports.

Designs (--design, comma separated):
- `tenant`: the product in this working tree (a channel per tenant, subscribed while a worker has
  sockets of the tenant); --redis single (the shared Redis) and/or cluster (3 masters, sharded pub/sub,
  CALLCENTER_REDIS_URL=redis+cluster://...).
- `single`: the product at the commit before issue 28 (one `<prefix>events` channel that every worker
  reads), run from a git worktree (--old-tree, `git worktree add /tmp/cc-ceb8cfd ceb8cfd`) with
  PYTHONPATH and the working directory pointing there; the script checks the workers import it. Single
  Redis only (it has no cluster support).
- `socketio`: python-socketio's AsyncRedisManager (scripts/bench/socketio_server.py; one channel that
  every server reads, rooms per tenant for the agents). Single Redis only.

Per configuration (design, redis, W workers): W server processes behind real nginx (deploy/nginx.conf,
whose /ws upstream hashes `$arg_tenant` consistently; for socketio the same upstream serves
/socket.io/). --tenants tenants, each with one agent socket and --visitors-per-tenant visitor sockets,
all opened through nginx with `?tenant=<id>`. Visitors send open-loop: message i is due at t0 + i/rate
(rate = --rate in total, round-robin over all visitor sockets, split over --sender-procs processes); its
text carries the due time and the latency is (arrival on the tenant's agent socket) - (due time), so a
late sender counts against the result. Lost = acknowledged (so stored) but never delivered to the agent
socket; dup = delivered more than once; store = rows with this run's client_msg_ids (product only) vs acks.

Bus events received per worker per second: the product's `callcenter_bus_events_received_total`, read from
each worker's own /metrics (not through nginx) before and after (missing on older code: then "-").
For the `single` and `socketio` designs, whose servers all subscribe to one channel, a counting
subscriber of our own on that channel measures what each server receives (every subscriber receives
every channel message: the old product's payloads are decoded to count events, python-socketio's
count one per emit); the old product skips the payloads it published itself, so of those it parses
about (W-1)/W.

CPU per message: CPU seconds (utime + stime from /proc) of the servers, nginx (master and workers),
Redis (the shared server's process_id from INFO, or our cluster nodes) and MariaDB, from t0 to the end of
the drain, divided by the messages delivered to agent sockets. The load generator's CPU is measured
(cpu_secs.loadgen) but not in it. Other users of the shared MariaDB and Redis count too; the machine's
busy % before and during each configuration and the CPU of all other processes are reported beside it
(--quiet-wait waits for a quiet machine first).

Results: a Markdown table on stdout and all numbers as JSON with --json PATH.
"""
from __future__ import annotations

import argparse
import array
import asyncio
import json
import math
import multiprocessing as mp
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "scripts"))

from tests.harness import ScratchDatabase, ServeProcess, free_port, mysql_admin  # noqa: E402

MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:3306"
REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_SECS = 40.0
CLUSTER_NODES = 3
CONNECT_CONCURRENCY = 50
FRAME_TIMEOUT_SECS = 30.0


# ============================================================================ /proc helpers

def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def children(pid: int) -> list[int]:
    """pid's descendants (nginx workers, a server's subprocesses)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, ValueError):
            kids = []
        out += kids
        todo += kids
    return out


def find_pids(comm: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == comm:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    total = sum(fields[:8])
    return total - fields[3] - fields[4], total


def machine_busy_pct(window: float) -> float:
    """The machine's busy % over `window` s (100 % = one core)."""
    b0, _ = machine_ticks()
    time.sleep(window)
    return (machine_ticks()[0] - b0) / os.sysconf("SC_CLK_TCK") / window * 100


def wait_quiet(max_wait: float, threshold: float) -> float:
    """Wait up to `max_wait` s until the whole machine is below `threshold` % busy (other test runs
    share it); the last reading."""
    busy = machine_busy_pct(1.0)
    deadline = time.monotonic() + max_wait
    if busy >= threshold and max_wait > 0:
        print(f"  waiting up to {max_wait:.0f}s for a quiet machine (busy {busy:.0f} %)", flush=True)
    while busy >= threshold and time.monotonic() < deadline:
        busy = machine_busy_pct(2.0)
    return round(busy, 1)


class CpuMeter:
    """CPU seconds of named process groups between start() and stop(); groups are pid lists, read again
    at stop() (nginx workers are found as the master's children). `ours` sums all groups but `outside`
    (the load generator: measured, not part of the system under test)."""

    def __init__(self, groups, outside: tuple[str, ...] = ()):
        self.groups = groups  # name -> callable returning pids
        self.outside = outside

    def _snap(self) -> dict[str, int]:
        snap = {name: sum(cpu_ticks(p) for p in pids()) for name, pids in self.groups.items()}
        snap["_busy"], snap["_total"] = machine_ticks()
        return snap

    def start(self) -> None:
        self.t0, self.s0 = time.monotonic(), self._snap()

    def stop(self) -> dict:
        elapsed = time.monotonic() - self.t0
        s1 = self._snap()
        hz = os.sysconf("SC_CLK_TCK")
        secs = {name: (s1[name] - self.s0.get(name, 0)) / hz for name in self.groups}
        busy = (s1["_busy"] - self.s0["_busy"]) / hz
        ours = sum(v for k, v in secs.items() if k not in self.outside)
        measured = sum(secs.values())
        return {"elapsed": elapsed, "secs": secs, "ours": ours, "machine_busy_pct": busy / elapsed * 100,
                "not_ours_pct": max(0.0, busy - measured) / elapsed * 100}


def pct(values, q: float):
    if not values:
        return None
    data = sorted(values)
    return data[max(0, min(len(data) - 1, math.ceil(q * len(data)) - 1))]


# ============================================================================ Redis Cluster (our own)

class OwnRedisCluster:
    """Three redis-server --cluster-enabled masters on free loopback ports, in a temp dir; stopped by PID."""

    def __init__(self, logdir: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="cc-bench-cluster-", dir=logdir))
        self.ports = [cluster_port() for _ in range(CLUSTER_NODES)]
        self.procs: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def start(self) -> "OwnRedisCluster":
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        for port in self.ports:
            node = self.dir / str(port)
            node.mkdir()
            log = open(node / "redis.log", "wb")
            self.procs.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(node / "nodes.conf"), "--dir", str(node), "--save", "",
                 "--appendonly", "no", "--protected-mode", "no"], stdout=log, stderr=log))
        deadline = time.monotonic() + 10
        for port in self.ports:
            while subprocess.run([cli, "-p", str(port), "PING"], capture_output=True, text=True).stdout.strip() \
                    != "PONG":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on {port} did not start")
                time.sleep(0.05)
        done = subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                               "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True,
                              timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        deadline = time.monotonic() + 20
        while True:
            states = [subprocess.run([cli, "-p", str(p), "CLUSTER", "INFO"], capture_output=True,
                                     text=True).stdout for p in self.ports]
            if all("cluster_state:ok" in s for s in states):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not reach cluster_state:ok: {states}")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def cluster_port() -> int:
    """A free port P whose cluster bus port P + 10000 is free too (so P <= 55535)."""
    import random
    import socket
    while True:
        port = random.randint(20000, 55535)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue


class _ClusterAdapter:
    """tests/redis_cluster.py's RedisClusterProcess with the two things used here: url, pids()."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.url = cluster.url

    def pids(self) -> list[int]:
        return [p for p in self.cluster.pids if p]

    def stop(self) -> None:
        self.cluster.stop()


def start_cluster(logdir: Path):
    """tests/redis_cluster.py's RedisClusterProcess when it is there, else the same recipe here."""
    try:
        from tests.redis_cluster import RedisClusterProcess
    except ImportError:
        return OwnRedisCluster(logdir).start()
    return _ClusterAdapter(RedisClusterProcess().start())


def shared_redis_pid() -> list[int]:
    import redis
    r = redis.Redis.from_url(REDIS_URL)
    try:
        return [int(r.info("server")["process_id"])]
    finally:
        r.close()


# ============================================================================ data (run under the design's code)

def make_data_main(args) -> None:
    """--make-data: tenants, agents and sessions in the design's database, tokens as JSON on stdout.
    Runs in a subprocess whose sys.path starts with --code-root, so the design's own store writes them."""
    sys.path.insert(0, args.code_root)
    for name in [m for m in sys.modules if m == "callcenter" or m.startswith("callcenter.")]:
        del sys.modules[name]
    import callcenter
    from callcenter.app import create_services
    from callcenter.config import Config
    from callcenter.security import hash_password

    assert Path(callcenter.__file__).resolve().is_relative_to(Path(args.code_root).resolve()), callcenter.__file__

    async def run() -> list[dict]:
        config = Config(database_url=os.environ["CALLCENTER_DATABASE_URL"], redis_url=None,
                        secret_key=os.environ["CALLCENTER_SECRET_KEY"], data_dir=Path(args.data_dir))
        services = create_services(config)
        store, signer = services.store, services.signer
        pw = hash_password("Bench-Password-1", rounds=4)
        sem = asyncio.Semaphore(16)

        async def tenant(k: int) -> dict:
            async with sem:
                tid = f"bs{k}-{uuid.uuid4().hex[:8]}"
                await store.create_tenant(tid, f"Bench tenant {k}", [], {})
                agent = await store.create_agent(tid, f"agent@{tid}.example", pw, "Agent", "agent")
                sessions = []
                for i in range(args.visitors_per_tenant):
                    row = await store.start_session(tid, channel="web", customer_name=f"Visitor {i}",
                                                    customer_email=f"v{i}@example.com")
                    sessions.append([row["id"], signer.visitor_token(row["id"], tid, row["visitor_id"])])
                return {"tenant": tid, "agent_token": signer.agent_token(agent), "sessions": sessions}
        try:
            return list(await asyncio.gather(*(tenant(k) for k in range(args.tenants))))
        finally:
            await services.close()

    print(json.dumps({"callcenter": callcenter.__file__, "tenants": asyncio.run(run())}))


# ============================================================================ client side (load processes)

def _open_url(proto: str, base: str, tenant: str | None) -> str:
    """With a tenant nginx hashes it (affine); without, the handshake is balanced round-robin."""
    ws = base.replace("http://", "ws://")
    arg = f"tenant={tenant}" if tenant else ""
    if proto == "socketio":
        return f"{ws}/socket.io/?EIO=4&transport=websocket" + (f"&{arg}" if arg else "")
    return f"{ws}/ws" + (f"?{arg}" if arg else "")


async def open_socket(proto: str, base: str, tenant: str, token: str):
    """A socket through nginx with ?tenant=, authenticated (product: auth frame; Socket.IO: connect packet)."""
    import bench_realtime as rt
    ws = await rt.ws_connect(_open_url(proto, base, tenant), FRAME_TIMEOUT_SECS)
    try:
        if proto == "socketio":
            first = await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_SECS)
            if not first.startswith("0"):
                raise ConnectionError(f"unexpected engine.io open packet {first[:80]!r}")
            ws.send("40" + json.dumps({"token": token}))
            while True:
                raw = await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_SECS)
                if raw.startswith("40"):
                    return ws, None
                if raw.startswith("44"):
                    raise ConnectionError(f"connect refused: {raw[:200]}")
                if raw == "2":
                    ws.send("3")
        ws.send(json.dumps({"type": "auth", "token": token}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_SECS))
            if frame.get("type") == "auth.ok":
                return ws, frame.get("data", {}).get("worker")
            if frame.get("type") == "error":
                raise ConnectionError(f"auth failed: {frame}")
    except BaseException:
        ws.transport.abort()
        raise


def _parser(proto: str):
    import bench_realtime as rt
    return rt.SocketIOProto.parse if proto == "socketio" else rt.ProductProto.parse


def _send_frame(proto: str, body: str, cmid: str, ack_id: int) -> str:
    if proto == "socketio":
        return "42" + str(ack_id) + json.dumps(["send", {"message": body, "client_msg_id": cmid}])
    return json.dumps({"type": "chat.message.send", "data": {"message": body, "client_msg_id": cmid}})


def load_process(pipe, role: str, proto: str, base: str, items: list, affine: bool) -> None:
    """role "visitors": items = [(tenant, session_id, token)]; role "agents": items = [(tenant, token)]."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        if not affine:
            items = [(None, *item[1:]) for item in items]
        asyncio.run((_visitors if role == "visitors" else _agents)(pipe, proto, base, items))
    except Exception:
        pipe.send(("crash", traceback.format_exc()))


async def _open_all(proto: str, base: str, pairs: list[tuple[str, str]]):
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(tenant, token):
        async with sem:
            return await open_socket(proto, base, tenant, token)
    return await asyncio.gather(*(one(t, tok) for t, tok in pairs))


async def _agents(pipe, proto: str, base: str, items: list) -> None:
    loop = asyncio.get_running_loop()
    parse = _parser(proto)
    lat: dict[int, array.array] = defaultdict(lambda: array.array("d"))
    seqs: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    closed = Counter()
    opened = await _open_all(proto, base, [(t, tok) for t, tok in items])
    placement = Counter(worker for _, worker in opened)

    def listen(ws):
        def on_message(raw: str) -> None:
            now = time.time()
            kind, msg = parse(raw)
            if kind == "new":
                parts = (msg.get("body") or "").split(" ")
                if len(parts) == 4 and parts[0] == "bench":
                    phase = int(parts[1])
                    lat[phase].append(now - float(parts[3][1:]))
                    seqs[phase][msg["session_id"]].append(msg["seq"])
            elif kind == "eio-ping":
                ws.send("3")

        def on_close(exc) -> None:
            closed[type(exc).__name__ if exc else f"closed {ws.close_code}"] += 1
        ws.listen(on_message, on_close)
    for ws, _ in opened:
        listen(ws)
    pipe.send(("ready", len(opened), dict(placement)))
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd[0] == "close":
            for ws, _ in opened:
                ws.transport.abort()
            pipe.send(("closed",))
            return
        if cmd[0] == "count":
            pipe.send(("count", len(lat[cmd[1]])))
        elif cmd[0] == "stats":
            phase = cmd[1]
            pipe.send(("stats", {"lat": lat[phase].tobytes(), "seqs": {k: list(v) for k, v in seqs[phase].items()},
                                 "closed": dict(closed)}))


async def _visitors(pipe, proto: str, base: str, items: list) -> None:
    loop = asyncio.get_running_loop()
    parse = _parser(proto)
    opened = await _open_all(proto, base, [(t, tok) for t, _, tok in items])
    socks = [(ws, sid) for (ws, _), (_, sid, _) in zip(opened, items)]
    placement = Counter(worker for _, worker in opened)
    pending: dict[str, float] = {}
    acks: dict[str, list[int]] = defaultdict(list)
    errors = Counter()
    closed = Counter()

    def listen(ws, sid):
        def on_message(raw: str) -> None:
            kind, data = parse(raw)
            if kind == "ack":
                if pending.pop(data.get("client_msg_id"), None) is not None:
                    acks[sid].append(data["seq"])
            elif kind == "error":
                pending.pop(data.get("ref"), None)
                errors[data.get("code", "?")] += 1
            elif kind == "eio-ping":
                ws.send("3")

        def on_close(exc) -> None:
            closed[type(exc).__name__ if exc else f"closed {ws.close_code}"] += 1
        ws.listen(on_message, on_close)
    for ws, sid in socks:
        listen(ws, sid)
    pipe.send(("ready", len(socks), dict(placement)))
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd[0] == "close":
            for ws, _ in socks:
                ws.transport.abort()
            pipe.send(("closed",))
            return
        _, phase, t0, rate, total, drain_secs, tag = cmd
        acks.clear()
        lags = array.array("d")
        sent = send_failed = 0
        i = 0
        while i < total:
            now = time.time()
            due_n = min(total, int((now - t0) * rate) + 1) if now >= t0 else 0
            while i < due_n:
                due = t0 + i / rate
                ws, sid = socks[i % len(socks)]
                cmid = f"{tag}-{i}"
                i += 1
                if ws.close_code is not None:
                    send_failed += 1
                    continue
                pending[cmid] = due
                ws.send(_send_frame(proto, f"bench {phase} {cmid} t{due:.6f}", cmid, i))
                sent += 1
                lags.append(time.time() - due)
            if i < total:
                delay = t0 + i / rate - time.time()
                await asyncio.sleep(delay if delay > 0 else 0)
        deadline = time.monotonic() + drain_secs
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        pipe.send(("done", {"sent": sent, "send_failed": send_failed, "unacked": len(pending),
                            "acks": {k: list(v) for k, v in acks.items()}, "errors": dict(errors),
                            "closed": dict(closed), "lag_p99": pct(lags, 0.99)}))
        pending.clear()


def expect(pipe, kind: str, timeout: float):
    if not pipe.poll(timeout):
        raise RuntimeError(f"no {kind!r} from a load process within {timeout:.0f}s")
    msg = pipe.recv()
    if msg[0] == "crash":
        raise RuntimeError(f"a load process crashed:\n{msg[1]}")
    if msg[0] != kind:
        raise RuntimeError(f"expected {kind!r}, got {msg[0]!r}")
    return msg


# ============================================================================ channel counter (single-channel designs)

class ChannelCounter:
    """A subscriber of our own on the one channel every server reads: what each server receives."""

    def __init__(self, channel: str, kind: str):
        import redis
        self.kind = kind
        self.messages = 0
        self.events = 0
        self._client = redis.Redis.from_url(REDIS_URL)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(channel)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._pubsub.get_message(timeout=0.2)
            if msg and msg["type"] == "message":
                self.messages += 1
                if self.kind == "single":
                    # The old bus: a source id, then two lines (route, frame) per event.
                    self.events += (msg["data"].count(b"\n") + 1) // 2
                else:
                    self.events += 1

    def snapshot(self) -> tuple[int, int]:
        return self.messages, self.events

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._pubsub.close()
        self._client.close()


def bus_counts(url: str) -> tuple[float | None, float | None]:
    """(received, published): callcenter_bus_events_{received,published}_total on one worker's own
    /metrics, summed over labels (None: not exposed, as on code older than issue 28)."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None, None

    def total(name: str) -> float | None:
        found = [float(m.group(1)) for m in re.finditer(
            rf"^{name}(?:\{{[^}}]*\}})?\s+([0-9.eE+-]+)", text, re.MULTILINE)]
        return sum(found) if found else None
    return total("callcenter_bus_events_received_total"), total("callcenter_bus_events_published_total")


# ============================================================================ designs

class Design:
    name = ""
    proto = "callcenter"

    def __init__(self, args, logdir: Path):
        self.args, self.logdir = args, logdir
        self.tag = uuid.uuid4().hex[:8]
        self.prefix = f"ccbench-scale-{self.tag}:"
        self.secret = uuid.uuid4().hex * 2
        self.tenants: list[dict] = []

    def setup(self) -> None: ...
    def teardown(self) -> None: ...
    def server(self, index: int, redis_url: str) -> ServeProcess: ...
    def stored(self, tag: str) -> tuple[int, int] | None:
        return None

    def channel(self) -> str | None:
        return None


class ProductDesign(Design):
    def __init__(self, args, logdir: Path, name: str, code_root: Path):
        super().__init__(args, logdir)
        self.name, self.code_root = name, code_root
        self.database = ScratchDatabase(MYSQL_URL, name=f"cc_bench_scale_{name}_{self.tag}")
        self.db_created = False

    def env(self, redis_url: str | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        env.update(CALLCENTER_DATABASE_URL=self.database.url, CALLCENTER_SECRET_KEY=self.secret,
                   CALLCENTER_REDIS_PREFIX=self.prefix, CALLCENTER_DATA_DIR=str(self.logdir), PYTHONUNBUFFERED="1",
                   PYTHONPATH=str(self.code_root))
        if redis_url:
            env["CALLCENTER_REDIS_URL"] = redis_url
        return env

    def setup(self) -> None:
        self.database.create()
        self.db_created = True
        subprocess.run([sys.executable, "-m", "callcenter.cli", "migrate"], env=self.env(), cwd=self.code_root,
                       check=True, stdout=subprocess.DEVNULL)
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--make-data", "--code-root",
                               str(self.code_root), "--tenants", str(self.args.tenants), "--visitors-per-tenant",
                               str(self.args.visitors_per_tenant), "--data-dir", str(self.logdir)],
                              env=self.env(), cwd=self.code_root, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"making the data failed:\n{done.stderr[-3000:]}")
        data = json.loads(done.stdout)
        self.tenants = data["tenants"]
        print(f"  [{self.name}] data written by {data['callcenter']}", flush=True)
        # The workers' own interpreter, environment and working directory import the design's code.
        probe = subprocess.run([sys.executable, "-c", "import callcenter; print(callcenter.__file__)"],
                               env=self.env(), cwd=self.code_root, capture_output=True, text=True)
        imported = Path(probe.stdout.strip()).resolve()
        if not imported.is_relative_to(self.code_root.resolve()):
            raise RuntimeError(f"[{self.name}] workers would import {imported}, not {self.code_root}")

    def server(self, index: int, redis_url: str) -> ServeProcess:
        port = free_port()
        return ServeProcess(self.env(redis_url), self.logdir / f"{self.name}-{index}.log", port=port,
                            argv=[sys.executable, "-m", "callcenter.cli", "serve", "--host", "127.0.0.1", "--port",
                                  str(port)], cwd=self.code_root, start_timeout=START_TIMEOUT_SECS)

    def stored(self, tag: str) -> tuple[int, int] | None:
        rows = mysql_admin(MYSQL_URL, "SELECT COUNT(*) FROM messages WHERE client_msg_id LIKE %s", (f"{tag}k%",),
                           database=self.database.name)
        distinct = mysql_admin(MYSQL_URL, "SELECT COUNT(DISTINCT client_msg_id) FROM messages WHERE "
                                          "client_msg_id LIKE %s", (f"{tag}k%",), database=self.database.name)
        return int(rows or 0), int(distinct or 0)

    def channel(self) -> str | None:
        return f"{self.prefix}events" if self.name == "single" else None

    def teardown(self) -> None:
        if self.db_created:
            try:
                self.database.drop()
            except Exception as exc:  # reported, the other cleanups go on
                print(f"  could not drop {self.database.name}: {exc}", file=sys.stderr)
        delete_prefix(self.prefix)


class SocketIODesign(Design):
    name = "socketio"
    proto = "socketio"

    def setup(self) -> None:
        import jwt

        def tok(claims):
            return jwt.encode({**claims, "exp": int(time.time()) + 86400}, self.secret, algorithm="HS256")
        for k in range(self.args.tenants):
            tid = f"bs{k}-{self.tag}"
            sessions = []
            for _ in range(self.args.visitors_per_tenant):
                sid = uuid.uuid4().hex
                sessions.append([sid, tok({"typ": "visitor", "sid": sid, "tid": tid})])
            self.tenants.append({"tenant": tid, "agent_token": tok({"typ": "agent", "sub": "1", "tid": tid}),
                                 "sessions": sessions})

    def server(self, index: int, redis_url: str) -> ServeProcess:
        port = free_port()
        return ServeProcess({**os.environ, "PYTHONUNBUFFERED": "1"}, self.logdir / f"socketio-{index}.log",
                            port=port, argv=[sys.executable, str(ROOT / "scripts" / "bench" / "socketio_server.py"),
                                             "--port", str(port), "--redis-url", redis_url, "--channel",
                                             self.channel(), "--secret", self.secret, "--redis-pool", "20"],
                            cwd=ROOT, start_timeout=START_TIMEOUT_SECS)

    def channel(self) -> str:
        return f"ccbench-scale-sio-{self.tag}"


def delete_prefix(prefix: str) -> None:
    try:
        import redis
        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(keys), 500):
            r.delete(*keys[i:i + 500])
        r.close()
    except Exception as exc:  # reported, the other cleanups go on
        print(f"  could not delete Redis keys {prefix}*: {exc}", file=sys.stderr)


def nginx_source(design: Design, logdir: Path) -> Path:
    """deploy/nginx.conf; for Socket.IO its /ws location (tenant-hashed upstream) serves /socket.io/."""
    from tests.nginx import NGINX_CONF
    if design.proto != "socketio":
        return NGINX_CONF
    text = NGINX_CONF.read_text().replace("location = /ws {", "location /socket.io/ {")
    path = logdir / "nginx-socketio.conf"
    path.write_text(text)
    return path


# ============================================================================ one configuration

def run_config(design: Design, redis_mode: str, workers: int, args, logdir: Path, phase: int,
               affine: bool = True) -> dict:
    from tests.nginx import nginx_command, render_nginx_conf, stop_nginx

    busy_before = wait_quiet(args.quiet_wait, args.quiet_threshold)
    cluster = start_cluster(logdir) if redis_mode == "cluster" else None
    redis_url = cluster.url if cluster else REDIS_URL
    servers: list[ServeProcess] = []
    nginx = None
    procs, pipes = [], []
    counter = None
    label = f"{design.name}/{redis_mode}/{workers}w" + ("" if affine else "/spread")
    try:
        for i in range(workers):
            servers.append(design.server(i, redis_url).start())
        ndir = logdir / f"nginx-{phase}"
        ndir.mkdir()
        port = free_port()
        conf = render_nginx_conf([f"127.0.0.1:{s.port}" for s in servers], port, ndir,
                                 source=nginx_source(design, logdir))
        nginx_out = open(ndir / "nginx.out", "wb")
        nginx = subprocess.Popen(nginx_command(conf, ndir, "-g", "daemon off;"), stdout=nginx_out,
                                 stderr=nginx_out, stdin=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or nginx.poll() is not None:
                    raise RuntimeError(f"nginx did not come up: {(ndir / 'nginx.out').read_text()[-2000:]}")
                time.sleep(0.05)

        ctx = mp.get_context("spawn")
        agents = [(t["tenant"], t["agent_token"]) for t in design.tenants]
        # Tenant after tenant, so that consecutive messages go to different tenants.
        visitors = [(t["tenant"], *t["sessions"][i]) for i in range(args.visitors_per_tenant)
                    for t in design.tenants]
        groups = [("agents", agents[k::args.receiver_procs]) for k in range(args.receiver_procs)]
        groups += [("visitors", visitors[k::args.sender_procs]) for k in range(args.sender_procs)]
        t_open = time.monotonic()
        placement = Counter()  # agent sockets (one per tenant) per worker id, from auth.ok
        for role, items in groups:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=load_process, args=(child, role, design.proto, base, items, affine),
                               daemon=True)
            proc.start()
            procs.append((role, proc))
            pipes.append((role, parent))
            # Agents first: every message has its agent socket to go to.
            _, _, placed = expect(parent, "ready", 120)
            if role == "agents":  # Socket.IO names no worker
                placement.update({w: n for w, n in placed.items() if w})
        open_secs = time.monotonic() - t_open
        time.sleep(args.settle)

        channel = design.channel()
        if channel:
            counter = ChannelCounter(channel, design.name)
        groups_pids = {"servers": lambda: [p for s in servers if s.running() for p in [s.pid, *children(s.pid)]],
                       "nginx": lambda: [nginx.pid, *children(nginx.pid)],
                       "redis": (lambda: cluster.pids()) if cluster else shared_redis_pid,
                       "mariadb": (lambda: find_pids("mariadbd") or find_pids("mysqld")),
                       "loadgen": lambda: [proc.pid for _, proc in procs if proc.is_alive()]}
        meter = CpuMeter(groups_pids, outside=("loadgen",))
        before = [bus_counts(s.url) for s in servers]
        chan0 = counter.snapshot() if counter else None
        total = int(args.rate * args.duration)
        senders = [p for role, p in pipes if role == "visitors"]
        t0 = time.time() + 0.5
        tag = f"s{design.tag}p{phase}"
        meter.start()
        for k, pipe in enumerate(senders):
            share = total // len(senders) + (1 if k < total % len(senders) else 0)
            pipe.send(("run", phase, t0, args.rate / len(senders), share, args.drain, f"{tag}k{k}"))
        dones = [expect(p, "done", args.duration + args.drain + 60)[1] for p in senders]
        acked = sum(sum(len(v) for v in d["acks"].values()) for d in dones)
        receivers = [p for role, p in pipes if role == "agents"]
        deadline = time.monotonic() + args.drain
        while True:
            got = 0
            for p in receivers:
                p.send(("count", phase))
                got += expect(p, "count", 30)[1]
            if got >= acked or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        cpu = meter.stop()
        after = [bus_counts(s.url) for s in servers]
        chan1 = counter.snapshot() if counter else None
        window = cpu["elapsed"]
        stats = []
        for p in receivers:
            p.send(("stats", phase))
            stats.append(expect(p, "stats", 60)[1])

        lat = array.array("d")
        received: dict[str, list[int]] = defaultdict(list)
        closed = Counter()
        for s in stats:
            lat.frombytes(s["lat"])
            for sid, seqs in s["seqs"].items():
                received[sid] += seqs
            closed.update(s["closed"])
        expected: dict[str, list[int]] = defaultdict(list)
        for d in dones:
            for sid, seqs in d["acks"].items():
                expected[sid] += seqs
            closed.update(d["closed"])
        lost = dup = 0
        for sid in set(expected) | set(received):
            e, r = set(expected.get(sid, ())), received.get(sid, [])
            lost += len(e - set(r))
            dup += len(r) - len(set(r))
        stored = design.stored(tag)
        per_worker = published = None
        if all(b[0] is not None for b in before) and all(a[0] is not None for a in after):
            per_worker = [round((a[0] - b[0]) / window, 1) for a, b in zip(after, before)]
        if all(b[1] is not None for b in before) and all(a[1] is not None for a in after):
            published = [round((a[1] - b[1]) / window, 1) for a, b in zip(after, before)]
        channel_rate = None
        if chan0 is not None:
            channel_rate = {"messages_per_sec": round((chan1[0] - chan0[0]) / window, 1),
                            "events_per_sec": round((chan1[1] - chan0[1]) / window, 1)}
        delivered = len(lat)
        result = {
            "design": design.name, "redis": redis_mode, "workers": workers, "rate": args.rate,
            "routing": "tenant" if affine else "round-robin",
            "tenants": len(design.tenants), "visitor_sockets": len(visitors), "agent_sockets": len(agents),
            "tenants_per_worker": sorted(placement.values(), reverse=True), "open_secs": round(open_secs, 2), "window_secs": round(window, 2),
            "sent": sum(d["sent"] for d in dones), "send_failed": sum(d["send_failed"] for d in dones),
            "acked": acked, "unacked": sum(d["unacked"] for d in dones),
            "errors": dict(sum((Counter(d["errors"]) for d in dones), Counter())),
            "delivered": delivered, "lost": lost, "dup": dup, "closed": dict(closed),
            "stored_rows": stored[0] if stored else None, "stored_distinct": stored[1] if stored else None,
            "p50_ms": round(pct(lat, 0.50) * 1000, 2) if delivered else None,
            "p99_ms": round(pct(lat, 0.99) * 1000, 2) if delivered else None,
            "max_ms": round(max(lat) * 1000, 2) if delivered else None,
            "sender_lag_p99_ms": round(max((d["lag_p99"] or 0) for d in dones) * 1000, 2),
            "bus_received_per_worker_per_sec": per_worker, "bus_published_per_worker_per_sec": published,
            "channel": channel_rate,
            "cpu_secs": {k: round(v, 3) for k, v in cpu["secs"].items()},
            "cpu_ms_per_msg": round(cpu["ours"] / delivered * 1000, 4) if delivered else None,
            "cpu_pct_ours": round(cpu["ours"] / window * 100, 1),
            "machine_busy_before_pct": busy_before, "machine_busy_pct": round(cpu["machine_busy_pct"], 1),
            "not_ours_pct": round(cpu["not_ours_pct"], 1),
        }
        print(f"  {label}: " + line(result), flush=True)
        return result
    finally:
        if counter:
            counter.close()
        for _, pipe in pipes:
            try:
                pipe.send(("close",))
            except (OSError, BrokenPipeError):
                pass
        for _, proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        if nginx is not None:
            stop_nginx(nginx)
        for s in servers:
            s.stop()
        if cluster:
            cluster.stop()


def fmt(v, nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def bus_cell(r: dict) -> str:
    if r["bus_received_per_worker_per_sec"] is not None:
        return " / ".join(fmt(x, 0) for x in r["bus_received_per_worker_per_sec"])
    if r["channel"] is not None:
        return f"{fmt(r['channel']['events_per_sec'], 0)} each (channel)"
    return "-"


def line(r: dict) -> str:
    return (f"delivered {r['delivered']}/{r['acked']} lost {r['lost']} dup {r['dup']} p50 {fmt(r['p50_ms'], 2)} "
            f"p99 {fmt(r['p99_ms'], 2)} ms, bus/worker/s {bus_cell(r)}, CPU {fmt(r['cpu_ms_per_msg'], 3)} ms/msg "
            f"({fmt(r['cpu_pct_ours'])} % ours, machine {fmt(r['machine_busy_before_pct'])} % before, "
            f"{fmt(r['machine_busy_pct'])} % during, other processes "
            f"{fmt(r['not_ours_pct'])} %)")


def print_report(results: list[dict]) -> None:
    print("\n| design | redis | routing | workers | tenants per worker | bus events received per worker per s | "
          "published per worker per s | CPU ms / msg (servers+nginx+redis+mariadb) | p50 / p99 / max ms | "
          "delivered / acked | lost / dup | rows / distinct |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        pub = r["bus_published_per_worker_per_sec"]
        print(f"| {r['design']} | {r['redis']} | {r['routing']} | {r['workers']} | "
              f"{' / '.join(map(str, r['tenants_per_worker']))} | {bus_cell(r)} | "
              f"{' / '.join(fmt(x, 0) for x in pub) if pub else '-'} | {fmt(r['cpu_ms_per_msg'], 3)} | "
              f"{fmt(r['p50_ms'], 2)} / {fmt(r['p99_ms'], 2)} / {fmt(r['max_ms'], 1)} | "
              f"{fmt(r['delivered'])} / {fmt(r['acked'])} | {r['lost']} / {r['dup']} | "
              f"{fmt(r['stored_rows'])} / {fmt(r['stored_distinct'])} |")
    print("\nCPU per message relative to the same design with 1 worker:")
    base = {(r["design"], r["redis"], r["routing"]): r for r in results if r["workers"] == 1}
    for r in results:
        b = base.get((r["design"], r["redis"], r["routing"]))
        if b and b["cpu_ms_per_msg"] and r["cpu_ms_per_msg"]:
            print(f"  {r['design']}/{r['redis']}/{r['routing']}/{r['workers']}w: "
                  f"x{r['cpu_ms_per_msg'] / b['cpu_ms_per_msg']:.2f}")


def machine() -> dict:
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), None)
    commit = first(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.count("\n")
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(), "cpu": model,
            "kernel": platform.release(), "python": platform.python_version(), "commit": commit,
            "modified_tracked_files": dirty, "nginx": first(["/usr/sbin/nginx", "-v"]) or
            subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip(),
            "redis": first(["redis-server", "--version"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--design", default="tenant,single,socketio",
                        help="comma separated: tenant (this tree), single (the old commit), socketio")
    parser.add_argument("--workers", default="1,2,3,4")
    parser.add_argument("--redis", default="single,cluster",
                        help="single (the shared Redis, own prefix) and/or cluster (3 masters of our own); "
                             "cluster applies to the tenant design only")
    parser.add_argument("--routing", default="tenant",
                        help="tenant (/ws?tenant=<id>, nginx hashes it) and/or round-robin (no tenant argument: "
                             "a tenant's sockets spread over the workers)")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second in total")
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--visitors-per-tenant", type=int, default=2)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending per configuration")
    parser.add_argument("--drain", type=float, default=10.0, help="at most this long for acks and deliveries")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between opening sockets and sending")
    parser.add_argument("--quiet-wait", type=float, default=0.0,
                        help="before each configuration wait up to this long for the machine to be quiet")
    parser.add_argument("--quiet-threshold", type=float, default=30.0, help="quiet: below this busy %%")
    parser.add_argument("--sender-procs", type=int, default=2)
    parser.add_argument("--receiver-procs", type=int, default=1)
    parser.add_argument("--old-tree", default="/tmp/cc-ceb8cfd",
                        help="a worktree of the commit before issue 28 (git worktree add /tmp/cc-ceb8cfd ceb8cfd)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 tenants, 100 msg/s, 3 s, workers 1,2")
    parser.add_argument("--json", help="write all results here")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--make-data", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code-root", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_data:
        make_data_main(args)
        return 0
    if args.quick:  # smaller defaults; flags given explicitly still win
        quick = {"tenants": 20, "rate": 100.0, "duration": 3.0, "drain": 5.0, "settle": 0.5, "workers": "1,2"}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    workers = [int(w) for w in args.workers.split(",")]
    redis_modes = [m for m in args.redis.split(",") if m]
    designs = [d for d in args.design.split(",") if d]
    routings = [r for r in args.routing.split(",") if r]
    if set(routings) - {"tenant", "round-robin"}:
        parser.error("--routing: tenant and/or round-robin")
    logdir = Path(tempfile.mkdtemp(prefix="cc-bench-scale-"))
    info = machine()
    print(f"bench_scale: {info}", flush=True)
    results: list[dict] = []
    phase = 0
    status = 0
    for name in designs:
        if name == "tenant":
            design = ProductDesign(args, logdir, "tenant", ROOT)
        elif name == "single":
            old = Path(args.old_tree)
            if not (old / "callcenter" / "bus.py").exists():
                print(f"  [single] skipped: no worktree at {old} (git worktree add {old} ceb8cfd)", flush=True)
                continue
            design = ProductDesign(args, logdir, "single", old)
        elif name == "socketio":
            try:
                import socketio  # noqa: F401
                import uvicorn  # noqa: F401
            except ImportError:
                print("  [socketio] skipped: pip install python-socketio uvicorn", flush=True)
                continue
            design = SocketIODesign(args, logdir)
        else:
            parser.error(f"unknown design {name!r}")
        try:
            design.setup()
            for mode in redis_modes if name == "tenant" else [m for m in redis_modes if m == "single"]:
                for routing in routings:
                    for w in workers:
                        phase += 1
                        try:
                            results.append(run_config(design, mode, w, args, logdir, phase, routing == "tenant"))
                        except Exception:
                            status = 1
                            print(f"  {name}/{mode}/{w}w/{routing} failed:\n{traceback.format_exc()}", flush=True)
        finally:
            design.teardown()
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "args": vars(args), "results": results}, indent=1))
    if args.keep_logs:
        print(f"logs kept in {logdir}")
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
