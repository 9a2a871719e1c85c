"""The rows the analytics are computed from."""
from __future__ import annotations

import sqlalchemy as sa

from ..base import StoreBase
from ..schema import labels, session_labels, sessions


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

    async def analytics_workspace_rows(self, tenant_id: str, start_ms: int, end_ms: int) -> tuple[list[dict],
                                                                                                 list[dict]]:
        """The ratings given in [start_ms, end_ms) (when, the score, whose conversation), and for the
        conversations started in it, how many carry each label."""
        c, sl, lb = sessions.c, session_labels.c, labels.c
        rated = sa.select(c.rated_at_ms, c.rating_score, c.assigned_agent_id).where(
            c.tenant_id == tenant_id, c.rated_at_ms >= start_ms, c.rated_at_ms < end_ms,
            c.rating_score.is_not(None))
        per_label = (sa.select(lb.name, sa.func.count().label("conversations"))
                     .select_from(session_labels.join(labels, lb.id == sl.label_id).join(sessions, c.id == sl.session_id))
                     .where(sl.tenant_id == tenant_id, c.tenant_id == tenant_id, c.created_at_ms >= start_ms,
                            c.created_at_ms < end_ms)
                     .group_by(lb.id, lb.name).order_by(sa.func.count().desc(), lb.name))
        async with self._read() as conn:
            return (list((await conn.execute(rated)).mappings().all()),
                    list((await conn.execute(per_label)).mappings().all()))
