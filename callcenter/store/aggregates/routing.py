"""Routing: the queue of conversations waiting for an agent (auto mode), and giving them out by capacity.

A queued conversation is an open, unassigned one with `queued_at_ms` set (its place in line). Assigning
from the queue locks the tenant's row first: every worker deciding for a tenant at the same moment
takes its turn, so each conversation is given once and no agent goes over capacity.
"""
from __future__ import annotations

import statistics

import sqlalchemy as sa

from ...domain import SYSTEM
from ..base import StoreBase
from ..schema import agents, now_ms, sessions, tenants
from ..sends import CoreSendSql, SendRequest, store_batch

# First answers looked at for the queue's wait estimate: the newest this many, of the last this many days.
WAIT_SAMPLE_SESSIONS = 50
WAIT_SAMPLE_DAYS = 7


class RoutingQueries(StoreBase):
    """The routing queue of one tenant (every query takes the tenant id)."""

    async def queue_unassigned(self, tenant_id: str, *, only_handed_off: bool = False) -> int:
        """Put the tenant's open, unassigned conversations in line, oldest first (switching to auto);
        `only_handed_off`: only those the AI handed to humans (the AI answers the others)."""
        c = sessions.c
        cond = [c.tenant_id == tenant_id, c.status == "open", c.assigned_agent_id.is_(None), c.queued_at_ms.is_(None)]
        if only_handed_off:
            cond.append(c.handoff_at_ms.is_not(None))
        async with self._write() as conn:
            result = await conn.execute(sessions.update().where(*cond).values(queued_at_ms=c.created_at_ms))
        return result.rowcount

    async def enqueue(self, tenant_id: str, session_id: str) -> bool:
        """Put one open, unassigned conversation in line (now); False when it is not such (or is already)."""
        c = sessions.c
        async with self._write() as conn:
            result = await conn.execute(sessions.update().where(
                c.tenant_id == tenant_id, c.id == session_id, c.status == "open", c.assigned_agent_id.is_(None),
                c.queued_at_ms.is_(None)).values(queued_at_ms=now_ms()))
        return result.rowcount > 0

    async def clear_queue(self, tenant_id: str) -> int:
        """Nobody waits in line any more (switching to manual: the conversations stay unassigned)."""
        c = sessions.c
        async with self._write() as conn:
            result = await conn.execute(sessions.update().where(
                c.tenant_id == tenant_id, c.queued_at_ms.is_not(None)).values(queued_at_ms=None))
        return result.rowcount

    async def assign_from_queue(self, tenant_id: str, eligible_agent_ids: list[int], *,
                                limit: int = 200) -> list[tuple[dict, dict, dict]]:
        """Give queued conversations, in arrival order, to the eligible agents with room: each to the one
        with the fewest open conversations, ties to who waited longest since their last assignment.
        One transaction under the tenant's row lock; at most `limit` assignments. Returns (session row,
        agent row, the "joined" system message) per assignment, in queue order."""
        if not eligible_agent_ids:
            return []
        c, a = sessions.c, agents.c
        now = now_ms()
        async with self._write() as conn:
            locked = (await conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id)
                                         .with_for_update())).first()
            if locked is None:
                return []
            candidates = [dict(r._mapping) for r in (await conn.execute(agents.select().where(
                a.tenant_id == tenant_id, a.id.in_(eligible_agent_ids), a.active.is_(True),
                a.invited.is_(False)))).all()]
            if not candidates:
                return []
            loads = dict((await conn.execute(
                sa.select(c.assigned_agent_id, sa.func.count()).where(
                    c.tenant_id == tenant_id, c.status == "assigned",
                    c.assigned_agent_id.in_([r["id"] for r in candidates])).group_by(c.assigned_agent_id))).all())
            room = sum(max(0, r["max_conversations"] - loads.get(r["id"], 0)) for r in candidates)
            if room <= 0:
                return []
            still_waiting = (c.tenant_id == tenant_id, c.queued_at_ms.is_not(None), c.status == "open",
                             c.assigned_agent_id.is_(None))
            first = (await conn.execute(sa.select(c.id).where(*still_waiting).order_by(c.queued_at_ms, c.id)
                                        .limit(min(room, limit)))).scalars().all()
            # Locked in key order, as every send batch locks sessions (no deadlock with one); a manual assign
            # of one of these waits for this transaction and then finds it taken.
            locked_ids = set((await conn.execute(sa.select(c.id).where(c.id.in_(first), *still_waiting)
                                                 .order_by(c.id).with_for_update())).scalars().all())
            waiting = [session_id for session_id in first if session_id in locked_ids]
            # Least loaded first; then who waited longest (never assigned counts as longest); within this
            # batch, an agent just given one goes after those who were not.
            order = {r["id"]: (r["last_assigned_at_ms"] or 0, 0) for r in candidates}
            given: list[tuple[str, dict]] = []
            for turn, session_id in enumerate(waiting, start=1):
                free = [r for r in candidates if loads.get(r["id"], 0) < r["max_conversations"]]
                if not free:
                    break
                agent = min(free, key=lambda r: (loads.get(r["id"], 0), order[r["id"]], r["id"]))
                loads[agent["id"]] = loads.get(agent["id"], 0) + 1
                order[agent["id"]] = (now, turn)
                given.append((session_id, agent))
            if not given:
                return []
            # A few statements for the whole batch, whatever its size: one UPDATE per agent, the agents'
            # last assignment, and the "joined" lines as one send batch.
            by_agent: dict[int, list[str]] = {}
            for session_id, agent in given:
                by_agent.setdefault(agent["id"], []).append(session_id)
            for agent_id, session_ids in by_agent.items():
                await conn.execute(sessions.update().where(c.tenant_id == tenant_id, c.id.in_(session_ids)).values(
                    assigned_agent_id=agent_id, status="assigned", queued_at_ms=None, updated_at_ms=now))
            await conn.execute(agents.update().where(a.tenant_id == tenant_id, a.id.in_(list(by_agent))).values(
                last_assigned_at_ms=now))
            outcomes = await store_batch(CoreSendSql(conn), [
                SendRequest(tenant_id, session_id, SYSTEM, 0, "", f"{agent['name']} joined the conversation", None, now)
                for session_id, agent in given])
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome
            notes = [outcome.message for outcome in outcomes]
            rows = {r["id"]: dict(r) for r in (await conn.execute(sessions.select().where(
                c.tenant_id == tenant_id, c.id.in_([sid for sid, _ in given])))).mappings().all()}
        return [(rows[sid], {**agent, "last_assigned_at_ms": now}, note)
                for (sid, agent), note in zip(given, notes)]

    async def queue_snapshot(self, tenant_id: str, *, limit: int = 1000) -> tuple[list[str], int, int | None]:
        """(the first `limit` queued conversations' ids in line order, how many are queued, when the
        oldest was queued)."""
        c = sessions.c
        waiting = [c.tenant_id == tenant_id, c.queued_at_ms.is_not(None)]
        async with self._read() as conn:
            ids = (await conn.execute(sa.select(c.id).where(*waiting).order_by(c.queued_at_ms, c.id)
                                      .limit(limit))).scalars().all() if limit > 0 else []
            count, oldest = (await conn.execute(sa.select(sa.func.count(), sa.func.min(c.queued_at_ms))
                                                .where(*waiting))).one()
        return list(ids), count, oldest

    async def queue_position(self, tenant_id: str, session_id: str) -> int | None:
        """1 for the next in line; None when the conversation is not queued."""
        c = sessions.c
        async with self._read() as conn:
            mine = (await conn.execute(sa.select(c.queued_at_ms).where(
                c.tenant_id == tenant_id, c.id == session_id))).scalar()
            if mine is None:
                return None
            ahead = (await conn.execute(sa.select(sa.func.count()).where(
                c.tenant_id == tenant_id, c.queued_at_ms.is_not(None),
                sa.or_(c.queued_at_ms < mine, sa.and_(c.queued_at_ms == mine, c.id < session_id))))).scalar_one()
        return ahead + 1

    async def tenants_with_queue(self, *, limit: int = 1000) -> list[str]:
        async with self._read() as conn:
            return list((await conn.execute(sa.select(sessions.c.tenant_id).where(
                sessions.c.queued_at_ms.is_not(None)).distinct().limit(limit))).scalars().all())

    async def typical_first_response_secs(self, tenant_id: str) -> int | None:
        """The median time to a person's first answer over the tenant's newest WAIT_SAMPLE_SESSIONS
        answered conversations of the last WAIT_SAMPLE_DAYS days; None without any."""
        c = sessions.c
        since = now_ms() - WAIT_SAMPLE_DAYS * 86_400_000
        async with self._read() as conn:
            rows = (await conn.execute(sa.select(c.created_at_ms, c.first_agent_response_at_ms).where(
                c.tenant_id == tenant_id, c.created_at_ms >= since, c.first_agent_response_at_ms.is_not(None))
                .order_by(c.created_at_ms.desc()).limit(WAIT_SAMPLE_SESSIONS))).all()
        if not rows:
            return None
        return round(statistics.median(max(0, first - created) for created, first in rows) / 1000)
