"""Routing and availability in chat-widget.js, in Chromium, against a real `callcenter serve`.

- Queue: with the tenant's routing "auto" and no agent online, conversations wait in line. The widget of a
  visitor second in line says so ("You are number 2 in line", a polite live region), moves up live when the
  conversation ahead is taken ("You are next in line") and drops the line once an agent coming online is
  given the conversation (the header then names the agent).
- Business hours: outside them, the widget shows that the team is away (the tenant's message in the visitor's
  language, else the widget's own) and when it is back, in the visitor's locale and time zone; the pre-chat
  form then requires an e-mail address: without one nothing is sent (and the server's own refusal, for a
  visitor who skipped the form, shows in words); with one the chat starts and the visitor writes as usual.

Each test has a server of its own (embedded default, demo tenant, /widget-demo.html on the same origin): the
queue and the tenant's settings are the test's alone.
"""
from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, screenshot
from tests.e2e.dashboard_support import DEMO_TENANT, Visitor, agent_token, call, collect_errors

TIMEOUT = 15_000
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DE_DAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")


def widget_page(browser, base: str, *, locale: str = "en-US", timezone_id: str = "UTC"):
    """A visitor's page of a context of its own, showing the widget: (context, page, widget, errors, starts),
    `starts` collecting the POST /chat/public/start requests the page makes."""
    context = browser.new_context(viewport=DESKTOP, locale=locale, timezone_id=timezone_id)
    page = context.new_page()
    errors = collect_errors(page)
    starts: list = []
    page.on("request", lambda r: starts.append(r) if r.method == "POST" and r.url.endswith("/chat/public/start")
            else None)
    page.goto(base + "/widget-demo.html")
    return context, page, page.locator("callcenter-chat"), errors, starts


def stored(page, field: str):
    return page.evaluate(f"JSON.parse(localStorage.getItem('callcenter-chat:{DEMO_TENANT}')).{field}")


def agent_online(browser, base: str, token: str):
    """The agent's socket, open in a page of the server's origin (what the dashboard holds): the agent is
    online while it lives. Returns the context (closing it takes the agent offline)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/websocket-test.html")
    page.evaluate("""([url, token]) => new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        window.__agentWs = ws;
        ws.onopen = () => ws.send(JSON.stringify({type: "auth", token}));
        ws.onmessage = (ev) => { if (JSON.parse(ev.data).type === "auth.ok") resolve(); };
        ws.onclose = (ev) => reject(new Error("closed " + ev.code));
    })""", [base.replace("http://", "ws://") + "/ws", token])
    return context


def test_a_queued_visitor_sees_their_place_in_line_until_an_agent_takes_the_conversation(browser, live_server):
    base = live_server
    agent = agent_token(base)
    # The demo's own waiting conversations out of the way (resolved), so that the line is this test's; and room
    # for one more with agent1 whatever the demo gave them.
    for session in call(base, "GET", "/chat/sessions?assigned=none&limit=100", token=agent)["sessions"]:
        if session["status"] != "resolved":
            call(base, "POST", f"/chat/sessions/{session['id']}/resolve", token=agent)
    me = call(base, "GET", "/auth/me", token=agent)["agent"]
    call(base, "PATCH", f"/agents/{me['id']}", {"max_conversations": 50}, token=agent)
    assert call(base, "PATCH", "/tenant", {"routing": "auto"}, token=agent)["settings"]["routing"] == "auto"
    assert call(base, "GET", "/routing", token=agent)["queue_length"] == 0

    # No agent is online: the first conversation waits in line.
    first = Visitor(base, name="Fiona First")
    first.send("I was here first")

    context, page, w, errors, _ = widget_page(browser, base)
    try:
        w.locator(".bub").click()
        w.get_by_label("Name").fill("Sam Second")
        w.get_by_role("button", name="Start chat").click()
        box = w.get_by_role("textbox", name="Type a message…")
        box.fill("Is anyone there?")
        box.press("Enter")
        expect(w.locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"), timeout=TIMEOUT)

        # Second in line (with an estimate when the tenant has a history of first answers).
        line = w.locator(".nt[aria-live=polite]")
        expect(line).to_have_text(re.compile(r"^You are number 2 in line(, (less than a minute|about .+))?$"),
                                  timeout=TIMEOUT)
        expect(line).to_be_visible()
        screenshot(page, "widget-queue-second")

        # The conversation ahead is taken: this one moves up, live.
        call(base, "POST", f"/chat/sessions/{first.session_id}/assign", {}, token=agent)
        expect(line).to_have_text(re.compile(r"^You are next in line(, (less than a minute|about .+))?$"),
                                  timeout=TIMEOUT)

        # An agent comes online: routing gives them this conversation; the line goes, the header names them.
        desk = agent_online(browser, base, agent)
        try:
            expect(line).to_be_hidden(timeout=TIMEOUT)
            expect(w.locator(".st")).to_have_text("Chatting with Alex Morgan", timeout=TIMEOUT)
            expect(w.locator(".m.s .b", has_text="Alex Morgan joined the conversation")).to_be_visible(timeout=TIMEOUT)
            session = call(base, "GET", f"/chat/sessions/{stored(page, 'sid')}", token=agent)["session"]
            assert session["assigned_agent_id"] is not None

            # A reload (the session fetched afresh) shows no line either.
            page.reload()
            expect(w.locator(".st")).to_have_text("Chatting with Alex Morgan", timeout=TIMEOUT)
            expect(w.locator(".m.s .b", has_text="Alex Morgan joined the conversation")).to_be_visible(timeout=TIMEOUT)
            expect(line).to_be_hidden()
        finally:
            desk.close()
        assert errors == []
    finally:
        context.close()


def test_outside_business_hours_the_widget_says_so_and_asks_for_an_email(browser, live_server):
    base = live_server
    agent = agent_token(base)
    # Open only two days from now (UTC), 09:00-17:00: closed now, whatever the hour.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    open_day = (today + datetime.timedelta(days=2)).weekday()
    weekly = {day: [["09:00", "17:00"]] if i == open_day else [] for i, day in enumerate(WEEKDAYS)}
    settings = call(base, "PATCH", "/tenant", {"business_hours": {
        "enabled": True, "timezone": "UTC", "weekly": weekly,
        "away_messages": {"en": "", "es": "", "fr": "", "de": "Unser Team ist im Urlaub."}}}, token=agent)["settings"]
    assert settings["business_hours"]["enabled"] is True

    availability = call(base, "GET", f"/chat/public/tenants/{DEMO_TENANT}")["settings"]["availability"]
    assert availability["open"] is False and availability["email_required"] is True
    back = datetime.datetime.fromisoformat(availability["next_open_at"].replace("Z", "+00:00"))
    assert back.weekday() == open_day and (back.hour, back.minute) == (9, 0) and back.utcoffset().total_seconds() == 0

    # In English, in UTC: our away message, and the time the team is back.
    context, page, w, errors, starts = widget_page(browser, base, locale="en-GB", timezone_id="UTC")
    try:
        w.locator(".bub").click()
        away = w.locator(".nt", has_text="We're away.")
        expect(away).to_have_text(f"We're away. Leave a message and we'll reply by e-mail. Back {EN_DAYS[open_day]} "
                                  "09:00.", timeout=TIMEOUT)
        expect(away).to_be_visible()

        # The e-mail address is required now (no "optional" beside it).
        email = w.get_by_label("Email")
        expect(email).to_have_attribute("aria-required", "true")
        expect(w.locator(".fm label", has=email).locator("small")).to_be_hidden()
        screenshot(page, "widget-away-form")

        # Without one, nothing is sent.
        w.get_by_label("Name").fill("Nora Night")
        w.get_by_role("button", name="Start chat").click()
        expect(w.locator(".fm").get_by_role("alert")).to_have_text("Email is required")
        expect(email).to_be_focused()
        assert starts == []

        # With one, the chat starts (marked as after hours) and the visitor writes as usual.
        email.fill("nora@example.com")
        with page.expect_response(lambda r: r.url.endswith("/chat/public/start")) as started:
            w.get_by_role("button", name="Start chat").click()
        assert started.value.status == 201
        body = started.value.json()
        assert body.get("after_hours", body["session"].get("after_hours")) is True
        box = w.get_by_role("textbox", name="Type a message…")
        box.fill("Please call me back tomorrow")
        box.press("Enter")
        expect(w.locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"), timeout=TIMEOUT)
        expect(away).to_be_visible()
        session = call(base, "GET", f"/chat/sessions/{stored(page, 'sid')}", token=agent)["session"]
        assert session["customer_email"] == "nora@example.com"
        assert errors == []
    finally:
        context.close()

    # A visitor who skipped the form (the page gave a name only): the server refuses the start, and the
    # widget says why, in words, on the form.
    context, page, w, errors, starts = widget_page(browser, base)
    try:
        page.evaluate("CallCenterChat.setUser({name: 'Sid Skip'}); CallCenterChat.open()")
        box = w.get_by_role("textbox", name="Type a message…")
        box.fill("Hello?")
        with page.expect_response(lambda r: r.url.endswith("/chat/public/start")) as refused:
            box.press("Enter")
        assert refused.value.status == 400 and refused.value.json()["error"]["code"] == "customer_email_required"
        expect(w.locator(".fm").get_by_role("alert")).to_have_text("Email is required", timeout=TIMEOUT)
        expect(w.get_by_label("Email")).to_have_attribute("aria-required", "true")
    finally:
        context.close()

    # In German, in Berlin: the tenant's own German message, and the time there.
    berlin = back.astimezone(ZoneInfo("Europe/Berlin"))
    context, page, w, errors, _ = widget_page(browser, base, locale="de-DE", timezone_id="Europe/Berlin")
    try:
        w.locator(".bub").click()
        expect(w.locator(".nt", has_text="Wir sind gerade nicht da.")).to_have_text(
            f"Wir sind gerade nicht da. Unser Team ist im Urlaub. Wieder da: {DE_DAYS[berlin.weekday()]}, "
            f"{berlin:%H}:00.", timeout=TIMEOUT)
        expect(w.get_by_label("E-Mail")).to_have_attribute("aria-required", "true")
        assert errors == []
    finally:
        context.close()

    # Business hours off again: no notice, and the address is optional as before.
    call(base, "PATCH", "/tenant", {"business_hours": {"enabled": False}}, token=agent)
    context, page, w, errors, _ = widget_page(browser, base)
    try:
        w.locator(".bub").click()
        expect(w.get_by_label("Name")).to_be_visible()
        expect(w.get_by_label("Email")).to_have_attribute("aria-required", re.compile("false|undefined"))
        expect(w.locator(".nt", has_text="We're away.")).to_be_hidden()
    finally:
        context.close()
