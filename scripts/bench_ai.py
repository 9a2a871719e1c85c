#!/usr/bin/env python3
"""AI replies benchmark: our own overhead around the model, with the fake Gemini server.

    python scripts/bench_ai.py                          # both setups, 50 conversations x 10 questions
    python scripts/bench_ai.py --setup embedded --conversations 50 --questions 10
    python scripts/bench_ai.py --setup cluster          # MariaDB + Redis: serve + callcenter ai-worker

Two legs are measured for every question, each from one clock (time.time() on this machine):

- send -> model: the visitor's `chat.message.send` frame leaves the client (t0) until the request
  reaches the fake model (t1, when the fake has read the request line and headers): the socket,
  the store, the event, the queue (in process, or the Redis stream and an ai-worker), the job's
  reads when it has to make them (the worker keeps the history of conversations it answered), the
  prompt and the SDK.
- model -> widget: the fake has written the last byte of its streamed answer (t2) until the
  visitor's socket has the AI's chat.message.new (t3): the SDK's parsing, storing the reply,
  the event over the bus, the hub and the socket.

Setups: `embedded` is `callcenter serve` with no configuration but the AI (SQLite, in-process bus
and queue); `cluster` is one `callcenter serve` and one `callcenter ai-worker` on a scratch MariaDB
database and a private Redis key prefix (the production shape). --conversations visitors each
open a widget socket and ask --questions questions one after another, all conversations at once;
after each answer the visitor pauses --think-secs on average (reading, typing) before the next
question, so the load is that of 50 live conversations, about 25 questions a second in total
(--think-secs 0 runs them closed-loop at full speed: that measures saturation, not our overhead).
Before the clock starts every conversation asks one warm-up question (all 50 at once; reported apart
as "first answer": it includes each process's first connections and the burst). The fake model
answers at once, streaming its answer in three chunks; it runs in a process of its own. The
client's sockets set TCP_NODELAY, as browsers do. Also reported: the CPU time each process spent
per answer during the run. Everything started here is stopped by PID; the scratch database and the
Redis keys are removed. Results: Markdown on stdout, JSON with --json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import DEFAULT_MYSQL_URL, ScratchDatabase, ServeProcess  # noqa: E402

MYSQL = os.environ.get("CALLCENTER_TEST_MYSQL", DEFAULT_MYSQL_URL)
REDIS = os.environ.get("CALLCENTER_TEST_REDIS", "redis://127.0.0.1:6379/0")


# ---- the fake model, in a process of its own ------------------------------------------------------

def _fake_main(conn) -> None:
    from tests.fake_gemini import FakeGemini

    def answer(body: dict) -> str:
        last = body["contents"][-1]["parts"][-1]["text"]
        return "Answer to " + last + ". " + "Here is a helpful reply of ordinary length. " * 3

    fake = FakeGemini(reply=answer, chunks=3).start()
    conn.send(fake.port)
    conn.recv()  # asked for the records: then stop
    conn.send([(r.texts("user")[-1] if r.contents else "", r.received_at, r.answered_at) for r in fake.requests])
    fake.stop()


# ---- servers ---------------------------------------------------------------------------------------

def _call(base: str, method: str, path: str, body=None, token=None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + "/api/v1" + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


class Setup:
    def __init__(self, kind: str, fake_url: str, workdir: Path):
        self.kind = kind
        self.procs: list[subprocess.Popen] = []  # serve first, then ai-worker
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "GEMINI_"))}
        self.env.update(GEMINI_API_KEY="bench-key", CALLCENTER_GEMINI_BASE_URL=fake_url, PYTHONUNBUFFERED="1",
                        CALLCENTER_DATA_DIR=str(workdir / "data"), CALLCENTER_LOG_LEVEL="WARNING",
                        # 50 visitors from one address: not what the limits are for
                        CALLCENTER_SESSION_STARTS_PER_IP="100000")
        self.database = None
        self.prefix = None
        if kind == "cluster":
            self.database = ScratchDatabase(MYSQL, prefix="cc_bench_ai_")
            self.prefix = f"ccbench:{uuid.uuid4().hex[:8]}:"
            self.database.create()
            self.env.update(CALLCENTER_DATABASE_URL=self.database.url, CALLCENTER_REDIS_URL=REDIS,
                            CALLCENTER_REDIS_PREFIX=self.prefix, CALLCENTER_SECRET_KEY="bench-" + "x" * 40)
            for cmd in (["migrate"], ["demo"]):
                subprocess.run([sys.executable, "-m", "callcenter.cli", *cmd], env=self.env, check=True,
                               stdout=subprocess.DEVNULL)
        self.server = ServeProcess(self.env, workdir / "serve.log", start_timeout=30, stop_timeout=20)
        self.url = self.server.url

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as f:
            proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", *args], env=self.env, stdout=f, stderr=f)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        self.server.start()
        self.procs.append(self.server.proc)
        if self.kind == "cluster":
            self._spawn("ai-worker", ["ai-worker"])
        token = _call(self.url, "POST", "/auth/login", {"email": "agent1@callcenter.com",
                                                        "password": "Password123!", "tenant_id": "demo-tenant"})["token"]
        _call(self.url, "PATCH", "/ai/settings", {"ai_mode": "auto"}, token)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.database:
            self.database.drop()
            import redis
            client = redis.Redis.from_url(REDIS)
            keys = list(client.scan_iter(match=self.prefix + "*"))
            if keys:
                client.delete(*keys)
            client.close()


# ---- the visitors ---------------------------------------------------------------------------------

async def _ask(ws, text: str) -> float:
    """Send one question; the time the AI's answer arrived."""
    await ws.write_message(json.dumps({"type": "chat.message.send", "data": {"message": text, "client_msg_id": text}}))
    while True:
        raw = await asyncio.wait_for(ws.read_message(), 60)
        if raw is None:
            raise SystemExit("socket closed")
        frame = json.loads(raw)
        if frame["type"] == "chat.message.new" and frame["data"]["message"]["sender_type"] == "ai":
            return time.time()


async def _conversation(base: str, index: int, questions: int, think: float, sent: dict, got: dict,
                        warmed: asyncio.Barrier, start: asyncio.Event) -> None:
    from tornado import websocket

    started = await asyncio.to_thread(_call, base, "POST", "/chat/public/start",
                                      {"tenant_id": "demo-tenant", "channel": "web", "customer_name": f"B{index}"})
    ws = await websocket.websocket_connect(base.replace("http", "ws") + "/ws")
    # As browsers do: without it, a question written while the server still owes the ACK of the
    # previous small write (a pong) waits for that delayed ACK, up to 40 ms, in the client's kernel.
    ws.protocol.set_nodelay(True)
    await ws.write_message(json.dumps({"type": "auth", "token": started["token"]}))
    while json.loads(await ws.read_message())["type"] != "auth.ok":
        pass
    # The warm-up question: each process's first use of a connection, a statement, the SDK is
    # over before the clock starts (its time is reported apart, as "first answer").
    text = f"c{index}w-{uuid.uuid4().hex[:6]}"
    sent[text] = time.time()
    got[text] = await _ask(ws, text)
    await warmed.wait()
    await start.wait()
    rng = random.Random(index)
    await asyncio.sleep(rng.uniform(0, think))  # the conversations do not all start in the same instant
    for q in range(questions):
        if q:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))  # the visitor reads and types
        text = f"c{index}q{q}-{uuid.uuid4().hex[:6]}"
        sent[text] = time.time()
        got[text] = await _ask(ws, text)
    ws.close()


async def _drive(base: str, conversations: int, questions: int, think: float) -> tuple[dict, dict]:
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    warmed = asyncio.Barrier(conversations + 1)
    start = asyncio.Event()
    tasks = [asyncio.create_task(_conversation(base, i, questions, think, sent, got, warmed, start))
             for i in range(conversations)]
    await warmed.wait()  # every socket authenticated and answered once
    await asyncio.sleep(1.0)  # the warm-up's bookkeeping (typing off, acks) is over
    start.set()
    await asyncio.gather(*tasks)
    return sent, got


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))]


def _cpu_secs(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes(setup: Setup, fake: mp.Process) -> dict[str, int]:
    """The processes whose CPU time the run reports (the database and Redis when found)."""
    procs = {"serve": setup.procs[0].pid}
    if len(setup.procs) > 1:
        procs["ai-worker"] = setup.procs[1].pid
    procs.update({"fake model": fake.pid, "bench client": os.getpid()})
    for name, binary in (("mariadb", "mariadbd"), ("redis", "redis-server")):
        found = subprocess.run(["pidof", "-s", binary], capture_output=True, text=True).stdout.split()
        if found:
            procs[name] = int(found[0])
    return procs


def _stats(values: list[float]) -> dict:
    return {"p50": round(statistics.median(values), 2), "p99": round(_pct(values, 99), 2),
            "max": round(max(values), 2), "mean": round(statistics.mean(values), 2)}


def run(kind: str, conversations: int, questions: int, think: float, samples_path: str | None,
        profile_dir: str | None = None) -> dict:
    parent, child = mp.Pipe()
    fake = mp.Process(target=_fake_main, args=(child,), daemon=True)
    fake.start()
    fake_port = parent.recv()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-ai-{kind}-"))
    setup = Setup(kind, f"http://127.0.0.1:{fake_port}", workdir)
    try:
        setup.start()
        procs = _processes(setup, fake)
        load_before = os.getloadavg()
        cpu_before = {name: _cpu_secs(pid) for name, pid in procs.items()}
        spies = [subprocess.Popen(["py-spy", "record", "-r", "250", "-f", "raw", "-o",
                                   str(Path(profile_dir) / f"{kind}-{name}.txt"), "--pid", str(pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for name, pid in procs.items() if name in ("serve", "ai-worker")] if profile_dir else []
        wall = time.time()
        sent, got = asyncio.run(_drive(setup.url, conversations, questions, think))
        wall = time.time() - wall
        cpu = {name: round(_cpu_secs(pid) - cpu_before[name], 2) for name, pid in procs.items()}
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its profile and exits
            spy.wait()
        load_after = os.getloadavg()
    finally:
        parent.send("records")
        records = parent.recv()
        fake.join(5)
        setup.stop()
    legs: dict[str, tuple[list, list]] = {"warm-up": ([], []), "measured": ([], [])}
    samples = []
    for text, received_at, answered_at in records:
        if text in sent and text in got and answered_at:
            to_model, to_widget = (received_at - sent[text]) * 1000, (got[text] - answered_at) * 1000
            phase = "warm-up" if "w-" in text else "measured"
            legs[phase][0].append(to_model)
            legs[phase][1].append(to_widget)
            samples.append({"question": text, "phase": phase, "sent_at": sent[text], "model_got_at": received_at,
                            "model_answered_at": answered_at, "widget_got_at": got[text]})
    if samples_path:
        Path(samples_path).write_text(json.dumps(sorted(samples, key=lambda s: s["sent_at"]), indent=0))
    to_model, to_widget = legs["measured"]
    measured_wall = wall - (min(s["sent_at"] for s in samples if s["phase"] == "measured") - min(sent.values()))
    result = {"setup": kind, "conversations": conversations, "questions": questions, "think_secs": think,
              "samples": len(to_model), "answers_per_sec": round(len(to_model) / measured_wall, 1),
              "model_calls": len(records), "wall_secs": round(wall, 2), "load_before": load_before,
              "load_after": load_after, "cpu_secs": cpu,
              "cpu_ms_per_answer": {name: round(secs * 1000 / max(1, len(records)), 2) for name, secs in cpu.items()},
              "send_to_model_ms": _stats(to_model), "model_to_widget_ms": _stats(to_widget),
              "first_answer": {"send_to_model_ms": _stats(legs["warm-up"][0]),
                               "model_to_widget_ms": _stats(legs["warm-up"][1])}}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--setup", choices=("both", "embedded", "cluster"), default="both")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--think-secs", type=float, default=2.0,
                        help="mean pause of a visitor between an answer and the next question (uniform, 0.5x-1.5x); "
                             "0: closed loop at full speed (measures saturation, not overhead)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--profile", metavar="DIR",
                        help="sample serve and ai-worker with py-spy (pip install py-spy) during the run; raw "
                             "stacks go to DIR/<setup>-<process>.txt")
    parser.add_argument("--samples", help="write every question's four timestamps here (SETUP in the name is "
                                          "replaced by the setup)")
    args = parser.parse_args()
    kinds = ["embedded", "cluster"] if args.setup == "both" else [args.setup]
    results = [run(kind, args.conversations, args.questions, args.think_secs,
                   args.samples.replace("SETUP", kind) if args.samples else None, args.profile) for kind in kinds]
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print("\n| setup | leg | p50 ms | p99 ms | max ms | mean ms | samples | answers/s | load (1 min) before/after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for leg in ("send_to_model_ms", "model_to_widget_ms"):
            s = r[leg]
            print(f"| {r['setup']} | {leg.replace('_ms', '').replace('_', ' ')} | {s['p50']} | {s['p99']} | "
                  f"{s['max']} | {s['mean']} | {r['samples']} | {r['answers_per_sec']} | "
                  f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f} |")
    print("\nFirst answer of each conversation (the warm-up, not in the table above), p50 / p99 / max ms:")
    for r in results:
        first = r["first_answer"]
        print(f"- {r['setup']}: " + "; ".join(
            f"{leg.replace('_ms', '').replace('_', ' ')} {s['p50']} / {s['p99']} / {s['max']}"
            for leg, s in first.items()))
    print("\nCPU time per answer during the run (ms; all the processes share the machine's cores):")
    for r in results:
        print(f"- {r['setup']}: " + ", ".join(f"{name} {ms}" for name, ms in r["cpu_ms_per_answer"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
