"""Agents' devices for Web Push."""
from __future__ import annotations

import hmac
from typing import Iterable

import sqlalchemy as sa

from ...errors import Conflict
from ..base import StoreBase
from ..schema import agents, now_ms, push_subscriptions


class PushQueries(StoreBase):
    """Push subscriptions: one row per browser, owned by one agent of one tenant."""

    async def save_push_subscription(self, tenant_id: str, agent_id: int, *, endpoint: str, endpoint_hash: str,
                                     p256dh: str, auth: str, user_agent: str, max_per_agent: int) -> tuple[dict, bool]:
        """Keep a device of this agent's; (row, created). A browser has one endpoint: stored for
        someone else before (another sign-in on that browser), it moves to this agent only when it
        comes with the same keys (its auth secret is known to that browser and us alone); anyone
        else who learnt the endpoint gets Conflict and the owner's row stays as it is. Beyond
        `max_per_agent` devices the one heard from least recently goes."""
        p = push_subscriptions.c
        async with self._write() as conn:
            found = (await conn.execute(push_subscriptions.select().where(p.endpoint_hash == endpoint_hash))).first()
            if found is not None and found.tenant_id == tenant_id and found.agent_id == agent_id:
                if (found.p256dh, found.auth) != (p256dh, auth):
                    await conn.execute(push_subscriptions.update().where(p.id == found.id).values(
                        p256dh=p256dh, auth=auth, failures=0))
                row = dict(found._mapping, p256dh=p256dh, auth=auth)
                return row, False
            if found is not None:
                same_browser = (hmac.compare_digest(found.auth.encode(), auth.encode())
                                and hmac.compare_digest(found.p256dh.encode(), p256dh.encode()))
                if not same_browser:
                    raise Conflict("this push endpoint belongs to another sign-in; subscribe this browser again",
                                   code="subscription_taken")
                await conn.execute(push_subscriptions.delete().where(p.id == found.id))
            row = {"tenant_id": tenant_id, "agent_id": agent_id, "endpoint_hash": endpoint_hash, "endpoint": endpoint,
                   "p256dh": p256dh, "auth": auth, "user_agent": user_agent, "created_at_ms": now_ms(),
                   "last_success_at_ms": None, "failures": 0}
            row["id"] = (await conn.execute(push_subscriptions.insert().values(**row))).inserted_primary_key[0]
            mine = (await conn.execute(sa.select(p.id).where(p.tenant_id == tenant_id, p.agent_id == agent_id)
                                       .order_by(sa.func.coalesce(p.last_success_at_ms, p.created_at_ms).desc(),
                                                 p.id.desc()))).scalars().all()
            if len(mine) > max_per_agent:
                await conn.execute(push_subscriptions.delete().where(p.id.in_(mine[max_per_agent:])))
        return row, True

    async def push_subscriptions_of(self, tenant_id: str, agent_ids: Iterable[int] | None = None) -> list[dict]:
        """The devices of the tenant's active agents (of `agent_ids` only, when given), oldest first."""
        p, a = push_subscriptions.c, agents.c
        query = (sa.select(push_subscriptions).join(agents, a.id == p.agent_id)
                 .where(p.tenant_id == tenant_id, a.tenant_id == tenant_id, a.active.is_(True)).order_by(p.id))
        if agent_ids is not None:
            query = query.where(p.agent_id.in_(list(agent_ids)))
        async with self._read() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings().all()]

    async def push_subscribed_agents(self, tenant_id: str) -> set[int]:
        """The tenant's agents with at least one device."""
        p = push_subscriptions.c
        async with self._read() as conn:
            return set((await conn.execute(sa.select(p.agent_id).where(p.tenant_id == tenant_id).distinct()))
                       .scalars().all())

    async def delete_push_subscription(self, tenant_id: str, agent_id: int | None, endpoint_hash: str) -> bool:
        """Forget a device (of this agent's only, unless agent_id is None); whether there was one."""
        p = push_subscriptions.c
        where = [p.tenant_id == tenant_id, p.endpoint_hash == endpoint_hash]
        if agent_id is not None:
            where.append(p.agent_id == agent_id)
        async with self._write() as conn:
            return (await conn.execute(push_subscriptions.delete().where(*where))).rowcount > 0

    async def record_push_result(self, subscription_id: int, delivered: bool) -> int:
        """After a push: a delivery clears the refusal count, a refusal adds one; the count after."""
        p = push_subscriptions.c
        values = ({"last_success_at_ms": now_ms(), "failures": 0} if delivered
                  else {"failures": p.failures + 1})
        async with self._write() as conn:
            await conn.execute(push_subscriptions.update().where(p.id == subscription_id).values(**values))
            if delivered:
                return 0
            return int((await conn.execute(sa.select(p.failures).where(p.id == subscription_id))).scalar() or 0)
