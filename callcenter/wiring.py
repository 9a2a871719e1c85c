"""The composition root: every service of a worker process, built once, in dependency order, each
given the collaborators it uses (no object is patched in afterwards).

    config -> store, redis -> bus, rate limiter, token signer, metrics -> event publisher, presence
    -> hub (this worker's sockets) -> push -> AI -> routing -> chat -> audit -> workspace -> auth -> team, tenant settings
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import uuid

import redis.asyncio as aioredis

from .ai.service import AIService
from .audit import AuditService
from .team import TeamService
from .tenant_settings import TenantSettingsService
from .bus import Bus, RedisBus, cancel_and_wait, make_bus
from .config import Config
from .errors import Unavailable
from .metrics import Metrics
from .presence import MemoryPresence, Presence, RedisPresence
from .publisher import EventPublisher
from .push import PushNotifier
from .redis_client import make_redis
from .routing import RoutingService
from .realtime.hub import Hub
from .security import MemoryRateLimiter, RateLimiter, RedisRateLimiter, TokenSigner
from .services import AuthService, ChatService
from .store import Store, now_ms
from .workspace import WorkspaceService
# Webhooks (issue 25): the outbox the publisher queues events through, the admins' service, the delivery.
from .webhook_delivery import WebhookDispatcher
from .webhook_events import WebhookOutbox
from .webhook_net import SecretBox
from .webhook_queue import MemoryWebhookQueue, RedisWebhookQueue
from .webhooks import WebhookService
# E-mail to visitors (issue 26): replies they missed, transcripts; off without CALLCENTER_SMTP_URL.
from .mail import MailService, make_mail_queue

# How long closing the services waits for the background work sockets left (hub and presence updates).
SPAWNED_TASKS_GRACE_SECS = 5.0
UPLOAD_JANITOR_INTERVAL_SECS = 3600.0

log = logging.getLogger("callcenter.app")


@dataclasses.dataclass
class Services:
    """Everything a worker process runs, built once by `create_services` in dependency order. Handlers
    and sockets use the chat, auth, AI and push services, the hub and the config; the store, Redis and
    the bus are here to be started and closed with the rest (and for the health probes)."""
    config: Config
    store: Store
    redis: aioredis.Redis | aioredis.RedisCluster | None
    bus: Bus
    limiter: RateLimiter
    signer: TokenSigner
    metrics: Metrics
    publisher: EventPublisher
    hub: Hub
    push: PushNotifier
    ai: AIService
    routing: RoutingService
    chat: ChatService
    workspace: WorkspaceService
    auth: AuthService
    audit: AuditService
    team: TeamService
    tenant_settings: TenantSettingsService
    webhooks: WebhookService
    webhook_dispatcher: WebhookDispatcher
    mail: MailService
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

    def readiness_probes(self) -> dict:
        """What /healthz asks: each a coroutine function that raises when its service is unreachable."""
        return {"store": self.store.ping, "bus": self.bus.ping}

    async def start(self) -> None:
        await self.bus.start()
        await self.hub.start()
        await self.ai.start()
        await self.routing.start()
        await self.webhook_dispatcher.start()
        await self.mail.start()
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
        await self.routing.close()
        await self.webhook_dispatcher.close()
        await self.mail.close()
        await self.publisher.wait_published()
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
    worker_id = uuid.uuid4().hex[:8]
    webhook_queue = (RedisWebhookQueue(redis, config.redis_prefix, f"{socket.gethostname()}:{os.getpid()}:{worker_id}",
                                       config.webhook_lease_secs) if redis is not None else MemoryWebhookQueue())
    webhook_outbox = WebhookOutbox(store, webhook_queue)
    publisher = EventPublisher(bus, metrics, webhooks=webhook_outbox)
    presence: Presence = (RedisPresence(redis, config.redis_prefix, worker_id) if redis is not None
                          else MemoryPresence(worker_id))
    hub = Hub(config, bus, publisher, presence, metrics)
    push = PushNotifier(store, config, metrics, limiter, presence)
    ai = AIService(store, publisher, push, config, metrics, redis)
    routing = RoutingService(store, publisher, presence, push, config)
    hub.presence_listeners.append(routing.on_agent_status)
    bus.add_listener(routing.on_event)
    mail = MailService(store, config, signer, limiter, hub, bus,
                       make_mail_queue(redis, config, f"{socket.gethostname()}:{os.getpid()}:{worker_id}"))
    chat = ChatService(store, publisher, signer, limiter, config, metrics, ai, push, routing, mail=mail)
    audit = AuditService(store)
    workspace = WorkspaceService(store, chat, publisher, push, config, audit=audit)
    auth = AuthService(store, signer, limiter, config, bus)
    team = TeamService(store, signer, limiter, config, bus, audit, routing)
    tenant_settings = TenantSettingsService(store, audit, routing, ai)
    secret_box = SecretBox(secret)
    webhooks = WebhookService(store, webhook_outbox, secret_box, config, audit)
    webhook_dispatcher = WebhookDispatcher(store, webhook_queue, webhook_outbox, publisher, config, secret_box, audit)
    metrics.watch(bus=bus, hub=hub)
    metrics.watch_batcher("store_sends", store.send_batcher)
    metrics.watch_batcher("socket_reads", auth.socket_reads.batcher)
    metrics.watch_batcher("presence_changes", hub.presence_changes)
    if isinstance(bus, RedisBus):
        metrics.watch_batcher("bus_publishes", bus)
    if isinstance(limiter, RedisRateLimiter):
        metrics.watch_batcher("rate_limit_hits", limiter.hits)
    return Services(config=config, store=store, redis=redis, bus=bus, limiter=limiter, signer=signer,
                    metrics=metrics, publisher=publisher, hub=hub, push=push, ai=ai, routing=routing, chat=chat,
                    workspace=workspace,
                    auth=auth, audit=audit, team=team, tenant_settings=tenant_settings,
                    webhooks=webhooks, webhook_dispatcher=webhook_dispatcher, mail=mail)
