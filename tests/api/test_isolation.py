"""Tenants see only their own data; a visitor token opens exactly one session; no token opens nothing.
Every refused write leaves the store as it was."""
import pytest

from ..helpers import PASSWORD, snapshot
from ._support import (AGENT_MESSAGE, PUBLIC_MESSAGE, SESSIONS, START, agent_says, assert_error, gen_test,
                       public_session, session_path, visitor_says)

SECRET_TEXT = "zebra-quartz-7781 order"


async def two_tenants(api, tenant_factory):
    """Tenant A with an assigned, talkative session (and a resolved one); tenant B with its own."""
    a = await tenant_factory()
    b = await tenant_factory()
    va = await a.visitor(api, name="Alpha Customer", email="alpha@a.example")
    await visitor_says(api, va, SECRET_TEXT)
    assert (await api.post(session_path(va.session_id, "assign"), {}, token=a.agent.token)).status == 200
    await agent_says(api, a.agent, va.session_id, "reply from A")
    va_resolved = await a.visitor(api, name="Alpha Two", email="alpha2@a.example")
    assert (await api.post(session_path(va_resolved.session_id, "resolve"), {}, token=a.agent.token)).status == 200
    vb = await b.visitor(api, name="Bravo Customer", email="bravo@b.example")
    await visitor_says(api, vb, "hello from B")
    return a, b, va, va_resolved, vb


def agent_session_calls(sid: str, a, b):
    """Every agent route that takes a session id: (method, path, body)."""
    return [
        ("GET", session_path(sid), None),
        ("GET", session_path(sid, "messages"), None),
        ("GET", session_path(sid, "messages") + "?after_seq=0", None),
        ("GET", session_path(sid, "messages") + "?before_seq=3", None),
        ("POST", AGENT_MESSAGE, {"session_id": sid, "message": "cross-tenant hello"}),
        ("POST", AGENT_MESSAGE, {"session_id": sid, "message": "cross-tenant hello", "client_msg_id": "x1"}),
        ("POST", session_path(sid, "assign"), {}),
        ("POST", session_path(sid, "assign"), {"agent_id": b.agent.id}),
        ("POST", session_path(sid, "assign"), {"agent_id": a.agent.id}),
        ("POST", session_path(sid, "transfer"), {"agent_id": b.admin.id}),
        ("POST", session_path(sid, "transfer"), {"agent_id": a.admin.id}),
        ("POST", session_path(sid, "resolve"), {}),
        ("POST", session_path(sid, "reopen"), {}),
        ("POST", session_path(sid, "read"), {"seq": 1}),
    ]


@pytest.mark.parametrize("who", ["agent", "admin"])
@gen_test
async def test_other_tenants_agent_gets_404_on_every_session_route(api, tenant_factory, who):
    a, b, va, va_resolved, _ = await two_tenants(api, tenant_factory)
    intruder = getattr(b, who)
    store = a.services.store
    before_a, before_b = await snapshot(store, a.id), await snapshot(store, b.id)
    for sid in (va.session_id, va_resolved.session_id):
        for method, path, body in agent_session_calls(sid, a, b):
            resp = await api.request(method, path, json_body=body, token=intruder.token)
            err = assert_error(resp, 404)
            assert err["code"] in ("session_not_found", "agent_not_found"), (path, err)
            for leak in (SECRET_TEXT, "Alpha", "alpha@a.example", a.id, a.agent.email):
                assert leak.encode() not in resp.body, (path, leak)
            assert await snapshot(store, a.id) == before_a, (method, path, body)
            assert await snapshot(store, b.id) == before_b, (method, path, body)


@gen_test
async def test_list_and_search_never_show_other_tenants(api, tenant_factory):
    a, b, va, va_resolved, vb = await two_tenants(api, tenant_factory)
    a_ids = {va.session_id, va_resolved.session_id}
    for query in ("", "status=open", "status=assigned", "status=resolved", "status=active", "assigned=none",
                  f"assigned={a.agent.id}", "assigned=me", "q=zebra-quartz", "q=Alpha", "q=alpha%40a.example",
                  "q=reply", "q=a"):
        resp = await api.get(f"{SESSIONS}?limit=100&{query}", token=b.agent.token)
        assert resp.status == 200, resp.body
        ids = {s["id"] for s in resp.json["sessions"]}
        assert not ids & a_ids, query
        assert ids <= {vb.session_id}, query
        assert SECRET_TEXT.encode() not in resp.body and b"Alpha" not in resp.body
    # ... while A finds its own.
    found = await api.get(f"{SESSIONS}?q=zebra-quartz", token=a.agent.token)
    assert [s["id"] for s in found.json["sessions"]] == [va.session_id]
    # A's agents are not B's.
    agents = await api.get("/api/v1/agents", token=b.agent.token)
    assert {x["id"] for x in agents.json["agents"]} == {b.agent.id, b.admin.id}
    me = await api.get("/api/v1/auth/me", token=b.agent.token)
    assert me.json["tenant"]["id"] == b.id


@gen_test
async def test_cursor_from_another_tenant_reveals_nothing(api, tenant_factory):
    a, b, va, va_resolved, vb = await two_tenants(api, tenant_factory)
    page = await api.get(f"{SESSIONS}?limit=1", token=a.agent.token)
    cursor = page.json["next_cursor"]
    assert cursor
    resp = await api.get(f"{SESSIONS}?limit=100&cursor={cursor}", token=b.agent.token)
    assert resp.status == 200
    assert {s["id"] for s in resp.json["sessions"]} <= {vb.session_id}


@gen_test
async def test_visitor_token_opens_only_its_own_session(api, tenant_factory):
    a, b, va, va_resolved, vb = await two_tenants(api, tenant_factory)
    same_tenant = await a.visitor(api, name="Other Visitor", email="other@a.example")
    store = a.services.store
    before = {t.id: await snapshot(store, t.id) for t in (a, b)}
    for holder, target in ((va, vb), (va, same_tenant), (vb, va), (same_tenant, va)):
        calls = [
            ("GET", public_session(target.session_id), None),
            ("GET", public_session(target.session_id) + "?after_seq=0", None),
            ("POST", PUBLIC_MESSAGE, {"session_id": target.session_id, "message": "not my chat"}),
            ("POST", PUBLIC_MESSAGE, {"session_id": target.session_id, "message": "not my chat",
                                      "client_msg_id": "m1"}),
            ("POST", public_session(target.session_id) + "/read", {"seq": 1}),
        ]
        for method, path, body in calls:
            resp = await api.request(method, path, json_body=body, token=holder.token)
            assert_error(resp, 404, "session_not_found")
            assert SECRET_TEXT.encode() not in resp.body and b"hello from B" not in resp.body
            assert {t.id: await snapshot(store, t.id) for t in (a, b)} == before, (holder, path)


@gen_test
async def test_agent_routes_need_a_token(api, tenant_factory):
    a, b, va, va_resolved, vb = await two_tenants(api, tenant_factory)
    store = a.services.store
    before = await snapshot(store, a.id)
    calls = [("GET", "/api/v1/auth/me", None), ("GET", SESSIONS, None), ("GET", "/api/v1/agents", None)]
    calls += agent_session_calls(va.session_id, a, b)
    for method, path, body in calls:
        for token in (None, va.token):  # none at all, or a visitor's
            resp = await api.request(method, path, json_body=body, token=token)
            assert_error(resp, 401, "missing_token" if token is None else "invalid_token")
            assert SECRET_TEXT.encode() not in resp.body
            assert await snapshot(store, a.id) == before, (method, path)


@gen_test
async def test_public_routes_after_start_need_the_visitor_token(api, tenant_factory):
    a, b, va, va_resolved, vb = await two_tenants(api, tenant_factory)
    store = a.services.store
    before = await snapshot(store, a.id)
    calls = [
        ("GET", public_session(va.session_id), None),
        ("POST", PUBLIC_MESSAGE, {"session_id": va.session_id, "message": "sneaky"}),
        ("POST", public_session(va.session_id) + "/read", {"seq": 2}),
    ]
    for method, path, body in calls:
        for token in (None, a.agent.token):  # none, or an agent's (not a visitor token)
            resp = await api.request(method, path, json_body=body, token=token)
            assert_error(resp, 401, "missing_token" if token is None else "invalid_token")
            assert SECRET_TEXT.encode() not in resp.body
            assert await snapshot(store, a.id) == before, (method, path)


@gen_test
async def test_agent_routes_refuse_foreign_origins(api, tenant_factory):
    a, b, va, va_resolved, vb = await two_tenants(api, tenant_factory)
    store = a.services.store
    before = await snapshot(store, a.id)
    for method, path, body in [("GET", SESSIONS, None)] + agent_session_calls(va.session_id, a, b):
        # Even the tenant's widget origin: agent routes are same-origin only.
        resp = await api.request(method, path, json_body=body, token=a.admin.token,
                                 headers={"Origin": "http://allowed.example"})
        assert_error(resp, 403, "cross_origin_forbidden")
        assert "Access-Control-Allow-Origin" not in resp.headers
    assert await snapshot(store, a.id) == before


@gen_test
async def test_sessions_of_another_tenant_cannot_be_started_into(api, tenant_factory):
    """A start names its tenant; the session belongs to it and to nobody else."""
    a, b, va, va_resolved, vb = await two_tenants(api, tenant_factory)
    resp = await api.post(START, {"tenant_id": b.id, "customer_name": "Mallory"})
    assert resp.status == 201
    sid = resp.json["session_id"]
    assert_error(await api.get(session_path(sid), token=a.agent.token), 404, "session_not_found")
    assert (await api.get(session_path(sid), token=b.agent.token)).status == 200


@gen_test
async def test_ids_are_case_sensitive(api, tenant_factory):
    """MySQL's default collation folds case; ids must not (a lookalike id is another, unknown, one)."""
    a, b, va, va_resolved, vb = await two_tenants(api, tenant_factory)
    upper_sid = va.session_id.upper()
    assert upper_sid != va.session_id
    assert_error(await api.get(session_path(upper_sid), token=a.agent.token), 404, "session_not_found")
    assert_error(await api.get(public_session(upper_sid), token=va.token), 404, "session_not_found")
    upper_tenant = a.id.upper()
    assert_error(await api.get(f"/api/v1/chat/public/tenants/{upper_tenant}"), 404, "tenant_not_found")
    assert_error(await api.post(START, {"tenant_id": upper_tenant}), 404, "tenant_not_found")
    assert_error(await api.post("/api/v1/auth/login", {"email": a.agent.email, "password": PASSWORD,
                                                       "tenant_id": upper_tenant}), 401, "invalid_credentials")
