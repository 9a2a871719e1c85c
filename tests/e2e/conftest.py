"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser).

Compose them; each says what it gives and what it cleans up.
- `browser` (per module), `page` (a fresh context's page), `live_server` (`callcenter serve`, demo seeded).
- The opening most dashboard tests share, as factories the test calls in its own order:
  `agent_dashboard(base, …)`: a browser context with the agent signed in to the dashboard (and a
  conversation open); `widget_chat(base, name, …)`: a visitor's browser context with the widget open
  and the chat started from its pre-chat form; `open_chat(base, name, message, …)`: a visitor who has
  written (REST, as the widget does), and the agent signed in with that conversation open.
  Each closes the browser contexts it opened (or was handed) after the test.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.cluster import embedded_server
from tests.e2e.dashboard_support import (AGENT1, PASSWORD, Visitor, collect_errors, login, open_conversation,
                                         start_widget_chat)
from tests.helpers import require_program

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium per test module. Not per session: Playwright's sync API keeps an asyncio
    loop marked running while it is alive, which the event-loop tests of other modules cannot share."""
    require_program(CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A page of a new browser context (1280x800), closed after the test."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def live_server(tmp_path):
    """`callcenter serve` on the embedded default (SQLite, demo seeded) in a temp data dir; its base URL."""
    with embedded_server(tmp_path) as (url, _log):
        yield url


def screenshot(page, name: str) -> None:
    """Kept as a test artifact (test-artifacts/ is not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# ---- the visitor and the agent, opened ---------------------------------------------------------------------

@dataclass
class AgentDesk:
    """The agent's side: a page of `context` signed in to the dashboard; `errors` collects its page errors
    (collected from before the sign-in)."""
    context: object
    page: object
    errors: list[str]


@dataclass
class WidgetChat:
    """The visitor's side in a browser: `page` shows the widget (`w`, the <callcenter-chat> element) with
    the chat started; `box` is its message box; `errors` collects the page's errors."""
    context: object
    page: object
    w: object
    box: object
    errors: list[str]


@dataclass
class OpenedChat:
    """`open_chat`'s result: the REST `visitor`, the message it sent first (`first`, as the API answered
    it) and the agent's `desk` with the conversation open (`page`, `context`, `errors` are the desk's)."""
    visitor: Visitor
    first: dict
    desk: AgentDesk

    @property
    def page(self):
        return self.desk.page

    @property
    def context(self):
        return self.desk.context

    @property
    def errors(self) -> list[str]:
        return self.desk.errors


class _Contexts:
    """Browser contexts to close after the test (each once, whatever state the test left it in)."""

    def __init__(self):
        self.items: list = []

    def add(self, context):
        if all(context is not known for known in self.items):
            self.items.append(context)
        return context

    def close(self) -> None:
        for context in reversed(self.items):
            try:
                context.close()
            except Exception:  # already closed by the test, or the browser went away
                pass


@pytest.fixture
def agent_dashboard(browser):
    """Factory: `agent_dashboard(base, *, email=AGENT1, password=PASSWORD, conversation=None,
    context=None, prepare=None, viewport=DESKTOP, **context_options)` → AgentDesk.

    Opens a new browser context (`viewport` and any other Playwright new_context option: is_mobile,
    timezone_id, locale, …), or a new page of `context` when the test made one of its own (permissions,
    init scripts); collects the page's errors; calls `prepare(page)` if given (listeners or routes that
    must see the sign-in); signs in at `base` as `email` (dashboard_support.login: the list is ready and
    the socket live); with `conversation`, opens the conversation of that customer name.
    Cleans up: closes every context it opened or was handed, after the test. Ask for the server fixture
    before this one, so that the contexts close before the server stops."""
    contexts = _Contexts()

    def open_desk(base: str, *, email: str = AGENT1, password: str = PASSWORD, conversation: str | None = None,
                  context=None, prepare: Callable | None = None, viewport: dict | None = None,
                  **context_options) -> AgentDesk:
        if context is None:
            context = browser.new_context(viewport=viewport or DESKTOP, **context_options)
        contexts.add(context)
        page = context.new_page()
        errors = collect_errors(page)
        if prepare is not None:
            prepare(page)
        login(page, base, email, password)
        if conversation is not None:
            open_conversation(page, conversation)
        return AgentDesk(context, page, errors)

    yield open_desk
    contexts.close()


@pytest.fixture
def widget_chat(browser):
    """Factory: `widget_chat(base, name, email=None, *, url=None, viewport=DESKTOP, locale="en-US",
    **context_options)` → WidgetChat.

    A visitor in a browser context of their own opens `url` (default: `base` + /widget-demo.html, the
    demo tenant's shop), clicks the bubble, fills the pre-chat form (Name; Email when given) and clicks
    "Start chat"; the message box is then `box`. Errors of the page are collected from the start.
    Cleans up: closes the contexts it opened, after the test."""
    contexts = _Contexts()

    def open_widget(base: str, name: str, email: str | None = None, *, url: str | None = None,
                    viewport: dict | None = None, locale: str = "en-US", **context_options) -> WidgetChat:
        context = contexts.add(browser.new_context(viewport=viewport or DESKTOP, locale=locale, **context_options))
        page = context.new_page()
        errors = collect_errors(page)
        page.goto(url or base + "/widget-demo.html")
        w = page.locator("callcenter-chat")
        w.locator(".bub").click()
        box = start_widget_chat(w, name, email)
        return WidgetChat(context, page, w, box, errors)

    yield open_widget
    contexts.close()


@pytest.fixture
def open_chat(agent_dashboard):
    """Factory for the opening many dashboard tests share: `open_chat(base, name, message, *,
    email=None, page_url=…, agent_base=None, **dashboard_options)` → OpenedChat.

    A visitor `name` starts a chat through the public REST API at `base` (what the widget does;
    dashboard_support.Visitor, with `email` and `page_url` when given) and sends `message`; then
    `agent_dashboard` signs the agent in at `agent_base` (default `base`; e.g. a proxy in front of it)
    with that conversation open; `dashboard_options` go to `agent_dashboard` (email, context, prepare,
    viewport, …). Cleans up what `agent_dashboard` does (the agent's context); the chat stays in the
    server's store, which belongs to the server fixture."""

    def open_(base: str, name: str, message: str, *, email: str | None = None, page_url: str | None = None,
              agent_base: str | None = None, **dashboard_options) -> OpenedChat:
        given = {key: value for key, value in (("email", email), ("page_url", page_url)) if value is not None}
        visitor = Visitor(base, name=name, **given)
        first = visitor.send(message)
        desk = agent_dashboard(agent_base or base, conversation=name, **dashboard_options)
        return OpenedChat(visitor, first, desk)

    return open_
