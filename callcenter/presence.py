"""Who is connected, across all workers: agents (online/away/offline) and visitors.

Each worker records its own live subjects as fields `<subject>|<worker>` with a
status and an expiry, refreshed every PRESENCE_REFRESH_SECS. A subject is
online while any worker has an unexpired field for it, so a worker killed with
-9 drops out by itself after PRESENCE_TTL_SECS; the `sweep()` of a surviving
worker removes the stale fields and reports who went offline (HDEL returns 1
on exactly one worker, so only one announces it).
"""
from __future__ import annotations

import time
from collections import defaultdict

PRESENCE_TTL_SECS = 30
PRESENCE_REFRESH_SECS = 10
STATUSES = ("online", "away")


def _aggregate(statuses: list[str]) -> str:
    if not statuses:
        return "offline"
    return "online" if "online" in statuses else "away"


class Presence:
    def __init__(self, worker_id: str):
        self.worker_id = worker_id

    async def set(self, tenant_id: str, subject: str, status: str | None) -> tuple[str, str]:
        """Record this worker's status for subject (None: gone); returns (before, after) aggregate."""
        raise NotImplementedError

    async def refresh(self, entries: dict[tuple[str, str], str]) -> None:
        raise NotImplementedError

    async def snapshot(self, tenant_id: str, prefix: str = "a:") -> dict[str, str]:
        raise NotImplementedError

    async def sweep(self, tenant_ids) -> list[tuple[str, str]]:
        """Remove expired fields; (tenant_id, subject) pairs that went offline because of it."""
        raise NotImplementedError


class MemoryPresence(Presence):
    def __init__(self, worker_id: str = "0"):
        super().__init__(worker_id)
        self._fields: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)

    def _statuses(self, tenant_id: str, subject: str, now: float) -> list[str]:
        return [st for key, (st, exp) in self._fields[tenant_id].items()
                if key.rsplit("|", 1)[0] == subject and exp > now]

    async def set(self, tenant_id, subject, status):
        now = time.time()
        before = _aggregate(self._statuses(tenant_id, subject, now))
        key = f"{subject}|{self.worker_id}"
        if status is None:
            self._fields[tenant_id].pop(key, None)
        else:
            self._fields[tenant_id][key] = (status, now + PRESENCE_TTL_SECS)
        return before, _aggregate(self._statuses(tenant_id, subject, now))

    async def refresh(self, entries):
        expires = time.time() + PRESENCE_TTL_SECS
        for (tenant_id, subject), status in entries.items():
            self._fields[tenant_id][f"{subject}|{self.worker_id}"] = (status, expires)

    async def snapshot(self, tenant_id, prefix="a:"):
        now = time.time()
        by_subject: dict[str, list[str]] = defaultdict(list)
        for key, (status, exp) in self._fields[tenant_id].items():
            subject = key.rsplit("|", 1)[0]
            if subject.startswith(prefix) and exp > now:
                by_subject[subject].append(status)
        return {s: _aggregate(v) for s, v in by_subject.items()}

    async def sweep(self, tenant_ids):
        return []  # one process: nothing can die without us


class RedisPresence(Presence):
    def __init__(self, redis, prefix: str, worker_id: str):
        super().__init__(worker_id)
        self.redis = redis
        self.prefix = prefix + "presence:"

    def _key(self, tenant_id: str) -> str:
        return self.prefix + tenant_id

    async def _statuses(self, tenant_id: str, subject: str) -> list[str]:
        now = time.time()
        raw = await self.redis.hgetall(self._key(tenant_id))
        out = []
        for field, value in raw.items():
            if field.decode().rsplit("|", 1)[0] != subject:
                continue
            status, _, exp = value.decode().partition("|")
            if float(exp) > now:
                out.append(status)
        return out

    async def set(self, tenant_id, subject, status):
        before = _aggregate(await self._statuses(tenant_id, subject))
        field = f"{subject}|{self.worker_id}"
        if status is None:
            await self.redis.hdel(self._key(tenant_id), field)
        else:
            await self.redis.hset(self._key(tenant_id), field, f"{status}|{time.time() + PRESENCE_TTL_SECS}")
        return before, _aggregate(await self._statuses(tenant_id, subject))

    async def refresh(self, entries):
        if not entries:
            return
        expires = time.time() + PRESENCE_TTL_SECS
        async with self.redis.pipeline(transaction=False) as pipe:
            for (tenant_id, subject), status in entries.items():
                pipe.hset(self._key(tenant_id), f"{subject}|{self.worker_id}", f"{status}|{expires}")
                pipe.expire(self._key(tenant_id), PRESENCE_TTL_SECS * 4)
            await pipe.execute()

    async def snapshot(self, tenant_id, prefix="a:"):
        now = time.time()
        by_subject: dict[str, list[str]] = defaultdict(list)
        for field, value in (await self.redis.hgetall(self._key(tenant_id))).items():
            subject = field.decode().rsplit("|", 1)[0]
            status, _, exp = value.decode().partition("|")
            if subject.startswith(prefix) and float(exp) > now:
                by_subject[subject].append(status)
        return {s: _aggregate(v) for s, v in by_subject.items()}

    async def sweep(self, tenant_ids):
        gone = []
        now = time.time()
        for tenant_id in tenant_ids:
            key = self._key(tenant_id)
            raw = await self.redis.hgetall(key)
            expired = [f for f, v in raw.items() if float(v.decode().partition("|")[2] or 0) <= now]
            for field in expired:
                if await self.redis.hdel(key, field):
                    subject = field.decode().rsplit("|", 1)[0]
                    if not await self._statuses(tenant_id, subject):
                        gone.append((tenant_id, subject))
        return gone
