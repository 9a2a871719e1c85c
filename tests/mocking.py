"""Fault fakes: things the tests break on purpose. (No fake of our own services: only faults.)

- TcpProxy: a loopback TCP proxy that can refuse and cut connections, to take
  "the database" away from a server and give it back without touching the real one.
- PrivateRedis: a redis-server of the test's own on a free port, which may be
  stopped and restarted, or paused (hung) and resumed (the shared server is never touched).
- PrivateMariaDB: a mariadbd of the test's own (a fresh data directory, a free port) that
  accepts TLS connections only, with a certificate made for it.
- FakeGemini (tests/fake_gemini.py, re-exported here): the one fake service, a local
  HTTP server speaking the Gemini REST routes the google-genai SDK calls (incl. the SSE
  streaming route), scriptable (reply text, HTTP errors, hang) and recording requests.
"""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import tempfile
import time

from tests.fake_gemini import HANG, FakeGemini  # noqa: F401  (re-exported: the fakes live behind this module)
from tests.helpers import free_port, require_program


class TcpProxy:
    """Forwards 127.0.0.1:<port> to target. `down()` cuts every link and refuses new ones; `up()` heals."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.AbstractServer | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _handle(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, up_writer))

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort() if dst.transport else None

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links.discard(writer)
        self._links.discard(up_writer)


class PrivateRedis:
    """A redis-server on a free loopback port, started and stopped by this test only (by PID). With
    `tls`, it speaks TLS only, with a self-signed certificate made for it (`url` is rediss://)."""

    def __init__(self, *, tls: bool = False):
        self.binary = require_program("redis-server")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="cc-redis-")
        self.proc: subprocess.Popen | None = None
        self.cert, self.key = self_signed_certificate(self.dir) if tls else (None, None)

    @property
    def url(self) -> str:
        if self.cert:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        listen = ["--port", str(self.port)]
        if self.cert:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.cert,
                      "--tls-key-file", self.key, "--tls-ca-cert-file", self.cert,
                      "--tls-auth-clients", "no"]
        self.proc = subprocess.Popen(
            [self.binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def pause(self) -> None:
        """Hung, not gone: the process stops (SIGSTOP); its connections stay open and unanswered."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None


def self_signed_certificate(directory: str) -> tuple[str, str]:
    """(cert.pem, key.pem) for 127.0.0.1, made with openssl in `directory`."""
    cert, key = f"{directory}/cert.pem", f"{directory}/key.pem"
    subprocess.run([require_program("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class PrivateMariaDB:
    """A mariadbd on a free loopback port with a data directory of its own, requiring TLS; started
    and stopped (by PID) by this test only. `url(database)` carries the CA in its TLS options."""

    def __init__(self):
        self.binary = require_program("/usr/sbin/mariadbd")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="cc-mariadb-")
        self.cert, self.key = self_signed_certificate(self.dir)
        subprocess.run([require_program("mariadb-install-db"), "--no-defaults", f"--datadir={self.dir}/data",
                        "--auth-root-authentication-method=normal", "--skip-test-db", "--user=root"],
                       check=True, capture_output=True)
        self.proc: subprocess.Popen | None = None

    def url(self, database: str = "") -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/{database}?ssl_ca={self.cert}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--no-defaults", f"--datadir={self.dir}/data", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.dir}/mysqld.sock", "--user=root", "--skip-log-bin",
             f"--ssl-cert={self.cert}", f"--ssl-key={self.key}", f"--ssl-ca={self.cert}",
             "--require-secure-transport=ON", "--innodb-buffer-pool-size=16M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import pymysql
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", ssl={"ca": self.cert},
                                connect_timeout=1).close()
                return
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("private mariadbd did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def private_mariadb():
    server = PrivateMariaDB()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


@contextlib.contextmanager
def private_redis(*, tls: bool = False):
    server = PrivateRedis(tls=tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
