"""The link in an e-mail reopens its conversation in the widget, in Chromium: `callcenter serve` e-mails a
reply to a visitor who left, and the e-mail's "continue the conversation" link (the page the chat started
on, with #cc_resume=<token>) opens the widget on that conversation, the agent's reply in it."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.cluster import embedded_server
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS, DESKTOP, screenshot
from tests.e2e.dashboard_support import AGENT1, Visitor, agent_token, call, collect_errors
from tests.helpers import require_program

from .support import link_in


@pytest.fixture
def browser():
    require_program(CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


def test_the_email_link_reopens_the_conversation_in_the_widget(tmp_path, smtp_sink, browser):
    env = {"CALLCENTER_SMTP_URL": smtp_sink.url, "CALLCENTER_MAIL_FROM": "support@callcenter.test",
           "CALLCENTER_MAIL_OFFLINE_DELAY_SECS": "1", "CALLCENTER_MAIL_BATCH_SECS": "1"}
    address = f"visitor-{uuid.uuid4().hex[:10]}@example.com"
    with embedded_server(tmp_path, **env) as (base, _log):
        visitor = Visitor(base, name="Mia Mailer", email=address, page_url=f"{base}/widget-demo.html")
        visitor.send("Where is my parcel?")
        call(base, "POST", "/chat/messages", {"session_id": visitor.session_id,
                                              "message": "It left the warehouse today."}, agent_token(base, AGENT1))
        deadline = time.monotonic() + 20
        while not smtp_sink.to(address):
            assert time.monotonic() < deadline, "no e-mail arrived"
            time.sleep(0.1)
        link = link_in(smtp_sink.to(address)[0].part("plain"), "#cc_resume=")
        assert link.startswith(f"{base}/widget-demo.html#cc_resume=")

        context = browser.new_context(viewport=DESKTOP)  # a browser that never saw this chat
        try:
            page = context.new_page()
            errors = collect_errors(page)
            page.goto(link)
            page.get_by_text("It left the warehouse today.", exact=True).wait_for(timeout=15_000)
            page.get_by_text("Where is my parcel?", exact=True).wait_for(timeout=5_000)
            screenshot(page, "mail-resume-link")
            assert "cc_resume" not in page.url  # the token left the address bar at once
            # The widget now holds this conversation: what it writes lands in it.
            stored = page.evaluate("localStorage.getItem('callcenter-chat:demo-tenant') || ''")
            assert visitor.session_id in stored
            assert errors == []
        finally:
            context.close()
