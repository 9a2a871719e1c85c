"""Helpers for the dashboard browser tests: a REST visitor, a visitor socket inside a page,
sign-in, the widget's pre-chat form, a server process of the test's own (restartable on its port)
and a TCP proxy that can cut the browser's connections. The fixtures that put these together
(`agent_dashboard`, `widget_chat`, `open_chat`) are in conftest.py."""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.harness import ServeProcess
from tests.mocking import TcpProxy

DEMO_TENANT = "demo-tenant"
AGENT1 = "agent1@callcenter.com"   # Alex Morgan, admin
AGENT2 = "agent2@callcenter.com"   # Sam Rivera, agent
PASSWORD = "Password123!"


class HttpError(Exception):
    def __init__(self, status: int, body: dict | None):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


CHROME_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
             "Safari/537.36")


def call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", "User-Agent": CHROME_UA}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + "/api/v1" + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        raise HttpError(exc.code, json.loads(raw) if raw else None) from None


def agent_token(base: str, email: str = AGENT1) -> str:
    return call(base, "POST", "/auth/login", {"email": email, "password": PASSWORD, "tenant_id": DEMO_TENANT})["token"]


class Visitor:
    """A website visitor through the public REST API (what the widget does)."""

    def __init__(self, base: str, name: str = "Vera Visitor", email: str = "vera@example.com",
                 page_url: str = "https://shop.example.com/checkout"):
        self.base = base
        res = call(base, "POST", "/chat/public/start", {"tenant_id": DEMO_TENANT, "channel": "web",
                                                         "customer_name": name, "customer_email": email,
                                                         "page_url": page_url})
        self.session_id: str = res["session_id"]
        self.token: str = res["token"]
        self.name = name

    def send(self, text: str, client_msg_id: str | None = None) -> dict:
        body = {"session_id": self.session_id, "message": text}
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        return call(self.base, "POST", "/chat/public/message", body, self.token)["message"]

    def messages(self) -> list[dict]:
        return call(self.base, "GET", f"/chat/public/session/{self.session_id}", token=self.token)["messages"]

    def wait_for_message(self, text: str, sender_type: str = "agent", timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages() if m["body"] == text and m["sender_type"] == sender_type]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"visitor never got {text!r}")
            time.sleep(0.1)


class VisitorSocket:
    """The visitor's WebSocket, opened in a page of its own (typing, read marks, live delivery)."""

    def __init__(self, page: Page, base: str, visitor: Visitor):
        self.page = page
        self.visitor = visitor
        # A page of the server's origin whose policy allows sockets (JSON answers carry default-src 'none').
        page.goto(base + "/websocket-test.html")
        page.evaluate("""([url, token]) => new Promise((resolve, reject) => {
            window.__frames = [];
            const ws = new WebSocket(url);
            window.__ws = ws;
            ws.onopen = () => ws.send(JSON.stringify({type: "auth", token}));
            ws.onmessage = (ev) => {
              const f = JSON.parse(ev.data);
              window.__frames.push(f);
              if (f.type === "auth.ok") resolve();
            };
            ws.onclose = (ev) => reject(new Error("closed " + ev.code));
        })""", [base.replace("http://", "ws://") + "/ws", visitor.token])

    def send_frame(self, type_: str, **data) -> None:
        self.page.evaluate("([t, d]) => window.__ws.send(JSON.stringify({type: t, data: d}))", [type_, data])

    def typing(self, is_typing: bool = True) -> None:
        self.send_frame("chat.typing", session_id=self.visitor.session_id, is_typing=is_typing)

    def read(self, seq: int) -> None:
        self.send_frame("chat.message.read", session_id=self.visitor.session_id, seq=seq)

    def wait_for_message(self, text: str, timeout_ms: int = 5000) -> dict:
        handle = self.page.wait_for_function(
            """(text) => (window.__frames || []).find(f => f.type === "chat.message.new"
                                                          && f.data.message.body === text)""",
            arg=text, timeout=timeout_ms)
        return handle.json_value()["data"]["message"]

    def count(self, text: str) -> int:
        return self.page.evaluate("""(text) => window.__frames.filter(f => f.type === "chat.message.new"
                                                                  && f.data.message.body === text).length""", text)


def login(page: Page, base: str, email: str = AGENT1, password: str = PASSWORD, tenant: str = DEMO_TENANT,
          remember: bool = False) -> None:
    page.goto(base + "/")
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.fill("#login-tenant", tenant)
    if remember:
        page.check("#login-remember")
    page.click("#login-submit")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("body")).to_have_attribute("data-list-ready", "1")


def start_widget_chat(w, name: str, email: str | None = None):
    """In the widget `w` (the <callcenter-chat> locator, its panel open on the pre-chat form): fill Name
    (and Email when given) and click "Start chat"; the message box."""
    w.get_by_label("Name").fill(name)
    if email is not None:
        w.get_by_label("Email").fill(email)
    w.get_by_role("button", name="Start chat").click()
    return w.get_by_role("textbox", name="Type a message…")


def open_notifications(page: Page):
    """The top bar's notifications panel (the bell: desktop alerts, sound, push), opened if it is closed."""
    if page.locator("#notify-panel").is_hidden():
        page.click("#alerts-btn")
    expect(page.locator("#notify-panel")).to_be_visible()


def show_push(page: Page):
    """The push switch (in the notifications panel, opened first)."""
    open_notifications(page)
    return page.locator("#push-btn")


def open_account_menu(page: Page):
    """The avatar's panel (status, team panel on narrow screens, the workspace for admins, Log out), opened."""
    if page.locator("#me-menu").is_hidden():
        page.click("#me-btn")
    expect(page.locator("#me-menu")).to_be_visible()


def row(page: Page, name: str):
    """The list row of a conversation, by customer name."""
    return page.locator(".conv-list .row").filter(has=page.locator(".row-name", has_text=name))


def open_conversation(page: Page, name: str) -> None:
    row(page, name).click()
    expect(page.locator("#conv-name")).to_have_text(name)
    expect(page.locator("#older")).not_to_have_text("Loading…")


def messages(page: Page, text: str | None = None):
    loc = page.locator("#msg-list .msg")
    return loc.filter(has=page.locator(".msg-body", has_text=text)) if text else loc


def record_dialogs(page: Page) -> list[str]:
    """alert()/confirm() the page opened: recorded and dismissed (an injected handler would open one)."""
    seen: list[str] = []

    def on_dialog(dialog):
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen


def collect_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


class ServerProcess(ServeProcess):
    """`callcenter serve` of this test only, on the embedded default with a fixed port and data dir,
    so it can be stopped (SIGTERM: sockets closed with 1012) and started again (tests/harness.py)."""

    def __init__(self, data_dir: Path, log_path: Path):
        env = {**os.environ, "CALLCENTER_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
        for name in ("CALLCENTER_DATABASE_URL", "CALLCENTER_REDIS_URL", "CALLCENTER_PORT"):
            env.pop(name, None)
        super().__init__(env, log_path)


class ThreadedProxy:
    """tests.mocking.TcpProxy on a loop of its own thread, for synchronous (Playwright) tests."""

    def __init__(self, target_port: int):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxy", daemon=True)
        self.thread.start()
        self.proxy = TcpProxy("127.0.0.1", target_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def up(self) -> None:
        self._run(self.proxy.up())

    def down(self) -> None:
        self._run(self.proxy.down())

    def close(self) -> None:
        try:
            self.down()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
