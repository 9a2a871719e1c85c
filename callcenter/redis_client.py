"""Redis clients from `CALLCENTER_REDIS_URL`: one server (`redis://`, `rediss://`, `unix://`) or a Redis
Cluster (`redis+cluster://[user:pass@]host:port[,host:port…][?options]`, `rediss+cluster://` with TLS).

Both get their limits set on purpose: a bounded pool that waits instead of raising, timeouts and
keepalive. The cluster client follows MOVED/ASK and retries a command whose node failed (reading the
slot map again meanwhile) for several seconds, long enough for a restarted node to come back.

Keys used together (a Lua script's keys, MULTI, several streams in one XREADGROUP) carry one hash tag
(`{…}`) so they share a slot: the same key layout serves a single server and a cluster.
"""
from __future__ import annotations

import inspect
from urllib.parse import SplitResult, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import parse_url
from redis.exceptions import (ClusterDownError, NoScriptError, RedisClusterException, RedisClusterUnreachableError,
                              SlotNotCoveredError, TryAgainError)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

REDIS_SOCKET_TIMEOUT_SECS = 5.0
REDIS_CONNECT_TIMEOUT_SECS = 3.0
REDIS_POOL_SIZE = 200
REDIS_POOL_WAIT_SECS = 5.0
HEALTH_CHECK_INTERVAL_SECS = 30
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
DEFAULT_PORT = 6379
# A restarted (or failed-over) node is back within seconds: a cluster command is retried with backoff
# from RETRY_BASE_SECS up to RETRY_CAP_SECS per wait, RETRIES times (about 8 s in all), then it fails.
RETRY_BASE_SECS = 0.1
RETRY_CAP_SECS = 2.0
RETRIES = 7
# A pipelined script call that failed with these runs again on its own (see `script_replies`).
RUN_AGAIN_ERRORS = (NoScriptError, ClusterDownError, TryAgainError, RedisConnectionError, RedisTimeoutError)

Client = aioredis.Redis | RedisCluster


class ClusterUnavailable(RedisConnectionError, RedisClusterException):
    """No node of the cluster answers, or a slot has none: a RedisError like any other Redis outage (redis-py
    raises these outside RedisError, past every `except RedisError` that keeps a loop alive)."""


_OUTAGES = (RedisClusterUnreachableError, SlotNotCoveredError)


class _ClusterPipeline(ClusterPipeline):
    async def __aenter__(self) -> "_ClusterPipeline":
        try:
            return await super().__aenter__()
        except _OUTAGES as exc:
            raise ClusterUnavailable(str(exc)) from exc

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except _OUTAGES as exc:
            raise ClusterUnavailable(str(exc)) from exc


class Cluster(RedisCluster):
    """redis-py's cluster client whose outages are RedisErrors (`ClusterUnavailable`)."""

    async def execute_command(self, *args, **kwargs):
        try:
            return await super().execute_command(*args, **kwargs)
        except _OUTAGES as exc:
            raise ClusterUnavailable(str(exc)) from exc

    def pipeline(self, transaction=None, shard_hint=None) -> _ClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return _ClusterPipeline(self, transaction)


def is_cluster_url(url: str | None) -> bool:
    return bool(url) and url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def _split_cluster_url(url: str) -> tuple[str, str, list[tuple[str, int]], SplitResult]:
    """(plain scheme, "user:pass@" or "", seed nodes, the URL's other parts); ValueError when malformed."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower())
    if not sep or plain is None:
        raise ValueError("a cluster URL starts with redis+cluster:// or rediss+cluster://")
    parts = urlsplit("//" + rest)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    nodes = []
    for item in hosts.split(","):
        item = item.strip()
        node = urlsplit("//" + item)
        try:
            port = node.port
        except ValueError:
            raise ValueError(f"bad port in {item!r}") from None
        if not item or not node.hostname or node.netloc != item:
            raise ValueError(f"a cluster node is host:port, not {item!r}")
        nodes.append((unquote(node.hostname), port or DEFAULT_PORT))
    if parts.path not in ("", "/", "/0"):
        raise ValueError("a Redis Cluster has only database 0")
    return plain, userinfo + at, nodes, parts


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The seed nodes of a cluster URL, in the order given (ValueError when malformed)."""
    return _split_cluster_url(url)[2]


def node_url(url: str, host: str, port: int) -> str:
    """A plain URL for one node of a cluster URL: its credentials, TLS and query options."""
    plain, userinfo, _, parts = _split_cluster_url(url)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{plain}://{userinfo}{address}{query}"


def cluster_options(url: str) -> dict:
    """RedisCluster's keyword arguments from a cluster URL's credentials, TLS and query options
    (ValueError when the URL is malformed or names an option RedisCluster does not take)."""
    options = parse_url(node_url(url, *cluster_nodes(url)[0]))
    for key in ("host", "port", "db"):
        options.pop(key, None)
    if options.pop("connection_class", None) is not None:  # rediss+cluster://
        options["ssl"] = True
    unknown = sorted(set(options) - set(inspect.signature(RedisCluster.__init__).parameters))
    if unknown:
        raise ValueError(f"option(s) not supported with a cluster: {', '.join(unknown)}")
    return options


def _limits(**kw) -> dict:
    """The socket limits every client gets (a caller's keyword or the URL's option wins)."""
    return {"socket_timeout": REDIS_SOCKET_TIMEOUT_SECS, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECS,
            "health_check_interval": HEALTH_CHECK_INTERVAL_SECS, "socket_keepalive": True, **kw}


def node_pool(url: str, host: str, port: int, **kw) -> aioredis.ConnectionPool:
    """A connection pool for ONE node (host, port) of the cluster `url`, with the URL's credentials, TLS
    and options and the usual limits (bounded at REDIS_POOL_SIZE, waits REDIS_POOL_WAIT_SECS for a
    free connection); keywords override."""
    options = _limits(max_connections=REDIS_POOL_SIZE, timeout=REDIS_POOL_WAIT_SECS, **kw)
    return aioredis.BlockingConnectionPool.from_url(node_url(url, host, port), **options)


def make_redis(url: str, *, max_connections: int = REDIS_POOL_SIZE) -> Client:
    """A client for `url`: a single server with a bounded pool that waits instead of raising, or a
    RedisCluster (max_connections per node) that follows MOVED/ASK and rides out a node's restart."""
    if not is_cluster_url(url):
        pool = aioredis.BlockingConnectionPool.from_url(
            url, **_limits(max_connections=max_connections, timeout=REDIS_POOL_WAIT_SECS))
        return aioredis.Redis(connection_pool=pool)
    return Cluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes(url)],
        max_connections=max_connections,
        retry=Retry(ExponentialWithJitterBackoff(base=RETRY_BASE_SECS, cap=RETRY_CAP_SECS), RETRIES),
        **_limits(**cluster_options(url)))


def is_cluster(redis: Client) -> bool:
    return isinstance(redis, RedisCluster)


async def eval_each(redis: Client, script, calls: list[tuple[list[str], list]]) -> list:
    """Run a registered script (`redis.register_script`) once per (keys, args) of `calls` in one
    non-transactional pipeline: one round trip on a single server, one per node (in parallel) on a
    cluster; each call's keys must share a slot. The replies in order (see `script_replies`)."""
    if not calls:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        replies = await pipe.execute(raise_on_error=False)
    return await script_replies(script, calls, replies)


async def script_replies(script, calls: list[tuple[list[str], list]], replies: list) -> list:
    """The replies of a pipeline of EVALSHA `calls` executed with raise_on_error=False. A call the
    server refused without running it (a restarted node that does not know the script yet, a cluster
    that is down for a moment or a slot on the move) runs again on its own, through the client's
    retries, loading the script where it is missing. So does one whose connection broke before its
    reply (a node killed): it may have run, so the scripts run through here must be safe to repeat
    (at worst a rate-limit hit counts twice while a node crashes). The first other error is raised."""
    replies = list(replies)
    for i, reply in enumerate(replies):
        if isinstance(reply, RUN_AGAIN_ERRORS):
            keys, args = calls[i]
            replies[i] = await script(keys=keys, args=args)
        elif isinstance(reply, Exception):
            raise reply
    return replies
