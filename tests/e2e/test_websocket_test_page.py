"""/websocket-test.html in Chromium: sign in as the demo agent, connect, Live, RTT, frames, send."""
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot


def test_websocket_test_page(page, live_server):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/websocket-test.html")
    expect(page.locator("#live")).to_have_text("Offline")
    page.click("text=Log in as agent")
    expect(page.locator("#log")).to_contain_text("signed in as agent1@callcenter.com")
    page.click("#connect")
    expect(page.locator("#live")).to_have_text("Live")
    expect(page.locator("#log")).to_contain_text('"type":"auth.ok"')
    page.click("#ping")
    expect(page.locator("#rtt")).to_have_text(__import__("re").compile(r"RTT \d+\.\d ms"))
    page.fill("#raw", "not json")
    page.click("#send-raw")
    expect(page.locator("#log")).to_contain_text('"code":"invalid_json"')
    screenshot(page, "websocket-test")
    page.click("#disconnect")
    expect(page.locator("#live")).to_have_text("Offline")
    assert not errors
