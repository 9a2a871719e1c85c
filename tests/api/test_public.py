"""Widget (visitor) routes: start, tenant info, send (idempotent), history, read marks, CORS."""
import re

import pytest

from ..helpers import snapshot
from ._support import (PUBLIC_MESSAGE, START, assert_error, gen_test, public_session, visitor_says)

ALLOWED = "http://allowed.example"
FOREIGN = "http://evil.example"


def tenant_info(tenant_id: str) -> str:
    return f"/api/v1/chat/public/tenants/{tenant_id}"


@gen_test
async def test_start_returns_session_and_token(api, tenant_factory):
    tenant = await tenant_factory()
    resp = await api.post(START, {"tenant_id": tenant.id, "channel": "web", "customer_name": " Ann ",
                                  "customer_email": "Ann@Example.COM", "page_url": "https://shop.example/cart"})
    assert resp.status == 201, resp.body
    body = resp.json
    assert re.fullmatch(r"[0-9a-f]{32}", body["session_id"])
    assert body["token"] and body["token"].count(".") == 2
    assert body["tenant"] == {"id": tenant.id, "name": f"Tenant {tenant.id}"}
    assert body["messages"] == []
    session = body["session"]
    assert session["id"] == body["session_id"] and session["tenant_id"] == tenant.id
    assert session["status"] == "open" and session["assigned_agent_id"] is None
    assert session["customer_name"] == "Ann" and session["customer_email"] == "ann@example.com"
    assert session["last_seq"] == 0 and session["unread"] == 0
    # The token opens this session.
    history = await api.get(public_session(body["session_id"]), token=body["token"])
    assert history.status == 200 and history.json["messages"] == [] and history.json["agent"] is None


@gen_test
async def test_start_with_only_the_tenant(api, tenant_factory):
    tenant = await tenant_factory()
    resp = await api.post(START, {"tenant_id": tenant.id})
    assert resp.status == 201, resp.body
    assert resp.json["session"]["channel"] == "web" and resp.json["session"]["customer_name"] == ""


@gen_test
async def test_start_unknown_tenant(api, tenant_factory):
    await tenant_factory()
    assert_error(await api.post(START, {"tenant_id": "no-such-tenant"}), 404, "tenant_not_found")


@gen_test
async def test_tenant_info(api, tenant_factory):
    tenant = await tenant_factory(settings={"require_email": True, "greeting": "Hello there"})
    resp = await api.get(tenant_info(tenant.id))
    assert resp.status == 200, resp.body
    doc = resp.json
    widget = doc["settings"].pop("widget")  # (the widget's look: tests/api/test_admin_console.py)
    # Opening hours and the team's numbers: tests/api/test_routing.py
    assert doc["settings"].pop("availability") == {"open": True, "next_open_at": None, "email_required": False,
                                                   "away_message": {"en": "", "es": "", "fr": "", "de": ""}}
    assert doc["settings"].pop("team") == {"agents_online": 0, "avatars": [], "typical_first_response_secs": None}
    assert doc == {"tenant": {"id": tenant.id, "name": f"Tenant {tenant.id}"},
                   "settings": {"require_name": False, "require_email": True, "greeting": "Hello there",
                                "max_upload_bytes": 10 * 1024 * 1024, "csat_enabled": True}}
    assert widget["prechat"] == {"name": "optional", "email": "required"}
    assert widget["greetings"]["en"] == "Hello there"
    # Nothing about agents or origins leaks to the public.
    assert b"allowed.example" not in resp.body and b"@" not in resp.body
    assert_error(await api.get(tenant_info("no-such-tenant")), 404, "tenant_not_found")


@pytest.mark.parametrize("setting,field,code", [
    ("require_email", "customer_email", "customer_email_required"),
    ("require_name", "customer_name", "customer_name_required"),
])
@gen_test
async def test_tenant_settings_require_fields(api, tenant_factory, setting, field, code):
    tenant = await tenant_factory(settings={setting: True})
    before = await snapshot(tenant.services.store, tenant.id)
    full = {"tenant_id": tenant.id, "customer_name": "Ann", "customer_email": "ann@example.com"}
    for missing in ({k: v for k, v in full.items() if k != field}, {**full, field: ""}, {**full, field: "   "}):
        assert_error(await api.post(START, missing), 400, code)
    assert await snapshot(tenant.services.store, tenant.id) == before
    assert (await api.post(START, full)).status == 201


@gen_test
async def test_send_and_history(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    resp = await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "message": "  Hello <b>there</b>  "},
                          token=visitor.token)
    assert resp.status == 201, resp.body
    msg = resp.json["message"]
    assert resp.json["created"] is True
    assert msg["seq"] == 1 and msg["sender_type"] == "visitor" and msg["sender_name"] == "Vera Visitor"
    assert msg["body"] == "Hello <b>there</b>" and msg["client_msg_id"] is None
    assert msg["session_id"] == visitor.session_id and isinstance(msg["id"], int)
    history = await api.get(public_session(visitor.session_id), token=visitor.token)
    assert [m["id"] for m in history.json["messages"]] == [msg["id"]]
    assert history.json["session"]["last_seq"] == 1


@gen_test
async def test_send_with_client_msg_id_is_idempotent(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    body = {"session_id": visitor.session_id, "message": "only once please", "client_msg_id": "c-1.a:b_Z"}
    first = await api.post(PUBLIC_MESSAGE, body, token=visitor.token)
    assert first.status == 201 and first.json["created"] is True
    after_first = await snapshot(tenant.services.store, tenant.id)
    again = await api.post(PUBLIC_MESSAGE, body, token=visitor.token)
    assert again.status == 200 and again.json["created"] is False
    assert again.json["message"] == first.json["message"]
    assert again.json["message"]["client_msg_id"] == "c-1.a:b_Z"
    # A retry with other text still returns the first message and stores nothing.
    changed = await api.post(PUBLIC_MESSAGE, {**body, "message": "different"}, token=visitor.token)
    assert changed.status == 200 and changed.json["message"]["id"] == first.json["message"]["id"]
    assert changed.json["message"]["body"] == "only once please"
    assert await snapshot(tenant.services.store, tenant.id) == after_first
    history = await api.get(public_session(visitor.session_id), token=visitor.token)
    assert [m["body"] for m in history.json["messages"]] == ["only once please"]
    # Another id makes another message.
    other = await api.post(PUBLIC_MESSAGE, {**body, "client_msg_id": "c-2"}, token=visitor.token)
    assert other.status == 201 and other.json["message"]["seq"] == 2


@gen_test
async def test_history_after_seq(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    for i in range(1, 7):
        await visitor_says(api, visitor, f"message {i}")
    for n in (0, 1, 3, 5, 6, 100):
        resp = await api.get(public_session(visitor.session_id) + f"?after_seq={n}", token=visitor.token)
        assert resp.status == 200, resp.body
        seqs = [m["seq"] for m in resp.json["messages"]]
        assert seqs == list(range(n + 1, 7)), (n, seqs)
        assert [m["body"] for m in resp.json["messages"]] == [f"message {s}" for s in seqs]
    limited = await api.get(public_session(visitor.session_id) + "?after_seq=1&limit=2", token=visitor.token)
    assert [m["seq"] for m in limited.json["messages"]] == [2, 3]
    for bad in ("-1", "abc", "1.5", "99999999999"):
        assert_error(await api.get(public_session(visitor.session_id) + f"?after_seq={bad}", token=visitor.token),
                     400, "invalid_query")


@gen_test
async def test_history_shows_the_assigned_agent_by_name_only(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    resp = await api.post(f"/api/v1/chat/sessions/{visitor.session_id}/assign", {}, token=tenant.agent.token)
    assert resp.status == 200
    history = await api.get(public_session(visitor.session_id), token=visitor.token)
    assert history.json["agent"] == {"id": tenant.agent.id, "name": "Bob Agent"}
    assert tenant.agent.email.encode() not in history.body


@gen_test
async def test_visitor_read_mark(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    await visitor_says(api, visitor, "hi")
    for i in range(3):
        resp = await api.post("/api/v1/chat/messages", {"session_id": visitor.session_id, "message": f"reply {i}"},
                              token=tenant.agent.token)
        assert resp.status == 201
    read = f"{public_session(visitor.session_id)}/read"
    resp = await api.post(read, {"seq": 2}, token=visitor.token)
    assert resp.status == 200, resp.body
    assert resp.json["session"]["visitor_read_seq"] == 2
    # Never moves back; never past the last message.
    assert (await api.post(read, {"seq": 1}, token=visitor.token)).json["session"]["visitor_read_seq"] == 2
    assert (await api.post(read, {"seq": 99}, token=visitor.token)).json["session"]["visitor_read_seq"] == 4
    # The agents' side is separate.
    assert resp.json["session"]["agent_read_seq"] == 0
    assert_error(await api.post(read, {"seq": -1}, token=visitor.token), 400, "invalid_input")


# ---- CORS -------------------------------------------------------------------------

@gen_test
async def test_cors_for_allowed_and_foreign_origins(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)

    async def calls(origin):
        hdr = {"Origin": origin}
        return [
            await api.get(tenant_info(tenant.id), headers=hdr),
            await api.post(START, {"tenant_id": tenant.id}, headers=hdr),
            await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "message": "hi"},
                           token=visitor.token, headers=hdr),
            await api.get(public_session(visitor.session_id), token=visitor.token, headers=hdr),
            await api.post(public_session(visitor.session_id) + "/read", {"seq": 0}, token=visitor.token,
                           headers=hdr),
        ]

    for resp in await calls(ALLOWED):
        assert resp.status in (200, 201), resp.body
        assert resp.headers.get("Access-Control-Allow-Origin") == ALLOWED
        assert "Origin" in resp.headers.get("Vary", "")
    for i, resp in enumerate(await calls(FOREIGN)):
        if i == 1:
            continue  # the start: below
        assert resp.status in (200, 201), resp.body
        assert "Access-Control-Allow-Origin" not in resp.headers
    # Starting a conversation from a page the tenant does not allow is refused and leaves nothing
    # behind (that page could not read the answer, and a retrying widget would pile up sessions).
    before = await snapshot(tenant.services.store, tenant.id)
    refused = await api.post(START, {"tenant_id": tenant.id}, headers={"Origin": FOREIGN})
    assert_error(refused, 403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert await snapshot(tenant.services.store, tenant.id) == before
    # No Origin header at all (server-to-server): no CORS headers either.
    plain = await api.get(tenant_info(tenant.id))
    assert "Access-Control-Allow-Origin" not in plain.headers


@gen_test
async def test_cors_follows_each_tenants_own_list(api, tenant_factory):
    mine = await tenant_factory(allowed_origins=("https://mine.example",))
    other = await tenant_factory(allowed_origins=("https://other.example",))
    for tenant, origin, allowed in ((mine, "https://mine.example", True), (mine, "https://other.example", False),
                                    (other, "https://other.example", True), (other, "https://mine.example", False)):
        resp = await api.get(tenant_info(tenant.id), headers={"Origin": origin})
        assert resp.status == 200
        assert (resp.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    anyone = await tenant_factory(allowed_origins=("*",))
    resp = await api.get(tenant_info(anyone.id), headers={"Origin": FOREIGN})
    assert resp.headers.get("Access-Control-Allow-Origin") == FOREIGN


@pytest.mark.parametrize("path", ["/api/v1/chat/public/start", "/api/v1/chat/public/message",
                                  "/api/v1/chat/public/session/0123456789abcdef0123456789abcdef",
                                  "/api/v1/chat/public/session/0123456789abcdef0123456789abcdef/read",
                                  "/api/v1/chat/public/tenants/some-tenant"])
@gen_test
async def test_preflight(api, tenant_factory, path):
    await tenant_factory()
    resp = await api.request("OPTIONS", path, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert resp.status == 204, resp.body
    assert resp.headers.get("Access-Control-Allow-Origin") == ALLOWED
    assert "POST" in resp.headers.get("Access-Control-Allow-Methods", "")
    allowed_headers = resp.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert resp.body == b""
