"""Chat domain logic: who may do what, in which order, and which events follow.

Handlers and socket frames call these methods with parsed, validated input and who acts (an
`Actor`: an agent of a tenant, or a visitor bound to one conversation); the methods talk to the
store, then publish events once the transaction has committed (a message is stored before anyone
hears of it).
"""
from __future__ import annotations

import asyncio
import logging
import zoneinfo
from typing import TYPE_CHECKING

from . import analytics, attachments, domain, events, models
from .ai.service import AIService
from .auth_cache import AgentCache, SocketReads
from .bus import Bus, BusUnavailable
from .config import Config
from .domain import Actor
from .errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Unauthorized
from .metrics import Metrics
from .publisher import EventPublisher
from .push import PushNotifier
from .routing import RoutingService
from .security import (AgentClaims, InvalidToken, RateLimiter, TokenSigner, VisitorClaims, burn_password_check,
                       check_password, hash_password)
from .store import CatchUp, PrivateNote, SendResult, SessionFilter, Store
from .webhook_models import CONVERSATION_ASSIGNED, CONVERSATION_CREATED, CONVERSATION_RESOLVED

if TYPE_CHECKING:  # (the mail service is built before the chat and handed to it)
    from .mail import MailService

log = logging.getLogger("callcenter.services")

MAX_PAGE_SIZE = 100
MAX_HISTORY_PAGE = 500


class AuthService:
    def __init__(self, store: Store, signer: TokenSigner, limiter: RateLimiter, config: Config, bus: Bus):
        self.store = store
        self.bus = bus
        self.signer = signer
        self.limiter = limiter
        self.config = config
        # The sockets' connect path (callcenter/auth_cache.py): reads batched across sockets, and the agents
        # this worker has checked (always checked again once registered: see socket_catch_up).
        self.socket_reads = SocketReads(store)
        self.agent_cache = AgentCache()
        bus.add_listener(self._on_event)
        bus.add_reconnect_listener(self._on_bus_reconnect)

    def _on_event(self, event: events.Event) -> None:
        if event.type == events.AGENT_REVOKED:
            self.agent_cache.forget(event.tenant_id, event.data["agent_id"])

    async def _on_bus_reconnect(self, tenants=None) -> None:
        self.agent_cache.clear()  # revocations may have been missed meanwhile

    async def login(self, email: str, password: str, tenant_id: str, ip: str) -> tuple[str, dict]:
        email = email.strip().lower()
        window, limit = self.config.login_window_secs, self.config.login_max_failures
        # Each attempt is counted before the password is checked (an atomic increment), and given
        # back when it turns out right: counted after the check, every guess already in flight would
        # pass, and 120 parallel guesses got 119 answers where the limit is 10.
        limits = {f"login:email:{tenant_id}:{email}": limit, f"login:ip:{ip}": limit * 5}
        decisions = await asyncio.gather(*(self.limiter.hit(key, n, window) for key, n in limits.items()))
        refused = [d for d in decisions if not d.allowed]
        if refused:
            for key, decision in zip(limits, decisions):
                if decision.allowed:  # not tried: this attempt does not count against the other key
                    await self.limiter.refund(key)
            raise RateLimited("too many failed sign-in attempts; try again later",
                              max(d.retry_after_secs for d in refused))
        agent = await self.store.get_agent_by_email(tenant_id, email)
        # bcrypt takes a few hundred ms: in a thread (it releases the GIL), never on the event loop,
        # where it would hold up every socket and request of this worker meanwhile.
        loop = asyncio.get_running_loop()
        if agent is None:
            # same cost as a wrong password: no account probing by timing
            await loop.run_in_executor(None, burn_password_check, password)
            ok = False
        else:
            ok = await loop.run_in_executor(None, check_password, password, agent["password_hash"])
        if not ok or not agent["active"]:
            raise Unauthorized("wrong email, password or tenant", code="invalid_credentials")
        email_key, ip_key = limits
        await self.limiter.reset(email_key)  # a right password clears the account's failures
        await self.limiter.refund(ip_key)
        return self.signer.agent_token(agent), agent

    async def agent_from_token(self, token: str) -> dict:
        """The active agent a token belongs to; Unauthorized for anything else (incl. revoked)."""
        try:
            claims = self.signer.read_agent(token)
        except InvalidToken:
            raise Unauthorized("invalid or expired token", code="invalid_token") from None
        agent = await self.store.get_agent(claims.tenant_id, claims.agent_id)
        if agent is None or not agent["active"] or agent["token_version"] != claims.token_version:
            raise Unauthorized("this sign-in is no longer valid; sign in again", code="token_revoked")
        return agent

    async def visitor_from_token(self, token: str) -> Actor:
        """The visitor a token belongs to, bound to its one conversation; Unauthorized otherwise."""
        try:
            claims = self.signer.read_visitor(token)
        except InvalidToken:
            raise Unauthorized("invalid or expired visitor token", code="invalid_token") from None
        session = await self.store.get_session(claims.tenant_id, claims.session_id)
        if session is None or session["visitor_id"] != claims.visitor_id:
            raise Unauthorized("this chat no longer exists; start a new one", code="invalid_token")
        return Actor.of_visitor(session)

    # ---- sockets -------------------------------------------------------------------

    @staticmethod
    def _check_hint(tenant_id: str, tenant_hint: str | None) -> None:
        if tenant_hint is not None and tenant_hint != tenant_id:
            raise Unauthorized("the token is not for the tenant in ?tenant=", code="tenant_mismatch")

    async def socket_identity(self, token: str, tenant_hint: str | None = None) -> tuple[Actor, dict | None,
                                                                                      list[str] | None]:
        """Who a socket's token is: (actor, the agent's row, None) for an agent, (actor, None, the tenant's
        allowed origins) for a visitor; Unauthorized for anything else, and when `tenant_hint` (the socket's
        ?tenant=) names another tenant. The token is decoded once (visitors are most sockets)."""
        try:
            claims = self.signer.read_visitor(token)
        except InvalidToken:
            try:
                agent_claims = self.signer.read_agent(token)
            except InvalidToken:
                raise Unauthorized("invalid or expired token", code="invalid_token") from None
            agent = await self.agent_for_socket(agent_claims, tenant_hint)
            return Actor.of_agent(agent), agent, None
        actor, allowed_origins = await self.visitor_for_socket(claims, tenant_hint)
        return actor, None, allowed_origins

    async def agent_for_socket(self, claims: AgentClaims, tenant_hint: str | None = None) -> dict:
        """The agent a socket's token (`claims`) belongs to: this worker's cached row when it has one for this
        token version, else the store's (read in a batch with the other sockets'). Unauthorized otherwise.
        Not final on its own: `socket_catch_up(..., agent=...)` checks it again once the socket is registered."""
        self._check_hint(claims.tenant_id, tenant_hint)
        agent = self.agent_cache.get(claims.tenant_id, claims.agent_id, claims.token_version)
        if agent is not None:
            return agent
        agent = await self.socket_reads.agent(claims.tenant_id, claims.agent_id)
        if agent is None or not agent["active"] or agent["token_version"] != claims.token_version:
            raise Unauthorized("this sign-in is no longer valid; sign in again", code="token_revoked")
        self.agent_cache.put(agent)
        return agent

    async def visitor_for_socket(self, claims: VisitorClaims, tenant_hint: str | None = None) -> tuple[Actor,
                                                                                                     list[str]]:
        """The visitor a socket's token (`claims`) belongs to, bound to its conversation (read in a batch with the
        other sockets'), and its tenant's allowed origins, as they are now; Unauthorized otherwise (a session
        that no longer exists included)."""
        self._check_hint(claims.tenant_id, tenant_hint)
        row = await self.socket_reads.session(claims.tenant_id, claims.session_id)
        if row is None or row["visitor_id"] != claims.visitor_id:
            raise Unauthorized("this chat no longer exists; start a new one", code="invalid_token")
        session = {field: row[field] for field in domain.VISITOR_SESSION_FIELDS}  # (a row may serve two sockets)
        return Actor.of_visitor(session), row["allowed_origins"]

    async def socket_catch_up(self, actor: Actor, after: dict[str, int], limit: int,
                              agent: dict | None = None) -> tuple[dict | None, dict[str, list[dict]]]:
        """What a registered socket missed: per session of `after` (session id -> last seq seen), up to `limit`
        messages after it that `actor` may read (a visitor: its own conversation, no private notes; an
        agent: its tenant's), read in a batch with the other sockets'. With `agent` (the row the socket was
        let in with), that agent as the store has it now, or None when it was revoked meanwhile."""
        visitor = actor.kind == domain.VISITOR
        sessions = [sid for sid in after if not visitor or sid == actor.session_id]
        reads = [CatchUp(actor.tenant_id, sid, after[sid], visitor, limit) for sid in sessions]
        if agent is None:
            pages = await self.socket_reads.catch_up(reads)
            return None, dict(zip(sessions, pages))
        fresh, pages = await asyncio.gather(self.socket_reads.agent(agent["tenant_id"], agent["id"]),
                                            self.socket_reads.catch_up(reads))
        if fresh is None or not fresh["active"] or fresh["token_version"] != agent["token_version"]:
            self.agent_cache.forget(agent["tenant_id"], agent["id"])
            return None, {}
        self.agent_cache.put(fresh)
        return fresh, dict(zip(sessions, pages))

    async def me(self, agent: dict) -> tuple[dict, dict | None]:
        """The signed-in agent and their tenant."""
        return agent, await self.store.get_tenant(agent["tenant_id"])


    async def change_password(self, agent: dict, current: str, new: str) -> tuple[str, dict]:
        """Bumps the token version: every older token and every open socket of the agent is revoked."""
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, check_password, current, agent["password_hash"]):
            raise Unauthorized("the current password is wrong", code="invalid_credentials")
        digest = await loop.run_in_executor(None, hash_password, new)
        updated = await self.store.update_agent(agent["tenant_id"], agent["id"], password_hash=digest)
        await self._revoke(updated)
        return self.signer.agent_token(updated), updated

    async def _revoke(self, agent: dict) -> None:
        # Every worker closes this agent's sockets (close code 4010); REST calls already fail on the version.
        self.agent_cache.forget(agent["tenant_id"], agent["id"])
        try:
            await self.bus.publish(events.Event(events.AGENT_REVOKED, agent["tenant_id"], {"agent_id": agent["id"]}))
        except BusUnavailable as exc:
            log.warning("could not announce the revocation of agent %s live: %s", agent["id"], exc)


class ChatService:
    def __init__(self, store: Store, publisher: EventPublisher, signer: TokenSigner, limiter: RateLimiter,
                 config: Config, metrics: Metrics, ai: AIService, push: PushNotifier, routing: RoutingService,
                 mail: MailService | None = None):
        self.store = store
        self.mail = mail
        self.routing = routing
        self.publisher = publisher
        self.signer = signer
        self.limiter = limiter
        self.config = config
        self.metrics = metrics
        self.ai = ai
        self.push = push

    async def publish(self, *evts: events.Event) -> None:
        await self.publisher.publish(*evts)

    # ---- visitors (widget) ----------------------------------------------

    async def find_tenant(self, tenant_id: str) -> dict | None:
        return await self.store.get_tenant(tenant_id)

    async def tenant_or_404(self, tenant_id: str) -> dict:
        tenant = await self.store.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant", code="tenant_not_found")
        return tenant

    async def start_session(self, *, tenant_id: str, channel: str, customer_name: str, customer_email: str,
                            page_url: str, user_agent: str, ip: str) -> tuple[dict, str, dict]:
        tenant = await self.tenant_or_404(tenant_id)
        decision = await self.limiter.hit(f"start:ip:{ip}", self.config.session_starts_per_ip,
                                          self.config.session_start_window_secs)
        if not decision.allowed:
            raise RateLimited("too many new chats from this address; try again later", decision.retry_after_secs)
        settings = tenant["settings"]
        if settings.get("require_name") and not customer_name:
            raise InvalidInput("customer_name is required by this site", code="customer_name_required")
        if settings.get("require_email") and not customer_email:
            raise InvalidInput("customer_email is required by this site", code="customer_email_required")
        open_now = self.routing.is_open(tenant)
        if not open_now and not customer_email:
            # Nobody answers before opening time: the reply has to reach the visitor by e-mail.
            raise InvalidInput("outside business hours an e-mail address is needed to answer you",
                               code="customer_email_required")
        queued = self.routing.mode(tenant) == "auto" and not self.ai.answers_first(tenant)
        session = await self.store.start_session(
            tenant_id, channel=channel, customer_name=customer_name, customer_email=customer_email,
            page_url=page_url, user_agent=user_agent[:400], queued=queued, after_hours=not open_now)
        token = self.signer.visitor_token(session["id"], tenant_id, session["visitor_id"])
        await self.publish(events.session_started(session))
        await self.publisher.to_webhooks(CONVERSATION_CREATED, session)
        self.push.on_session_started(session)
        if queued:
            # Given out now if someone has room: the answer then says so, not "number 1 in line".
            await self.routing.dispatch(tenant_id)
            session = await self.store.get_session(tenant_id, session["id"]) or session
        return session, token, tenant

    # ---- either side: who acts decides what they may see and do -------------------------

    async def session_of(self, actor: Actor, session_id: str) -> dict:
        """The conversation `actor` acts in. A visitor's token opens exactly its own (its row as the
        token was checked); anything else looks like it does not exist. An agent: any of the tenant's."""
        if actor.kind == domain.VISITOR:
            if actor.session_id != session_id:
                raise NotFound("no such session", code="session_not_found")
            return actor.session
        return await self.session_or_404(actor.tenant_id, session_id)

    async def send(self, actor: Actor, session_id: str, body: str, client_msg_id: str | None,
                   attachment_ids: list[str] = ()) -> SendResult:
        await self.session_of(actor, session_id)
        files = await self._files_to_send(actor.tenant_id, session_id, actor.kind, attachment_ids)
        result = await self.store.send_message(
            actor.tenant_id, session_id, sender_type=actor.kind, sender_id=actor.id, sender_name=actor.name,
            body=body, client_msg_id=client_msg_id, budget=self.message_budget, attachments=files)
        if result.created:
            await self.after_message(result)
        return result

    async def read(self, actor: Actor, session_id: str, seq: int) -> dict:
        """Move `actor`'s read mark (and its side's) to `seq`; everyone hears of a side's mark that moved,
        and of an agent's own mark that moved while the team's did not (who read what)."""
        before = await self.session_of(actor, session_id)
        updated = await self.store.mark_read(actor.tenant_id, session_id, actor.kind, seq, actor.id)
        column = f"{actor.kind}_read_seq"
        agent_id = actor.id if actor.kind == domain.AGENT else None
        if updated[column] != before[column]:
            await self.publish(events.message_read(updated, actor.kind, updated[column], agent_id))
        elif actor.kind == domain.AGENT and 0 < seq:
            await self.publish(events.message_read(updated, actor.kind, min(seq, updated["last_seq"]), agent_id))
        return updated

    async def typing(self, actor: Actor, session_id: str, is_typing: bool, origin: str) -> None:
        """Someone is typing: agents always hear it, the visitor only when an agent types. `origin`
        (the socket's id) keeps the typist's own socket from hearing itself."""
        await self.session_of(actor, session_id)
        who = ({"sender": domain.AGENT, "agent_id": actor.id, "name": actor.name} if actor.kind == domain.AGENT
               else {"sender": domain.VISITOR, "name": actor.name})
        await self.publish(events.Event(events.TYPING, actor.tenant_id, {
            "session_id": session_id, "is_typing": is_typing, "expires_in_ms": events.TYPING_TTL_MS, **who,
        }, session_id=session_id, to_agents=True, to_visitor=actor.kind == domain.AGENT, meta={"origin": origin}))

    async def visitor_history(self, actor: Actor, session_id: str, after_seq: int,
                              limit: int) -> tuple[dict, list[dict], dict | None]:
        session = await self.session_of(actor, session_id)
        msgs = await self.store.list_messages(actor.tenant_id, session_id, after_seq=after_seq,
                                              limit=min(limit, MAX_HISTORY_PAGE), visitor_view=True)
        agent = None
        if session["assigned_agent_id"]:
            agent = await self.store.get_agent(actor.tenant_id, session["assigned_agent_id"])
        return session, msgs, agent

    # ---- agents -----------------------------------------------------------

    async def list_sessions(self, agent: dict, *, status: str | None, assigned: str | None, query: str | None,
                            limit: int, cursor: tuple[int, str] | None, label: str | None = None):
        """(page, next cursor, and for a search that stopped before the end, the activity time it got
        back to: the next page goes on from there). `label`: only conversations with that label (a
        name the tenant does not have: an empty page)."""
        label_id = await self.store.label_id(agent["tenant_id"], label) if label else None
        if label and label_id is None:
            return [], None, None
        flt = SessionFilter(
            label_id=label_id,
            status=status,
            assigned_agent_id=agent["id"] if assigned == "me" else (int(assigned) if assigned and assigned.isdigit()
                                                                   else None),
            unassigned=assigned == "none",
            query=query or None,
        )
        if flt.query:
            return await self.store.search_sessions(agent["tenant_id"], flt, limit=min(limit, MAX_PAGE_SIZE),
                                                    cursor=cursor, scan_sessions=self.config.search_scan_sessions)
        rows, next_cursor = await self.store.list_sessions(agent["tenant_id"], flt, limit=min(limit, MAX_PAGE_SIZE),
                                                           cursor=cursor)
        return rows, next_cursor, None

    async def session_or_404(self, tenant_id: str, session_id: str) -> dict:
        session = await self.store.get_session(tenant_id, session_id)
        if session is None:
            raise NotFound("no such session", code="session_not_found")
        return session

    async def session_detail(self, agent: dict, session_id: str) -> tuple[dict, dict | None, list[dict]]:
        session = await self.session_or_404(agent["tenant_id"], session_id)
        assigned = None
        if session["assigned_agent_id"]:
            assigned = await self.store.get_agent(agent["tenant_id"], session["assigned_agent_id"])
        previous = await self.store.visitor_history(agent["tenant_id"], session["visitor_id"],
                                                    session["customer_email"], exclude=session_id)
        session["read_marks"] = await self.store.list_read_marks(agent["tenant_id"], session_id)
        return session, assigned, previous

    async def list_messages(self, agent: dict, session_id: str, *, after_seq: int, before_seq: int | None,
                            limit: int) -> tuple[dict, list[dict]]:
        session = await self.session_or_404(agent["tenant_id"], session_id)
        msgs = await self.store.list_messages(agent["tenant_id"], session_id, after_seq=after_seq,
                                              before_seq=before_seq, limit=min(limit, MAX_HISTORY_PAGE))
        return session, msgs

    # ---- attachments ----------------------------------------------------------

    async def upload(self, actor: Actor, session_id: str, filename: str | None, data: bytes,
                     ip: str | None = None) -> dict:
        """Keep a file `actor` uploads to a conversation. A visitor's address counts too (`ip`): new
        chats are cheap, so one address may upload five visitors' worth."""
        await self.session_of(actor, session_id)
        return await self._upload(actor.tenant_id, session_id, actor.kind, actor.id, filename, data,
                                  ip=ip if actor.kind == domain.VISITOR else None)

    async def attachment(self, actor: Actor, session_id: str, attachment_id: str) -> dict:
        if actor.kind == domain.VISITOR:
            await self.session_of(actor, session_id)
        return await self.store.get_attachment(actor.tenant_id, session_id, attachment_id)

    async def delete_attachment(self, actor: Actor, session_id: str, attachment_id: str) -> None:
        if actor.kind == domain.VISITOR:
            await self.session_of(actor, session_id)
        await self.store.delete_unsent_attachment(actor.tenant_id, session_id, attachment_id, actor.kind)

    async def _upload(self, tenant_id: str, session_id: str, uploader_type: str, uploader_id: int,
                      filename: str | None, data: bytes, ip: str | None = None) -> dict:
        if len(data) > self.config.max_upload_bytes:
            raise attachments.file_too_large(self.config.max_upload_bytes)
        name = attachments.clean_filename(filename)
        content_type, kind = attachments.sniff(name, data)
        limits = [(f"upload:{uploader_type}:{tenant_id}:{uploader_id}", self.config.uploads_per_window)]
        if ip is not None:  # a visitor: new chats are cheap, so the address counts too (five visitors' worth)
            limits.append((f"upload:ip:{ip}", self.config.uploads_per_window * 5))
        for key, limit in limits:
            decision = await self.limiter.hit(key, limit, self.config.upload_window_secs)
            if not decision.allowed:
                raise RateLimited("too many files sent; try again later", decision.retry_after_secs)
        row = await self.store.create_attachment(
            tenant_id, session_id, uploader_type=uploader_type, uploader_id=uploader_id, filename=name,
            content_type=content_type, kind=kind, data=data,
            session_quota_bytes=self.config.max_upload_bytes * self.config.upload_quota_files)
        self.metrics.attachments_stored.labels(kind).inc()
        self.metrics.attachment_bytes.inc(len(data))
        return attachments.attachment_meta(row)

    async def _files_to_send(self, tenant_id: str, session_id: str, sender_type: str,
                             attachment_ids: list[str]) -> list[dict] | None:
        """The metadata of the files a message is sent with, in the order given: each must have been
        uploaded to this session by this side of the conversation."""
        if not attachment_ids:
            return None
        found = await self.store.attachments_of_session(tenant_id, session_id, attachment_ids)
        missing = [i for i in attachment_ids if i not in found or found[i]["uploader_type"] != sender_type]
        if missing:
            raise InvalidInput(f"attachment {missing[0]} was not uploaded to this conversation by you; "
                               "upload it to …/attachments first", code="attachment_not_found")
        return [attachments.attachment_meta(found[i]) for i in attachment_ids]

    @property
    def message_budget(self) -> tuple[int, int]:
        """Messages per session and sender (REST and WS alike), per window: counted by the store in
        the session row, so all workers share it; per sender, so a visitor flooding a chat does not
        silence the agent answering it."""
        return self.config.messages_per_session, self.config.message_window_secs

    async def after_message(self, result: SendResult) -> None:
        msg = result.message
        self.metrics.messages_stored.labels(msg["sender_type"]).inc()
        session = result.session or await self.store.get_session(msg["tenant_id"], msg["session_id"])
        evts = [events.message_new(msg, session)]
        if result.reopened and session is not None:
            evts.append(events.session_status(session, None, resolved=False))
            if session["assigned_agent_id"] is None:
                self.routing.reopened(session)
        await self.publish(*evts)
        await self.publisher.message_to_webhooks(msg, session)
        self.push.on_message(msg, session)
        if self.mail is not None:
            self.mail.on_agent_reply(msg, session)  # (it keeps agent and AI replies only)
        if msg["sender_type"] == domain.VISITOR:
            await self.ai.on_visitor_message(msg, session)

    async def _agent_in_tenant(self, agent: dict, agent_id: int) -> dict:
        target = await self.store.get_agent(agent["tenant_id"], agent_id)
        if target is None:
            raise NotFound("no such agent", code="agent_not_found")
        if not target["active"]:
            raise Conflict("that agent is deactivated", code="agent_inactive")
        return target

    async def assign(self, agent: dict, session_id: str, agent_id: int | None) -> dict:
        target = agent if agent_id is None or agent_id == agent["id"] else await self._agent_in_tenant(agent, agent_id)
        session = await self.session_or_404(agent["tenant_id"], session_id)
        if session["status"] == "resolved":
            raise Conflict("the session is resolved; reopen it first", code="session_resolved")
        if session["assigned_agent_id"] == target["id"]:
            return session
        if session["assigned_agent_id"] is not None:
            # Assign only takes a waiting session; moving a taken one is a transfer (with its own rules).
            raise Conflict("the session is assigned to another agent; transfer it instead",
                           code="assignment_conflict")
        note = f"{target['name']} joined the conversation"
        if target["id"] != agent["id"]:
            note = f"{agent['name']} assigned the conversation to {target['name']}"
        session, added = await self.store.set_assignment(
            agent["tenant_id"], session_id, target["id"], expected_agent_id=session["assigned_agent_id"],
            system_note=note)
        await self.publish(*(events.message_new(msg, session) for msg in added),
                           events.session_assigned(session, target, agent), events.agent_joined(session, target))
        await self.publisher.to_webhooks(CONVERSATION_ASSIGNED, session, agent=models.agent_model(target),
                                         by_agent_id=agent["id"])
        self.push.on_assigned(session, target, agent)
        self.routing.notify_later(session["tenant_id"])
        return session

    async def transfer(self, agent: dict, session_id: str, to_agent_id: int, note: str) -> dict:
        session = await self.session_or_404(agent["tenant_id"], session_id)
        if session["status"] == "resolved":
            raise Conflict("the session is resolved; reopen it first", code="session_resolved")
        if session["assigned_agent_id"] is None:
            raise Conflict("the session is not assigned; assign it instead", code="not_assigned")
        if session["assigned_agent_id"] == to_agent_id:
            raise Conflict("the session is already with that agent", code="already_assigned")
        if agent["role"] != "admin" and session["assigned_agent_id"] != agent["id"]:
            raise Forbidden("only the assigned agent or an admin can transfer this session")
        target = await self._agent_in_tenant(agent, to_agent_id)
        from_agent = await self.store.get_agent(agent["tenant_id"], session["assigned_agent_id"])
        # Both sides see that the conversation moved; the note for the next agent is the agents' alone.
        session, added = await self.store.set_assignment(
            agent["tenant_id"], session_id, target["id"], expected_agent_id=session["assigned_agent_id"],
            system_note=f"{agent['name']} transferred the conversation to {target['name']}",
            private_note=PrivateNote(agent["id"], agent["name"], note.strip()) if note.strip() else None)
        await self.publish(*(events.message_new(msg, session) for msg in added),
                           events.session_transferred(session, from_agent, target, agent),
                           events.session_assigned(session, target, agent), events.agent_joined(session, target))
        await self.publisher.to_webhooks(CONVERSATION_ASSIGNED, session, agent=models.agent_model(target),
                                         by_agent_id=agent["id"])
        self.push.on_assigned(session, target, agent)
        self.ai.summarize_later(session, "transfer")
        self.routing.changed(session["tenant_id"])  # the agent it left has a free slot
        return session

    async def set_resolved(self, agent: dict, session_id: str, resolved: bool) -> dict:
        await self.session_or_404(agent["tenant_id"], session_id)
        note = f"{agent['name']} {'resolved' if resolved else 'reopened'} the conversation"
        session, note_msg = await self.store.set_status(agent["tenant_id"], session_id,
                                                        "resolved" if resolved else "open", system_note=note)
        await self.publish(events.message_new(note_msg, session), events.session_status(session, agent, resolved))
        if resolved:
            await self.publisher.to_webhooks(CONVERSATION_RESOLVED, session, by_agent_id=agent["id"])
            self.ai.summarize_later(session, "resolve")
            self.routing.changed(session["tenant_id"])  # a slot is free: the next in line
        elif session["assigned_agent_id"] is None:
            self.routing.reopened(session)
        return session

    async def list_agents(self, agent: dict) -> list[dict]:
        return await self.store.list_agents(agent["tenant_id"])

    async def analytics(self, agent: dict, first: str | None, last: str | None, utc_offset_minutes: int,
                        zone: zoneinfo.ZoneInfo | None = None) -> dict:
        rng = analytics.parse_range(first, last, utc_offset_minutes, zone=zone)
        started, resolved = await self.store.analytics_rows(agent["tenant_id"], rng.start_ms, rng.end_ms)
        rated, per_label = await self.store.analytics_workspace_rows(agent["tenant_id"], rng.start_ms, rng.end_ms)
        doc = analytics.summarize(rng, started, resolved, await self.store.list_agents(agent["tenant_id"]),
                                  rated, per_label)
        if agent["role"] != "admin":  # colleagues' figures are for admins; an agent sees their own row
            doc["agents"] = [row for row in doc["agents"] if row["agent_id"] == agent["id"]]
        return doc
