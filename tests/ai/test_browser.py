"""AI replies in the real front ends (Chromium): the widget shows the AI typing, then its reply; model
output full of HTML renders as text in the widget and in the dashboard; the dashboard shows a
handoff and fills the composer with a suggested reply."""
from __future__ import annotations


import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import browser, screenshot  # noqa: F401  (the e2e browser fixture, shared)
from tests.e2e.dashboard_support import agent_token, call, collect_errors, login, messages, open_conversation, row

HOSTILE = ('<img src=x onerror="window.__xss=1"><b>bold</b> & <script>window.__xss=2</script>'
           '<a href="javascript:window.__xss=3">link</a>')


@pytest.fixture
def ai_live_server(tmp_path, gemini):
    """`callcenter serve` on the embedded default (demo seeded), AI on through the fake model, demo in auto."""
    with embedded_server(tmp_path, GEMINI_API_KEY="test-key-not-a-secret", CALLCENTER_GEMINI_BASE_URL=gemini.url,
                         CALLCENTER_AI_TIMEOUT_SECS="10") as (url, _log):
        call(url, "PATCH", "/ai/settings", {"ai_mode": "auto"}, token=agent_token(url))
        yield url


def test_model_html_renders_as_text_in_widget_and_dashboard(browser, ai_live_server, gemini):
    gemini.reply = HOSTILE
    gemini.chunks = 4
    agent_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    visitor_ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        dash = agent_ctx.new_page()
        shop = visitor_ctx.new_page()
        errors = collect_errors(dash) + collect_errors(shop)
        login(dash, ai_live_server)

        shop.goto(ai_live_server + "/widget-demo.html")
        w = shop.locator("callcenter-chat")
        w.locator(".bub").click()
        w.get_by_label("Name").fill("Hana Html")
        w.get_by_role("button", name="Start chat").click()
        box = w.get_by_role("textbox", name="Type a message…")
        box.fill("Show me something bold")
        box.press("Enter")

        reply = w.locator(".m.ai .b").last
        expect(reply).to_have_text(HOSTILE)
        expect(w.locator(".m.ai .who .tag")).to_have_text("AI")
        assert reply.locator("img, b, script, a").count() == 0
        expect(w.locator(".ty")).to_be_hidden()  # typing / partial text gone once the message is there

        open_conversation(dash, "Hana Html")
        ai_msg = messages(dash).filter(has=dash.locator(".msg-body", has_text="<b>bold</b>"))
        expect(ai_msg).to_have_attribute("data-sender", "ai")
        assert ai_msg.locator(".msg-body img, .msg-body b, .msg-body script, .msg-body a").count() == 0
        assert shop.evaluate("window.__xss") is None and dash.evaluate("window.__xss") is None
        screenshot(shop, "widget-ai-html-as-text")
        assert not errors
    finally:
        agent_ctx.close()
        visitor_ctx.close()


def test_dashboard_shows_the_handoff_and_suggests_a_reply(browser, ai_live_server, gemini):
    from tests.e2e.dashboard_support import Visitor

    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        dash = ctx.new_page()
        errors = collect_errors(dash)
        login(dash, ai_live_server)
        visitor = Visitor(ai_live_server, name="Paula Person")
        visitor.send("I want to talk to a human")
        visitor.wait_for_message("Of course. I'm passing the conversation to a member of our team; they will reply "
                                 "here as soon as possible.", sender_type="ai", timeout=15)
        expect(row(dash, "Paula Person").locator(".chip.handoff")).to_have_text("Needs a person")
        open_conversation(dash, "Paula Person")
        expect(dash.locator("#conv-handoff")).to_be_visible()

        gemini.reply = "Hello Paula, I'm Alex: how can I help?"
        dash.click("#composer-suggest")
        expect(dash.locator("#composer-input")).to_have_value("Hello Paula, I'm Alex: how can I help?")
        assert gemini.requests[-1].method == "generateContent"
        dash.click("#act-assign")
        expect(dash.locator("#conv-handoff")).to_be_hidden()
        screenshot(dash, "dashboard-ai-suggest")
        assert not errors
    finally:
        ctx.close()
