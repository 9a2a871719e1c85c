"""The sockets' connect path without a database round trip each: reads batched across the sockets that
connect at once, and the agents a worker has checked kept for their next socket.

A reconnect storm (a worker dies; its thousands of clients come back to the others at once) used to cost
every socket three or more queries, each with its own pool checkout, and the checkouts were the limit
(docs/BENCHMARKS.md, "Connect burst"). `SocketReads` gathers what the sockets of one step of the loop
need (their sessions, their agents, the messages they missed) into one round trip, as the send writer
does for sends.

`AgentCache` keeps an agent row after a socket's check read it: the next socket of that agent on this
worker skips the read before it is registered. The cache never decides alone: every agent socket is
checked against the store again after it is registered with the hub (tenant channel subscribed), in the
same batched read as its catch-up, and before anything is sent to it. So a revocation (token_version
bump, deactivation) that this worker's cache did not hear of still closes the socket; one that commits
after that read reaches the registered socket through `chat.agent.revoked`. Revocations heard here
(`chat.agent.revoked`, this process's own) drop the entry; a bus outage drops them all.
"""
from __future__ import annotations

import collections
import time
from typing import Any

from .batching import Batcher
from .store import CatchUp, Store

# Agents kept per worker (least recently used dropped first) and for how long: the bound on memory,
# whatever tokens clients present (only rows the store confirmed as active agents get in).
AGENT_CACHE_MAX_ENTRIES = 5000
AGENT_CACHE_TTL_SECS = 300.0
# Items of one batched read (a socket's session, agent or catch-up each), and the reads in flight at once
# (reads need no order between them; while one waits on the database the next one's sockets gather).
SOCKET_READS_MAX_BATCH = 500
SOCKET_READS_CONCURRENCY = 4

SESSION, AGENT, CATCH_UP = "session", "agent", "catch_up"


class AgentCache:
    """(tenant id, agent id) -> (the agent's row, when it was read): LRU-bounded, entries expire."""

    def __init__(self, *, max_entries: int = AGENT_CACHE_MAX_ENTRIES, ttl_secs: float = AGENT_CACHE_TTL_SECS):
        self.max_entries = max_entries
        self.ttl_secs = ttl_secs
        self._entries: collections.OrderedDict[tuple[str, int], tuple[dict, float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tenant_id: str, agent_id: int, token_version: int) -> dict | None:
        """The agent's row when it is cached, fresh, active and of this token version; else None."""
        key = (tenant_id, agent_id)
        entry = self._entries.get(key)
        if entry is None:
            return None
        agent, read_at = entry
        if time.monotonic() - read_at > self.ttl_secs:
            del self._entries[key]
            return None
        if not agent["active"] or agent["token_version"] != token_version:
            return None
        self._entries.move_to_end(key)
        return agent

    def put(self, agent: dict) -> None:
        key = (agent["tenant_id"], agent["id"])
        self._entries[key] = (agent, time.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, tenant_id: str, agent_id: int) -> None:
        self._entries.pop((tenant_id, agent_id), None)

    def clear(self) -> None:
        self._entries.clear()


class SocketReads:
    """The connect path's reads, batched: everything asked for while a read runs goes in the next one."""

    def __init__(self, store: Store):
        self.store = store
        self.batcher: Batcher[tuple[str, Any], Any] = Batcher(self._flush, max_batch=SOCKET_READS_MAX_BATCH,
                                                               name="socket-reads",
                                                               concurrency=SOCKET_READS_CONCURRENCY)

    async def session(self, tenant_id: str, session_id: str) -> dict | None:
        """The session's VISITOR_SESSION_FIELDS and its tenant's "allowed_origins"; None when there is none."""
        return await self.batcher.submit((SESSION, (tenant_id, session_id)))

    async def agent(self, tenant_id: str, agent_id: int) -> dict | None:
        return await self.batcher.submit((AGENT, (tenant_id, agent_id)))

    async def catch_up(self, reads: list[CatchUp]) -> list[list[dict]]:
        """Each read's messages, in the order of `reads`."""
        if not reads:
            return []
        return await self.batcher.submit((CATCH_UP, reads))

    async def _flush(self, items: list[tuple[str, Any]]) -> list:
        session_keys = list(dict.fromkeys(key for kind, key in items if kind == SESSION))
        agent_keys = list(dict.fromkeys(key for kind, key in items if kind == AGENT))
        catch_ups = [read for kind, reads in items if kind == CATCH_UP for read in reads]
        found_sessions, found_agents, pages = await self.store.socket_reads(session_keys, agent_keys, catch_ups)
        outcomes: list = []
        taken = 0
        for kind, payload in items:
            if kind == SESSION:
                outcomes.append(found_sessions.get(payload))
            elif kind == AGENT:
                outcomes.append(found_agents.get(payload))
            else:
                outcomes.append(pages[taken:taken + len(payload)])
                taken += len(payload)
        return outcomes
