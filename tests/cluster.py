"""Real worker processes (`callcenter serve`) on MariaDB + Redis, optionally behind real nginx."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import free_port

START_TIMEOUT_SECS = 20.0


class Worker:
    def __init__(self, index: int, env: dict, logdir: Path):
        self.index = index
        self.env = env
        self.port = free_port()
        self.log_path = logdir / f"worker{index}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart, on the same port) and wait until /healthz answers."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "serve", "--host", "127.0.0.1",
                                          "--port", str(self.port)], env=self.env, stdout=log, stderr=log)
        wait_healthy(self.url, self.proc, self.log_path)

    def signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} not healthy in time:\n{log_path.read_text(errors='replace')}")


@contextlib.contextmanager
def embedded_server(tmp_path: Path, *, host: str | None = "127.0.0.1", **env_vars: str):
    """`callcenter serve` on the embedded default (SQLite, demo seeded) in a temp data dir, in an
    environment without the caller's CALLCENTER_/GEMINI_ settings plus `env_vars`, bound to `host`
    (None: no --host, the default); yields (base URL, log path) and stops it by PID."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "GEMINI_", "GOOGLE_"))}
    env.update(CALLCENTER_DATA_DIR=str(tmp_path / "data"), CALLCENTER_PORT=str(port), PYTHONUNBUFFERED="1",
               **env_vars)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "serve",
                                 *(["--host", host] if host else [])], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log_path)
        yield url, log_path
    finally:
        proc.terminate()
        proc.wait(15)


class Cluster:
    """N workers sharing one database and one Redis key prefix."""

    def __init__(self, *, database_url: str, redis_url: str, redis_prefix: str, secret_key: str, logdir: Path,
                 workers: int = 2, env: dict[str, str] | None = None):
        self.env = {**os.environ, "CALLCENTER_DATABASE_URL": database_url, "CALLCENTER_REDIS_URL": redis_url,
                    "CALLCENTER_REDIS_PREFIX": redis_prefix, "CALLCENTER_SECRET_KEY": secret_key,
                    "CALLCENTER_DATA_DIR": str(logdir), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.workers = [Worker(i, self.env, logdir) for i in range(workers)]

    def start(self) -> "Cluster":
        for worker in self.workers:
            worker.start()
        return self

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    @property
    def upstreams(self) -> list[str]:
        return [f"127.0.0.1:{w.port}" for w in self.workers]

    def logs(self) -> str:
        return "\n".join(f"--- worker {w.index} ---\n{w.log()[-4000:]}" for w in self.workers)
