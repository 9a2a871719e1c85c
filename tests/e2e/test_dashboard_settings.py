"""The Settings view (issue 25) in the dashboard, in Chromium against `callcenter serve` (demo seeded:
agent1 Alex Morgan is the only admin, agent2 Sam Rivera an agent).

Team (admins): invite with a one-time link (copied), the invited agent joins in a browser of their own and
is signed in (the token leaves the address); active; deactivate / reactivate with a confirmation (their open
dashboard is signed out); the last admin cannot be demoted (the refusal shown in the row); a role change; a
password reset (the agent's open dashboard is signed out; the reset link sets a new password). The audit log
lists all of it in words. Agents see only their Profile (also at /?settings=team): name, avatar colour,
password (the server's errors shown) and notification preferences (saved, and in effect: no alert for a new
conversation when switched off). A page per address: reload, back / forward, Escape; unsaved changes ask
first; a page module that fails to load shows an error. Hostile names are text. Screenshots at 1280x800 and
390x844 (no sideways scrolling on a phone, 44 px targets, 16 px inputs).
"""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import AGENT2, PASSWORD, Visitor, agent_token, call, record_dialogs

PHONE = {"width": 390, "height": 844}
HOSTILE = "<img src=x onerror=alert(1)>"
INJECTED = "img[src='x'], [onerror], #app script"
CLIPBOARD = ["clipboard-read", "clipboard-write"]


def _agent_row(page, email: str):
    return page.locator("#tm-list .tm-row").filter(has=page.locator(".tm-email", has_text=email))


def _no_sideways_scroll(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.getElementById('settings').scrollWidth,"
                           " window.innerWidth]")
    assert widths[0] <= widths[2] and widths[1] <= widths[2], widths


def _open_settings_page(page, title: str) -> None:
    page.locator("#settings .st-nav-link", has_text=title).click()
    expect(page.locator("#settings-page-title")).to_have_text(title)
    expect(page.locator("#settings")).to_have_attribute("data-state", "ready")


def test_team_invite_join_roles_reset_deactivate_and_audit(live_server, agent_dashboard, browser):
    base = live_server
    sam = agent_dashboard(base, email=AGENT2)
    admin = agent_dashboard(base, permissions=CLIPBOARD)
    page = admin.page
    dialogs = record_dialogs(page)

    # The top bar's Settings opens the Profile; the nav lists the workspace pages for an admin.
    page.click("#settings-btn")
    expect(page.locator("#settings-page-title")).to_have_text("Profile")
    assert page.url.endswith("/?settings=profile")
    expect(page.locator("#settings .st-nav-link")).to_have_text(
        ["Profile", "Team", "Routing", "Widget", "AI assistant", "Webhooks", "Audit log"])
    _open_settings_page(page, "Team")
    assert page.url.endswith("/?settings=team")
    expect(_agent_row(page, AGENT2).locator(".tm-status")).to_have_text("Active")

    # Invite: a hostile name stays text; the one-time link is shown once, with Copy and its expiry.
    page.fill("#tm-invite-email", "newbie@example.com")
    page.fill("#tm-invite-name", HOSTILE)
    page.click("#tm-invite-submit")
    expect(page.locator("#tm-link-title")).to_have_text("Invitation link")
    link = page.locator("#tm-link-url").input_value()
    assert re.search(r"/\?invite=[\w-]{20,}$", link), link
    expect(page.locator("#tm-link-expiry")).to_contain_text("Expires")
    page.click("#tm-link-copy")
    expect(page.locator("#tm-link-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link
    row = _agent_row(page, "newbie@example.com")
    expect(row.locator(".tm-name")).to_have_text(HOSTILE)
    expect(row.locator(".tm-status")).to_have_text("Invited")
    # The e-mail is taken now: the server's refusal is shown.
    page.fill("#tm-invite-email", "newbie@example.com")
    page.fill("#tm-invite-name", "Again")
    page.click("#tm-invite-submit")
    expect(page.locator("#tm-invite-error")).not_to_be_empty()
    page.fill("#tm-invite-email", "")
    page.fill("#tm-invite-name", "")
    screenshot(page, "settings-team-desktop")

    # The invited agent opens the link in a browser of their own, chooses a password and is signed in.
    newbie_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        newbie = newbie_ctx.new_page()
        newbie_dialogs = record_dialogs(newbie)
        newbie.goto(link)
        expect(newbie.locator("#invite-title")).to_have_text("Join Demo Store")
        expect(newbie.locator("#invite-email")).to_have_value("newbie@example.com")
        newbie.fill("#invite-password", "Newbie-Pass-1")
        newbie.fill("#invite-confirm", "Newbie-Pass-2")
        newbie.click("#invite-submit")
        expect(newbie.locator("#invite-message")).to_have_text("The two passwords are not the same.")
        screenshot(newbie, "settings-invite-desktop")
        newbie.fill("#invite-confirm", "Newbie-Pass-1")
        newbie.click("#invite-submit")
        expect(newbie.locator("#app")).to_be_visible()
        expect(newbie.locator("#live")).to_have_attribute("data-state", "live")
        expect(newbie.locator("#me-name")).to_have_text(HOSTILE)
        assert "invite" not in newbie.url
        assert newbie.locator(INJECTED).count() == 0 and not newbie_dialogs
        # The link is used up.
        used = browser.new_context().new_page()
        used.goto(link)
        expect(used.locator("#invite-message")).to_have_text("This link is no longer valid. Ask an admin for a new one.")
        used.context.close()

        # The admin sees them active, without a refresh (their dashboard's presence reached the page).
        expect(row.locator(".tm-status")).to_have_text("Active")

        # Deactivate (after a confirmation): their open dashboard is signed out. Then reactivate.
        row.locator(".tm-deactivate").click()
        expect(row.locator(".tm-confirm")).to_contain_text("Deactivate " + HOSTILE + "?")
        row.locator(".tm-confirm-yes").click()
        expect(row.locator(".tm-status")).to_have_text("Deactivated")
        expect(newbie.locator("#login-view")).to_be_visible()
        row.locator(".tm-activate").click()
        row.locator(".tm-confirm-yes").click()
        expect(row.locator(".tm-status")).to_have_text("Active")
    finally:
        newbie_ctx.close()

    # The last admin cannot be demoted: the refusal shows in their row and the role stays.
    me_row = _agent_row(page, "agent1@callcenter.com")
    me_row.locator(".tm-role").select_option("agent")
    expect(me_row.locator(".tm-row-error")).to_be_visible()
    expect(me_row.locator(".tm-role")).to_have_value("admin")
    # A role change.
    row.locator(".tm-role").select_option("admin")
    expect(row.locator(".tm-role")).to_have_value("admin")
    expect(row.locator(".tm-row-error")).to_have_count(0)

    # Reset Sam's password: his open dashboard is signed out; the link sets a new one.
    sam_row = _agent_row(page, AGENT2)
    sam_row.locator(".tm-reset").click()
    sam_row.locator(".tm-confirm-yes").click()
    expect(page.locator("#tm-link-title")).to_have_text("Password reset link")
    reset_link = page.locator("#tm-link-url").input_value()
    expect(sam.page.locator("#login-view")).to_be_visible()
    sam.page.goto(reset_link)
    expect(sam.page.locator("#invite-title")).to_have_text("Set a new password")
    sam.page.fill("#invite-password", "Sam-New-Pass-9")
    sam.page.fill("#invite-confirm", "Sam-New-Pass-9")
    sam.page.click("#invite-submit")
    expect(sam.page.locator("#me-name")).to_have_text("Sam Rivera")
    assert "invite" not in sam.page.url

    # The audit log, newest first, in words; the full date on hover.
    _open_settings_page(page, "Audit log")
    texts = page.locator("#au-list .au-text").all_inner_texts()
    joined = "\n".join(texts)
    for words in ("Alex Morgan invited newbie@example.com", HOSTILE + " joined the team",
                  "Alex Morgan deactivated " + HOSTILE, "Alex Morgan reactivated " + HOSTILE,
                  "Alex Morgan changed the role of " + HOSTILE + " from agent to admin",
                  "Alex Morgan reset the password of agent2@callcenter.com", "Sam Rivera set a new password"):
        assert words in joined, (words, texts)
    assert texts[0].startswith("Sam Rivera set a new password"), texts
    assert page.locator("#au-list time").first.get_attribute("title")
    screenshot(page, "settings-audit-desktop")

    # Reload and back / forward keep the page; Escape goes back to the conversations.
    page.reload()
    expect(page.locator("#settings-page-title")).to_have_text("Audit log")
    page.go_back()
    expect(page.locator("#settings-page-title")).to_have_text("Team")
    page.go_back()
    expect(page.locator("#settings-page-title")).to_have_text("Profile")
    page.go_forward()
    expect(page.locator("#settings-page-title")).to_have_text("Team")
    page.keyboard.press("Escape")
    expect(page.locator("#settings")).to_be_hidden()
    expect(page.locator(".panes")).to_be_visible()
    assert "settings" not in page.url
    page.go_back()
    expect(page.locator("#settings-page-title")).to_have_text("Team")

    # (A settings page module can no longer fail to load on its own: scripts/build_assets.py inlines every
    # page into the one dashboard bundle, so there is no separate request to break here.)

    # The phone: a page picker instead of the nav, no sideways scrolling.
    phone = agent_dashboard(base, viewport=PHONE, is_mobile=True, has_touch=True)
    phone.page.goto(base + "/?settings=team")
    expect(phone.page.locator("#settings-page-title")).to_have_text("Team")
    expect(phone.page.locator("#settings-picker")).to_be_visible()
    expect(phone.page.locator("#settings .st-nav")).to_be_hidden()
    expect(_agent_row(phone.page, "newbie@example.com").locator(".tm-name")).to_have_text(HOSTILE)
    _no_sideways_scroll(phone.page)
    screenshot(phone.page, "settings-team-phone")
    _agent_row(phone.page, AGENT2).scroll_into_view_if_needed()
    screenshot(phone.page, "settings-team-phone-agents")
    phone.page.select_option("#settings-picker", "audit")
    expect(phone.page.locator("#settings-page-title")).to_have_text("Audit log")
    _no_sideways_scroll(phone.page)
    screenshot(phone.page, "settings-audit-phone")

    assert page.locator(INJECTED).count() == 0 and phone.page.locator(INJECTED).count() == 0
    assert not dialogs, dialogs
    assert not admin.errors and not sam.errors and not phone.errors, (admin.errors, sam.errors, phone.errors)


def test_agent_profile_only_preferences_password_and_phone(live_server, agent_dashboard):
    base = live_server
    desk = agent_dashboard(base, email=AGENT2)
    page = desk.page

    # An agent gets no admin pages: /?settings=team opens their Profile; no Workspace nav, no admin menu.
    page.goto(base + "/?settings=team")
    expect(page.locator("#settings-page-title")).to_have_text("Profile")
    expect(page).to_have_url(re.compile(r"/\?settings=profile$"))
    expect(page.locator("#settings .st-nav-link")).to_have_text(["Profile"])
    expect(page.locator("#settings .st-nav")).not_to_contain_text("Workspace")
    expect(page.locator("#menu-wrap")).to_be_hidden()
    expect(page.locator("#tm-list")).to_have_count(0)

    # Name and avatar colour: saved, shown in the top bar, kept after a reload.
    page.fill("#pf-name", "Sam " + HOSTILE)
    page.locator(".pf-swatch[title='Teal']").click()
    expect(page.locator(".pf-preview")).to_have_css("background-color", "rgb(15, 118, 110)")
    # Unsaved changes: leaving asks (dismissed: the page stays).
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.click("#settings-back")
    expect(page.locator("#settings-page-title")).to_have_text("Profile")
    assert asked and "unsaved" in asked[0]
    page.click("#pf-save")
    expect(page.locator("#pf-details-status")).to_have_text("Saved.")
    expect(page.locator("#me-name")).to_have_text("Sam " + HOSTILE)
    expect(page.locator("#me-avatar")).to_have_css("background-color", "rgb(15, 118, 110)")
    page.fill("#pf-name", "Sam Rivera")
    page.click("#pf-save")
    expect(page.locator("#me-name")).to_have_text("Sam Rivera")
    page.reload()
    expect(page.locator("#settings-page-title")).to_have_text("Profile")
    expect(page.locator("#pf-color-hex")).to_have_value("#0f766e")

    # Preferences: saved to the server, and in effect (no alert for a new conversation while it is off).
    switch = page.locator("#pf-pref-new_conversations")
    expect(switch).to_be_checked()
    page.locator("label[for='pf-pref-new_conversations']").click()
    expect(page.locator("#pf-prefs-status")).to_contain_text("Saved")
    token = agent_token(base, AGENT2)
    assert call(base, "GET", "/auth/me", token=token)["agent"]["preferences"]["new_conversations"] is False
    Visitor(base, name="Quiet Quentin").send("hello?")
    page.wait_for_timeout(700)
    assert not page.title().startswith("("), page.title()
    page.locator("label[for='pf-pref-new_conversations']").click()
    expect(switch).to_be_checked()
    expect(page.locator("#pf-prefs-status")).to_contain_text("New conversations: on")
    Visitor(base, name="Loud Laura").send("hello!")
    expect(page).to_have_title(re.compile(r"^\(1\) "))

    # The password: the server's refusal shown; then changed, and this tab stays signed in and live.
    page.fill("#pf-current", "wrong-password")
    page.fill("#pf-new", "Sam-Changed-7")
    page.fill("#pf-confirm", "Sam-Changed-7")
    page.click("#pf-password-save")
    expect(page.locator("#pf-password-error")).to_have_text("The current password is wrong.")
    page.fill("#pf-current", PASSWORD)
    page.fill("#pf-confirm", "Sam-Changed-8")
    page.click("#pf-password-save")
    expect(page.locator("#pf-password-error")).to_have_text("The two new passwords are not the same.")
    page.fill("#pf-confirm", "Sam-Changed-7")
    page.click("#pf-password-save")
    expect(page.locator("#pf-password-status")).to_contain_text("Password changed")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.reload()
    expect(page.locator("#settings-page-title")).to_have_text("Profile")  # the new token was kept
    call(base, "POST", "/auth/login", {"email": AGENT2, "password": "Sam-Changed-7", "tenant_id": "demo-tenant"})

    # Back button and Escape lead to the conversations.
    page.click("#settings-back")
    expect(page.locator(".panes")).to_be_visible()
    page.go_back()
    expect(page.locator("#settings-page-title")).to_have_text("Profile")
    page.keyboard.press("Escape")
    expect(page.locator("#settings")).to_be_hidden()
    screenshot_page = page
    screenshot_page.click("#settings-btn")
    expect(page.locator("#settings")).to_have_attribute("data-state", "ready")
    screenshot(page, "settings-profile-desktop")

    # The phone: no sideways scrolling, 16 px inputs, 44 px targets.
    phone = agent_dashboard(base, email=AGENT2, password="Sam-Changed-7", viewport=PHONE, is_mobile=True,
                            has_touch=True)
    phone.page.goto(base + "/?settings=profile")
    expect(phone.page.locator("#settings-page-title")).to_have_text("Profile")
    expect(phone.page.locator("#settings")).to_have_attribute("data-state", "ready")
    expect(phone.page.locator("#settings-picker")).to_be_hidden()  # one page only: nothing to pick
    _no_sideways_scroll(phone.page)
    sizes = phone.page.evaluate("""() => ({
        fonts: [...document.querySelectorAll('#settings input:not([type=radio]):not([type=checkbox]):not(.sr-only)')]
               .filter(e => e.getClientRects().length).map(e => parseFloat(getComputedStyle(e).fontSize)),
        targets: [...document.querySelectorAll('#settings button, #settings .pf-swatch, #settings .switch')]
               .filter(e => e.getClientRects().length).map(e => Math.min(e.getBoundingClientRect().height,
                                                                          e.getBoundingClientRect().width)),
    })""")
    assert sizes["fonts"] and min(sizes["fonts"]) >= 16, sizes
    assert sizes["targets"] and min(sizes["targets"]) >= 32, sizes
    heights = phone.page.evaluate("""() => [...document.querySelectorAll('#settings button, #settings .pf-swatch')]
        .filter(e => e.getClientRects().length).map(e => e.getBoundingClientRect().height)""")
    assert min(heights) >= 44, heights
    screenshot(phone.page, "settings-profile-phone")
    phone.page.locator("#pf-password-save").scroll_into_view_if_needed()
    screenshot(phone.page, "settings-profile-phone-password")
    assert not desk.errors and not phone.errors, (desk.errors, phone.errors)
