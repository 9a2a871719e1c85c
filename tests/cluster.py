"""Real worker processes (`callcenter serve`) on MariaDB + Redis, optionally behind real nginx."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tests.harness import START_TIMEOUT_SECS, ServeProcess, embedded_env, wait_healthy  # noqa: F401 (re-exported)


class Worker(ServeProcess):
    """`callcenter serve --host 127.0.0.1 --port <free>` with `env`, logging to `logdir`/worker<index>.log
    (tests/harness.py's ServeProcess: start() waits for /healthz, a restart keeps the port, stop by PID)."""

    def __init__(self, index: int, env: dict, logdir: Path):
        super().__init__(env, logdir / f"worker{index}.log")
        self.index = index


@contextlib.contextmanager
def embedded_server(tmp_path: Path, *, host: str | None = "127.0.0.1", **env_vars: str):
    """`callcenter serve` on the embedded default (SQLite, demo seeded) in a temp data dir, in an
    environment without the caller's CALLCENTER_/GEMINI_ settings plus `env_vars`, bound to `host`
    (None: no --host, the default); yields (base URL, log path) and stops it by PID."""
    server = ServeProcess(embedded_env(tmp_path / "data"), tmp_path / "serve.log", host=host)
    server.env.update(CALLCENTER_PORT=str(server.port), **env_vars)
    with server:
        yield server.url, server.log_path


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
