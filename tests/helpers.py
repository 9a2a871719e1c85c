"""Test helpers: an API client, tenant/agent/visitor factories, store snapshots, requirements.

`free_port`, `mysql_admin` and `scratch_mysql_database` are tests/harness.py's (shared with scripts/),
named here as the tests have always imported them."""
from __future__ import annotations

import asyncio
import atexit
import functools
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callcenter import migrations
from callcenter.security import hash_password
from callcenter.store import messages, sessions
from tests.harness import ScratchDatabase, free_port, mysql_admin  # noqa: F401  (re-exported)

REQUIRE_ALL = os.environ.get("CALLCENTER_REQUIRE_ALL") == "1"
PASSWORD = "Correct-Horse-9"
FAST_BCRYPT_ROUNDS = 4


def require(condition: bool, reason: str) -> None:
    """Skip when a program or server is missing; fail instead under CALLCENTER_REQUIRE_ALL=1 (CI)."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required for this run (CALLCENTER_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def require_program(path: str) -> str:
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    require(found is not None, f"{path} is not installed")
    return found


@functools.lru_cache(maxsize=1)
def sqlite_template() -> Path:
    """A migrated SQLite file made once per run; tests copy it instead of migrating each time."""
    directory = tempfile.mkdtemp(prefix="cc-template-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)  # removed when the run ends
    path = Path(directory) / "template.sqlite3"
    migrations.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def error_code(self) -> str | None:
        data = self.json
        return data.get("error", {}).get("code") if isinstance(data, dict) else None


class ApiClient:
    """JSON calls against the test server; never raises on HTTP errors."""

    def __init__(self, http_client, base_url: str):
        self.http = http_client
        self.base_url = base_url

    async def request(self, method: str, path: str, *, json_body=None, raw: bytes | str | None = None,
                      token: str | None = None, headers: dict | None = None) -> Response:
        hdrs = {"Content-Type": "application/json"}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        body = raw if raw is not None else (json.dumps(json_body) if json_body is not None else None)
        if method in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        resp = await self.http.fetch(self.base_url + path, method=method, body=body, headers=hdrs,
                                     raise_error=False, allow_nonstandard_methods=True)
        return Response(resp.code, dict(resp.headers.get_all()), resp.body or b"")

    async def get(self, path: str, **kw) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json=None, **kw) -> Response:
        return await self.request("POST", path, json_body=json, **kw)

    async def put(self, path: str, json=None, **kw) -> Response:
        return await self.request("PUT", path, json_body=json, **kw)

    async def patch(self, path: str, json=None, **kw) -> Response:
        return await self.request("PATCH", path, json_body=json, **kw)

    async def delete(self, path: str, json=None, **kw) -> Response:
        return await self.request("DELETE", path, json_body=json, **kw)


@dataclass
class Agent:
    id: int
    email: str
    name: str
    role: str
    tenant_id: str
    token: str = ""


@dataclass
class Visitor:
    session_id: str
    token: str
    tenant_id: str


@dataclass
class Tenant:
    id: str
    admin: Agent
    agent: Agent
    services: object
    extra_agents: list = field(default_factory=list)

    async def visitor(self, api: ApiClient, name: str = "Vera Visitor", email: str = "vera@example.com") -> Visitor:
        resp = await api.post("/api/v1/chat/public/start", {"tenant_id": self.id, "channel": "web",
                                                            "customer_name": name, "customer_email": email})
        assert resp.status == 201, resp.body
        return Visitor(resp.json["session_id"], resp.json["token"], self.id)


class TenantFactory:
    """Creates tenants named uniquely per call, each with an admin and an agent already signed in."""

    def __init__(self, services):
        self.services = services

    async def __call__(self, *, allowed_origins=("http://allowed.example",), settings=None) -> Tenant:
        store, signer = self.services.store, self.services.signer
        tenant_id = f"t-{uuid.uuid4().hex[:12]}"
        await store.create_tenant(tenant_id, f"Tenant {tenant_id}", allowed_origins, settings)
        made = []
        for role, name in (("admin", "Ada Admin"), ("agent", "Bob Agent")):
            row = await store.create_agent(tenant_id, f"{role}@{tenant_id}.example", hash_password(
                PASSWORD, rounds=FAST_BCRYPT_ROUNDS), name, role)
            made.append(Agent(row["id"], row["email"], name, role, tenant_id, signer.agent_token(row)))
        return Tenant(tenant_id, made[0], made[1], self.services)

    async def add_agent(self, tenant: Tenant, name: str = "Cy Colleague", role: str = "agent") -> Agent:
        store, signer = self.services.store, self.services.signer
        email = f"{uuid.uuid4().hex[:6]}@{tenant.id}.example"
        row = await store.create_agent(tenant.id, email, hash_password(PASSWORD, rounds=FAST_BCRYPT_ROUNDS), name,
                                       role)
        agent = Agent(row["id"], email, name, role, tenant.id, signer.agent_token(row))
        tenant.extra_agents.append(agent)
        return agent


async def snapshot(store, tenant_id: str) -> dict:
    """Everything a bad request must leave unchanged in a tenant: sessions and messages, in full."""
    async with store.engine.connect() as conn:
        sess = (await conn.execute(sessions.select().where(sessions.c.tenant_id == tenant_id)
                                   .order_by(sessions.c.id))).all()
        msgs = (await conn.execute(messages.select().where(messages.c.tenant_id == tenant_id)
                                   .order_by(messages.c.id))).all()
    return {"sessions": [tuple(r) for r in sess], "messages": [tuple(r) for r in msgs]}


async def wait_until(condition, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll `condition()` until it is true or `timeout` passes; its last value."""
    for _ in range(int(timeout / interval)):
        if condition():
            return True
        await asyncio.sleep(interval)
    return condition()


def run_in_thread(coro):
    """Run a coroutine to completion on a fresh loop in another thread (leaves this thread's loop alone)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# `with scratch_mysql_database(url) as fresh_url:` a new, empty, uniquely named database on the server of
# `url` (e.g. the `mysql_database_url` fixture), dropped on exit.
scratch_mysql_database = ScratchDatabase
