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
from pathlib import Path

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


class _PrivateServer:
    """A server process on a free loopback port with a temporary directory of its own, started and
    stopped (by PID) by this test only; the directory goes when it is used through `running`."""

    prefix = "cc-server-"

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=self.prefix)
        self.proc: subprocess.Popen | None = None

    def _launch(self, argv: list[str], ready, errors: tuple[type[Exception], ...], *, timeout_secs: float,
                poll_secs: float) -> None:
        """Start `argv` and wait until `ready()` stops raising `errors` (RuntimeError if it never does,
        or the process ends first)."""
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_secs
        while time.monotonic() < deadline:
            try:
                ready()
                return
            except errors:
                if self.proc.poll() is not None:
                    break
                time.sleep(poll_secs)
        raise RuntimeError(f"private {Path(argv[0]).name} did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def running(server: _PrivateServer):
    """`server` started; stopped and its directory removed afterwards."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


class PrivateRedis(_PrivateServer):
    """A redis-server of the test's own. With `tls`, it speaks TLS only, with a self-signed
    certificate made for it (`url` is rediss://)."""

    prefix = "cc-redis-"

    def __init__(self, *, tls: bool = False):
        self.binary = require_program("redis-server")
        super().__init__()
        self.cert, self.key = self_signed_certificate(self.dir) if tls else (None, None)

    @property
    def url(self) -> str:
        if self.cert:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        listen = ["--port", str(self.port)]
        if self.cert:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.cert,
                      "--tls-key-file", self.key, "--tls-ca-cert-file", self.cert,
                      "--tls-auth-clients", "no"]
        self._launch([self.binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                      "--dir", self.dir],
                     lambda: redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping(), (redis.RedisError,),
                     timeout_secs=10, poll_secs=0.05)

    def pause(self) -> None:
        """Hung, not gone: the process stops (SIGSTOP); its connections stay open and unanswered."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)


def self_signed_certificate(directory: str) -> tuple[str, str]:
    """(cert.pem, key.pem) for 127.0.0.1, made with openssl in `directory`."""
    cert, key = f"{directory}/cert.pem", f"{directory}/key.pem"
    subprocess.run([require_program("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class PrivateMariaDB(_PrivateServer):
    """A mariadbd of the test's own with a fresh data directory, requiring TLS. `url(database)`
    carries the CA in its TLS options."""

    prefix = "cc-mariadb-"

    def __init__(self):
        self.binary = require_program("/usr/sbin/mariadbd")
        super().__init__()
        self.cert, self.key = self_signed_certificate(self.dir)
        subprocess.run([require_program("mariadb-install-db"), "--no-defaults", f"--datadir={self.dir}/data",
                        "--auth-root-authentication-method=normal", "--skip-test-db", "--user=root"],
                       check=True, capture_output=True)

    def url(self, database: str = "") -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/{database}?ssl_ca={self.cert}"

    def start(self) -> None:
        import pymysql

        self._launch(
            [self.binary, "--no-defaults", f"--datadir={self.dir}/data", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.dir}/mysqld.sock", "--user=root", "--skip-log-bin",
             f"--ssl-cert={self.cert}", f"--ssl-key={self.key}", f"--ssl-ca={self.cert}",
             "--require-secure-transport=ON", "--innodb-buffer-pool-size=16M"],
            lambda: pymysql.connect(host="127.0.0.1", port=self.port, user="root", ssl={"ca": self.cert},
                                    connect_timeout=1).close(),
            (pymysql.err.OperationalError,), timeout_secs=30, poll_secs=0.1)


def private_mariadb():
    return running(PrivateMariaDB())


def private_redis(*, tls: bool = False):
    return running(PrivateRedis(tls=tls))
