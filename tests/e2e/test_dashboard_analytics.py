"""The dashboard's Analytics view (/ → header "Analytics") in Chromium against `callcenter serve`.

Conversations are made through the REST API first (visitors write, the agent answers, assigns and
resolves); the view's cards, per-day and per-hour charts and per-agent table must say what
GET /api/v1/analytics says for the same days (the agent's own: the browser's time zone). Also: the
range presets and custom dates, the server's message for a bad range, the empty state, loading and
error states, agent names as text, the customers' ratings and conversations per label, and a phone-sized
screen without sideways scrolling.
"""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import urllib.parse
import zoneinfo

from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import (DEMO_TENANT, PASSWORD, HttpError, Visitor, agent_token, call,
                                         collect_errors, login, messages, open_account_menu, row)
from tests.harness import embedded_env

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TOTALS = ["conversations", "resolved", "unanswered", "answered_by_ai_first", "handed_off", "resolved_in_range"]
DURATIONS = ["first_response_secs", "first_agent_response_secs", "resolution_secs"]


# ---- helpers --------------------------------------------------------------------------------------

def analytics(base: str, token: str, **params) -> dict:
    """GET /api/v1/analytics with these query parameters (None left out)."""
    qs = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return call(base, "GET", "/analytics" + ("?" + qs if qs else ""), token=token)


def make_conversations(base: str, token: str) -> dict[str, Visitor]:
    """Three new chats: one answered by the agent and resolved, one taken and answered, one waiting."""
    answered = Visitor(base, name="Ana Answered", email="ana@example.com")
    answered.send("Where is my order?")
    call(base, "POST", "/chat/messages", {"session_id": answered.session_id, "message": "On its way!"}, token)
    call(base, "POST", f"/chat/sessions/{answered.session_id}/resolve", {}, token)

    taken = Visitor(base, name="Theo Taken", email="theo@example.com")
    taken.send("Can I change the size?")
    call(base, "POST", f"/chat/sessions/{taken.session_id}/assign", {}, token)
    call(base, "POST", "/chat/messages", {"session_id": taken.session_id, "message": "Sure, which one?"}, token)

    waiting = Visitor(base, name="Wes Waiting", email="wes@example.com")
    waiting.send("Hello?")
    return {"answered": answered, "taken": taken, "waiting": waiting}


def open_analytics(page) -> None:
    page.click("#analytics-btn")
    expect(page.locator("#analytics")).to_be_visible()
    expect(page.locator("#analytics-btn")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".list-pane")).to_be_hidden()
    settled(page)


def settled(page, state: str = "ready") -> None:
    """Wait until the view shows the answer of its latest request."""
    expect(page.locator("#analytics")).to_have_attribute("data-state", state)


def shown_range(page) -> tuple[str, str]:
    return page.locator("#an-from").input_value(), page.locator("#an-to").input_value()


def page_offset(page) -> int:
    return int(page.evaluate("-new Date().getTimezoneOffset()"))  # -0 in UTC


def fmt_secs(page, value) -> str:
    """The view's own duration format (checked on its own in test_duration_format)."""
    return page.evaluate("""async (v) => {
        // The source modules (the page runs the built bundle); their texts from the page's language catalogue.
        await (await import('/static/dashboard/i18n.js')).loadCatalogue();
        return (await import('/static/dashboard/analytics.js')).fmtSecs(v);
    }""", value)


def create_agent(live_server_tmp, email: str, name: str) -> None:
    """`callcenter create-agent` on the running server's data dir (the embedded SQLite file)."""
    env = embedded_env(live_server_tmp / "data")
    done = subprocess.run([sys.executable, "-m", "callcenter.cli", "create-agent", "--tenant", DEMO_TENANT,
                           "--email", email, "--name", name], input=PASSWORD + "\n", env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def just_after_midnight(now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
    """A fixed-offset zone where it is 23:xx now, and the first minute of its next day there. A browser
    in that zone with its clock set to that minute is where an agent is just after midnight: every
    conversation so far was yesterday, and "today" has none yet. The clock is at most about an hour
    ahead of the server's, so the agent's token is still valid there."""
    now = now or dt.datetime.now(dt.timezone.utc)
    hours = (23 - now.hour) % 24
    if hours > 14:  # the zones run from UTC-12 to UTC+14
        hours -= 24
    zone = "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"  # POSIX signs: Etc/GMT-5 is UTC+5
    local = now.astimezone(zoneinfo.ZoneInfo(zone))
    assert local.hour == 23, (zone, local)
    return zone, (local + dt.timedelta(days=1)).replace(hour=0, minute=1, second=0, microsecond=0)


def no_page_overflow(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("document.querySelector('#analytics').scrollWidth") <= width


# ---- tests ----------------------------------------------------------------------------------------

def test_duration_format(page, live_server):
    page.goto(live_server + "/")
    expect(page.locator("#login-form")).to_be_visible()
    cases = {None: "—", 0: "0 s", 0.8: "0.8 s", 4: "4 s", 9.96: "10 s", 42: "42 s", 42.4: "42 s", 59.6: "1 min",
             60: "1 min", 185: "3 min 5 s", 3600: "1 h", 3720: "1 h 2 min", 86400: "1 d", 97200: "1 d 3 h"}
    for value, text in cases.items():
        assert fmt_secs(page, value) == text, value


def test_totals_charts_and_agents_match_the_api(live_server, agent_dashboard):
    token = agent_token(live_server)
    make_conversations(live_server, token)
    asked = []

    def record_analytics_requests(page) -> None:
        page.on("request", lambda request: "/api/v1/analytics" in request.url and asked.append(request.url))

    # A half-hour zone east of UTC: the agent's days and hours are not UTC's.
    desk = agent_dashboard(live_server, viewport=DESKTOP, timezone_id="Asia/Kolkata",
                           prepare=record_analytics_requests)
    page, errors = desk.page, desk.errors
    open_analytics(page)
    assert page_offset(page) == 330
    expect(page.locator('[data-preset="7"]')).to_have_attribute("aria-pressed", "true")
    first, last = shown_range(page)
    today = page.evaluate("[new Date().getFullYear(), new Date().getMonth() + 1, new Date().getDate()]")
    assert last == "%04d-%02d-%02d" % tuple(today)  # the browser's own today
    # The view asks for its days in the browser's zone (a range across a daylight-saving change keeps
    # local midnights: see test_analytics.py), with today's offset beside it.
    sent = urllib.parse.parse_qs(urllib.parse.urlsplit(asked[-1]).query)
    zone = sent["tz"][0]
    assert zone in ("Asia/Kolkata", "Asia/Calcutta")  # Chromium's ICU names it by the older alias
    assert (sent["utc_offset_minutes"], sent["from"], sent["to"]) == (["330"], [first], [last])
    api = analytics(live_server, token, **{"from": first, "to": last, "tz": zone})
    assert api["range"]["days"] == 7 and api["totals"]["conversations"] >= 3
    assert api["range"]["tz"] == zone
    # The server's default range is the same week.
    assert analytics(live_server, token, tz=zone)["range"] == api["range"]
    expect(page.locator("#an-range-label")).to_have_attribute("data-from", first)
    expect(page.locator("#an-range-label")).to_contain_text("7 days")

    for key in TOTALS:
        expect(page.locator(f'#an-totals [data-metric="{key}"] .an-card-value')).to_have_text(
            f"{api['totals'][key]:,}")
    for key in DURATIONS:
        card = page.locator(f'#an-durations [data-metric="{key}"]')
        stats = api[key]
        expect(card.locator('[data-stat="p50"]')).to_have_text(fmt_secs(page, stats["p50"]))
        expect(card.locator('[data-stat="p90"]')).to_have_text(fmt_secs(page, stats["p90"]))
        expect(card.locator('[data-stat="mean"]')).to_have_text(fmt_secs(page, stats["mean"]))
        expect(card.locator('[data-stat="count"]')).to_contain_text(str(stats["count"]))
    assert api["first_agent_response_secs"]["count"] >= 2 and api["resolution_secs"]["count"] >= 1
    expect(page.locator('[data-metric="first_agent_response_secs"] [data-stat="p50"]')).not_to_have_text("—")

    # Per day: one bar group per day, in order, each with its numbers in words.
    days = page.locator("#an-days .an-group")
    expect(days).to_have_count(7)
    assert days.evaluate_all("els => els.map(e => e.dataset.key)") == [d["date"] for d in api["by_day"]]
    for i, day in enumerate(api["by_day"]):
        label = days.nth(i).get_attribute("aria-label")
        assert f": {day['started']} started, {day['resolved']} resolved" in label
        assert days.nth(i).get_attribute("title") == label
        assert days.nth(i).locator(".an-bar.started").get_attribute("data-value") == str(day["started"])
    assert api["by_day"][-1]["started"] >= 3
    # Per hour: 24 bars, with the server's counts.
    hours = page.locator("#an-hours .an-group")
    expect(hours).to_have_count(24)
    assert hours.evaluate_all("els => els.map(e => Number(e.querySelector('.an-bar').dataset.value))") \
        == api["by_hour"]
    hour = page.evaluate("new Date().getHours()")
    assert api["by_hour"][hour] >= 3
    expect(hours.nth(hour)).to_have_attribute("aria-label", re.compile(rf"^{hour:02d}:00–{hour:02d}:59: "
                                                                         rf"{api['by_hour'][hour]} conversations"))
    # The same numbers as a table.
    page.locator("#an-days details summary").click()
    expect(page.locator("#an-days details tbody tr")).to_have_count(7)
    expect(page.locator("#an-days details tbody tr").last.locator("td").first).to_have_text(
        str(api["by_day"][-1]["started"]))

    # Per agent.
    rows = page.locator("#an-agents tbody tr")
    expect(rows).to_have_count(len(api["agents"]))
    for i, agent in enumerate(api["agents"]):
        expect(rows.nth(i).locator(".agent-name")).to_have_text(agent["name"])
        expect(rows.nth(i).locator('[data-col="conversations"]')).to_have_text(str(agent["conversations"]))
        expect(rows.nth(i).locator('[data-col="resolved"]')).to_have_text(str(agent["resolved"]))
    me = page.locator('#an-agents tbody tr[data-agent-id="1"]')
    expect(me).to_contain_text("Alex Morgan (you)")
    screenshot(page, "dashboard-analytics-desktop")

    # Refresh shows what changed since.
    Visitor(live_server, name="Rita Refresh").send("one more")
    page.click("#an-refresh")
    expect(page.locator('#an-totals [data-metric="conversations"] .an-card-value')).to_have_text(
        str(api["totals"]["conversations"] + 1))

    # Back to the conversations, and the header button toggles the view.
    page.click("#analytics-back")
    expect(page.locator("#analytics")).to_be_hidden()
    expect(page.locator(".list-pane")).to_be_visible()
    expect(page.locator("#analytics-btn")).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".conv-list .row .row-name").first).to_have_text("Rita Refresh")
    page.click("#analytics-btn")
    settled(page)
    page.click("#analytics-btn")
    expect(page.locator(".list-pane")).to_be_visible()
    assert not errors


def test_satisfaction_and_labels_match_the_api(live_server, agent_dashboard):
    """The customers' ratings (average, share satisfied, count per score), conversations per label and each
    agent's rating say what the API says; with none yet, each panel says so. Label names are text."""
    token = agent_token(live_server)
    chats = make_conversations(live_server, token)
    desk = agent_dashboard(live_server, viewport=DESKTOP)
    page, errors = desk.page, desk.errors
    open_analytics(page)
    expect(page.locator("#an-csat")).to_have_text(re.compile(r"^No ratings in this range"))
    expect(page.locator("#an-labels")).to_have_text("No conversation started in this range has a label.")
    expect(page.locator('#an-agents [data-col="rating"]').first).to_have_text("—")

    hostile = '<img src=x onerror="window.__pwned=1">'
    for name, color in (("VIP", "#facc15"), (hostile, "#ef4444"), ("Unused", "#3b82f6")):
        call(live_server, "POST", "/labels", {"name": name, "color": color}, token)
    call(live_server, "PUT", f"/chat/sessions/{chats['answered'].session_id}/labels", {"labels": ["VIP", hostile]},
         token)
    call(live_server, "PUT", f"/chat/sessions/{chats['taken'].session_id}/labels", {"labels": ["VIP"]}, token)
    call(live_server, "POST", f"/chat/sessions/{chats['taken'].session_id}/resolve", {}, token)
    call(live_server, "POST", f"/chat/public/session/{chats['answered'].session_id}/rating", {"score": 5},
         chats["answered"].token)
    call(live_server, "POST", f"/chat/public/session/{chats['taken'].session_id}/rating",
         {"score": 2, "comment": "Slow"}, chats["taken"].token)

    page.click("#an-refresh")
    settled(page)
    first, last = shown_range(page)
    api = analytics(live_server, token, **{"from": first, "to": last, "tz": page.evaluate(
        "Intl.DateTimeFormat().resolvedOptions().timeZone")})
    ratings = api["ratings"]
    assert (ratings["count"], ratings["average"], ratings["distribution"]) == (
        2, 3.5, {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1})
    csat = page.locator("#an-csat")
    expect(csat.locator('[data-stat="average"]')).to_have_text("3.5 / 5")
    expect(csat.locator('[data-stat="satisfied"]')).to_have_text("50%")
    expect(csat.locator('[data-stat="count"]')).to_have_text("2")
    bars = csat.locator(".an-hbar-row")
    assert bars.evaluate_all("els => els.map(e => [e.dataset.key, Number(e.dataset.value)])") == [
        [str(score), ratings["distribution"][str(score)]] for score in (5, 4, 3, 2, 1)]
    expect(bars.nth(0).locator(".an-hbar-n")).to_have_text("1 · 50%")
    expect(bars.nth(4).locator(".an-hbar-n")).to_have_text("0 · 0%")
    expect(bars.nth(4).locator(".sr-only")).to_have_text(" star:")  # read as "1 star: 0 · 0%"

    # Per label: the used ones, most first, against the conversations started.
    per_label = {row["name"]: row["conversations"] for row in api["labels"] if row["conversations"]}
    assert per_label == {"VIP": 2, hostile: 1}
    rows = page.locator("#an-labels .an-hbar-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".label-chip")).to_have_text("VIP")
    expect(rows.nth(0).locator(".an-hbar-n")).to_have_text(f"2 · {round(200 / api['totals']['conversations'])}%")
    expect(rows.nth(1).locator(".label-chip")).to_have_text(hostile)
    # In the label's colour (labels made since the page loaded are fetched, and the bars drawn again).
    expect(rows.nth(0).locator(".label-chip")).to_have_css("background-color", "rgb(250, 204, 21)")

    # Per day: today's ratings in the day's words and in its table.
    today = page.locator("#an-days .an-group").last
    expect(today).to_have_attribute("aria-label", re.compile(r", 2 ratings averaging 3\.5$"))
    page.locator("#an-days details summary").click()
    expect(page.locator("#an-days details tbody tr").last.locator("td")).to_have_text(
        [str(api["by_day"][-1]["started"]), str(api["by_day"][-1]["resolved"]), "2", "3.5"])
    assert api["by_day"][-1]["ratings"] == {"count": 2, "average": 3.5}

    # Per agent: the average of the ratings of their conversations, and how many (the one answered without
    # an assignment counts for nobody).
    me = next(a for a in api["agents"] if a["agent_id"] == 1)
    assert me["ratings"] == {"count": 1, "average": 2.0}
    expect(page.locator('#an-agents tr[data-agent-id="1"] [data-col="rating"]')).to_have_text("2.0 (1)")
    expect(page.locator("#analytics img")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "dashboard-analytics-ratings")
    assert not errors


def test_presets_custom_dates_errors_and_empty_range(live_server, agent_dashboard):
    # The agent's browser is just after its midnight (the demo's conversations, minutes old, were all
    # yesterday there): "today" is empty, whatever the time of day the test runs at.
    zone, now = just_after_midnight()
    today, yesterday = now.date().isoformat(), (now.date() - dt.timedelta(days=1)).isoformat()
    desk = agent_dashboard(live_server, viewport=DESKTOP, timezone_id=zone,
                           prepare=lambda page: page.clock.install(time=now))  # and the time goes on from there
    _presets_custom_dates_errors_and_empty_range(desk.page, desk.errors, live_server, today, yesterday)


def _presets_custom_dates_errors_and_empty_range(page, errors: list[str], live_server, today: str, yesterday: str):
    token = agent_token(live_server)
    open_analytics(page)
    days = page.locator("#an-days .an-group")
    expect(days).to_have_count(7)
    assert shown_range(page)[1] == today

    for preset, count in (("30", 30), ("90", 90), ("today", 1), ("7", 7)):
        page.click(f'[data-preset="{preset}"]')
        expect(page.locator(f'[data-preset="{preset}"]')).to_have_attribute("aria-pressed", "true")
        first, last = shown_range(page)
        api = analytics(live_server, token, **{"from": first, "to": last, "utc_offset_minutes": page_offset(page)})
        assert api["range"]["days"] == count and last == today
        if preset == "today":
            # Nothing yet today: the empty state, and none of the 90 days shown before stays in the page.
            assert api["totals"]["conversations"] == api["totals"]["resolved_in_range"] == 0
            settled(page, "empty")
            expect(page.locator("#an-empty")).to_be_visible()
            expect(page.locator("#an-body")).to_be_hidden()
            expect(page.locator("#an-range-label")).to_have_attribute("data-from", today)
            expect(days).to_have_count(0)
            expect(page.locator("#an-body .an-card, #an-body .an-group, #an-body tr")).to_have_count(0)
            continue
        expect(days).to_have_count(count)
        settled(page)
        expect(page.locator('#an-totals [data-metric="conversations"] .an-card-value')).to_have_text(
            str(api["totals"]["conversations"]))
    expect(page.locator("[data-preset][aria-pressed=true]")).to_have_count(1)
    # Yesterday had the conversations (the view's last day of the week's chart, too).
    assert analytics(live_server, token, **{"from": yesterday, "to": yesterday, "utc_offset_minutes":
                                            page_offset(page)})["totals"]["conversations"] >= 3
    expect(days.nth(5)).to_have_attribute("data-key", yesterday)
    assert int(days.nth(5).locator(".an-bar.started").get_attribute("data-value")) >= 3

    # From after To: the server's own message, and no stale numbers under it.
    try:
        analytics(live_server, token, **{"from": "2026-03-10", "to": "2026-03-01"})
        raise AssertionError("a reversed range was accepted")
    except HttpError as exc:
        assert exc.status == 400 and exc.body["error"]["code"] == "invalid_query"
        message = exc.body["error"]["message"]
    page.fill("#an-from", "2026-03-10")
    page.fill("#an-to", "2026-03-01")
    settled(page, "error")
    expect(page.locator("#an-error-text")).to_have_text(message)
    expect(page.locator("#an-error")).to_have_attribute("role", "alert")
    expect(page.locator("#an-body")).to_be_hidden()
    expect(page.locator("[data-preset][aria-pressed=true]")).to_have_count(0)

    # Too long a range: also the server's message.
    page.fill("#an-from", "2026-01-01")
    page.fill("#an-to", "2026-06-30")
    settled(page, "error")
    expect(page.locator("#an-error-text")).to_have_text(re.compile("at most 92 days"))

    # A week long before any conversation: the empty state.
    page.fill("#an-to", "2026-01-07")
    settled(page, "empty")
    expect(page.locator("#an-empty")).to_have_text("No conversations in this range")
    expect(page.locator("#an-error")).to_be_hidden()
    expect(page.locator("#an-body")).to_be_hidden()
    expect(page.locator("#an-range-label")).to_have_attribute("data-from", "2026-01-01")
    expect(page.locator("#an-range-label")).to_have_attribute("data-to", "2026-01-07")
    assert analytics(live_server, token, **{"from": "2026-01-01", "to": "2026-01-07"})["totals"]["conversations"] == 0

    # The custom range and the view are kept across a reload (this tab only).
    page.reload()
    expect(page.locator("#analytics")).to_be_visible()
    settled(page, "empty")
    assert shown_range(page) == ("2026-01-01", "2026-01-07")
    page.click('[data-preset="7"]')
    settled(page)
    expect(days).to_have_count(7)
    # Signing out forgets the view: the next sign-in starts in the conversations.
    open_account_menu(page)
    page.click("#logout-btn")
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#analytics")).to_be_hidden()
    login(page, live_server)
    expect(page.locator("#analytics")).to_be_hidden()
    expect(page.locator(".list-pane")).to_be_visible()
    assert not errors


def test_loading_and_server_error_states(page, live_server):
    errors = collect_errors(page)
    login(page, live_server)
    held = []
    page.route("**/api/v1/analytics?*", lambda route: held.append(route))
    with page.expect_request("**/api/v1/analytics?*"):
        page.click("#analytics-btn")
    # Held by the route: the view says it is loading (the route's message arrives with the request's).
    settled(page, "loading")
    expect(page.locator("#an-status")).to_have_text("Loading…")
    expect(page.locator("#analytics")).to_have_attribute("aria-busy", "true")
    assert len(held) == 1
    held.pop().continue_()
    settled(page)
    expect(page.locator("#analytics")).not_to_have_attribute("aria-busy", "true")
    page.unroute("**/api/v1/analytics?*")

    # The server is unavailable: its message, and Try again recovers.
    page.route("**/api/v1/analytics?*", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body='{"error": {"code": "unavailable", "message": "The database is not reachable <b>now</b>."}}'))
    page.click("#an-refresh")
    settled(page, "error")
    expect(page.locator("#an-error-text")).to_have_text("The database is not reachable <b>now</b>.")
    expect(page.locator("#an-error b")).to_have_count(0)
    page.unroute("**/api/v1/analytics?*")
    page.click("#an-retry")
    settled(page)
    expect(page.locator("#an-error")).to_be_hidden()
    expect(page.locator("#an-body")).to_be_visible()
    assert not errors


def test_open_conversation_is_not_read_behind_the_analytics(live_server, agent_dashboard):
    """The Analytics view covers the open conversation: a visitor message there counts as unseen
    (title badge, unread count, no read mark) until the agent goes back to it."""
    token = agent_token(live_server)
    visitor = Visitor(live_server, name="Olga Open")
    visitor.send("first")
    call(live_server, "POST", f"/chat/sessions/{visitor.session_id}/assign", {}, token)
    desk = agent_dashboard(live_server, conversation="Olga Open")
    page, errors = desk.page, desk.errors
    expect(page.locator("#conv-assignee")).to_have_text("Assigned to you")
    expect(row(page, "Olga Open").locator(".unread")).to_have_count(0)  # read by opening it
    open_analytics(page)
    visitor.send("are you there?")
    expect(messages(page, "are you there?")).to_have_count(1)  # arrives in the hidden conversation
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    expect(row(page, "Olga Open").locator(".unread")).to_have_text("1")
    session = call(live_server, "GET", f"/chat/sessions/{visitor.session_id}", token=token)["session"]
    assert session["agent_read_seq"] < session["last_seq"]
    # Back to the conversations: it is read now.
    page.click("#analytics-back")
    expect(page).to_have_title("Callcenter · Agent dashboard")
    expect(row(page, "Olga Open").locator(".unread")).to_have_count(0)
    assert not errors


def test_agent_names_are_text(live_server, tmp_path, agent_dashboard):
    name = '<img src=x onerror="window.__pwned=1"><b>Eve</b> & "Co"'
    create_agent(tmp_path, "eve@callcenter.com", name)
    token = agent_token(live_server)
    eve_id = next(a["id"] for a in call(live_server, "GET", "/agents", token=token)["agents"]
                  if a["email"] == "eve@callcenter.com")
    visitor = Visitor(live_server, name="<i>Ivy</i>")
    visitor.send("hi")
    call(live_server, "POST", f"/chat/sessions/{visitor.session_id}/assign", {"agent_id": eve_id}, token)
    eve = call(live_server, "POST", "/auth/login", {"email": "eve@callcenter.com", "password": PASSWORD,
                                                    "tenant_id": DEMO_TENANT})["token"]
    call(live_server, "POST", "/chat/messages", {"session_id": visitor.session_id, "message": "Hello Ivy"}, eve)
    call(live_server, "POST", f"/chat/sessions/{visitor.session_id}/resolve", {}, eve)

    desk = agent_dashboard(live_server, viewport=DESKTOP)
    page, errors = desk.page, desk.errors
    open_analytics(page)
    row = page.locator(f'#an-agents tbody tr[data-agent-id="{eve_id}"]')
    expect(row.locator(".agent-name")).to_have_text(name)
    expect(row.locator('[data-col="conversations"]')).to_have_text("1")
    expect(row.locator('[data-col="resolved"]')).to_have_text("1")
    expect(row.locator('[data-col="p50"]')).not_to_have_text("—")
    expect(page.locator("#analytics img, #analytics b")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
    # Eve herself sees her own row marked.
    open_account_menu(page)
    page.click("#logout-btn")
    login(page, live_server, email="eve@callcenter.com")
    expect(page.locator("#analytics")).to_be_hidden()
    open_analytics(page)
    expect(page.locator(f'#an-agents tbody tr[data-agent-id="{eve_id}"]')).to_contain_text(name + " (you)")
    assert page.evaluate("window.__pwned") is None
    assert not errors


def test_phone_layout(live_server, agent_dashboard):
    make_conversations(live_server, agent_token(live_server))
    desk = agent_dashboard(live_server, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page, errors = desk.page, desk.errors
    open_analytics(page)
    no_page_overflow(page, PHONE["width"])
    # The header still fits with its Analytics button: nothing overlaps the logo.
    logo = page.locator(".topbar .logo").bounding_box()
    assert logo["x"] >= 0 and logo["x"] + logo["width"] <= page.locator("#live").bounding_box()["x"]
    # Cards stack within the screen; the duration cards one above the other.
    for box in page.locator(".an-card").evaluate_all("els => els.map(e => e.getBoundingClientRect().toJSON())"):
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    durations = page.locator("#an-durations .an-card").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().top)")
    assert durations == sorted(durations) and len(set(durations)) == 3
    screenshot(page, "dashboard-analytics-phone")
    # 90 days: the chart scrolls inside its box, the page does not.
    page.click('[data-preset="90"]')
    expect(page.locator("#an-days .an-group")).to_have_count(90)
    settled(page)
    no_page_overflow(page, PHONE["width"])
    scroller = page.locator("#an-days .an-scroll")
    assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")
    assert scroller.evaluate("e => e.scrollLeft + e.clientWidth >= e.scrollWidth - 1")  # the latest days first
    assert scroller.evaluate("e => e.getBoundingClientRect().right") <= PHONE["width"]
    assert page.locator("#an-agents .an-table-wrap").evaluate("e => e.getBoundingClientRect().right") \
        <= PHONE["width"]
    screenshot(page, "dashboard-analytics-phone-90")
    # Back to the list.
    page.click("#analytics-back")
    expect(page.locator(".list-pane")).to_be_visible()
    expect(page.locator("#analytics")).to_be_hidden()
    no_page_overflow(page, PHONE["width"])
    # The Team button (narrow screens) leaves the analytics for the team panel.
    page.click("#analytics-btn")
    settled(page)
    open_account_menu(page)
    page.click("#team-btn")
    expect(page.locator("#team")).to_be_visible()
    expect(page.locator("#analytics")).to_be_hidden()
    assert not errors
