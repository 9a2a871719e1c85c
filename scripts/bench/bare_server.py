#!/usr/bin/env python3
"""The bare-libraries floor of scripts/bench_realtime.py: the first baseline that issue #4 names.

Not part of the product. Two of these on two ports are "two plain Tornado processes + redis-py
pub/sub + one aiomysql INSERT per message", with no product logic at all, speaking the product's
frames so that the benchmark's load generator drives them unchanged:

- a socket's first frame `{"type": "auth", "token": JWT}` (HS256, claims typ/sid/tid as the
  socketio comparison server's) is answered `auth.ok`; an agent socket joins its tenant's agents;
- `chat.message.send {message, client_msg_id}` takes the session's next seq (in this process's
  memory: a session's visitor always talks to the same process), is INSERTed with autocommit (one
  transaction per message, from an aiomysql pool), then PUBLISHed with redis-py, then acknowledged
  `chat.message.ack {client_msg_id, seq}`; every process relays what its subscription receives as
  `chat.message.new` to its tenant's agent sockets;
- `ping` is answered `pong`; GET /healthz answers 200.

It measures what this machine gives the libraries the product is built on, in the same run as the
product, so the product's latency can be read against the floor of the machine it ran on.

    python scripts/bench/bare_server.py --port 9001 --redis-url redis://127.0.0.1:6379/0 \\
        --channel bench-bare --secret s3cret --mysql-db cc_bench_bare
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections import defaultdict

import aiomysql
import jwt
import redis.asyncio as aioredis
import tornado.web
import tornado.websocket

TABLE_SQL = """CREATE TABLE IF NOT EXISTS bare_messages (
    id BIGINT AUTO_INCREMENT PRIMARY KEY, session_id VARCHAR(64) NOT NULL, seq INT NOT NULL,
    client_msg_id VARCHAR(64), body TEXT NOT NULL, UNIQUE KEY (session_id, seq)) ENGINE=InnoDB"""


class Relay:
    """This process's sockets, its MySQL pool and its Redis connections."""

    def __init__(self, args):
        self.args = args
        self.agents: dict[str, set] = defaultdict(set)
        self.seqs: dict[str, int] = defaultdict(int)
        self.pool = None
        self.redis = None

    async def start(self) -> None:
        a = self.args
        self.pool = await aiomysql.create_pool(host=a.mysql_host, port=a.mysql_port, user=a.mysql_user,
                                               db=a.mysql_db, autocommit=True, minsize=a.mysql_pool,
                                               maxsize=a.mysql_pool)
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(TABLE_SQL)
        self.redis = aioredis.Redis.from_url(a.redis_url, max_connections=64, socket_timeout=None)
        asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.args.channel)
        async for item in pubsub.listen():
            event = json.loads(item["data"])
            frame = json.dumps({"type": "chat.message.new", "data": {"message": event["message"]}})
            for ws in list(self.agents.get(event["tenant"], ())):
                ws.write_message(frame)

    async def send(self, tenant: str, session_id: str, body: str, client_msg_id: str) -> int:
        self.seqs[session_id] += 1
        seq = self.seqs[session_id]
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("INSERT INTO bare_messages (session_id, seq, client_msg_id, body) VALUES (%s, %s, %s, %s)",
                              (session_id, seq, client_msg_id, body))
        message = {"session_id": session_id, "seq": seq, "body": body, "client_msg_id": client_msg_id}
        await self.redis.publish(self.args.channel, json.dumps({"tenant": tenant, "message": message}))
        return seq


class SocketHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, relay: Relay):
        self.relay = relay
        self.claims = None

    def check_origin(self, origin: str) -> bool:
        return True

    async def on_message(self, raw):
        frame = json.loads(raw)
        kind, data = frame.get("type"), frame.get("data") or {}
        if self.claims is None:
            if kind != "auth":
                self.close(4001)
                return
            self.claims = jwt.decode(frame.get("token", ""), self.relay.args.secret, algorithms=["HS256"])
            if self.claims["typ"] == "agent":
                self.relay.agents[self.claims["tid"]].add(self)
            self.write_message(json.dumps({"type": "auth.ok", "data": {}}))
        elif kind == "chat.message.send":
            seq = await self.relay.send(self.claims["tid"], self.claims["sid"], data["message"], data["client_msg_id"])
            self.write_message(json.dumps({"type": "chat.message.ack",
                                           "data": {"client_msg_id": data["client_msg_id"], "seq": seq}}))
        elif kind == "ping":
            self.write_message(json.dumps({"type": "pong", "data": data}))

    def on_close(self):
        if self.claims is not None and self.claims["typ"] == "agent":
            self.relay.agents[self.claims["tid"]].discard(self)


class HealthHandler(tornado.web.RequestHandler):
    def initialize(self, relay: Relay):
        self.relay = relay

    async def get(self):
        await self.relay.redis.ping()
        self.write({"status": "ok"})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--mysql-db", required=True)
    parser.add_argument("--mysql-host", default="127.0.0.1")
    parser.add_argument("--mysql-port", type=int, default=3306)
    parser.add_argument("--mysql-user", default="root")
    parser.add_argument("--mysql-pool", type=int, default=16)
    args = parser.parse_args()
    relay = Relay(args)
    await relay.start()
    app = tornado.web.Application([(r"/ws", SocketHandler, {"relay": relay}),
                                   (r"/healthz", HealthHandler, {"relay": relay})])
    app.listen(args.port, address="127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
