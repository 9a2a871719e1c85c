"""The tenant-isolation matrix, generated from the route table and the event names.

Routes: every (method, path) of `callcenter.app.all_routes()` × {own tenant, other tenant, other
session's visitor, no token}. The expected outcome of each cell is derived, not listed:

- the route's kind comes from its handler class: an AgentHandler is agent-only; a PublicHandler whose
  `api` says `auth: visitor` needs the visitor token of that very session; anything else is public;
- whether it names a resource comes from its template and body: a `{session_id}` / `{agent_id}` in
  the path (or a canned response's or label's id), or a `session_id` in the body, point at tenant A's session (or agent); without one the
  route is tenant-wide (its answer may only ever hold the caller's own tenant's data).

| kind    | own                 | other tenant                         | other session's visitor | no token |
|---------|---------------------|--------------------------------------|-------------------------|----------|
| agent   | allowed             | 404 (resource) / own data (tenant)   | 401                     | 401      |
| visitor | allowed             | 404                                  | 404                     | 401      |
| public  | allowed             | allowed, same as without a token     | allowed                 | allowed  |

"allowed" is any status below 500 other than 401/403/404 (a 409 for a resolved session is the
route working). Every refused cell leaves both tenants' rows untouched and never echoes tenant A's
data. MATRIX below only says how to call a route (path parameters, query, a valid body); a route
that has no entry fails `test_every_route_has_a_matrix_entry`, so a new route cannot skip this.

Sockets: every client-facing event name in callcenter.events × the same four observers (tenant A's
agent socket and visitor socket are the "own" side) — each is triggered for tenant A's session and
must reach only tenant A's agents and that session's visitor; an event name without a trigger (or a
stated exemption) fails `test_every_event_has_a_trigger`.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from callcenter.realtime import connection as connection_module
from callcenter import events
from callcenter.app import all_routes
from callcenter.handlers.base import AgentHandler, PublicHandler, implemented_methods
from tests.helpers import PASSWORD

from .support import World, gen_test, make_world, multipart_file, store_snapshot, ws

ALLOWED_STATUSES = range(100, 500)
REFUSED = {401, 403, 404}


# ---- how to call each route (the only hand-written part) ------------------------------------------

@dataclass
class Call:
    body: Callable[[World], Any] | None = None  # a valid body for tenant A's resources
    query: str = ""
    prepare: Callable[[World], Any] | None = None  # puts tenant A's session in the state the call needs
    upload: bytes | None = None  # the route takes a file (multipart/form-data), not JSON

    def request_body(self, w: World, method: str) -> tuple[bytes | None, dict]:
        """The raw body and its headers, as the route takes it."""
        if self.upload is not None:
            return multipart_file("matrix.txt", self.upload)
        body = self.body(w) if self.body else None
        raw = json.dumps(body).encode() if body is not None else (b"" if method in ("POST", "PATCH") else None)
        return raw, {}


async def _assigned_to_agent(w: World) -> None:
    resp = await w.api.post(f"/api/v1/chat/sessions/{w.va.session_id}/assign", {}, token=w.a.agent.token)
    assert resp.status == 200, resp.body


async def _resolved(w: World) -> None:
    resp = await w.api.post(f"/api/v1/chat/sessions/{w.va.session_id}/resolve", {}, token=w.a.agent.token)
    assert resp.status == 200, resp.body


async def _agent_upload(w: World) -> None:
    """The file the call names becomes one an agent uploaded (agents remove only their side's files)."""
    body, headers = multipart_file("agent.txt", b"agent file")
    resp = await w.api.request("POST", f"/api/v1/chat/sessions/{w.va.session_id}/attachments", raw=body,
                               token=w.a.agent.token, headers=headers)
    assert resp.status == 201, resp.body
    w.attachment_id = resp.json["attachment"]["id"]


async def _canned_response(w: World) -> None:
    resp = await w.api.post("/api/v1/canned-responses", {"shortcut": "matrix", "title": "Matrix",
                                                         "body": "alpha secret canned"}, token=w.a.admin.token)
    assert resp.status == 201, resp.body
    w.canned_id = resp.json["canned_response"]["id"]


async def _label(w: World) -> None:
    resp = await w.api.post("/api/v1/labels", {"name": "Matrix", "color": "#123456"}, token=w.a.admin.token)
    assert resp.status == 201, resp.body
    w.label_id = resp.json["label"]["id"]


async def _webhook(w: World) -> None:
    # Switched off: nothing is ever delivered to it (the address is public; no test reaches the internet).
    resp = await w.api.post("/api/v1/webhooks", {"url": "https://1.1.1.1/matrix", "events": ["message.created"],
                                                 "active": False}, token=w.a.admin.token)
    assert resp.status == 201, resp.body
    w.webhook_id = resp.json["webhook"]["id"]


MATRIX: dict[tuple[str, str], Call] = {
    ("POST", "/api/v1/auth/login"): Call(lambda w: {"email": w.a.agent.email, "password": PASSWORD,
                                                    "tenant_id": w.a.id}),
    ("GET", "/api/v1/auth/me"): Call(),
    ("POST", "/api/v1/auth/password"): Call(lambda w: {"current_password": PASSWORD,
                                                       "new_password": "Matrix-Passw0rd!"}),
    ("POST", "/api/v1/agents/{agent_id}/deactivate"): Call(lambda w: {}),
    ("POST", "/api/v1/agents/{agent_id}/activate"): Call(lambda w: {}),
    ("GET", "/api/v1/chat/public/tenants/{tenant_id}"): Call(),
    ("OPTIONS", "/api/v1/chat/public/tenants/{tenant_id}"): Call(),
    ("POST", "/api/v1/chat/public/start"): Call(lambda w: {"tenant_id": w.a.id, "customer_name": "Matrix"}),
    ("OPTIONS", "/api/v1/chat/public/start"): Call(),
    ("POST", "/api/v1/chat/public/message"): Call(lambda w: {"session_id": w.va.session_id, "message": "m"}),
    ("OPTIONS", "/api/v1/chat/public/message"): Call(),
    ("GET", "/api/v1/chat/public/session/{session_id}"): Call(query="after_seq=0"),
    ("OPTIONS", "/api/v1/chat/public/session/{session_id}"): Call(),
    ("POST", "/api/v1/chat/public/session/{session_id}/read"): Call(lambda w: {"seq": 1}),
    ("POST", "/api/v1/chat/public/session/{session_id}/attachments"): Call(upload=b"from the matrix"),
    ("OPTIONS", "/api/v1/chat/public/session/{session_id}/attachments"): Call(),
    ("GET", "/api/v1/chat/public/session/{session_id}/attachments/{attachment_id}"): Call(),
    ("DELETE", "/api/v1/chat/public/session/{session_id}/attachments/{attachment_id}"): Call(),
    ("OPTIONS", "/api/v1/chat/public/session/{session_id}/attachments/{attachment_id}"): Call(),
    ("POST", "/api/v1/chat/sessions/{session_id}/attachments"): Call(upload=b"from the matrix"),
    ("GET", "/api/v1/chat/sessions/{session_id}/attachments/{attachment_id}"): Call(),
    ("DELETE", "/api/v1/chat/sessions/{session_id}/attachments/{attachment_id}"): Call(prepare=_agent_upload),
    ("OPTIONS", "/api/v1/chat/public/session/{session_id}/read"): Call(),
    ("GET", "/api/v1/chat/sessions"): Call(query="status=active&limit=100"),
    ("GET", "/api/v1/chat/sessions/{session_id}"): Call(),
    ("GET", "/api/v1/chat/sessions/{session_id}/messages"): Call(query="after_seq=0"),
    ("POST", "/api/v1/chat/messages"): Call(lambda w: {"session_id": w.va.session_id, "message": "from matrix"}),
    ("POST", "/api/v1/chat/sessions/{session_id}/assign"): Call(lambda w: {}),
    ("POST", "/api/v1/chat/sessions/{session_id}/transfer"): Call(lambda w: {"agent_id": w.a.admin.id},
                                                                  prepare=_assigned_to_agent),
    ("POST", "/api/v1/chat/sessions/{session_id}/resolve"): Call(lambda w: {}),
    ("POST", "/api/v1/chat/sessions/{session_id}/reopen"): Call(lambda w: {}, prepare=_resolved),
    ("POST", "/api/v1/chat/sessions/{session_id}/read"): Call(lambda w: {"seq": 1}),
    ("GET", "/api/v1/agents"): Call(),
    ("POST", "/api/v1/chat/sessions/{session_id}/notes"): Call(lambda w: {"body": "a note from the matrix"}),
    ("PUT", "/api/v1/chat/sessions/{session_id}/labels"): Call(lambda w: {"labels": ["Matrix"]}, prepare=_label),
    ("GET", "/api/v1/canned-responses"): Call(),
    ("POST", "/api/v1/canned-responses"): Call(lambda w: {"shortcut": "m", "title": "M", "body": "from matrix"}),
    ("PATCH", "/api/v1/canned-responses/{response_id}"): Call(lambda w: {"title": "Changed"},
                                                              prepare=_canned_response),
    ("DELETE", "/api/v1/canned-responses/{response_id}"): Call(prepare=_canned_response),
    ("GET", "/api/v1/labels"): Call(),
    ("POST", "/api/v1/labels"): Call(lambda w: {"name": "From matrix", "color": "#abcdef"}),
    ("DELETE", "/api/v1/labels/{label_id}"): Call(prepare=_label),
    ("GET", "/api/v1/webhooks"): Call(),
    ("POST", "/api/v1/webhooks"): Call(lambda w: {"url": "https://1.1.1.1/matrix", "events": ["message.created"],
                                                  "active": False}),
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): Call(lambda w: {"events": ["conversation.rated"]}, prepare=_webhook),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): Call(prepare=_webhook),
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"): Call(lambda w: {}, prepare=_webhook),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): Call(prepare=_webhook),
    ("GET", "/api/v1/tenant"): Call(),
    ("PATCH", "/api/v1/tenant"): Call(lambda w: {"csat_enabled": False}),
    # The admin console (invitations, reset links, agents, audit, AI usage).
    ("POST", "/api/v1/agents"): Call(lambda w: {"email": "matrix-invite@x.example", "name": "Matrix Invite"}),
    ("PATCH", "/api/v1/agents/{agent_id}"): Call(lambda w: {"name": "Matrix Renamed"}),
    ("POST", "/api/v1/agents/{agent_id}/invitation"): Call(lambda w: {}),
    ("POST", "/api/v1/agents/{agent_id}/password-reset"): Call(lambda w: {}),
    ("GET", "/api/v1/auth/invitations/{token}"): Call(),
    ("POST", "/api/v1/auth/invitations/accept"): Call(lambda w: {"token": "matrix-token",
                                                                 "password": "Matrix-Passw0rd!"}),
    ("GET", "/api/v1/audit"): Call(query="limit=10"),
    ("GET", "/api/v1/routing"): Call(),
    ("GET", "/api/v1/ai/usage"): Call(query="days=7"),
    ("POST", "/api/v1/chat/public/session/{session_id}/rating"): Call(lambda w: {"score": 4, "comment": "ok"},
                                                                      prepare=_resolved),
    ("OPTIONS", "/api/v1/chat/public/session/{session_id}/rating"): Call(),
    ("GET", "/api/v1/analytics"): Call(query="utc_offset_minutes=0"),
    ("GET", "/api/v1/ai/settings"): Call(),
    ("PATCH", "/api/v1/ai/settings"): Call(lambda w: {"ai_name": "Matrix Bot"}),
    ("POST", "/api/v1/chat/sessions/{session_id}/suggest"): Call(lambda w: {}),
    # (A subscription the server would refuse: a stored one would make the run push to the internet.)
    ("GET", "/api/v1/push/config"): Call(),
    ("GET", "/api/v1/push/subscriptions"): Call(),
    ("POST", "/api/v1/push/subscriptions"): Call(lambda w: {"endpoint": "https://fcm.googleapis.com/fcm/send/m",
                                                            "keys": {"p256dh": "AAAA", "auth": "AAAA"}}),
    ("DELETE", "/api/v1/push/subscriptions"): Call(lambda w: {"endpoint": "https://fcm.googleapis.com/fcm/send/m"}),
    ("POST", "/api/v1/push/test"): Call(lambda w: {}),
    ("GET", "/sw.js"): Call(),
    ("HEAD", "/sw.js"): Call(),
    ("GET", "/healthz"): Call(),
    ("GET", "/livez"): Call(),
    ("GET", "/metrics"): Call(),
    ("GET", "/api/v1/openapi.json"): Call(),
    ("GET", "/"): Call(),
    ("GET", "/chat-widget.js"): Call(),
    ("HEAD", "/chat-widget.js"): Call(),
    ("GET", "/widget-demo.html"): Call(),
    ("HEAD", "/widget-demo.html"): Call(),
    ("GET", "/websocket-test.html"): Call(),
    ("HEAD", "/websocket-test.html"): Call(),
    ("GET", "/widget-preview.html"): Call(),
    ("HEAD", "/widget-preview.html"): Call(),
    ("GET", "/static/{path}"): Call(),
    ("HEAD", "/static/{path}"): Call(),
    ("GET", "/ws"): Call(),  # without an Upgrade: the handshake's JSON 400 for everyone alike
    # E-mail (issue 26): e-mail is off in this suite (409 mail_disabled once the visitor is known); link
    # tokens that are not ours are refused alike for everyone.
    ("POST", "/api/v1/chat/public/session/{session_id}/transcript"): Call(lambda w: {}),
    ("OPTIONS", "/api/v1/chat/public/session/{session_id}/transcript"): Call(),
    ("POST", "/api/v1/chat/public/resume"): Call(lambda w: {"token": "matrix-not-a-link-token"}),
    ("OPTIONS", "/api/v1/chat/public/resume"): Call(),
    ("POST", "/api/v1/mail/unsubscribe"): Call(lambda w: {"token": "matrix-not-a-link-token"}),
    ("OPTIONS", "/api/v1/mail/unsubscribe"): Call(),
    ("GET", "/unsubscribe"): Call(query="token=matrix-not-a-link-token"),
    ("POST", "/unsubscribe"): Call(query="token=matrix-not-a-link-token"),
}


def route_table() -> list[tuple[str, str, type]]:
    return [(method, spec.template, spec.handler_class) for spec in all_routes()
            for method in implemented_methods(spec.handler_class)]


def kind_of(method: str, handler_class: type) -> str:
    if issubclass(handler_class, AgentHandler):
        return "agent"
    if issubclass(handler_class, PublicHandler) and handler_class.api.get(method, {}).get("auth") == "visitor":
        return "visitor"
    return "public"


def names_a_resource(method: str, template: str, handler_class: type) -> bool:
    if any(name in template for name in ("{session_id}", "{agent_id}", "{response_id}", "{label_id}",
                                                    "{webhook_id}")):
        return True
    body = (getattr(handler_class, "api", {}) or {}).get(method, {}).get("body")
    return body is not None and "session_id" in body.model_fields


def expected(kind: str, resource: bool, who: str) -> str:
    """'allowed', 'own-data-only', or an HTTP status."""
    if kind == "public":
        return "allowed"
    if kind == "agent":
        return {"own": "allowed", "other_tenant": "404" if resource else "own-data-only",
                "other_visitor": "401", "none": "401"}[who]
    return {"own": "allowed", "other_tenant": "404", "other_visitor": "404", "none": "401"}[who]


# Cells run in this order, so the one allowed to change things ("own") comes last.
WHO = ("none", "other_visitor", "other_tenant", "own")


def token_for(w: World, kind: str, who: str) -> str | None:
    if who == "none":
        return None
    if kind == "visitor":
        return {"own": w.va.token, "other_tenant": w.vb.token, "other_visitor": w.va2.token}[who]
    # Agent and public routes: tenant A's admin (admin-only routes too), tenant B's admin, a visitor.
    return {"own": w.a.admin.token, "other_tenant": w.b.admin.token, "other_visitor": w.va2.token}[who]


def path_for(w: World, template: str, call: Call) -> str:
    path = template.format(session_id=w.va.session_id, agent_id=w.a.agent.id, tenant_id=w.a.id,
                           path="dashboard.css", attachment_id=w.attachment_id, response_id=w.canned_id,
                           label_id=w.label_id, token="matrix-not-a-link-token", webhook_id=w.webhook_id)
    return f"{path}?{call.query}" if call.query else path


def a_secrets(w: World) -> list[bytes]:
    """What only tenant A's own side may ever read."""
    return [w.va.session_id.encode(), w.va.token.encode(), b"alpha secret", b"alpha@a.example", b"Alpha Visitor",
            w.a.agent.email.encode(), w.a.id.encode()]


def test_every_route_has_a_matrix_entry():
    table = {(method, template) for method, template, _ in route_table()}
    missing = table - set(MATRIX)
    assert not missing, f"routes without an isolation-matrix entry (add them to MATRIX): {sorted(missing)}"
    stale = set(MATRIX) - table
    assert not stale, f"MATRIX entries for routes that do not exist: {sorted(stale)}"


def test_kinds_follow_the_handler_classes():
    kinds = {(m, t): kind_of(m, cls) for m, t, cls in route_table()}
    assert kinds[("GET", "/api/v1/chat/sessions")] == "agent"
    assert kinds[("POST", "/api/v1/chat/public/message")] == "visitor"
    assert kinds[("POST", "/api/v1/chat/public/start")] == "public"
    assert kinds[("OPTIONS", "/api/v1/chat/public/message")] == "public"  # the preflight carries no token
    # Every route under /api/v1/ except sign-in, the widget's and the document itself needs a token.
    for (method, template), kind in kinds.items():
        if template.startswith("/api/v1/") and kind == "public":
            assert template.startswith(("/api/v1/chat/public/", "/api/v1/auth/login", "/api/v1/auth/invitations/",
                                        "/api/v1/openapi.json", "/api/v1/mail/unsubscribe")), \
                template


ROUTES = route_table()


@pytest.mark.parametrize("method,template,handler_class", ROUTES, ids=[f"{m} {t}" for m, t, _ in ROUTES])
@gen_test
async def test_route_isolation(method, template, handler_class, api, base_url, services, tenant_factory):
    w = await make_world(api, base_url, services, tenant_factory)
    call = MATRIX[(method, template)]
    kind = kind_of(method, handler_class)
    resource = names_a_resource(method, template, handler_class)
    if call.prepare is not None:
        await call.prepare(w)
    results = {}
    for who in WHO:
        before = await store_snapshot(w.store, (w.a.id, w.b.id))
        raw, headers = call.request_body(w, method)
        resp = await w.api.request(method, path_for(w, template, call), raw=raw, token=token_for(w, kind, who),
                                   headers=headers)
        after = await store_snapshot(w.store, (w.a.id, w.b.id))
        want = expected(kind, resource, who)
        cell = f"{method} {template} × {who}: {resp.status} {resp.body[:200]!r}"
        results[who] = resp.status
        assert resp.status < 500, cell
        if kind == "public" or who != "own":
            # What only `va` (and tenant A's agents) may read never reaches anyone else.
            for secret in a_secrets(w)[:5]:
                assert secret not in resp.body, (cell, secret)
        if want == "allowed":
            assert resp.status in ALLOWED_STATUSES and resp.status not in REFUSED or (
                kind == "public" and resp.status == results["none"]), cell
        elif want == "own-data-only":
            assert resp.status in ALLOWED_STATUSES and resp.status not in REFUSED, cell
            for secret in a_secrets(w):
                assert secret not in resp.body, (cell, secret)
            a_rows = lambda snap: {t: [r for r in rows if r.get("tenant_id", r.get("id")) == w.a.id]  # noqa: E731
                                   for t, rows in snap.items()}
            assert a_rows(after) == a_rows(before), cell
        else:
            assert resp.status == int(want), cell
            for secret in a_secrets(w)[1:]:
                assert secret not in resp.body, (cell, secret)
            assert after == before, f"refused, yet the store changed: {cell}"
    if kind == "public":
        # A token changes nothing on a public route: each caller gets what an anonymous one gets.
        assert len(set(results.values())) == 1 or method == "POST", results


# ---- sockets --------------------------------------------------------------------------------------

# Every event name a client can receive, and how to cause one for tenant A's session `va`.
async def _visitor_message(w, s):
    await s["va"].send("chat.message.send", message="hello from va", client_msg_id="va-1")


async def _start(w, s):
    await w.a.visitor(w.api, name="Third Visitor", email="third@a.example")


async def _typing(w, s):
    await s["agent"].send("chat.typing", session_id=w.va.session_id, is_typing=True)
    await s["va"].send("chat.typing", is_typing=True)


async def _assign(w, s):
    resp = await w.api.post(f"/api/v1/chat/sessions/{w.va.session_id}/assign", {}, token=w.a.agent.token)
    assert resp.status == 200, resp.body


async def _transfer(w, s):
    resp = await w.api.post(f"/api/v1/chat/sessions/{w.va.session_id}/transfer", {"agent_id": w.a.admin.id},
                            token=w.a.agent.token)
    assert resp.status == 200, resp.body


async def _read(w, s):
    await s["agent"].send("chat.message.read", session_id=w.va.session_id, seq=2)


async def _label_session(w, s):
    await _label(w)
    resp = await w.api.put(f"/api/v1/chat/sessions/{w.va.session_id}/labels", {"labels": ["Matrix"]},
                           token=w.a.agent.token)
    assert resp.status == 200, resp.body


async def _mention(w, s):
    resp = await w.api.post(f"/api/v1/chat/sessions/{w.va.session_id}/notes",
                            {"body": f"@{w.a.agent.name} have a look"}, token=w.a.admin.token)
    assert resp.status == 201, resp.body


async def _resolve(w, s):
    resp = await w.api.post(f"/api/v1/chat/sessions/{w.va.session_id}/resolve", {}, token=w.a.agent.token)
    assert resp.status == 200, resp.body


async def _reopen(w, s):
    resp = await w.api.post(f"/api/v1/chat/sessions/{w.va.session_id}/reopen", {}, token=w.a.agent.token)
    assert resp.status == 200, resp.body


async def _agent_presence(w, s):
    await s["agent"].send("presence.set", status="away")


async def _visitor_presence(w, s):
    # The visitor's socket opened (before the triggers) and announced it; a second one closing says nothing
    # new, so the opening announcement is what the observers are checked against.
    pass


async def _ai_partial(w, s):
    await w.services.chat.publish(events.ai_partial(w.a.id, w.va.session_id, 1, "a draft for va"))


async def _handoff(w, s):
    session = await w.store.get_session(w.a.id, w.va.session_id)
    await w.services.chat.publish(events.session_handoff(session, "matrix"))


async def _webhook_disabled(w, s):
    hook = {"id": 1, "url": "https://hooks.example/" + w.va.session_id, "events": ["message.created"],
            "active": False, "disabled_reason": "failing for 24 hours", "failing_since": None, "created_at": None}
    await w.services.chat.publish(events.webhook_disabled(w.a.id, hook, w.a.admin.id))


async def _queue_place(w, s):
    await w.services.chat.publish(events.queue_positions(w.a.id, {w.va.session_id: [1, 60]}, 1))


# event name -> (trigger, who on tenant A's side must get it)
SUBSCRIPTIONS: dict[str, tuple[Callable, set[str]]] = {
    events.MESSAGE_NEW: (_visitor_message, {"agent", "va"}),
    events.MESSAGE_ACK: (_visitor_message, {"va"}),
    events.SESSION_STARTED: (_start, {"agent"}),
    events.TYPING: (_typing, {"agent", "va"}),
    events.SESSION_ASSIGNED: (_assign, {"agent", "va"}),
    events.AGENT_JOINED: (_assign, {"agent"}),
    events.SESSION_TRANSFERRED: (_transfer, {"agent", "va"}),
    events.MESSAGE_READ: (_read, {"va"}),
    events.SESSION_UPDATED: (_label_session, {"agent"}),
    events.NOTE_MENTION: (_mention, {"agent"}),  # the agent it names, only
    events.SESSION_RESOLVED: (_resolve, {"agent", "va"}),
    events.SESSION_REOPENED: (_reopen, {"agent", "va"}),
    events.AGENT_PRESENCE: (_agent_presence, set()),  # tenant A's other agents (the admin socket)
    events.VISITOR_PRESENCE: (_visitor_presence, {"agent"}),
    events.AI_PARTIAL: (_ai_partial, {"va"}),
    events.SESSION_HANDOFF: (_handoff, {"agent"}),
    events.WEBHOOK_DISABLED: (_webhook_disabled, {"admin"}),  # the tenant's admins, only
    events.ROUTING_UPDATED: (_agent_presence, {"agent", "admin"}),  # presence moves the team view
    events.QUEUE_UPDATED: (_queue_place, {"va"}),  # the waiting visitor, only
}
EXEMPT = {
    events.MESSAGE_SEND: "client to server only",
    events.AGENT_REVOKED: "internal: the hub closes the agent's sockets (tests/realtime/test_revocation.py)",
    events.QUEUE_POSITIONS: "internal: each hub tells its own waiting visitors (the chat.queue.updated row)",
}


def event_names() -> set[str]:
    return {value for name, value in vars(events).items()
            if name.isupper() and isinstance(value, str) and value.startswith(("chat.", "internal.", "webhook."))}


def test_every_event_has_a_trigger():
    missing = event_names() - set(SUBSCRIPTIONS) - set(EXEMPT)
    assert not missing, f"event names without a socket-matrix trigger (add them to SUBSCRIPTIONS): {missing}"


@gen_test
async def test_socket_subscriptions(api, base_url, services, tenant_factory, monkeypatch):
    """Tenant A's agent, admin and `va` visitor sockets; tenant B's admin socket; `va2`'s socket (another
    session of tenant A); and a socket that never authenticates. Every event is triggered for `va`."""
    monkeypatch.setattr(connection_module, "AUTH_TIMEOUT_SECS", 60.0)
    w = await make_world(api, base_url, services, tenant_factory)
    sockets = {
        "agent": await ws(w, w.a.agent.token),
        "admin": await ws(w, w.a.admin.token),
        "other_tenant": await ws(w, w.b.admin.token),
        "other_visitor": await ws(w, w.va2.token),
        "none": await ws(w),
    }
    sockets["va"] = await ws(w, w.va.token)
    try:
        done = set()
        for name, (trigger, _) in SUBSCRIPTIONS.items():
            if trigger not in done:
                done.add(trigger)
                await trigger(w, sockets)
                await asyncio.sleep(0.05)
        wanted = {(name, who) for name, (_, receivers) in SUBSCRIPTIONS.items() for who in receivers}
        wanted.add((events.AGENT_PRESENCE, "admin"))  # tenant A's other agents see A's presence
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20  # a bound for a loaded machine, not a timing assertion
        while True:
            types = {who: {f["type"] for f in c.frames} for who, c in sockets.items()}
            missing = {(name, who) for name, who in wanted if name not in types[who]}
            if not missing or loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert not missing, f"events that never reached tenant A's own sockets: {sorted(missing)}"
        for client in sockets.values():
            await client.quiet(0.3)  # anything still in flight lands before the leak checks
        got = {who: [f for f in c.frames if f["type"] != "auth.ok"] for who, c in sockets.items()}

        # Nobody outside tenant A's agents and `va` hears anything about `va` or tenant A.
        secrets = [w.va.session_id, w.a.id, "hello from va", "a draft for va", "Third Visitor", w.a.agent.name]
        b_agents = {w.b.admin.id, w.b.agent.id}
        for frame in got["other_tenant"]:
            if frame["type"] == events.ROUTING_UPDATED:  # B's own team view (its agents are named like A's)
                assert {a["agent_id"] for a in frame["data"]["agents"]} <= b_agents, frame
        for who in ("other_tenant", "other_visitor", "none"):
            for frame in got[who]:
                if frame["type"] == events.ROUTING_UPDATED and who == "other_tenant":
                    continue
                text = json.dumps(frame)
                leaked = [s for s in secrets if s in text]
                assert not leaked, (who, leaked, frame)
        assert got["none"] == [], "a socket that has not authenticated gets nothing"
        # B's admin saw only its own tenant (its presence snapshot, nothing else of A's).
        assert all(f["type"] in (events.AGENT_PRESENCE, events.ROUTING_UPDATED) for f in got["other_tenant"]), \
            got["other_tenant"]
        # A webhook switched off is the admins' news: tenant A's plain agent hears nothing of it.
        assert not any(f["type"] == events.WEBHOOK_DISABLED for f in got["agent"]), got["agent"]
        # va2 hears nothing of va's session (typing, messages, assignment, AI drafts …).
        assert not any(f.get("data", {}).get("session_id") == w.va.session_id for f in got["other_visitor"])
    finally:
        for client in sockets.values():
            client.close()
