"""Routing and availability in the dashboard (issue 26), in Chromium against `callcenter serve` (demo seeded:
agent1 Alex Morgan is the admin, agent2 Sam Rivera an agent; Maria Lopez and an anonymous visitor wait
unassigned, James Carter is Alex's, Priya Shah Sam's; the queue keeps a conversation's first wait).

Settings → Routing (admins): automatic routing, the queue alert, business hours (time zone, hours per weekday,
a holiday, an away message) saved and read back from GET /tenant; a client-side check and a server refusal
shown next to their field; "Currently open/closed" as GET /routing says. Settings → Profile: an agent sets
their own capacity (out-of-range values refused inline); Settings → Team: an admin sets an agent's. Agents
have no Routing page. In auto mode the team panel shows loads against capacity ("2 / 50") following a new
conversation auto-assigned live; with no agent room the queue chip counts the queue, turns to a warning once
its oldest waits past the threshold (one toast per crossing, not one per repaint) and settles when room
appears. The Routing page on a phone: no sideways scrolling.
"""
from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import AGENT2, Visitor, agent_token, call

PHONE = {"width": 390, "height": 844}
TIMEOUT = 15_000
ALEX = 1
SAM = 2


def _routing_page(page) -> None:
    page.goto(page.url.split("?")[0] + "?settings=routing")
    expect(page.locator("#settings")).to_have_attribute("data-state", "ready", timeout=TIMEOUT)
    expect(page.locator("#rt-form")).to_be_visible()


def _no_sideways_scroll(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.getElementById('settings').scrollWidth,"
                           " window.innerWidth]")
    assert widths[0] <= widths[2] and widths[1] <= widths[2], widths


def _contrast(page, selector: str) -> float:
    """The WCAG contrast ratio of an element's text colour on its background colour (both opaque rgb)."""
    return page.evaluate("""(sel) => {
        const s = getComputedStyle(document.querySelector(sel));
        const rgb = (c) => c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
        const lum = ([r, g, b]) => {
          const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
          return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const [a, b] = [lum(rgb(s.color)), lum(rgb(s.backgroundColor))];
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }""", selector)


def _team_load(page, agent_id: int):
    return page.locator(f'#team-list [data-agent-id="{agent_id}"] .load')


def test_admin_sets_auto_routing_and_business_hours(live_server, agent_dashboard):
    base = live_server
    token = agent_token(base)
    desk = agent_dashboard(base)
    page = desk.page
    # Manual mode (the default): no queue chip; the Unassigned filter is the queue.
    expect(page.locator("#queue-chip")).to_be_hidden()
    _routing_page(page)
    expect(page.locator("#rt-mode-manual")).to_be_checked()
    expect(page.locator("#rt-open")).to_have_text(re.compile(r"^Currently open"))

    page.locator("#rt-mode-auto").check()
    page.locator("#rt-alert").fill("0.5")
    page.locator("#rt-bh-enabled").check()
    page.locator("#rt-timezone").select_option("Europe/Madrid")
    # Monday 09:00–17:00 (the button's default period), and 18:00 to midnight.
    page.locator("#rt-add-mon").click()
    monday = page.locator("#rt-day-mon-list .rt-interval")
    expect(monday).to_have_count(1)
    expect(monday.nth(0).locator(".rt-from")).to_have_value("09:00")
    expect(monday.nth(0).locator(".rt-to")).to_have_value("17:00")
    page.locator("#rt-add-mon").click()
    monday.nth(1).locator(".rt-from").fill("18:00")
    monday.nth(1).locator(".rt-to").fill("00:00")
    # Tuesday: a period ending before it starts is refused here, next to the day.
    page.locator("#rt-add-tue").click()
    tuesday = page.locator("#rt-day-tue-list .rt-interval")
    tuesday.nth(0).locator(".rt-from").fill("13:00")
    tuesday.nth(0).locator(".rt-to").fill("12:00")
    # Up to four periods a day: the add button goes at four.
    for _ in range(4):
        page.locator("#rt-add-wed").click()
    expect(page.locator("#rt-day-wed-list .rt-interval")).to_have_count(4)
    expect(page.locator("#rt-add-wed")).to_be_hidden()
    for _ in range(4):
        page.locator("#rt-day-wed-list .rt-remove").first.click()
    expect(page.locator("#rt-day-wed-list .rt-interval")).to_have_count(0)
    page.locator("#rt-holiday-add").click()
    page.locator("#rt-holidays .rt-holiday").nth(0).fill("2030-12-25")
    page.locator("#rt-away-en").fill("We are closed <b>now</b>: leave your e-mail.")
    page.locator("#rt-save").click()
    expect(page.locator("#rt-day-tue-error")).to_contain_text("must end after it starts")
    expect(page.locator("#rt-status")).to_have_text("Not saved")
    assert call(base, "GET", "/tenant", token=token)["settings"]["routing"] == "manual"
    tuesday.nth(0).locator(".rt-to").fill("17:30")
    expect(page.locator("#rt-day-tue-error")).to_have_text("")

    # The server's refusal goes next to its field (a time zone it does not know, answered here by a stub).
    def refuse(route):
        route.fulfill(status=400, content_type="application/json",
                      body='{"error": {"code": "invalid_timezone", "message": "Unknown time zone: Europe/Madrid"}}')
    page.route("**/api/v1/tenant", lambda route: refuse(route) if route.request.method == "PATCH" else route.fallback())
    page.locator("#rt-save").click()
    expect(page.locator("#rt-timezone-error")).to_have_text("Unknown time zone: Europe/Madrid")
    expect(page.locator("#rt-error")).to_contain_text("time zone")
    expect(page.locator("#rt-timezone")).to_be_focused()
    page.unroute("**/api/v1/tenant")

    page.locator("#rt-save").click()
    expect(page.locator("#rt-status")).to_have_text("Saved", timeout=TIMEOUT)
    expect(page.locator("#rt-timezone-error")).to_have_text("")
    settings = call(base, "GET", "/tenant", token=token)["settings"]
    assert settings["routing"] == "auto"
    assert settings["queue_alert_secs"] == 30
    hours = settings["business_hours"]
    assert hours["enabled"] is True
    assert hours["timezone"] == "Europe/Madrid"
    assert hours["weekly"]["mon"] == [["09:00", "17:00"], ["18:00", "24:00"]]
    assert hours["weekly"]["tue"] == [["13:00", "17:30"]]
    assert hours["weekly"]["wed"] == [] and hours["weekly"]["sun"] == []
    assert hours["holidays"] == ["2030-12-25"]
    assert hours["away_messages"]["en"] == "We are closed <b>now</b>: leave your e-mail."
    assert hours["away_messages"]["es"] == ""

    # "Currently open / closed" is what the server says now; auto mode shows the queue chip.
    is_open = call(base, "GET", "/routing", token=token)["open"]
    expect(page.locator("#rt-open")).to_have_attribute("data-open", "true" if is_open else "false")
    expect(page.locator("#rt-open")).to_have_text(re.compile(r"^Currently " + ("open" if is_open else "closed")))
    assert page.locator("#queue-chip").evaluate("el => el.hidden") is False

    # Reloaded: the form shows what was saved (midnight as 00:00), nothing unsaved.
    page.reload()
    expect(page.locator("#rt-form")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#rt-mode-auto")).to_be_checked()
    expect(page.locator("#rt-alert")).to_have_value("0.5")
    expect(page.locator("#rt-bh-enabled")).to_be_checked()
    expect(page.locator("#rt-timezone")).to_have_value("Europe/Madrid")
    expect(monday.nth(1).locator(".rt-to")).to_have_value("00:00")
    expect(page.locator("#rt-holidays .rt-holiday").nth(0)).to_have_value("2030-12-25")
    expect(page.locator("#rt-away-en")).to_have_value("We are closed <b>now</b>: leave your e-mail.")
    assert page.locator("#settings b").count() == 0
    screenshot(page, "dashboard-routing-settings")
    assert not desk.errors


def test_agent_sets_own_capacity_and_admin_sets_anothers(live_server, agent_dashboard):
    base = live_server
    admin_token = agent_token(base)
    sam = agent_dashboard(base, email=AGENT2)
    page = sam.page
    # No Routing page for an agent: not in the navigation, and its address opens the Profile.
    page.goto(base + "/?settings=routing")
    expect(page.locator("#settings-page-title")).to_have_text("Profile", timeout=TIMEOUT)
    expect(page.locator("#settings .st-nav-link", has_text="Routing")).to_have_count(0)

    capacity = page.locator("#pf-capacity")
    expect(capacity).to_have_value("5")
    for bad in ("0", "51"):
        capacity.fill(bad)
        page.locator("#pf-capacity-save").click()
        expect(page.locator("#pf-capacity-error")).to_have_text("Enter a whole number from 1 to 50.")
    capacity.fill("3")
    expect(page.locator("#pf-capacity-error")).to_have_text("")
    page.locator("#pf-capacity-save").click()
    expect(page.locator("#pf-capacity-status")).to_have_text("Saved.")
    sam_token = agent_token(base, AGENT2)
    assert call(base, "GET", "/auth/me", token=sam_token)["agent"]["max_conversations"] == 3
    page.reload()
    expect(page.locator("#pf-capacity")).to_have_value("3", timeout=TIMEOUT)
    # Sam's load: Priya Shah is his.
    expect(page.locator("#pf-capacity-load")).to_have_text("You have 1 open now (1 / 3).")

    # An admin on the Team page: Sam's load against capacity, and his capacity changed.
    alex = agent_dashboard(base)
    admin = alex.page
    admin.goto(base + "/?settings=team")
    expect(admin.locator("#tm-list")).to_be_visible(timeout=TIMEOUT)
    row = admin.locator(f'#tm-list .tm-row[data-agent-id="{SAM}"]')
    expect(row.locator(".tm-load")).to_have_text("1 / 3")
    row.locator(".tm-capacity").fill("60")
    row.locator(".tm-capacity").press("Enter")
    expect(row.locator(".tm-row-error")).to_contain_text("from 1 to 50")
    row.locator(".tm-capacity").fill("7")
    row.locator(".tm-capacity").press("Tab")
    expect(row.locator(".tm-load")).to_have_text("1 / 7", timeout=TIMEOUT)
    expect(row.locator(".tm-row-error")).to_have_count(0)
    agents = call(base, "GET", "/agents", token=admin_token)["agents"]
    assert next(a for a in agents if a["id"] == SAM)["max_conversations"] == 7
    assert not sam.errors and not alex.errors


def test_auto_assignment_shows_the_load_live(live_server, agent_dashboard):
    base = live_server
    token = agent_token(base)
    call(base, "PATCH", f"/agents/{ALEX}", {"max_conversations": 50}, token=token)
    call(base, "PATCH", "/tenant", {"routing": "auto"}, token=token)
    desk = agent_dashboard(base)
    page = desk.page
    # Alex came online: the queue (the demo's two unassigned conversations) is his now.
    expect(page.locator("#queue-chip")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#queue-chip-text")).to_have_text("Queue: 0", timeout=TIMEOUT)
    routing = call(base, "GET", "/routing", token=token)
    assert routing["queue_length"] == 0
    mine = next(a for a in routing["agents"] if a["agent_id"] == ALEX)["open_conversations"]
    expect(_team_load(page, ALEX)).to_have_text(f"{mine} / 50", timeout=TIMEOUT)
    # In auto mode everyone's load shows (Sam's too, offline).
    expect(_team_load(page, SAM)).to_have_text("1 / 5")

    visitor = Visitor(base, name="Nora Newchat", email="nora@example.com")
    visitor.send("Hello, is anyone there?")
    expect(_team_load(page, ALEX)).to_have_text(f"{mine + 1} / 50", timeout=TIMEOUT)
    session = call(base, "GET", f"/chat/sessions/{visitor.session_id}", token=token)
    assert (session.get("session") or session)["assigned_agent_id"] == ALEX
    expect(page.locator("#queue-chip-text")).to_have_text("Queue: 0")
    assert not desk.errors


def test_queue_chip_counts_and_alerts_once_past_the_threshold(live_server, agent_dashboard):
    base = live_server
    token = agent_token(base)
    # The demo's unassigned conversations (hours old) are resolved: the queue starts fresh. No room anywhere:
    # Alex takes one conversation and has James Carter's; Sam is offline.
    waiting = call(base, "GET", "/chat/sessions?status=open&assigned=none", token=token)["sessions"]
    assert len(waiting) == 2
    for session in waiting:
        call(base, "POST", f"/chat/sessions/{session['id']}/resolve", {}, token=token)
    call(base, "PATCH", f"/agents/{ALEX}", {"max_conversations": 1}, token=token)
    call(base, "PATCH", "/tenant", {"routing": "auto", "queue_alert_secs": 30}, token=token)
    now = dt.datetime.now(dt.timezone.utc)
    desk = agent_dashboard(base, prepare=lambda page: page.clock.install(time=now))
    page = desk.page
    chip = page.locator("#queue-chip")
    expect(page.locator("#queue-chip-text")).to_have_text("Queue: 0", timeout=TIMEOUT)
    expect(chip).to_have_attribute("data-state", "empty")
    assert page.locator(".queue-status").get_attribute("role") == "status"
    expect(_team_load(page, ALEX)).to_have_text("1 / 1")
    # Warnings counted as they are shown (they leave by themselves).
    page.evaluate("""() => {
        window.__warnings = 0;
        new MutationObserver((records) => {
          for (const r of records) for (const n of r.addedNodes) if (n.classList && n.classList.contains("warn"))
            window.__warnings++;
        }).observe(document.getElementById("toasts"), {childList: true});
    }""")

    Visitor(base, name="Quinn Queue", email="quinn@example.com").send("Hello?")
    Visitor(base, name="Pat Patient", email="pat@example.com").send("Anyone?")
    expect(page.locator("#queue-chip-text")).to_have_text(re.compile(r"^Queue: 2 · longest \d+ s$"), timeout=TIMEOUT)
    expect(chip).to_have_attribute("data-state", "waiting")
    expect(page.locator("#queue-chip-warn")).to_be_hidden()
    assert page.evaluate("window.__warnings") == 0

    # 45 seconds later (the page's clock; the server's queue times stay): past 30 s at the next tick.
    page.clock.set_system_time(now + dt.timedelta(seconds=45) + (dt.datetime.now(dt.timezone.utc) - now))
    expect(chip).to_have_attribute("data-state", "alert", timeout=20_000)
    expect(page.locator("#queue-chip-warn")).to_have_text("Waiting over 30 s")
    expect(page.locator("#queue-chip-text")).to_have_text(re.compile(r"^Queue: 2 · longest \d+ s$"))
    toast = page.locator(".toast.warn")
    expect(toast).to_have_attribute("role", "alert")
    expect(toast).to_contain_text("in the queue (over 30 s): 2 waiting.")
    assert _contrast(page, "#queue-chip") >= 4.5
    assert _contrast(page, ".toast.warn") >= 4.5
    screenshot(page, "dashboard-queue-alert")

    # Still past it: another conversation joins the queue (a repaint), and no second warning.
    Visitor(base, name="Rita Reload", email="rita@example.com").send("Hi")
    expect(page.locator("#queue-chip-text")).to_have_text(re.compile(r"^Queue: 3 · "), timeout=TIMEOUT)
    expect(chip).to_have_attribute("data-state", "alert")
    assert page.evaluate("window.__warnings") == 1

    # Room appears: the queue is assigned and the chip settles.
    call(base, "PATCH", f"/agents/{ALEX}", {"max_conversations": 10}, token=token)
    expect(page.locator("#queue-chip-text")).to_have_text("Queue: 0", timeout=TIMEOUT)
    expect(chip).to_have_attribute("data-state", "empty")
    expect(page.locator("#queue-chip-warn")).to_be_hidden()
    expect(_team_load(page, ALEX)).to_have_text("4 / 10")
    assert page.evaluate("window.__warnings") == 1
    # The chip shows the queue: the Unassigned filter.
    chip.click()
    expect(page.locator('[data-filter="unassigned"]')).to_have_attribute("aria-pressed", "true")
    assert not desk.errors


def test_routing_page_on_a_phone(live_server, agent_dashboard):
    base = live_server
    desk = agent_dashboard(base, viewport=PHONE, is_mobile=True, has_touch=True)
    page = desk.page
    _routing_page(page)
    page.locator("#rt-add-mon").click()
    page.locator("#rt-add-mon").click()
    page.locator("#rt-add-sat").click()
    page.locator("#rt-holiday-add").click()
    page.locator("#rt-holidays .rt-holiday").nth(0).fill("2030-01-01")
    page.locator("#rt-bh-enabled").check()
    _no_sideways_scroll(page)
    for selector in ("#rt-alert", "#rt-timezone", "#rt-day-mon-list .rt-from >> nth=0", "#rt-away-en"):
        box = page.locator(selector).bounding_box()
        assert box["height"] >= 44, (selector, box)
        assert page.locator(selector).evaluate("el => parseFloat(getComputedStyle(el).fontSize)") >= 16
    screenshot(page, "dashboard-routing-phone")
    # The form saves from a phone too.
    page.locator("#rt-save").click()
    expect(page.locator("#rt-status")).to_have_text("Saved", timeout=TIMEOUT)
    _no_sideways_scroll(page)
    assert not desk.errors
