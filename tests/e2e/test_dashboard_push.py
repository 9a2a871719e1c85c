"""Push notifications in the dashboard (Chromium), end to end against `callcenter serve`.

- The header control: what this Chromium really does when asked for a push subscription (a
  Playwright context is off the record: it refuses with "Registration failed - permission
  denied"), the push service being unreachable, notifications blocked, no Push API (an iPhone
  outside the Home Screen). Each state says why, also on a phone-wide header.
- The service worker /sw.js for real: pushes delivered with the DevTools protocol
  (ServiceWorker.deliverPushMessage, what a push service hands the browser) become
  notifications while no dashboard is on screen (title, body, tag, same-origin URL; garbage
  gives a generic one; a foreign URL is never kept), or go to the dashboard when one is.
- /?session=<id> opens that conversation after sign-in (a notification's URL).
- With the fake push service (tests/fake_push.py): "turn on" stores this browser's subscription
  on the server, "Send test notification" reaches the push service encrypted for it, and what it
  decrypts, handed to the service worker, is the notification shown; "turn off" and signing out
  forget the device.
"""
from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import (DEMO_TENANT, Visitor, agent_token, call, collect_errors, open_account_menu,
                                         show_push)

# Messages the service worker sends to dashboard pages, recorded for the test (before any script runs).
RECORD_WORKER_MESSAGES = """
    window.__swMessages = [];
    if (navigator.serviceWorker) {
      navigator.serviceWorker.addEventListener("message", (ev) => window.__swMessages.push(ev.data));
    }
"""

NOTIFICATIONS_JS = """async (tag) => {
    const reg = await navigator.serviceWorker.getRegistration("/");
    const list = reg ? await reg.getNotifications(tag ? {tag} : {}) : [];
    return list.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data, icon: n.icon,
                             badge: n.badge, renotify: n.renotify}));
}"""

PHONE = {"width": 360, "height": 740}


def push_payload(session_id: str | None, kind: str = "message", title: str = "Vera Visitor",
                 body: str = "Is my order on its way?", **extra) -> str:
    """A push as the server sends it (the decrypted JSON the service worker gets)."""
    doc = {"v": 1, "type": kind, "tenant_id": DEMO_TENANT, "session_id": session_id, "title": title, "body": body,
           "tag": f"cc-{session_id or kind}", "url": f"/?session={session_id}" if session_id else "/",
           "sent_at_ms": int(time.time() * 1000)}
    doc.update(extra)
    return json.dumps(doc)


def push_context(browser, base: str, *, viewport=None, grant: bool = True, init_scripts=(), **options):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, **options)
    if grant:
        context.grant_permissions(["notifications"], origin=base)
    context.add_init_script(RECORD_WORKER_MESSAGES)
    for script in init_scripts:
        context.add_init_script(script)
    return context


class DevToolsPush:
    """Pushes handed to the service worker through the DevTools protocol, as a push service would
    have the browser do; the CDP session lives on `page` (keep that page open)."""

    def __init__(self, page, origin: str):
        self.page = page
        self.origin = origin
        self.registrations: dict[str, dict] = {}
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.on("ServiceWorker.workerRegistrationUpdated", self._updated)
        self.cdp.send("ServiceWorker.enable")

    def _updated(self, event: dict) -> None:
        for reg in event["registrations"]:
            self.registrations[reg["registrationId"]] = reg

    def registration_id(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for rid, reg in self.registrations.items():
                if reg["scopeURL"] == self.origin + "/" and not reg["isDeleted"]:
                    return rid
            if time.monotonic() > deadline:
                raise AssertionError(f"no service worker registration for {self.origin}/: {self.registrations}")
            self.page.wait_for_timeout(50)  # lets Playwright dispatch the CDP events

    def deliver(self, data: str) -> None:
        self.cdp.send("ServiceWorker.deliverPushMessage",
                      {"origin": self.origin, "registrationId": self.registration_id(), "data": data})


def notifications(page, tag: str | None = None) -> list[dict]:
    return page.evaluate(NOTIFICATIONS_JS, tag)


def wait_for_notification(page, tag: str, body: str | None = None, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = [n for n in notifications(page, tag) if body is None or n["body"] == body]
        if found:
            assert len(found) == 1, found
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no notification tagged {tag!r}; shown: {notifications(page)}")
        page.wait_for_timeout(50)


def push_and_wait(push: "DevToolsPush", page, data: str, tag: str, body: str | None = None) -> dict:
    """Deliver a push and return the notification it shows. Headless Chromium sometimes loses a
    notification shown for a DevTools-delivered push (showNotification resolves, yet it is never
    listed; about 1 in 30, also with a three-line worker), so a lost one is delivered again."""
    for _attempt in range(3):
        push.deliver(data)
        try:
            return wait_for_notification(page, tag, body, timeout=5)
        except AssertionError:
            continue
    raise AssertionError(f"no notification tagged {tag!r} after 3 deliveries; shown: {notifications(page)}")


def close_all(page) -> None:
    """Close the notifications shown, and wait until they are gone (a close still on its way would
    close a new notification with the same tag)."""
    page.evaluate("async () => (await (await navigator.serviceWorker.getRegistration('/')).getNotifications())"
                  ".forEach((n) => n.close())")
    deadline = time.monotonic() + 10
    while notifications(page):
        assert time.monotonic() < deadline, notifications(page)
        page.wait_for_timeout(50)


def wait_for_worker_message(page, kind: str, timeout_ms: int = 10000) -> dict:
    handle = page.wait_for_function("(kind) => (window.__swMessages || []).find((m) => m && m.type === kind)",
                                    arg=kind, timeout=timeout_ms)
    return handle.json_value()


def wait_for_worker(page) -> str:
    """The dashboard registers /sw.js after sign-in: its script URL once it is active."""
    return page.evaluate("async () => (await navigator.serviceWorker.ready).active.scriptURL")


def devices(base: str, token: str) -> list[dict]:
    return call(base, "GET", "/push/subscriptions", token=token)["subscriptions"]


def header_fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    box = page.locator("#alerts-btn").bounding_box()
    assert box and box["x"] + box["width"] <= width, box


# ---- the header control --------------------------------------------------------------------------------------


def signed_in_push_button(agent_dashboard, base: str, context):
    """A new page of `context` signed in as the demo admin (the `agent_dashboard` fixture, which closes
    the context after the test): (page, its console errors, the push button, which shows push off)."""
    desk = agent_dashboard(base, context=context)
    btn = desk.page.locator("#push-btn")
    expect(btn).to_have_attribute("data-state", "off")
    return desk.page, desk.errors, btn


def test_turning_push_on_in_this_chromium_shows_why_it_fails(browser, live_server, agent_dashboard):
    """Off the record (every Playwright context) Chromium refuses a push subscription: the control
    says so (and why) instead of spinning, and nothing is stored on the server."""
    page, errors, btn = signed_in_push_button(agent_dashboard, live_server, push_context(browser, live_server))
    # A switch row in the notifications panel: its name, then its state ("Off"), like Sound and Desktop alerts.
    expect(btn.locator(".toggle-state")).to_have_text("Off")
    expect(btn).to_contain_text("Push notifications")
    expect(btn).to_have_attribute("aria-expanded", "false")
    # Registered at sign-in already (notification clicks find it), before push is on.
    assert wait_for_worker(page) == live_server + "/sw.js"
    screenshot(page, "dashboard-push-header-1280")

    show_push(page).click()
    expect(btn).to_have_attribute("data-state", "error")
    expect(btn.locator(".toggle-state")).to_have_text("Failed")
    expect(page.locator(".toast.error")).to_contain_text("refused to create a push subscription")
    expect(page.locator(".toast.error")).to_contain_text("Registration failed - permission denied")
    expect(btn).to_have_attribute("title", "This browser refused to create a push subscription. Private or "
                                  "incognito windows cannot get push notifications, and some privacy settings "
                                  "turn them off. (Registration failed - permission denied)")
    # A click explains it on any screen (a phone has no tooltips), with a way to try again.
    show_push(page).click()
    menu = page.locator("#push-menu")
    expect(menu).to_be_visible()
    expect(btn).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#push-menu-text")).to_contain_text("Private or incognito windows")
    expect(page.locator("#push-retry")).to_be_visible()
    expect(page.locator("#push-test")).to_be_hidden()
    expect(page.locator("#push-off")).to_be_hidden()
    screenshot(page, "dashboard-push-error-menu-1280")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    # Try again: the same answer (permission was granted: no prompt), still nothing stored.
    show_push(page).click()
    page.click("#push-retry")
    expect(btn).to_have_attribute("data-state", "error")
    assert devices(live_server, agent_token(live_server)) == []
    assert page.evaluate("Notification.permission") == "granted"
    expect(page.locator("#notify-btn")).to_have_attribute("data-permission", "granted")
    assert not errors


def test_a_normal_profile_waits_for_the_unreachable_push_service_then_says_so(browser, live_server, tmp_path,
                                                                              agent_dashboard):
    """In a normal (persistent) profile this Chromium asks its push service (FCM, out of reach
    here) and subscribe() never settles: the control shows it is subscribing, and after its own
    limit (30 s) says the push service did not answer."""
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS

    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True,
        viewport={"width": 1280, "height": 800})
    context.grant_permissions(["notifications"], origin=live_server)
    context.clock.install()  # the page's timers, flowing as usual until fast-forwarded below
    page, errors, btn = signed_in_push_button(agent_dashboard, live_server, context)
    show_push(page).click()
    expect(btn).to_have_attribute("data-state", "working")
    expect(btn.locator(".toggle-state")).to_have_text("Subscribing…")
    expect(btn).to_be_disabled()
    page.clock.fast_forward("00:31")  # past the control's own 30 s limit
    expect(btn).to_have_attribute("data-state", "error")
    expect(page.locator(".toast.error")).to_contain_text("This browser's push service did not answer")
    assert devices(live_server, agent_token(live_server)) == []
    assert not errors


UNREACHABLE_PUSH_SERVICE = """
    // What Chromium answers when its push service (FCM) cannot be reached.
    PushManager.prototype.subscribe = async function () {
      throw new DOMException("Registration failed - push service error", "AbortError");
    };
"""


def test_push_service_unreachable_on_a_phone(browser, live_server, agent_dashboard):
    context = push_context(browser, live_server, viewport=PHONE, is_mobile=True, has_touch=True,
                           device_scale_factor=2, init_scripts=[UNREACHABLE_PUSH_SERVICE])
    page, errors, btn = signed_in_push_button(agent_dashboard, live_server, context)
    # In the notifications panel (the top bar has only the bell): the bar still fits, the switch reads "Off".
    header_fits(page, PHONE["width"])
    expect(show_push(page).locator(".toggle-state")).to_have_text("Off")
    page.keyboard.press("Escape")
    screenshot(page, "dashboard-push-header-360")

    show_push(page).click()
    expect(btn).to_have_attribute("data-state", "error")
    expect(page.locator(".toast.error")).to_contain_text("push service cannot be reached")
    show_push(page).click()
    menu = page.locator("#push-menu")
    expect(menu).to_be_visible()
    expect(page.locator("#push-menu-text")).to_contain_text(
        "This browser's push service cannot be reached")
    expect(page.locator("#push-menu-text")).to_contain_text("(Registration failed - push service error)")
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    screenshot(page, "dashboard-push-error-menu-360")
    # A tap elsewhere (below the notifications panel, which holds the menu) closes it.
    page.locator(".list-pane").click(position={"x": 50, "y": 600})
    expect(menu).to_be_hidden()
    assert not errors


DENIED = """
    // The agent says "Block" to the permission prompt (the browser remembers it for the site).
    Object.defineProperty(Notification, "permission",
                          {get: () => sessionStorage.getItem("__test.permission") || "default"});
    Notification.requestPermission = async () => {
      sessionStorage.setItem("__test.permission", "denied");
      return "denied";
    };
"""


def test_blocked_notifications_explain_the_site_settings(browser, live_server, agent_dashboard):
    context = push_context(browser, live_server, grant=False, init_scripts=[DENIED])
    page, errors, btn = signed_in_push_button(agent_dashboard, live_server, context)
    show_push(page).click()
    expect(btn).to_have_attribute("data-state", "blocked")
    expect(btn.locator(".toggle-state")).to_have_text("Blocked")
    show_push(page).click()
    expect(page.locator("#push-menu-text")).to_contain_text("Allow them in the browser's site settings")
    expect(page.locator("#push-retry")).to_be_hidden()
    assert devices(live_server, agent_token(live_server)) == []
    # Signed in again later: still blocked, said at once.
    page.reload()
    expect(page.locator("#app")).to_be_visible()
    expect(btn).to_have_attribute("data-state", "blocked")
    assert not errors


def test_no_push_api_on_an_iphone_outside_the_home_screen(browser, live_server, agent_dashboard):
    iphone_ua = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.4 Mobile/15E148 Safari/604.1")
    context = push_context(browser, live_server, viewport=PHONE, is_mobile=True, has_touch=True,
                           user_agent=iphone_ua, init_scripts=["delete window.PushManager;"])
    desk = agent_dashboard(live_server, context=context)
    page, errors = desk.page, desk.errors
    btn = page.locator("#push-btn")
    expect(btn).to_have_attribute("data-state", "unsupported")
    expect(btn).to_have_attribute("title", "On iPhone and iPad, push notifications work once the dashboard is on "
                                  "the Home Screen: tap Share, then “Add to Home Screen”, open it from there and "
                                  "sign in (iOS 16.4 or later).")
    show_push(page).click()
    expect(page.locator("#push-menu-text")).to_contain_text("Add to Home Screen")
    header_fits(page, PHONE["width"])
    # What the Home Screen install reads.
    manifest = page.evaluate("""async () => {
        const link = document.querySelector('link[rel=manifest]');
        const res = await fetch(link.href);
        return {type: res.headers.get('content-type'), body: await res.json()};
    }""")
    assert manifest["type"].startswith("application/manifest+json")
    assert manifest["body"]["start_url"] == "/" and manifest["body"]["display"] == "standalone"
    for icon in manifest["body"]["icons"]:
        status = page.evaluate("async (src) => (await fetch(src)).status", icon["src"])
        assert status == 200, icon
    assert page.evaluate("async () => (await fetch(document.querySelector('link[rel=apple-touch-icon]').href))"
                         ".status") == 200
    assert not errors


# ---- the service worker --------------------------------------------------------------------------------------


def test_service_worker_shows_pushes_while_no_dashboard_is_open(browser, live_server, agent_dashboard):
    visitor = Visitor(live_server, name="Vera Visitor")
    desk = agent_dashboard(live_server, context=push_context(browser, live_server))
    page, context = desk.page, desk.context
    wait_for_worker(page)
    # Another page of the site stays open (to read the notifications and speak DevTools);
    # the dashboard tab is closed.
    other = context.new_page()
    other.goto(live_server + "/websocket-test.html")
    push = DevToolsPush(other, live_server)
    page.close()

    sid = visitor.session_id
    note = push_and_wait(push, other, push_payload(sid, title="Vera Visitor", body="Is my order on its way?"),
                         f"cc-{sid}")
    assert note["title"] == "Vera Visitor"
    assert note["body"] == "Is my order on its way?"
    assert note["data"] == {"url": f"/?session={sid}", "session_id": sid}
    assert note["renotify"] is True
    assert note["icon"] == live_server + "/static/icons/icon-192.png"
    assert note["badge"] == live_server + "/static/icons/badge-96.png"

    # The same conversation again: the notification is replaced (one per conversation).
    push_and_wait(push, other, push_payload(sid, title="Vera Visitor", body="Hello??"), f"cc-{sid}", "Hello??")
    assert len(notifications(other, f"cc-{sid}")) == 1

    # Not JSON, or no data at all: a generic notification rather than an error.
    generic = push_and_wait(push, other, "<b>not json</b>", "cc-activity")
    assert generic["title"] == "New activity in callcenter"
    assert generic["data"] == {"url": "/", "session_id": None}
    close_all(other)  # (the next one has the same tag)
    assert push_and_wait(push, other, "", "cc-activity")["title"] == "New activity in callcenter"

    # A URL that is not this dashboard is never kept; markup stays text; odd fields are dropped.
    for i, bad_url in enumerate(("https://evil.example/phish", "//evil.example/x", "/\\evil.example",
                                 "javascript:alert(1)", "/static/../admin", "/?session=../../x")):
        bad = push_and_wait(push, other, push_payload(f"s-bad{i}", title="<img src=x onerror=alert(1)>", body=None,
                                                      url=bad_url, tag="<script>"), f"cc-s-bad{i}")
        assert bad["title"] == "<img src=x onerror=alert(1)>"
        assert bad["body"] == ""
        assert bad["data"] == {"url": f"/?session=s-bad{i}", "session_id": f"s-bad{i}"}, bad_url
    # A session id that is not one: no conversation to open.
    odd = push_and_wait(push, other, push_payload("x/../y", kind="new_conversation", url="/?session=x%2F..%2Fy",
                                                 tag="cc-odd"), "cc-odd")
    assert odd["data"] == {"url": "/", "session_id": None}


def test_a_dashboard_on_screen_takes_the_push_instead(browser, live_server, agent_dashboard):
    """Signed in and looking: the live socket already alerted, so the worker hands the push to the
    page and shows nothing; a test notification is shown all the same. A click on a notification
    (the worker's cc-open-session message) opens that conversation in this window."""
    visitor = Visitor(live_server, name="Fiona Focus", email="fiona@example.com")
    desk = agent_dashboard(live_server, context=push_context(browser, live_server))
    page, errors, context = desk.page, desk.errors, desk.context
    wait_for_worker(page)
    page.wait_for_function("() => !!navigator.serviceWorker.controller")
    assert page.evaluate("document.visibilityState === 'visible' && document.hasFocus()")
    push = DevToolsPush(page, live_server)
    sid = visitor.session_id

    push.deliver(push_payload(sid, title="Fiona Focus", body="Anyone there?"))
    message = wait_for_worker_message(page, "cc-push")
    assert message["payload"]["session_id"] == sid
    assert message["payload"]["body"] == "Anyone there?"
    # Pushes are handled in order: once the test one is shown, the first was settled (not shown).
    test_note = push_and_wait(push, page, push_payload(None, kind="test", title="Test notification",
                                                       body="Push works", tag="cc-test"), "cc-test")
    assert test_note["title"] == "Test notification"
    assert notifications(page, f"cc-{sid}") == []

    # The worker brings this window forward after a click on a notification: it opens the chat.
    worker = context.service_workers[0]
    assert worker.url == live_server + "/sw.js"
    worker.evaluate("""async (sid) => {
        const [client] = await self.clients.matchAll({type: "window"});
        client.postMessage({type: "cc-open-session", session_id: sid});
    }""", sid)
    expect(page.locator("#conv-name")).to_have_text("Fiona Focus")
    assert errors == []


def test_signed_out_dashboard_on_screen_still_gets_the_notification(browser, live_server, agent_dashboard):
    """The page on screen cannot show it (signed out): the worker shows the notification; after
    sign-in, a click on it (cc-open-session) opens the conversation."""
    visitor = Visitor(live_server, name="Sid Signedout", email="sid@example.com")
    desk = agent_dashboard(live_server, context=push_context(browser, live_server))
    page, context = desk.page, desk.context
    wait_for_worker(page)
    open_account_menu(page)
    page.click("#logout-btn")
    expect(page.locator("#login-form")).to_be_visible()
    push = DevToolsPush(page, live_server)
    sid = visitor.session_id
    assert push_and_wait(push, page, push_payload(sid, title="Sid Signedout", body="Hi"),
                         f"cc-{sid}")["title"] == "Sid Signedout"
    assert wait_for_worker_message(page, "cc-push")["payload"]["session_id"] == sid
    # Clicked while signed out: opened once the agent signs in.
    context.service_workers[0].evaluate("""async (sid) => {
        const [client] = await self.clients.matchAll({type: "window"});
        client.postMessage({type: "cc-open-session", session_id: sid});
    }""", sid)
    page.fill("#login-password", "Password123!")
    page.click("#login-submit")
    expect(page.locator("#conv-name")).to_have_text("Sid Signedout")


def test_worker_opens_only_same_origin_dashboard_urls(browser, live_server, agent_dashboard):
    desk = agent_dashboard(live_server, context=push_context(browser, live_server))
    page, context = desk.page, desk.context
    wait_for_worker(page)
    worker = context.service_workers[0]
    urls = worker.evaluate("""() => [
        dashboardUrl("/?session=abc", "abc"),
        dashboardUrl("/", null),
        dashboardUrl("https://evil.example/?session=abc", "abc"),
        dashboardUrl(self.location.origin + "/?session=abc", "abc"),
        dashboardUrl("//evil.example/", null),
        dashboardUrl("/\\\\evil.example/", null),
        dashboardUrl("/static/x.html", "abc"),
        dashboardUrl("/?session=a%20b", null),
        dashboardUrl(42, "abc"),
    ]""")
    assert urls == ["/?session=abc", "/", "/?session=abc", "/?session=abc", "/", "/", "/?session=abc", "/",
                    "/?session=abc"]


# ---- deep link -----------------------------------------------------------------------------------------------


def test_deep_link_opens_the_conversation_after_sign_in(browser, live_server):
    visitor = Visitor(live_server, name="Dana Deeplink", email="dana@example.com")
    visitor.send("Please call me back")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        errors = collect_errors(page)
        page.goto(f"{live_server}/?session={visitor.session_id}")
        expect(page.locator("#login-form")).to_be_visible()
        page.fill("#login-email", "agent1@callcenter.com")
        page.fill("#login-password", "Password123!")
        page.fill("#login-tenant", DEMO_TENANT)
        page.click("#login-submit")
        expect(page.locator("#conv-name")).to_have_text("Dana Deeplink")
        expect(page.locator("#msg-list .msg .msg-body", has_text="Please call me back")).to_have_count(1)
        page.wait_for_function("() => location.search === ''")
        assert page.url == live_server + "/"
        # Already signed in (the tab keeps its token): straight into it.
        other = Visitor(live_server, name="Otis Other", email="otis@example.com")
        page.goto(f"{live_server}/?session={other.session_id}")
        expect(page.locator("#conv-name")).to_have_text("Otis Other")
        page.wait_for_function("() => location.search === ''")
        # A conversation that does not exist: said, and nothing else breaks.
        page.goto(f"{live_server}/?session=nosuchsession")
        expect(page.locator(".toast.error")).to_have_text("That conversation no longer exists.")
        assert not errors
    finally:
        context.close()


def test_deep_link_on_a_phone_shows_the_conversation_pane(live_server, agent_dashboard):
    visitor = Visitor(live_server, name="Phil Phone", email="phil@example.com")
    page = agent_dashboard(live_server, viewport=PHONE, is_mobile=True, has_touch=True).page
    page.goto(f"{live_server}/?session={visitor.session_id}")
    expect(page.locator("#conv-name")).to_have_text("Phil Phone")
    expect(page.locator(".conv-pane")).to_be_visible()
    expect(page.locator(".list-pane")).to_be_hidden()


# ---- the whole path, with the fake push service --------------------------------------------------------------


def fake_push_manager(subscription: dict) -> str:
    """PushManager as a browser with a reachable push service has it: subscribe() gives the fake
    service's subscription (kept in localStorage across reloads, like the browser's own)."""
    return """
    (() => {
      const SUB = %s;
      const KEY = "__test.pushSubscription";
      window.__pushCalls = [];
      const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
        .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
      const fromB64url = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
      const make = (key) => ({
        endpoint: SUB.endpoint, expirationTime: null,
        options: {userVisibleOnly: true, applicationServerKey: fromB64url(key).buffer},
        toJSON: () => JSON.parse(JSON.stringify(SUB)),
        unsubscribe: async () => { window.__pushCalls.push("unsubscribe"); localStorage.removeItem(KEY); return true; },
      });
      PushManager.prototype.subscribe = async function (options) {
        if (!options || !options.userVisibleOnly) throw new DOMException("userVisibleOnly", "NotAllowedError");
        const key = b64url(options.applicationServerKey);
        window.__pushCalls.push("subscribe:" + key);
        localStorage.setItem(KEY, key);
        return make(key);
      };
      PushManager.prototype.getSubscription = async function () {
        const key = localStorage.getItem(KEY);
        return key ? make(key) : null;
      };
    })();
    """ % json.dumps(subscription)


@pytest.fixture
def fake_push():
    from tests.fake_push import FakePushService

    with FakePushService() as fake:
        yield fake


@pytest.fixture
def push_server(tmp_path, fake_push):
    """`callcenter serve` (embedded default, demo seeded) that sends its pushes to `fake_push`; its base URL."""
    with embedded_server(tmp_path, **fake_push.env()) as (url, _log):
        yield url


def test_full_flow_with_the_fake_push_service(browser, fake_push, push_server, agent_dashboard):
    sub = fake_push.new_subscription()
    base = push_server
    desk = agent_dashboard(base, context=push_context(browser, base, init_scripts=[fake_push_manager(sub)]))
    page, errors = desk.page, desk.errors
    token = agent_token(base)
    key = call(base, "GET", "/push/config", token=token)["vapid_public_key"]
    btn = page.locator("#push-btn")
    expect(btn).to_have_attribute("data-state", "off")

    show_push(page).click()
    expect(btn).to_have_attribute("data-state", "on")
    expect(btn.locator(".toggle-state")).to_have_text("On")
    expect(page.locator(".toast").last).to_have_text("Push notifications are on for this device.")
    assert page.evaluate("window.__pushCalls") == ["subscribe:" + key]
    [device] = devices(base, token)
    assert device["endpoint_host"] == "127.0.0.1"
    assert "HeadlessChrome" in device["user_agent"] or "Chrome" in device["user_agent"]
    screenshot(page, "dashboard-push-on-1280")

    # The menu: the device count, a test notification, off.
    show_push(page).click()
    expect(page.locator("#push-menu-text")).to_contain_text("Push notifications are on for this device")
    expect(page.locator("#push-menu-devices")).to_have_text("1 device of yours gets them.")
    screenshot(page, "dashboard-push-on-menu-1280")
    page.click("#push-test")
    expect(page.locator("#push-menu")).to_be_hidden()
    expect(page.locator(".toast").last).to_have_text("Test notification sent to 1 device.")
    [received] = fake_push.wait_for(1)
    assert received.error is None, received.error
    assert received.endpoint_id == sub["endpoint"].rsplit("/", 1)[1]
    assert received.payload["type"] == "test" and received.payload["tag"] == "cc-test"

    # What the push service received is what the browser would hand the worker: shown.
    push = DevToolsPush(page, base)
    shown = push_and_wait(push, page, json.dumps(received.payload), "cc-test")
    assert shown["title"] == received.payload["title"] and shown["body"] == received.payload["body"]
    assert shown["data"] == {"url": "/", "session_id": None}

    # A reload stores the same subscription again (200: still one device), no new subscribe.
    page.reload()
    expect(btn).to_have_attribute("data-state", "on")
    assert page.evaluate("window.__pushCalls") == []
    assert len(devices(base, token)) == 1

    # Turned off: the server forgets it and the browser drops it.
    show_push(page).click()
    page.click("#push-off")
    expect(btn).to_have_attribute("data-state", "off")
    assert page.evaluate("window.__pushCalls") == ["unsubscribe"]
    assert devices(base, token) == []
    page.evaluate("() => { window.__pushCalls = []; }")

    # On again, then the agent logs out: the device is forgotten with the token it still had.
    show_push(page).click()
    expect(btn).to_have_attribute("data-state", "on")
    assert len(devices(base, token)) == 1
    open_account_menu(page)
    page.click("#logout-btn")
    expect(page.locator("#login-form")).to_be_visible()
    expect(btn).to_be_hidden()
    page.wait_for_function("() => window.__pushCalls.includes('unsubscribe')")
    assert devices(base, token) == []
    assert not errors


def test_a_changed_server_key_subscribes_again(browser, fake_push, push_server, agent_dashboard):
    """The browser's subscription was made with another key (the server's VAPID key changed): at
    sign-in it is dropped and made again with the server's key, and stored."""
    sub = fake_push.new_subscription()
    old_key = "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"
    seed = "localStorage.setItem('__test.pushSubscription', %s);" % json.dumps(old_key)
    base = push_server

    def seed_old_subscription(page) -> None:
        page.goto(base + "/websocket-test.html")
        page.evaluate(f"() => {{ {seed} }}")

    page = agent_dashboard(base, context=push_context(browser, base, init_scripts=[fake_push_manager(sub)]),
                           prepare=seed_old_subscription).page
    token = agent_token(base)
    key = call(base, "GET", "/push/config", token=token)["vapid_public_key"]
    assert key != old_key
    expect(page.locator("#push-btn")).to_have_attribute("data-state", "on")
    assert page.evaluate("window.__pushCalls") == ["unsubscribe", "subscribe:" + key]
    assert len(devices(base, token)) == 1
