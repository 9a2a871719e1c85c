"""chat-widget.js in Chromium, embedded by a host page on another origin than the API.

One `callcenter serve` (embedded default, demo seeded) for the module, a tenant created with the CLI whose
allowed origin is a second local port, and a small http.server on that port serving the host pages. The test
acts as the agent through the REST API and an agent socket.
"""
from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, screenshot
from tests.e2e.dashboard_support import start_widget_chat
from tests.harness import ServeProcess
from tests.helpers import free_port, run_in_thread
from tests.wsclient import WsClient

TENANT = "widget-e2e"
AGENT_EMAIL = "wendy@widget-e2e.example"
AGENT_NAME = "Wendy Agent"
AGENT_PASSWORD = "Widget-e2e-Pass-1"
STORAGE_KEY = f"callcenter-chat:{TENANT}"
PRIMARY = "#4F46E5"
PRIMARY_RGB = "rgb(79, 70, 229)"

# The host site's own page: aggressive styles and globals that the widget must neither take nor change.
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Host shop</title><link rel="icon" href="data:,">
<style>
  body {{ font-family: Georgia, serif; color: rgb(10, 20, 30); overflow-wrap: anywhere; }}
  * {{ color: rgb(0, 128, 0) !important; letter-spacing: 3px !important; }}
  button {{ background: rgb(255, 0, 0) !important; font-size: 30px !important; }}
  .bub, .pn, .lg {{ display: none !important; }}
  div {{ border: 2px dashed rgb(0, 0, 255); }}
</style>
<script>
  var api = "host api"; var t = "host t"; function h() {{ return "host h"; }}
  var hostEvents = [];
  var globalsBefore = Object.getOwnPropertyNames(window);  // a hoisted var: it is in its own list
</script>
</head><body>
<h1>Host shop</h1>
<button id="host-button" type="button">Host button</button>
<p class="m b" id="host-text">Host paragraph with the widget's class names</p>
<div class="bub" id="host-bub">host element with the widget's bubble class</div>
<script src="{api}/chat-widget.js"></script>
<script>
  ["open", "close", "unread", "message"].forEach(function (name) {{
    CallCenterChat.on(name, function (arg) {{ hostEvents.push([name, name === "message" ? arg.text : arg]); }});
  }});
  CallCenterChat.init({options});
</script>
</body></html>
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Site:
    """The host site (its own origin) and the API server (`callcenter serve`, restartable on the same port)."""

    def __init__(self, root, host_port: int, env: dict, log_path):
        self.server = ServeProcess(env, log_path, port=int(env["CALLCENTER_PORT"]))
        self.api = self.server.url
        self.root = root
        self.origin = f"http://127.0.0.1:{host_port}"
        self.env = env

    @property
    def proc(self):
        return self.server.proc

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def page(self, name: str, **options) -> str:
        opts = {"tenantId": TENANT, "position": "bottom-right", "primaryColor": PRIMARY, "title": "Chat with us",
                "subtitle": "We typically reply instantly", "greeting": "Hello from the host shop!", **options}
        text = HOST_PAGE.format(api=self.api, options=json.dumps(opts).replace("</", "<\\/"))
        (self.root / name).write_text(text)
        return f"{self.origin}/{name}"


def _cli(env: dict, *args: str, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-m", "callcenter.cli", *args], env=env, input=stdin, text=True, check=True,
                   capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`callcenter serve` (embedded default) + a CLI-made tenant allowing the host site's origin + the host site."""
    tmp = tmp_path_factory.mktemp("widget")
    root = tmp / "site"
    root.mkdir()
    host = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    host_port = host.server_address[1]
    threading.Thread(target=host.serve_forever, daemon=True).start()

    env = {**os.environ, "CALLCENTER_DATA_DIR": str(tmp / "data"), "CALLCENTER_PORT": str(free_port())}
    for name in ("CALLCENTER_DATABASE_URL", "CALLCENTER_REDIS_URL"):
        env.pop(name, None)
    site = Site(root, host_port, env, tmp / "serve.log")
    try:
        site.start()
        _cli(env, "create-tenant", TENANT, "--name", "Widget shop", "--allowed-origin", f"http://127.0.0.1:{host_port}")
        _cli(env, "create-agent", "--tenant", TENANT, "--email", AGENT_EMAIL, "--name", AGENT_NAME,
             stdin=AGENT_PASSWORD + "\n")
        yield site
    finally:
        if site.proc is not None and site.proc.poll() is None:
            site.stop()
        host.shutdown()
        host.server_close()


class AgentClient:
    """The agent side: REST calls and an agent socket (on its own event loop thread)."""

    def __init__(self, api: str):
        self.api = api
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        login = self.rest("POST", "/api/v1/auth/login",
                          {"email": AGENT_EMAIL, "password": AGENT_PASSWORD, "tenant_id": TENANT})
        self.token = login["token"]
        self.ws = self._run(WsClient.connect(api, self.token))

    def _run(self, coro, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def rest(self, method: str, path: str, body=None) -> dict:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.api + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=15) as resp:
            return json.loads(resp.read())

    def send(self, type_: str, **data) -> None:
        self._run(self.ws.send(type_, **data))

    def frames(self, type_: str, session_id: str | None = None) -> list[dict]:
        return [f for f in list(self.ws.frames) if f["type"] == type_
                and (session_id is None or f["data"].get("session_id") == session_id)]

    def wait(self, type_: str, match=lambda data: True, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.frames(type_):
                if match(frame["data"]):
                    return frame
            time.sleep(0.05)
        raise AssertionError(f"no {type_} frame matching within {timeout}s; got {self.ws.frames[-5:]}")

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.ws.conn.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def agent(site):
    client = AgentClient(site.api)
    yield client
    client.close()


def store_ai_message(site: Site, session_id: str, text: str) -> None:
    """An AI reply written straight into the server's store (the AI worker is not part of this build): the
    widget gets it the way it gets anything it missed, when its socket resumes."""
    from callcenter.store import Store

    async def write() -> None:
        store = Store(f"sqlite+aiosqlite:///{site.env['CALLCENTER_DATA_DIR']}/callcenter.sqlite3")
        try:
            await store.send_message(TENANT, session_id, sender_type="ai", sender_id=0, sender_name="AI assistant",
                                     body=text)
        finally:
            await store.close()

    run_in_thread(write())


def widget(page):
    return page.locator("callcenter-chat")


def host_untouched(page) -> None:
    """The host page's styles and globals are its own: nothing leaks in or out of the widget."""
    styles = page.evaluate("""() => {
        const cs = (el) => getComputedStyle(el);
        const root = document.querySelector('callcenter-chat').shadowRoot;
        const bub = root.querySelector('.bub'), b = root.querySelector('.b');
        return {
          hostButton: [cs(document.getElementById('host-button')).backgroundColor,
                       cs(document.getElementById('host-button')).fontSize],
          hostText: [cs(document.getElementById('host-text')).padding, cs(document.getElementById('host-text')).color,
                     cs(document.getElementById('host-text')).boxSizing],
          hostBub: cs(document.getElementById('host-bub')).display,
          body: cs(document.body).fontFamily,
          widgetBubble: [cs(bub).backgroundColor, cs(bub).display, cs(bub).fontSize],
          widgetText: [cs(b).color, cs(b).letterSpacing, cs(b).fontFamily],
          globals: Object.getOwnPropertyNames(window).filter((n) => !globalsBefore.includes(n)),
          hostGlobals: [api, t, h()],
        };
    }""")
    assert styles["hostButton"] == ["rgb(255, 0, 0)", "30px"]
    assert styles["hostText"] == ["0px", "rgb(0, 128, 0)", "content-box"]
    assert styles["hostBub"] == "none"
    assert styles["body"].startswith("Georgia")
    assert styles["widgetBubble"][:2] == [PRIMARY_RGB, "flex"]
    assert styles["widgetText"][:2] == ["rgb(17, 24, 39)", "normal"]
    assert "Georgia" not in styles["widgetText"][2]
    assert styles["globals"] == ["CallCenterChat"]
    assert styles["hostGlobals"] == ["host api", "host t", "host h"]


def visitor_bodies(page) -> list[str]:
    return widget(page).locator(".m.v .b").all_text_contents()


def test_widget_cross_origin_conversation(browser, site, agent):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    errors, urls, sockets = [], [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: urls.append((req.url, req.headers.get("authorization"))))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    try:
        # apiUrl is left out: it defaults to the origin the script came from (the API, not the host page).
        page.goto(site.page("shop.html"))
        w = widget(page)
        bubble = w.locator(".bub")
        expect(bubble).to_be_visible()
        expect(bubble).to_have_attribute("aria-label", "Open chat")
        host_untouched(page)

        bubble.click()
        expect(w.get_by_role("dialog", name="Chat with us")).to_be_visible()
        expect(w.locator(".g")).to_have_text("Hello from the host shop!")
        box = start_widget_chat(w, "Vera Visitor", "vera@example.com")
        box.fill("Hello from the widget")
        box.press("Enter")

        # The message reaches the agent (socket and REST) and shows as delivered in the widget.
        new = agent.wait("chat.message.new", lambda d: d["message"]["body"] == "Hello from the widget")
        sid = new["data"]["session_id"]
        first_seq = new["data"]["message"]["seq"]
        assert new["data"]["message"]["sender_name"] == "Vera Visitor"
        expect(w.locator(".m.v").first).to_have_attribute("data-status", "delivered")
        stored = page.evaluate(f"JSON.parse(localStorage.getItem({json.dumps(STORAGE_KEY)}))")
        assert stored["sid"] == sid and stored["token"]
        token = stored["token"]

        agent.rest("POST", f"/api/v1/chat/sessions/{sid}/assign", {})
        expect(w.locator(".st")).to_have_text(f"Chatting with {AGENT_NAME}")
        expect(w.locator(".m.s .b")).to_have_text(f"{AGENT_NAME} joined the conversation")

        agent.send("chat.typing", session_id=sid, is_typing=True)
        expect(w.locator(".ty")).to_be_visible()
        expect(w.locator(".ty")).to_have_text(f"{AGENT_NAME} is typing…")

        agent.send("chat.message.read", session_id=sid, seq=first_seq)
        expect(w.locator(".m.v").first).to_have_attribute("data-status", "read")
        expect(w.locator(".m.v .tk").first).to_have_attribute("aria-label", "Read")

        agent.send("chat.message.send", session_id=sid, message="Hi Vera, how can I help?", client_msg_id="a-1")
        reply = w.locator(".m.a:not(.g)").last
        expect(reply).to_contain_text("Hi Vera, how can I help?")
        expect(reply.locator(".who")).to_have_text(AGENT_NAME)
        expect(w.locator(".ty")).to_be_hidden()
        reply_seq = agent.wait("chat.message.ack", lambda d: d["client_msg_id"] == "a-1")["data"]["seq"]
        # The panel is open and visible: the widget marks the reply read.
        agent.wait("chat.message.read", lambda d: d["reader"] == "visitor" and d["seq"] >= reply_seq)

        # An agent message that looks like HTML is shown as text, never parsed.
        payload = '<img src=x onerror="window.widgetXss = 1"><b>bold?</b>'
        agent.send("chat.message.send", session_id=sid, message=payload, client_msg_id="a-2")
        expect(w.locator(".m.a .b").last).to_have_text(payload)
        assert w.locator("img, b").count() == 0
        assert page.evaluate("window.widgetXss") is None
        host_untouched(page)
        screenshot(page, "widget-conversation")

        # A reload keeps the conversation (and the open panel); the socket resumes with what was missed.
        store_ai_message(site, sid, "Our stores open at 9:00.")
        page.reload()
        w = widget(page)
        ai = w.locator(".m.ai").last
        expect(ai.locator(".b")).to_have_text("Our stores open at 9:00.")
        expect(ai.locator(".who")).to_have_text("AI assistantAI")  # the name and its "AI" tag
        expect(w.locator(".m.a:not(.ai):not(.g) .b").last).to_have_text(payload)
        assert visitor_bodies(page) == ["Hello from the widget"]
        expect(w.locator(".m.v").first).to_have_attribute("data-status", "read")
        expect(w.locator(".st")).to_have_text(f"Chatting with {AGENT_NAME}")
        agent.send("chat.message.send", session_id=sid, message="Still here after your reload", client_msg_id="a-3")
        expect(w.locator(".m.a .b").last).to_have_text("Still here after your reload")

        # Offline: two sends wait in the outbox as pending, then go out once each, in order.
        context.set_offline(True)
        expect(w.locator(".cn")).to_have_text("You're offline. Messages will be sent when you're back online.")
        box = w.get_by_role("textbox", name="Type a message…")
        for text in ("First while offline", "Second while offline"):
            box.fill(text)
            box.press("Enter")
        expect(w.locator('.m.v[data-status="pending"]')).to_have_count(2)
        outbox = page.evaluate(f"JSON.parse(localStorage.getItem({json.dumps(STORAGE_KEY)})).msgs"
                               ".filter(m => !m.seq).map(m => [m.b, m.c])")
        assert [b for b, _ in outbox] == ["First while offline", "Second while offline"]
        assert all(re.fullmatch(r"[A-Za-z0-9._:\-]{1,64}", c) for _, c in outbox)
        screenshot(page, "widget-offline")
        # Meanwhile the agent answers: the widget gets it when it resumes, once.
        agent.send("chat.message.send", session_id=sid, message="Sent while you were away", client_msg_id="a-3b")
        agent.wait("chat.message.ack", lambda d: d["client_msg_id"] == "a-3b")
        context.set_offline(False)
        expect(w.locator('.m.v[data-status="pending"]')).to_have_count(0)
        expect(w.locator(".m.a .b", has_text="Sent while you were away")).to_have_count(1)
        expect(w.locator(".cn")).to_be_hidden()
        agent.wait("chat.message.new", lambda d: d["message"]["body"] == "Second while offline")
        stored = agent.rest("GET", f"/api/v1/chat/sessions/{sid}/messages")["messages"]
        visitor = [(m["body"], m["client_msg_id"]) for m in stored if m["sender_type"] == "visitor"]
        assert visitor[0][0] == "Hello from the widget"
        assert visitor[1:] == [tuple(item) for item in outbox]  # each once, in order, with its client_msg_id
        assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))
        told = [f["data"]["message"]["body"] for f in agent.frames("chat.message.new", sid)
                if f["data"]["message"]["sender_type"] == "visitor"]
        assert told == ["Hello from the widget", "First while offline", "Second while offline"]

        # Unread badge while the panel is closed; opening it reads them.
        page.keyboard.press("Escape")
        expect(w.get_by_role("dialog")).to_be_hidden()
        agent.send("chat.message.send", session_id=sid, message="Anything else?", client_msg_id="a-4")
        badge = w.locator(".bdg")
        expect(badge).to_have_text("1")
        expect(w.locator(".bub")).to_have_attribute("aria-label", "Open chat, 1 unread")
        last_seq = agent.wait("chat.message.ack", lambda d: d["client_msg_id"] == "a-4")["data"]["seq"]
        w.locator(".bub").click()
        expect(badge).to_be_hidden()
        agent.wait("chat.message.read", lambda d: d["reader"] == "visitor" and d["seq"] == last_seq)
        events = page.evaluate("hostEvents")
        assert ["unread", 1] in events and ["unread", 0] in events and ["close", None] in events
        assert ["message", "Anything else?"] in events

        # Another page of the host site: the same conversation, each message once, in order.
        page.goto(site.page("shop-other.html"))
        w = widget(page)
        expect(w.locator(".m.a .b").last).to_have_text("Anything else?")
        assert visitor_bodies(page) == ["Hello from the widget", "First while offline", "Second while offline"]
        seqs = [int(s) for s in w.locator(".m[data-seq]").evaluate_all("els => els.map(e => e.dataset.seq)")]
        assert seqs == list(range(1, len(stored) + 2))
        host_untouched(page)

        # The visitor token is only ever a header (REST) or in the auth frame, never in a URL.
        assert all(token not in url for url, _ in urls) and all(token not in url for url in sockets)
        assert sockets and all(url == site.api.replace("http", "ws") + "/ws?tenant=" + TENANT for url in sockets)
        authed = [auth for url, auth in urls if "/chat/public/session/" in url]
        assert authed and all(auth == f"Bearer {token}" for auth in authed)
        assert not errors
    finally:
        context.close()


def test_widget_phone_languages_keyboard(browser, site):
    # A phone in German: full screen, German from the browser's language.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE", is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(site.page("phone.html", apiUrl=site.api, position="bottom-left", title="Hilfe", subtitle="",
                            greeting=""))
        w = widget(page)
        bubble = w.locator(".bub")
        expect(bubble).to_have_attribute("aria-label", "Chat öffnen")
        bubble.tap()
        panel = w.get_by_role("dialog", name="Hilfe")
        expect(panel).to_be_visible()
        assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
        expect(w.locator(".g")).to_have_text("Hallo! Wie können wir helfen?")
        expect(w.get_by_role("button", name="Chat starten")).to_be_visible()
        w.get_by_label("Name").fill("Jonas")
        w.get_by_role("button", name="Chat starten").tap()
        box = w.get_by_role("textbox", name="Nachricht schreiben…")
        box.fill("Hallo, wo ist meine Bestellung?")
        w.get_by_role("button", name="Senden").tap()
        expect(w.locator(".m.v").first).to_have_attribute("data-status", "delivered")
        expect(w.locator(".m.v .tk").first).to_have_attribute("aria-label", "Zugestellt")
        assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
        ARTIFACTS.mkdir(exist_ok=True)  # the viewport itself: a full-page capture stretches fixed elements
        page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
        w.get_by_role("button", name="Chat schließen").tap()
        expect(panel).to_be_hidden()
        expect(bubble).to_be_visible()
        assert bubble.bounding_box()["x"] < 100  # bottom-left
        assert not errors
    finally:
        context.close()

    # The locale option wins over the browser's language; the keyboard alone opens, uses and closes it.
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="es-ES")
    page = context.new_page()
    try:
        page.goto(site.page("fr.html", locale="fr", greeting=""))
        w = widget(page)
        expect(w.locator(".bub")).to_have_attribute("aria-label", "Ouvrir le chat")
        page.locator("#host-button").focus()
        page.keyboard.press("Tab")  # next in tab order after the host's own content: the bubble
        assert page.evaluate("document.activeElement.tagName") == "CALLCENTER-CHAT"
        page.keyboard.press("Enter")
        expect(w.get_by_role("dialog")).to_be_visible()
        expect(w.get_by_label("Nom")).to_be_focused()
        expect(w.locator(".g")).to_have_text("Bonjour ! Comment pouvons-nous vous aider ?")
        page.keyboard.press("Escape")
        expect(w.get_by_role("dialog")).to_be_hidden()
        expect(w.locator(".bub")).to_be_focused()
        # Spanish from the browser's language when no locale is given.
        page.goto(site.page("es.html", greeting=""))
        expect(widget(page).locator(".bub")).to_have_attribute("aria-label", "Abrir chat")
    finally:
        context.close()


def test_widget_demo_page(page, site):
    """/widget-demo.html: the demo shop with the snippet, on the API's own origin and the demo tenant."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(site.api + "/widget-demo.html")
    script = page.request.get(site.api + "/chat-widget.js")
    # Declared UTF-8, so a host page in another encoding still shows "Chat öffnen", not mojibake.
    assert script.headers["content-type"].lower().endswith("charset=utf-8")
    assert script.headers["access-control-allow-origin"] == "*"
    expect(page.locator("#snippet")).to_contain_text(f"<script async src=\"{site.api}/chat-widget.js\"></script>")
    expect(page.locator("#snippet")).to_contain_text("tenantId: 'demo-tenant'")
    w = widget(page)
    expect(w.locator(".bub")).to_be_visible()
    page.click("#open-chat")
    expect(w.locator(".g")).to_have_text("Hi there! How can we help you today?")  # the demo tenant's greeting
    expect(page.locator("#events")).to_contain_text("open")
    # A second init is harmless; shutdown removes the widget and a new init brings it back.
    assert page.evaluate("CallCenterChat.init({tenantId: 'demo-tenant'}) === CallCenterChat") is True
    assert page.locator("callcenter-chat").count() == 1
    page.evaluate("CallCenterChat.shutdown()")
    assert page.locator("callcenter-chat").count() == 0
    page.select_option("#locale", "es")  # the page's own control: shutdown() + init({locale: 'es'})
    w = widget(page)
    expect(w.get_by_role("dialog")).to_be_visible()  # it was open: that is kept for this tab
    expect(w.get_by_role("button", name="Iniciar chat")).to_be_visible()
    expect(w.locator(".bub")).to_have_attribute("aria-label", "Cerrar chat")
    screenshot(page, "widget-demo")
    assert not errors


def test_widget_survives_a_server_restart(browser, site):
    """The server goes away (SIGTERM: sockets closed with 1012) and comes back: the widget reconnects with
    backoff, resumes, and a message typed meanwhile goes out once."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    agent = None
    try:
        page.goto(site.page("restart.html"))
        page.evaluate("CallCenterChat.setUser({name: 'Rita Restart'}); CallCenterChat.open()")
        w = widget(page)
        box = w.get_by_role("textbox", name="Type a message…")  # setUser skipped the form
        box.fill("Before the restart")
        box.press("Enter")
        expect(w.locator(".m.v").first).to_have_attribute("data-status", "delivered")
        site.stop()
        expect(w.locator(".cn")).to_have_text("Reconnecting…")
        box.fill("Typed while the server was down")
        box.press("Enter")
        expect(w.locator('.m.v[data-status="pending"]')).to_have_count(1)
        site.start()
        expect(w.locator('.m.v[data-status="pending"]')).to_have_count(0, timeout=20_000)
        expect(w.locator(".cn")).to_be_hidden()
        agent = AgentClient(site.api)
        sid = page.evaluate(f"JSON.parse(localStorage.getItem({json.dumps(STORAGE_KEY)})).sid")
        stored = agent.rest("GET", f"/api/v1/chat/sessions/{sid}/messages")["messages"]
        assert [m["body"] for m in stored] == ["Before the restart", "Typed while the server was down"]
        agent.send("chat.message.send", session_id=sid, message="Welcome back", client_msg_id="r-1")
        expect(w.locator(".m.a .b").last).to_have_text("Welcome back")
    finally:
        if agent is not None:
            agent.close()
        context.close()
        if site.proc.poll() is not None:
            site.start()  # whatever failed above, the module's server is left running
