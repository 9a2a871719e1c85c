"""Who is connected, across all workers: agents (online/away/offline) and visitors.

A subject ("a:<agent id>" or "v:<session id>") has one small hash of its own,
worker id -> this worker's status for it. A subject is online while any live
worker has a field for it. Connecting or disconnecting is one round trip that
touches only that subject, whatever the number of sockets or tenants.

Workers prove they are alive with one heartbeat field each, refreshed every
PRESENCE_REFRESH_SECS: nothing per socket, so 10,000 idle sockets cost the
same housekeeping as one. A worker killed with -9 stops beating; after
PRESENCE_TTL_SECS a surviving worker's `sweep()` removes its fields (each
worker lists the subjects it holds) and reports who went offline because of
it (HDEL answers 1 on exactly one sweeper, so only one announces it). If Redis
itself lost the data (a restart without persistence), the next heartbeat
finds its own field missing and the worker writes its subjects again.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

PRESENCE_TTL_SECS = 30
PRESENCE_REFRESH_SECS = 10
STATUSES = ("online", "away")
# Pipelines stay this size when a worker rewrites its subjects (after a Redis restart).
REWRITE_BATCH = 1000

LocalEntries = Callable[[], dict[tuple[str, str], str]]

log = logging.getLogger("callcenter.presence")


def aggregate(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    if not statuses:
        return "offline"
    return "online" if "online" in statuses else "away"


class Presence:
    def __init__(self, worker_id: str):
        self.worker_id = worker_id

    async def set(self, tenant_id: str, subject: str, status: str | None) -> tuple[str, str]:
        """Record this worker's status for subject (None: gone); returns (before, after) aggregate."""
        raise NotImplementedError

    async def refresh(self, local: LocalEntries) -> None:
        """This worker's heartbeat; `local()` gives (tenant, subject) -> status, read only when needed."""
        raise NotImplementedError

    async def status(self, tenant_id: str, subject: str) -> str:
        raise NotImplementedError

    async def agents(self, tenant_id: str) -> dict[str, str]:
        """The tenant's agents that are online or away: subject -> status."""
        raise NotImplementedError

    async def sweep(self) -> list[tuple[str, str]]:
        """Remove dead workers' fields; (tenant_id, subject) pairs that went offline because of it."""
        raise NotImplementedError

    async def agent_statuses(self, tenant_id: str) -> dict[int, str]:
        """The tenant's agents online or away, by agent id; best effort (nothing when Redis fails)."""
        try:
            raw = await self.agents(tenant_id)
        except Exception as exc:  # best effort: presence never fails what asked for it
            log.warning("presence snapshot failed: %s", exc)
            return {}
        return {int(k[2:]): v for k, v in raw.items()}


class MemoryPresence(Presence):
    """One process: this worker's view is everyone's."""

    def __init__(self, worker_id: str = "0"):
        super().__init__(worker_id)
        self._status: dict[tuple[str, str], str] = {}

    async def set(self, tenant_id, subject, status):
        key = (tenant_id, subject)
        before = self._status.get(key, "offline")
        if status is None:
            self._status.pop(key, None)
        else:
            self._status[key] = status
        return before, self._status.get(key, "offline")

    async def refresh(self, local):
        pass

    async def status(self, tenant_id, subject):
        return self._status.get((tenant_id, subject), "offline")

    async def agents(self, tenant_id):
        return {s: st for (t, s), st in self._status.items() if t == tenant_id and s.startswith("a:")}

    async def sweep(self):
        return []  # one process: nothing can die without us


class RedisPresence(Presence):
    def __init__(self, redis, prefix: str, worker_id: str):
        super().__init__(worker_id)
        self.redis = redis
        self.prefix = prefix + "presence:"
        self.workers_key = self.prefix + "workers"
        self.owned_key = f"{self.prefix}owned:{worker_id}"
        # Workers whose heartbeat stopped (as of the last sweep): their fields do not count.
        self._dead: set[str] = set()

    def _subject_key(self, tenant_id: str, subject: str) -> str:
        return f"{self.prefix}s:{tenant_id}:{subject}"

    def _agents_key(self, tenant_id: str) -> str:
        return f"{self.prefix}agents:{tenant_id}"

    def _live(self, fields: dict) -> dict[str, str]:
        return {w.decode(): st.decode() for w, st in fields.items() if w.decode() not in self._dead}

    async def set(self, tenant_id, subject, status):
        key = self._subject_key(tenant_id, subject)
        member = f"{tenant_id}|{subject}"
        # MULTI/EXEC: what we read is exactly the state our write changed, even against other workers.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            if status is None:
                pipe.hdel(key, self.worker_id)
                pipe.srem(self.owned_key, member)
            else:
                pipe.hset(key, self.worker_id, status)
                pipe.sadd(self.owned_key, member)
                if subject.startswith("a:"):
                    pipe.sadd(self._agents_key(tenant_id), subject)
            fields = (await pipe.execute())[0]
        before = self._live(fields)
        after = dict(before)
        if status is None:
            after.pop(self.worker_id, None)
        else:
            after[self.worker_id] = status
        return aggregate(before.values()), aggregate(after.values())

    async def refresh(self, local):
        created = await self.redis.hset(self.workers_key, self.worker_id, str(time.time()))
        if not created:
            return
        # Our heartbeat was missing: first beat, or Redis lost its data. Write our subjects again.
        entries = list(local().items())
        for start in range(0, len(entries), REWRITE_BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for (tenant_id, subject), status in entries[start:start + REWRITE_BATCH]:
                    pipe.hset(self._subject_key(tenant_id, subject), self.worker_id, status)
                    pipe.sadd(self.owned_key, f"{tenant_id}|{subject}")
                    if subject.startswith("a:"):
                        pipe.sadd(self._agents_key(tenant_id), subject)
                await pipe.execute()

    async def status(self, tenant_id, subject):
        return aggregate(self._live(await self.redis.hgetall(self._subject_key(tenant_id, subject))).values())

    async def agents(self, tenant_id):
        subjects = sorted(s.decode() for s in await self.redis.smembers(self._agents_key(tenant_id)))
        if not subjects:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for subject in subjects:
                pipe.hgetall(self._subject_key(tenant_id, subject))
            results = await pipe.execute()
        out = {}
        for subject, fields in zip(subjects, results):
            status = aggregate(self._live(fields).values())
            if status != "offline":
                out[subject] = status
        return out

    async def sweep(self):
        now = time.time()
        beats = {w.decode(): float(t) for w, t in (await self.redis.hgetall(self.workers_key)).items()}
        dead = {w for w, beat in beats.items() if w != self.worker_id and beat < now - PRESENCE_TTL_SECS}
        self._dead = dead
        gone = []
        for worker in dead:
            owned_key = f"{self.prefix}owned:{worker}"
            for raw in await self.redis.smembers(owned_key):
                tenant_id, _, subject = raw.decode().rpartition("|")
                key = self._subject_key(tenant_id, subject)
                if await self.redis.hdel(key, worker) and not self._live(await self.redis.hgetall(key)):
                    gone.append((tenant_id, subject))
            if await self.redis.hdel(self.workers_key, worker):
                await self.redis.delete(owned_key)
        return gone
