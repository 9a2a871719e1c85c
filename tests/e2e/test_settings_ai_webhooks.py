"""Settings → AI assistant and Settings → Webhooks in Chromium.

AI: the settings saved and read back after a reload; the 30-day chart's bars are GET /ai/usage's days.
Webhooks: one added from the page to a local receiver (the server runs with
CALLCENTER_WEBHOOK_ALLOW_HOSTS=127.0.0.1), its secret shown once, a visitor's message delivered and listed
under the webhook's deliveries; a private address refused with the server's words next to the field; a
webhook that keeps failing switched off (short give-up time through the delivery knobs) and the admin told
(webhook.disabled) with a way to the page. Screenshots of both pages at 1280x800 and 390x844."""
from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import HttpError, Visitor, agent_token, call

TIMEOUT = 15_000
PHONE = {"width": 390, "height": 844}


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook receiver: /ok answers 204, /fail 500; every POST is kept."""

    def __init__(self):
        self.posts: list[dict] = []
        super().__init__(("127.0.0.1", 0), ReceiverHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait(self, path: str, event: str, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for post in list(self.posts):
                if post["path"] == path and post["event"] == event:
                    return post
            time.sleep(0.1)
        raise AssertionError(f"no {event} POST to {path}; got {[(p['path'], p['event']) for p in self.posts]}")


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append({"path": self.path, "event": self.headers.get("X-Callcenter-Event"),
                                  "signature": self.headers.get("X-Callcenter-Signature"), "body": body})
        self.send_response(204 if self.path == "/ok" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    tmp = tmp_path_factory.mktemp("settings-ai-webhooks")
    try:
        with embedded_server(tmp, CALLCENTER_WEBHOOK_ALLOW_HOSTS="127.0.0.1", CALLCENTER_WEBHOOK_GIVE_UP_SECS="3",
                             CALLCENTER_WEBHOOK_RETRY_BASE_SECS="0.5",
                             CALLCENTER_WEBHOOK_RETRY_MAX_SECS="1") as (base, _log):
            yield {"base": base, "receiver": receiver}
    finally:
        receiver.shutdown()
        receiver.server_close()


def _open(page, base, name, ready):
    page.goto(base + "/?settings=" + name)
    expect(page.locator(ready)).to_be_visible(timeout=TIMEOUT)


def _no_horizontal_overflow(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    wide = page.evaluate("""() => [...document.querySelectorAll('.st-page-body *')]
        .filter(el => el.offsetParent !== null && el.getBoundingClientRect().right > window.innerWidth + 1
                      && !el.closest('.sp-table-wrap'))
        .map(el => el.tagName + '#' + el.id + '.' + el.className).slice(0, 5)""")
    assert wide == []


def test_ai_settings_and_usage_chart(world, agent_dashboard):
    base = world["base"]
    desk = agent_dashboard(base)
    page = desk.page
    _open(page, base, "ai", "#ai-form")
    # No Gemini key on this server: said plainly.
    expect(page.locator("#ai-availability")).to_contain_text("not available on this server")
    page.locator("#ai-mode-suggest").check()
    page.locator("#ai-name").fill("Shop helper")
    page.locator("#ai-instructions").fill("Be brief. <script>alert(1)</script>")
    page.locator("#ai-knowledge").fill("Open Mon-Fri 9-17.")
    page.locator("#ai-cap").fill("50000")
    page.locator("#ai-save").click()
    expect(page.locator("#ai-status")).to_have_text("Saved", timeout=TIMEOUT)
    settings = call(base, "GET", "/ai/settings", token=agent_token(base))["settings"]
    assert settings == {"ai_mode": "suggest", "ai_name": "Shop helper", "ai_daily_token_cap": 50000,
                        "ai_instructions": "Be brief. <script>alert(1)</script>",
                        "ai_knowledge": "Open Mon-Fri 9-17."}
    # A bad cap: said next to the field, nothing sent.
    page.locator("#ai-cap").fill("-5")
    page.locator("#ai-save").click()
    expect(page.locator("#ai-cap-error")).to_contain_text("whole number")
    page.locator("#ai-cap").fill("50000")

    page.reload()
    _open(page, base, "ai", "#ai-form")
    expect(page.locator("#ai-mode-suggest")).to_be_checked()
    expect(page.locator("#ai-name")).to_have_value("Shop helper")
    expect(page.locator("#ai-instructions")).to_have_value("Be brief. <script>alert(1)</script>")
    expect(page.locator("#ai-cap")).to_have_value("50000")
    expect(page.locator("#ai-today-text")).to_contain_text("of 50,000 tokens used today")

    # The chart: a bar per day of /ai/usage, each with its numbers as text.
    usage = call(base, "GET", "/ai/usage?days=30", token=agent_token(base))
    bars = page.locator("#ai-bars li")
    expect(bars).to_have_count(len(usage["days"]), timeout=TIMEOUT)
    shown = bars.evaluate_all("els => els.map(e => [e.dataset.date, Number(e.dataset.tokens), e.getAttribute('aria-label')])")
    assert [(d, t) for d, t, _ in shown] == [(d["date"], d["tokens"]) for d in usage["days"]]
    assert all(label.endswith(f"{t:,} tokens") for _, t, label in shown)
    screenshot(page, "settings-ai-desktop")
    page.set_viewport_size(PHONE)
    page.locator("#ai-name").scroll_into_view_if_needed()
    _no_horizontal_overflow(page)
    assert page.evaluate("getComputedStyle(document.querySelector('#ai-name')).fontSize") == "16px"
    assert page.locator("#ai-save").bounding_box()["height"] >= 44
    screenshot(page, "settings-ai-phone")
    assert not desk.errors


def test_webhooks_add_deliver_refuse_and_switch_off(world, agent_dashboard):
    base, receiver = world["base"], world["receiver"]
    desk = agent_dashboard(base)
    page = desk.page
    _open(page, base, "webhooks", "#wh-form")
    expect(page.locator("#wh-empty")).to_contain_text("No webhooks yet")
    screenshot(page, "settings-webhooks-empty-desktop")

    # A private address: the server's refusal, next to the field.
    token = agent_token(base)
    with pytest.raises(HttpError) as refused:
        call(base, "POST", "/webhooks", {"url": "http://10.1.2.3/hook", "events": ["message.created"]}, token=token)
    page.locator("#wh-url").fill("http://10.1.2.3/hook")
    page.locator("#wh-add").click()
    expect(page.locator("#wh-url-error")).to_have_text(refused.value.body["error"]["message"])
    expect(page.locator("#wh-empty")).to_be_visible()

    # Added to the local receiver: the secret shown once, with Copy.
    page.locator("#wh-url").fill(receiver.url + "/ok")
    page.locator("#wh-add").click()
    secret = page.locator("#wh-secret-value")
    expect(secret).to_be_visible(timeout=TIMEOUT)
    value = secret.input_value()
    assert len(value) >= 16
    expect(page.locator("#wh-secret")).to_contain_text("you won't see it again")
    expect(page.locator("#wh-secret-copy")).to_be_visible()
    card = page.locator(".sp-hook")
    expect(card).to_have_count(1)
    expect(card.locator(".wh-url")).to_have_text(receiver.url + "/ok")
    expect(card.locator(".sp-events li")).to_have_count(5)

    # A visitor's message is delivered, and listed under the webhook's deliveries.
    Visitor(base, name="Hook Visitor").send("Hello webhooks")
    post = receiver.wait("/ok", "message.created")
    assert post["signature"].startswith("sha256=")
    card.locator(".wh-deliveries-btn").click()
    row = card.locator("tr.wh-delivery[data-event='message.created']")
    for _ in range(30):
        if row.count() and row.first.get_attribute("data-state") == "delivered":
            break
        page.wait_for_timeout(300)
        card.locator(".wh-refresh").click()
    expect(row.first).to_have_attribute("data-state", "delivered")
    expect(row.first).to_contain_text("HTTP 204")
    screenshot(page, "settings-webhooks-desktop")

    # After a reload the secret is nowhere on the page.
    page.reload()
    _open(page, base, "webhooks", "#wh-form")
    expect(page.locator(".sp-hook")).to_have_count(1)
    assert value not in page.content()

    # Edit in place: a private address refused (nothing changed), then fewer events saved.
    page.locator(".sp-hook .wh-edit").click()
    form = page.locator(".wh-edit-form")
    hook_id = form.get_attribute("data-id")
    form.locator("input[type=url]").fill("https://169.254.169.254/latest")
    form.locator(".wh-edit-save").click()
    expect(form.locator(".error-text")).to_contain_text("non-public address")
    form.locator("input[type=url]").fill(receiver.url + "/ok")
    for name in ("conversation.assigned", "conversation.resolved", "conversation.rated"):
        form.locator(f"input[value='{name}']").uncheck()
    form.locator(".wh-edit-save").click()
    edited = page.locator(f".sp-hook[data-id='{hook_id}']")
    expect(edited.locator(".sp-events li")).to_have_text(["conversation.created", "message.created"])
    saved = next(w for w in call(base, "GET", "/webhooks", token=token)["webhooks"] if str(w["id"]) == hook_id)
    assert (saved["url"], sorted(saved["events"])) == (receiver.url + "/ok", ["conversation.created",
                                                                               "message.created"])

    # A webhook that keeps failing is switched off, and the admin is told (webhook.disabled), with a way here.
    failing = call(base, "POST", "/webhooks", {"url": receiver.url + "/fail", "events": ["message.created"]},
                   token=token)["webhook"]
    page.locator("#settings-back").click()
    Visitor(base, name="Hook Visitor 2").send("This one fails")
    receiver.wait("/fail", "message.created")
    toast = page.locator(".toast", has_text="was switched off after failing for")
    expect(toast).to_be_visible(timeout=TIMEOUT)
    expect(toast).to_contain_text(receiver.url + "/fail")
    toast.get_by_role("button", name="Webhooks").click()
    expect(page).to_have_url(base + "/?settings=webhooks")
    off = page.locator(f".sp-hook[data-id='{failing['id']}']")
    expect(off.locator(".wh-reason")).to_contain_text("failing for")
    expect(off.locator("input[role=switch]")).not_to_be_checked()

    # Rotate (confirmed): a new secret, shown once; delete (confirmed).
    page.once("dialog", lambda d: d.accept())
    off.locator(".wh-rotate").click()
    expect(page.locator("#wh-secret")).to_contain_text("New signing secret")
    assert page.locator("#wh-secret-value").input_value() != value
    page.locator("#wh-secret-done").click()
    page.once("dialog", lambda d: d.accept())
    off.locator(".wh-delete").click()
    expect(page.locator(".sp-hook")).to_have_count(1)
    assert [w["id"] for w in call(base, "GET", "/webhooks", token=token)["webhooks"]] != [failing["id"]]

    page.set_viewport_size(PHONE)
    _no_horizontal_overflow(page)
    assert page.locator("#wh-add").bounding_box()["height"] >= 44
    assert page.evaluate("getComputedStyle(document.querySelector('#wh-url')).fontSize") == "16px"
    screenshot(page, "settings-webhooks-phone")
    assert not desk.errors
    assert json.loads(post["body"])  # the delivery's body is JSON
