"""The agent workspace (issue 24) in the dashboard, in Chromium against `callcenter serve` (demo seeded:
agent1 Alex Morgan is an admin, agent2 Sam Rivera an agent).

Private notes (the Reply / Note switch; never the visitor's, over REST or the socket) and @mentions (the
colleague is alerted); canned responses (the admins' manager, the "/" list, placeholders filled in as text);
labels (created from the header's picker, on rows and in the header live, the list filtered by one); the
visitor's rating on the row, in the header and the customer panel; the conversation drawn as a chat
(groups, day separators, ticks); the list's rows unclipped and its filters on one line; hostile names and
texts shown as text; screenshots at 1280x800 and 390x844.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import (AGENT2, Visitor, VisitorSocket, agent_token, call, messages, open_conversation,
                                         open_account_menu, record_dialogs, row)

PHONE = {"width": 390, "height": 844}
HOSTILE = "<img src=x onerror=alert(1)>"
# Nothing a test puts in the page may become markup there.
INJECTED = "#app img[src='x'], #app img[onerror], #app script, #app [onerror]"


def _contrast(fg: str, bg: str) -> float:
    def lum(rgb: str) -> float:
        parts = [int(x) for x in re.findall(r"\d+", rgb)[:3]]
        out = []
        for c in parts:
            v = c / 255
            out.append(v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4)
        return 0.2126 * out[0] + 0.7152 * out[1] + 0.0722 * out[2]

    a, b = lum(fg), lum(bg)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def _chip_contrasts(page, selector: str) -> list[float]:
    pairs = page.locator(selector).evaluate_all(
        "els => els.map(e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor])")
    return [_contrast(fg, bg) for fg, bg in pairs]


def test_private_note_and_mention(live_server, open_chat, agent_dashboard, browser):
    """A note is the team's: yellow, "Note" and its author; the visitor's REST history and socket never
    get it. @ in Note mode lists the colleagues; the one named is alerted (toast, title)."""
    base = live_server
    sam = agent_dashboard(base, email=AGENT2)
    chat = open_chat(base, "Nora Note", "My parcel is late")
    page = chat.page
    dialogs = record_dialogs(page)
    vpage = browser.new_context().new_page()
    vsock = VisitorSocket(vpage, base, chat.visitor)

    # Reply / Note: a segmented control (radio buttons), keyboard operable.
    reply_radio = page.locator('input[name="compose-mode"][value="reply"]')
    note_radio = page.locator('input[name="compose-mode"][value="note"]')
    expect(reply_radio).to_be_checked()
    expect(page.locator("#composer-mode-hint")).to_be_hidden()
    reply_radio.focus()
    page.keyboard.press("ArrowRight")
    expect(note_radio).to_be_checked()
    expect(page.locator("#composer")).to_have_class(re.compile(r"\bnote-mode\b"))
    expect(page.locator("#composer-mode-hint")).to_have_text("Only your team sees this")
    expect(page.locator("#composer-send")).to_have_text("Add note")

    # @ lists the tenant's agents (not me), filtered as typed; Enter inserts "@Full Name ".
    box = page.locator("#composer-input")
    box.click()
    box.press_sequentially("Checking the carrier, @")
    popup = page.locator("#composer-popup")
    expect(popup).to_be_visible()
    expect(popup.locator(".pop-item .pop-title")).to_have_text(["Sam Rivera"])
    box.press_sequentially("sa")
    expect(popup.locator(".pop-item.active .pop-title")).to_have_text("Sam Rivera")
    box.press_sequentially("x")
    expect(popup).to_be_hidden()  # nobody is called "Sax…"
    box.press("Backspace")
    expect(popup).to_be_visible()
    box.press("Escape")  # closed for this "@"; typing on keeps it closed, a new "@" opens it again
    expect(popup).to_be_hidden()
    box.press_sequentially("m")
    expect(popup).to_be_hidden()
    for _ in "@sam":
        box.press("Backspace")
    box.press_sequentially("@sa")
    expect(popup).to_be_visible()
    box.press("Enter")
    expect(popup).to_be_hidden()
    expect(box).to_have_value("Checking the carrier, @Sam Rivera ")
    box.press_sequentially("please call them " + HOSTILE)
    box.press("Enter")
    note_text = "Checking the carrier, @Sam Rivera please call them " + HOSTILE

    note = page.locator("#msg-list .msg[data-sender=note]").last
    expect(note.locator(".msg-body")).to_have_text(note_text)
    expect(note.locator(".msg-kind")).to_have_text("Note")
    expect(note.locator(".msg-who")).to_have_text("You")
    expect(note.locator(".mention")).to_have_text("@Sam Rivera")
    expect(box).to_have_value("")
    assert page.locator(INJECTED).count() == 0

    # Sam: a toast names who and where; the tab title counts it (Sam is not looking at it).
    expect(sam.page.locator(".toast", has_text="mentioned you")).to_have_text(
        re.compile(r"Alex Morgan mentioned you in the conversation with Nora Note"))
    expect(sam.page).to_have_title(re.compile(r"^\(\d+\) "))
    open_conversation(sam.page, "Nora Note")
    sam_note = sam.page.locator("#msg-list .msg[data-sender=note]").last
    expect(sam_note.locator(".msg-who")).to_have_text("Alex Morgan")
    expect(sam_note.locator(".msg-body")).to_have_text(note_text)

    # Back to Reply: the visitor gets the reply, and never the note (REST history, socket).
    reply_radio.check()
    expect(page.locator("#composer")).not_to_have_class(re.compile(r"\bnote-mode\b"))
    box.fill("We are on it, Nora.")
    box.press("Enter")
    vsock.wait_for_message("We are on it, Nora.")
    assert vsock.count(note_text) == 0
    bodies = [m["body"] for m in chat.visitor.messages()]
    assert "We are on it, Nora." in bodies and note_text not in bodies
    assert all(m["sender_type"] != "note" for m in chat.visitor.messages())
    frames = vpage.evaluate("JSON.stringify(window.__frames)")
    assert "Checking the carrier" not in frames
    screenshot(page, "dashboard-workspace-note")
    vpage.context.close()
    assert not dialogs and not chat.errors and not sam.errors


def test_the_conversation_as_a_chat(live_server, open_chat):
    """The conversation as a chat: a sender's consecutive messages grouped (name and avatar once), a day
    separator, short times with the full date on hover, ticks with an accessible label, system lines small
    and centred, no sender tag repeated on every message."""
    chat = open_chat(live_server, "Gus Group", "First question")
    page = chat.page
    chat.visitor.send("Second line")
    chat.visitor.send("Third line")
    visitor_msgs = page.locator("#msg-list .msg[data-sender=visitor]")
    expect(visitor_msgs).to_have_count(3)
    expect(visitor_msgs.nth(0)).not_to_have_class(re.compile(r"\bcont\b"))
    expect(visitor_msgs.nth(1)).to_have_class(re.compile(r"\bcont\b"))
    expect(visitor_msgs.nth(2)).to_have_class(re.compile(r"\bcont\b"))
    expect(page.locator("#msg-list .msg[data-sender=visitor] .msg-meta:visible")).to_have_count(1)
    expect(page.locator("#msg-list .msg[data-sender=visitor] .msg-avatar:visible")).to_have_count(1)
    expect(visitor_msgs.nth(0).locator(".msg-avatar")).to_have_text("GG")
    expect(page.locator("#msg-list .day-sep")).to_have_text(["Today"])
    time_el = visitor_msgs.nth(0).locator("time")
    expect(time_el).to_have_text(re.compile(r"^\d{1,2}:\d{2}"))
    assert re.search(r"\d{4}", time_el.get_attribute("title"))  # the full date on hover
    expect(page.locator("#msg-list .msg[data-sender=visitor] .msg-kind")).to_have_count(0)

    page.click("#act-assign")
    expect(page.locator("#conv-assignee")).to_have_text("Assigned to you")
    system = messages(page, "Alex Morgan joined the conversation")
    expect(system).to_have_attribute("data-sender", "system")
    expect(system).to_have_css("align-self", "center")
    box = page.locator("#composer-input")
    box.fill("Happy to help, Gus.")
    box.press("Enter")
    box.fill("One more thing")
    box.press("Enter")
    mine = page.locator("#msg-list .msg.mine")
    expect(mine).to_have_count(2)
    expect(mine.nth(1)).to_have_class(re.compile(r"\bcont\b"))
    expect(mine.last.locator(".msg-receipt")).to_have_text("✓ Sent")
    expect(mine.last.locator(".msg-receipt .tick")).to_have_attribute("aria-hidden", "true")
    expect(mine.last.locator(".msg-receipt .sr-only")).to_have_text("Sent")
    # Assigned by hand first: no "now assigned" toast for the reply.
    expect(page.locator(".toast", has_text="You're now assigned")).to_have_count(0)
    seqs = [int(s) for s in page.locator("#msg-list .msg").evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert not chat.errors


def test_replying_to_an_unassigned_conversation_assigns_it(live_server, open_chat):
    """The dashboard assigns an open, unassigned conversation to the agent who replies (assign, then send)
    and says so once; the reply follows the "joined" line."""
    chat = open_chat(live_server, "Una Unassigned", "Anyone there?")
    page = chat.page
    expect(page.locator("#conv-assignee")).to_have_text("Unassigned")
    box = page.locator("#composer-input")
    box.fill("Yes, I am here.")
    box.press("Enter")
    expect(page.locator(".toast", has_text="You're now assigned to this conversation")).to_have_count(1)
    expect(page.locator("#conv-assignee")).to_have_text("Assigned to you")
    expect(messages(page, "Alex Morgan joined the conversation")).to_have_attribute("data-sender", "system")
    box.fill("Second reply")
    box.press("Enter")
    expect(messages(page, "Second reply")).to_have_count(1)
    expect(page.locator(".toast", has_text="You're now assigned")).to_have_count(1)
    assert not chat.errors


def test_canned_responses(live_server, open_chat, agent_dashboard):
    """Admins manage canned responses (the server's errors shown); "/" in the composer lists them, filtered;
    the chosen one replaces "/query" with its text, placeholders filled in as text."""
    base = live_server
    chat = open_chat(base, "Carla Canned", "Do you ship to Norway?", email="carla@example.com")
    page = chat.page
    dialogs = record_dialogs(page)

    # The top bar's menu (admins) opens the manager.
    open_account_menu(page)
    page.get_by_role("button", name="Canned responses…").click()
    dialog = page.locator("#canned-dialog")
    expect(dialog).to_be_visible()

    def add(shortcut: str, title: str, body: str) -> None:
        page.fill("#canned-shortcut", shortcut)
        page.fill("#canned-title-input", title)
        page.fill("#canned-body", body)
        page.click("#canned-save")

    add("shipping", "Shipping countries",
        "Hi {{customer.name}} ({{customer.email}}), {{agent.name}} here: we ship to all of Europe. {{order.id}}")
    expect(dialog.locator(".canned-item")).to_have_count(1)
    add("hostile", HOSTILE, "Careful: " + HOSTILE)
    expect(dialog.locator(".canned-item")).to_have_count(2)
    # The server's error, as it says it: a taken shortcut, a bad one.
    add("shipping", "Again", "Twice")
    expect(page.locator("#canned-error")).not_to_be_empty()
    expect(dialog.locator(".canned-item")).to_have_count(2)
    add("Bad Shortcut!", "Bad", "Bad")
    expect(page.locator("#canned-error")).not_to_be_empty()
    # Edit one, delete one (with a confirmation).
    add("tmp", "Temporary", "To be deleted")
    expect(dialog.locator(".canned-item")).to_have_count(3)
    tmp = dialog.locator(".canned-item", has_text="/tmp")
    tmp.get_by_role("button", name="Edit /tmp").click()
    page.fill("#canned-title-input", "Temporary, edited")
    page.click("#canned-save")
    expect(dialog.locator(".canned-item", has_text="Temporary, edited")).to_have_count(1)
    dialog.locator(".canned-item", has_text="/tmp").get_by_role("button", name="Delete /tmp").click()
    dialog.locator(".canned-item", has_text="/tmp").locator(".canned-confirm").click()
    expect(dialog.locator(".canned-item")).to_have_count(2)
    assert page.locator("#canned-list img").count() == 0
    screenshot(page, "dashboard-workspace-canned-manager")
    page.click("#canned-close")
    expect(dialog).to_be_hidden()

    # "/" at the start: the list, filtered by what follows; arrows and Enter choose.
    box = page.locator("#composer-input")
    box.click()
    box.press_sequentially("/")
    popup = page.locator("#composer-popup")
    expect(popup.locator(".pop-item:not(.manage)")).to_have_count(2)
    expect(popup.locator(".pop-item.manage")).to_have_text("Manage canned responses…")
    box.press_sequentially("ship")
    expect(popup.locator(".pop-item:not(.manage) .pop-shortcut")).to_have_text(["/shipping"])
    screenshot(page, "dashboard-workspace-canned-list")
    box.press("Enter")
    filled = ("Hi Carla Canned (carla@example.com), Alex Morgan here: we ship to all of Europe. {{order.id}}")
    expect(box).to_have_value(filled)
    expect(popup).to_be_hidden()
    box.press("Enter")
    assert chat.visitor.wait_for_message(filled)["sender_type"] == "agent"

    # After a space, by mouse; Escape closes it and keeps the text.
    box.press_sequentially("Note this /hos")
    expect(popup.locator(".pop-item:not(.manage)")).to_have_count(1)
    popup.locator(".pop-item:not(.manage)").click()
    expect(box).to_have_value("Note this Careful: " + HOSTILE)
    box.fill("")
    box.press_sequentially("/nothing-like-it")
    expect(popup.locator(".pop-empty")).to_have_text("No canned response matches “/nothing-like-it”.")
    box.press("Escape")
    expect(popup).to_be_hidden()
    expect(box).to_have_value("/nothing-like-it")
    box.fill("")
    assert page.locator(INJECTED).count() == 0

    # An agent uses them, and gets no manager.
    sam = agent_dashboard(base, email=AGENT2, conversation="Carla Canned")
    expect(sam.page.locator("#menu-wrap")).to_be_hidden()
    sbox = sam.page.locator("#composer-input")
    sbox.click()
    sbox.press_sequentially("/sh")
    spopup = sam.page.locator("#composer-popup")
    expect(spopup.locator(".pop-item")).to_have_count(1)
    expect(spopup.locator(".pop-item.manage")).to_have_count(0)
    sbox.press("Tab")
    expect(sbox).to_have_value(filled.replace("Alex Morgan", "Sam Rivera"))
    assert not dialogs and not chat.errors and not sam.errors


def test_labels_filter_and_rating(live_server, open_chat, agent_dashboard):
    """An admin creates labels from the header's picker and puts them on the conversation: chips on the row
    and in the header (readable text colour), live on a colleague's list; the list filters by a label
    (with the other filters and the search); the visitor's rating shows on the row, in the header and in
    the customer panel."""
    base = live_server
    other = Visitor(base, name="Oscar Other", email="oscar@example.com")
    other.send("Unrelated question")
    chat = open_chat(base, "Lena Label", "Please mark me as VIP", email="lena@example.com")
    page = chat.page
    dialogs = record_dialogs(page)
    sam = agent_dashboard(base, email=AGENT2)

    page.click("#conv-label-btn")
    picker = page.locator("#label-picker")
    expect(picker).to_be_visible()
    expect(picker.locator(".picker-empty")).to_be_visible()
    page.fill("#label-new-name", "VIP")
    picker.locator('input[name="label-new-color"][aria-label="Yellow"]').check()
    page.click("#label-new-submit")
    expect(page.locator("#conv-labels .label-chip")).to_have_text(["VIP"])
    expect(picker.locator('input[type=checkbox][data-label="VIP"]')).to_be_checked()
    page.fill("#label-new-name", HOSTILE)
    picker.locator('input[name="label-new-color"][aria-label="Charcoal"]').check()
    page.click("#label-new-submit")
    expect(page.locator("#conv-labels .label-chip")).to_have_count(2)
    # The server's error: the same name twice.
    page.fill("#label-new-name", "vip")
    page.click("#label-new-submit")
    expect(page.locator("#label-new-error")).not_to_be_empty()
    screenshot(page, "dashboard-workspace-label-picker")
    page.keyboard.press("Escape")
    expect(picker).to_be_hidden()

    lena = row(page, "Lena Label")
    expect(lena.locator(".label-chip")).to_have_count(2)
    # Readable: the text colour against the label colour reaches 4.5:1.
    assert all(c >= 4.5 for c in _chip_contrasts(page, ".label-chip")), _chip_contrasts(page, ".label-chip")
    # Live on Sam's list.
    expect(row(sam.page, "Lena Label").locator(".label-chip")).to_have_count(2)
    expect(row(sam.page, "Lena Label").locator(".label-chip").first).to_have_text(re.compile(r"VIP|<img"))
    assert page.locator(INJECTED).count() == 0 and sam.page.locator(INJECTED).count() == 0

    # Uncheck the hostile one: it leaves the header and the rows, live.
    page.click("#conv-label-btn")
    picker.locator(f'input[type=checkbox][data-label="{HOSTILE}"]').uncheck()
    expect(page.locator("#conv-labels .label-chip")).to_have_text(["VIP"])
    expect(row(sam.page, "Lena Label").locator(".label-chip")).to_have_text(["VIP"])
    # Delete it (admins, confirmed).
    picker.get_by_role("button", name="Delete label " + HOSTILE).click()
    picker.locator(".label-option.confirming button.danger").click()
    expect(picker.locator(".label-option")).to_have_count(1)
    page.keyboard.press("Escape")

    # The list filtered by a label, with the search and the status filters.
    expect(page.locator("#label-filter-wrap")).to_be_visible()
    expect(row(page, "Oscar Other")).to_have_count(1)
    page.select_option("#label-filter", "VIP")
    expect(page.locator(".conv-list .row .row-name")).to_have_text(["Lena Label"])
    page.fill("#search", "Oscar")
    expect(page.locator("#list-empty")).to_be_visible()
    page.fill("#search", "Lena")
    expect(page.locator(".conv-list .row .row-name")).to_have_text(["Lena Label"])
    page.fill("#search", "")
    page.click('[data-filter="resolved"]')
    expect(page.locator(".conv-list .row")).to_have_count(0)
    page.click('[data-filter="open"]')
    expect(page.locator(".conv-list .row .row-name")).to_have_text(["Lena Label"])
    screenshot(page, "dashboard-workspace-labels")
    page.select_option("#label-filter", "")
    expect(row(page, "Oscar Other")).to_have_count(1)

    # The visitor rates the resolution: row, header and customer panel, live.
    token = agent_token(base)
    call(base, "POST", f"/chat/sessions/{chat.visitor.session_id}/resolve", {}, token)
    page.click('[data-filter="all"]')
    call(base, "POST", f"/chat/public/session/{chat.visitor.session_id}/rating",
         {"score": 4, "comment": "Quick and kind " + HOSTILE}, chat.visitor.token)
    expect(row(page, "Lena Label").locator(".chip.rating")).to_have_text("★ 4")
    expect(page.locator("#conv-rating .chip.rating")).to_have_text("★ 4")
    expect(page.locator("#cust-rating .cust-comment")).to_have_text("Quick and kind " + HOSTILE)
    expect(page.locator("#cust-rating")).to_contain_text("4/5")
    assert page.locator(INJECTED).count() == 0
    screenshot(page, "dashboard-workspace-desktop")
    assert not dialogs and not chat.errors and not sam.errors


def test_list_rows_unclipped_and_filters_on_one_line(live_server, agent_dashboard):
    """Rows show every line whole (nothing cut off at the bottom); the filters fit one line at 1024 px."""
    desk = agent_dashboard(live_server, viewport={"width": 1024, "height": 768})
    page = desk.page
    expect(page.locator(".conv-list .row")).not_to_have_count(0)
    tops = page.locator("[data-filter]").evaluate_all("els => els.map(e => e.getBoundingClientRect().top)")
    assert len(set(round(t) for t in tops)) == 1, tops
    clipped = "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
    assert page.locator("[data-filter]").evaluate_all(clipped) == []
    overflow = page.locator(".conv-list .row").evaluate_all("""rows => rows.flatMap(r => {
        const box = r.getBoundingClientRect();
        return [...r.querySelectorAll('.row-name, .row-preview, .row-meta, .row-time')].filter(el =>
            el.scrollHeight > el.clientHeight + 1 || el.getBoundingClientRect().bottom > box.bottom + 0.5)
          .map(el => el.className);
    })""")
    assert overflow == [], overflow
    screenshot(page, "dashboard-workspace-1024")
    # On a phone too: whole rows, whole filter buttons.
    page.set_viewport_size(PHONE)
    expect(page.locator(".conv-list .row").first).to_be_visible()
    assert page.locator("[data-filter]").evaluate_all(clipped) == []
    assert not desk.errors


def test_phone_workspace(live_server, open_chat):
    """On a phone (390x844): the list with labels and the filter, the conversation with the Reply / Note
    switch, the label picker as a sheet; nothing wider than the screen."""
    base = live_server
    token = agent_token(base)
    labels = call(base, "POST", "/labels", {"name": "Billing", "color": "#3b82f6"}, token)["label"]
    chat = open_chat(base, "Pia Phone", "Hello from my phone", viewport=PHONE, is_mobile=True, has_touch=True,
                     device_scale_factor=2)
    call(base, "PUT", f"/chat/sessions/{chat.visitor.session_id}/labels", {"labels": [labels["name"]]}, token)
    page = chat.page
    expect(page.locator("#conv-labels .label-chip")).to_have_text(["Billing"])
    page.locator('.mode-switch label', has_text="Note").click()
    box = page.locator("#composer-input")
    box.fill("Phone note for the team")
    page.click("#composer-send")
    expect(page.locator("#msg-list .msg[data-sender=note] .msg-body")).to_have_text("Phone note for the team")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "dashboard-workspace-phone-conversation")
    page.click("#conv-label-btn")
    expect(page.locator("#label-picker")).to_have_class(re.compile(r"\bsheet\b"))
    screenshot(page, "dashboard-workspace-phone-labels")
    page.click("#label-picker-close")
    page.click("#back-btn")
    expect(row(page, "Pia Phone").locator(".label-chip")).to_have_text(["Billing"])
    expect(page.locator("#label-filter-wrap")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "dashboard-workspace-phone-list")
    assert not chat.errors
