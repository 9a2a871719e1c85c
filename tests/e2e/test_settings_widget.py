"""Settings → Widget in Chromium: an admin changes the widget (an allowed origin, colour, title, greeting,
pre-chat email required) with the live preview following as they type; a page on that origin then shows
the widget in the saved settings, a page on another origin is refused, and hostile text stays text in the
widget, the preview and the dashboard. Screenshots of the page at 1280x800 and 390x844.

One `callcenter serve` (embedded default, demo seeded) for the module and two small http.servers: the
site the admin allows, and one it does not."""
from __future__ import annotations

import functools
import http.server
import json
import re
import threading

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import DEMO_TENANT, agent_token, call

TITLE = 'Acme <img src=x onerror="window.__pwned=1">'
GREETING = '<img src=x onerror="window.__pwned=2"> Hello from Acme!'
COLOR = "#fbbf24"  # light amber: the text on it must be dark
COLOR_RGB = "rgb(251, 191, 36)"
DARK_TEXT = "rgb(17, 24, 39)"
TIMEOUT = 15_000

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host</title><link rel="icon" href="data:,"></head>
<body><h1>Host site</h1>
<script src="{api}/chat-widget.js"></script>
<script>CallCenterChat.init({{tenantId: {tenant}}});</script>
</body></html>
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _site(root):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("settings-widget")
    root = tmp / "site"
    root.mkdir()
    allowed, allowed_origin = _site(root)
    foreign, foreign_origin = _site(root)
    try:
        with embedded_server(tmp) as (base, _log):
            (root / "shop.html").write_text(HOST_PAGE.format(api=base, tenant=json.dumps(DEMO_TENANT)))
            yield {"base": base, "allowed": allowed_origin, "foreign": foreign_origin}
    finally:
        for server in (allowed, foreign):
            server.shutdown()
            server.server_close()


def _widget_page(page, base):
    page.goto(base + "/?settings=widget")
    expect(page.locator("#ws-form")).to_be_visible(timeout=TIMEOUT)
    frame = page.frame_locator("#ws-preview-frame")
    preview = frame.locator("callcenter-chat")
    expect(preview.locator(".pn")).to_be_visible(timeout=TIMEOUT)
    return preview


def test_admin_changes_the_widget_and_sites_follow(world, agent_dashboard, browser):
    base = world["base"]
    desk = agent_dashboard(base)
    page = desk.page
    preview = _widget_page(page, base)

    # Typed, not saved: the preview follows (the title letter by letter, the colour and its text colour).
    origins = page.locator("#ws-origins")
    origins.fill(origins.input_value().rstrip() + "\n" + world["allowed"] + "/")
    title = page.locator("#ws-title")
    title.fill("")
    title.press_sequentially("Acme help")
    expect(title).to_be_focused()  # the preview never takes the focus
    expect(preview.locator(".tt")).to_have_text("Acme help")
    page.locator("#ws-color").fill(COLOR)
    expect(preview.locator(".hd")).to_have_css("background-color", COLOR_RGB)
    expect(preview.locator(".hd")).to_have_css("color", DARK_TEXT)
    title.fill(TITLE)
    expect(preview.locator(".tt")).to_have_text(TITLE)
    page.locator("#ws-greeting-en").fill(GREETING)
    expect(preview.locator(".g .b")).to_have_text(GREETING)
    page.locator("#ws-prechat-email").select_option("required")
    expect(preview.locator("input[name=email]")).to_have_attribute("aria-required", "true")
    page.locator("#ws-pos-left").check()
    expect(preview.locator(".w")).to_have_class(re.compile(r"\bl\b"))
    # The Spanish tab: the preview speaks Spanish, with the default Spanish greeting.
    page.locator("#ws-tab-es").click()
    expect(preview.locator(".g .b")).to_have_text("¡Hola! ¿En qué podemos ayudarte?")
    expect(preview.get_by_role("button", name="Iniciar chat")).to_be_visible()
    page.locator("#ws-tab-en").click()
    # Nothing saved yet.
    token = agent_token(base)
    assert call(base, "GET", "/tenant", token=token)["settings"]["widget"]["title"] != TITLE

    page.locator("#ws-save").click()
    expect(page.locator("#ws-status")).to_have_text("Saved", timeout=TIMEOUT)
    saved = call(base, "GET", "/tenant", token=token)
    assert world["allowed"] in saved["tenant"]["allowed_origins"]  # the trailing slash went
    assert saved["settings"]["widget"]["title"] == TITLE
    assert saved["settings"]["widget"]["primary_color"] == COLOR
    assert saved["settings"]["widget"]["greetings"]["en"] == GREETING
    assert saved["settings"]["widget"]["prechat"]["email"] == "required"
    assert saved["settings"]["widget"]["position"] == "bottom-left"
    screenshot(page, "settings-widget-desktop")

    # The dashboard, reloaded: the hostile strings are values of the fields, never markup.
    page.reload()
    preview = _widget_page(page, base)
    expect(page.locator("#ws-title")).to_have_value(TITLE)
    expect(page.locator("#ws-greeting-en")).to_have_value(GREETING)
    expect(preview.locator(".tt")).to_have_text(TITLE)
    assert page.locator("img[src=x]").count() == 0

    # A page of the allowed origin: the saved look, after a reload too (the settings are kept for the next page).
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        site = context.new_page()
        errors = []
        site.on("pageerror", lambda exc: errors.append(str(exc)))
        site.goto(world["allowed"] + "/shop.html")
        w = site.locator("callcenter-chat")
        expect(w.locator(".bub")).to_have_css("background-color", COLOR_RGB, timeout=TIMEOUT)
        site.reload()
        w = site.locator("callcenter-chat")
        expect(w.locator(".bub")).to_have_css("background-color", COLOR_RGB)
        expect(w.locator(".bub")).to_have_css("color", DARK_TEXT)
        assert w.locator(".bub").bounding_box()["x"] < 200  # bottom-left
        w.locator(".bub").click()
        expect(w.get_by_role("dialog", name=TITLE)).to_be_visible()
        expect(w.locator(".tt")).to_have_text(TITLE)
        expect(w.locator(".g .b")).to_have_text(GREETING)
        assert w.locator("img").count() == 0
        # Email required: no "(optional)" beside it, and the form says so.
        expect(w.locator("input[name=email]")).to_have_attribute("aria-required", "true")
        w.get_by_label("Name").fill("Nadia")
        w.get_by_role("button", name="Start chat").click()
        expect(w.locator(".fm .er")).to_have_text("Email is required")
        w.get_by_label("Email").fill("nadia@example.com")
        w.get_by_role("button", name="Start chat").click()
        box = w.get_by_role("textbox", name="Type a message…")
        box.fill("Hi from the allowed site")
        box.press("Enter")
        expect(w.locator(".m.v").first).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
        assert site.evaluate("window.__pwned") is None
        assert not errors

        # A page of an origin that is not allowed: no settings, no conversation.
        site.goto(world["foreign"] + "/shop.html")
        w = site.locator("callcenter-chat")
        w.locator(".bub").click()
        expect(w.locator(".tt")).to_have_text("Chat with us")  # the tenant's settings were not served
        w.get_by_label("Name").fill("Fiona Foreign")
        w.get_by_label("Email").fill("fiona@example.com")
        w.get_by_role("button", name="Start chat").click()
        box = w.get_by_role("textbox", name="Type a message…")
        box.fill("Hi from a foreign site")
        box.press("Enter")
        site.wait_for_timeout(2000)
        # The server's answers are not for this origin: the widget never gets a conversation, and the message
        # waits unsent. (The server still records the attempted start: CORS guards what a page can read.)
        expect(w.locator(".m.v").first).to_have_attribute("data-status", "pending")
        stored = site.evaluate(f"JSON.parse(localStorage.getItem('callcenter-chat:{DEMO_TENANT}'))")
        assert not stored.get("sid") and not stored.get("token")
    finally:
        context.close()
    assert page.evaluate("window.__pwned") is None
    assert not desk.errors


def test_widget_page_on_a_phone(world, agent_dashboard):
    desk = agent_dashboard(world["base"], viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = desk.page
    preview = _widget_page(page, world["base"])
    page.locator("#ws-subtitle").fill("Phone subtitle")
    expect(preview.locator(".st")).to_have_text("Phone subtitle")
    # One column: nothing wider than the screen; 16 px inputs; 44 px buttons.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    overflow = page.evaluate("""() => [...document.querySelectorAll('.st-page-body *')]
        .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1 && el.offsetParent !== null
                      && !el.closest('.sp-preview-box'))
        .map(el => el.tagName + '#' + el.id + '.' + el.className).slice(0, 5)""")
    assert overflow == []
    assert page.evaluate("getComputedStyle(document.querySelector('#ws-title')).fontSize") == "16px"
    assert page.locator("#ws-save").bounding_box()["height"] >= 44
    assert page.locator("#ws-tab-fr").bounding_box()["height"] >= 44
    box = page.locator(".sp-preview-box").bounding_box()
    form = page.locator("#ws-form").bounding_box()
    assert box["y"] >= form["y"] + form["height"] - 1  # the preview is below the form
    page.locator("#ws-subtitle").fill("")
    screenshot(page, "settings-widget-phone")
    page.locator(".sp-preview").scroll_into_view_if_needed()
    screenshot(page, "settings-widget-phone-preview")
    assert not desk.errors
