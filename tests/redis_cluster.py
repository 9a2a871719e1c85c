"""A real 3-master Redis Cluster on free loopback ports, for tests and benchmarks (never the shared Redis).

`RedisClusterProcess` starts `redis-server --cluster-enabled yes` three times (no persistence, each with
its nodes.conf in a temporary directory), joins them with `redis-cli --cluster create … --cluster-yes`
and waits until every node reports `cluster_state:ok`. `url` is the `redis+cluster://` URL the product
takes; `restart_node(i)` stops one node by its PID and starts it again on the same ports with the same
nodes.conf (it comes back owning the same slots, empty: there is no persistence); `stop()` stops
everything by PID and removes the directory.

Like tests/harness.py it needs only the standard library at import time (scripts/ may use it); the test
fixture (`redis_cluster` in tests/conftest.py) checks the programs with `require_program` first.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from binascii import crc_hqx
from pathlib import Path

from tests.harness import free_port

NODES = 3
SLOTS = 16384
START_TIMEOUT_SECS = 20.0
STOP_TIMEOUT_SECS = 10.0
POLL_SECS = 0.05


def key_slot(key: str | bytes) -> int:
    """The cluster slot of a key (CRC16 of its hash tag, or of the whole key without one)."""
    raw = key.encode() if isinstance(key, str) else key
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1:end]
    return crc_hqx(raw, 0) % SLOTS


class RedisClusterProcess:
    """Three masters, no replicas; use as a context manager or call start()/stop()."""

    def __init__(self, nodes: int = NODES, *, redis_server: str = "redis-server", redis_cli: str = "redis-cli"):
        self.redis_server = shutil.which(redis_server) or redis_server
        self.redis_cli = shutil.which(redis_cli) or redis_cli
        self.count = nodes
        self.dir: Path | None = None
        self.ports: list[int] = []
        self._bus_ports: list[int] = []
        self._procs: list[subprocess.Popen | None] = []
        # Node i's slot ranges as the cluster was created: [(first, last), …].
        self._slots: list[list[tuple[int, int]]] = []

    # ---- properties ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    @property
    def pids(self) -> list[int | None]:
        return [proc.pid if proc is not None and proc.poll() is None else None for proc in self._procs]

    def node_for_slot(self, slot: int) -> int:
        """The index (into `ports`) of the master that owns `slot`."""
        for i, ranges in enumerate(self._slots):
            if any(first <= slot <= last for first, last in ranges):
                return i
        raise LookupError(f"slot {slot} is not served")

    def node_for_key(self, key: str | bytes) -> int:
        return self.node_for_slot(key_slot(key))

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "RedisClusterProcess":
        for program in (self.redis_server, self.redis_cli):
            if not Path(program).exists():
                raise RuntimeError(f"{program} is not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="cc-redis-cluster-"))
        try:
            used: set[int] = set()
            for _ in range(self.count):
                self.ports.append(self._fresh_port(used))
                self._bus_ports.append(self._fresh_port(used))
            self._procs = [self._spawn(i) for i in range(self.count)]
            for i in range(self.count):
                self._wait_answers(i)
            self._cli("--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
                      "--cluster-replicas", "0", "--cluster-yes")
            self.wait_ok()
            self._slots = [self._own_slots(i) for i in range(self.count)]
        except BaseException:
            self.stop()
            raise
        return self

    def restart_node(self, i: int, *, kill: bool = False, keep_data: bool = False) -> None:
        """Stop node i by PID (SIGTERM, or SIGKILL with `kill`), start it again on the same ports with the
        same nodes.conf, and wait until the whole cluster says cluster_state:ok again. The node comes
        back empty (no persistence), unless `keep_data`: then it stops with SHUTDOWN SAVE (its data
        written as it stops, nothing accepted after) and loads that snapshot again, as a node with
        persistence does."""
        if keep_data:
            self._cli("shutdown", "save", port=self.ports[i], check=False)
            try:
                self._procs[i].wait(STOP_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:
                pass
        self._stop_node(i, sig=signal.SIGKILL if kill else signal.SIGTERM)
        self._procs[i] = self._spawn(i)
        self._wait_answers(i)
        self.wait_ok()

    def stop_node(self, i: int) -> None:
        self._stop_node(i, sig=signal.SIGTERM)

    def stop(self) -> None:
        for i in range(len(self._procs)):
            self._stop_node(i, sig=signal.SIGTERM)
        self._procs = []
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "RedisClusterProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ok(self, timeout: float = START_TIMEOUT_SECS) -> None:
        """Until every node says cluster_state:ok and sees every other node connected."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            states = [self._info(i) for i in range(self.count)]
            if all("cluster_state:ok" in s and f"cluster_known_nodes:{self.count}" in s for s in states) \
                    and all(self._all_connected(i) for i in range(self.count)):
                return
            last = " | ".join(s.replace("\r\n", " ")[:80] for s in states)
            time.sleep(POLL_SECS)
        raise RuntimeError(f"the cluster is not ok after {timeout:.0f}s: {last}\n{self.logs()}")

    def cli(self, i: int, *args: str) -> str:
        """`redis-cli` against node i (CLUSTER NODES, PUBSUB SHARDNUMSUB …): its output."""
        return self._cli(*args, port=self.ports[i])

    def logs(self) -> str:
        if self.dir is None:
            return ""
        return "\n".join(f"--- node {port}:\n" + (self.dir / f"node-{port}.log").read_text(errors="replace")[-2000:]
                         for port in self.ports if (self.dir / f"node-{port}.log").exists())

    # ---- plumbing ------------------------------------------------------------------------------

    @staticmethod
    def _fresh_port(used: set[int]) -> int:
        while True:
            port = free_port()
            if port not in used and port != 6379:
                used.add(port)
                return port

    def _spawn(self, i: int) -> subprocess.Popen:
        port, bus_port = self.ports[i], self._bus_ports[i]
        argv = [self.redis_server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                "--cluster-port", str(bus_port), "--cluster-config-file", str(self.dir / f"nodes-{port}.conf"),
                "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                "--dbfilename", f"dump-{port}.rdb",
                "--logfile", str(self.dir / f"node-{port}.log"), "--daemonize", "no", "--protected-mode", "no"]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def _stop_node(self, i: int, *, sig: int) -> None:
        proc = self._procs[i] if i < len(self._procs) else None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(STOP_TIMEOUT_SECS)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_SECS)

    def _cli(self, *args: str, port: int | None = None, check: bool = True) -> str:
        argv = [self.redis_cli, "-h", "127.0.0.1"] + (["-p", str(port)] if port else []) + list(args)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT_SECS)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def _info(self, i: int) -> str:
        try:
            return self._cli("cluster", "info", port=self.ports[i], check=False)
        except subprocess.TimeoutExpired:
            return ""

    def _all_connected(self, i: int) -> bool:
        lines = self._cli("cluster", "nodes", port=self.ports[i], check=False).strip().splitlines()
        return len(lines) == self.count and all(
            " connected" in line and "fail" not in line.split()[2] for line in lines)

    def _wait_answers(self, i: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            proc = self._procs[i]
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"redis-server on {self.ports[i]} exited with {proc.returncode}:\n{self.logs()}")
            if self._cli("ping", port=self.ports[i], check=False).strip() == "PONG":
                return
            time.sleep(POLL_SECS)
        raise RuntimeError(f"redis-server on {self.ports[i]} does not answer:\n{self.logs()}")

    def _own_slots(self, i: int) -> list[tuple[int, int]]:
        """Node i's slot ranges, from its own line of CLUSTER NODES ("myself")."""
        for line in self._cli("cluster", "nodes", port=self.ports[i]).splitlines():
            fields = line.split()
            if "myself" in fields[2]:
                ranges = []
                for spec in fields[8:]:
                    if spec.startswith("["):
                        continue  # a slot being migrated
                    first, _, last = spec.partition("-")
                    ranges.append((int(first), int(last or first)))
                return ranges
        raise RuntimeError(f"node {self.ports[i]} does not list itself")
