"""The sockets' connect path (issue 28, reconnect storms), on both backends: `/ws?tenant=<id>`, reads batched
across the sockets that connect at once, and what the agent cache must never let through."""
from __future__ import annotations

import asyncio
import json

import pytest
from tornado import httpclient, websocket

from callcenter.auth_cache import AgentCache
from callcenter.store import CatchUp, agents, messages, sessions
from tests.wsclient import WsClient


async def open_socket(base_url: str, token: str, query: str = "", *, origin: str | None = None,
                      resume: dict | None = None) -> WsClient:
    """A socket on /ws`query`, its auth frame sent (not waiting for the answer)."""
    url = base_url.replace("http://", "ws://") + "/ws" + query
    headers = {"Origin": origin} if origin else {}
    client = WsClient(await websocket.websocket_connect(httpclient.HTTPRequest(url, headers=headers)))
    frame = {"type": "auth", "token": token}
    if resume is not None:
        frame["resume"] = resume
    await client.send_frame(frame)
    return client


async def refused(client: WsClient) -> tuple[int | None, str]:
    """(close code, reason) of a socket that must be closed without ever being let in."""
    code = await client.closed()
    assert not [f for f in client.frames if f["type"] == "auth.ok"], client.frames
    return code, client.conn.close_reason or ""


async def send_visitor_messages(api, visitor, n: int) -> None:
    for i in range(n):
        resp = await api.post("/api/v1/chat/public/message", {"session_id": visitor.session_id, "message": f"m{i}"},
                              token=visitor.token)
        assert resp.status in (200, 201), resp.body


# ---- /ws?tenant=<id> ---------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_tenant_hint_must_agree_with_the_token(api, base_url, tenant_factory):
    tenant, other = await tenant_factory(), await tenant_factory()
    visitor = await tenant.visitor(api)

    # The right tenant (or none: older clients) changes nothing.
    for token in (visitor.token, tenant.agent.token):
        ok = await open_socket(base_url, token, f"?tenant={tenant.id}")
        assert (await ok.next("auth.ok"))["data"]["kind"] in ("visitor", "agent")
        ok.close()

    # Another tenant's id: the token decides, and it says otherwise.
    for token in (visitor.token, tenant.agent.token):
        code, reason = await refused(await open_socket(base_url, token, f"?tenant={other.id}"))
        assert code == 4001 and "tenant" in reason

    # Not a tenant id at all: refused the same way, never a 5xx, whatever the token.
    for query in ("?tenant=", "?tenant=Not_A_Tenant", "?tenant=" + "a" * 65, "?tenant=%ff%fe",
                  f"?tenant={tenant.id}&tenant={tenant.id}", "?tenant=" + "x" * 5000, "?tenant=a%00b"):
        code, reason = await refused(await open_socket(base_url, visitor.token, query))
        assert code == 4001, query
        assert "tenant" in reason, query


# ---- what a cache must never let through ---------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_an_agent_revoked_behind_the_cache_never_keeps_a_socket(api, base_url, tenant_factory, services):
    """The worker cached the agent, then missed its revocation (as a worker does that held no socket of the
    tenant when it happened): the old token is still refused, without ever getting auth.ok."""
    tenant = await tenant_factory()
    first = await open_socket(base_url, tenant.agent.token)
    await first.next("auth.ok")
    first.close()
    cache = services.auth.agent_cache
    assert cache.get(tenant.id, tenant.agent.id, 1) is not None  # the next socket would skip the read

    # The revocation, written behind this worker's back (no chat.agent.revoked reaches it).
    async with services.store.engine.begin() as conn:
        await conn.execute(agents.update().where(agents.c.tenant_id == tenant.id, agents.c.id == tenant.agent.id)
                           .values(token_version=agents.c.token_version + 1))
    assert cache.get(tenant.id, tenant.agent.id, 1) is not None  # still there: the cache did not hear of it
    code, _ = await refused(await open_socket(base_url, tenant.agent.token))
    assert code == 4001
    assert cache.get(tenant.id, tenant.agent.id, 1) is None  # the check that refused it dropped the entry

    # Deactivated the same way, with a token of the current version: refused too.
    row = await services.store.get_agent(tenant.id, tenant.agent.id)
    token = services.signer.agent_token(row)
    ok = await open_socket(base_url, token)
    await ok.next("auth.ok")
    ok.close()
    async with services.store.engine.begin() as conn:
        await conn.execute(agents.update().where(agents.c.id == tenant.agent.id).values(active=False))
    code, _ = await refused(await open_socket(base_url, token))
    assert code == 4001


@pytest.mark.gen_test(timeout=30)
async def test_a_revocation_heard_here_drops_the_cached_agent(api, base_url, tenant_factory, services):
    tenant = await tenant_factory()
    ws = await WsClient.connect(base_url, tenant.agent.token)
    assert services.auth.agent_cache.get(tenant.id, tenant.agent.id, 1) is not None
    resp = await api.post(f"/api/v1/agents/{tenant.agent.id}/deactivate", {}, token=tenant.admin.token)
    assert resp.status == 200
    assert await ws.closed() == 4010
    assert services.auth.agent_cache.get(tenant.id, tenant.agent.id, 1) is None
    code, _ = await refused(await open_socket(base_url, tenant.agent.token))
    assert code == 4001


@pytest.mark.gen_test(timeout=30)
async def test_a_visitor_token_of_a_deleted_session_is_refused(api, base_url, tenant_factory, services):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    ws = await WsClient.connect(base_url, visitor.token)
    ws.close()
    async with services.store.engine.begin() as conn:
        await conn.execute(messages.delete().where(messages.c.session_id == visitor.session_id))
        await conn.execute(sessions.delete().where(sessions.c.id == visitor.session_id))
    code, _ = await refused(await open_socket(base_url, visitor.token))
    assert code == 4001


@pytest.mark.gen_test(timeout=30)
async def test_an_allowed_origins_change_applies_to_the_next_socket(api, base_url, tenant_factory, services):
    """Read with the session on every connect (in the batched read): the bound is the next socket."""
    tenant = await tenant_factory(allowed_origins=("https://old.example",))
    visitor = await tenant.visitor(api)
    ok = await open_socket(base_url, visitor.token, origin="https://old.example")
    await ok.next("auth.ok")
    await services.store.update_tenant(tenant.id, allowed_origins=["https://new.example"])
    code, _ = await refused(await open_socket(base_url, visitor.token, origin="https://old.example"))
    assert code == 4003
    new = await open_socket(base_url, visitor.token, origin="https://new.example")
    await new.next("auth.ok")
    ok.close()
    new.close()


@pytest.mark.gen_test(timeout=30)
async def test_tokens_of_no_agent_do_not_grow_the_cache(api, base_url, tenant_factory, services):
    tenant = await tenant_factory()
    cache = services.auth.agent_cache
    before = len(cache)
    for agent_id in range(10_000, 10_020):  # signed by us (a leaked key aside, only we can), of no agent
        token = services.signer.agent_token({"id": agent_id, "tenant_id": tenant.id, "token_version": 1})
        code, _ = await refused(await open_socket(base_url, token))
        assert code == 4001
    assert len(cache) == before


def test_the_agent_cache_is_bounded_scoped_by_tenant_and_expires(monkeypatch):
    cache = AgentCache(max_entries=3, ttl_secs=60)

    def row(tenant_id, agent_id, version=1, active=True):
        return {"tenant_id": tenant_id, "id": agent_id, "token_version": version, "active": active}
    for n in range(10):
        cache.put(row("t-a", n))
    assert len(cache) == 3
    assert [n for n in range(10) if cache.get("t-a", n, 1)] == [7, 8, 9]  # least recently used went first
    cache.put(row("t-b", 9, version=2))
    assert cache.get("t-a", 9, 1)["tenant_id"] == "t-a" and cache.get("t-b", 9, 2)["tenant_id"] == "t-b"
    assert cache.get("t-b", 9, 1) is None  # another version of the token: not this entry
    cache.put(row("t-c", 1, active=False))
    assert cache.get("t-c", 1, 1) is None
    cache.forget("t-b", 9)
    assert cache.get("t-b", 9, 2) is None

    clock = [1000.0]
    monkeypatch.setattr("callcenter.auth_cache.time.monotonic", lambda: clock[0])
    cache = AgentCache(max_entries=3, ttl_secs=60)
    cache.put(row("t-a", 1))
    clock[0] += 61
    assert cache.get("t-a", 1, 1) is None and len(cache) == 0


# ---- batched reads -------------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_many_sockets_resume_at_once_each_gets_exactly_what_it_missed(api, base_url, tenant_factory, services):
    """Twelve visitors and an agent come back at once (a reconnect storm in small): each gets exactly the
    messages after its resume point, in order, then live ones; the reads went in fewer batches than sockets."""
    tenant = await tenant_factory()
    visitors = [await tenant.visitor(api) for _ in range(12)]
    for n, visitor in enumerate(visitors):
        await send_visitor_messages(api, visitor, 2 + n % 3)
    note = await api.post(f"/api/v1/chat/sessions/{visitors[0].session_id}/notes", {"body": "agents only"},
                          token=tenant.agent.token)
    assert note.status == 201, note.body  # seq 3 of the first session, which its visitor never gets
    batches = []
    services.auth.socket_reads.batcher.on_batch = batches.append
    try:
        clients = await asyncio.gather(*(open_socket(base_url, v.token, resume={v.session_id: 1}) for v in visitors),
                                       open_socket(base_url, tenant.agent.token,
                                                   resume={v.session_id: 0 for v in visitors[:3]}))
        for client in clients:
            await client.next("auth.ok")
    finally:
        services.auth.socket_reads.batcher.on_batch = None
    assert 0 < len(batches) < len(clients)
    await send_visitor_messages(api, visitors[0], 1)  # seq 4, live
    for n, (visitor, client) in enumerate(zip(visitors, clients)):
        expected = [2, 4] if n == 0 else list(range(2, 3 + n % 3))
        got = [(await client.next("chat.message.new"))["data"]["message"]["seq"] for _ in expected]
        assert got == expected
        assert not [f for f in await client.quiet(0.2) if f["type"] == "chat.message.new"]
    agent = clients[-1]
    agent_seqs = {}
    for frame in agent.frames:
        if frame["type"] == "chat.message.new":
            agent_seqs.setdefault(frame["data"]["session_id"], []).append(frame["data"]["message"]["seq"])
    # The agent resumed three sessions from the start: all of each, the note included, in order, once.
    assert agent_seqs[visitors[0].session_id] == [1, 2, 3, 4]
    assert agent_seqs[visitors[1].session_id] == [1, 2, 3]
    assert agent_seqs[visitors[2].session_id] == [1, 2, 3, 4]
    for client in clients:
        client.close()


@pytest.mark.gen_test(timeout=30)
async def test_socket_reads_of_one_step_are_one_batch_scoped_by_tenant(api, tenant_factory, services):
    tenant, other = await tenant_factory(), await tenant_factory()
    visitor = await tenant.visitor(api)
    await send_visitor_messages(api, visitor, 3)
    reads = services.auth.socket_reads
    batches = []
    reads.batcher.on_batch = batches.append
    try:
        found, foreign, agent, nobody, pages, limited = await asyncio.gather(
            reads.session(tenant.id, visitor.session_id), reads.session(other.id, visitor.session_id),
            reads.agent(tenant.id, tenant.agent.id), reads.agent(other.id, tenant.agent.id),
            reads.catch_up([CatchUp(tenant.id, visitor.session_id, 1, True, 100),
                            CatchUp(other.id, visitor.session_id, 0, False, 100)]),
            reads.catch_up([CatchUp(tenant.id, visitor.session_id, 0, True, 2)]))
    finally:
        reads.batcher.on_batch = None
    assert batches == [6]
    assert found["id"] == visitor.session_id and found["allowed_origins"] == ["http://allowed.example"]
    assert foreign is None and nobody is None  # another tenant's id finds nothing
    assert agent["id"] == tenant.agent.id
    assert [m["seq"] for m in pages[0]] == [2, 3] and pages[1] == []
    assert [m["seq"] for m in limited[0]] == [1, 2]
    assert json.loads(json.dumps(pages[0][0]["body"])) == "m1"
