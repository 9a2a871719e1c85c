"""Reconnect storms, from the browser: the widget, the dashboard and /websocket-test.html open
`/ws?tenant=<their tenant>` (the balancer's key for tenant-affine routing; the token still goes in the first
frame), and when the server restarts (SIGTERM: every socket closed with 1012) they do not all come back at once:
even the first retry waits random(0, ~3 s) (full jitter), so thousands of clients of a dead or draining worker
spread out instead of arriving in the same millisecond.

Math.random is stubbed per page to a fixed value (the pages use it for nothing but the backoff), and the
WebSocket constructor is wrapped to record each socket's URL, open time and close. A timer never fires early,
so a page whose random value is r waits at least r x the first window before its first retry: the pages come
back in the order of their values, one of them only after ~2.5 s, where the old "retry within 0.6 s" clients
all came back together.
"""
from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP
from tests.e2e.dashboard_support import DEMO_TENANT, ServerProcess, start_widget_chat

FIRST_WINDOW_MS = 3000  # the first retry after a 1012/1006, in chat-widget.js, dashboard/socket.js, websocket-test.js
TIMER_SLACK_MS = 25  # performance.now() and the timer clock round differently
RECONNECT_TIMEOUT_MS = 30_000

# Wraps WebSocket (recording url, open and close times and the close code) and fixes Math.random at R.
RECORDER = """
(() => {
  Math.random = () => %(r)s;
  const Native = window.WebSocket;
  const log = window.__sockets = [];
  function Recorded(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    const rec = {url: String(url), at: performance.now(), closedAt: null, code: null};
    log.push(rec);
    ws.addEventListener("close", (ev) => { rec.closedAt = performance.now(); rec.code = ev.code; });
    return ws;
  }
  Recorded.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Recorded[k] = Native[k];
  window.WebSocket = Recorded;
})();
"""


def sockets(page) -> list[dict]:
    return page.evaluate("window.__sockets")


def first_retry_after_restart(page) -> float:
    """ms from the 1012 close of the page's socket to the next socket it opened."""
    recs = sockets(page)
    closed = [i for i, rec in enumerate(recs) if rec["code"] == 1012]
    assert closed, recs
    i = closed[0]
    assert i + 1 < len(recs), recs
    return recs[i + 1]["at"] - recs[i]["closedAt"]


def test_clients_open_ws_with_their_tenant_and_spread_their_retries(tmp_path, browser, agent_dashboard):
    server = ServerProcess(tmp_path / "data", tmp_path / "serve.log")
    server.start()
    contexts = []
    try:
        # Three visitors (the widget), each with its own random value; the agent's dashboard; the test page.
        widget_rs = [0.05, 0.45, 0.85]
        widgets = []
        for n, r in enumerate(widget_rs):
            context = browser.new_context(viewport=DESKTOP, locale="en-US")
            contexts.append(context)
            context.add_init_script(RECORDER % {"r": r})
            page = context.new_page()
            page.goto(server.url + "/widget-demo.html")
            w = page.locator("callcenter-chat")
            w.locator(".bub").click()
            box = start_widget_chat(w, f"Visitor {n}")
            box.fill(f"Hello from {n}")
            box.press("Enter")
            expect(w.locator(".m.v").first).to_have_attribute("data-status", "delivered")
            widgets.append((page, w, r))
        desk_r = 0.65
        desk = agent_dashboard(server.url, prepare=lambda p: p.add_init_script(RECORDER % {"r": desk_r}))
        tool_r = 0.25
        tool_context = browser.new_context(viewport=DESKTOP)
        contexts.append(tool_context)
        tool_context.add_init_script(RECORDER % {"r": tool_r})
        tool = tool_context.new_page()
        tool.goto(server.url + "/websocket-test.html")
        tool.click("text=Log in as agent")
        expect(tool.locator("#log")).to_contain_text("signed in as agent1@callcenter.com")
        tool.click("#connect")
        expect(tool.locator("#live")).to_have_text("Live")

        # Every socket named its tenant in the URL; the token is never in it.
        for page in [p for p, _, _ in widgets] + [desk.page, tool]:
            urls = {rec["url"] for rec in sockets(page)}
            assert urls == {server.url.replace("http", "ws") + "/ws?tenant=" + DEMO_TENANT}, urls

        # The server restarts: every socket is closed with 1012; each page comes back by itself.
        server.stop()
        server.start()
        for page, w, _ in widgets:
            expect(w.locator(".cn")).to_be_hidden(timeout=RECONNECT_TIMEOUT_MS)
        expect(desk.page.locator("#live")).to_have_attribute("data-state", "live", timeout=RECONNECT_TIMEOUT_MS)
        expect(tool.locator("#live")).to_have_text("Live", timeout=RECONNECT_TIMEOUT_MS)
        expect(tool.locator("#log")).to_contain_text("reconnecting in")

        # Each page's first retry waited at least its random share of the first window, so they came back
        # spread out, in the order of their random values, not all at once.
        gaps = {r: first_retry_after_restart(page) for page, _, r in widgets}
        gaps[desk_r] = first_retry_after_restart(desk.page)
        gaps[tool_r] = first_retry_after_restart(tool)
        for r, gap in gaps.items():
            assert gap >= r * FIRST_WINDOW_MS - TIMER_SLACK_MS, json.dumps(gaps)
        assert [gaps[r] for r in sorted(gaps)] == sorted(gaps.values()), json.dumps(gaps)
        # Back on the same tenant's URL, and a message still goes through.
        for page in [p for p, _, _ in widgets] + [desk.page, tool]:
            assert {rec["url"].rsplit("/", 1)[1] for rec in sockets(page)} == {"ws?tenant=" + DEMO_TENANT}
        page, w, _ = widgets[0]
        box = w.get_by_role("textbox", name="Type a message…")
        box.fill("After the restart")
        box.press("Enter")
        expect(w.locator('.m.v[data-status="delivered"]')).to_have_count(2)
        assert not desk.errors
    finally:
        for context in contexts:
            context.close()
        server.stop()
