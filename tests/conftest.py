"""Shared fixtures. Compose them; each says what it gives and what it cleans up.

Backends: the API suite runs on both the embedded default (SQLite file, in-process
bus) and MariaDB + Redis. `backend` is parametrized over ("sqlite", "mysql");
`mysql` needs the servers at CALLCENTER_TEST_MYSQL / CALLCENTER_TEST_REDIS
(default 127.0.0.1:3306 root and 127.0.0.1:6379). A missing server or program
skips on a laptop and fails when CALLCENTER_REQUIRE_ALL=1 (CI).

Isolation: every run creates its own MariaDB database and Redis key prefix and
removes them at the end; every test makes its own tenants (`tenant_factory`),
so tests never see each other's rows and never rely on leftovers.
"""
from __future__ import annotations

import asyncio
import os
import uuid

import pytest
import tornado.ioloop

from callcenter import migrations
from callcenter.app import create_services, make_app
from callcenter.config import Config
from callcenter.demo import seed_demo

from .harness import DEFAULT_MYSQL_URL, ScratchDatabase
from .helpers import ApiClient, TenantFactory, require, sqlite_template

MYSQL_SERVER_URL = os.environ.get("CALLCENTER_TEST_MYSQL", DEFAULT_MYSQL_URL)
REDIS_SERVER_URL = os.environ.get("CALLCENTER_TEST_REDIS", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]


def pytest_configure(config):
    config.addinivalue_line("markers", "mysql_only: runs only on the MariaDB + Redis backend")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "trusted_proxies(addresses): the app believes forwarded headers from these")


def pytest_collection_modifyitems(config, items):
    """A MariaDB-only test is not generated for the embedded backend at all (a skip would look
    like a gap in CI, where nothing may skip)."""
    embedded_only_copies = [item for item in items if item.get_closest_marker("mysql_only")
                            and getattr(item, "callspec", None) is not None
                            and item.callspec.params.get("backend") == "sqlite"]
    if embedded_only_copies:
        config.hook.pytest_deselected(items=embedded_only_copies)
        items[:] = [item for item in items if item not in embedded_only_copies]


# ---- event loop ---------------------------------------------------------------

@pytest.fixture
def io_loop():
    """The test's loop, also set as asyncio's current loop, so fixtures may `io_loop.run_sync()`
    and the test coroutine still runs on the same loop (replaces pytest-tornado's fixture)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    io = tornado.ioloop.IOLoop.current()
    yield io
    io.close(all_fds=True)
    asyncio.set_event_loop(None)


# ---- servers ----------------------------------------------------------------

@pytest.fixture(scope="session")
def mysql_database_url():
    """A fresh, migrated MariaDB database for this test run (dropped at the end)."""
    database = ScratchDatabase(MYSQL_SERVER_URL, name=f"cc_test_{RUN_ID}")
    try:
        database.create()
    except Exception as exc:  # unreachable server: skip or fail per CALLCENTER_REQUIRE_ALL
        require(False, f"MariaDB/MySQL not reachable at {MYSQL_SERVER_URL}: {exc}")
    migrations.upgrade(database.url)
    yield database.url
    database.drop()


@pytest.fixture(scope="session")
def redis_server_url():
    """The Redis server URL, checked reachable."""
    import redis

    try:
        redis.Redis.from_url(REDIS_SERVER_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # unreachable server: skip or fail per CALLCENTER_REQUIRE_ALL
        require(False, f"Redis not reachable at {REDIS_SERVER_URL}: {exc}")
    return REDIS_SERVER_URL


@pytest.fixture(scope="session")
def redis_cluster():
    """A real 3-master Redis Cluster on free ports (tests/redis_cluster.py), one for the whole run and
    stopped at its end; never the shared Redis. `.url` is its redis+cluster:// URL, `.restart_node(i)`
    restarts one master. Tests isolate by their own key prefix (`redis_prefix`), as on the shared Redis;
    a test that restarts a node must leave the cluster ok (restart_node waits for that)."""
    from .helpers import require_program
    from .redis_cluster import RedisClusterProcess

    require_program("redis-server")
    require_program("redis-cli")
    with RedisClusterProcess() as cluster:
        yield cluster


@pytest.fixture
def redis_prefix(request):
    """A key prefix private to this test; every key under it is deleted afterwards."""
    prefix = f"cctest:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    if "redis_server_url" in request.fixturenames:
        import redis

        client = redis.Redis.from_url(request.getfixturevalue("redis_server_url"))
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


# ---- configuration per backend -----------------------------------------------

@pytest.fixture(params=["sqlite", "mysql"])
def backend(request):
    """Which store/bus the test runs on: "sqlite" (embedded default) or "mysql" (MariaDB + Redis)."""
    return request.param


@pytest.fixture
def config(backend, request, tmp_path):
    """A Config for the backend: a fresh SQLite file (copied from a migrated template), or the
    run's MariaDB database with a private Redis prefix."""
    secret = "test-secret-key-for-this-run-only-" + RUN_ID
    if backend == "sqlite":
        db_file = tmp_path / "callcenter.sqlite3"
        db_file.write_bytes(sqlite_template().read_bytes())
        return Config(database_url=f"sqlite+aiosqlite:///{db_file}", redis_url=None, secret_key=secret,
                      data_dir=tmp_path, login_max_failures=5)
    return Config(database_url=request.getfixturevalue("mysql_database_url"),
                  redis_url=request.getfixturevalue("redis_server_url"),
                  redis_prefix=request.getfixturevalue("redis_prefix"), secret_key=secret, data_dir=tmp_path,
                  login_max_failures=5)


@pytest.fixture
def services(config, io_loop):
    """The started services for `config` (store, bus, limiter, …); closed after the test."""
    svc = create_services(config)
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.close)


@pytest.fixture
def app(services):
    """The Tornado application (pytest-tornado serves it for `http_client` / `base_url`)."""
    return make_app(services)


@pytest.fixture
def api(http_client, base_url):
    """An ApiClient against the test server: `await api.post(path, json=…, token=…)` → Response."""
    return ApiClient(http_client, base_url)


@pytest.fixture
def tenant_factory(services, io_loop):
    """Makes uniquely named tenants with agents: `await tenant_factory()` → Tenant."""
    return TenantFactory(services)


@pytest.fixture(scope="session")
def fake_push():
    """The stand-in push service (tests/fake_push.py), one per run; tests make their own
    subscriptions on it. A module sends its pushes there with `config = trusting(config, fake_push)`."""
    from tests.fake_push import FakePushService

    with FakePushService() as fake:
        yield fake


@pytest.fixture
def demo(services, io_loop):
    """The demo tenant seeded into this backend (no-op when already there)."""
    io_loop.run_sync(lambda: seed_demo(services.store))
    return services
