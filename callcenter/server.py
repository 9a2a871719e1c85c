"""The process entries: the web server (checks before binding, then one or several worker processes)
and the AI worker (`callcenter ai-worker`)."""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
import time

from tornado import httpserver, netutil

from . import migrations
from .ai.worker import redis_worker
from .app import create_services, make_app
from .config import Config, ConfigError, redact_url
from .demo import DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_TENANT_ID, seed_demo
from .redis_client import make_redis
from .store import Store

log = logging.getLogger("callcenter.server")
ai_log = logging.getLogger("callcenter.ai")

STARTUP_CHECK_TIMEOUT_SECS = 8.0
DRAIN_TIMEOUT_SECS = 10.0
RESTART_DELAY_SECS = 0.5


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
    config.prepare_embedded_store()
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
    if not config.gemini_api_key:
        # Once per `serve` (before any fork): the only word about it; everything else works.
        log.info("AI replies are off: GEMINI_API_KEY is not set")
    elif config.uses_redis:
        log.info("AI replies on (model %s): answered by `callcenter ai-worker` processes", config.gemini_model)
    else:
        log.info("AI replies on (model %s): answered in this process", config.gemini_model)


def freeze_startup_objects() -> None:
    """Everything built at start-up (modules, tables, routes, SDK models) lives as long as the
    process: out of the collector's sight, so that its full collections, which stop the event
    loop, scan only what sockets, requests and jobs made (with 6,000 sockets they took 300-440 ms)."""
    gc.collect()
    gc.freeze()


async def run_worker(config: Config, sockets: list[socket.socket], *, announce: bool = True) -> None:
    services = create_services(config)
    await services.start()
    app = make_app(services)
    # No `xheaders`: Tornado's would believe any client's X-Forwarded-For; the app's edge believes
    # only CALLCENTER_TRUSTED_PROXIES. Body sizes and timeouts are set per request by the edge too.
    server = httpserver.HTTPServer(app, max_body_size=config.max_body_bytes, body_timeout=config.body_timeout_secs,
                                   idle_connection_timeout=120)
    server.add_sockets(sockets)
    freeze_startup_objects()
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
    log.info("worker pid %d worker-id %s listening on %s:%s", os.getpid(), services.hub.worker_id, config.host,
             config.port)
    await stop.wait()
    await shutdown(server, services)


async def shutdown(server: httpserver.HTTPServer, services) -> None:
    """Stop accepting, send sockets elsewhere (close 1012: they reconnect and resume), let the
    requests in flight finish, then close."""
    log.info("worker %d stopping: %d requests in flight, %d sockets", os.getpid(), services.inflight_requests,
             len(services.hub.all_connections()))
    server.stop()
    await services.hub.drain()
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECS
    while services.inflight_requests > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    try:
        await asyncio.wait_for(server.close_all_connections(), 2.0)
    except asyncio.TimeoutError:
        log.warning("some connections did not close in time")
    await services.close()
    log.info("worker %d stopped", os.getpid())


def supervise(workers: int) -> int | None:
    """Fork `workers` children and return the child's index in each child. The parent stays here:
    it restarts a child that crashes and forwards SIGTERM/SIGINT, returning None when all are gone."""
    children: dict[int, int] = {}
    stopping = False

    def spawn(index: int) -> int | None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            return index
        children[pid] = index
        return None

    def forward(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    for index in range(workers):
        if spawn(index) is not None:
            return index
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, None)
        if index is None:
            continue
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid)
        crashed = os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0
        if crashed and not stopping:
            log.warning("worker %d (pid %d) died (%s); starting a new one", index, pid,
                        f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}")
            time.sleep(RESTART_DELAY_SECS)
            if spawn(index) is not None:
                return index
    return None


def serve(config: Config) -> None:
    config.validate()
    asyncio.run(prepare(config))
    try:
        sockets = netutil.bind_sockets(config.port, config.host or None, reuse_port=False)
    except OSError as exc:  # port taken, address not local, no permission: one line, not a traceback
        raise ConfigError(f"cannot listen on {config.host or '*'}:{config.port}: {exc.strerror or exc}") from None
    announce = True
    if config.workers > 1:
        print(f"callcenter: starting {config.workers} workers on port {config.port}", flush=True)
        index = supervise(config.workers)
        if index is None:
            return  # the supervisor: every worker has exited
        announce = index == 0
    try:
        asyncio.run(run_worker(config, sockets, announce=announce))
    except KeyboardInterrupt:
        sys.exit(0)


# ---- callcenter ai-worker ----------------------------------------------------------------------

async def idle_until_stopped() -> None:
    """`callcenter ai-worker` without a Gemini key: nothing to do until told to stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_ai_worker(config: Config) -> None:
    """`callcenter ai-worker`: answer jobs from the Redis stream until SIGTERM/SIGINT (then drain)."""
    services = create_services(config)
    worker = redis_worker(services.redis, services.ai.responder, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker.queue.ensure_group()
    await worker.start()
    freeze_startup_objects()
    ai_log.info("ai-worker pid %d: answering jobs of %s as %s with model %s (%d at a time)", os.getpid(),
                worker.queue.stream, worker.queue.consumer, config.gemini_model, worker.concurrency)
    try:
        await stop.wait()
    finally:
        ai_log.info("ai-worker pid %d stopping: %d job(s) in hand", os.getpid(), len(worker.active))
        await worker.close()
        await services.close()
