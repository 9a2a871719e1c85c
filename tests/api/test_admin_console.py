"""The admin console's API: invitations and reset links, agents' roles and profiles under the last-admin
rule, the tenant's and widget's settings (allowed origins on every worker), the audit log, AI usage.

Both backends. Links are tried as an attacker would: twice, late, guessed, from another tenant.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from callcenter import team as team_module
from callcenter.app import create_services, make_app
from callcenter.store import agent_links

from ..helpers import PASSWORD, snapshot
from ._support import LOGIN, assert_error, gen_test

AGENTS = "/api/v1/agents"
TENANT = "/api/v1/tenant"
AUDIT = "/api/v1/audit"
LINKS = "/api/v1/auth/invitations"
NEW_PASSWORD = "Brand-New-Passw0rd"


def token_of(url: str) -> str:
    assert url.startswith("/?invite="), url
    return parse_qs(urlsplit(url).query)["invite"][0]


async def invite(api, tenant, email="new@x.example", name="Nia New", role="agent"):
    resp = await api.post(AGENTS, {"email": email, "name": name, "role": role}, token=tenant.admin.token)
    assert resp.status == 201, resp.body
    return resp.json


async def accept(api, token: str, password: str = NEW_PASSWORD):
    return await api.post(f"{LINKS}/accept", {"token": token, "password": password})


async def audit_actions(api, tenant) -> list[str]:
    resp = await api.get(AUDIT, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    return [e["action"] for e in resp.json["events"]]


# ---- invitations ----------------------------------------------------------------------------------

@gen_test
async def test_an_invited_agent_sets_a_password_once_and_signs_in(api, tenant_factory, services):
    tenant = await tenant_factory()
    doc = await invite(api, tenant, email="Nia@X.example", role="admin")
    agent, link = doc["agent"], doc["invitation"]
    assert agent["status"] == "invited" and agent["email"] == "nia@x.example" and agent["role"] == "admin"
    assert link["expires_at"]
    token = token_of(link["url"])
    listed = {a["id"]: a for a in (await api.get(AGENTS, token=tenant.agent.token)).json["agents"]}
    assert listed[agent["id"]]["status"] == "invited"
    # Not before accepting (no password opens it).
    assert_error(await api.post(LOGIN, {"email": "nia@x.example", "password": "", "tenant_id": tenant.id}), 400)
    # The token is stored only as its SHA-256.
    async with services.store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(agent_links).where(agent_links.c.tenant_id == tenant.id))).all()
    stored = " ".join(str(v) for r in rows for v in r)
    assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored

    info = await api.get(f"{LINKS}/{token}")
    assert info.status == 200, info.body
    assert info.json["purpose"] == "invite" and info.json["email"] == "nia@x.example"
    assert info.json["tenant"] == {"id": tenant.id, "name": f"Tenant {tenant.id}"}

    assert_error(await accept(api, token, "short"), 400, "invalid_input")
    signed_in = await accept(api, token)
    assert signed_in.status == 200, signed_in.body
    assert set(signed_in.json) == {"token", "agent", "expires_in"}
    assert signed_in.json["agent"]["status"] == "active"
    me = await api.get("/api/v1/auth/me", token=signed_in.json["token"])
    assert me.status == 200 and me.json["agent"]["preferences"] == {
        "sound": True, "new_conversations": True, "assigned_messages": True, "mentions": True}
    # Single use: the same link is now invalid, one code whatever the reason.
    assert_error(await accept(api, token, "Another-Passw0rd"), 404, "invitation_invalid")
    assert_error(await api.get(f"{LINKS}/{token}"), 404, "invitation_invalid")
    assert_error(await api.get(f"{LINKS}/not-a-token"), 404, "invitation_invalid")
    login = await api.post(LOGIN, {"email": "nia@x.example", "password": NEW_PASSWORD, "tenant_id": tenant.id})
    assert login.status == 200, login.body
    assert {"agent.invited", "agent.invitation_accepted"} <= set(await audit_actions(api, tenant))


@gen_test
async def test_one_address_invited_in_parallel_is_one_agent(api, tenant_factory):
    tenant = await tenant_factory()
    results = await asyncio.gather(*(api.post(AGENTS, {"email": "twin@x.example", "name": f"Twin {i}"},
                                              token=tenant.admin.token) for i in range(8)))
    assert sorted(r.status for r in results) == [201] + [409] * 7, [r.body for r in results]
    assert all(r.json["error"]["code"] == "email_taken" for r in results if r.status == 409)
    listed = (await api.get(AGENTS, token=tenant.admin.token)).json["agents"]
    assert [a["email"] for a in listed].count("twin@x.example") == 1


@gen_test
async def test_invitation_rules(api, tenant_factory):
    tenant = await tenant_factory()
    other = await tenant_factory()
    body = {"email": "dup@x.example", "name": "Dup"}
    assert_error(await api.post(AGENTS, body, token=tenant.agent.token), 403, "admin_only")
    await invite(api, tenant, email="dup@x.example")
    assert_error(await api.post(AGENTS, body, token=tenant.admin.token), 409, "email_taken")
    assert_error(await api.post(AGENTS, {**body, "email": tenant.agent.email}, token=tenant.admin.token), 409,
                 "email_taken")
    # The same address in another tenant is another agent.
    assert (await api.post(AGENTS, body, token=other.admin.token)).status == 201
    before = await snapshot(tenant.services.store, tenant.id)
    for bad in ({**body, "role": "owner"}, {**body, "email": "not-an-email"}, {**body, "name": ""},
                {**body, "name": "x" * 201}, {"email": "a@b.example"}, {**body, "extra": 1}):
        assert_error(await api.post(AGENTS, {**bad, "email": bad.get("email", "z@z.example")} if "email" in bad
                                    else bad, token=tenant.admin.token), 400)
    assert await snapshot(tenant.services.store, tenant.id) == before


@gen_test
async def test_a_renewed_invitation_ends_the_old_one_and_links_expire(api, tenant_factory, monkeypatch):
    tenant = await tenant_factory()
    doc = await invite(api, tenant)
    agent_id, first = doc["agent"]["id"], token_of(doc["invitation"]["url"])
    assert_error(await api.post(f"{AGENTS}/{agent_id}/invitation", {}, token=tenant.agent.token), 403, "admin_only")
    renewed = await api.post(f"{AGENTS}/{agent_id}/invitation", {}, token=tenant.admin.token)
    assert renewed.status == 200, renewed.body
    second = token_of(renewed.json["url"])
    assert renewed.json["invitation"]["url"] == renewed.json["url"]
    assert_error(await api.get(f"{LINKS}/{first}"), 404, "invitation_invalid")
    assert (await api.get(f"{LINKS}/{second}")).status == 200
    # 72 hours later the link is dead.
    now = time.time()
    monkeypatch.setattr(team_module, "clock", lambda: now + 72 * 3600 + 5)
    assert_error(await api.get(f"{LINKS}/{second}"), 404, "invitation_invalid")
    assert_error(await accept(api, second), 404, "invitation_invalid")
    monkeypatch.setattr(team_module, "clock", lambda: now + 71 * 3600)
    assert (await accept(api, second)).status == 200
    # An accepted agent gets no new invitation.
    assert_error(await api.post(f"{AGENTS}/{agent_id}/invitation", {}, token=tenant.admin.token), 409, "not_invited")
    assert "agent.invitation_renewed" in await audit_actions(api, tenant)


@gen_test
async def test_a_reset_link_signs_the_agent_out_at_once(api, tenant_factory):
    tenant = await tenant_factory()
    me = await api.get("/api/v1/auth/me", token=tenant.agent.token)
    assert me.status == 200
    assert_error(await api.post(f"{AGENTS}/{tenant.agent.id}/password-reset", {}, token=tenant.agent.token), 403,
                 "admin_only")
    reset = await api.post(f"{AGENTS}/{tenant.agent.id}/password-reset", {}, token=tenant.admin.token)
    assert reset.status == 200, reset.body
    assert set(reset.json) == {"url", "expires_at"}
    assert_error(await api.get("/api/v1/auth/me", token=tenant.agent.token), 401)
    info = await api.get(f"{LINKS}/{token_of(reset.json['url'])}")
    assert info.status == 200 and info.json["purpose"] == "reset"
    signed_in = await accept(api, token_of(reset.json["url"]))
    assert signed_in.status == 200, signed_in.body
    assert_error(await api.post(LOGIN, {"email": tenant.agent.email, "password": PASSWORD, "tenant_id": tenant.id}),
                 401, "invalid_credentials")
    assert (await api.post(LOGIN, {"email": tenant.agent.email, "password": NEW_PASSWORD,
                                   "tenant_id": tenant.id})).status == 200
    assert "agent.password_reset" in await audit_actions(api, tenant)


@gen_test
async def test_link_routes_are_rate_limited(api, tenant_factory):
    await tenant_factory()
    codes = [(await api.get(f"{LINKS}/guess-{n}")).status for n in range(30)]
    assert codes[0] == 404 and 429 in codes


# ---- agents ---------------------------------------------------------------------------------------

@gen_test
async def test_who_may_change_which_agent_fields(api, tenant_factory):
    tenant = await tenant_factory()
    path = f"{AGENTS}/{tenant.agent.id}"
    own = await api.patch(path, {"name": "Bobby", "avatar_color": "#AABBCC", "preferences": {"sound": False}},
                          token=tenant.agent.token)
    assert own.status == 200, own.body
    assert own.json["agent"]["avatar_color"] == "#aabbcc" and own.json["agent"]["preferences"]["sound"] is False
    assert own.json["agent"]["preferences"]["mentions"] is True
    listed = {a["id"]: a for a in (await api.get(AGENTS, token=tenant.agent.token)).json["agents"]}
    assert listed[tenant.agent.id]["preferences"]["sound"] is False and "preferences" not in listed[tenant.admin.id]
    assert {"role", "status", "open_conversations", "avatar_color"} <= set(listed[tenant.admin.id])
    assert_error(await api.patch(path, {"role": "admin"}, token=tenant.agent.token), 403, "admin_only")
    assert_error(await api.patch(f"{AGENTS}/{tenant.admin.id}", {"name": "X"}, token=tenant.agent.token), 403)
    assert_error(await api.patch(path, {"avatar_color": "red"}, token=tenant.agent.token), 400, "invalid_color")
    assert_error(await api.patch(path, {"role": "owner"}, token=tenant.admin.token), 400, "invalid_input")
    assert_error(await api.patch(path, {"preferences": {"sound": "no"}}, token=tenant.agent.token), 400)
    assert_error(await api.patch(path, {"avatar_color": "#000000"}, token=tenant.admin.token), 403)
    assert_error(await api.patch(f"{AGENTS}/999999", {"name": "X"}, token=tenant.admin.token), 404)
    renamed = await api.patch(path, {"name": "Robert"}, token=tenant.admin.token)
    assert renamed.status == 200 and renamed.json["agent"]["name"] == "Robert"
    # A role change signs the agent out everywhere.
    promoted = await api.patch(path, {"role": "admin"}, token=tenant.admin.token)
    assert promoted.status == 200 and promoted.json["agent"]["role"] == "admin"
    assert_error(await api.get("/api/v1/auth/me", token=tenant.agent.token), 401)
    actions = await audit_actions(api, tenant)
    assert {"agent.role_changed", "agent.updated"} <= set(actions)
    # Another tenant's admin sees no such agent.
    other = await tenant_factory()
    assert_error(await api.patch(path, {"name": "Hijack"}, token=other.admin.token), 404, "agent_not_found")
    assert_error(await api.post(f"{AGENTS}/{tenant.agent.id}/password-reset", {}, token=other.admin.token), 404)


@gen_test
async def test_the_last_admin_stays(api, tenant_factory, services):
    from ..helpers import TenantFactory

    tenant = await tenant_factory()
    assert_error(await api.patch(f"{AGENTS}/{tenant.admin.id}", {"role": "agent"}, token=tenant.admin.token), 409,
                 "last_admin")
    second = await TenantFactory(services).add_agent(tenant, name="Second Admin", role="admin")
    demoted = await api.patch(f"{AGENTS}/{tenant.admin.id}", {"role": "agent"}, token=second.token)
    assert demoted.status == 200, demoted.body
    assert_error(await api.patch(f"{AGENTS}/{second.id}", {"role": "agent"}, token=second.token), 409, "last_admin")
    assert_error(await api.post(f"{AGENTS}/{second.id}/deactivate", {}, token=second.token), 409)


@pytest.mark.parametrize("how", ["demote", "deactivate"])
@gen_test
async def test_two_admins_removing_each_other_at_once_leave_one(api, tenant_factory, services, how):
    from ..helpers import TenantFactory

    tenant = await tenant_factory()
    other = await TenantFactory(services).add_agent(tenant, name="Second Admin", role="admin")

    async def remove(actor, target_id):
        if how == "demote":
            return await api.patch(f"{AGENTS}/{target_id}", {"role": "agent"}, token=actor.token)
        return await api.post(f"{AGENTS}/{target_id}/deactivate", {}, token=actor.token)

    results = await asyncio.gather(remove(tenant.admin, other.id), remove(other, tenant.admin.id))
    statuses = sorted(r.status for r in results)
    assert statuses[0] == 200 and statuses[1] in (401, 409), [(r.status, r.body) for r in results]
    agents = await services.store.list_agents(tenant.id)
    assert [a for a in agents if a["role"] == "admin" and a["active"]], agents


@gen_test
async def test_deactivation_and_activation_are_audited(api, tenant_factory):
    tenant = await tenant_factory()
    off = await api.post(f"{AGENTS}/{tenant.agent.id}/deactivate", {}, token=tenant.admin.token)
    assert off.status == 200 and off.json["agent"]["status"] == "deactivated"
    assert_error(await api.get("/api/v1/auth/me", token=tenant.agent.token), 401)
    on = await api.post(f"{AGENTS}/{tenant.agent.id}/activate", {}, token=tenant.admin.token)
    assert on.status == 200 and on.json["agent"]["status"] == "active"
    # An invited agent is activated by accepting, not by an admin.
    doc = await invite(api, tenant)
    assert_error(await api.post(f"{AGENTS}/{doc['agent']['id']}/activate", {}, token=tenant.admin.token), 409,
                 "agent_invited")
    actions = await audit_actions(api, tenant)
    assert {"agent.deactivated", "agent.activated"} <= set(actions)


# ---- tenant and widget settings ------------------------------------------------------------------

@gen_test
async def test_tenant_settings_round_trip(api, tenant_factory):
    tenant = await tenant_factory()
    got = await api.get(TENANT, token=tenant.agent.token)
    assert got.status == 200
    assert got.json["tenant"]["allowed_origins"] == ["http://allowed.example"]
    widget = got.json["settings"]["widget"]
    assert widget["position"] == "bottom-right" and widget["prechat"] == {"name": "optional", "email": "optional"}
    change = {"name": "Acme Support", "allowed_origins": ["HTTPS://Shop.Example", "https://shop.example:443",
                                                          "http://localhost:8080/"],
              "widget": {"title": "Chat with Acme", "primary_color": "#FF0000", "position": "bottom-left",
                         "greetings": {"es": "Hola"}, "prechat": {"email": "required", "name": "hidden"}}}
    assert_error(await api.patch(TENANT, change, token=tenant.agent.token), 403, "admin_only")
    resp = await api.patch(TENANT, change, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    assert resp.json["tenant"] == {"id": tenant.id, "name": "Acme Support",
                                   "allowed_origins": ["http://localhost:8080", "https://shop.example"]}
    widget = resp.json["settings"]["widget"]
    assert widget["primary_color"] == "#ff0000" and widget["subtitle"] == "" and widget["greetings"]["es"] == "Hola"
    # Only the fields given change.
    again = await api.patch(TENANT, {"widget": {"subtitle": "We answer fast"}}, token=tenant.admin.token)
    assert again.json["settings"]["widget"]["title"] == "Chat with Acme"
    public = (await api.get(f"/api/v1/chat/public/tenants/{tenant.id}")).json
    assert public["tenant"] == {"id": tenant.id, "name": "Acme Support"}
    assert public["settings"]["require_email"] is True and public["settings"]["require_name"] is False
    assert public["settings"]["widget"]["subtitle"] == "We answer fast"
    assert b"shop.example" not in (await api.get(f"/api/v1/chat/public/tenants/{tenant.id}")).body
    # The pre-chat form's rule holds on start.
    start = await api.post("/api/v1/chat/public/start", {"tenant_id": tenant.id, "customer_name": "A"})
    assert_error(start, 400, "customer_email_required")
    events = (await api.get(AUDIT, token=tenant.admin.token)).json["events"]
    updated = [e for e in events if e["action"] == "tenant.updated"]
    assert updated[-1]["details"]["origins_added"] == ["http://localhost:8080", "https://shop.example"]
    assert updated[-1]["details"]["origins_removed"] == ["http://allowed.example"]
    assert "widget.title" in updated[-1]["details"]["fields"] and "name" in updated[-1]["details"]["fields"]


@pytest.mark.parametrize("body,code", [
    ({"allowed_origins": ["ftp://x.example"]}, "invalid_origin"),
    ({"allowed_origins": ["https://x.example/path"]}, "invalid_origin"),
    ({"allowed_origins": ["https://user@x.example"]}, "invalid_origin"),
    ({"allowed_origins": ["https://x.example?q=1"]}, "invalid_origin"),
    ({"allowed_origins": ["*"]}, "invalid_origin"),
    ({"allowed_origins": [f"https://h{n}.example" for n in range(51)]}, "too_many_origins"),
    ({"allowed_origins": "https://x.example"}, "invalid_input"),
    ({"widget": {"primary_color": "blue"}}, "invalid_color"),
    ({"widget": {"title": "t" * 61}}, "invalid_input"),
    ({"widget": {"subtitle": "s" * 121}}, "invalid_input"),
    ({"widget": {"greetings": {"en": "g" * 501}}}, "invalid_input"),
    ({"widget": {"greetings": {"it": "Ciao"}}}, "invalid_input"),
    ({"widget": {"position": "top"}}, "invalid_input"),
    ({"widget": {"prechat": {"name": "maybe"}}}, "invalid_input"),
    ({"name": ""}, "invalid_input"),
    ({"csat_enabled": "yes"}, "invalid_input"),
])
@gen_test
async def test_bad_tenant_settings_change_nothing(api, tenant_factory, body, code):
    tenant = await tenant_factory()
    before = (await api.get(TENANT, token=tenant.admin.token)).json
    err = assert_error(await api.patch(TENANT, {"name": "Changed", **body} if "name" not in body else body,
                                       token=tenant.admin.token), 400, code)
    if code == "invalid_origin":
        assert body["allowed_origins"][0][:10] in err["message"]
    assert (await api.get(TENANT, token=tenant.admin.token)).json == before


@gen_test
async def test_an_origin_change_applies_on_every_worker(api, tenant_factory, config, base_url):
    """A second app (another worker's services on the same store) answers CORS by the new list at once."""
    tenant = await tenant_factory()
    second = create_services(config)
    await second.start()
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(second))
    server.add_sockets([sock])
    client = AsyncHTTPClient(force_instance=True)
    try:
        async def allowed_at(base: str, origin: str) -> str | None:
            resp = await client.fetch(f"{base}/api/v1/chat/public/tenants/{tenant.id}", headers={"Origin": origin},
                                      raise_error=False)
            return resp.headers.get("Access-Control-Allow-Origin")

        other_worker = f"http://127.0.0.1:{port}"
        assert await allowed_at(other_worker, "https://new.example") is None
        assert await allowed_at(other_worker, "http://allowed.example") == "http://allowed.example"
        resp = await api.patch(TENANT, {"allowed_origins": ["https://new.example"]}, token=tenant.admin.token)
        assert resp.status == 200, resp.body
        assert await allowed_at(other_worker, "https://new.example") == "https://new.example"
        assert await allowed_at(other_worker, "http://allowed.example") is None
        assert await allowed_at(base_url, "https://new.example") == "https://new.example"
    finally:
        client.close()
        server.stop()
        await second.close()


@gen_test
async def test_settings_saved_at_the_same_moment_all_stay(api, tenant_factory):
    """The widget's, the survey's and the AI's settings live in one JSON column: saved in parallel by
    several admins, every change is kept (each merges its own keys under the row's lock)."""
    tenant = await tenant_factory()
    token = tenant.admin.token
    for round_ in range(3):
        title = f"Round {round_}"
        results = await asyncio.gather(
            api.patch(TENANT, {"widget": {"title": title}}, token=token),
            api.patch(TENANT, {"csat_enabled": round_ % 2 == 1}, token=token),
            api.patch("/api/v1/ai/settings", {"ai_instructions": f"Be brief, round {round_}."}, token=token),
            api.patch(TENANT, {"widget": {"subtitle": f"Sub {round_}"}}, token=token),
            api.patch(TENANT, {"widget": {"greetings": {"es": f"Hola {round_}"}}}, token=token),
            api.patch(TENANT, {"widget": {"greetings": {"de": f"Hallo {round_}"}}}, token=token))
        assert [r.status for r in results] == [200] * 6, [r.body for r in results]
        got = (await api.get(TENANT, token=token)).json["settings"]
        assert got["widget"]["title"] == title and got["csat_enabled"] == (round_ % 2 == 1)
        assert got["widget"]["subtitle"] == f"Sub {round_}"
        assert (got["widget"]["greetings"]["es"], got["widget"]["greetings"]["de"]) == (f"Hola {round_}",
                                                                                       f"Hallo {round_}")
        ai = (await api.get("/api/v1/ai/settings", token=token)).json["settings"]
        assert ai["ai_instructions"] == f"Be brief, round {round_}."


# ---- the audit log, AI usage, isolation ---------------------------------------------------------

@gen_test
async def test_audit_log_pages_newest_first_admins_only(api, tenant_factory):
    tenant = await tenant_factory()
    other = await tenant_factory()
    for n in range(5):
        await api.post("/api/v1/labels", {"name": f"L{n}", "color": "#123456"}, token=tenant.admin.token)
    await api.patch("/api/v1/ai/settings", {"ai_name": "Robo", "ai_instructions": "secret prompt"},
                    token=tenant.admin.token)
    assert_error(await api.get(AUDIT, token=tenant.agent.token), 403, "admin_only")
    assert_error(await api.get(AUDIT + "?limit=0", token=tenant.admin.token), 400, "invalid_query")
    assert_error(await api.get(AUDIT + "?before=abc", token=tenant.admin.token), 400, "invalid_query")
    page = await api.get(AUDIT + "?limit=3", token=tenant.admin.token)
    assert page.status == 200
    events = page.json["events"]
    assert events[0]["action"] == "ai.settings_updated"
    assert events[0]["details"] == {"fields": ["ai_instructions", "ai_name"]} and b"secret prompt" not in page.body
    assert events[0]["actor"] == {"id": tenant.admin.id, "name": "Ada Admin"}
    assert len(events) == 3 and page.json["next_cursor"]
    rest = await api.get(f"{AUDIT}?limit=100&before={page.json['next_cursor']}", token=tenant.admin.token)
    ids = [e["id"] for e in events + rest.json["events"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 6 and rest.json["next_cursor"] is None
    assert [e["action"] for e in rest.json["events"]] == ["label.created"] * 3
    assert (await api.get(AUDIT, token=other.admin.token)).json["events"] == []


@gen_test
async def test_ai_usage_per_day(api, tenant_factory, services):
    tenant = await tenant_factory()
    other = await tenant_factory()
    await services.store.record_ai_usage(tenant.id, None, kind="reply", model="m", prompt_tokens=10,
                                         output_tokens=5, total_tokens=15)
    await services.store.record_ai_usage(other.id, None, kind="reply", model="m", prompt_tokens=1,
                                         output_tokens=1, total_tokens=1000)
    await api.patch("/api/v1/ai/settings", {"ai_daily_token_cap": 5000}, token=tenant.admin.token)
    resp = await api.get("/api/v1/ai/usage?days=7", token=tenant.agent.token)
    assert resp.status == 200, resp.body
    days = resp.json["days"]
    assert len(days) == 7 and days[-1] == {"date": time.strftime("%Y-%m-%d", time.gmtime()), "tokens": 15}
    assert sum(d["tokens"] for d in days) == 15 and resp.json["cap"] == 5000
    assert len((await api.get("/api/v1/ai/usage", token=other.agent.token)).json["days"]) == 30
    assert (await api.get("/api/v1/ai/usage", token=other.agent.token)).json["cap"] is None
    for bad in ("0", "91", "x"):
        assert_error(await api.get(f"/api/v1/ai/usage?days={bad}", token=tenant.agent.token), 400, "invalid_query")
