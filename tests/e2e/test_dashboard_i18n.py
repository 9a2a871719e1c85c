"""The dashboard in the agent's language (issue 27): a Chromium with locale de-DE gets German texts in the top
bar, the list, the conversation and Settings, with dates and numbers formatted by Intl for German; switching
to Español in Settings → Profile applies at once and is kept. Screenshots of both languages at the three sizes
go to /tmp/i18n-shots/ (for a person to review for clipping and overlap)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.dashboard_support import Visitor

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path("/tmp/i18n-shots")
SIZES = {"desktop": {"width": 1280, "height": 800}, "tablet": {"width": 1024, "height": 768},
         "phone": {"width": 390, "height": 844}}


def catalogue(lang: str):
    doc = json.loads((ROOT / "static" / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    merged = {**doc["common"], **doc["dashboard"]}
    return lambda key, **params: re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), m.group(0))), merged[key])


def test_german_browser_gets_german_then_spanish_from_the_profile(live_server, agent_dashboard):
    de, es = catalogue("de"), catalogue("es")
    Visitor(live_server, name="Greta Gast", email="greta@example.com").send("Hallo, ich habe eine Frage")
    desk = agent_dashboard(live_server, conversation="Greta Gast", locale="de-DE", timezone_id="Europe/Berlin")
    page = desk.page

    expect(page.locator("html")).to_have_attribute("lang", "de")
    # The top bar and the list.
    expect(page.locator("#analytics-btn")).to_contain_text(de("top.analytics"))
    expect(page.locator("#settings-btn")).to_contain_text(de("top.settings"))
    expect(page.locator('.filters [data-filter="open"]')).to_have_text(de("filter.open"))
    expect(page.locator('.filters [data-filter="resolved"]')).to_have_text(de("filter.resolved"))
    # The conversation and the customer panel, dates in German ("7. Dez. 2026, 14:05").
    expect(page.locator(".day-sep-text").first).to_have_text(de("day.today"))
    facts = page.locator("#customer-body dl.facts")
    expect(facts.locator("dt").first).to_have_text(de("customer.email"))
    expect(facts).to_contain_text(de("customer.first_seen"))
    first_seen = facts.locator("dt", has_text=de("customer.first_seen")).locator("xpath=following-sibling::dd[1]")
    expect(first_seen).to_have_text(re.compile(r"^\d{1,2}\. \S+ \d{4}, \d{2}:\d{2}$"))
    expect(page.locator("#cust-chat")).to_contain_text(de("customer.messages.one", count=1))
    # A message's time: 24-hour German clock.
    expect(page.locator("#msg-list .msg-time").first).to_have_text(re.compile(r"^\d{2}:\d{2}$"))

    # Settings → Profile, in German, with the language switch on "Automatic (browser: Deutsch)".
    page.click("#settings-btn")
    expect(page.locator("#settings-page-title")).to_have_text(de("settings.page.profile"))
    expect(page.locator("#settings-title")).to_have_text(de("settings.title"))
    expect(page.locator("#pf-lang h4")).to_have_text(de("pf.lang"))
    select = page.locator("#pf-language")
    expect(select).to_have_value("auto")
    expect(select.locator('option[value="auto"]')).to_have_text(de("pf.lang.auto", name="Deutsch"))
    expect(page.locator("#pf-prefs h4")).to_have_text(de("pf.prefs"))
    assert not desk.errors

    # Español: applied at once (the page comes back in it, on the same settings page) and kept.
    with page.expect_navigation():
        select.select_option("es")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#settings-page-title")).to_have_text(es("settings.page.profile"))
    expect(page.locator("#pf-language")).to_have_value("es")
    expect(page.locator("#settings-btn")).to_contain_text(es("top.settings"))
    expect(page.locator("#pf-prefs h4")).to_have_text(es("pf.prefs"))
    assert page.evaluate("localStorage.getItem('callcenter-lang')") == "es"

    # Analytics in Spanish: words and numbers ("7 días", a percentage with a space: "50 %").
    page.click("#analytics-btn")
    expect(page.locator("#an-range-label")).to_contain_text(es("an.days.other", count=7))
    expect(page.locator('#an-totals [data-metric="conversations"] .an-card-label')).to_have_text(
        es("an.conversations"))

    # Back to automatic: the browser's German again.
    page.click("#settings-btn")
    with page.expect_navigation():
        page.locator("#pf-language").select_option("auto")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#settings-page-title")).to_have_text(de("settings.page.profile"))
    assert page.evaluate("localStorage.getItem('callcenter-lang')") is None
    assert not desk.errors


def test_system_lines_in_the_agent_s_language(live_server, agent_dashboard):
    """The server writes "Alex Morgan joined the conversation"; a German dashboard shows it in German from
    the message's `system` parts (the demo's conversation with James Carter has such a line)."""
    de = catalogue("de")
    desk = agent_dashboard(live_server, conversation="James Carter", locale="de-DE", timezone_id="Europe/Berlin")
    line = desk.page.locator("#msg-list .msg-system .msg-body").first
    expect(line).to_have_text(de("system.joined", name="Alex Morgan"))
    assert not desk.errors


def test_formatters_follow_the_language(live_server, agent_dashboard):
    """i18n.js's Intl formatters in the page: German and French numbers, dates and relative times."""
    desk = agent_dashboard(live_server, locale="fr-FR", timezone_id="Europe/Paris")
    page = desk.page
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    got = page.evaluate("""async () => {
        // The module itself (the page runs the bundle: another instance, loaded here for French).
        const i18n = await import('/static/dashboard/i18n.js');
        await i18n.loadCatalogue('fr');
        const when = new Date(Date.UTC(2025, 2, 3, 13, 5));
        const out = {fr: {
            number: i18n.formatNumber(1234.5), date: i18n.formatDate(when, {timeZone: 'UTC'}),
            relative: i18n.formatRelative(Date.now() - 5 * 60e3), plural: i18n.t('customer.messages', {count: 2}),
            missing: i18n.t('no.such.key'), filled: i18n.t('team.show', {name: 'Sam'}),
        }};
        await i18n.loadCatalogue('de');
        out.de = {number: i18n.formatNumber(1234.5), date: i18n.formatDate(when, {timeZone: 'UTC'}),
                  relative: i18n.formatRelative(Date.now() - 86400e3), time: i18n.formatTime(when, {timeZone: 'UTC'}),
                  lang: document.documentElement.lang};
        return out;
    }""")
    nbsp = "[\u00a0\u202f ]"
    assert re.fullmatch(f"1{nbsp}234,5", got["fr"]["number"]), got
    assert got["fr"]["date"] == "3 mars 2025", got
    assert got["fr"]["relative"] == "il y a 5 minutes", got
    assert got["fr"]["plural"] == "2 messages", got
    assert got["fr"]["missing"] == "no.such.key", got
    assert got["fr"]["filled"] == "Voir les conversations de Sam", got
    assert got["de"] == {"number": "1.234,5", "date": "3. März 2025", "relative": "gestern", "time": "13:05",
                         "lang": "de"}, got


@pytest.mark.parametrize("lang,locale", [("de", "de-DE"), ("es", "es-ES")])
def test_screenshots_for_review(live_server, agent_dashboard, lang, locale):
    """The dashboard with a conversation open, Settings → Profile and Analytics, at 1280×800, 1024×768 and
    390×844: saved for a person to look at; here only checked for text that overflows its box horizontally
    in the top bar, the list's filters and the settings navigation."""
    SHOTS.mkdir(exist_ok=True)
    Visitor(live_server, name="Bartholomäus Grünewald-Schmidt",
            email="bartholomaeus.gruenewald@example.com").send("Guten Tag, meine Bestellung ist nicht angekommen.")
    desk = agent_dashboard(live_server, conversation="Bartholomäus Grünewald-Schmidt", locale=locale)
    page = desk.page
    expect(page.locator("html")).to_have_attribute("lang", lang)
    overflowing = """(sel) => [...document.querySelectorAll(sel)].filter((el) => el.offsetParent !== null
        && el.clientWidth > 2 && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'auto'
        && getComputedStyle(el).textOverflow !== 'ellipsis').map((el) => el.id || el.className || el.tagName)"""
    problems = {}
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, 0)")
        if size == "phone":
            # On a phone the list comes first; then the open conversation.
            page.screenshot(path=str(SHOTS / f"{lang}-{size}-conversation.png"))
        else:
            page.screenshot(path=str(SHOTS / f"{lang}-{size}-conversation.png"))
        problems[f"{size} top bar"] = page.evaluate(overflowing, ".topbar button, .topbar .btn-text, .filters button")
        page.click("#settings-btn")
        expect(page.locator("#pf-language")).to_be_visible()
        page.screenshot(path=str(SHOTS / f"{lang}-{size}-settings.png"), full_page=True)
        problems[f"{size} settings"] = page.evaluate(overflowing, ".st-nav-link, .st-card h4, .st-actions button")
        page.click("#analytics-btn")
        expect(page.locator("#analytics")).to_have_attribute("data-state", re.compile("ready|empty"))
        page.screenshot(path=str(SHOTS / f"{lang}-{size}-analytics.png"), full_page=True)
        problems[f"{size} analytics"] = page.evaluate(overflowing, ".an-card-label, .an-card-sub")
        page.click("#analytics-btn")  # back to the conversations
    assert not {k: v for k, v in problems.items() if v}, problems
    assert not desk.errors
