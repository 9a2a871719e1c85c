"""Passwords, tokens and rate limits.

Agent tokens are JWTs pinned to HS256 with expiry, the tenant, and the agent's
token_version: bumping the version (password change, deactivation) revokes
every token issued before. Visitor tokens are JWTs bound to one session of one
tenant. Neither is ever accepted from a URL.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import bcrypt
import jwt

from .batching import Batcher
from .redis_client import eval_each

JWT_ALGORITHM = "HS256"
BCRYPT_ROUNDS = 12
# bcrypt only looks at the first 72 bytes; refuse longer instead of silently truncating.
MAX_PASSWORD_BYTES = 72


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(raw, password_hash.encode("ascii"))
    except ValueError:
        return False


# A hash to compare against when the email is unknown, so both paths cost the same. A constant
# (of "not-a-real-password" at BCRYPT_ROUNDS), not computed on import: that cost every process
# and every CLI command, --help included, a full bcrypt round.
_DUMMY_HASH = "$2b$12$Rj3vz7/FjdA2RU23SvcwfuVZa4x/.5MSaB.MSkwQ0ZNLckpjUEQue"


def burn_password_check(password: str) -> None:
    check_password(password, _DUMMY_HASH)


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or of the wrong kind."""


@dataclass(frozen=True)
class AgentClaims:
    agent_id: int
    tenant_id: str
    token_version: int


@dataclass(frozen=True)
class VisitorClaims:
    session_id: str
    tenant_id: str
    visitor_id: int


def _token_bytes(token: str) -> bytes:
    """A token as the bytes PyJWT reads; text that is not even encodable (a lone surrogate from a JSON
    escape in a WS auth frame) is an invalid token, not an exception out of the decoder."""
    if not isinstance(token, str):
        raise InvalidToken("a token is a string")
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken("a token is ASCII") from None


class TokenSigner:
    def __init__(self, secret_key: str, *, agent_ttl_secs: int, visitor_ttl_secs: int):
        self._key = secret_key
        self.agent_ttl_secs = agent_ttl_secs
        self.visitor_ttl_secs = visitor_ttl_secs

    def sign(self, claims: dict, ttl_secs: int | None) -> str:
        """A token of `claims` (their `typ` says what it is for); None: it never expires."""
        now = int(time.time())
        claims = {**claims, "iat": now} | ({"exp": now + ttl_secs} if ttl_secs is not None else {})
        return jwt.encode(claims, self._key, algorithm=JWT_ALGORITHM)

    def verify(self, token: str, kind: str, required: tuple[str, ...] = ("exp", "tid")) -> dict:
        """The claims of a token we signed for `kind`, with `required` present; InvalidToken otherwise."""
        try:
            claims = jwt.decode(_token_bytes(token), self._key, algorithms=[JWT_ALGORITHM],
                                options={"require": ["iat", "typ", *required]})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if claims.get("typ") != kind:
            raise InvalidToken(f"not a {kind} token")
        return claims

    def agent_token(self, agent: dict) -> str:
        return self.sign({"typ": "agent", "sub": str(agent["id"]), "tid": agent["tenant_id"],
                             "ver": agent["token_version"]}, self.agent_ttl_secs)

    def visitor_token(self, session_id: str, tenant_id: str, visitor_id: int) -> str:
        return self.sign({"typ": "visitor", "sid": session_id, "tid": tenant_id, "vid": visitor_id},
                            self.visitor_ttl_secs)

    def read_agent(self, token: str) -> AgentClaims:
        claims = self.verify(token, "agent")
        try:
            return AgentClaims(int(claims["sub"]), str(claims["tid"]), int(claims["ver"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidToken("malformed agent token") from None

    def read_visitor(self, token: str) -> VisitorClaims:
        claims = self.verify(token, "visitor")
        try:
            return VisitorClaims(str(claims["sid"]), str(claims["tid"]), int(claims["vid"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidToken("malformed visitor token") from None

    def token_kind(self, token: str) -> str | None:
        """'agent' or 'visitor' for a token we signed, without checking anything else."""
        try:
            return jwt.decode(_token_bytes(token), self._key, algorithms=[JWT_ALGORITHM]).get("typ")
        except (jwt.PyJWTError, InvalidToken):
            return None


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_secs: int = 0


class RateLimiter:
    """Fixed-window counters. In memory for one process; in Redis when workers share limits.

    `hit` counts and decides in one atomic step, so a limit holds however many calls arrive at once;
    a caller that counts an attempt before its costly check (a sign-in) and then finds it should not
    have counted gives it back with `refund`."""

    async def hit(self, key: str, limit: int, window_secs: int) -> RateDecision:
        raise NotImplementedError

    async def refund(self, key: str) -> None:
        """Take back one hit of the current window (never below zero, never outliving the window)."""
        raise NotImplementedError

    async def reset(self, key: str) -> None:
        raise NotImplementedError


class MemoryRateLimiter(RateLimiter):
    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    def _expire(self, now: float) -> None:
        if len(self._windows) > self.MAX_KEYS:
            self._windows = {k: v for k, v in self._windows.items() if v[0] > now}

    async def hit(self, key: str, limit: int, window_secs: int) -> RateDecision:
        now = time.monotonic()
        self._expire(now)
        ends, count = self._windows.get(key, (0.0, 0))
        if ends <= now:
            ends, count = now + window_secs, 0
        count += 1
        self._windows[key] = (ends, count)
        if count > limit:
            return RateDecision(False, max(1, math.ceil(ends - now)))
        return RateDecision(True)

    async def refund(self, key: str) -> None:
        ends, count = self._windows.get(key, (0.0, 0))
        if ends > time.monotonic() and count > 0:
            self._windows[key] = (ends, count - 1)

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisRateLimiter(RateLimiter):
    """Counters `<prefix>rl:<key>`, each touched by one key's commands only: on a Redis Cluster they spread
    over the nodes, and no operation spans two slots."""
    # Concurrent hits (sign-in attempts, new chats) share one round trip (one per node on a cluster).
    MAX_BATCH = 500
    # One hit, atomically: a counter never exists without its expiry, even if we die half-way.
    # Returns {count, seconds left in the window}.
    HIT_SCRIPT = ("local count = redis.call('INCR', KEYS[1]) "
                  "local ttl = redis.call('TTL', KEYS[1]) "
                  "if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end "
                  "return {count, ttl}")
    # DECR only a counter that exists: a plain DECR of an expired one would leave -1 with no expiry.
    REFUND_SCRIPT = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0"

    def __init__(self, redis, prefix: str):
        self._redis = redis
        self._prefix = prefix + "rl:"
        self._hit = redis.register_script(self.HIT_SCRIPT)
        self._refund = redis.register_script(self.REFUND_SCRIPT)
        self.hits: Batcher[tuple[str, int, int], RateDecision] = Batcher(
            self._hit_batch, max_batch=self.MAX_BATCH, name="rate-limit-hits")

    async def hit(self, key: str, limit: int, window_secs: int) -> RateDecision:
        return await self.hits.submit((self._prefix + key, limit, window_secs))

    async def _hit_batch(self, hits: list[tuple[str, int, int]]) -> list[RateDecision]:
        replies = await eval_each(self._redis, self._hit, [([full], [window_secs]) for full, _, window_secs in hits])
        return [RateDecision(False, max(1, int(ttl))) if count > limit else RateDecision(True)
                for (_, limit, _), (count, ttl) in zip(hits, replies)]

    async def refund(self, key: str) -> None:
        await self._refund(keys=[self._prefix + key])

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
