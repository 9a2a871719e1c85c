"""Shared by the security suites: a two-tenant world, whole-store snapshots, forged tokens, raw sockets."""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import jwt
import pytest
import sqlalchemy as sa

from callcenter.store import (agents, attachments, canned_responses, labels, messages, read_marks, session_labels, sessions,
                              tenants, visitors)
from callcenter.store.schema import webhooks
from tests.helpers import ApiClient, Tenant, Visitor
from tests.wsclient import WsClient

gen_test = pytest.mark.gen_test(timeout=60)
ALLOWED_ORIGIN = "http://allowed.example"
FOREIGN_ORIGIN = "https://evil.example"
SNAPSHOT_TABLES = (tenants, agents, visitors, sessions, messages, read_marks, attachments, canned_responses, labels,
                   session_labels, webhooks)


@dataclass
class World:
    """Tenant A (an admin, an agent; visitor `va` with one message, `va2` a second session) and
    tenant B (visitor `vb`). Every row of every suite runs in a fresh one."""
    api: ApiClient
    base_url: str
    services: object
    a: Tenant
    b: Tenant
    va: Visitor
    va2: Visitor
    vb: Visitor
    attachment_id: str = ""  # a file `va` uploaded to its session
    canned_id: int = 0  # a canned response of tenant A's (when the call's `prepare` made one)
    label_id: int = 0  # a label of tenant A's (likewise)
    webhook_id: int = 0  # a webhook of tenant A's (likewise)

    @property
    def store(self):
        return self.services.store

    @property
    def secret(self) -> str:
        return self.services.config.secret_key


async def make_world(api, base_url, services, tenant_factory) -> World:
    a = await tenant_factory(allowed_origins=(ALLOWED_ORIGIN,))
    b = await tenant_factory(allowed_origins=(ALLOWED_ORIGIN,))
    va = await a.visitor(api, name="Alpha Visitor", email="alpha@a.example")
    resp = await api.post("/api/v1/chat/public/message", {"session_id": va.session_id, "message": "alpha secret"},
                          token=va.token)
    assert resp.status == 201, resp.body
    va2 = await a.visitor(api, name="Alpha Two", email="two@a.example")
    vb = await b.visitor(api, name="Bravo Visitor", email="bravo@b.example")
    body, headers = multipart_file("alpha.txt", b"alpha file")
    resp = await api.request("POST", f"/api/v1/chat/public/session/{va.session_id}/attachments", raw=body,
                             token=va.token, headers=headers)
    assert resp.status == 201, resp.body
    return World(api, base_url, services, a, b, va, va2, vb, resp.json["attachment"]["id"])


def multipart_file(filename: str, data: bytes, boundary: str = "securityboundary7") -> tuple[bytes, dict]:
    """A multipart/form-data body with one `file` part (an upload), and its Content-Type header."""
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def store_snapshot(store, tenant_ids) -> dict:
    """Every row of every table that belongs to these tenants, in full (ordered, comparable)."""
    out = {}
    async with store.engine.connect() as conn:
        for table in SNAPSHOT_TABLES:
            column = table.c.tenant_id if "tenant_id" in table.c else table.c.id
            rows = (await conn.execute(sa.select(table).where(column.in_(list(tenant_ids)))
                                       .order_by(*table.primary_key.columns))).all()
            out[table.name] = [dict(r._mapping) for r in rows]
    return out


# ---- tokens ------------------------------------------------------------------

def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def b64(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def alg_none(token: str, **changes) -> str:
    """The same claims (changed as asked) with `alg: none` and no signature."""
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({**claims_of(token), **changes})}."


def resigned(token: str, key: str, algorithm: str = "HS256", **changes) -> str:
    return jwt.encode({**claims_of(token), **changes}, key, algorithm=algorithm)


def expired(token: str, key: str) -> str:
    now = int(time.time())
    return resigned(token, key, iat=now - 7200, exp=now - 60)


# ---- sockets -------------------------------------------------------------------

async def ws(w: World, token: str | None = None, *, origin: str | None = None, resume=None,
             expect_ok: bool = True) -> WsClient:
    return await WsClient.connect(w.base_url, token, origin=origin, resume=resume, expect_ok=expect_ok)


async def still_open(client: WsClient) -> None:
    """The socket still answers: a ping gets its pong."""
    await client.send("ping", t=1)
    await client.next("pong")


async def write_raw_frame(client: WsClient, opcode: int, payload: bytes) -> None:
    """A frame exactly as given (e.g. a text frame that is not UTF-8), bypassing the client's checks."""
    await client.conn.protocol._write_frame(True, opcode, payload)
