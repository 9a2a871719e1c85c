"""Starting the web server: checks before binding, then one or several worker processes."""
from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys

from tornado import httpserver, netutil, process

from . import migrations
from .app import create_services, make_app
from .bus import make_redis
from .config import Config, ConfigError, redact_url
from .demo import DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_TENANT_ID, seed_demo
from .store import Store

log = logging.getLogger("callcenter.server")

STARTUP_CHECK_TIMEOUT_SECS = 8.0
# Tornado's own hard limit; the API answers 413 well below it (Config.max_body_bytes).
SERVER_MAX_BODY_BYTES = 1024 * 1024


async def check_database(config: Config) -> Store:
    store = Store(config.effective_database_url, pool_size=2)
    try:
        await asyncio.wait_for(store.ping(), STARTUP_CHECK_TIMEOUT_SECS)
    except Exception as exc:  # any failure here is reported as one line, not a traceback
        await store.close()
        reason = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        raise ConfigError(f"cannot reach the database at {redact_url(config.effective_database_url)}: "
                          f"{reason.splitlines()[0][:200]}") from None
    return store


async def check_redis(config: Config) -> None:
    if not config.uses_redis:
        return
    redis = make_redis(config.redis_url, max_connections=2)
    try:
        await asyncio.wait_for(redis.ping(), STARTUP_CHECK_TIMEOUT_SECS)
    except Exception as exc:  # reported as one line
        raise ConfigError(f"cannot reach Redis at {redact_url(config.redis_url)}: {exc}") from None
    finally:
        await redis.aclose()


async def prepare(config: Config) -> None:
    """Everything that must be true before a worker starts: reachable services, current schema."""
    if config.embedded:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    store = await check_database(config)
    try:
        current = await migrations.current_revision(config.effective_database_url)
        head = migrations.head_revision()
        if current != head:
            if config.embedded:
                await migrations.upgrade_async(config.effective_database_url)
            else:
                raise ConfigError(f"the database schema is at {current or 'nothing'}, not {head}: "
                                  "run `callcenter migrate` first")
        if config.seed_demo or (config.embedded and not config.database_url):
            await seed_demo(store)
    finally:
        await store.close()
    await check_redis(config)


async def run_worker(config: Config, sockets: list[socket.socket], *, announce: bool = True) -> None:
    services = create_services(config)
    await services.start()
    app = make_app(services)
    server = httpserver.HTTPServer(app, xheaders=True, max_body_size=SERVER_MAX_BODY_BYTES,
                                   idle_connection_timeout=120)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if announce:
        host = "127.0.0.1" if config.host in ("0.0.0.0", "", "::") else config.host
        url = f"http://{host}:{config.port}/"
        print(f"callcenter is running at {url}", flush=True)
        if config.embedded and not config.database_url:
            print(f"  sign in as {DEMO_AGENT_EMAIL} / {DEMO_AGENT_PASSWORD} (tenant {DEMO_TENANT_ID});"
                  f" widget demo: {url}widget-demo.html", flush=True)
    log.info("worker %s listening on %s:%s", process.task_id() or 0, config.host, config.port)
    await stop.wait()
    log.info("worker stopping")
    server.stop()
    await server.close_all_connections()
    await services.close()


def serve(config: Config) -> None:
    config.validate()
    asyncio.run(prepare(config))
    sockets = netutil.bind_sockets(config.port, config.host or None, reuse_port=False)
    announce = True
    if config.workers > 1:
        print(f"callcenter: starting {config.workers} workers on port {config.port}", flush=True)
        process.fork_processes(config.workers)
        announce = process.task_id() == 0
    try:
        asyncio.run(run_worker(config, sockets, announce=announce))
    except KeyboardInterrupt:
        sys.exit(0)
