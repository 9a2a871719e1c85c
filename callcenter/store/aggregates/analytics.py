"""The rows the analytics are computed from."""
from __future__ import annotations

import sqlalchemy as sa

from ..base import StoreBase
from ..schema import sessions


class AnalyticsQueries(StoreBase):
    """A tenant's conversations started and resolved in a time range."""

    async def analytics_rows(self, tenant_id: str, start_ms: int, end_ms: int) -> tuple[list[dict], list[dict]]:
        """The tenant's conversations started in [start_ms, end_ms) (the columns the analytics need),
        and those resolved in it (when, and by whose conversation)."""
        c = sessions.c
        started = sa.select(c.created_at_ms, c.resolved_at_ms, c.status, c.assigned_agent_id, c.first_response_at_ms,
                            c.first_agent_response_at_ms, c.handoff_at_ms).where(
            c.tenant_id == tenant_id, c.created_at_ms >= start_ms, c.created_at_ms < end_ms)
        resolved = sa.select(c.resolved_at_ms, c.assigned_agent_id).where(
            c.tenant_id == tenant_id, c.status == "resolved", c.resolved_at_ms >= start_ms, c.resolved_at_ms < end_ms)
        async with self._read() as conn:
            return (list((await conn.execute(started)).mappings().all()),
                    list((await conn.execute(resolved)).mappings().all()))
