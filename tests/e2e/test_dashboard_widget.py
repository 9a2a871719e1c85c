"""The reference's quick start with both real front ends: the agent signs in to the dashboard and sees
"Live"; a visitor opens /widget-demo.html, clicks the bubble and writes; the message appears in the
dashboard without a reload; the agent replies and the visitor sees it in the widget."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import messages, open_conversation, row


def test_quick_start_with_the_widget_demo(live_server, agent_dashboard, widget_chat):
    # 1. Agent interface: sign in, green "Live".
    desk = agent_dashboard(live_server)
    dash = desk.page
    expect(dash.locator("#live")).to_have_text("Live")

    # 2. Widget demo: the bubble, the visitor writes.
    chat = widget_chat(live_server, "Wanda Widget", "wanda@example.com")
    shop, w, box = chat.page, chat.w, chat.box
    box.fill("Do you have the Cloudline 3 in size 42?")
    box.press("Enter")

    # ... and it appears in the agent interface, instantly, without a reload.
    expect(row(dash, "Wanda Widget").locator(".row-preview")).to_have_text(
        "Do you have the Cloudline 3 in size 42?")
    open_conversation(dash, "Wanda Widget")
    expect(messages(dash, "Do you have the Cloudline 3 in size 42?")).to_have_attribute("data-sender", "visitor")
    expect(dash.locator("#customer")).to_contain_text("wanda@example.com")
    expect(dash.locator("#customer a.page-url")).to_contain_text("/widget-demo.html")
    expect(dash.locator("#visitor-presence")).to_have_text("Online now")
    # The visitor typing shows in the dashboard.
    box.press_sequentially("Also in blue")
    expect(dash.locator("#typing")).to_have_text("Wanda Widget is typing…")
    box.fill("")

    # 3. The agent takes it and replies; the customer sees it in the widget.
    dash.click("#act-assign")
    expect(w.locator(".st")).to_have_text("Chatting with Alex Morgan")
    composer = dash.locator("#composer-input")
    composer.fill("Yes, we do! Blue and black.")
    composer.press("Enter")
    expect(w.locator(".m.a .b").last).to_have_text("Yes, we do! Blue and black.")
    # The widget has it open in front of the visitor: the agent sees it read.
    expect(dash.locator("#msg-list .msg.mine .msg-receipt")).to_have_text("✓✓ Seen")
    screenshot(dash, "dashboard-with-widget")
    screenshot(shop, "widget-demo-with-dashboard-reply")

    # 4. A transfer with a note for the next agent: the team sees the note, the customer sees only
    # that the conversation moved, live and after a reload (history and resume from the store).
    secret = "Wanda is upset about shipping; offer the refund"
    dash.click("#act-transfer")
    dash.select_option("#transfer-agent", "2")
    dash.fill("#transfer-note", secret)
    dash.click("#transfer-submit")
    expect(messages(dash, secret)).to_have_attribute("data-sender", "note")
    expect(w.locator(".st")).to_have_text("Chatting with Sam Rivera")
    composer.fill("Sam will take it from here.")
    composer.press("Enter")
    expect(w.locator(".m.a .b").last).to_have_text("Sam will take it from here.")
    assert secret not in w.inner_text()
    shop.reload()
    w = shop.locator("callcenter-chat")
    w.locator(".bub").click()
    expect(w.locator(".m.a .b").last).to_have_text("Sam will take it from here.")
    assert secret not in w.inner_text() and "upset" not in shop.content()
    assert not desk.errors + chat.errors
