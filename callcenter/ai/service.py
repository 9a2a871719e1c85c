"""The AI's place in a web worker: tenant settings, queuing jobs, agent assist.

An AIService always exists; `available` says whether GEMINI_API_KEY is set. Without it nothing
is queued, assist answers 409 `ai_unavailable`, and the settings can still be read and changed.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from .. import domain, events
from ..config import Config
from ..domain import MAX_SEQ, ai_may_speak, require_admin
from ..errors import Conflict, NotFound, Unavailable
from ..metrics import Metrics
from ..publisher import EventPublisher
from ..store import Store
from . import prompt
from .provider import CircuitBreaker, GeminiProvider, ModelError
from .queue import Job, MemoryQueue, RedisStreamQueue
from .worker import AIWorker, Responder

if TYPE_CHECKING:
    from ..push import PushNotifier

log = logging.getLogger("callcenter.ai")

# Tenant settings are read on every visitor message: kept this long per process (a change made
# through this process applies at once; other workers see it within this time).
SETTINGS_TTL_SECS = 5.0
SUMMARY_MIN_MESSAGES = 2
SUMMARY_PREFIX = "Summary: "


class AIService:
    def __init__(self, store: Store, publisher: EventPublisher, push: "PushNotifier", config: Config,
                 metrics: Metrics, redis=None):
        self.store = store
        self.publisher = publisher
        self.config = config
        self.metrics = metrics
        self._tenants: dict[str, tuple[float, dict | None]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._refreshing: set[str] = set()
        self.provider: GeminiProvider | None = None
        self.responder: Responder | None = None
        self.queue: MemoryQueue | RedisStreamQueue | None = None
        self.worker: AIWorker | None = None
        config = self.config
        if not config.gemini_api_key:
            return
        self.provider = GeminiProvider(
            config.gemini_api_key, config.gemini_model, base_url=config.gemini_base_url,
            timeout_secs=config.ai_timeout_secs, max_attempts=config.ai_max_attempts,
            backoff_secs=config.ai_retry_backoff_secs,
            breaker=CircuitBreaker(config.ai_breaker_failures, config.ai_breaker_cooldown_secs))
        self.responder = Responder(store, publisher, push, config, metrics, self.provider, self.cached_tenant)
        if redis is not None:
            # Web workers only add jobs; `callcenter ai-worker` processes answer them.
            self.queue = RedisStreamQueue(redis, config.redis_prefix, reclaim_secs=config.ai_reclaim_secs)
        else:
            # The embedded default: this process answers its own jobs.
            self.queue = MemoryQueue()
            self.worker = AIWorker(self.responder, self.queue, concurrency=config.ai_concurrency)

    @property
    def available(self) -> bool:
        return self.provider is not None

    async def start(self) -> None:
        if self.worker is not None:
            await self.worker.start()

    async def close(self) -> None:
        if self.worker is not None:
            await self.worker.close(drain_secs=2.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.provider is not None:
            await self.provider.close()

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- settings ----------------------------------------------------------------

    async def cached_tenant(self, tenant_id: str, *, fresh: bool = False) -> dict | None:
        """The tenant row (its AI settings, its name for the prompt). Past SETTINGS_TTL_SECS the cached
        row is still used once while a fresh one is read in the background: a job never waits for it."""
        cached = self._tenants.get(tenant_id)
        if cached and not fresh:
            if cached[0] <= time.monotonic() and tenant_id not in self._refreshing:
                self._refreshing.add(tenant_id)
                self._spawn(self._refresh_tenant(tenant_id))
            return cached[1]
        return await self._read_tenant(tenant_id)

    async def _refresh_tenant(self, tenant_id: str) -> None:
        try:
            await self._read_tenant(tenant_id)
        except (Unavailable, OSError) as exc:
            log.warning("ai: tenant %s settings not refreshed (%s)", tenant_id, exc)
        finally:
            self._refreshing.discard(tenant_id)

    async def _read_tenant(self, tenant_id: str) -> dict | None:
        now = time.monotonic()
        tenant = await self.store.get_tenant(tenant_id)
        if len(self._tenants) > 10_000:
            self._tenants.clear()
        self._tenants[tenant_id] = (now + SETTINGS_TTL_SECS, tenant)
        return tenant

    async def tenant_settings(self, tenant_id: str, *, fresh: bool = False) -> prompt.AISettings:
        return prompt.AISettings.of(await self.cached_tenant(tenant_id, fresh=fresh) or {})

    async def read_settings(self, agent: dict) -> tuple[prompt.AISettings, int]:
        settings = await self.tenant_settings(agent["tenant_id"], fresh=True)
        return settings, await self.store.ai_tokens(agent["tenant_id"])

    async def update_settings(self, agent: dict, changes: dict) -> tuple[prompt.AISettings, int]:
        require_admin(agent, "change the AI settings")
        await self.store.update_tenant(agent["tenant_id"],
                                       settings_changes={k: v for k, v in changes.items() if v is not None})
        self._tenants.pop(agent["tenant_id"], None)
        return await self.read_settings(agent)

    # ---- auto replies ----------------------------------------------------------------

    def answers_first(self, tenant: dict) -> bool:
        """Whether the AI answers the tenant's new conversations before any person (then routing queues
        a conversation only once the AI hands it over)."""
        return self.available and prompt.AISettings.of(tenant).mode == "auto"

    async def on_visitor_message(self, message: dict, session: dict | None) -> None:
        """After a visitor message is stored and published: queue a job if the AI should answer it.
        The send has succeeded whatever happens here."""
        if self.queue is None or session is None or not ai_may_speak(session):
            return
        try:
            settings = await self.tenant_settings(message["tenant_id"])
            if settings.mode != "auto":
                return
            await self.queue.put(Job(message["tenant_id"], message["session_id"], message["id"], message["seq"],
                                     time.time(), message, session))
        except (RedisError, OSError, Unavailable) as exc:
            log.warning("ai: could not queue a reply for session %s (%s); it waits for a human",
                        message["session_id"], exc)

    # ---- agent assist ------------------------------------------------------------------

    async def _assist_context(self, agent: dict, session_id: str) -> tuple[dict, prompt.AISettings, list[dict]]:
        if await self.store.get_session(agent["tenant_id"], session_id) is None:
            raise NotFound("no such session", code="session_not_found")
        if self.provider is None:
            raise Conflict("AI is not configured on this server (GEMINI_API_KEY)", code="ai_unavailable")
        settings = await self.tenant_settings(agent["tenant_id"], fresh=True)
        if settings.mode == "off":
            raise Conflict("AI is off for this tenant", code="ai_off")
        if settings.daily_token_cap and await self.store.ai_tokens(agent["tenant_id"]) >= settings.daily_token_cap:
            raise Conflict("the tenant's daily AI token cap is reached", code="ai_token_cap")
        tenant = await self.store.get_tenant(agent["tenant_id"])
        history = await self.store.list_messages(agent["tenant_id"], session_id, before_seq=MAX_SEQ,
                                                 limit=self.config.ai_history_messages)
        return tenant, settings, history

    async def suggest(self, agent: dict, session_id: str) -> str:
        """A reply the agent may send (or edit): the conversation so far, drafted by the model."""
        tenant, settings, history = await self._assist_context(agent, session_id)
        contents = prompt.contents(history)
        if not contents:
            raise Conflict("the customer has not written anything yet", code="nothing_to_answer")
        started = time.monotonic()
        try:
            reply = await self.provider.generate(prompt.system_instruction(tenant, settings, "suggest"), contents)
        except ModelError as exc:
            log.warning("ai: no suggestion for session %s (%s)", session_id, exc)
            # 409, not 503: DESIGN keeps 5xx for our own database and Redis; the model is a third party.
            raise Conflict("the AI did not answer; try again shortly", code="ai_unavailable") from None
        finally:
            self.metrics.ai_model_duration.labels("suggest").observe(time.monotonic() - started)
        await self.responder.record_usage(agent["tenant_id"], session_id, "suggest", reply)
        text, _ = prompt.parse_reply(reply.text)
        if not text:
            raise Conflict("the AI gave no suggestion; try again", code="ai_unavailable")
        return text

    def summarize_later(self, session: dict, kind: str) -> None:
        """After a transfer or a resolve: a short summary as a private note (agents only), in the background."""
        if self.provider is not None:
            self._spawn(self._summarize(session, kind))

    async def _summarize(self, session: dict, kind: str) -> None:
        tenant_id, session_id = session["tenant_id"], session["id"]
        try:
            settings = await self.tenant_settings(tenant_id, fresh=True)
            if settings.mode == "off":
                return
            if settings.daily_token_cap and await self.store.ai_tokens(tenant_id) >= settings.daily_token_cap:
                return
            history = await self.store.list_messages(tenant_id, session_id, before_seq=MAX_SEQ,
                                                     limit=self.config.ai_history_messages)
            contents = prompt.contents(history)
            turns = sum(1 for m in history if m["sender_type"] in domain.CONVERSATION_SENDER_TYPES)
            if turns < SUMMARY_MIN_MESSAGES or not contents:
                return
            tenant = await self.store.get_tenant(tenant_id)
            reply = await self.provider.generate(prompt.system_instruction(tenant, settings, "summary"), contents,
                                                 max_output_tokens=300)
            await self.responder.record_usage(tenant_id, session_id, "summary", reply)
            text, _ = prompt.parse_reply(reply.text)
            if not text:
                return
            # Once per transfer/resolve: keyed by the seq the summary covers. For the team only.
            result = await self.store.send_message(
                tenant_id, session_id, sender_type=domain.NOTE, sender_id=0, sender_name=settings.name,
                body=SUMMARY_PREFIX + text, client_msg_id=f"ai-summary-{kind}-{history[-1]['seq']}")
            if result.created:
                await self.publisher.publish(events.message_new(result.message, result.session))
        except ModelError as exc:
            log.warning("ai: no %s summary for session %s (%s)", kind, session_id, exc)
        except (Unavailable, RedisError, OSError) as exc:
            log.warning("ai: %s summary for session %s not stored (%s)", kind, session_id, exc)
