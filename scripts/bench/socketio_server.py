#!/usr/bin/env python3
"""A minimal python-socketio relay: the comparison server of scripts/bench_realtime.py.

Not part of the product. It does what the product's real-time path does, minus
everything that makes the product a product (no database, no idempotency, no
resume, no presence, no rate limits, no origin checks):

- a socket authenticates in the Socket.IO connect packet with a JWT (HS256, the
  same kind of token the product uses) naming a visitor session or an agent;
- a visitor joins the room `v:<session>`, an agent the room `agents:<tenant>`;
- a visitor's `send` event {message, client_msg_id} gets the next per-session
  seq (kept in this process's memory: a session's visitor always talks to the
  same process), is emitted once as `message` to both rooms through
  AsyncRedisManager (Redis pub/sub, so every process relays it to its own
  sockets), and is acknowledged with {client_msg_id, seq};
- `ping` is acknowledged at once (a WebSocket-level probe); GET /healthz pings
  Redis and answers 200.
- --redis-pool N publishes through a bounded blocking pool instead of redis-py's
  unbounded default (see BoundedPoolRedisManager); the default is stock.

Run two of these on two ports with the same --channel for the two-process setup:

    python scripts/bench/socketio_server.py --port 9001 --redis-url redis://127.0.0.1:6379/0 \\
        --channel bench-sio --secret s3cret

Served by uvicorn on the stock asyncio loop and h11 (no uvloop/httptools), like
the product on Tornado's asyncio loop.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import jwt
import redis.asyncio as aioredis
import socketio
import uvicorn


class BoundedPoolRedisManager(socketio.AsyncRedisManager):
    """AsyncRedisManager publishing through a bounded, blocking connection pool (--redis-pool N).

    Stock AsyncRedisManager uses redis-py's default pool, which has no upper bound: under a burst of
    concurrent emits (python-socketio runs each event handler as its own task) it opens hundreds of new
    connections at once, and each new connection costs a TCP connect plus redis-py 8.x's lookup of its
    own version in the installed distributions' metadata. The product uses a BlockingConnectionPool."""

    pool_size = 20

    def _redis_connect(self):
        pool = aioredis.BlockingConnectionPool.from_url(self.redis_url, max_connections=self.pool_size,
                                                        timeout=5)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True


def build_app(redis_url: str, channel: str, secret: str, redis_pool: int = 0):
    if redis_pool > 0:
        BoundedPoolRedisManager.pool_size = redis_pool
        mgr = BoundedPoolRedisManager(redis_url, channel=channel)
    else:
        mgr = socketio.AsyncRedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr, cors_allowed_origins="*")
    seqs: dict[str, int] = defaultdict(int)
    redis = aioredis.Redis.from_url(redis_url)

    @sio.event
    async def connect(sid, environ, auth):
        token = (auth or {}).get("token") if isinstance(auth, dict) else None
        try:
            claims = jwt.decode(token or "", secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            raise socketio.exceptions.ConnectionRefusedError("invalid token")
        tenant = claims["tid"]
        if claims.get("typ") == "agent":
            await sio.enter_room(sid, f"agents:{tenant}")
            await sio.save_session(sid, {"kind": "agent", "tenant": tenant})
        else:
            await sio.enter_room(sid, f"v:{claims['sid']}")
            await sio.save_session(sid, {"kind": "visitor", "tenant": tenant, "session": claims["sid"]})

    @sio.on("send")
    async def send(sid, data):
        state = await sio.get_session(sid)
        if state.get("kind") != "visitor" or not isinstance(data, dict):
            return {"error": "invalid"}
        session_id = state["session"]
        seqs[session_id] += 1
        seq = seqs[session_id]
        message = {"session_id": session_id, "seq": seq, "sender_type": "visitor", "body": data.get("message"),
                   "client_msg_id": data.get("client_msg_id"), "created_at_ms": int(time.time() * 1000)}
        await sio.emit("message", {"message": message, "session_id": session_id},
                       to=[f"agents:{state['tenant']}", f"v:{session_id}"])
        return {"client_msg_id": data.get("client_msg_id"), "seq": seq, "session_id": session_id}

    @sio.on("ping")
    async def ping(sid, data):
        return {"t": data.get("t") if isinstance(data, dict) else None, "server_time": time.time()}

    async def other(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz":
            try:
                await redis.ping()
                status, body = 200, {"status": "ok"}
            except Exception as exc:  # a probe reports, never raises
                status, body = 503, {"status": "unavailable", "reason": str(exc)[:200]}
        else:
            status, body = 404, {"error": "not found"}
        raw = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})

    return socketio.ASGIApp(sio, other_asgi_app=other)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--channel", default="bench-socketio")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--redis-pool", type=int, default=0,
                        help="0: stock AsyncRedisManager (unbounded pool); N: a blocking pool of N connections")
    args = parser.parse_args()
    app = build_app(args.redis_url, args.channel, args.secret, args.redis_pool)
    uvicorn.run(app, host=args.host, port=args.port, loop="asyncio", http="h11", ws="websockets-sansio",
                log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=120)


if __name__ == "__main__":
    main()
