"""The team: invitations and password-reset links, agents' roles, names and preferences, (de)activation
under the last-admin rule, and the AI's token use per day (the admin console's chart).

One-time links: `secrets.token_urlsafe(32)`, kept only as their SHA-256, valid LINK_TTL_SECS, used
once; a new link for an agent ends their older ones. Whatever is wrong with a token (unknown, used,
expired) answers one error, 404 invitation_invalid, so a caller learns nothing from trying. The
public routes that take a token are limited per address like sign-in.

Every change is recorded in the audit log; changes of role, deactivation and a reset link sign the
agent out everywhere (token_version, and the revocation event that closes their sockets).
"""
from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import secrets
import time

from .audit import AuditService
from .bus import Bus, BusUnavailable
from .config import Config
from .domain import agent_preferences, agent_preferences_json, require_admin
from .errors import Conflict, Forbidden, NotFound, RateLimited
from . import events
from .routing import RoutingService
from .security import RateLimiter, TokenSigner, hash_password
from .store import Store

log = logging.getLogger("callcenter.team")

LINK_TTL_SECS = 72 * 3600
INVITE_URL = "/?invite={token}"
# Stored for an invited agent: no bcrypt hash matches it, so no password opens the account.
UNUSABLE_PASSWORD_HASH = "!invited"
MAX_USAGE_DAYS = 90


def clock() -> float:
    """Seconds since the epoch (tests move it to see links expire)."""
    return time.time()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invalid_link() -> NotFound:
    return NotFound("this link is not valid (unknown, already used or expired); ask an admin for a new one",
                    code="invitation_invalid")



class TeamService:
    def __init__(self, store: Store, signer: TokenSigner, limiter: RateLimiter, config: Config, bus: Bus,
                 audit: AuditService, routing: RoutingService):
        self.store = store
        self.routing = routing
        self.signer = signer
        self.limiter = limiter
        self.config = config
        self.bus = bus
        self.audit = audit

    # ---- links ----------------------------------------------------------------------------------

    @staticmethod
    def _new_link() -> tuple[str, str, int]:
        token = secrets.token_urlsafe(32)
        return token, token_hash(token), int((clock() + LINK_TTL_SECS) * 1000)

    async def invite(self, admin: dict, email: str, name: str, role: str) -> tuple[dict, dict]:
        """(the invited agent, {url, expires_at_ms})."""
        require_admin(admin, "invite agents")
        token, digest, expires = self._new_link()
        agent, _ = await self.store.invite_agent(admin["tenant_id"], email, name, role, UNUSABLE_PASSWORD_HASH,
                                                 digest, expires)
        await self.audit.record(admin, "agent.invited", "agent", agent["id"], {"email": agent["email"], "role": role})
        return agent, {"url": INVITE_URL.format(token=token), "expires_at_ms": expires}

    async def renew_invitation(self, admin: dict, agent_id: int) -> dict:
        require_admin(admin, "invite agents")
        agent = await self._agent(admin, agent_id)
        if not agent["invited"]:
            raise Conflict("that agent has accepted their invitation already", code="not_invited")
        token, digest, expires = self._new_link()
        await self.store.replace_link(admin["tenant_id"], agent_id, "invite", digest, expires)
        await self.audit.record(admin, "agent.invitation_renewed", "agent", agent_id, {"email": agent["email"]})
        return {"url": INVITE_URL.format(token=token), "expires_at_ms": expires}

    async def password_reset(self, admin: dict, agent_id: int) -> dict:
        """A one-time link to set a new password; the agent is signed out everywhere at once."""
        require_admin(admin, "reset passwords")
        agent = await self._agent(admin, agent_id)
        if agent["invited"]:
            raise Conflict("that agent has not accepted their invitation; send a new one", code="agent_invited")
        if not agent["active"]:
            raise Conflict("that agent is deactivated; reactivate them first", code="agent_inactive")
        token, digest, expires = self._new_link()
        await self.store.replace_link(admin["tenant_id"], agent_id, "reset", digest, expires, bump_token_version=True)
        await self._revoke(agent)
        await self.audit.record(admin, "agent.password_reset", "agent", agent_id, {"email": agent["email"]})
        return {"url": INVITE_URL.format(token=token), "expires_at_ms": expires}

    async def _limit(self, ip: str) -> str:
        """Counted like a failed sign-in (given back when the token turns out good)."""
        key = f"invite:ip:{ip}"
        decision = await self.limiter.hit(key, self.config.login_max_failures * 5, self.config.login_window_secs)
        if not decision.allowed:
            raise RateLimited("too many attempts; try again later", decision.retry_after_secs)
        return key

    async def link_info(self, token: str, ip: str) -> dict:
        key = await self._limit(ip)
        link = await self.store.find_link(token_hash(token), int(clock() * 1000)) if token else None
        if link is None or (link["purpose"] == "invite") != bool(link["agent"]["invited"]):
            raise invalid_link()
        await self.limiter.refund(key)
        return link

    async def accept(self, token: str, password: str, ip: str) -> tuple[str, dict]:
        """Set the password, activate, burn the link: (a sign-in token, the agent), like login."""
        await self.link_info(token, ip)  # (the limit, and the cheap refusals before bcrypt)
        digest = await asyncio.get_running_loop().run_in_executor(None, hash_password, password)
        agent = await self.store.use_link(token_hash(token), int(clock() * 1000), digest)
        if agent is None:
            raise invalid_link()
        await self._revoke(agent)  # sockets of an older sign-in (a reset) close
        action = "agent.invitation_accepted" if agent["link_purpose"] == "invite" else "agent.password_changed"
        await self.audit.record(agent, action, "agent", agent["id"], {"email": agent["email"]})
        return self.signer.agent_token(agent), agent

    # ---- agents ---------------------------------------------------------------------------------

    async def _agent(self, admin: dict, agent_id: int) -> dict:
        agent = await self.store.get_agent(admin["tenant_id"], agent_id)
        if agent is None:
            raise NotFound("no such agent", code="agent_not_found")
        return agent

    async def update_agent(self, actor: dict, agent_id: int, changes: dict) -> dict:
        """An admin changes anyone's role, name and capacity; an agent their own name, colour, preferences
        and capacity (max_conversations)."""
        own = agent_id == actor["id"]
        if actor["role"] != "admin":
            if not own or "role" in changes:
                raise Forbidden("agents may change only their own name, colour, preferences and capacity",
                                code="admin_only")
        elif not own and set(changes) - {"role", "name", "max_conversations"}:
            raise Forbidden("colour and preferences are the agent's own to change", code="own_settings_only")
        target = await self._agent(actor, agent_id)
        values = dict(changes)
        if "preferences" in values:
            values["preferences"] = agent_preferences_json({**agent_preferences(target.get("preferences")),
                                                           **values["preferences"]})
        role_change = "role" in values and values["role"] != target["role"]
        demotion = role_change and target["role"] == "admin"
        before, after = await self.store.change_agent(actor["tenant_id"], agent_id, values, revoke=role_change,
                                                      keep_an_admin=demotion)
        if role_change:
            await self._revoke(after)
            await self.audit.record(actor, "agent.role_changed", "agent", agent_id,
                                    {"from": before["role"], "to": after["role"]})
        changed = [k for k in ("name", "max_conversations") if k in values and before[k] != after[k]]
        if changed:
            await self.audit.record(actor, "agent.updated", "agent", agent_id, {"fields": changed})
        if "max_conversations" in changed:
            self.routing.changed(actor["tenant_id"])  # more room: the queue moves; less: the team view
        return after

    async def set_active(self, admin: dict, agent_id: int, active: bool) -> dict:
        require_admin(admin, "change agents")
        if agent_id == admin["id"] and not active:
            raise Conflict("you cannot deactivate yourself", code="cannot_deactivate_self")
        target = await self._agent(admin, agent_id)
        if active and target["invited"]:
            raise Conflict("that agent has not accepted their invitation yet", code="agent_invited")
        if bool(target["active"]) == active and not target["invited"]:
            return target
        _, after = await self.store.change_agent(admin["tenant_id"], agent_id, {"active": active},
                                                 revoke=not active, keep_an_admin=not active)
        if not active:
            await self._revoke(after)
        await self.audit.record(admin, "agent.activated" if active else "agent.deactivated", "agent", agent_id,
                                {"email": after["email"]})
        return after

    async def _revoke(self, agent: dict) -> None:
        # Every worker closes this agent's sockets (close code 4010); REST calls already fail on the version.
        try:
            await self.bus.publish(events.Event(events.AGENT_REVOKED, agent["tenant_id"], {"agent_id": agent["id"]}))
        except BusUnavailable as exc:
            log.warning("could not announce the revocation of agent %s live: %s", agent["id"], exc)

    # ---- AI usage ---------------------------------------------------------------------------------

    async def ai_usage(self, agent: dict, days: int) -> list[dict]:
        """Tokens per UTC day, the last `days` days (today last), zeros included."""
        today = datetime.datetime.fromtimestamp(clock(), datetime.timezone.utc).date()
        dates = [(today - datetime.timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
        used = await self.store.ai_tokens_by_day(agent["tenant_id"], dates[0], dates[-1])
        return [{"date": d, "tokens": used.get(d, 0)} for d in dates]
