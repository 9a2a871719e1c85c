"""chat-widget.js's states, in Chromium against a real `callcenter serve` (embedded default, demo tenant):
the launcher that turns into a close button, Escape (focus back on the launcher), the team in the header
(avatars, "typically replies in …" from settings.team), the pre-chat form as a card in the log, the unread
preview card, a resolved conversation with "Start a new conversation", the focus trap of the full-screen
panel on a phone, and the contrast of every text (and the focus ring) with any primary colour a tenant picks.

One server for the module; the widget is /widget-demo.html (same origin); the agent acts through REST.
"""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import agent_token, call, start_widget_chat

TIMEOUT = 15_000
PHONE = {"width": 390, "height": 844}
STORE = "JSON.parse(localStorage.getItem('callcenter-chat:demo-tenant') || '{}')"
# The element focused inside the widget's shadow root: its class, and whether the panel holds it.
FOCUS = """() => { const r = document.querySelector('callcenter-chat').shadowRoot, a = r.activeElement;
                   return a ? [a.className, r.querySelector('.pn').contains(a)] : null; }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("states")) as (url, _log):
        yield url


@pytest.fixture(scope="module")
def agent(server):
    return agent_token(server)


@pytest.fixture
def visitor(browser):
    """A factory of visitor pages (each in a context of its own, closed after the test), their errors kept."""
    contexts = []

    def open_(server: str, *, viewport=None, team: dict | None = None, **options):
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, locale="en-US", **options)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        if team is not None:
            # The tenant's public settings with the team's numbers this test wants.
            def with_team(route):
                response = route.fetch()
                body = response.json()
                body["settings"]["team"] = team
                route.fulfill(response=response, body=json.dumps(body))
            page.route(re.compile(r".*/api/v1/chat/public/tenants/.*"), with_team)
        page.goto(server + "/widget-demo.html")
        return page

    yield open_
    for context in contexts:
        context.close()


def widget(page):
    return page.locator("callcenter-chat")


def chat(page, server: str, agent: str, name: str) -> str:
    """The widget's chat started (pre-chat form), one message sent and delivered; the session id."""
    w = widget(page)
    w.locator(".bub").click()
    box = start_widget_chat(w, name)
    box.fill("Where is my parcel?")
    box.press("Enter")
    expect(w.locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"), timeout=TIMEOUT)
    return page.evaluate(STORE + ".sid")


def reply(server: str, agent: str, sid: str, text: str) -> None:
    call(server, "POST", "/chat/messages", {"session_id": sid, "message": text}, agent)


def test_launcher_turns_into_a_close_button_and_escape_returns_focus(server, visitor):
    page = visitor(server)
    w = widget(page)
    bubble = w.locator(".bub")
    expect(bubble).to_have_attribute("aria-label", "Open chat")
    expect(bubble).to_have_attribute("aria-expanded", "false")
    expect(w.locator(".bub .ci")).to_be_visible()
    bubble.focus()
    page.keyboard.press("Enter")
    panel = w.get_by_role("dialog", name="Chat with us")
    expect(panel).to_be_visible()
    # The launcher is now the close button: an X, its name and state say so.
    expect(bubble).to_have_attribute("aria-expanded", "true")
    expect(bubble).to_have_attribute("aria-label", "Close chat")
    expect(w.locator(".bub .xi")).to_be_visible()
    expect(w.locator(".bub .ci")).to_be_hidden()
    # Not modal on a desktop (the page stays usable); its own close button is the launcher's job there.
    expect(panel).to_have_attribute("aria-modal", "false")
    expect(w.locator(".hd .x")).to_be_hidden()
    # Opened by the keyboard: focus in the form; Escape closes and gives focus back to the launcher.
    assert page.evaluate(FOCUS)[1] is True
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bubble).to_have_attribute("aria-expanded", "false")
    expect(bubble).to_have_attribute("aria-label", "Open chat")
    assert page.evaluate(FOCUS) == ["bub", False]
    # The launcher (now an X) closes too.
    bubble.click()
    expect(panel).to_be_visible()
    bubble.click()
    expect(panel).to_be_hidden()
    assert page.errors == []


def test_team_header_and_the_prechat_form_as_a_card_in_the_log(server, agent, visitor):
    page = visitor(server, team={"agents_online": 2, "typical_first_response_secs": 240})
    w = widget(page)
    w.locator(".bub").click()
    # Two generic avatars (two agents online) and how fast the team replies, from its real numbers.
    expect(w.locator(".avs .av")).to_have_count(2)
    expect(w.locator(".ry")).to_have_text("Typically replies in a few minutes")
    # The pre-chat form: a card in the log, right under the greeting (not pinned under an empty area).
    form = w.locator(".lg > form.fm")
    expect(form).to_be_visible()
    expect(w.locator(".cp")).to_be_hidden()
    greeting = w.locator(".g").bounding_box()
    card = form.bounding_box()
    assert 0 <= card["y"] - (greeting["y"] + greeting["height"]) < 30
    screenshot(page, "widget-states-prechat")
    box = start_widget_chat(w, "Tina Team")
    expect(form).to_be_hidden()
    expect(box).to_be_visible()
    expect(box).to_be_focused()
    box.fill("Hello team")
    box.press("Enter")
    expect(w.locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"), timeout=TIMEOUT)
    # An agent takes it: the header shows who (their initial), no more reply-time estimate.
    sid = page.evaluate(STORE + ".sid")
    call(server, "POST", f"/chat/sessions/{sid}/assign", {}, agent)
    expect(w.locator(".st")).to_have_text("Chatting with Alex Morgan", timeout=TIMEOUT)
    expect(w.locator(".avs .av")).to_have_count(1)
    expect(w.locator(".avs .av")).to_have_text("A")
    expect(w.locator(".ry")).to_be_hidden()
    assert page.errors == []


@pytest.mark.parametrize("secs, text", [(1800, "Typically replies in under an hour"),
                                        (7200, "Typically replies in a few hours"),
                                        (90000, "Typically replies in a day")])
def test_reply_time_buckets(server, visitor, secs, text):
    page = visitor(server, team={"agents_online": 0, "typical_first_response_secs": secs})
    w = widget(page)
    w.locator(".bub").click()
    expect(w.locator(".ry")).to_have_text(text)
    expect(w.locator(".avs .av")).to_have_count(1)  # nobody online: one generic avatar


def test_unread_preview_card(server, agent, visitor):
    page = visitor(server)
    w = widget(page)
    sid = chat(page, server, agent, "Pia Preview")
    call(server, "POST", f"/chat/sessions/{sid}/assign", {}, agent)
    bubble = w.locator(".bub")
    bubble.click()
    expect(w.locator(".pn")).to_be_hidden()
    reply(server, agent, sid, "It left our warehouse today.\nTracking: ZX-1 <b>not bold</b>")
    card = w.locator(".pv")
    expect(card).to_be_visible(timeout=TIMEOUT)
    expect(card.locator("strong")).to_have_text("Alex Morgan")
    expect(card.locator("span")).to_have_text("It left our warehouse today.")  # the first line only
    expect(bubble).to_have_attribute("aria-label", "Open chat, 1 unread")
    # Said to screen readers (the log is closed), as text.
    expect(w.locator(".w > [role=status]")).to_contain_text("Alex Morgan: It left our warehouse today.")
    assert w.locator("b").count() == 0
    screenshot(page, "widget-states-preview")
    # A click on the card opens the conversation; the card goes.
    card.locator(".pb").click()
    expect(w.locator(".pn")).to_be_visible()
    expect(card).to_be_hidden()
    expect(w.locator(".m.a:not(.g) .b").last).to_contain_text("It left our warehouse today.")
    # Closed again, another reply: the card's X dismisses it (the panel stays closed, focus on the launcher).
    bubble.click()
    reply(server, agent, sid, "Anything else?")
    expect(card.locator("span")).to_have_text("Anything else?", timeout=TIMEOUT)
    card.get_by_role("button", name="Close").click()
    expect(card).to_be_hidden()
    expect(w.locator(".pn")).to_be_hidden()
    assert page.evaluate(FOCUS) == ["bub", False]
    assert page.errors == []


def test_resolved_then_a_new_conversation(server, agent, visitor):
    page = visitor(server)
    w = widget(page)
    sid = chat(page, server, agent, "Nora New")
    reply(server, agent, sid, "Sorted, anything else?")
    call(server, "POST", f"/chat/sessions/{sid}/resolve", {}, agent)
    bar = w.locator(".nw")
    expect(bar).to_be_visible(timeout=TIMEOUT)
    expect(bar).to_contain_text("This conversation is closed.")
    # The old conversation stays readable until the visitor starts a new one.
    expect(w.locator(".m.v")).to_have_count(1)
    expect(w.get_by_text("Sorted, anything else?")).to_be_visible()
    # The placeholder fits (one line, not cut off).
    box = w.locator(".cp textarea")
    assert box.evaluate("(el) => el.scrollHeight <= el.clientHeight + 2")
    screenshot(page, "widget-states-resolved")
    w.get_by_role("button", name="Start a new conversation").click()
    expect(bar).to_be_hidden()
    expect(w.locator(".m.v")).to_have_count(0)
    expect(w.locator(".m.a:not(.g)")).to_have_count(0)
    expect(w.locator("form.rt")).to_be_hidden()
    expect(box).to_be_focused()
    assert page.evaluate(STORE + ".sid") is None
    box.fill("A different question")
    box.press("Enter")
    expect(w.locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"), timeout=TIMEOUT)
    new_sid = page.evaluate(STORE + ".sid")
    assert new_sid and new_sid != sid
    assert call(server, "GET", f"/chat/sessions/{new_sid}", token=agent)["session"]["status"] != "resolved"
    assert page.errors == []


def test_phone_panel_is_modal_and_traps_focus(server, visitor):
    page = visitor(server, viewport=PHONE, is_mobile=True, has_touch=True)
    w = widget(page)
    bubble = w.locator(".bub")
    bubble.focus()
    page.keyboard.press("Enter")
    panel = w.get_by_role("dialog", name="Chat with us")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("aria-modal", "true")
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    # 44 px targets and 16 px inputs.
    close = w.get_by_role("button", name="Close chat")
    for target in (close, w.get_by_role("button", name="Start chat")):
        b = target.bounding_box()
        assert b["height"] >= 44 and b["width"] >= 44
    assert w.get_by_label("Name").evaluate("(el) => getComputedStyle(el).fontSize") == "16px"
    # Tab and Shift+Tab cycle inside the panel, never out to the page.
    seen = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        cls, inside = page.evaluate(FOCUS)
        assert inside, cls
        seen.add(cls)
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(FOCUS)[1]
    assert "x" in seen and "go" in seen  # the cycle went round: the header's close and the form's button
    # With a conversation: still trapped, the composer's buttons 44 px.
    start_widget_chat(w, "Phil Phone")
    for name in ("Send", "Attach files"):
        b = w.get_by_role("button", name=name).bounding_box()
        assert b["height"] >= 44 and b["width"] >= 44
    for _ in range(8):
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUS)[1]
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bubble).to_be_visible()
    assert page.evaluate(FOCUS) == ["bub", False]
    assert page.errors == []


CONTRAST = """() => {
  const r = document.querySelector('callcenter-chat').shadowRoot, cs = (el) => getComputedStyle(el);
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => c.map((v) => { v /= 255; return v <= .04045 ? v / 12.92 : ((v + .055) / 1.055) ** 2.4; })
                      .reduce((s, v, i) => s + v * [.2126, .7152, .0722][i], 0);
  const ratio = (a, b) => { a = lum(rgb(a)) + .05; b = lum(rgb(b)) + .05; return Math.max(a, b) / Math.min(a, b); };
  const q = (s) => r.querySelector(s), out = {};
  const pair = (name, fg, bg) => { out[name] = Math.round(ratio(fg, bg) * 100) / 100; };
  pair('launcher icon', cs(q('.bub')).color, cs(q('.bub')).backgroundColor);
  pair('title', cs(q('.tt')).color, cs(q('.hd')).backgroundColor);
  pair('subtitle', cs(q('.st')).color, cs(q('.hd')).backgroundColor);
  pair('send', cs(q('.cp button[type=submit]')).color, cs(q('.cp button[type=submit]')).backgroundColor);
  pair('link', cs(q('.lk')).color, cs(q('.lg')).backgroundColor);
  // A visitor's message and a timestamp, drawn with the widget's own classes.
  const m = document.createElement('div');
  m.className = 'm v';
  m.innerHTML = '<div class="b">x</div><div class="mt"><time>9:00</time></div>';
  q('.lg').appendChild(m);
  pair('visitor bubble', cs(m.querySelector('.b')).color, cs(m.querySelector('.b')).backgroundColor);
  pair('timestamp', cs(m.querySelector('.mt')).color, cs(q('.lg')).backgroundColor);
  m.remove();
  const box = q('.cp textarea');
  box.focus();
  pair('focus ring (composer)', cs(box).outlineColor, cs(q('.pn')).backgroundColor);
  out.placeholder = Math.round(ratio(cs(box, '::placeholder').color, cs(q('.pn')).backgroundColor) * 100) / 100;
  return out;
}"""


@pytest.mark.parametrize("primary", ["#ffff00", "#2563eb", "#777777", "#00ff00"])
def test_contrast_with_any_primary(server, visitor, primary):
    page = visitor(server)
    page.evaluate("""(c) => { CallCenterChat.shutdown({clear: true});
        CallCenterChat.init({apiUrl: location.origin, tenantId: 'demo-tenant', primaryColor: c});
        CallCenterChat.setUser({name: 'Cora Contrast'}); CallCenterChat.open(); }""", primary)
    w = widget(page)
    expect(w.locator(".cp textarea")).to_be_visible()
    expect(w.locator(".tx .lk")).to_have_count(1)  # (the lazily loaded part, loaded once open, made the link)
    ratios = page.evaluate(CONTRAST)
    low = {name: value for name, value in ratios.items()
           if value < (3 if name.startswith("focus") else 4.5)}
    assert low == {}, (primary, ratios)
    # The launcher's focus ring against the page (white here).
    w.locator(".bub").focus()
    ring = page.evaluate("""() => getComputedStyle(document.querySelector('callcenter-chat').shadowRoot
                                                      .querySelector('.bub')).outlineColor""")
    assert ring == "rgb(29, 78, 216)"  # #1d4ed8: 6.7:1 on white
    screenshot(page, f"widget-states-contrast-{primary[1:]}")
    assert page.errors == []


ASYNC_HOST = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Async host</title></head><body>
<h1>Async host</h1>
<script>
  window.CallCenterChat = window.CallCenterChat || {q: [], init: function (o) { this.q.push(o); }};
  CallCenterChat.init({tenantId: 'demo-tenant', title: 'Async chat'});
</script>
<script async src="/chat-widget.js"></script>
</body></html>"""


def test_async_embed_snippet(server, browser):
    """The README's snippet: the stub queues init, the async script replays it."""
    context = browser.new_context()
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route(server + "/async-host.html", lambda route: route.fulfill(content_type="text/html",
                                                                            body=ASYNC_HOST))
        page.goto(server + "/async-host.html")
        w = widget(page)
        w.locator(".bub").click()
        expect(w.get_by_role("dialog", name="Async chat")).to_be_visible()
        assert page.evaluate("typeof CallCenterChat.open === 'function' && !!CallCenterChat.version")
        assert errors == []
    finally:
        context.close()
