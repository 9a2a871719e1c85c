"""The app factory: one settings dict holding the services, routes from each handlers module."""
from __future__ import annotations

import asyncio
import dataclasses
import logging

import redis.asyncio as aioredis
from tornado import web

from . import openapi
from .ai.service import AIService
from .bus import Bus, RedisBus, cancel_and_wait, make_bus, make_redis
from .config import Config
from .handlers import admin, agent, ai, auth, files, ops, pages, public, push, ws
from .handlers.base import BaseHandler
from .handlers.edge import Application, metric_method
from .errors import NotFound, Unavailable
from .hub import Hub
from .metrics import Metrics
from .push import PushNotifier
from .paths import resource_dir
from .security import MemoryRateLimiter, RateLimiter, RedisRateLimiter, TokenSigner
from .services import AuthService, ChatService
from .store import Store, now_ms

STATIC_DIR = resource_dir("static")
TEMPLATE_DIR = resource_dir("templates")
# How long closing the services waits for the background work sockets left (hub and presence updates).
SPAWNED_TASKS_GRACE_SECS = 5.0
UPLOAD_JANITOR_INTERVAL_SECS = 3600.0

access_log = logging.getLogger("callcenter.access")
log = logging.getLogger("callcenter.app")


@dataclasses.dataclass
class Services:
    """Everything a handler may use; built once per worker process."""
    config: Config
    store: Store
    bus: Bus
    redis: aioredis.Redis | None
    limiter: RateLimiter
    signer: TokenSigner
    auth: AuthService
    chat: ChatService
    metrics: Metrics
    hub: Hub = None  # type: ignore[assignment]  (set by create_services: it needs the others)
    ai: AIService = None  # type: ignore[assignment]  (likewise; AI replies, see callcenter/ai/)
    push: PushNotifier = None  # type: ignore[assignment]  (likewise; Web Push to agents' devices)
    _tasks: set = dataclasses.field(default_factory=set)
    _janitor: asyncio.Task | None = None
    inflight_requests: int = 0
    uploads_in_progress: int = 0  # file uploads whose body this worker is reading or storing
    uploads_by_ip: dict[str, int] = dataclasses.field(default_factory=dict)  # ... per client address (no zeros)

    def spawn(self, coro) -> None:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_spawned(self) -> None:
        loop = asyncio.get_running_loop()
        pending = [t for t in self._tasks if not t.done() and t.get_loop() is loop]
        if pending:
            await asyncio.wait(pending, timeout=SPAWNED_TASKS_GRACE_SECS)

    async def start(self) -> None:
        await self.bus.start()
        await self.hub.start()
        await self.ai.start()
        await self._fit_upload_limit()
        self._janitor = asyncio.get_running_loop().create_task(self._purge_unsent_uploads(), name="upload-janitor")

    async def _purge_unsent_uploads(self) -> None:
        """Every worker, every UPLOAD_JANITOR_INTERVAL_SECS: files uploaded and never sent go after
        `unsent_upload_ttl_secs` (the delete is idempotent, so workers need not agree on who does it)."""
        while True:
            await asyncio.sleep(UPLOAD_JANITOR_INTERVAL_SECS)
            try:
                while await self.store.purge_unsent_attachments(now_ms() - self.config.unsent_upload_ttl_secs * 1000):
                    pass
            except Unavailable as exc:
                log.warning("could not delete unsent uploads: %s", exc.message)

    async def _fit_upload_limit(self) -> None:
        """Files are stored in the database: an upload limit above what one statement can carry would
        fail every large upload, so the limit comes down to it (and the log says how to raise it)."""
        try:
            largest = await self.store.largest_file_bytes()
        except Unavailable as exc:
            log.warning("could not read the database's packet limit (uploads keep their limit): %s", exc.message)
            return
        if largest is not None and self.config.max_upload_bytes > largest:
            log.warning("uploads limited to %d bytes (not %d): raise the database's max_allowed_packet to "
                        "store larger files", largest, self.config.max_upload_bytes)
            self.config.max_upload_bytes = largest

    async def close(self) -> None:
        await cancel_and_wait(self._janitor)
        # Sockets that closed just before (their hub and presence bookkeeping) finish while the
        # store and Redis are still there, rather than failing against closed clients.
        await self._wait_spawned()
        await self.ai.close()
        await self.chat.wait_published()
        await self.push.close()
        await self.hub.close()
        await self.bus.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.store.close()


def create_services(config: Config) -> Services:
    secret = config.ensure_secret_key()
    store = Store(config.effective_database_url)
    redis = make_redis(config.redis_url) if config.uses_redis else None
    bus = make_bus(config.redis_url, config.redis_prefix, redis=redis)
    limiter: RateLimiter = RedisRateLimiter(redis, config.redis_prefix) if redis else MemoryRateLimiter()
    signer = TokenSigner(secret, agent_ttl_secs=config.agent_token_ttl_secs,
                         visitor_ttl_secs=config.visitor_token_ttl_secs)
    metrics = Metrics()
    services = Services(
        config=config, store=store, bus=bus, redis=redis, limiter=limiter, signer=signer,
        auth=AuthService(store, signer, limiter, config, bus),
        chat=ChatService(store, bus, signer, limiter, config),
        metrics=metrics,
    )
    services.hub = Hub(services)
    services.ai = AIService(services)
    services.chat.ai = services.ai
    services.push = PushNotifier(services)
    services.chat.push = services.push
    services.chat.metrics = metrics
    metrics.bus = bus
    metrics.hub = services.hub
    metrics.watch_batcher("store_sends", store.send_batcher)
    if isinstance(bus, RedisBus):
        metrics.watch_batcher("bus_publishes", bus.publisher)
    if isinstance(limiter, RedisRateLimiter):
        metrics.watch_batcher("rate_limit_hits", limiter.hits)
    return services


class JSONNotFoundHandler(BaseHandler):
    def prepare(self) -> None:
        raise NotFound("no such route", code="route_not_found")


def log_request(handler: web.RequestHandler) -> None:
    """One line per request: never the query string (no tokens, no search text) nor a body."""
    status = handler.get_status()
    duration_secs = handler.request.request_time()
    route_name = type(handler).__name__
    services = handler.settings.get("services")
    if services is not None:
        services.metrics.http_requests.labels(route_name, metric_method(handler.request.method), str(status)).inc()
        services.metrics.http_duration.labels(route_name).observe(duration_secs)
    level = logging.INFO if status < 500 else logging.ERROR
    access_log.log(level, "%d %.16s %s tenant=%s %.1fms ip=%s", status, handler.request.method, handler.request.path,
                   getattr(handler, "log_tenant", "-"), duration_secs * 1000, handler.request.remote_ip)


def all_routes() -> list:
    return [*auth.routes, *admin.routes, *public.routes, *agent.routes, *files.routes, *ai.routes, *push.routes,
            *ops.routes, *pages.routes, *ws.routes]


def make_app(services: Services, **extra_settings) -> Application:
    routes = all_routes()
    settings = dict(
        openapi=openapi.build(routes),
        template_path=str(TEMPLATE_DIR),
        # No `static_path`: it would add routes of its own; /static/ is in pages.routes like every route.
        default_handler_class=JSONNotFoundHandler,
        log_function=log_request,
        compress_response=True,
        xsrf_cookies=False,
        # Not Tornado's ping task per socket: the hub pings every socket from one loop (less memory
        # per idle socket), see Hub._heartbeat.
        websocket_ping_interval=0,
        websocket_max_message_size=ws.MAX_FRAME_BYTES,
    )
    settings.update(extra_settings)
    return Application(routes, services=services, **settings)
