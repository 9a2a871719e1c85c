"""What connecting sockets read, for many sockets in one round trip each: their visitor sessions (with the
tenant's allowed origins), their agents, and the messages they missed (a reconnect storm brings thousands
of sockets back at once; one query per socket and kind made the database checkouts the limit)."""
from __future__ import annotations

import functools
import json

import sqlalchemy as sa

from ...domain import PRIVATE_SENDER_TYPES, VISITOR_SESSION_FIELDS
from ..base import StoreBase
from ..schema import agents, messages, sessions, tenants

# Parts of one UNION ALL (each a session's range on the (session_id, seq) key): a batch above it is split.
MAX_CATCH_UPS_PER_QUERY = 100
# Keys of one `IN` list.
MAX_KEYS_PER_QUERY = 500


class CatchUp(tuple):
    """(tenant_id, session_id, after_seq, visitor_view, limit): one socket's read of one session."""
    __slots__ = ()

    def __new__(cls, tenant_id: str, session_id: str, after_seq: int, visitor_view: bool, limit: int):
        return super().__new__(cls, (tenant_id, session_id, after_seq, visitor_view, limit))


class SocketQueries(StoreBase):
    """Reads of the sockets that connect (see the module's docstring); all on one connection."""

    async def socket_reads(self, session_keys: list[tuple[str, str]], agent_keys: list[tuple[str, int]],
                           catch_ups: list[CatchUp]) -> tuple[dict, dict, list[list[dict]]]:
        """({(tenant, session id): the session's VISITOR_SESSION_FIELDS + "allowed_origins" (the tenant's)},
        {(tenant, agent id): the agent's row}, [each catch-up's messages after its seq, in seq order, at most
        its limit; a visitor's without private notes]). Missing keys are simply absent; every read is scoped
        by its tenant."""
        found_sessions: dict = {}
        found_agents: dict = {}
        pages: list[list[dict]] = []
        async with self._read() as conn:
            s = sessions.c
            columns = [getattr(s, f) for f in VISITOR_SESSION_FIELDS]
            for start in range(0, len(session_keys), MAX_KEYS_PER_QUERY):
                keys = session_keys[start:start + MAX_KEYS_PER_QUERY]
                query = (sa.select(*columns, tenants.c.allowed_origins)
                         .join_from(sessions, tenants, tenants.c.id == s.tenant_id)
                         .where(sa.tuple_(s.tenant_id, s.id).in_(keys)))
                for row in (await conn.execute(query)).all():
                    out = dict(row._mapping)
                    out["allowed_origins"] = json.loads(out["allowed_origins"] or "[]")
                    found_sessions[(out["tenant_id"], out["id"])] = out
            for start in range(0, len(agent_keys), MAX_KEYS_PER_QUERY):
                keys = agent_keys[start:start + MAX_KEYS_PER_QUERY]
                query = agents.select().where(sa.tuple_(agents.c.tenant_id, agents.c.id).in_(keys))
                for row in (await conn.execute(query)).all():
                    found_agents[(row.tenant_id, row.id)] = dict(row._mapping)
            for start in range(0, len(catch_ups), MAX_CATCH_UPS_PER_QUERY):
                pages += await self._catch_ups(conn, catch_ups[start:start + MAX_CATCH_UPS_PER_QUERY])
        return found_sessions, found_agents, pages

    async def _catch_ups(self, conn, batch: list[CatchUp]) -> list[list[dict]]:
        """One UNION ALL of each session's range (a seek on the (session_id, seq) key each), tagged with
        the catch-up's place in the batch."""
        params: dict = {}
        for i, (tenant_id, session_id, after_seq, visitor_view, limit) in enumerate(batch):
            params.update({f"t{i}": tenant_id, f"s{i}": session_id, f"a{i}": after_seq, f"v{i}": int(visitor_view),
                           f"l{i}": limit})
        pages: list[list[dict]] = [[] for _ in batch]
        for row in (await conn.execute(_catch_up_statement(len(batch), self.is_sqlite), params)).all():
            out = dict(row._mapping)
            pages[out.pop("catch_up")].append(out)
        for page in pages:
            page.sort(key=lambda m: m["seq"])
        return pages


@functools.lru_cache(maxsize=2 * MAX_CATCH_UPS_PER_QUERY)
def _catch_up_statement(parts: int, sqlite: bool) -> sa.TextClause:
    """The catch-up query of `parts` sessions, written once per size: built with SQLAlchemy's compound
    select, compiling (and even its cache key) cost more than the query, for every batch."""
    names = ", ".join(c.name for c in messages.c)
    private = ", ".join(f"'{t}'" for t in PRIVATE_SENDER_TYPES)  # (constants of the domain, never input)
    selects = [f"SELECT {names}, {i} AS catch_up FROM messages WHERE tenant_id = :t{i} AND session_id = :s{i} "
               f"AND seq > :a{i} AND (:v{i} = 0 OR sender_type NOT IN ({private})) ORDER BY seq LIMIT :l{i}"
               for i in range(parts)]
    # SQLite takes ORDER BY / LIMIT in a compound's parts only inside a derived table each; MariaDB takes the
    # parts in parentheses, where a derived table each cost it 2-4 times as much (a temporary table each).
    template = "SELECT * FROM ({}) AS part" if sqlite else "({})"
    sql = " UNION ALL ".join(template.format(select) + (str(i) if sqlite else "") for i, select in enumerate(selects))
    return sa.text(sql).columns(*messages.c, sa.column("catch_up", sa.Integer))
