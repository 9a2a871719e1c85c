"""Keyboard only, no mouse (issue 27): the agent and the visitor, in Chromium against `callcenter serve`.

- The agent signs in by typing (email, Tab, password, Tab, tenant, Enter), then opens a waiting
  conversation from the list and replies in at most 6 key presses after the sign-in (typing the reply
  counts as one; e.g. ArrowDown, Enter, the reply, Enter): focus lands on the conversation list (a
  listbox with aria-activedescendant and a visible focus), Enter opens the active row with focus in the
  composer, Enter sends; Escape then goes back to the list.
- A visitor Tabs to the widget's launcher, opens it with Enter (focus moves into the panel), starts the
  chat and sends a message with Enter, and closes with Escape: focus is back on the launcher.
- On a phone the open panel covers the page and is modal: Tab and Shift+Tab never leave it.
Every press goes through page.keyboard; nothing is clicked.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import DESKTOP, screenshot
from tests.e2e.dashboard_support import AGENT1, DEMO_TENANT, PASSWORD, Visitor, row

PHONE = {"width": 390, "height": 844}
TIMEOUT = 15_000
BUDGET = 6
REPLY = "Sure, I have changed the delivery address for you."

# The element that has the focus, through open shadow roots: where it is and what it is.
DEEP_FOCUS = """() => {
  let a = document.activeElement;
  const inWidget = !!a && a.tagName === "CALLCENTER-CHAT";
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  if (!a) return {tag: null};
  return {tag: a.tagName, id: a.id || "", cls: String(a.className || ""), inWidget,
          name: a.getAttribute("aria-label") || a.getAttribute("placeholder") || (a.textContent || "").trim().slice(0, 40),
          launcher: !!(a.classList && a.classList.contains("bub")),
          inPanel: !!(a.closest && a.closest(".pn")),
          inList: !!(a.closest && a.closest("#conv-list"))};
}"""

# A focus indicator on the list or on its active row (outline or box-shadow that is not none).
FOCUS_SHOWN = """() => {
  const list = document.getElementById("conv-list");
  const id = list.getAttribute("aria-activedescendant");
  const active = id ? document.getElementById(id) : null;
  const shown = (el) => { if (!el) return false; const s = getComputedStyle(el);
    return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || (s.boxShadow && s.boxShadow !== "none"); };
  return shown(list) || shown(active);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("keyboard")) as (url, _log):
        yield url


class Keys:
    """page.keyboard, counting: a press is one, typing a text is one."""

    def __init__(self, page):
        self.page = page
        self.log: list[str] = []

    def press(self, key: str) -> None:
        self.log.append(key)
        self.page.keyboard.press(key)

    def type(self, text: str) -> None:
        self.log.append(f"type {text!r}")
        self.page.keyboard.type(text)

    def __len__(self) -> int:
        return len(self.log)


def focus(page) -> dict:
    return page.evaluate(DEEP_FOCUS)


def tab_to(page, wanted, *, limit: int = 60, key: str = "Tab") -> int:
    """Press `key` until `wanted(focus)` holds; how many presses it took (fails past `limit`)."""
    for count in range(limit + 1):
        if wanted(focus(page)):
            return count
        page.keyboard.press(key)
    raise AssertionError(f"{key} x{limit} never reached the element; focus is on {focus(page)}")


# ---- the agent --------------------------------------------------------------------------------------

def sign_in_by_keyboard(page, base: str) -> None:
    page.goto(base + "/")
    expect(page.locator("#login-form")).to_be_visible()
    tab_to(page, lambda f: f["id"] == "login-email", limit=10)
    page.keyboard.type(AGENT1)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_TENANT)
    page.keyboard.press("Enter")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=TIMEOUT)
    expect(page.locator("body")).to_have_attribute("data-list-ready", "1", timeout=TIMEOUT)


def test_agent_signs_in_opens_and_replies_by_keyboard(browser, server):
    visitor = Visitor(server, name="Kim Keys", email="kim@example.com")
    visitor.send("Can I change my delivery address?")
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    try:
        page = context.new_page()
        sign_in_by_keyboard(page, server)
        keys = Keys(page)
        conv_list = page.locator("#conv-list")
        target = row(page, "Kim Keys")
        expect(target).to_be_visible()

        after_sign_in = focus(page)
        # Focus to the list (it should already be there: the list is where an agent starts).
        while not (focus(page)["id"] == "conv-list" or focus(page)["inList"]):
            assert len(keys) < BUDGET, (f"the conversation list is not reachable within {BUDGET} presses; "
                                        f"after sign-in focus was on {after_sign_in}")
            keys.press("Tab")
        # The list is a listbox whose active row is announced (aria-activedescendant) and shown.
        target_id = target.get_attribute("id")
        assert target_id, "list rows need an id for aria-activedescendant"
        rows = page.locator("#conv-list [role=option]")
        ids = [rows.nth(i).get_attribute("id") for i in range(rows.count())]
        while conv_list.get_attribute("aria-activedescendant") != target_id:
            active = conv_list.get_attribute("aria-activedescendant")
            assert len(keys) < BUDGET - 3, f"could not make the row active within the budget: {keys.log}"
            up = active in ids and ids.index(active) > ids.index(target_id)
            keys.press("ArrowUp" if up else "ArrowDown")
        assert page.evaluate(FOCUS_SHOWN), "the focused list shows no focus indicator (outline/box-shadow)"
        screenshot(page, "keyboard-list-focus")

        keys.press("Enter")
        expect(page.locator("#conv-name")).to_have_text("Kim Keys")
        expect(page.locator("#composer-input")).to_be_focused()
        keys.type(REPLY)
        keys.press("Enter")
        visitor.wait_for_message(REPLY)
        assert len(keys) <= BUDGET, f"{len(keys)} key presses after sign-in: {keys.log}"
        print(f"after sign-in focus was on {after_sign_in}; {len(keys)} presses: {keys.log}")

        # Escape goes back to the list, on the row it came from.
        page.keyboard.press("Escape")
        expect(conv_list).to_be_focused()
        assert conv_list.get_attribute("aria-activedescendant") == target_id
    finally:
        context.close()


# ---- the visitor ------------------------------------------------------------------------------------

def open_widget_by_keyboard(page, base: str) -> int:
    page.goto(base + "/widget-demo.html")
    expect(page.locator("callcenter-chat .bub")).to_be_visible(timeout=TIMEOUT)
    tabs = tab_to(page, lambda f: f.get("launcher"))
    page.keyboard.press("Enter")
    expect(page.locator("callcenter-chat .pn")).to_be_visible()
    expect(page.locator("callcenter-chat .bub")).to_have_attribute("aria-expanded", "true")
    f = focus(page)
    assert f["inPanel"], f"opening the widget did not move focus into its panel: {f}"
    return tabs


def start_and_send_by_keyboard(page, name: str, message: str) -> None:
    w = page.locator("callcenter-chat")
    name_field = w.get_by_label("Name")
    expect(name_field).to_be_visible()
    if not focus(page)["tag"] == "INPUT":
        tab_to(page, lambda f: f["tag"] == "INPUT" and f["inPanel"], limit=10)
    page.keyboard.type(name)
    page.keyboard.press("Enter")  # submits the pre-chat form
    box = w.locator(".cp textarea")
    expect(box).to_be_visible(timeout=TIMEOUT)
    expect(box).to_be_focused()
    page.keyboard.type(message)
    page.keyboard.press("Enter")
    expect(w.locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"), timeout=TIMEOUT)
    expect(w.locator(".m.v").last).to_contain_text(message)


def close_by_escape(page) -> None:
    page.keyboard.press("Escape")
    expect(page.locator("callcenter-chat .pn")).to_be_hidden()
    expect(page.locator("callcenter-chat .bub")).to_have_attribute("aria-expanded", "false")
    f = focus(page)
    assert f.get("launcher"), f"after Escape focus is not on the launcher: {f}"


def test_visitor_opens_sends_and_closes_by_keyboard(browser, server):
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    try:
        page = context.new_page()
        open_widget_by_keyboard(page, server)
        start_and_send_by_keyboard(page, "Kai Keyboard", "Hello, do you ship to Canada?")
        close_by_escape(page)
    finally:
        context.close()


def test_widget_traps_focus_on_a_phone(browser, server):
    context = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        open_widget_by_keyboard(page, server)
        start_and_send_by_keyboard(page, "Pia Phone", "Is the trail vest in stock?")
        seen = []
        for key in ["Tab"] * 15 + ["Shift+Tab"] * 15:
            page.keyboard.press(key)
            f = focus(page)
            seen.append(f"{key}: {f.get('tag')}.{f.get('cls')} {f.get('name')!r}")
            assert f.get("inWidget") and (f.get("inPanel") or f.get("launcher")), (
                "focus left the widget's modal panel on a phone:\n" + "\n".join(seen))
        screenshot(page, "keyboard-widget-phone")
        close_by_escape(page)
    finally:
        context.close()
