"""axe-core in Chromium on every screen of the product: zero serious or critical violations (issue 27).

axe is the copy vendored at tests/vendor/axe.min.js (no network, no node_modules at test time). The pages
forbid added and inline scripts (script-src 'self'), so axe's source is evaluated through the DevTools
protocol (page.evaluate), which no page policy applies to; it then checks the document and every open
shadow root (the widget's) with `axe.run(document, {resultTypes: ["violations"]})`.

One case per screen and size, so a failure names its screen: the login page; the signed-in dashboard with
a conversation open at 1280x800, 1024x768 and 390x844; each settings page; analytics; the widget (on
/widget-demo.html) closed, on its pre-chat form, with messages and resolved, at desktop and phone size;
/websocket-test.html. Also: analytics and a settings page on a phone, the empty search, the notifications
and profile menus open, the dashboard in German (a de-DE browser), the closed widget showing an unread
reply, and the widget with a light primary colour. A case fails on any violation of impact serious or critical and prints rule,
impact, targets and axe's summary. Every violation found (all impacts) is also written, after each case,
to a Markdown report: $A11Y_FINDINGS if set, else test-artifacts/a11y-findings.md; with a screenshot per
screen in test-artifacts/a11y-<case>.png.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import ARTIFACTS, DESKTOP
from tests.e2e.dashboard_support import (Visitor, agent_token, call, login, open_conversation,
                                         start_widget_chat)

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
FAILING = ("serious", "critical")
TIMEOUT = 15_000
CUSTOMER = "Ada Axe"
LIGHT_PRIMARY = "#fde047"
REPLY = "Thanks Ada, your order ships today. Anything else?"

# What the page gives back: each violation with its nodes (targets through shadow roots joined by " >>> ")
# and, for colour contrast, axe's measured numbers.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  const sel = (t) => Array.isArray(t) ? t.join(" >>> ") : String(t);
  return {
    version: axe.version,
    violations: result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({
        target: n.target.map(sel).join(", "),
        html: n.html,
        impact: n.impact,
        summary: n.failureSummary,
        data: [...n.any, ...n.all, ...n.none].map((c) => c.data)
                .filter((d) => d && typeof d === "object" && "contrastRatio" in d)[0] || null,
      })),
    })),
  };
}"""

FINDINGS: dict[str, dict] = {}   # case id -> {"url", "version", "violations"} or {"error"}


def findings_path() -> Path:
    return Path(os.environ.get("A11Y_FINDINGS") or ARTIFACTS / "a11y-findings.md")


def run_axe(page) -> dict:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    return page.evaluate(RUN_AXE)


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} [{len(v['nodes'])} node(s)]")
        for node in v["nodes"][:8]:
            contrast = contrast_text(node["data"])
            lines.append(f"    {node['target']}{'  ' + contrast if contrast else ''}")
            lines.append("      " + (node["summary"] or "").replace("\n", "\n      "))
        if len(v["nodes"]) > 8:
            lines.append(f"    … {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def contrast_text(data: dict | None) -> str:
    if not data:
        return ""
    return (f"{data.get('fgColor')} on {data.get('bgColor')} = {data.get('contrastRatio')}:1 "
            f"(needs {data.get('expectedContrastRatio')}, {data.get('fontSize')} {data.get('fontWeight')})")


def write_findings() -> None:
    path = findings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    version = next((f["version"] for f in FINDINGS.values() if f.get("version")), "?")
    failing = sum(1 for f in FINDINGS.values() for v in f.get("violations", []) if v["impact"] in FAILING)
    out = [f"# axe-core findings (issue 27)", "",
           f"Latest run: {now}, axe-core {version}, `pytest tests/e2e/test_accessibility.py` "
           f"({len(FINDINGS)} screens). Serious/critical violations (rules x screens): {failing}.", "",
           "| screen | serious/critical | moderate/minor | rules |", "| --- | --- | --- | --- |"]
    for case, found in sorted(FINDINGS.items()):
        if "error" in found:
            out.append(f"| {case} | not measured | | setup failed: {found['error'][:160]} |")
            continue
        vs = found["violations"]
        bad = [v for v in vs if v["impact"] in FAILING]
        out.append(f"| {case} | {len(bad)} | {len(vs) - len(bad)} | "
                   f"{', '.join(sorted({v['id'] + ' (' + v['impact'] + ')' for v in vs})) or '—'} |")
    out += ["", "Who fixes what (contract): widget-* screens: the widget part (static/chat-widget.js); dashboard, "
            "settings and analytics: the dashboard a11y part (CSS, index.html, list/conversation/top menu), the "
            "i18n part for settings/** and analytics.js markup; websocket-test.html: no part owns it (the lead).", "",
            "## By rule (serious/critical first; distinct targets over all screens)", ""]
    by_rule: dict[tuple, dict] = {}
    for case, found in FINDINGS.items():
        for v in found.get("violations", []):
            entry = by_rule.setdefault((v["impact"] not in FAILING, v["id"], v["impact"]), {})
            for node in v["nodes"]:
                entry.setdefault(node["target"], (node, set()))[1].add(case)
    for (_, rule, impact), targets in sorted(by_rule.items()):
        out.append(f"- **{rule}** ({impact}):")
        for target, (node, cases) in sorted(targets.items()):
            extra = f" — {contrast_text(node['data'])}" if node["data"] else ""
            out.append(f"  - `{target}`{extra} — on {', '.join(sorted(cases))}")
    out += ["", "## Per screen", ""]
    for case, found in sorted(FINDINGS.items()):
        out.append(f"## {case}")
        if "error" in found:
            out += ["", "Setup failed before axe ran:", "", "```", found["error"][:2000], "```", ""]
            continue
        out += ["", f"URL: `{found['url']}`", ""]
        if not found["violations"]:
            out += ["No violations.", ""]
            continue
        for v in sorted(found["violations"], key=lambda v: (v["impact"] not in FAILING, v["id"])):
            out.append(f"### {v['id']} — {v['impact']} — {v['help']} ({len(v['nodes'])} node(s))")
            out.append("")
            for node in v["nodes"]:
                out.append(f"- `{node['target']}`" + (f" — {contrast_text(node['data'])}" if node["data"] else ""))
                html = node["html"].replace("\n", " ")
                out.append(f"  - html: `{html[:300]}`")
                if node["summary"]:
                    out.append("  - " + node["summary"].replace("\n", " ").strip()[:400])
            out.append("")
    path.write_text("\n".join(out), encoding="utf-8")


# ---- the server and its content -------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("a11y")) as (url, _log):
        yield url


@pytest.fixture(scope="module")
def agent(server) -> str:
    return agent_token(server)


@pytest.fixture(scope="module")
def conversation(server, agent) -> Visitor:
    """A visitor who wrote, an agent who took the chat and answered: a conversation with both sides."""
    visitor = Visitor(server, name=CUSTOMER, email="ada@example.com",
                      page_url="https://shop.example.com/checkout/very-long-page-name?step=payment")
    visitor.send("Hello! Where is my order #1234? It was due yesterday.")
    call(server, "POST", f"/chat/sessions/{visitor.session_id}/assign", {}, agent)
    call(server, "POST", "/chat/messages", {"session_id": visitor.session_id, "message": REPLY}, agent)
    return visitor


# ---- the screens ----------------------------------------------------------------------------------

def open_login(page, base, **_):
    page.goto(base + "/")
    expect(page.locator("#login-form")).to_be_visible()


def open_dashboard(page, base, **_):
    login(page, base)
    open_conversation(page, CUSTOMER)


def open_search_empty(page, base, **_):
    login(page, base)
    page.fill("#search", "zz-no-such-customer-qq")
    expect(page.locator("#list-empty")).to_be_visible(timeout=TIMEOUT)


def menu_opener(button: str, panel: str, *, conversation: bool = True):
    def open_menu(page, base, **_):
        login(page, base)
        if conversation:
            open_conversation(page, CUSTOMER)
        page.click(button)
        expect(page.locator(panel)).to_be_visible()
    return open_menu


def settings_opener(name: str):
    def open_settings(page, base, **_):
        login(page, base)
        page.goto(f"{base}/?settings={name}")
        expect(page.locator("#settings")).to_have_attribute("data-state", "ready", timeout=TIMEOUT)
        expect(page.locator("#settings")).to_be_visible()
    return open_settings


def open_analytics(page, base, **_):
    login(page, base)
    page.click("#analytics-btn")
    expect(page.locator("#analytics")).to_be_visible()
    expect(page.locator("#analytics")).to_have_attribute("data-state", "ready", timeout=TIMEOUT)


def widget(page):
    return page.locator("callcenter-chat")


def launcher(page):
    return widget(page).locator(".bub")


def open_widget_closed(page, base, **_):
    page.goto(base + "/widget-demo.html")
    expect(launcher(page)).to_be_visible(timeout=TIMEOUT)
    color = page.evaluate("() => window.__ccPrimary || null")
    if color:  # the demo page's colour picker (restarts the widget with that primaryColor)
        page.evaluate("""(c) => { const i = document.getElementById("color"); i.value = c;
                                  i.dispatchEvent(new Event("change", {bubbles: true})); }""", color)
        expect(launcher(page)).to_be_visible(timeout=TIMEOUT)


def open_widget_prechat(page, base, **_):
    open_widget_closed(page, base)
    launcher(page).click()
    expect(widget(page).get_by_label("Name")).to_be_visible()


def _widget_conversation(page, base, agent, name: str) -> str:
    """The widget with a chat started and answered; the session id."""
    open_widget_prechat(page, base)
    box = start_widget_chat(widget(page), name, "visitor@example.com")
    box.fill("Do you ship to Canada?")
    box.press("Enter")
    expect(widget(page).locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"),
                                                                 timeout=TIMEOUT)
    sid = page.evaluate("JSON.parse(localStorage.getItem('callcenter-chat:demo-tenant')).sid")
    call(base, "POST", f"/chat/sessions/{sid}/assign", {}, agent)
    call(base, "POST", "/chat/messages", {"session_id": sid, "message": "Yes, 5–8 business days, duties included."},
         agent)
    expect(widget(page).get_by_text("5–8 business days")).to_be_visible(timeout=TIMEOUT)
    return sid


def open_widget_messages(page, base, agent, **_):
    _widget_conversation(page, base, agent, "Walt Widget")


def open_widget_resolved(page, base, agent, **_):
    sid = _widget_conversation(page, base, agent, "Rosa Resolved")
    call(base, "POST", f"/chat/sessions/{sid}/resolve", {}, agent)
    expect(widget(page).get_by_text("How was this conversation?")).to_be_visible(timeout=TIMEOUT)


def light_primary(opener):
    """The same screen with a light yellow primary colour (the demo page's colour picker: the embed's
    primaryColor, as a customer would set it): the widget has to pick a dark text colour on it."""
    def open_light(page, base, agent, **_):
        page.add_init_script("window.__ccPrimary = %s;" % json.dumps(LIGHT_PRIMARY))
        opener(page, base, agent=agent)
    return open_light


def open_widget_unread(page, base, agent, **_):
    """The chat started, the panel closed, then an agent's reply: the closed widget shows it (preview)."""
    open_widget_prechat(page, base)
    box = start_widget_chat(widget(page), "Uma Unread", "uma@example.com")
    box.fill("Is the jacket waterproof?")
    box.press("Enter")
    expect(widget(page).locator(".m.v").last).to_have_attribute("data-status", re.compile("delivered|read"),
                                                                 timeout=TIMEOUT)
    sid = page.evaluate("JSON.parse(localStorage.getItem('callcenter-chat:demo-tenant')).sid")
    page.keyboard.press("Escape")
    expect(widget(page).locator(".pn")).to_be_hidden()
    call(base, "POST", f"/chat/sessions/{sid}/assign", {}, agent)
    call(base, "POST", "/chat/messages", {"session_id": sid, "message": "It is water-resistant, not waterproof."},
         agent)
    expect(widget(page).get_by_text("water-resistant").first).to_be_visible(timeout=TIMEOUT)


def open_websocket_test(page, base, **_):
    page.goto(base + "/websocket-test.html")
    page.click("text=Log in as agent")
    expect(page.locator("#log")).to_contain_text("signed in as")
    page.click("#connect")
    expect(page.locator("#live")).to_have_text("Live")


SCREENS = [
    ("login-desktop", open_login, DESKTOP),
    ("login-phone", open_login, PHONE),
    ("dashboard-conversation-desktop", open_dashboard, DESKTOP),
    ("dashboard-conversation-phone", open_dashboard, PHONE),
    ("dashboard-conversation-1024", open_dashboard, {"width": 1024, "height": 768}),
    *[(f"settings-{name}", settings_opener(name), DESKTOP)
      for name in ("profile", "team", "routing", "widget", "ai", "webhooks", "audit")],
    ("analytics-desktop", open_analytics, DESKTOP),
    ("analytics-phone", open_analytics, PHONE),
    ("settings-team-phone", settings_opener("team"), PHONE),
    ("dashboard-search-empty-desktop", open_search_empty, DESKTOP),
    ("dashboard-notifications-menu-desktop", menu_opener("#alerts-btn", "#notify-panel"), DESKTOP),
    ("dashboard-me-menu-phone", menu_opener("#me-btn", "#me-menu", conversation=False), PHONE),
    ("dashboard-conversation-de-phone", open_dashboard, PHONE),
    ("dashboard-conversation-de-desktop", open_dashboard, DESKTOP),
    ("widget-unread-desktop", open_widget_unread, DESKTOP),
    ("widget-unread-phone", open_widget_unread, PHONE),
    *[(f"widget-{state}-{size}", opener, viewport)
      for state, opener in (("closed", open_widget_closed), ("prechat", open_widget_prechat),
                            ("messages", open_widget_messages), ("resolved", open_widget_resolved))
      for size, viewport in (("desktop", DESKTOP), ("phone", PHONE))],
    ("websocket-test", open_websocket_test, DESKTOP),
    # A light primary colour a tenant may pick.
    ("widget-messages-light-primary-desktop", light_primary(open_widget_messages), DESKTOP),
    ("widget-resolved-light-primary-phone", light_primary(open_widget_resolved), PHONE),
]


@pytest.mark.parametrize("case,opener,viewport", SCREENS, ids=[s[0] for s in SCREENS])
def test_no_serious_violations(browser, server, agent, conversation, case, opener, viewport):
    context = browser.new_context(viewport=viewport, locale="de-DE" if "-de-" in case else "en-US",
                                  is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    try:
        page = context.new_page()
        try:
            opener(page, server, agent=agent)
            page.wait_for_timeout(300)  # transitions (panel opening, toasts fading in) settle
        except Exception as exc:
            FINDINGS[case] = {"error": f"{type(exc).__name__}: {exc}"}
            write_findings()
            raise
        found = run_axe(page)
        FINDINGS[case] = {"url": page.url, **found}
        write_findings()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"a11y-{case}.png"), full_page=True)
    finally:
        context.close()
    bad = [v for v in found["violations"] if v["impact"] in FAILING]
    assert not bad, f"{case}: {len(bad)} serious/critical axe violation(s)\n" + describe(bad)


def test_axe_catches_a_violation(page, server):
    """The instrument itself: a serious violation put into a real page is reported (the test would fail)."""
    page.goto(server + "/websocket-test.html")
    page.evaluate("""() => { const b = document.createElement("button"); b.id = "axe-probe";
                             document.body.append(b); }""")  # a button with no name: button-name, critical
    found = run_axe(page)
    hits = [v for v in found["violations"] if v["id"] == "button-name"]
    assert hits and hits[0]["impact"] in FAILING
    assert any("#axe-probe" in node["target"] for node in hits[0]["nodes"])
    assert json.dumps(found)  # plain data, printable in a report


def test_vendored_axe_is_the_pinned_version():
    """tests/vendor/axe.min.js is the axe-core that package.json pins (update both together: copy
    node_modules/axe-core/axe.min.js and its LICENSE after changing the pin)."""
    pinned = json.loads((AXE.parents[2] / "package.json").read_text())["devDependencies"]["axe-core"]
    header = AXE.read_text(encoding="utf-8")[:200]
    assert re.match(r"/\*! axe v(\S+)", header).group(1) == pinned
    assert (AXE.parent / "axe-core.LICENSE.txt").read_text().startswith("Mozilla Public License")
