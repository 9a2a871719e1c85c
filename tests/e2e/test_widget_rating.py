"""The satisfaction prompt (CSAT) of chat-widget.js, in Chromium, against a real `callcenter serve`.

After an agent resolves the conversation (REST, agent1's token), the widget asks "How was this
conversation?" at the end of its log: five radios (stars; arrow keys move the choice), an optional
comment and Send; then thanks with the chosen score and "Change" while the server still takes a new
answer. What the visitor sent is what the server stores (a hostile comment included, which never runs),
errors show in the server's words with the form kept, writing again removes the prompt, a new resolution
asks afresh, a tenant with csat_enabled off is never asked, and the prompt fits a phone.

One server (embedded default, demo tenant) for the module; the widget is /widget-demo.html (same origin).
"""
from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import ARTIFACTS, screenshot
from tests.e2e.dashboard_support import DEMO_TENANT, HttpError, agent_token, call

TIMEOUT = 15_000
HOSTILE = "Quick and kind <img src=x onerror=alert(1)> thanks!"
ASK = "How was this conversation?"
THANKS = "Thanks for your feedback!"
STARS = """() => [...document.querySelector('callcenter-chat').shadowRoot.querySelectorAll('.rs span')]
                .map((s) => getComputedStyle(s, '::before').content.replace(/"/g, '')).join('')"""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rating")


@pytest.fixture(scope="module")
def server(home):
    with embedded_server(home) as (url, _log):
        yield url


@pytest.fixture(scope="module")
def agent(server):
    """agent1 (an admin of the demo tenant)."""
    return agent_token(server)


class Visitor:
    """The widget on /widget-demo.html in a page of its own: its locators, its requests to /rating, and
    anything that would show that the page ran script it should not have (errors, dialogs, alert())."""

    def __init__(self, browser, server: str, *, viewport=None, locale: str = "en-US", **options):
        self.context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, locale=locale,
                                           **options)
        # alert() from a rendered comment would count here (and never block the page).
        self.context.add_init_script("window.ccAlerts = 0; window.alert = function () { window.ccAlerts++; };")
        self.server = server
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.rating_posts: list[str] = []
        self.new_page()

    def new_page(self) -> None:
        """A (new) tab of the visitor's browser: the conversation is in its localStorage."""
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.rating_posts.append(r.post_data or "")
                     if r.method == "POST" and r.url.endswith("/rating") else None)
        self.w = self.page.locator("callcenter-chat")
        self.card = self.w.locator("form.rt")

    def start(self, name: str, first_message: str) -> "Visitor":
        self.page.goto(self.server + "/widget-demo.html")
        self.w.locator(".bub").click()
        self.w.get_by_role("textbox", name=re.compile("^Name")).fill(name)
        self.w.locator(".lg > form.fm:not(.rt) button").click()  # the pre-chat card (any language)
        self.say(first_message)
        return self

    @property
    def box(self):
        return self.w.locator(".cp textarea")

    def say(self, text: str) -> None:
        self.box.fill(text)
        self.box.press("Enter")
        expect(self.w.locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"),
                                                              timeout=TIMEOUT)

    @property
    def sid(self) -> str:
        return self.page.evaluate("JSON.parse(localStorage.getItem('callcenter-chat:demo-tenant')).sid")

    @property
    def token(self) -> str:
        return self.page.evaluate("JSON.parse(localStorage.getItem('callcenter-chat:demo-tenant')).token")

    def radio(self, n: int, of: str = "of"):
        return self.card.get_by_role("radio", name=f"{n} {of} 5", exact=True)

    def star(self, n: int, of: str = "of"):
        """The star drawn for radio `n` (its label: what a visitor clicks or taps)."""
        return self.radio(n, of).locator("xpath=..")

    def stars(self) -> str:
        return self.page.evaluate(STARS)

    def ran_no_script(self) -> None:
        assert self.page.evaluate("window.ccAlerts") == 0
        assert self.dialogs == [] and self.errors == []
        # Nothing the visitor typed became markup: the shadow root has no image at all.
        assert self.w.locator("img").count() == 0

    def close(self) -> None:
        self.context.close()


def resolve(server: str, agent: str, sid: str) -> None:
    call(server, "POST", f"/chat/sessions/{sid}/resolve", token=agent)


def stored_rating(server: str, agent: str, sid: str) -> dict | None:
    return call(server, "GET", f"/chat/sessions/{sid}", token=agent)["session"]["rating"]


def age_rating(home: Path, sid: str, minutes: int) -> None:
    """Move the session's resolution and rating `minutes` into the past (as if the visitor had rated that
    long ago), straight in the server's SQLite store."""
    shift = minutes * 60_000
    with closing(sqlite3.connect(home / "data" / "callcenter.sqlite3", timeout=30)) as db, db:
        updated = db.execute("UPDATE sessions SET resolved_at_ms = resolved_at_ms - ?, rated_at_ms = rated_at_ms - ? "
                             "WHERE id = ?", (shift, shift, sid)).rowcount
    assert updated == 1


def test_the_visitor_rates_changes_and_is_asked_again_after_a_new_resolution(browser, server, agent, home):
    v = Visitor(browser, server).start("Rita Rater", "My parcel is late")
    try:
        w, card, sid = v.w, v.card, v.sid
        expect(card).to_be_hidden()

        # Resolved by the agent: the widget asks, at the end of its log.
        resolve(server, agent, sid)
        group = card.get_by_role("radiogroup", name=ASK)
        expect(group).to_be_visible(timeout=TIMEOUT)
        expect(v.w.locator(".nw")).to_contain_text("This conversation is closed. Write to reopen it.")
        assert w.locator(".lg > *").last.evaluate("(el) => el.matches('form.rt')")

        # Roles and names: a radio group named by its question, five radios "n of 5" (the stars drawn for them
        # are hidden from screen readers), a labelled comment box and a Send button.
        expect(card).to_match_aria_snapshot("""
            - radiogroup "How was this conversation?":
              - text: How was this conversation?
              - radio "1 of 5"
              - radio "2 of 5"
              - radio "3 of 5"
              - radio "4 of 5"
              - radio "5 of 5"
            - text: Comment (optional)
            - textbox "Comment (optional)"
            - button "Send"
        """)
        for n in range(1, 6):
            expect(v.radio(n)).not_to_be_checked()
        expect(card.locator("span[aria-hidden=true]")).to_have_count(5)
        comment = card.get_by_role("textbox", name="Comment (optional)")
        expect(comment).to_have_attribute("maxlength", "1000")
        send = card.get_by_role("button", name="Send", exact=True)
        assert v.stars() == "☆☆☆☆☆"

        # Send with no score: the browser says one is needed, and nothing is sent.
        send.click()
        assert v.radio(1).evaluate("(el) => el.validationMessage") != ""
        assert v.rating_posts == []

        # The keyboard: arrows move the choice (and the stars fill up to it).
        v.radio(1).focus()
        v.page.keyboard.press("Space")
        for _ in range(3):
            v.page.keyboard.press("ArrowRight")
        expect(v.radio(4)).to_be_checked()
        expect(v.radio(4)).to_be_focused()
        assert v.stars() == "★★★★☆"
        comment.fill(HOSTILE)
        v.radio(4).focus()
        screenshot(v.page, "widget-rating-desktop")

        # Offline for a moment: said in the widget's words, and the form stays as it was.
        v.page.route("**/rating", lambda route: route.abort())
        send.click()
        error = card.get_by_role("alert")
        expect(error).to_have_text("Something went wrong. Please try again.", timeout=TIMEOUT)
        expect(v.radio(4)).to_be_checked()
        expect(comment).to_have_value(HOSTILE)
        v.page.unroute("**/rating")

        with v.page.expect_response(lambda r: r.url.endswith("/rating") and r.request.method == "POST") as answer:
            send.click()
        assert answer.value.status == 200

        # Thanks, with the score given (the radios now disabled) and "Change".
        expect(group).to_have_count(0)
        given = card.get_by_role("radiogroup", name=THANKS)
        expect(given).to_be_visible()
        expect(v.radio(4)).to_be_checked()
        expect(v.radio(4)).to_be_disabled()
        assert v.stars() == "★★★★☆"
        expect(comment).to_be_hidden()
        expect(error).to_be_hidden()
        expect(card).to_match_aria_snapshot("""
            - radiogroup "Thanks for your feedback!":
              - text: Thanks for your feedback!
              - radio "1 of 5" [disabled]
              - radio "2 of 5" [disabled]
              - radio "3 of 5" [disabled]
              - radio "4 of 5" [checked] [disabled]
              - radio "5 of 5" [disabled]
            - button "Change"
        """)
        change = card.get_by_role("button", name="Change")
        expect(change).to_be_focused()

        # What the server stored is what was sent; the comment never ran (nor became markup).
        assert json.loads(v.rating_posts[-1]) == {"score": 4, "comment": HOSTILE}
        first = stored_rating(server, agent, sid)
        assert {k: first[k] for k in ("score", "comment")} == {"score": 4, "comment": HOSTILE}
        v.ran_no_script()

        # Changed within the ten minutes: 5 (the comment kept as it was), stored in place of the first.
        change.click()
        expect(v.radio(4)).to_be_focused()
        expect(comment).to_have_value(HOSTILE)
        v.page.keyboard.press("ArrowRight")
        expect(v.radio(5)).to_be_checked()
        comment.fill("Even better on second thought")
        send.click()
        expect(card.get_by_role("radiogroup", name=THANKS)).to_be_visible(timeout=TIMEOUT)
        expect(v.radio(5)).to_be_checked()
        assert v.stars() == "★★★★★"
        second = stored_rating(server, agent, sid)
        assert (second["score"], second["comment"]) == (5, "Even better on second thought")
        assert second["rated_at"] == first["rated_at"]  # the ten minutes run from the first answer

        # Later than that, the server refuses a change: its words are shown, the form kept.
        age_rating(home, sid, 11)
        change.click()
        v.radio(5).press("ArrowLeft")
        send.click()
        expect(error).to_have_text("this conversation was rated already", timeout=TIMEOUT)
        expect(v.radio(4)).to_be_checked()
        expect(comment).to_have_value("Even better on second thought")
        assert stored_rating(server, agent, sid)["score"] == 5

        # The visitor writes again: that reopens the conversation, and the prompt goes.
        v.say("One more question, actually")
        expect(card).to_be_hidden()
        assert call(server, "GET", f"/chat/sessions/{sid}", token=agent)["session"]["status"] == "open"

        # Resolved again: a new resolution is asked afresh (nothing chosen, no comment).
        resolve(server, agent, sid)
        expect(card.get_by_role("radiogroup", name=ASK)).to_be_visible(timeout=TIMEOUT)
        for n in range(1, 6):
            expect(v.radio(n)).not_to_be_checked()
        expect(comment).to_have_value("")
        expect(error).to_be_hidden()
        assert stored_rating(server, agent, sid) is None

        # And after a reload (the panel reopens, the session resumes): still asking.
        v.page.reload()
        expect(v.card.get_by_role("radiogroup", name=ASK)).to_be_visible(timeout=TIMEOUT)
        v.ran_no_script()
        assert len(v.rating_posts) == 4
    finally:
        v.close()


def test_a_visitor_who_was_away_is_asked_on_return_in_their_language(browser, server, agent):
    v = Visitor(browser, server, locale="de-DE").start("Dora Deutsch", "Wo ist mein Paket?")
    try:
        sid = v.sid
        v.page.close()
        resolve(server, agent, sid)

        # Back later, in a new tab: opening the chat shows the question.
        v.new_page()
        v.page.goto(server + "/widget-demo.html")
        v.w.locator(".bub").click()
        expect(v.card.get_by_role("radiogroup", name="Wie war dieses Gespräch?")).to_be_visible(timeout=TIMEOUT)
        expect(v.card.get_by_role("radio")).to_have_count(5)
        expect(v.radio(3, "von")).to_be_visible()
        expect(v.card.get_by_role("textbox", name="Kommentar (optional)")).to_be_visible()
        v.star(3, "von").click()
        expect(v.radio(3, "von")).to_be_checked()
        v.card.get_by_role("button", name="Senden").click()
        expect(v.card.get_by_role("radiogroup", name="Danke für Ihr Feedback!")).to_be_visible(timeout=TIMEOUT)
        expect(v.card.get_by_role("button", name="Ändern")).to_be_visible()
        rating = stored_rating(server, agent, sid)
        assert (rating["score"], rating["comment"]) == (3, "")
        assert v.errors == []
    finally:
        v.close()


def test_the_prompt_fits_a_phone(browser, server, agent):
    size = {"width": 390, "height": 844}
    v = Visitor(browser, server, viewport=size, is_mobile=True, has_touch=True)
    try:
        v.start("Pia Phone", "Hi! My order #1234 has not arrived yet.")
        for text in ("It was due on Monday.", "The tracking page has said 'in transit' for a week.",
                     "Could you check with the courier?"):
            v.say(text)
        call(server, "POST", "/chat/messages", {"session_id": v.sid,
                                                "message": "The courier found it: it arrives tomorrow morning."},
             token=agent)
        resolve(server, agent, v.sid)
        card = v.card
        expect(card.get_by_role("radiogroup", name=ASK)).to_be_visible(timeout=TIMEOUT)
        v.star(5).tap()
        expect(v.radio(5)).to_be_checked()
        comment = card.get_by_role("textbox", name="Comment (optional)")
        comment.fill("Fast and friendly.")

        # The panel is the whole screen; the card is inside it, and the composer stays on screen below the log.
        assert v.w.locator(".pn").bounding_box() == {"x": 0, "y": 0, **size}
        for part in (card, card.get_by_role("button", name="Send", exact=True), v.star(5)):
            part.scroll_into_view_if_needed()
            box = part.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box
        log, composer = v.w.locator(".lg").bounding_box(), v.w.locator(".cp").bounding_box()
        assert composer["y"] >= log["y"] + log["height"] - 1
        assert composer["y"] + composer["height"] <= size["height"], composer
        expect(v.box).to_be_in_viewport()
        # Each star is a comfortable touch target.
        for n in range(1, 6):
            box = v.star(n).bounding_box()
            assert box["width"] >= 30 and box["height"] >= 30, box
        screenshot(v.page, "widget-rating-phone")
        # The screen itself (the full-page shot above also has the host page under the panel).
        v.page.screenshot(path=str(ARTIFACTS / "widget-rating-phone-screen.png"))

        card.get_by_role("button", name="Send", exact=True).click()
        expect(card.get_by_role("radiogroup", name=THANKS)).to_be_visible(timeout=TIMEOUT)
        card.scroll_into_view_if_needed()
        expect(v.box).to_be_in_viewport()
        screenshot(v.page, "widget-rating-phone-thanks")
        v.page.screenshot(path=str(ARTIFACTS / "widget-rating-phone-thanks-screen.png"))
        v.ran_no_script()
    finally:
        v.close()


def test_a_tenant_with_csat_off_is_never_asked(browser, server, agent):
    settings = call(server, "PATCH", "/tenant", {"csat_enabled": False}, token=agent)["settings"]
    assert settings["csat_enabled"] is False
    try:
        assert call(server, "GET", f"/chat/public/tenants/{DEMO_TENANT}")["settings"]["csat_enabled"] is False
        v = Visitor(browser, server).start("Otto Off", "Just a quick question")
        try:
            resolve(server, agent, v.sid)
            # The widget has the resolution (its composer says so) and asks nothing.
            expect(v.w.locator(".nw")).to_contain_text("This conversation is closed. Write to reopen it.",
                                                       timeout=TIMEOUT)
            expect(v.card).to_be_hidden()
            expect(v.w.get_by_role("radiogroup")).to_have_count(0)
            expect(v.w.get_by_role("radio")).to_have_count(0)
            # And the server would refuse a rating anyway.
            with pytest.raises(HttpError) as refused:
                call(server, "POST", f"/chat/public/session/{v.sid}/rating", {"score": 5}, token=v.token)
            assert refused.value.status == 409 and refused.value.body["error"]["code"] == "csat_off"
            assert v.rating_posts == [] and v.errors == []
        finally:
            v.close()
    finally:
        call(server, "PATCH", "/tenant", {"csat_enabled": True}, token=agent)
