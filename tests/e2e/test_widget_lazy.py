"""chat-widget.js in pieces, in Chromium against a real `callcenter serve`: what a page loads first is the
widget alone (English texts, its CSS inside); a visitor in another language gets that language's pack
(/static/dist/chat-widget-<lang>.<hash>.js) before anything is drawn, so no English shows first; the lazily
loaded part (/static/dist/chat-widget-extra.<hash>.js: files, rating, transcript, away, queue) comes once the
panel opens. Both come from the widget's own origin as classic scripts: a host page on another origin whose
CSP allows only the widget's origin runs them, and the widget still adds no global but CallCenterChat.
"""
from __future__ import annotations

import http.server
import re
import threading

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.dashboard_support import agent_token, call

TIMEOUT = 15_000
PACK = re.compile(r"/static/dist/chat-widget-(de|es|fr)\.[0-9a-f]{12}\.js$")
EXTRA = re.compile(r"/static/dist/chat-widget-extra\.[0-9a-f]{12}\.js$")

# A shop on another origin (another port), its CSP naming only the widget's origin for scripts and
# connections. An observer notes the launcher's label the moment the widget's element enters the page.
HOST = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<link rel="icon" href="data:,">
<script nonce="n0nce">
  var globalsBefore = Object.getOwnPropertyNames(window), firstLabel = null;
  new MutationObserver(function (list, obs) {{
    var host = document.querySelector("callcenter-chat");
    if (!host) return;
    firstLabel = host.shadowRoot.querySelector(".bub").getAttribute("aria-label");
    obs.disconnect();
  }}).observe(document.documentElement, {{childList: true, subtree: true}});
  window.CallCenterChat = window.CallCenterChat || {{q: [], init: function (o) {{ this.q.push(o); }}}};
  CallCenterChat.init({{tenantId: "demo-tenant"}});
</script>
</head><body><h1>Shop</h1>
<script async src="{api}/chat-widget.js"></script>
</body></html>"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("lazy")) as (url, _log):
        yield url


@pytest.fixture(scope="module")
def origin(server):
    """The shop: one page, on a port of its own (so another origin than the widget's)."""
    ws = server.replace("http://", "ws://")
    csp = (f"default-src 'none'; script-src 'nonce-n0nce' {server}; connect-src {server} {ws}; img-src {server} "
           "blob: data:; style-src 'none'")
    body = HOST.format(api=server).encode()

    class Shop(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", csp)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    shop_origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    # The demo tenant takes visitors from the shop too.
    token = agent_token(server)
    allowed = call(server, "GET", "/tenant", token=token)["tenant"].get("allowed_origins") or []
    call(server, "PATCH", "/tenant", {"allowed_origins": [*allowed, shop_origin]}, token)
    yield shop_origin
    httpd.shutdown()
    httpd.server_close()


def shop(browser, origin: str, locale: str, *, pack=None):
    """A page of the shop in `locale`; its requests (URLs) and errors (page errors, console errors: a CSP
    refusal is one) recorded. `pack`: a route handler for the language packs' URLs."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=locale)
    page = context.new_page()
    page.requests, page.errors = [], []
    page.on("request", lambda req: page.requests.append(req.url))
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    if pack:
        page.route(PACK, pack)
    page.goto(origin + "/shop.html")
    return context, page


def loaded(page, pattern) -> list[str]:
    return [url for url in page.requests if pattern.search(url)]


def test_a_german_visitor_gets_the_pack_first_and_the_extra_part_once_the_panel_opens(browser, server, origin):
    context, page = shop(browser, origin, "de-DE")
    try:
        w = page.locator("callcenter-chat")
        bubble = w.locator(".bub")
        expect(bubble).to_have_attribute("aria-label", "Chat öffnen", timeout=TIMEOUT)
        # Drawn in German from the start (the launcher's first label), its pack from the widget's origin.
        assert page.evaluate("firstLabel") == "Chat öffnen"
        packs = loaded(page, PACK)
        assert len(packs) == 1 and packs[0].startswith(server + "/static/dist/chat-widget-de."), page.requests
        # Nothing more before the panel opens.
        page.wait_for_timeout(300)
        assert loaded(page, EXTRA) == []
        response = page.request.get(packs[0])
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        # Open: the extra part comes (once), and with it the transcript form's link, in German.
        bubble.click()
        expect(w.get_by_role("dialog")).to_be_visible()
        expect(w.locator("textarea").first).to_have_attribute("placeholder", "Nachricht schreiben…")
        expect(w.locator(".tx .lk")).to_have_text("Gespräch per E-Mail senden", timeout=TIMEOUT)
        extra = loaded(page, EXTRA)
        assert len(extra) == 1 and extra[0].startswith(server + "/static/dist/"), page.requests
        # Their <script> elements are gone again; the only global is CallCenterChat.
        assert page.evaluate("document.querySelectorAll('script[src*=\"/static/dist/\"]').length") == 0
        assert page.evaluate("Object.getOwnPropertyNames(window).filter((n) => !globalsBefore.includes(n))") \
            == ["CallCenterChat"]
        assert page.errors == []
    finally:
        context.close()


def test_an_english_visitor_loads_no_pack(browser, server, origin):
    context, page = shop(browser, origin, "en-US")
    try:
        w = page.locator("callcenter-chat")
        expect(w.locator(".bub")).to_have_attribute("aria-label", "Open chat", timeout=TIMEOUT)
        page.wait_for_timeout(300)
        assert loaded(page, PACK) == [] and loaded(page, EXTRA) == [], page.requests
        w.locator(".bub").click()
        expect(w.locator(".tx .lk")).to_have_text("E-mail me a transcript", timeout=TIMEOUT)
        assert page.errors == []
    finally:
        context.close()


def test_a_pack_that_does_not_come_leaves_the_widget_in_english(browser, origin):
    """A pack that fails (or takes more than 300 ms): the widget draws in English rather than wait."""
    context, page = shop(browser, origin, "fr-FR", pack=lambda route: route.abort())
    try:
        w = page.locator("callcenter-chat")
        expect(w.locator(".bub")).to_have_attribute("aria-label", "Open chat", timeout=TIMEOUT)
        w.locator(".bub").click()
        expect(w.locator(".w")).to_have_attribute("lang", "en")
        expect(w.locator("textarea").first).to_have_attribute("placeholder", "Type a message…")
        assert [e for e in page.errors if "chat-widget-fr" not in e and "Failed to load" not in e] == []
    finally:
        context.close()


def test_a_german_visitor_reads_the_system_lines_in_german(browser, server, origin):
    """The server writes "Alex Morgan joined the conversation"; the German pack says it in German (from the
    message's `system` parts), live and after a reload."""
    context, page = shop(browser, origin, "de-DE")
    try:
        w = page.locator("callcenter-chat")
        w.locator(".bub").click()
        w.get_by_label("Name").fill("Greta Gast")
        w.get_by_label("E-Mail").fill("greta@example.com")
        w.get_by_role("button", name="Chat starten").click()
        box = w.get_by_role("textbox", name="Nachricht schreiben…")
        box.fill("Hallo!")
        box.press("Enter")
        expect(w.locator(".m.v")).to_have_count(1, timeout=TIMEOUT)
        token = agent_token(server)
        sessions = call(server, "GET", "/chat/sessions?q=Greta%20Gast", token=token)["sessions"]
        call(server, "POST", f"/chat/sessions/{sessions[0]['id']}/assign", {}, token)
        line = w.locator(".m.s .b")
        expect(line).to_have_text("Alex Morgan ist dem Gespräch beigetreten", timeout=TIMEOUT)
        page.reload()
        w.locator(".bub").click()
        expect(w.locator(".m.s .b")).to_have_text("Alex Morgan ist dem Gespräch beigetreten", timeout=TIMEOUT)
        assert page.errors == []
    finally:
        context.close()
