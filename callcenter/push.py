"""Push notifications to agents' devices (Web Push): who hears of what, and the sending.

The dashboard alerts an agent while it is open; this reaches them when it is not (a phone in a
pocket, a closed tab). The same moments as the dashboard's alerts:
- a visitor writes in a conversation assigned to the agent ("message"; at most one push per agent
  and conversation per `push_cooldown_secs`, the rest would only buzz the phone again);
- a conversation starts ("new_conversation", to every agent);
- a colleague assigns one to the agent ("assigned");
- the AI hands one over ("handoff": to its agent, else to everyone).
Agents whose dashboard is online (presence) are skipped: it alerts them itself.

Pushes are sent after the commit, in the background, from the worker that made the change, so a
send never waits for a push service. They are best effort: a worker that dies loses the pushes it
had not sent, never a message. Each push service answer is acted on: 404/410 means the browser
unsubscribed, and the subscription is deleted; other refusals are counted and a subscription
refused MAX_REFUSALS times in a row is deleted too; 429 and 5xx are retried a few times.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Iterable
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from . import webpush
from .attachments import files_of
from .config import Config
from .domain import PUSH_PREFERENCE, agent_preferences
from .errors import Conflict, RateLimited
from .metrics import Metrics
from .models import json_dumps
from .presence import Presence
from .security import RateLimiter
from .store import Store, now_ms

log = logging.getLogger("callcenter.push")

# Who has a device changes rarely; a worker re-reads it this often (or at once after a change it made),
# so a message in a tenant without any device costs no query.
SUBSCRIBERS_CACHE_SECS = 10.0
MAX_DEVICES_PER_AGENT = 20
MAX_REFUSALS = 5
# Pushes this worker sends at once, and how many may wait; beyond that new ones are dropped (counted).
MAX_CONCURRENT_PUSHES = 16
MAX_QUEUED_PUSHES = 2000
PUSH_ATTEMPTS = 3
PUSH_RETRY_SECS = (1.0, 4.0)
MAX_RETRY_AFTER_SECS = 30.0
PUSH_CONNECT_TIMEOUT_SECS = 5.0
PUSH_REQUEST_TIMEOUT_SECS = 10.0
# A push service keeps an undelivered chat notification this long (a phone that was off).
PUSH_TTL_SECS = 12 * 3600
PREVIEW_CHARS = 180
TEST_PUSHES_PER_WINDOW = 10
TEST_PUSH_WINDOW_SECS = 600


def customer_label(session: dict) -> str:
    return session.get("customer_name") or session.get("customer_email") or "Anonymous visitor"


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


class PushNotifier:
    def __init__(self, store: Store, config: Config, metrics: Metrics, limiter: RateLimiter, presence: Presence):
        self.store = store
        self.config = config
        self.metrics = metrics
        self.limiter = limiter
        self.presence = presence
        self.vapid = webpush.VapidKey.from_config(self.config.vapid_private_key, self.config.ensure_secret_key(),
                                                  self.config.vapid_subject)
        self._subscribers: dict[str, tuple[float, frozenset[int]]] = {}  # tenant -> (read at, agent ids)
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_PUSHES)
        self._tasks: set[asyncio.Task] = set()
        self._http: AsyncHTTPClient | None = None

    @property
    def http(self) -> AsyncHTTPClient:
        if self._http is None:
            self._http = AsyncHTTPClient(force_instance=True, max_clients=MAX_CONCURRENT_PUSHES)
        return self._http

    async def close(self) -> None:
        """Pushes already on their way get a moment to finish (a SIGTERM'd worker), then go."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=PUSH_REQUEST_TIMEOUT_SECS)
            for task in pending:
                task.cancel()
        if self._http is not None:
            self._http.close()

    # ---- subscriptions (the API's) ----------------------------------------------------

    async def subscribe(self, agent: dict, endpoint: str, p256dh: str, auth: str, user_agent: str) -> tuple[dict, bool]:
        sub = webpush.parse_subscription(endpoint, p256dh, auth, self.config.push_service_hosts)
        row, created = await self.store.save_push_subscription(
            agent["tenant_id"], agent["id"], endpoint=sub.endpoint, endpoint_hash=webpush.endpoint_hash(sub.endpoint),
            p256dh=sub.p256dh, auth=sub.auth, user_agent=user_agent[:400], max_per_agent=MAX_DEVICES_PER_AGENT)
        self._subscribers.pop(agent["tenant_id"], None)
        return row, created

    async def unsubscribe(self, agent: dict, endpoint: str) -> bool:
        removed = await self.store.delete_push_subscription(agent["tenant_id"], agent["id"],
                                                            webpush.endpoint_hash(endpoint))
        self._subscribers.pop(agent["tenant_id"], None)
        return removed

    async def devices(self, agent: dict) -> list[dict]:
        return await self.store.push_subscriptions_of(agent["tenant_id"], [agent["id"]])

    async def send_test(self, agent: dict) -> dict:
        """A test notification to each of the agent's devices, now; what became of them. Conflict
        without a device; RateLimited past TEST_PUSHES_PER_WINDOW."""
        subs = await self.devices(agent)
        if not subs:
            raise Conflict("no device of yours gets push notifications; turn them on first", code="no_subscriptions")
        decision = await self.limiter.hit(f"push-test:{agent['tenant_id']}:{agent['id']}",
                                                   TEST_PUSHES_PER_WINDOW, TEST_PUSH_WINDOW_SECS)
        if not decision.allowed:
            raise RateLimited("too many test notifications; try again later", decision.retry_after_secs)
        payload = self._payload("test", agent["tenant_id"], None, "callcenter",
                                "Push notifications work on this device.")
        outcomes = await asyncio.gather(*(self._deliver(sub, payload, "test", topic="test", urgency="normal")
                                          for sub in subs))
        return {"sent": outcomes.count("delivered"), "failed": sum(o not in ("delivered", "removed") for o in outcomes),
                "removed": outcomes.count("removed")}

    # ---- the moments worth a push (called after the commit; they never wait) ---------------

    def on_message(self, msg: dict, session: dict | None) -> None:
        if msg["sender_type"] != "visitor" or session is None or not session.get("assigned_agent_id"):
            return
        body = msg["body"] or " ".join("📎 " + f["name"] for f in files_of(msg))
        self._notify(session, [session["assigned_agent_id"]], "message", customer_label(session), body)

    def on_session_started(self, session: dict) -> None:
        self._notify(session, None, "new_conversation", "New conversation",
                     f"{customer_label(session)} started a chat.")

    def on_assigned(self, session: dict, target: dict, by_agent: dict) -> None:
        if target["id"] != by_agent["id"]:
            self._notify(session, [target["id"]], "assigned", "Assigned to you",
                         f"{by_agent['name']} gave you the conversation with {customer_label(session)}.")

    def on_auto_assigned(self, session: dict, target: dict) -> None:
        self._notify(session, [target["id"]], "assigned", "Assigned to you",
                     f"You have a new conversation with {customer_label(session)}.")

    def on_mention(self, session: dict, agent_ids: list[int], by_agent: dict, note: dict) -> None:
        if agent_ids:
            self._notify(session, agent_ids, "mention", f"{by_agent['name']} mentioned you",
                         f"{customer_label(session)}: {note['body']}")

    def on_handoff(self, session: dict) -> None:
        agent_id = session.get("assigned_agent_id")
        self._notify(session, [agent_id] if agent_id else None, "handoff", "Needs a person",
                     f"{customer_label(session)}: the AI handed the conversation over.")

    def _notify(self, session: dict, agent_ids: Iterable[int] | None, kind: str, title: str, body: str) -> None:
        tenant_id = session["tenant_id"]
        known = self._known_subscribers(tenant_id)
        if known is not None and not (known if agent_ids is None else known.intersection(agent_ids)):
            return  # nobody to tell: the usual case, and free
        if len(self._tasks) >= MAX_QUEUED_PUSHES:
            self.metrics.pushes.labels(kind, "dropped").inc()
            return
        payload = self._payload(kind, tenant_id, session["id"], title, body)
        task = asyncio.get_running_loop().create_task(
            self._notify_now(tenant_id, session["id"], None if agent_ids is None else set(agent_ids), kind, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _known_subscribers(self, tenant_id: str) -> frozenset[int] | None:
        """The tenant's agents with a device, as read less than SUBSCRIBERS_CACHE_SECS ago (else None)."""
        cached = self._subscribers.get(tenant_id)
        if cached is None or cached[0] <= time.monotonic() - SUBSCRIBERS_CACHE_SECS:
            return None
        return cached[1]

    async def _subscribed_agents(self, tenant_id: str) -> frozenset[int]:
        known = self._known_subscribers(tenant_id)
        if known is None:
            known = frozenset(await self.store.push_subscribed_agents(tenant_id))
            self._subscribers[tenant_id] = (time.monotonic(), known)
        return known

    async def _notify_now(self, tenant_id: str, session_id: str, agent_ids: set[int] | None, kind: str,
                          payload: bytes) -> None:
        try:
            wanted = await self._subscribed_agents(tenant_id)
            if agent_ids is not None:
                wanted = wanted & agent_ids
            if not wanted:
                return
            online = {agent_id for agent_id, status in
                      (await self.presence.agent_statuses(tenant_id)).items() if status == "online"}
            wanted = wanted - online
            if kind in PUSH_PREFERENCE and wanted:  # the agents who turned this kind off hear nothing
                prefs = await self.store.agent_preferences_of(tenant_id, wanted)
                wanted = {a for a in wanted if agent_preferences(prefs.get(a))[PUSH_PREFERENCE[kind]]}
            if kind == "message":
                wanted = {agent_id for agent_id in wanted if await self._cooled_down(tenant_id, agent_id, session_id)}
            if not wanted:
                return
            subs = await self.store.push_subscriptions_of(tenant_id, wanted)
            await asyncio.gather(*(self._deliver(sub, payload, kind, topic=session_id, urgency="high")
                                   for sub in subs))
        except Exception:  # noqa: BLE001 - best effort: a push that cannot go is logged, the chat goes on
            log.exception("push for %s in tenant %s failed", kind, tenant_id)

    async def _cooled_down(self, tenant_id: str, agent_id: int, session_id: str) -> bool:
        decision = await self.limiter.hit(f"push:{tenant_id}:{agent_id}:{session_id}", 1,
                                                   self.config.push_cooldown_secs)
        return decision.allowed

    def _payload(self, kind: str, tenant_id: str, session_id: str | None, title: str, body: str) -> bytes:
        doc = {"v": 1, "type": kind, "tenant_id": tenant_id, "session_id": session_id, "title": _preview(title),
               "body": _preview(body), "tag": f"cc-{session_id or kind}",
               "url": f"/?session={session_id}" if session_id else "/", "sent_at_ms": now_ms()}
        return json_dumps(doc).encode("utf-8")

    # ---- one push to one device -------------------------------------------------------

    async def _deliver(self, sub: dict, payload: bytes, kind: str, *, topic: str, urgency: str) -> str:
        """Send to one device with retries; "delivered", "removed" (the device is gone), "refused" or
        "failed" (the push service could not be reached or kept failing)."""
        async with self._slots:
            outcome = await self._deliver_with_retries(sub, payload, topic=topic, urgency=urgency)
        self.metrics.pushes.labels(kind, outcome).inc()
        return outcome

    async def _deliver_with_retries(self, sub: dict, payload: bytes, *, topic: str, urgency: str) -> str:
        endpoint = sub["endpoint"]
        if not webpush.host_allowed(urlsplit(endpoint).hostname or "", self.config.push_service_hosts):
            # Allowed when it was stored, not any more (the operator changed the list).
            await self.store.delete_push_subscription(sub["tenant_id"], None, sub["endpoint_hash"])
            return "removed"
        for attempt in range(PUSH_ATTEMPTS):
            body = webpush.encrypt(payload, sub["p256dh"], sub["auth"])
            request = HTTPRequest(
                endpoint, method="POST", body=body, follow_redirects=False, ca_certs=self.config.push_ca_file,
                connect_timeout=PUSH_CONNECT_TIMEOUT_SECS, request_timeout=PUSH_REQUEST_TIMEOUT_SECS,
                headers={"Authorization": self.vapid.authorization(endpoint), "Content-Encoding": "aes128gcm",
                         "Content-Type": "application/octet-stream", "TTL": str(PUSH_TTL_SECS),
                         "Urgency": urgency, "Topic": topic})
            retry_after = None
            try:
                await self.http.fetch(request)
                await self.store.record_push_result(sub["id"], delivered=True)
                return "delivered"
            except HTTPClientError as exc:
                status = exc.code
                if status in (404, 410):
                    await self.store.delete_push_subscription(sub["tenant_id"], None, sub["endpoint_hash"])
                    log.info("push subscription %s is gone (%d): deleted", sub["id"], status)
                    return "removed"
                if status != 429 and status < 500:
                    refusals = await self.store.record_push_result(sub["id"], delivered=False)
                    log.warning("push service refused a push to subscription %s: %d %s", sub["id"], status,
                                _body_text(exc))
                    if refusals >= MAX_REFUSALS:
                        await self.store.delete_push_subscription(sub["tenant_id"], None, sub["endpoint_hash"])
                        return "removed"
                    return "refused"
                if exc.response is not None:
                    retry_after = _retry_after_secs(exc.response.headers.get("Retry-After"))
                reason = f"HTTP {status}"
            except (OSError, asyncio.TimeoutError) as exc:  # unreachable, TLS, reset
                reason = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < PUSH_ATTEMPTS:
                await asyncio.sleep(retry_after if retry_after is not None else PUSH_RETRY_SECS[attempt])
        log.warning("push to subscription %s failed after %d attempts: %s", sub["id"], PUSH_ATTEMPTS, reason)
        return "failed"


def _retry_after_secs(value: str | None) -> float | None:
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECS) if value else None
    except ValueError:
        return None


def _body_text(exc: HTTPClientError) -> str:
    if exc.response is None or not exc.response.body:
        return ""
    return exc.response.body[:200].decode("utf-8", "replace")
