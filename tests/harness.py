"""Process and database plumbing shared by the test suite and the tools in scripts/.

- `ServeProcess`: one server process (by default `callcenter serve --host 127.0.0.1 --port P`) started
  here, waited for until GET /healthz answers 200, stopped by its own PID (SIGTERM, then SIGKILL) and
  restartable on the same port. `wait_healthy()` is the wait on its own, `free_port()` a free loopback
  port, `embedded_env()` the environment of a server on the embedded default.
- `mysql_admin()`: one statement (CREATE / DROP DATABASE, CREATE USER, a count) on a MySQL/MariaDB
  server named by a SQLAlchemy URL; `ScratchDatabase`: a uniquely named database created and dropped.

The scripts import this module with the repository root on sys.path (`python scripts/bench_x.py` works
from a fresh clone); so it needs nothing at import time but the standard library, and neither pytest
nor Playwright at all. (It lives in tests/, a regular package, rather than in scripts/, which has no
__init__.py: an installed package named `scripts` would shadow that one, never the repository's `tests`
put first on sys.path.)
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

START_TIMEOUT_SECS = 20.0
LOG_TAIL_CHARS = 10_000
DEFAULT_MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:3306"


# ---- servers -------------------------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server started next binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log_path: Path | None) -> str:
    if log_path is None or not Path(log_path).exists():
        return ""
    return Path(log_path).read_text(errors="replace")[-LOG_TAIL_CHARS:]


def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path | None = None, *,
                 timeout: float = START_TIMEOUT_SECS, path: str = "/healthz") -> None:
    """Poll GET `url` + `path` until it answers 200. RuntimeError (with the end of the log) when the
    process exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url + path, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} not healthy within {timeout:g}s:\n{_log_tail(log_path)}")


def serve_argv(*args: str) -> list[str]:
    """The command line of `callcenter serve ARGS` with this interpreter (no console script needed)."""
    return [sys.executable, "-m", "callcenter.cli", "serve", *args]


def embedded_env(data_dir: Path | str, **env_vars: str) -> dict[str, str]:
    """The environment of a server on the embedded default (SQLite file and in-process bus in
    `data_dir`): this process's environment without its CALLCENTER_, GEMINI_ and GOOGLE_ settings,
    plus CALLCENTER_DATA_DIR, PYTHONUNBUFFERED=1 and `env_vars`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "GEMINI_", "GOOGLE_"))}
    env.update(CALLCENTER_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **env_vars)
    return env


class ServeProcess:
    """One server process started here, stopped by its own PID only.

    `ServeProcess(env, log_path)` runs `callcenter serve --host 127.0.0.1 --port P` with `env`; `port`
    is picked free now unless given, and kept across restarts; `host=None` leaves --host out (the
    server's default bind); `args` are more flags (`"--workers", "2"`). `argv` replaces the whole
    command (any server that answers GET /healthz on `port`, e.g. scripts/bench/*_server.py).
    Output goes to `log_path` (appended: a restart keeps the earlier runs' lines).

    `start()` starts it (again) and waits until /healthz answers 200 (RuntimeError with the log if it
    exits or `start_timeout` passes); `stop()` sends SIGTERM, then SIGKILL after `stop_timeout` s;
    `with ServeProcess(...) as srv:` does both. `.proc` is the Popen, `.url` http://127.0.0.1:PORT.
    """

    def __init__(self, env: dict[str, str], log_path: Path | str, *, port: int | None = None,
                 host: str | None = "127.0.0.1", args: tuple[str, ...] | list[str] = (),
                 argv: list[str] | None = None, cwd: Path | str | None = None,
                 start_timeout: float = START_TIMEOUT_SECS, stop_timeout: float = 15.0):
        self.env = env
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.argv = argv or serve_argv(*(["--host", host] if host else []), "--port", str(self.port), *args)
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> "ServeProcess":
        """Start (or restart, on the same port) and wait until /healthz answers 200."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=log,
                                         cwd=str(self.cwd) if self.cwd else None)
        try:
            wait_healthy(self.url, self.proc, self.log_path, timeout=self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not exited after `stop_timeout` s (no-op when not running)."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- MySQL / MariaDB administration ------------------------------------------------------------------

def mysql_admin(server_url: str, sql: str, params: tuple | None = None, *, database: str | None = None):
    """Run one statement on the server of `server_url` (a SQLAlchemy URL, `mysql+aiomysql://user:pw@host:port`;
    a database in it is ignored: the statement runs outside any database unless `database` is given),
    autocommitted, on a connection of its own; the first value of the first row, or None.
    For CREATE / DROP DATABASE, CREATE / DROP USER, a count. Synchronous (PyMySQL, which aiomysql
    itself depends on): callable from a test's coroutine, a fixture or a script alike."""
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    conn = pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root",
                           password=url.password or "", database=database, autocommit=True, connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            row = cur.fetchone() if cur.description else None
            return row[0] if row else None
    finally:
        conn.close()


class ScratchDatabase:
    """A new, empty database on the server of `server_url`, named `name` or `prefix` + a random suffix;
    `.url` is the server URL with that database. Either `with ScratchDatabase(url) as db_url:` (created
    on entry, dropped on exit), or `.create()` / `.drop()` by hand (drop: IF EXISTS, so it may run
    twice or after a failed create)."""

    def __init__(self, server_url: str, *, prefix: str = "cc_scratch_", name: str | None = None):
        from sqlalchemy.engine import make_url

        self.server_url = server_url
        self.name = name or f"{prefix}{uuid.uuid4().hex[:12]}"
        self.url = make_url(server_url).set(database=self.name).render_as_string(hide_password=False)

    def create(self) -> str:
        mysql_admin(self.server_url, f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url

    def drop(self) -> None:
        mysql_admin(self.server_url, f"DROP DATABASE IF EXISTS `{self.name}`")

    def __enter__(self) -> str:
        return self.create()

    def __exit__(self, *exc) -> None:
        self.drop()
