"""The agent dashboard (/) in Chromium, end to end against `callcenter serve` (demo seeded).

The reference's quick start: the agent signs in and sees "Live", a visitor writes, the message
appears without a reload, the agent replies and the visitor gets it. Also: two agents see each
other's actions, search and filters, visitor text rendered as text, token expiry/revocation,
notifications, the phone layout, and a long list that stays virtual.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import (AGENT1, AGENT2, Visitor, VisitorSocket, agent_token, call, collect_errors,
                                         login, messages, open_account_menu, open_conversation, open_notifications, row)
from tests.helpers import run_in_thread

PHONE = {"width": 390, "height": 844}


def data_db(live_server_tmp: Path) -> Path:
    return live_server_tmp / "data" / "callcenter.sqlite3"


def test_quick_start_end_to_end(browser, page, live_server):
    errors = collect_errors(page)
    page.goto(live_server + "/")
    # The sign-in page: no token anywhere yet.
    expect(page.locator("#login-form")).to_be_visible()
    login(page, live_server)
    expect(page.locator("#live")).to_have_text("Live")
    expect(page.locator("#me-name")).to_have_text("Alex Morgan")
    expect(page.locator("#tenant-name")).to_have_text("Demo Store")
    assert "token" not in page.url and "eyJ" not in page.url
    # Demo data: newest activity first, unread counts, previews, assignee, waiting time.
    expect(page.locator(".conv-list .row .row-name")).to_have_text(
        ["Maria Lopez", "James Carter", "Priya Shah", "Anonymous visitor"])
    maria = row(page, "Maria Lopez")
    expect(maria.locator(".unread")).to_have_text("2")
    expect(maria.locator(".row-preview")).to_have_text("Order number is #10482.")
    expect(maria.locator(".row-assignee")).to_have_text("Unassigned")
    expect(maria.locator(".chip.waiting")).to_be_visible()
    expect(row(page, "Priya Shah").locator(".row-assignee")).to_have_text("Sam Rivera")

    # A visitor starts a chat and writes: it appears at the top, live.
    visitor_page = browser.new_page()
    visitor = Visitor(live_server, name="Quinn Quickstart", email="quinn@example.com",
                      page_url="https://shop.example.com/cart?step=2")
    expect(page.locator(".conv-list .row .row-name").first).to_have_text("Quinn Quickstart")
    vsock = VisitorSocket(visitor_page, live_server, visitor)
    visitor.send("Hello! Is anyone there?")
    quinn = row(page, "Quinn Quickstart")
    expect(quinn.locator(".row-preview")).to_have_text("Hello! Is anyone there?")
    expect(quinn.locator(".unread")).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(\d+\) "))

    # The conversation: history, customer context, typing indicator.
    open_conversation(page, "Quinn Quickstart")
    expect(page).not_to_have_title(re.compile(r"^\("))
    expect(messages(page, "Hello! Is anyone there?")).to_have_count(1)
    expect(messages(page, "Hello! Is anyone there?")).to_have_attribute("data-sender", "visitor")
    expect(quinn.locator(".unread")).to_have_count(0)  # read by opening it
    customer = page.locator("#customer")
    expect(customer).to_contain_text("quinn@example.com")
    expect(customer.locator("a.page-url")).to_have_attribute("href", "https://shop.example.com/cart?step=2")
    expect(customer).to_contain_text("Chrome 126 on Windows")  # from the visitor's User-Agent
    expect(customer).to_contain_text("First seen")
    expect(customer).to_contain_text("Previous conversations (0)")
    expect(page.locator("#visitor-presence")).to_have_text("Online now")
    vsock.typing(True)
    expect(page.locator("#typing")).to_have_text("Quinn Quickstart is typing…")
    vsock.typing(False)
    expect(page.locator("#typing")).to_be_hidden()

    # The agent takes it and replies: Enter sends, Shift+Enter is a new line.
    page.click("#act-assign")
    expect(page.locator("#conv-assignee")).to_have_text("Assigned to you")
    expect(messages(page, "Alex Morgan joined the conversation")).to_have_attribute("data-sender", "system")
    box = page.locator("#composer-input")
    box.click()
    box.press_sequentially("Hi Quinn!")
    box.press("Shift+Enter")
    box.press_sequentially("How can I help?")
    expect(messages(page, "How can I help?")).to_have_count(0)
    box.press("Enter")
    reply = "Hi Quinn!\nHow can I help?"
    mine = page.locator("#msg-list .msg.mine")
    expect(mine).to_have_count(1)
    expect(mine.locator(".msg-body")).to_have_text(reply)
    expect(box).to_have_value("")
    # The visitor gets it, live and stored.
    assert vsock.wait_for_message(reply)["sender_type"] == "agent"
    assert visitor.wait_for_message(reply)["sender_name"] == "Alex Morgan"
    # Read receipt: the visitor reads, the agent sees "Seen".
    expect(mine.locator(".msg-receipt")).to_have_text("✓ Sent")
    vsock.read(visitor.messages()[-1]["seq"])
    expect(mine.locator(".msg-receipt")).to_have_text("✓✓ Seen")
    # The visitor answers; it shows once, in order.
    visitor.send("I need to change my address.")
    expect(messages(page, "I need to change my address.")).to_have_count(1)
    seqs = [int(s) for s in page.locator("#msg-list .msg").evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    screenshot(page, "dashboard-desktop-conversation")

    # AI, agent, visitor and system messages are told apart (demo: Priya Shah).
    open_conversation(page, "Priya Shah")
    for sender in ("visitor", "ai", "agent", "system"):
        expect(page.locator(f"#msg-list .msg[data-sender={sender}]").first).to_be_visible()
    expect(page.locator("#msg-list .msg-ai .msg-kind")).to_have_text(["AI"])
    screenshot(page, "dashboard-desktop")
    visitor_page.close()
    assert not errors


def test_two_agents_see_each_others_actions(live_server, agent_dashboard):
    alex_desk, sam_desk = agent_dashboard(live_server, email=AGENT1), agent_dashboard(live_server, email=AGENT2)
    alex, sam = alex_desk.page, sam_desk.page
    # Who is online: each sees the other.
    expect(alex.locator('#team-list [data-agent-id="2"] .dot')).to_have_class(re.compile(r"\bonline\b"))
    expect(sam.locator('#team-list [data-agent-id="1"] .dot')).to_have_class(re.compile(r"\bonline\b"))
    # Admins see everyone's load; agents only their own.
    expect(alex.locator('#team-list [data-agent-id="2"] .load')).to_have_text("1 open")
    expect(sam.locator('#team-list [data-agent-id="1"] .load')).to_have_count(0)
    expect(sam.locator('#team-list [data-agent-id="2"] .load')).to_have_text("1 open")

    open_conversation(alex, "Maria Lopez")
    open_conversation(sam, "Maria Lopez")
    # Sam takes it: Alex sees it in the header and the list.
    sam.click("#act-assign")
    expect(alex.locator("#conv-assignee")).to_have_text("Assigned to Sam Rivera")
    expect(row(alex, "Maria Lopez").locator(".row-assignee")).to_have_text("Sam Rivera")
    expect(messages(alex, "Sam Rivera joined the conversation")).to_have_count(1)
    expect(alex.locator("#act-assign")).to_be_hidden()
    expect(alex.locator('#team-list [data-agent-id="2"] .load')).to_have_text("2 open")
    # Sam types and replies: Alex sees both.
    sam.locator("#composer-input").press_sequentially("Let me check")
    expect(alex.locator("#typing")).to_have_text("Sam Rivera is typing…")
    sam.locator("#composer-input").press_sequentially(" the tracking for you.")
    sam.locator("#composer-input").press("Enter")
    expect(messages(alex, "Let me check the tracking for you.")).to_have_count(1)
    expect(alex.locator("#typing")).to_be_hidden()
    # The admin sees each agent's conversations.
    alex.click('#team-list [data-agent-id="2"]')
    expect(alex.locator("#agent-filter")).to_contain_text("Sam Rivera")
    expect(alex.locator(".conv-list .row .row-name")).to_have_text(["Maria Lopez", "Priya Shah"])
    alex.click("#agent-filter-clear")
    expect(alex.locator(".conv-list .row .row-name")).to_have_count(4)
    # Sam transfers it to Alex with a note; Alex is told and sees it move to him.
    sam.click("#act-transfer")
    expect(sam.locator("#transfer-dialog")).to_be_visible()
    sam.select_option("#transfer-agent", "1")
    sam.fill("#transfer-note", "Escalated: VIP customer")
    sam.click("#transfer-submit")
    expect(sam.locator("#conv-assignee")).to_have_text("Assigned to Alex Morgan")
    expect(alex.locator("#conv-assignee")).to_have_text("Assigned to you")
    expect(alex.locator(".toast")).to_contain_text("Sam Rivera gave you the conversation with Maria Lopez")
    expect(messages(alex, "Escalated: VIP customer")).to_have_attribute("data-sender", "note")
    expect(messages(alex, "Escalated: VIP customer")).to_contain_text("Only your team sees this")
    alex.click('[data-filter="mine"]')
    expect(row(alex, "Maria Lopez")).to_have_count(1)
    alex.click('[data-filter="open"]')
    # Resolve and reopen, each seen by the other.
    alex.click("#act-resolve")
    expect(sam.locator("#conv-status")).to_have_text("Resolved")
    expect(sam.locator("#act-reopen")).to_be_visible()
    expect(sam.locator("#composer-input")).to_be_disabled()
    expect(row(sam, "Maria Lopez")).to_have_count(0)  # "All open" no longer lists it
    sam.click("#act-reopen")
    expect(alex.locator("#conv-status")).to_have_text("Assigned")
    expect(alex.locator("#act-resolve")).to_be_visible()
    expect(row(sam, "Maria Lopez")).to_have_count(1)
    # Sam goes away: Alex sees it.
    open_account_menu(sam)
    sam.select_option("#my-status", "away")
    expect(alex.locator('#team-list [data-agent-id="2"] .dot')).to_have_class(re.compile(r"\baway\b"))
    assert not alex_desk.errors + sam_desk.errors


def test_search_and_filters(page, live_server):
    errors = collect_errors(page)
    zelda = Visitor(live_server, name="Zelda Quartz", email="zq@mail.example")
    zelda.send("My parcel never arrived")
    yusuf = Visitor(live_server, name="Yusuf Orbit", email="yusuf@orbit-corp.example")
    yusuf.send("Please send invoice 7781 again")
    login(page, live_server)
    names = page.locator(".conv-list .row .row-name")

    def shows(*expected):
        expect(names).to_have_text(list(expected))

    shows("Yusuf Orbit", "Zelda Quartz", "Maria Lopez", "James Carter", "Priya Shah", "Anonymous visitor")
    page.click('[data-filter="mine"]')
    shows("James Carter")
    page.click('[data-filter="unassigned"]')
    shows("Yusuf Orbit", "Zelda Quartz", "Maria Lopez", "Anonymous visitor")
    page.click('[data-filter="resolved"]')
    shows("Tom Becker")
    page.click('[data-filter="open"]')
    shows("Yusuf Orbit", "Zelda Quartz", "Maria Lopez", "James Carter", "Priya Shah", "Anonymous visitor")

    search = page.locator("#search")
    search.fill("quartz")          # customer name
    shows("Zelda Quartz")
    search.fill("orbit-corp")      # customer email
    shows("Yusuf Orbit")
    search.fill("parcel")          # message text
    shows("Zelda Quartz")
    search.fill("tracking")        # an older message of Maria's, not the preview
    shows("Maria Lopez")
    search.fill("SPRING20")        # only in a resolved conversation
    expect(names).to_have_count(0)
    expect(page.locator("#list-empty")).to_contain_text("No results for “SPRING20”")
    page.click('[data-filter="resolved"]')
    shows("Tom Becker")
    page.click('[data-filter="all"]')
    shows("Tom Becker")
    search.press("Escape")
    expect(names).to_have_count(7)

    # A returning customer (same email): the earlier conversation is in the customer context.
    Visitor(live_server, name="Maria Lopez", email="maria.lopez@example.com").send("Me again!")
    page.click('[data-filter="open"]')
    expect(names.first).to_have_text("Maria Lopez")
    page.locator(".conv-list .row").first.click()
    expect(messages(page, "Me again!")).to_have_count(1)
    expect(page.locator("#customer")).to_contain_text("Previous conversations (1)")
    page.locator("#customer .prev").click()
    expect(messages(page, "Order number is #10482.")).to_have_count(1)
    expect(page.locator(".conv-list .row.selected .row-preview")).to_have_text("Order number is #10482.")

    # Live updates respect the filter: a new chat shows at the top of Unassigned, live.
    page.click('[data-filter="unassigned"]')
    shows("Maria Lopez", "Yusuf Orbit", "Zelda Quartz", "Maria Lopez", "Anonymous visitor")
    Visitor(live_server, name="Late Larry", email="larry@example.com").send("hi")
    shows("Late Larry", "Maria Lopez", "Yusuf Orbit", "Zelda Quartz", "Maria Lopez", "Anonymous visitor")
    page.click('[data-filter="mine"]')
    shows("James Carter")
    assert not errors


def test_visitor_text_is_rendered_as_text(browser, page, live_server):
    errors = collect_errors(page)
    response = page.goto(live_server + "/")
    csp = response.headers["content-security-policy"]
    script_src = csp.split("script-src")[1].split(";")[0]
    assert script_src.strip() == "'self'"
    tags = re.findall(r"<script\b[^>]*>", response.text())
    # No inline script in the page itself (a type="application/json" block is data, never run).
    assert tags and all(" src=" in tag or 'type="application/json"' in tag for tag in tags)

    login(page, live_server)
    name = '<img src=x onerror="window.__pwned=1">Mallory'
    payload = '<script>window.__pwned=2</script><b>bold</b> & <a href="javascript:window.__pwned=3">x</a>'
    visitor = Visitor(live_server, name=name, email="mallory@example.com", page_url="javascript:window.__pwned=4")
    visitor.send(payload)
    mallory = row(page, name)
    expect(mallory.locator(".row-name")).to_have_text(name)
    mallory.click()
    body = messages(page, "bold").locator(".msg-body")
    expect(body).to_have_text(payload)
    assert page.locator("#msg-list script, #msg-list b, #msg-list img, .conv-list img, #customer img").count() == 0
    assert page.locator("#msg-list a[href^=javascript], #customer a[href^=javascript]").count() == 0
    expect(page.locator("#customer")).to_contain_text("javascript:window.__pwned=4")  # shown, not linked
    expect(page.locator("#conv-name")).to_have_text(name)
    assert page.evaluate("window.__pwned") is None
    assert not errors


def test_logout_expired_and_revoked_tokens(page, live_server):
    errors = collect_errors(page)
    login(page, live_server)
    stored = page.evaluate("sessionStorage.getItem('cc.dashboard.token')")
    assert stored and stored.count(".") == 2
    assert page.evaluate("localStorage.getItem('cc.dashboard.token')") is None
    # Log out: back to the sign-in page, the tenant remembered, the token gone.
    open_account_menu(page)
    page.click("#logout-btn")
    expect(page.locator("#login-message")).to_have_text("You have signed out.")
    expect(page.locator("#login-tenant")).to_have_value("demo-tenant")
    assert page.evaluate("sessionStorage.getItem('cc.dashboard.token')") is None

    # An expired (or forged) token: a message on the sign-in page, not a broken page.
    page.evaluate("sessionStorage.setItem('cc.dashboard.token', 'eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.x')")
    page.reload()
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#login-message")).to_contain_text("expired")
    expect(page.locator("#app")).to_be_hidden()

    # Remember me: the token survives a new tab. A password change elsewhere revokes every older
    # token: the server closes both tabs' sockets (4010) and each goes back to sign-in, no click needed.
    login(page, live_server, remember=True)
    assert page.evaluate("localStorage.getItem('cc.dashboard.token')")
    second = page.context.new_page()
    second.goto(live_server + "/")
    expect(second.locator("#live")).to_have_attribute("data-state", "live")
    token = agent_token(live_server, AGENT1)
    call(live_server, "POST", "/auth/password", {"current_password": "Password123!",
                                                  "new_password": "Another-Pass-42"}, token)
    for tab in (page, second):
        expect(tab.locator("#login-view")).to_be_visible()
        expect(tab.locator("#login-message")).to_contain_text("revoked")
    second.close()
    assert page.evaluate("localStorage.getItem('cc.dashboard.token')") is None
    # The old password no longer works; the new one does.
    page.fill("#login-password", "Password123!")
    page.click("#login-submit")
    expect(page.locator("#login-message")).to_have_text("Wrong email, password or tenant.")
    login(page, live_server, password="Another-Pass-42")
    assert not errors


def test_notifications_title_badge_and_sound(browser, live_server, agent_dashboard):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["notifications"], origin=live_server)
    # Record what the page asks the browser to show.
    context.add_init_script("""
        window.__notes = [];
        const Real = window.Notification;
        class Recorder { constructor(title, opts) { window.__notes.push({title, body: (opts || {}).body}); }
                         close() {} }
        Recorder.permission = "granted";
        Recorder.requestPermission = async () => "granted";
        window.Notification = Recorder;
    """)
    desk = agent_dashboard(live_server, context=context)
    page, errors = desk.page, desk.errors
    expect(page.locator("#notify-btn")).to_have_attribute("data-permission", "granted")
    open_notifications(page)
    page.click("#sound-btn")
    expect(page.locator("#sound-btn")).to_have_attribute("aria-pressed", "true")
    open_conversation(page, "James Carter")

    # A new conversation: notification + title badge.
    visitor = Visitor(live_server, name="Nora Notify", email="nora@example.com")
    # Predicates as functions: the dashboard's CSP (no 'unsafe-eval') refuses a string expression.
    page.wait_for_function("() => window.__notes.some(n => n.title === 'New conversation')")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    # Once it is mine, each visitor message in it notifies too (I am looking at another chat).
    token = agent_token(live_server)
    call(live_server, "POST", f"/chat/sessions/{visitor.session_id}/assign", {}, token)
    visitor.send("Where is my refund?")
    page.wait_for_function(
        "() => window.__notes.some(n => n.title === 'Nora Notify' && n.body === 'Where is my refund?')")
    expect(page).to_have_title(re.compile(r"^\(2\) "))
    # Opening it clears its count.
    open_conversation(page, "Nora Notify")
    expect(page).to_have_title("Callcenter · Agent dashboard")
    # A message in a conversation that is not mine raises nothing.
    before = page.evaluate("window.__notes.length")
    other = Visitor(live_server, name="Otto Other", email="otto@example.com")
    page.wait_for_function("n => window.__notes.length === n + 1", arg=before)  # "New conversation" only
    other.send("just browsing")
    expect(row(page, "Otto Other").locator(".row-preview")).to_have_text("just browsing")
    assert page.evaluate("window.__notes.length") == before + 1
    assert not errors


def test_phone_layout(live_server, agent_dashboard):
    desk = agent_dashboard(live_server, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page, errors = desk.page, desk.errors
    expect(page.locator(".list-pane")).to_be_visible()
    expect(page.locator(".conv-pane")).to_be_hidden()
    screenshot(page, "dashboard-phone-list")
    row(page, "James Carter").click()
    expect(page.locator(".conv-pane")).to_be_visible()
    expect(page.locator(".list-pane")).to_be_hidden()
    expect(page.locator("#conv-name")).to_have_text("James Carter")
    page.locator("#composer-input").fill("Sent from my phone")
    page.click("#composer-send")
    expect(page.locator("#msg-list .msg.mine .msg-body").last).to_have_text("Sent from my phone")
    # Nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "dashboard-phone-conversation")
    page.click("#act-info")
    expect(page.locator("#customer")).to_be_visible()
    expect(page.locator("#customer")).to_contain_text("james.carter@example.com")
    screenshot(page, "dashboard-phone-customer")
    page.click("#ctx-close")
    page.click("#back-btn")
    expect(page.locator(".list-pane")).to_be_visible()
    assert not errors


def test_phone_list_does_not_read_the_conversation_behind_it(live_server, open_chat):
    """On a phone the list covers the open conversation: what arrives there meanwhile stays unread
    (the visitor sees no false "Read") until the agent goes back to it."""
    token = agent_token(live_server)
    chat = open_chat(live_server, "Lena List", "first question", email="lena@example.com", viewport=PHONE,
                     is_mobile=True, has_touch=True, device_scale_factor=2)
    visitor, first, page, errors = chat.visitor, chat.first, chat.page, chat.errors

    def agent_read_seq() -> int:
        return call(live_server, "GET", f"/chat/sessions/{visitor.session_id}", token=token)["session"]["agent_read_seq"]

    deadline = time.monotonic() + 10
    while agent_read_seq() < first["seq"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent_read_seq() == first["seq"]
    page.click("#back-btn")
    expect(page.locator(".list-pane")).to_be_visible()
    later = visitor.send("are you still there?")
    # The row shows it as unread, and the server was told nothing.
    expect(row(page, "Lena List")).to_contain_text("are you still there?")
    expect(row(page, "Lena List").locator(".unread")).to_have_text("1")
    # Nothing to wait for when nothing should happen: a quiet window well past the read mark's
    # 150 ms debounce (as the socket tests' `quiet()`), then the server must still have the old mark.
    page.wait_for_timeout(600)
    assert agent_read_seq() == first["seq"]
    # Back in the conversation, it is read.
    row(page, "Lena List").click()
    expect(page.locator(".conv-pane")).to_be_visible()
    deadline = time.monotonic() + 10
    while agent_read_seq() < later["seq"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent_read_seq() == later["seq"]
    assert not errors


def _seed_sessions(db_path: Path, count: int) -> None:
    """Many conversations straight into the store (the server reads them like any other)."""
    from callcenter.store import Store, now_ms, sessions, visitors

    async def run():
        store = Store(f"sqlite+aiosqlite:///{db_path}")
        try:
            now = now_ms()
            await store.insert_rows(visitors, [{"tenant_id": "demo-tenant", "name": f"Bulk {i}", "email": "",
                                                "created_at_ms": now, "last_seen_at_ms": now} for i in range(count)])
            first_id = await store.count(visitors) - count + 1
            await store.insert_rows(sessions, [{
                "id": f"{i:032x}", "tenant_id": "demo-tenant", "visitor_id": first_id + i, "channel": "web",
                "status": "open", "assigned_agent_id": None, "customer_name": f"Bulk customer {i:05d}",
                "customer_email": "", "page_url": "", "user_agent": "", "created_at_ms": now - 86_400_000,
                "updated_at_ms": now - 86_400_000 - i * 1000, "resolved_at_ms": None, "last_seq": 0,
                "last_message_preview": f"bulk message {i}", "last_message_sender": "visitor",
                "waiting_since_ms": None, "agent_unread": 0, "agent_read_seq": 0, "visitor_read_seq": 0,
            } for i in range(count)])
        finally:
            await store.close()

    run_in_thread(run())


def _seed_long_conversation(db_path: Path, count: int) -> None:
    from callcenter.store import Store, messages, now_ms, sessions, visitors

    async def run():
        store = Store(f"sqlite+aiosqlite:///{db_path}")
        try:
            now = now_ms()
            await store.insert_rows(visitors, [{"tenant_id": "demo-tenant", "name": "Long Talker", "email": "",
                                                "created_at_ms": now, "last_seen_at_ms": now}])
            sid = "ab" * 16
            start = now - 2 * 86_400_000
            await store.insert_rows(sessions, [{
                "id": sid, "tenant_id": "demo-tenant", "visitor_id": await store.count(visitors), "channel": "web",
                "status": "open", "assigned_agent_id": None, "customer_name": "Long Talker", "customer_email": "",
                "page_url": "", "user_agent": "", "created_at_ms": start, "updated_at_ms": start + count * 1000,
                "resolved_at_ms": None, "last_seq": count, "last_message_preview": f"line {count}",
                "last_message_sender": "visitor", "waiting_since_ms": None, "agent_unread": 0,
                "agent_read_seq": count, "visitor_read_seq": count}])
            await store.insert_rows(messages, [{
                "tenant_id": "demo-tenant", "session_id": sid, "seq": i, "sender_type": "visitor", "sender_id": 0,
                "sender_name": "Long Talker", "body": f"line {i}", "client_msg_id": None,
                "created_at_ms": start + i * 1000} for i in range(1, count + 1)])
        finally:
            await store.close()

    run_in_thread(run())


def test_long_conversation_loads_older_messages_on_scroll(page, live_server, tmp_path):
    _seed_long_conversation(data_db(tmp_path), 130)
    errors = collect_errors(page)
    login(page, live_server)
    page.click('[data-filter="unassigned"]')
    open_conversation(page, "Long Talker")
    shown = page.locator("#msg-list .msg")
    expect(shown).to_have_count(50)  # the newest page
    expect(shown.last).to_have_text(re.compile("line 130"))
    expect(page.locator("#older")).to_have_text("Load earlier messages")
    scroller = page.locator("#messages")
    for expected in (100, 130):
        scroller.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        expect(shown).to_have_count(expected)
    expect(page.locator("#older")).to_have_text("Beginning of the conversation")
    seqs = [int(s) for s in shown.evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(1, 131))
    # Reading older pages keeps the place: the message that was on top is still in view.
    assert scroller.evaluate("el => el.scrollTop") > 0
    assert not errors


def test_long_list_pages_and_stays_virtual(page, live_server, tmp_path):
    _seed_sessions(data_db(tmp_path), 600)
    errors = collect_errors(page)
    login(page, live_server)
    lst = page.locator("#conv-list")
    expect(page.locator("#list-count")).to_have_text("50+")
    # Scroll to the end again and again: pages load; the DOM keeps only the rows in view.
    deadline = time.monotonic() + 20
    while page.locator("#list-count").text_content() != "604" and time.monotonic() < deadline:
        lst.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_timeout(50)
    expect(page.locator("#list-count")).to_have_text("604")
    assert page.locator("#conv-list .row").count() < 40
    expect(page.locator(".conv-list .row .row-name").last).to_have_text("Bulk customer 00599")
    expect(page.locator(".vlist-footer")).to_have_text("End of list")
    # A new message still lands on top.
    lst.evaluate("el => { el.scrollTop = 0; }")
    Visitor(live_server, name="Fresh Face", email="fresh@example.com").send("new here")
    expect(page.locator(".conv-list .row .row-name").first).to_have_text("Fresh Face")
    assert not errors
