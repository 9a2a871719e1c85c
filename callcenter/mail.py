"""E-mail to visitors who left: the agents' replies they missed (batched), and transcripts on request.

Off unless CALLCENTER_SMTP_URL is set (`MailService.enabled`). Nothing is ever sent from a request:

1. Scheduling. An agent's (or the AI's) reply in a conversation with an e-mail address makes the session
   due (sessions.mail_due_at_ms = the reply's time + CALLCENTER_MAIL_BATCH_SECS) unless it is due already:
   replies written meanwhile join that e-mail.
2. Batching. Every worker sweeps the due sessions; each is claimed by a compare-and-set on its due time
   (the winner's new due time is its lease), so one worker deals with it. A visitor whose widget is
   connected, or was within CALLCENTER_MAIL_OFFLINE_DELAY_SECS (presence's last-seen time, shared by all workers),
   puts it off. Otherwise the replies after max(mail_sent_seq, visitor_read_seq) are the e-mail: its
   outbox row is written and mail_sent_seq moves past them in one transaction (an unsubscribed address
   or nothing unread: mail_sent_seq moves, nothing is written).
3. Sending. Due outbox rows are claimed (compare-and-set) and queued (mail_queue: a Redis stream, or in
   memory); a sender claims the attempt in the row (attempts + 1, only from the value queued), sends it
   with aiosmtplib and marks it sent. A failed attempt is due again after CALLCENTER_MAIL_RETRY_BASE_SECS,
   doubling up to CALLCENTER_MAIL_RETRY_MAX_SECS, until CALLCENTER_MAIL_GIVE_UP_SECS after the e-mail was
   made; a permanent refusal (5xx) is not retried. A sender that dies mid-way leaves its row due again
   after ATTEMPT_LEASE_SECS.

Guarantee: each e-mail (outbox row: kind, session, last seq, address) is sent at least once while the
SMTP server accepts it within the give-up time, and at most one attempt runs at a time; only a crash (or
a store outage) between the SMTP server's acceptance and the sent mark repeats it, once per such crash,
with the same Message-ID (derived from the row's key) so mail clients can tell it is the same e-mail.

Links: "continue the conversation" is the session's page with `#cc_resume=<token>` (a signed token,
valid RESUME_TOKEN_TTL_SECS, that POST /api/v1/chat/public/resume exchanges for a visitor token); the
unsubscribe link carries a signed token of (tenant, address) that does not expire.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import aiosmtplib

from .config import Config
from .domain import AGENT, AI, PRIVATE_SENDER_TYPES, SENDER_TYPES
from .errors import Conflict, InvalidInput, RateLimited, Unavailable
from .mail_queue import Entry, MemoryMailQueue, RedisMailQueue, Ticket
from .mail_render import MailParts, mail_address, replies_mail, transcript_mail
from .security import InvalidToken, RateLimiter, TokenSigner
from .store import Store, now_ms

if TYPE_CHECKING:
    from .bus import Bus
    from .realtime.hub import Hub

log = logging.getLogger("callcenter.mail")

REPLY_SENDER_TYPES = (AGENT, AI)
VISIBLE_SENDER_TYPES = tuple(t for t in SENDER_TYPES if t not in PRIVATE_SENDER_TYPES)
RESUME_TOKEN_TTL_SECS = 7 * 24 * 3600
RESUME_TOKEN_TYPE = "mail-resume"
UNSUBSCRIBE_TOKEN_TYPE = "mail-unsubscribe"
# A worker's hold on a due session while it decides (then it is due again for someone else), and on an
# outbox row from being queued or tried to its end (a sender that died: the row is due again).
SESSION_LEASE_SECS = 60
ATTEMPT_LEASE_SECS = 120
SMTP_TIMEOUT_SECS = 30
SWEEP_BATCH = 100
MAX_MESSAGES_PER_MAIL = 500
SENDERS_PER_WORKER = 4
# Transcripts a conversation, and a client address, may ask for per hour.
TRANSCRIPTS_PER_SESSION = 3
TRANSCRIPTS_PER_IP = 10
TRANSCRIPT_WINDOW_SECS = 3600
STORE_RETRY_SECS = (0.5, 1, 2, 5, 10)


class MailTokens:
    """The links' tokens, signed like the visitor tokens (TokenSigner) under types of their own: neither is
    ever taken for a visitor or an agent token, nor for the other."""

    def __init__(self, signer: TokenSigner):
        self._signer = signer

    def _read(self, token: str, kind: str, required: tuple[str, ...]) -> dict:
        try:
            return self._signer.verify(token, kind, required)
        except InvalidToken:
            raise InvalidInput("this link is not valid or has expired", code="invalid_token") from None

    def resume(self, session: dict) -> str:
        return self._signer.sign({"typ": RESUME_TOKEN_TYPE, "sid": session["id"], "tid": session["tenant_id"],
                                  "vid": session["visitor_id"]}, RESUME_TOKEN_TTL_SECS)

    def read_resume(self, token: str) -> tuple[str, str, int]:
        """(tenant id, session id, visitor id); InvalidInput `invalid_token` when forged or expired."""
        claims = self._read(token, RESUME_TOKEN_TYPE, ("exp", "sid", "tid", "vid"))
        try:
            return str(claims["tid"]), str(claims["sid"]), int(claims["vid"])
        except (TypeError, ValueError):
            raise InvalidInput("this link is not valid or has expired", code="invalid_token") from None

    def unsubscribe(self, tenant_id: str, address: str) -> str:
        return self._signer.sign({"typ": UNSUBSCRIBE_TOKEN_TYPE, "tid": tenant_id, "em": address.lower()}, None)

    def read_unsubscribe(self, token: str) -> tuple[str, str]:
        """(tenant id, address)."""
        claims = self._read(token, UNSUBSCRIBE_TOKEN_TYPE, ("tid", "em"))
        return str(claims["tid"]), str(claims["em"])


def reply_mail_due_ms(config: Config, message: dict, session: dict | None) -> int | None:
    """When a stored message makes its conversation due for an e-mail: an agent's or the AI's reply in a
    conversation with an e-mail address, e-mail on. None otherwise, and when it is due already (the reply
    joins that e-mail). (The AI's replies are stored by `callcenter ai-worker` too, which has no MailService.)"""
    if (not config.mail_enabled or session is None or message["sender_type"] not in REPLY_SENDER_TYPES
            or mail_address(session.get("customer_email")) is None or session.get("mail_due_at_ms") is not None):
        return None
    return message["created_at_ms"] + int(config.mail_batch_secs * 1000)


def smtp_options(smtp_url: str) -> dict:
    """aiosmtplib.send() arguments for smtp://user:pass@host:port (STARTTLS when offered) or smtps://."""
    parts = urlsplit(smtp_url)
    tls = parts.scheme == "smtps"
    return {"hostname": parts.hostname, "port": parts.port or (465 if tls else 25),
            "username": parts.username or None, "password": parts.password or None,
            "use_tls": tls, "start_tls": False if tls else None, "timeout": SMTP_TIMEOUT_SECS}


def with_resume(page_url: str, token: str) -> str:
    """The page with `#cc_resume=<token>` (any fragment it had is replaced)."""
    parts = urlsplit(page_url)
    return urlunsplit(parts._replace(fragment=f"cc_resume={token}"))


class MailService:
    def __init__(self, store: Store, config: Config, signer: TokenSigner, limiter: RateLimiter, hub: "Hub",
                 bus: "Bus", queue: MemoryMailQueue | RedisMailQueue):
        self.store = store
        self.config = config
        self.signer = signer
        self.limiter = limiter
        self.hub = hub
        self.bus = bus
        self.queue = queue
        self.tokens = MailTokens(signer)
        self._tasks: set[asyncio.Task] = set()
        self._loops: list[asyncio.Task] = []
        self._sending = asyncio.Semaphore(SENDERS_PER_WORKER)

    @property
    def enabled(self) -> bool:
        return self.config.mail_enabled

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.enabled:
            return
        if not self.config.public_url:
            log.warning("mail: CALLCENTER_PUBLIC_URL is not set: links in e-mails point to %s", self.public_base())
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._sweep_loop(), name="mail-sweeper"),
                       loop.create_task(self._send_loop(), name="mail-sender")]

    async def close(self) -> None:
        pending = {*self._loops, *self._tasks}
        for task in self._loops:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        for task in pending:
            task.cancel()

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the hook: every stored message ---------------------------------------------------------------

    def on_agent_reply(self, message: dict, session: dict | None) -> None:
        """Called for every stored message (synchronous and cheap): an agent's or the AI's reply in a
        conversation with an e-mail address makes it due for an e-mail (one small write, in the background)."""
        due = reply_mail_due_ms(self.config, message, session)
        if due is not None:
            self._spawn(self._schedule(session["tenant_id"], session["id"], due))

    async def _schedule(self, tenant_id: str, session_id: str, due_at_ms: int) -> None:
        try:
            await self.store.schedule_reply_mail(tenant_id, session_id, due_at_ms)
        except Unavailable as exc:
            log.warning("mail: a reply in %s not scheduled for e-mail: %s", session_id, exc.message)

    async def _visitor_last_seen_ms(self, tenant_id: str, session_id: str) -> int | None:
        """When the visitor's widget was last connected (now while it is), from presence: the same answer
        on every worker, whichever one held the socket. None when unknown or Redis fails (best effort)."""
        try:
            return await self.hub.presence.last_seen_ms(tenant_id, f"v:{session_id}")
        except Exception as exc:  # presence is best effort: the e-mail goes out rather than never
            log.warning("mail: presence of session %s unknown: %s", session_id, exc)
            return None

    # ---- links --------------------------------------------------------------------------------------

    def public_base(self, fallback: str | None = None) -> str:
        return self.config.public_url or fallback or f"http://{self.config.host}:{self.config.port}"

    def resume_url(self, session: dict, base: str) -> str:
        page = session.get("page_url") or ""
        if not page.startswith(("http://", "https://")):
            page = f"{base}/widget-demo.html"
        return with_resume(page, self.tokens.resume(session))

    def unsubscribe_url(self, tenant_id: str, address: str, base: str) -> str:
        return f"{base}/unsubscribe?token={self.tokens.unsubscribe(tenant_id, address)}"

    def _message_id(self, mail_key: str) -> str:
        domain = mail_address(self.from_address()).domain
        return f"<{hashlib.sha256(mail_key.encode()).hexdigest()[:32]}.{mail_key.split(':', 1)[0]}@{domain}>"

    def from_address(self) -> str:
        return self.config.mail_from or f"noreply@{urlsplit(self.config.smtp_url or '').hostname or 'localhost'}"

    # ---- the visitor's routes -------------------------------------------------------------------------

    async def request_transcript(self, session: dict, email: str | None, ip: str) -> None:
        """Queue the conversation's transcript (as the visitor sees it, up to now) to `email` or the
        session's address. Repeating it with nothing new sends nothing more. Its links point where every
        e-mail's do (CALLCENTER_PUBLIC_URL), never to the request's Host: a visitor picks the address, and
        a Host of their choosing would put their links in the tenant's e-mail."""
        if not self.enabled:
            raise Conflict("e-mail is not set up on this server", code="mail_disabled")
        to = (email or session.get("customer_email") or "").strip().lower()
        if not to:
            raise InvalidInput("give an e-mail address to send the transcript to", code="email_required")
        if mail_address(to) is None:
            raise InvalidInput("that is not an e-mail address", code="invalid_email")
        for key, limit in ((f"mail:transcript:session:{session['id']}", TRANSCRIPTS_PER_SESSION),
                           (f"mail:transcript:ip:{ip}", TRANSCRIPTS_PER_IP)):
            decision = await self.limiter.hit(key, limit, TRANSCRIPT_WINDOW_SECS)
            if not decision.allowed:
                raise RateLimited("too many transcripts asked for; try again later", decision.retry_after_secs)
        upto = session["last_seq"]
        address_id = hashlib.sha256(to.encode()).hexdigest()[:16]
        await self.store.add_mail(self._outbox_row(session, f"transcript:{session['id']}:{upto}:{address_id}",
                                                   "transcript", to, 0, upto, self.public_base()))

    async def resume(self, token: str) -> tuple[dict, str, dict]:
        """(session, a new visitor token for it, tenant) for an e-mail's resume link."""
        tenant_id, session_id, visitor_id = self.tokens.read_resume(token)
        session = await self.store.get_session(tenant_id, session_id)
        tenant = await self.store.get_tenant(tenant_id) if session is not None else None
        if session is None or tenant is None or session["visitor_id"] != visitor_id:
            raise InvalidInput("this link is not valid or has expired", code="invalid_token")
        return session, self.signer.visitor_token(session_id, tenant_id, visitor_id), tenant

    async def unsubscribe_target(self, token: str) -> tuple[dict, str]:
        """(tenant, address) an unsubscribe link is for."""
        tenant_id, address = self.tokens.read_unsubscribe(token)
        tenant = await self.store.get_tenant(tenant_id)
        if tenant is None:
            raise InvalidInput("this link is not valid or has expired", code="invalid_token")
        return tenant, address

    async def unsubscribe(self, token: str) -> tuple[dict, str]:
        tenant, address = await self.unsubscribe_target(token)
        await self.store.unsubscribe_mail(tenant["id"], address)
        return tenant, address

    # ---- batching (every worker) ----------------------------------------------------------------------

    def _tick_secs(self) -> float:
        return max(0.1, min(2.0, self.config.mail_offline_delay_secs / 4, self.config.mail_batch_secs / 4))

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except (Unavailable, OSError) as exc:
                log.warning("mail: sweep failed (%s); trying again", exc)
            except Exception:  # a bug must not stop e-mail for good
                log.exception("mail: sweep failed")
            await asyncio.sleep(self._tick_secs())

    async def sweep(self) -> None:
        """One round: the due sessions' replies become e-mails, the due e-mails go to the queue."""
        for row in await self.store.due_reply_mail(now_ms(), SWEEP_BATCH):
            await self._batch_replies(row["tenant_id"], row["id"], row["mail_due_at_ms"])
        for row in await self.store.due_mail(now_ms(), SWEEP_BATCH):
            until = now_ms() + ATTEMPT_LEASE_SECS * 1000
            if await self.store.lease_mail(row["id"], attempts=row["attempts"], expected_due_ms=row["next_attempt_at_ms"],
                                           until_ms=until):
                await self.queue.put(Ticket(row["id"], row["attempts"]))

    async def _batch_replies(self, tenant_id: str, session_id: str, due_ms: int) -> None:
        now = now_ms()
        lease = now + SESSION_LEASE_SECS * 1000
        if not await self.store.move_reply_mail(tenant_id, session_id, due_ms, lease):
            return  # another worker has it
        session = await self.store.get_session(tenant_id, session_id)
        if session is None:
            return
        to = mail_address(session["customer_email"])
        if to is not None:
            offline_ms = int(self.config.mail_offline_delay_secs * 1000)
            seen = await self._visitor_last_seen_ms(tenant_id, session_id)  # now while connected
            if seen is not None and now - seen < offline_ms:
                await self.store.move_reply_mail(tenant_id, session_id, lease, seen + offline_ms)
                return
        from_seq = max(session["mail_sent_seq"], session["visitor_read_seq"])
        replies = await self.store.reply_mail_messages(tenant_id, session_id, from_seq, REPLY_SENDER_TYPES,
                                                       MAX_MESSAGES_PER_MAIL)
        upto = replies[-1]["seq"] if replies else max(from_seq, session["mail_sent_seq"])
        mail = None
        if replies and to is not None and not await self.store.mail_unsubscribed(tenant_id, to.addr_spec):
            mail = self._outbox_row(session, f"reply:{session_id}:{upto}", "reply", to.addr_spec.lower(), from_seq,
                                    upto, self.public_base())
        await self.store.finish_reply_mail(tenant_id, session_id, lease, upto_seq=upto, reply_types=REPLY_SENDER_TYPES,
                                           again_at_ms=now + int(self.config.mail_batch_secs * 1000), mail=mail)

    @staticmethod
    def _outbox_row(session: dict, key: str, kind: str, to: str, from_seq: int, upto: int, base: str) -> dict:
        return {"mail_key": key, "tenant_id": session["tenant_id"], "session_id": session["id"], "kind": kind,
                "to_addr": to, "from_seq": from_seq, "upto_seq": upto, "base_url": base[:300],
                "created_at_ms": now_ms(), "next_attempt_at_ms": now_ms(), "attempts": 0}

    # ---- sending (every worker) -----------------------------------------------------------------------

    async def _send_loop(self) -> None:
        backoff = 0.1
        last_take_over = 0.0
        while True:
            try:
                entries = await self.queue.read(SENDERS_PER_WORKER, 1.0)
                if time.monotonic() - last_take_over > ATTEMPT_LEASE_SECS / 4:
                    last_take_over = time.monotonic()
                    entries += await self.queue.take_over(SWEEP_BATCH)
            except Exception as exc:  # Redis away: the entries wait in the stream
                log.warning("mail: cannot read the queue (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            for entry in entries:
                await self._sending.acquire()
                self._spawn(self._handle(entry))

    async def _handle(self, entry: Entry) -> None:
        try:
            if entry.ticket is not None:
                await self.attempt(entry.ticket)
            await self.queue.ack(entry)
        except Exception:  # the row is due again after its lease; the entry is taken over
            log.exception("mail: e-mail %s not handled", entry.ticket.mail_id if entry.ticket else "?")
        finally:
            self._sending.release()

    async def attempt(self, ticket: Ticket) -> None:
        """One attempt at an e-mail, if it is still this ticket's turn."""
        row = await self.store.start_mail_attempt(ticket.mail_id, ticket.attempts,
                                                  now_ms() + ATTEMPT_LEASE_SECS * 1000)
        if row is None:
            return  # sent, given up, or tried by someone else since it was queued
        if await self.store.mail_unsubscribed(row["tenant_id"], row["to_addr"]):
            await self.store.mail_failed(row["id"], "unsubscribed", None)
            return
        message = await self._render(row)
        if message is None:
            await self.store.mail_failed(row["id"], "its conversation is gone", None)
            return
        try:
            await aiosmtplib.send(message, sender=self.from_address(), recipients=[row["to_addr"]],
                                  **smtp_options(self.config.smtp_url))
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._failed(row, exc)
            return
        await self._steadily(self.store.mail_sent, row["id"])
        log.info("mail: sent e-mail %s (%s)", row["id"], row["kind"])

    async def _failed(self, row: dict, exc: Exception) -> None:
        code = getattr(exc, "code", None)
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [getattr(err, "code", 0) for err in exc.recipients]
            code = min(codes) if codes else None
        permanent = isinstance(code, int) and 500 <= code < 600
        now = now_ms()
        delay = min(self.config.mail_retry_base_secs * 2 ** max(0, row["attempts"] - 1), self.config.mail_retry_max_secs)
        give_up_at = row["created_at_ms"] + int(self.config.mail_give_up_secs * 1000)
        retry_at = None if permanent or now >= give_up_at else min(now + int(delay * 1000), give_up_at)
        error = f"{type(exc).__name__}: {exc}"
        log.warning("mail: e-mail %s not sent (%s); %s", row["id"], error[:200],
                    "given up" if retry_at is None else f"retried in {(retry_at - now) / 1000:.1f}s")
        await self._steadily(self.store.mail_failed, row["id"], error, retry_at)

    @staticmethod
    async def _steadily(write, *args) -> None:
        """A write after an SMTP attempt: the store away only delays it (its lease keeps the row meanwhile)."""
        for wait in STORE_RETRY_SECS:
            try:
                await write(*args)
                return
            except Unavailable as exc:
                log.warning("mail: store unavailable (%s); retrying in %ss", exc.message, wait)
                await asyncio.sleep(wait)
        await write(*args)

    async def _render(self, row: dict):
        session = await self.store.get_session(row["tenant_id"], row["session_id"])
        tenant = await self.store.get_tenant(row["tenant_id"])
        if session is None or tenant is None:
            return None
        base = self.public_base(row["base_url"])
        parts = MailParts(tenant_name=tenant["name"], customer_name=session["customer_name"], to_addr=row["to_addr"],
                          from_addr=self.from_address(), message_id=self._message_id(row["mail_key"]),
                          resume_url=self.resume_url(session, base),
                          unsubscribe_url=self.unsubscribe_url(row["tenant_id"], row["to_addr"], base))
        if row["kind"] == "reply":
            replies = await self.store.reply_mail_messages(row["tenant_id"], row["session_id"], row["from_seq"],
                                                           REPLY_SENDER_TYPES, MAX_MESSAGES_PER_MAIL, row["upto_seq"])
            return replies_mail(parts, replies)
        history = await self.store.reply_mail_messages(row["tenant_id"], row["session_id"], 0, VISIBLE_SENDER_TYPES,
                                                       10_000, row["upto_seq"])
        return transcript_mail(parts, history)


def make_mail_queue(redis, config: Config, consumer: str) -> MemoryMailQueue | RedisMailQueue:
    return (RedisMailQueue(redis, config.redis_prefix, consumer, ATTEMPT_LEASE_SECS) if redis is not None
            else MemoryMailQueue())


__all__ = ["MailService", "MailTokens", "make_mail_queue"]
