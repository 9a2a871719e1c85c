"""The `callcenter` command line, run as an operator would: a subprocess with a clean environment.

Every run gets its own data dir; MariaDB runs get their own freshly created database (dropped after);
the served instance listens on a port picked by free_port() and is stopped by its own PID.
"""
from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy.engine import make_url

from callcenter import migrations
from callcenter.demo import DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_TENANT_ID
from callcenter.store import Store

from .helpers import free_port, mysql_admin, run_in_thread, scratch_mysql_database, sqlite_template


def _console_script() -> list[str]:
    """The installed `callcenter` of this interpreter (not some other one first on PATH)."""
    beside = os.path.join(os.path.dirname(sys.executable), "callcenter")
    if os.access(beside, os.X_OK):
        return [beside]
    found = shutil.which("callcenter")
    return [found] if found else [sys.executable, "-m", "callcenter.cli"]


CLI = _console_script()
SECRET = "cli-test-secret-key-" + "k" * 32
UNREACHABLE_MYSQL = "mysql+aiomysql://root@127.0.0.1:1/x"
COMMANDS = ["serve", "migrate", "demo", "create-tenant", "create-agent", "ai-worker"]


@pytest.fixture
def cli_env(tmp_path):
    """The environment of a fresh operator shell: no CALLCENTER_* or GEMINI_* settings, a private data dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CALLCENTER_", "GEMINI_", "GOOGLE_"))}
    env["CALLCENTER_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(env: dict, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)


def run_parallel(*calls) -> list[subprocess.CompletedProcess]:
    """Several `run`s side by side: each call is (env, args) or (env, args, stdin)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call[0], *call[1], stdin=call[2] if len(call) > 2 else None) for call in calls]
        return [f.result() for f in futures]


def assert_ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Non-zero exit, and stderr is exactly one line 'callcenter: error: …' (no traceback)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    line = lines[0]
    assert line.startswith("callcenter: error: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


class Served:
    """A running `callcenter serve` child: its URL, PID and captured output."""

    def __init__(self, proc: subprocess.Popen, port: int, first_line: str):
        self.proc = proc
        self.port = port
        self.first_line = first_line
        self.url = f"http://127.0.0.1:{port}/"
        self.stdout: list[str] = []
        self.stderr: list[str] = []


def _pump(stream, sink: list[str], lines: queue.Queue | None) -> None:
    for line in stream:
        sink.append(line)
        if lines is not None:
            lines.put(line)
    if lines is not None:
        lines.put(None)


@contextlib.contextmanager
def served(env: dict, *extra: str, attempts: int = 3):
    """`callcenter serve` on a free port until it announces its URL; SIGTERM (to this PID only) on exit.

    A port another process grabbed in between is the one case retried (the server says so in one line)."""
    for _ in range(attempts):
        port = free_port()
        proc = subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *extra], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out_lines: queue.Queue = queue.Queue()
        out, err = [], []
        threads = [threading.Thread(target=_pump, args=(proc.stdout, out, out_lines), daemon=True),
                   threading.Thread(target=_pump, args=(proc.stderr, err, None), daemon=True)]
        for t in threads:
            t.start()
        try:
            first = out_lines.get(timeout=60)
        except queue.Empty:
            first = None
        if first is None:  # exited (or hung) before announcing
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for t in threads:
                t.join(timeout=5)
            if "cannot listen" in "".join(err):
                continue
            pytest.fail(f"callcenter serve did not start (exit {proc.returncode}):\n{''.join(err)}")
        server = Served(proc, port, first)
        server.stdout, server.stderr = out, err
        try:
            yield server
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            for t in threads:
                t.join(timeout=5)
        return
    pytest.fail("no free port could be bound")


def login(base_url: str, email: str, password: str, tenant_id: str) -> tuple[int, dict | None]:
    return http("POST", base_url + "api/v1/auth/login", {"email": email, "password": password, "tenant_id": tenant_id})


# ---- quick refusals: one clear line, no traceback --------------------------------------
#
# None of these touch a working database, so they run side by side (subprocesses cost most of this
# module's time); each case has its own data dir.

QUICK_CASES: dict[str, tuple[dict, list[str], str | None, str | None]] = {
    # name: (environment, arguments, stdin, data dir: None (absent) | "empty" | "seeded")
    **{f"help:{c}": ({}, [c, "--help"], None, None) for c in COMMANDS},
    "help": ({}, ["--help"], None, None),
    "no-command": ({}, [], None, None),
    "scheme": ({"CALLCENTER_DATABASE_URL": "postgresql://cc:pw@127.0.0.1/callcenter"}, ["serve"], None, None),
    "no-secret": ({"CALLCENTER_DATABASE_URL": "mysql+aiomysql://root@127.0.0.1:3306/cc"}, ["migrate"], None, None),
    "workers-without-redis": ({}, ["serve", "--workers", "2", "--port", "{port}"], None, None),
    "bad-port": ({}, ["serve", "--port", "70000"], None, None),
    "bad-integer": ({"CALLCENTER_PORT": "http"}, ["serve"], None, None),
    "malformed-url": ({"CALLCENTER_DATABASE_URL": "mysql+aiomysql://cc:Hunter2Secret@127.0.0.1:notaport/x",
                       "CALLCENTER_SECRET_KEY": SECRET}, ["migrate"], None, None),
    "unreachable:serve": ({"CALLCENTER_DATABASE_URL": UNREACHABLE_MYSQL, "CALLCENTER_SECRET_KEY": SECRET},
                          ["serve", "--port", "{port}"], None, None),
    "unreachable:migrate": ({"CALLCENTER_DATABASE_URL": "mysql+aiomysql://root:Sw0rdfish-42@127.0.0.1:1/x",
                             "CALLCENTER_SECRET_KEY": SECRET}, ["migrate"], None, None),
    "unreachable-redis": ({"CALLCENTER_REDIS_URL": "redis://127.0.0.1:1/0"}, ["serve", "--port", "{port}"], None,
                          "seeded"),
    "port-taken": ({}, ["serve", "--host", "127.0.0.1", "--port", "{taken}"], None, "seeded"),
    "demo-before-migrate": ({}, ["demo"], None, "empty"),
    "ai-worker": ({}, ["ai-worker"], None, None),
    "bad-tenant-id": ({}, ["create-tenant", "Not_A_Slug"], None, None),
    "short-password": ({}, ["create-agent", "--tenant", "acme-shop", "--email", "ann@acme.example"], "short\n",
                       None),
}


def _seeded_data_dir(path) -> None:
    """A migrated embedded store that already holds the demo tenant (so `serve` skips the slow seeding)."""
    path.mkdir(parents=True)
    db = path / "callcenter.sqlite3"
    db.write_bytes(sqlite_template().read_bytes())

    async def add_tenant() -> None:
        store = Store(f"sqlite+aiosqlite:///{db}")
        try:
            await store.create_tenant(DEMO_TENANT_ID, "Demo")
        finally:
            await store.close()

    run_in_thread(add_tenant())


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The result of every QUICK_CASES command, run a few at a time (they are independent)."""
    import concurrent.futures
    import socket

    base = {k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "GEMINI_", "GOOGLE_"))}
    root = tmp_path_factory.mktemp("quick")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = str(taken.getsockname()[1])

        for name, (_, _, _, data_kind) in QUICK_CASES.items():  # prepared here: alembic is not thread-safe
            data_dir = root / name.replace(":", "-")
            if data_kind == "empty":
                data_dir.mkdir()
            elif data_kind == "seeded":
                _seeded_data_dir(data_dir)

        def one(name: str) -> subprocess.CompletedProcess:
            extra, args, stdin, _ = QUICK_CASES[name]
            data_dir = root / name.replace(":", "-")
            env = {**base, "CALLCENTER_DATA_DIR": str(data_dir), **extra}
            args = [a.replace("{port}", str(free_port())).replace("{taken}", taken_port) for a in args]
            return run(env, *args, stdin=stdin)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = dict(zip(QUICK_CASES, pool.map(one, QUICK_CASES)))
    results["taken_port"] = taken_port
    return results


def test_top_level_help_lists_every_command(quick):
    out = assert_ok(quick["help"])
    assert out.startswith("usage: callcenter")
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(quick, command):
    out = assert_ok(quick[f"help:{command}"])
    assert out.startswith(f"usage: callcenter {command}")


def test_no_command_is_a_usage_error(quick):
    result = quick["no-command"]
    assert result.returncode != 0 and "usage: callcenter" in result.stderr and "Traceback" not in result.stderr


def test_unknown_database_scheme(quick):
    assert_one_line_error(quick["scheme"], "unsupported scheme", "CALLCENTER_DATABASE_URL")


def test_mysql_without_secret_key(quick):
    assert_one_line_error(quick["no-secret"], "CALLCENTER_SECRET_KEY", "MySQL")


def test_several_workers_without_redis(quick):
    assert_one_line_error(quick["workers-without-redis"], "--workers 2", "CALLCENTER_REDIS_URL")


def test_bad_port_and_bad_integer(quick):
    assert_one_line_error(quick["bad-port"], "port 70000")
    assert_one_line_error(quick["bad-integer"], "CALLCENTER_PORT", "whole number", "'http'")


def test_malformed_database_url_does_not_leak_the_password(quick):
    line = assert_one_line_error(quick["malformed-url"], "CALLCENTER_DATABASE_URL")
    assert "Hunter2Secret" not in line


@pytest.mark.parametrize("case", ["unreachable:serve", "unreachable:migrate"])
def test_unreachable_database(quick, case):
    line = assert_one_line_error(quick[case], "cannot reach the database", "127.0.0.1:1/x")
    assert "Sw0rdfish-42" not in line, "the password is redacted"


def test_unreachable_redis(quick):
    result = quick["unreachable-redis"]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("callcenter: error:")]
    assert len(errors) == 1 and "cannot reach Redis" in errors[0], result.stderr


def test_port_already_taken(quick):
    result = quick["port-taken"]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("callcenter: error: cannot listen") and quick["taken_port"] in last, result.stderr


def test_commands_needing_the_schema_refuse_an_unmigrated_store(quick):
    assert_one_line_error(quick["demo-before-migrate"], "callcenter migrate")


def test_ai_worker_without_redis_is_refused_in_one_line(quick):
    assert_one_line_error(quick["ai-worker"], "CALLCENTER_REDIS_URL")


def test_create_tenant_refuses_a_bad_id(quick):
    assert_one_line_error(quick["bad-tenant-id"], "tenant id")


def test_create_agent_refuses_a_short_password(quick):
    result = quick["short-password"]
    assert_one_line_error(result, "at least 8 characters")
    assert "short" not in result.stdout


# ---- migrate, demo, create-tenant, create-agent on the embedded default -------------------

def test_migrate_demo_and_create_on_a_fresh_sqlite_data_dir(cli_env, tmp_path):
    head = migrations.head_revision()
    first = assert_ok(run(cli_env, "migrate"))
    assert f"schema at {head}" in first and "was empty" in first
    assert (tmp_path / "data" / "callcenter.sqlite3").exists()

    again, demo, tenant = run_parallel((cli_env, ["migrate"]), (cli_env, ["demo"]),
                                       (cli_env, ["create-tenant", "acme-shop", "--name", "Acme",
                                                  "--allowed-origin", "https://www.acme.example"]))
    assert assert_ok(again).strip() == f"schema at {head}", "migrate is idempotent"
    out = assert_ok(demo)
    assert f"seeded tenant {DEMO_TENANT_ID}" in out and DEMO_AGENT_EMAIL in out
    assert "created tenant acme-shop" in assert_ok(tenant)

    password = "Ann-Very-Secret-77"
    demo2, tenant2, agent, no_tenant = run_parallel(
        (cli_env, ["demo"]),
        (cli_env, ["create-tenant", "acme-shop"]),
        (cli_env, ["create-agent", "--tenant", "acme-shop", "--email", "Ann@Acme.example"], password + "\n"),
        (cli_env, ["create-agent", "--tenant", "no-such-tenant", "--email", "x@acme.example"], password + "\n"))
    out = assert_ok(demo2)
    assert "already exists" in out and "seeded" not in out
    assert_one_line_error(tenant2, "already exists")
    assert "created agent ann@acme.example" in assert_ok(agent)
    assert password not in agent.stdout + agent.stderr
    assert_one_line_error(no_tenant, "no tenant")
    assert_one_line_error(run(cli_env, "create-agent", "--tenant", "acme-shop", "--email", "ann@acme.example",
                              stdin=password + "\n"), "already exists")


# ---- serve on the embedded default --------------------------------------------------------

def test_serve_embedded_default(cli_env, tmp_path):
    """A fresh data dir: serve migrates, seeds the demo, answers; the CLI works alongside it."""
    with served(cli_env) as server:
        assert f"running at {server.url}" in server.first_line
        status, health = http("GET", server.url + "healthz")
        assert status == 200, health
        status, body = login(server.url, DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_TENANT_ID)
        assert status == 200, body
        assert body["token"] and body["agent"]["email"] == DEMO_AGENT_EMAIL
        status, listed = http("GET", server.url + "api/v1/chat/sessions", token=body["token"])
        assert status == 200 and listed["sessions"], "the demo conversations are there"

        # An operator adds a tenant and an agent while the server runs; the agent signs in through it.
        password = "Bo-Very-Secret-88"
        assert_ok(run(cli_env, "create-tenant", "acme-shop"))
        made = run(cli_env, "create-agent", "--tenant", "acme-shop", "--email", "bo@acme.example", "--name", "Bo",
                   stdin=password + "\n")
        assert "created agent bo@acme.example" in assert_ok(made)
        status, body = login(server.url, "bo@acme.example", password, "acme-shop")
        assert status == 200, body
        assert body["agent"]["email"] == "bo@acme.example" and body["agent"]["name"] == "Bo"
        status, me = http("GET", server.url + "api/v1/auth/me", token=body["token"])
        assert status == 200 and me["agent"]["email"] == "bo@acme.example"
        assert login(server.url, "bo@acme.example", password + "x", "acme-shop")[0] == 401
        assert login(server.url, "bo@acme.example", password, DEMO_TENANT_ID)[0] == 401, "one tenant only"

        server.proc.send_signal(signal.SIGTERM)  # this PID only
        assert server.proc.wait(timeout=20) == 0, "SIGTERM stops the server cleanly"
    assert "Traceback" not in "".join(server.stderr)
    data = tmp_path / "data"
    assert (data / "callcenter.sqlite3").exists()
    assert (data / "secret_key").stat().st_mode & 0o777 == 0o600, "the generated key is owner-only"
    assert (data / "callcenter.sqlite3").stat().st_mode & 0o777 == 0o600, "so is every conversation"
    assert data.stat().st_mode & 0o777 == 0o700


# ---- MariaDB ------------------------------------------------------------------------------

@pytest.fixture
def fresh_mysql_env(cli_env, mysql_database_url):
    """cli_env pointed at a new, empty, uniquely named MariaDB database (dropped afterwards)."""
    with scratch_mysql_database(mysql_database_url) as url:
        cli_env["CALLCENTER_DATABASE_URL"] = url
        cli_env["CALLCENTER_SECRET_KEY"] = SECRET
        yield cli_env


def test_migrate_and_demo_on_a_fresh_mariadb(fresh_mysql_env):
    env = fresh_mysql_env
    head = migrations.head_revision()
    # Nothing runs on an unmigrated database: serve and demo say what to do, in one line.
    serve, demo = run_parallel((env, ["serve", "--host", "127.0.0.1", "--port", str(free_port())]), (env, ["demo"]))
    assert_one_line_error(serve, "callcenter migrate", "schema")
    assert_one_line_error(demo, "callcenter migrate")

    first = assert_ok(run(env, "migrate"))
    assert f"schema at {head}" in first and "was empty" in first

    again, demo, tenant = run_parallel((env, ["migrate"]), (env, ["demo"]), (env, ["create-tenant", "acme-shop"]))
    assert assert_ok(again).strip() == f"schema at {head}", "migrate is idempotent"
    assert f"seeded tenant {DEMO_TENANT_ID}" in assert_ok(demo)
    assert "created tenant acme-shop" in assert_ok(tenant)

    demo2, agent = run_parallel((env, ["demo"]), (env, ["create-agent", "--tenant", "acme-shop", "--email",
                                                        "ops@acme.example"], "Ops-Password-1\n"))
    assert "already exists" in assert_ok(demo2)
    assert "created agent ops@acme.example" in assert_ok(agent)


def test_migrate_creates_a_missing_database_or_says_how(cli_env, mysql_database_url):
    """`callcenter migrate` against a server without the configured database creates it (the account
    usually may) instead of "cannot reach the database"; an account that may not gets the statement to
    run as an administrator, in one line."""
    name = f"cc_missing_{uuid.uuid4().hex[:10]}"
    server = make_url(mysql_database_url)
    env = {**cli_env, "CALLCENTER_SECRET_KEY": SECRET,
           "CALLCENTER_DATABASE_URL": server.set(database=name).render_as_string(hide_password=False)}
    try:
        out = assert_ok(run(env, "migrate"))
        assert f"created database '{name}'" in out and f"schema at {migrations.head_revision()}" in out
        assert assert_ok(run(env, "migrate")).strip() == f"schema at {migrations.head_revision()}"
    finally:
        mysql_admin(mysql_database_url, f"DROP DATABASE IF EXISTS `{name}`")

    user, password = f"ccl_{uuid.uuid4().hex[:8]}", "Limited-Pass-42"
    hosts = ("localhost", "127.0.0.1", "%")
    for host in hosts:
        mysql_admin(mysql_database_url, f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
    try:
        limited = server.set(username=user, password=password, database=name)
        env["CALLCENTER_DATABASE_URL"] = limited.render_as_string(hide_password=False)
        result = run(env, "migrate")
        line = assert_one_line_error(result, name, "CREATE DATABASE", "callcenter migrate")
        assert password not in line
    finally:
        for host in hosts:
            mysql_admin(mysql_database_url, f"DROP USER IF EXISTS '{user}'@'{host}'")
