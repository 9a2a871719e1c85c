"""The admin console: one-time links (invitations, password resets), agents' roles and settings under
the last-admin rule, the audit log, and AI usage per day."""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, NotFound
from ..base import StoreBase
from ..schema import agent_links, agents, ai_usage, audit_events, now_ms, row_dict, tenants


class AdminQueries(StoreBase):
    """Links, the last-admin rule and the audit log (always within one tenant, except a link's lookup
    by its token's hash, which is what tells the tenant)."""

    # ---- agents ---------------------------------------------------------------------------------

    async def invite_agent(self, tenant_id: str, email: str, name: str, role: str, unusable_hash: str,
                           token_hash: str, expires_at_ms: int) -> tuple[dict, dict]:
        """A new agent, invited (cannot sign in), with its invitation link; Conflict for a taken email."""
        row = {"tenant_id": tenant_id, "email": email.strip().lower(), "password_hash": unusable_hash, "name": name,
               "role": role, "active": False, "invited": True, "token_version": 1, "created_at_ms": now_ms()}
        try:
            async with self._write() as conn:
                row["id"] = (await conn.execute(agents.insert().values(**row))).inserted_primary_key[0]
                link = await _add_link(conn, tenant_id, row["id"], "invite", token_hash, expires_at_ms)
        except IntegrityError:
            raise Conflict("an agent with that email already exists", code="email_taken") from None
        return row, link

    async def replace_link(self, tenant_id: str, agent_id: int, purpose: str, token_hash: str,
                           expires_at_ms: int, *, bump_token_version: bool = False) -> dict:
        """A fresh link for an agent; every earlier unused link of theirs stops working."""
        async with self._write() as conn:
            await _burn_links(conn, tenant_id, agent_id)
            values: dict[str, Any] = {}
            if bump_token_version:
                values["token_version"] = agents.c.token_version + 1
            if values:
                await conn.execute(agents.update().where(agents.c.tenant_id == tenant_id, agents.c.id == agent_id)
                                   .values(**values))
            return await _add_link(conn, tenant_id, agent_id, purpose, token_hash, expires_at_ms)

    async def find_link(self, token_hash: str, at_ms: int) -> dict | None:
        """The unused, unexpired link with this token hash, with its agent and tenant rows."""
        async with self._read() as conn:
            link = row_dict((await conn.execute(agent_links.select().where(
                agent_links.c.token_hash == token_hash, agent_links.c.used_at_ms.is_(None),
                agent_links.c.expires_at_ms > at_ms))).first())
            if link is None:
                return None
            agent = row_dict((await conn.execute(agents.select().where(
                agents.c.tenant_id == link["tenant_id"], agents.c.id == link["agent_id"]))).first())
            tenant = row_dict((await conn.execute(sa.select(tenants.c.id, tenants.c.name).where(
                tenants.c.id == link["tenant_id"]))).first())
        if agent is None or tenant is None:
            return None
        return {**link, "agent": agent, "tenant": tenant}

    async def use_link(self, token_hash: str, at_ms: int, password_hash: str) -> dict | None:
        """Burn the link (once: a second use finds nothing) and set its agent's password, making them
        active and signing out their older tokens. The agent row after, or None."""
        async with self._write() as conn:
            link = row_dict((await conn.execute(agent_links.select().where(
                agent_links.c.token_hash == token_hash).with_for_update())).first())
            if link is None or link["used_at_ms"] is not None or link["expires_at_ms"] <= at_ms:
                return None
            burned = await conn.execute(agent_links.update().where(
                agent_links.c.id == link["id"], agent_links.c.used_at_ms.is_(None)).values(used_at_ms=at_ms))
            if burned.rowcount != 1:
                return None
            where = (agents.c.tenant_id == link["tenant_id"], agents.c.id == link["agent_id"])
            agent = row_dict((await conn.execute(agents.select().where(*where))).first())
            if agent is None or (link["purpose"] == "reset" and not agent["active"]):
                return None  # a reset link of an agent deactivated since: nothing to sign in to
            await conn.execute(agents.update().where(*where).values(
                password_hash=password_hash, active=True, invited=False, token_version=agents.c.token_version + 1))
            await _burn_links(conn, link["tenant_id"], link["agent_id"], at_ms)
            return {**row_dict((await conn.execute(agents.select().where(*where))).first()),
                    "link_purpose": link["purpose"]}

    async def change_agent(self, tenant_id: str, agent_id: int, values: dict[str, Any], *,
                           revoke: bool = False, keep_an_admin: bool = False) -> tuple[dict, dict]:
        """(before, after) of an agent's change. `keep_an_admin`: refused with 409 last_admin when it
        would leave the tenant without an active admin; the tenant row's lock makes the count and the
        change one step for concurrent admins (InnoDB row lock; SQLite writes one at a time).
        `revoke`: their tokens stop working (token_version). Deactivation ends pending links."""
        async with self._write() as conn:
            if keep_an_admin:
                await conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update())
            where = (agents.c.tenant_id == tenant_id, agents.c.id == agent_id)
            before = row_dict((await conn.execute(agents.select().where(*where).with_for_update())).first())
            if before is None:
                raise NotFound("no such agent", code="agent_not_found")
            if keep_an_admin and before["role"] == "admin" and before["active"]:
                admins = (await conn.execute(sa.select(agents.c.id).where(
                    agents.c.tenant_id == tenant_id, agents.c.role == "admin", agents.c.active.is_(True))
                    .with_for_update())).all()
                if len(admins) <= 1:
                    raise Conflict("the tenant must keep at least one active admin", code="last_admin")
            values = dict(values)
            if revoke:
                values["token_version"] = agents.c.token_version + 1
            if values.get("active") is False:
                values["invited"] = False
                await _burn_links(conn, tenant_id, agent_id)
            if values:
                await conn.execute(agents.update().where(*where).values(**values))
            after = row_dict((await conn.execute(agents.select().where(*where))).first())
        return before, after

    async def agent_preferences_of(self, tenant_id: str, agent_ids) -> dict[int, str | None]:
        """The stored preferences (JSON or None) of these agents."""
        async with self._read() as conn:
            rows = (await conn.execute(sa.select(agents.c.id, agents.c.preferences).where(
                agents.c.tenant_id == tenant_id, agents.c.id.in_(list(agent_ids))))).all()
        return {agent_id: prefs for agent_id, prefs in rows}

    # ---- the audit log --------------------------------------------------------------------------

    async def add_audit_event(self, tenant_id: str, actor_id: int | None, actor_name: str, action: str,
                              target_type: str, target_id: str | None, details: dict) -> None:
        async with self._write() as conn:
            await conn.execute(audit_events.insert().values(
                tenant_id=tenant_id, actor_id=actor_id, actor_name=actor_name[:200], action=action[:64],
                target_type=target_type[:32], target_id=None if target_id is None else str(target_id)[:64],
                details=json.dumps(details, ensure_ascii=False, default=str), created_at_ms=now_ms()))

    async def list_audit_events(self, tenant_id: str, *, limit: int, before_id: int | None) -> list[dict]:
        """Newest first; `before_id`: only older ones (the cursor)."""
        query = audit_events.select().where(audit_events.c.tenant_id == tenant_id)
        if before_id is not None:
            query = query.where(audit_events.c.id < before_id)
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(audit_events.c.id.desc()).limit(limit))).all()
        out = []
        for r in rows:
            row = dict(r._mapping)
            row["details"] = json.loads(row["details"] or "{}")
            out.append(row)
        return out

    # ---- AI usage per day -----------------------------------------------------------------------

    async def ai_tokens_by_day(self, tenant_id: str, first_day: str, last_day: str) -> dict[str, int]:
        c = ai_usage.c
        async with self._read() as conn:
            rows = (await conn.execute(
                sa.select(c.day, sa.func.coalesce(sa.func.sum(c.total_tokens), 0))
                .where(c.tenant_id == tenant_id, c.day >= first_day, c.day <= last_day).group_by(c.day))).all()
        return {day: int(total) for day, total in rows}


async def _add_link(conn, tenant_id: str, agent_id: int, purpose: str, token_hash: str, expires_at_ms: int) -> dict:
    row = {"tenant_id": tenant_id, "agent_id": agent_id, "token_hash": token_hash, "purpose": purpose,
           "created_at_ms": now_ms(), "expires_at_ms": expires_at_ms, "used_at_ms": None}
    row["id"] = (await conn.execute(agent_links.insert().values(**row))).inserted_primary_key[0]
    return row


async def _burn_links(conn, tenant_id: str, agent_id: int, at_ms: int | None = None) -> None:
    await conn.execute(agent_links.update().where(
        agent_links.c.tenant_id == tenant_id, agent_links.c.agent_id == agent_id,
        agent_links.c.used_at_ms.is_(None)).values(used_at_ms=at_ms or now_ms()))
