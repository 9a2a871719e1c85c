"""Agents: accounts, roles, sign-in versions, and their open conversations."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, NotFound
from ..base import StoreBase
from ..schema import agents, now_ms, row_dict, sessions


class AgentQueries(StoreBase):
    """Create, read and change agents (always within one tenant)."""

    async def create_agent(self, tenant_id: str, email: str, password_hash: str, name: str,
                           role: str = "agent") -> dict:
        row = {
            "tenant_id": tenant_id,
            "email": email.strip().lower(),
            "password_hash": password_hash,
            "name": name,
            "role": role,
            "active": True,
            "token_version": 1,
            "created_at_ms": now_ms(),
        }
        try:
            async with self._write() as conn:
                result = await conn.execute(agents.insert().values(**row))
                row["id"] = result.inserted_primary_key[0]
        except IntegrityError:
            raise Conflict(f"agent {email!r} already exists in tenant {tenant_id!r}") from None
        return row

    async def get_agent(self, tenant_id: str, agent_id: int) -> dict | None:
        async with self._read() as conn:
            row = (await conn.execute(
                agents.select().where(agents.c.tenant_id == tenant_id, agents.c.id == agent_id)
            )).first()
        return row_dict(row)

    async def get_agent_by_email(self, tenant_id: str, email: str) -> dict | None:
        async with self._read() as conn:
            row = (await conn.execute(
                agents.select().where(agents.c.tenant_id == tenant_id, agents.c.email == email.strip().lower())
            )).first()
        return row_dict(row)

    async def list_agents(self, tenant_id: str) -> list[dict]:
        async with self._read() as conn:
            rows = (await conn.execute(
                agents.select().where(agents.c.tenant_id == tenant_id).order_by(agents.c.name, agents.c.id)
            )).all()
            loads = (await conn.execute(
                sa.select(sessions.c.assigned_agent_id, sa.func.count())
                .where(sessions.c.tenant_id == tenant_id, sessions.c.status == "assigned")
                .group_by(sessions.c.assigned_agent_id)
            )).all()
        load_by_agent = {agent_id: count for agent_id, count in loads}
        return [dict(r._mapping, open_sessions=load_by_agent.get(r.id, 0)) for r in rows]

    async def update_agent(self, tenant_id: str, agent_id: int, *, password_hash: str | None = None,
                           active: bool | None = None, name: str | None = None, role: str | None = None) -> dict:
        """Apply the changes; a new password or deactivation bumps token_version, revoking old tokens."""
        values: dict[str, Any] = {}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if active is not None:
            values["active"] = active
        if name is not None:
            values["name"] = name
        if role is not None:
            values["role"] = role
        if password_hash is not None or active is False:
            values["token_version"] = agents.c.token_version + 1
        async with self._write() as conn:
            if values:
                result = await conn.execute(
                    agents.update().where(agents.c.tenant_id == tenant_id, agents.c.id == agent_id).values(**values)
                )
                if result.rowcount == 0:
                    raise NotFound("no such agent", code="agent_not_found")
            row = (await conn.execute(
                agents.select().where(agents.c.tenant_id == tenant_id, agents.c.id == agent_id)
            )).first()
        if row is None:
            raise NotFound("no such agent", code="agent_not_found")
        return row_dict(row)
