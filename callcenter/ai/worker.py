"""Answering jobs: `Responder` answers one, `AIWorker` runs them from a queue (`redis_worker` makes
the one the `callcenter ai-worker` process runs: its entry is in callcenter/server.py).

A job ends in exactly one of: a reply (sender type "ai", published as chat.message.new), a handoff
(the visitor asked for a person, the model said it can't help, the model failed: a polite message
and the session flagged as waiting for a human; over the daily token cap: the flag alone), or
nothing (the AI is off for the tenant, an agent has the conversation, a newer visitor message has a
job of its own, the reply exists already). Whether the AI may still speak is checked again when
the reply is stored, under the session's row lock (Store.send_ai_message), not only when queued.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Awaitable, Callable

from redis.exceptions import RedisError

from .. import events
from ..config import Config
from ..domain import ai_may_speak
from ..errors import Unavailable
from ..mail import reply_mail_due_ms
from ..metrics import Metrics
from ..publisher import EventPublisher
from ..store import Store
from . import prompt
from .provider import GeminiProvider, ModelError
from .queue import Job, Lease, MemoryQueue, RedisStreamQueue

if TYPE_CHECKING:
    from ..push import PushNotifier

log = logging.getLogger("callcenter.ai")

PARTIAL_INTERVAL_SECS = 0.1
DRAIN_TIMEOUT_SECS = 15.0
GET_RETRY_MAX_SECS = 5.0
HISTORY_CACHE_SESSIONS = 2_000


def reply_id(message_id: int) -> str:
    """The client_msg_id of the AI's answer to a visitor message: the store keeps one per id."""
    return f"ai-reply-{message_id}"


class HistoryCache:
    """The last messages of the conversations this process answered lately, so that the next
    question of a conversation goes to the model without reading its history again.

    An entry is used only when it ends exactly where the job's question follows (no seq between
    them); anything else is read from the store. Writes by others that the cache cannot see (an
    agent's message, an assignment) are caught where it matters, under the session's lock when
    the reply is stored (Store.send_ai_message with answers_seq).
    """

    def __init__(self, limit: int, max_sessions: int = HISTORY_CACHE_SESSIONS):
        self.limit = max(1, limit)
        self.max_sessions = max_sessions
        self._entries: collections.OrderedDict[str, list[dict]] = collections.OrderedDict()

    def with_question(self, job: Job) -> list[dict] | None:
        """The history up to and including the job's question, when the cache has all of it."""
        entry = self._entries.get(job.session_id)
        if job.message is None or entry is None or entry[-1]["seq"] != job.seq - 1:
            return None
        self._add(job.session_id, entry + [job.message])
        return self._entries[job.session_id]

    def put(self, session_id: str, history: list[dict]) -> None:
        if history:
            self._add(session_id, list(history))

    def follow(self, session_id: str, message: dict) -> None:
        """A message stored after the cached ones (the AI's reply): appended when it is the next seq."""
        entry = self._entries.get(session_id)
        if entry is not None and entry[-1]["seq"] == message["seq"] - 1:
            self._add(session_id, entry + [message])
        else:
            self._entries.pop(session_id, None)

    def _add(self, session_id: str, history: list[dict]) -> None:
        self._entries[session_id] = history[-self.limit:]
        self._entries.move_to_end(session_id)
        while len(self._entries) > self.max_sessions:
            self._entries.popitem(last=False)


class Responder:
    """Answers one job: reads the conversation, asks the model, stores the reply (or hands over)."""

    def __init__(self, store: Store, publisher: EventPublisher, push: PushNotifier, config: Config,
                 metrics: Metrics, provider: GeminiProvider, tenants: Callable[[str], Awaitable[dict | None]]):
        self.store = store
        self.publisher = publisher
        self.push = push
        self.config = config
        self.provider = provider
        self.metrics = metrics
        self.tenants = tenants  # tenant id -> its row (cached: the AI's settings)
        self.history = HistoryCache(self.config.ai_history_messages)

    async def answer(self, job: Job) -> str:
        """Answer one job; returns its outcome (also counted in callcenter_ai_jobs_total)."""
        outcome = await self._answer(job)
        self.metrics.ai_jobs.labels(outcome).inc()
        return outcome

    async def _answer(self, job: Job) -> str:
        store = self.store
        tenant = await self.tenants(job.tenant_id)
        if tenant is None:
            return "skipped"
        settings = prompt.AISettings.of(tenant)
        if settings.mode != "auto":
            return "off"
        # On the path between the visitor's message and the model: no read when the job carries the
        # session and this process has the conversation's history; otherwise one checkout for both.
        session, history = job.session, self.history.with_question(job)
        if session is None or history is None:
            session, history = await store.session_and_last_messages(job.tenant_id, job.session_id,
                                                                     self.config.ai_history_messages)
            self.history.put(job.session_id, history)
        if session is None or not ai_may_speak(session):
            return "not_ours"
        later = [m for m in history if m["seq"] > job.seq]
        if any(m["sender_type"] == "ai" and m["client_msg_id"] == reply_id(job.message_id) for m in later):
            return "done_before"  # a worker died between storing the reply and acknowledging the job
        if any(m["sender_type"] == "visitor" for m in later):
            return "superseded"  # the visitor wrote again: that message's job answers both
        if any(m["sender_type"] == "agent" for m in later):
            return "not_ours"  # a person answered meanwhile (even without taking the conversation)
        asked = next((m for m in history if m["id"] == job.message_id), None)
        if asked is None or asked["sender_type"] != "visitor":
            return "skipped"
        lang = prompt.wants_a_person(asked["body"])
        if lang:
            return await self._send(job, settings, prompt.HANDOFF_TEXT[lang], "visitor_asked")
        if settings.daily_token_cap and await store.ai_tokens(job.tenant_id) >= settings.daily_token_cap:
            await self.handoff(session, "token_cap")
            return "over_cap"

        await self.publisher.publish(events.ai_typing(session, True, settings.name))
        partials = _PartialPublisher(self.publisher, job)
        started = time.monotonic()
        try:
            reply = await self.provider.generate(prompt.system_instruction(tenant, settings),
                                                 prompt.contents(history), on_partial=partials)
        except ModelError as exc:
            log.warning("ai: no answer for session %s (%s); handing off", job.session_id, exc)
            return await self._send(job, settings, prompt.FALLBACK_TEXT, "ai_error", typing=True)
        finally:
            self.metrics.ai_model_duration.labels("reply").observe(time.monotonic() - started)
        text, wants_handoff = prompt.parse_reply(reply.text)
        usage = self.usage_of("reply", reply)  # stored with the reply, in its transaction
        if wants_handoff:
            return await self._send(job, settings, text or prompt.HANDOFF_TEXT["en"], "ai_cannot_help",
                                    typing=True, usage=usage)
        if not text:
            return await self._send(job, settings, prompt.FALLBACK_TEXT, "ai_error", typing=True, usage=usage)
        return await self._send(job, settings, text, None, typing=True, usage=usage)

    async def _send(self, job: Job, settings: prompt.AISettings, text: str, handoff: str | None, *,
                    typing: bool = False, usage: dict | None = None) -> str:
        result = await self.store.send_ai_message(job.tenant_id, job.session_id, sender_name=settings.name,
                                                  body=text, client_msg_id=reply_id(job.message_id),
                                                  handoff_reason=handoff, usage=usage, answers_seq=job.seq)
        if usage:
            self.metrics.ai_tokens.labels(usage["kind"]).inc(usage["total_tokens"])
        if result is None or not result.created:
            if typing:
                session = await self.store.get_session(job.tenant_id, job.session_id)
                if session is not None:
                    await self.publisher.publish(events.ai_typing(session, False, settings.name))
            return "not_ours" if result is None else "done_before"
        self.metrics.messages_stored.labels("ai").inc()
        self.history.follow(job.session_id, result.message)
        evts = [events.message_new(result.message, result.session)]
        if typing:
            evts.append(events.ai_typing(result.session, False, settings.name))
        if handoff:
            evts.append(events.session_handoff(result.session, handoff))
        await self.publisher.publish(*evts)
        await self.publisher.message_to_webhooks(result.message, result.session)
        await self._mail_later(result.message, result.session)
        if handoff is None:
            return "replied"
        self.push.on_handoff(result.session)
        return "fallback" if handoff == "ai_error" else "handoff"

    async def _mail_later(self, message: dict, session: dict) -> None:
        """An AI reply starts the e-mail batch for a visitor who gave an address, like an agent's does
        (callcenter/mail.py e-mails it once the visitor has been gone long enough; this process may be
        an ai-worker without a mail service, so it only marks the session due)."""
        due = reply_mail_due_ms(self.config, message, session)
        if due is None:
            return
        try:
            await self.store.schedule_reply_mail(session["tenant_id"], session["id"], due)
        except Unavailable as exc:
            log.warning("ai: the reply in %s was not scheduled for e-mail: %s", session["id"], exc.message)

    async def handoff(self, session: dict, reason: str) -> None:
        """Flag the session as waiting for a human (no message) and tell the agents."""
        row = await self.store.set_handoff(session["tenant_id"], session["id"], reason)
        if row is not None:
            await self.publisher.publish(events.session_handoff(row, reason))
            self.push.on_handoff(row)

    def usage_of(self, kind: str, reply) -> dict | None:
        """What a model answer cost, as Store.record_ai_usage / send_ai_message take it (None: nothing)."""
        if not reply.total_tokens:
            return None
        return {"kind": kind, "model": self.provider.model, "prompt_tokens": reply.prompt_tokens,
                "output_tokens": reply.output_tokens, "total_tokens": reply.total_tokens}

    async def record_usage(self, tenant_id: str, session_id: str | None, kind: str, reply) -> None:
        usage = self.usage_of(kind, reply)
        if usage is None:
            return
        await self.store.record_ai_usage(tenant_id, session_id, **usage)
        self.metrics.ai_tokens.labels(kind).inc(reply.total_tokens)


class _PartialPublisher:
    """Streams the reply so far to the visitor's widget, at most every PARTIAL_INTERVAL_SECS."""

    def __init__(self, publisher: EventPublisher, job: Job):
        self.publisher = publisher
        self.job = job
        self.sent = ""
        self.at = 0.0

    async def __call__(self, text: str) -> None:
        now = time.monotonic()
        if now - self.at < PARTIAL_INTERVAL_SECS:
            return
        shown = prompt.shown_partial(text)
        if shown and shown != self.sent:
            self.sent, self.at = shown, now
            await self.publisher.publish(events.ai_partial(self.job.tenant_id, self.job.session_id, self.job.message_id,
                                                      shown))


class AIWorker:
    """Runs up to `concurrency` jobs at a time from a queue; a job is acknowledged once it is
    answered (or can never be). When the store or Redis is unreachable the job is left
    unacknowledged: in Redis it is taken again once idle (by this or another worker)."""

    def __init__(self, responder: Responder, queue: MemoryQueue | RedisStreamQueue, *, concurrency: int,
                 keep_every_secs: float | None = None):
        self.responder = responder
        self.queue = queue
        self.concurrency = max(1, concurrency)
        self.keep_every_secs = keep_every_secs
        self.active: dict[asyncio.Task, Lease] = {}
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self.done = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(), name="ai-worker")]
        if self.keep_every_secs:
            self._tasks.append(loop.create_task(self._keep_alive(), name="ai-worker-keep"))

    async def close(self, drain_secs: float = DRAIN_TIMEOUT_SECS) -> None:
        """Stop taking jobs; let those in hand finish (up to drain_secs), cancel the rest."""
        self._stopping = True
        for task in self._tasks[:1]:
            task.cancel()
        if self.active:
            await asyncio.wait(list(self.active), timeout=drain_secs)
        for task in [*self.active, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self.active, *self._tasks, return_exceptions=True)

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            free = self.concurrency - len(self.active)
            if free <= 0:
                await asyncio.wait(list(self.active), return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                leases = await self.queue.get(free)
            except (RedisError, OSError) as exc:
                log.warning("ai: cannot read the job queue (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, GET_RETRY_MAX_SECS)
                continue
            backoff = 0.1
            for lease in leases:
                task = asyncio.get_running_loop().create_task(self._handle(lease))
                self.active[task] = lease
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self.active.pop(task, None)
        self.done += 1

    async def _handle(self, lease: Lease) -> None:
        job = lease.job
        try:
            if job is not None:
                if job.enqueued_at:
                    log.debug("ai: job for message %s waited %.3fs", job.message_id, time.time() - job.enqueued_at)
                await self.responder.answer(job)
        except (Unavailable, RedisError, OSError) as exc:
            # The store or Redis is away: leave the job pending (Redis hands it out again later).
            log.warning("ai: job for message %s not done (%s); left for a retry", job and job.message_id, exc)
            return
        except Exception:  # a bug must not leave the conversation stuck: hand it to humans
            log.exception("ai: job for message %s failed", job and job.message_id)
            await self._fail_safe(job)
        try:
            await self.queue.ack(lease)
        except (RedisError, OSError) as exc:
            log.warning("ai: could not acknowledge job %s (%s)", lease.ref, exc)

    async def _fail_safe(self, job: Job | None) -> None:
        if job is None:
            return
        try:
            session = await self.responder.store.get_session(job.tenant_id, job.session_id)
            if session is not None and ai_may_speak(session):
                await self.responder.handoff(session, "ai_error")
        except (Unavailable, RedisError, OSError) as exc:
            log.warning("ai: could not hand session %s off (%s)", job.session_id, exc)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.keep_every_secs)
            try:
                await self.queue.keep(list(self.active.values()))
            except (RedisError, OSError) as exc:
                log.warning("ai: could not keep jobs claimed (%s)", exc)


def consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def redis_worker(redis, responder: Responder, config: Config, *, consumer: str | None = None) -> AIWorker:
    """An AIWorker reading the Redis stream, as `callcenter ai-worker` runs it."""
    queue = RedisStreamQueue(redis, config.redis_prefix, consumer=consumer or consumer_name(),
                             reclaim_secs=config.ai_reclaim_secs)
    return AIWorker(responder, queue, concurrency=config.ai_concurrency, keep_every_secs=config.ai_reclaim_secs / 3)
