"""Who is connected, across all workers: agents (online/away/offline) and visitors.

A subject ("a:<agent id>" or "v:<session id>") has one small hash of its own,
worker id -> this worker's status for it. A subject is online while any live
worker has a field for it. Connecting or disconnecting is one round trip (one
Lua script per tenant, batched by `set_many`) that touches only that tenant's
keys, whatever the number of sockets or tenants.

Key layout (one for a single Redis and a Redis Cluster): everything of one tenant
shares the hash tag `{t:<tenant>}`, so a script over a tenant's keys is one slot:
`<prefix>presence:{t:<tenant>}:` + `s:<subject>` (the subject's hash), `agents`
(the agents ever seen), `owned:<worker>` (the subjects that worker holds there)
and `seen:<subject>` (when it was last online, kept LAST_SEEN_RETENTION_SECS).
Each worker lists the tenants it holds subjects of in `<prefix>presence:{w:<worker>}:tenants`,
written before the tenant's own keys, so a sweep finds everything a dead worker held.

Workers prove they are alive with one heartbeat field each (`<prefix>presence:workers`),
refreshed every PRESENCE_REFRESH_SECS: nothing per socket, so 10,000 idle sockets
cost the same housekeeping as one. A worker killed with -9 stops beating; after
PRESENCE_TTL_SECS a surviving worker's `sweep()` removes its fields, tenant by
tenant, and reports who went offline because of it (HDEL answers 1 on exactly one
sweeper, so only one announces it). If Redis itself lost the data (a restart
without persistence), the next heartbeat finds its own field missing and the
worker writes its subjects again.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Callable, Iterable

from .config import LAST_SEEN_RETENTION_SECS
from .redis_client import eval_each, is_cluster, script_replies

PRESENCE_TTL_SECS = 30
PRESENCE_REFRESH_SECS = 10
STATUSES = ("online", "away")
# Script calls stay this size (changes, or a dead worker's subjects, per call).
REWRITE_BATCH = 1000
# MemoryPresence forgets last-seen times past the retention once it holds this many.
MEMORY_SEEN_MAX = 10_000

LocalEntries = Callable[[], dict[tuple[str, str], str]]
Change = tuple[str, str, "str | None"]

log = logging.getLogger("callcenter.presence")


def aggregate(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    if not statuses:
        return "offline"
    return "online" if "online" in statuses else "away"


def now_ms() -> int:
    return int(time.time() * 1000)


class Presence:
    def __init__(self, worker_id: str):
        self.worker_id = worker_id

    async def set(self, tenant_id: str, subject: str, status: str | None) -> tuple[str, str]:
        """Record this worker's status for subject (None: gone); returns (before, after) aggregate."""
        return (await self.set_many([(tenant_id, subject, status)]))[0]

    async def set_many(self, changes: list[Change]) -> list[tuple[str, str]]:
        """`set` for each (tenant_id, subject, status), in order, with the same (before, after) results;
        one round trip with Redis (one per node on a cluster)."""
        raise NotImplementedError

    async def refresh(self, local: LocalEntries) -> None:
        """This worker's heartbeat; `local()` gives (tenant, subject) -> status, read only when needed."""
        raise NotImplementedError

    async def status(self, tenant_id: str, subject: str) -> str:
        raise NotImplementedError

    async def last_seen_ms(self, tenant_id: str, subject: str) -> int | None:
        """When the subject was last online (now while it is), in ms since the epoch; None when it was
        not in the last LAST_SEEN_RETENTION_SECS."""
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
        self._seen_ms: dict[tuple[str, str], int] = {}

    async def set_many(self, changes):
        results = []
        now = now_ms()
        for tenant_id, subject, status in changes:
            key = (tenant_id, subject)
            before = self._status.get(key, "offline")
            if status is None:
                self._status.pop(key, None)
            else:
                self._status[key] = status
            self._seen_ms[key] = now
            results.append((before, self._status.get(key, "offline")))
        if len(self._seen_ms) > MEMORY_SEEN_MAX:
            horizon = now - LAST_SEEN_RETENTION_SECS * 1000
            self._seen_ms = {k: at for k, at in self._seen_ms.items() if at > horizon or k in self._status}
        return results

    async def refresh(self, local):
        pass

    async def status(self, tenant_id, subject):
        return self._status.get((tenant_id, subject), "offline")

    async def last_seen_ms(self, tenant_id, subject):
        if (tenant_id, subject) in self._status:
            return now_ms()
        seen = self._seen_ms.get((tenant_id, subject))
        return seen if seen is not None and seen > now_ms() - LAST_SEEN_RETENTION_SECS * 1000 else None

    async def agents(self, tenant_id):
        return {s: st for (t, s), st in self._status.items() if t == tenant_id and s.startswith("a:")}

    async def sweep(self):
        return []  # one process: nothing can die without us


# One tenant's changes by one worker. KEYS: the agents set, the worker's owned set, then per change the
# subject's hash and its last-seen key; ARGV: worker id, now (ms), last-seen retention (ms), then per
# change the subject and its status ("" = gone). Returns each subject's hash as it was before its change.
SET_SCRIPT = """
local worker, now, keep = ARGV[1], ARGV[2], ARGV[3]
local before = {}
for i = 1, (#KEYS - 2) / 2 do
  local key, subject, status = KEYS[1 + 2 * i], ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  before[i] = redis.call('HGETALL', key)
  if status == '' then
    redis.call('HDEL', key, worker)
    redis.call('SREM', KEYS[2], subject)
  else
    redis.call('HSET', key, worker, status)
    redis.call('SADD', KEYS[2], subject)
    if string.sub(subject, 1, 2) == 'a:' then redis.call('SADD', KEYS[1], subject) end
  end
  redis.call('SET', KEYS[2 + 2 * i], now, 'PX', keep)
end
return before
"""

# A dead worker's subjects in one tenant. KEYS: its owned set there, then per subject the subject's hash
# and its last-seen key; ARGV: the dead worker's id, now (ms), retention (ms), then the subjects.
# Returns, per subject whose field this call removed, {subject, the hash's remaining fields}.
SWEEP_SCRIPT = """
local worker, now, keep = ARGV[1], ARGV[2], ARGV[3]
local gone = {}
for i = 1, (#KEYS - 1) / 2 do
  local key, subject = KEYS[2 * i], ARGV[3 + i]
  redis.call('SREM', KEYS[1], subject)
  if redis.call('HDEL', key, worker) == 1 then
    redis.call('SET', KEYS[2 * i + 1], now, 'PX', keep)
    gone[#gone + 1] = {subject, redis.call('HGETALL', key)}
  end
end
return gone
"""


def _pairs(flat: list) -> dict[bytes, bytes]:
    """A hash as a script returns it (HGETALL's flat list) as a dict."""
    return dict(zip(flat[::2], flat[1::2]))


class RedisPresence(Presence):
    def __init__(self, redis, prefix: str, worker_id: str):
        super().__init__(worker_id)
        self.redis = redis
        self.prefix = prefix + "presence:"
        self.workers_key = self.prefix + "workers"
        self.tenants_key = self._tenants_key(worker_id)
        self._set_script = redis.register_script(SET_SCRIPT)
        self._sweep_script = redis.register_script(SWEEP_SCRIPT)
        # Tenants already listed in tenants_key (so a set needs no extra write).
        self._listed: set[str] = set()
        # Workers whose heartbeat stopped (as of the last sweep): their fields do not count.
        self._dead: set[str] = set()
        self._cluster = is_cluster(redis)

    # ---- keys (see the module's docstring) --------------------------------------------------------

    def _tenant_prefix(self, tenant_id: str) -> str:
        return f"{self.prefix}{{t:{tenant_id}}}:"

    def _subject_key(self, tenant_id: str, subject: str) -> str:
        return f"{self._tenant_prefix(tenant_id)}s:{subject}"

    def _seen_key(self, tenant_id: str, subject: str) -> str:
        return f"{self._tenant_prefix(tenant_id)}seen:{subject}"

    def _agents_key(self, tenant_id: str) -> str:
        return f"{self._tenant_prefix(tenant_id)}agents"

    def _owned_key(self, tenant_id: str, worker_id: str) -> str:
        return f"{self._tenant_prefix(tenant_id)}owned:{worker_id}"

    def _tenants_key(self, worker_id: str) -> str:
        return f"{self.prefix}{{w:{worker_id}}}:tenants"

    def _live(self, fields: dict) -> dict[str, str]:
        return {w.decode(): st.decode() for w, st in fields.items() if w.decode() not in self._dead}

    # ---- writes -----------------------------------------------------------------------------------

    def _calls(self, changes: list[Change]) -> tuple[list[tuple[list, list]], list[list[int]]]:
        """The script calls for `changes` (one per tenant and REWRITE_BATCH changes), and for each call
        the indexes of its changes in `changes`."""
        by_tenant: dict[str, list[int]] = defaultdict(list)
        for i, (tenant_id, _, _) in enumerate(changes):
            by_tenant[tenant_id].append(i)
        calls, order = [], []
        now = str(now_ms())
        for tenant_id, indexes in by_tenant.items():
            for start in range(0, len(indexes), REWRITE_BATCH):
                chunk = indexes[start:start + REWRITE_BATCH]
                keys = [self._agents_key(tenant_id), self._owned_key(tenant_id, self.worker_id)]
                args = [self.worker_id, now, str(LAST_SEEN_RETENTION_SECS * 1000)]
                for i in chunk:
                    _, subject, status = changes[i]
                    keys += [self._subject_key(tenant_id, subject), self._seen_key(tenant_id, subject)]
                    args += [subject, status or ""]
                calls.append((keys, args))
                order.append(chunk)
        return calls, order

    async def _list_tenants(self, tenant_ids: set[str]) -> None:
        """Before a tenant's keys name this worker, the worker's tenant list names the tenant (the sweep
        of a dead worker starts there)."""
        new = tenant_ids - self._listed
        if new:
            await self.redis.sadd(self.tenants_key, *sorted(new))
            self._listed |= new

    async def set_many(self, changes):
        if not changes:
            return []
        calls, order = self._calls(changes)
        new = {tenant_id for tenant_id, _, _ in changes} - self._listed
        if new and self._cluster:
            await self._list_tenants(new)  # another node: it must be there before the scripts run
            new = set()
        async with self.redis.pipeline(transaction=False) as pipe:
            if new:  # one server runs a pipeline in order: listed before the scripts run
                pipe.sadd(self.tenants_key, *sorted(new))
            for keys, args in calls:
                pipe.evalsha(self._set_script.sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        if new:
            if isinstance(replies[0], Exception):
                raise replies[0]
            self._listed |= new
            replies = replies[1:]
        replies = await script_replies(self._set_script, calls, replies)
        results: list[tuple[str, str]] = [("offline", "offline")] * len(changes)
        for chunk, hashes in zip(order, replies):
            for i, flat in zip(chunk, hashes):
                before = self._live(_pairs(flat))
                after = dict(before)
                if changes[i][2] is None:
                    after.pop(self.worker_id, None)
                else:
                    after[self.worker_id] = changes[i][2]
                results[i] = (aggregate(before.values()), aggregate(after.values()))
        return results

    async def refresh(self, local):
        created = await self.redis.hset(self.workers_key, self.worker_id, str(time.time()))
        if not created:
            return
        # Our heartbeat was missing: first beat, or Redis lost its data. Write our subjects again.
        self._listed.clear()
        entries = [(tenant_id, subject, status) for (tenant_id, subject), status in local().items()]
        await self._list_tenants({tenant_id for tenant_id, _, _ in entries})
        calls, _ = self._calls(entries)
        for start in range(0, len(calls), REWRITE_BATCH // 10):
            await eval_each(self.redis, self._set_script, calls[start:start + REWRITE_BATCH // 10])

    # ---- reads ------------------------------------------------------------------------------------

    async def status(self, tenant_id, subject):
        return aggregate(self._live(await self.redis.hgetall(self._subject_key(tenant_id, subject))).values())

    async def last_seen_ms(self, tenant_id, subject):
        async with self.redis.pipeline(transaction=False) as pipe:  # one slot: one round trip
            pipe.hgetall(self._subject_key(tenant_id, subject))
            pipe.get(self._seen_key(tenant_id, subject))
            fields, seen = await pipe.execute()
        if self._live(fields):
            return now_ms()
        return int(seen) if seen is not None else None

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

    # ---- dead workers -----------------------------------------------------------------------------

    async def sweep(self):
        now = time.time()
        beats = {w.decode(): float(t) for w, t in (await self.redis.hgetall(self.workers_key)).items()}
        dead = {w for w, beat in beats.items() if w != self.worker_id and beat < now - PRESENCE_TTL_SECS}
        self._dead = dead
        gone = []
        for worker in sorted(dead):
            gone += await self._sweep_worker(worker)
            await self._sweep_legacy(worker)
            if await self.redis.hdel(self.workers_key, worker):
                await self.redis.delete(self._tenants_key(worker))
        return gone

    async def _sweep_worker(self, worker: str) -> list[tuple[str, str]]:
        """Remove a dead worker's fields, tenant by tenant (a script per tenant: one slot each)."""
        tenants = sorted(t.decode() for t in await self.redis.smembers(self._tenants_key(worker)))
        if not tenants:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for tenant_id in tenants:
                pipe.smembers(self._owned_key(tenant_id, worker))
            owned = await pipe.execute()
        calls, call_tenants = [], []
        for tenant_id, members in zip(tenants, owned):
            subjects = sorted(m.decode() for m in members)
            for start in range(0, len(subjects), REWRITE_BATCH):
                chunk = subjects[start:start + REWRITE_BATCH]
                keys = [self._owned_key(tenant_id, worker)]
                for subject in chunk:
                    keys += [self._subject_key(tenant_id, subject), self._seen_key(tenant_id, subject)]
                calls.append((keys, [worker, str(now_ms()), str(LAST_SEEN_RETENTION_SECS * 1000), *chunk]))
                call_tenants.append(tenant_id)
        gone = []
        for tenant_id, removed in zip(call_tenants, await eval_each(self.redis, self._sweep_script, calls)):
            for subject, remaining in removed:
                if not self._live(_pairs(remaining)):
                    gone.append((tenant_id, subject.decode()))
        return gone

    async def _sweep_legacy(self, worker: str) -> None:
        """A worker of the release before the hash tags (`presence:owned:<worker>`, members
        "tenant|subject", hashes `presence:s:<tenant>:<subject>`) left its fields on a single Redis:
        removed, without announcements (the current layout never saw them)."""
        owned_key = f"{self.prefix}owned:{worker}"
        members = await self.redis.smembers(owned_key)
        if not members:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for raw in members:
                tenant_id, _, subject = raw.decode().rpartition("|")
                pipe.hdel(f"{self.prefix}s:{tenant_id}:{subject}", worker)
            pipe.delete(owned_key)
            await pipe.execute()
