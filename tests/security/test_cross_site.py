"""Cross-site: agent sockets and routes are same-origin only, visitor sockets and widget routes answer
the tenant's allowed origins only, and every response of every route carries the security headers
(nosniff, Referrer-Policy, framing refused, a CSP), with HSTS behind TLS and no cookie anywhere."""
from __future__ import annotations

import json

import pytest
from tornado import httpclient, httpserver

from callcenter.app import all_routes
from callcenter.handlers.base import implemented_methods
from tests.helpers import ApiClient, free_port

from .support import ALLOWED_ORIGIN, FOREIGN_ORIGIN, gen_test, make_world, still_open, store_snapshot, ws
from .test_isolation_matrix import MATRIX, path_for

MSG = "/api/v1/chat/public/message"


def assert_security_headers(resp, where: str) -> None:
    h = resp.headers
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert h.get("Referrer-Policy") == "strict-origin-when-cross-origin", where
    assert h.get("X-Frame-Options") in ("DENY", "SAMEORIGIN"), where
    csp = h.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp or "frame-ancestors 'self'" in csp, (where, csp)
    assert "Set-Cookie" not in h, where
    assert "Access-Control-Allow-Credentials" not in h, where
    assert "Server" not in h, where


# ---- sockets ---------------------------------------------------------------------------------

@gen_test
async def test_agent_sockets_answer_their_own_origin_only(api, base_url, services, tenant_factory):
    w = await make_world(api, base_url, services, tenant_factory)
    lookalikes = (base_url.replace("http://", "https://"), base_url + ".evil.example", base_url.rsplit(":", 1)[0])
    for origin in (FOREIGN_ORIGIN, ALLOWED_ORIGIN, "null", *lookalikes):
        client = await ws(w, w.a.agent.token, origin=origin, expect_ok=False)
        assert await client.closed() == 4003, origin
        client.close()
    for origin in (base_url, None):  # the dashboard's own origin; no Origin at all (not a browser)
        client = await ws(w, w.a.agent.token, origin=origin)
        await still_open(client)
        client.close()


@gen_test
async def test_visitor_sockets_answer_the_tenants_allowed_origins_only(api, base_url, services, tenant_factory):
    w = await make_world(api, base_url, services, tenant_factory)
    client = await ws(w, w.va.token, origin=FOREIGN_ORIGIN, expect_ok=False)
    assert await client.closed() == 4003
    client.close()
    for origin in (ALLOWED_ORIGIN, base_url):
        client = await ws(w, w.va.token, origin=origin)
        await still_open(client)
        client.close()
    # Tenant B allows the same origin, but a token of A's opens only A's session whatever the page.
    client = await ws(w, w.vb.token, origin=ALLOWED_ORIGIN)
    assert client.auth["session_id"] == w.vb.session_id
    client.close()


# ---- CORS ----------------------------------------------------------------------------------------

@gen_test
async def test_cors_only_for_the_tenants_allowed_origins(api, base_url, services, tenant_factory):
    w = await make_world(api, base_url, services, tenant_factory)
    info = f"/api/v1/chat/public/tenants/{w.a.id}"
    allowed = await api.get(info, headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.status == 200 and allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "Origin" in allowed.headers.get("Vary", "")
    foreign = await api.get(info, headers={"Origin": FOREIGN_ORIGIN})
    assert foreign.status == 200 and "Access-Control-Allow-Origin" not in foreign.headers

    # A visitor's reads and writes: the allowed origin may read them, a foreign page may not.
    session = f"/api/v1/chat/public/session/{w.va.session_id}"
    ok = await api.get(session, token=w.va.token, headers={"Origin": ALLOWED_ORIGIN})
    assert ok.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    stolen = await api.get(session, token=w.va.token, headers={"Origin": FOREIGN_ORIGIN})
    assert "Access-Control-Allow-Origin" not in stolen.headers
    # ... errors too, once the tenant is known (the token names it).
    before = await store_snapshot(w.store, (w.a.id,))
    bad = await api.post(MSG, {"session_id": w.va.session_id}, token=w.va.token, headers={"Origin": FOREIGN_ORIGIN})
    assert bad.status == 400 and "Access-Control-Allow-Origin" not in bad.headers
    bad = await api.post(MSG, {"session_id": w.va.session_id}, token=w.va.token, headers={"Origin": ALLOWED_ORIGIN})
    assert bad.status == 400 and bad.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    assert await store_snapshot(w.store, (w.a.id,)) == before
    # A tenant that allows any origin ('*') gets it echoed, never '*' with credentials.
    star = await tenant_factory(allowed_origins=("*",))
    resp = await api.get(f"/api/v1/chat/public/tenants/{star.id}", headers={"Origin": FOREIGN_ORIGIN})
    assert resp.headers.get("Access-Control-Allow-Origin") == FOREIGN_ORIGIN
    assert "Access-Control-Allow-Credentials" not in resp.headers


@gen_test
async def test_agent_routes_grant_no_cors_at_all(api, base_url, services, tenant_factory):
    w = await make_world(api, base_url, services, tenant_factory)
    before = await store_snapshot(w.store, (w.a.id,))
    for origin in (FOREIGN_ORIGIN, ALLOWED_ORIGIN):
        resp = await api.get("/api/v1/chat/sessions", token=w.a.agent.token, headers={"Origin": origin})
        assert resp.status == 403 and resp.json["error"]["code"] == "cross_origin_forbidden"
        assert "Access-Control-Allow-Origin" not in resp.headers
        resp = await api.post("/api/v1/chat/messages", {"session_id": w.va.session_id, "message": "csrf"},
                              token=w.a.agent.token, headers={"Origin": origin})
        assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
        preflight = await api.request("OPTIONS", "/api/v1/chat/messages",
                                      headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert preflight.status == 405 and "Access-Control-Allow-Origin" not in preflight.headers
    assert await store_snapshot(w.store, (w.a.id,)) == before
    same = await api.get("/api/v1/chat/sessions", token=w.a.agent.token, headers={"Origin": base_url})
    assert same.status == 200 and "Access-Control-Allow-Origin" not in same.headers


# ---- headers on every response -----------------------------------------------------------------

@gen_test
async def test_every_route_answers_with_the_security_headers(api, base_url, services, tenant_factory):
    """Each (method, path) of the route table, called as the matrix calls it without a token, plus
    the errors of the base handler (404 route, 405 method, static 403/404, bad JSON)."""
    w = await make_world(api, base_url, services, tenant_factory)
    seen = 0
    for spec in all_routes():
        for method in implemented_methods(spec.handler_class):
            call = MATRIX[(method, spec.template)]
            raw, headers = call.request_body(w, method)
            resp = await api.request(method, path_for(w, spec.template, call), raw=raw, headers=headers)
            assert_security_headers(resp, f"{method} {spec.template} -> {resp.status}")
            seen += 1
    extra = [("GET", "/no/such/route", None), ("DELETE", "/api/v1/chat/sessions", None),
             ("GET", "/static/no-such.css", None), ("GET", "/static/../setup.py", None),
             ("POST", "/api/v1/chat/public/start", b"{"), ("GET", "/ws", None)]
    for method, path, raw in extra:
        resp = await api.request(method, path, raw=raw)
        assert resp.status >= 400, path
        assert_security_headers(resp, f"{method} {path} -> {resp.status}")
    assert seen >= 30


@gen_test
async def test_dashboard_policy(api, backend):
    resp = await api.get("/")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    csp = resp.headers["Content-Security-Policy"]
    directives = dict((d.split(" ", 1) + [""])[:2] for d in (p.strip() for p in csp.split(";")) if d)
    assert directives["script-src"] == "'self'", csp  # no inline script, no eval: stored text cannot run
    assert directives["frame-ancestors"] == "'none'" and resp.headers["X-Frame-Options"] == "DENY"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["default-src"] == "'self'"
    # 'self' covers the page's own ws:/wss: socket; "ws: wss:" let a page script open one to any host.
    assert directives["connect-src"] == "'self'", csp
    for page in ("/widget-demo.html", "/websocket-test.html"):
        assert "connect-src 'self';" in (await api.get(page)).headers["Content-Security-Policy"], page
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    # JSON answers are no pages either: nothing loads, nothing frames them.
    api_csp = (await api.get("/healthz")).headers["Content-Security-Policy"]
    assert "default-src 'none'" in api_csp and "frame-ancestors 'none'" in api_csp
    # The widget script is for other sites; the demo page may be framed by its own origin only.
    widget = await api.get("/chat-widget.js")
    assert widget.headers["Access-Control-Allow-Origin"] == "*"
    assert widget.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    demo = await api.get("/widget-demo.html")
    assert "frame-ancestors 'self'" in demo.headers["Content-Security-Policy"]
    assert demo.headers["X-Frame-Options"] == "SAMEORIGIN"


@gen_test
async def test_behind_tls_hsts_and_still_no_cookies(app, io_loop, tenant_factory):
    """Behind nginx with TLS (X-Forwarded-Proto: https from a trusted proxy, here 127.0.0.1, as
    `callcenter serve` reads it):
    browsers are told to keep to https; no response sets a cookie (bearer tokens only), so there is
    no cookie to mark HttpOnly/Secure/SameSite."""
    tenant = await tenant_factory()
    port = free_port()
    server = httpserver.HTTPServer(app)
    server.listen(port, "127.0.0.1")
    client = httpclient.AsyncHTTPClient()
    try:
        api = ApiClient(client, f"http://127.0.0.1:{port}")
        tls = {"X-Forwarded-Proto": "https"}
        for method, path, body in (("GET", "/", None), ("GET", "/healthz", None), ("GET", "/chat-widget.js", None),
                                   ("POST", "/api/v1/auth/login", {"email": tenant.agent.email,
                                                                   "password": "Correct-Horse-9",
                                                                   "tenant_id": tenant.id}),
                                   ("GET", "/api/v1/nope", None)):
            resp = await api.request(method, path, json_body=body, headers=tls)
            assert resp.headers.get("Strict-Transport-Security", "").startswith("max-age="), path
            assert "Set-Cookie" not in resp.headers, path
        plain = await api.get("/healthz")
        assert "Strict-Transport-Security" not in plain.headers  # not over plain http
        login = await api.post("/api/v1/auth/login", {"email": tenant.agent.email, "password": "Correct-Horse-9",
                                                      "tenant_id": tenant.id})
        assert login.status == 200 and login.json["token"] and "Set-Cookie" not in login.headers
    finally:
        server.stop()
        await server.close_all_connections()


@pytest.mark.parametrize("path", ["/", "/widget-demo.html", "/websocket-test.html"])
@gen_test
async def test_pages_load_scripts_from_files_only(api, backend, path):
    """No inline <script> in any page (the CSP would block it anyway): all script is in files. (A
    `<script type="application/json">` block is data the page's script reads, never run: allowed.)"""
    resp = await api.get(path)
    html = resp.body.decode()
    import re
    for attrs, tag in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I):
        if re.search(r"""\btype=["']?application/json["'\s>]""", attrs + ">", re.I):
            continue
        assert not tag.strip(), (path, tag[:200])
    assert " on" + "click=" not in html.lower() and "javascript:" not in html.lower()
