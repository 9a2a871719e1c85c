"""Search in the dashboard when one call reads only part of the conversations (a big tenant, here
CALLCENTER_SEARCH_SCAN_SESSIONS=1): the list keeps searching older conversations by itself for a
few calls, says how far back it got, and "Search older" goes on until the match shows."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server

from .conftest import screenshot
from .dashboard_support import Visitor, login


@pytest.fixture
def small_budget_server(tmp_path):
    with embedded_server(tmp_path, CALLCENTER_SEARCH_SCAN_SESSIONS="1") as (url, _log):
        yield url


def test_search_goes_back_step_by_step(page, small_budget_server):
    base = small_budget_server
    Visitor(base, name="Needle Customer", email="needle@example.com").send("the word is zanzibar")
    # Newer than the needle: eight, more than the first round reads (a call and 5 more by themselves).
    for i in range(8):
        Visitor(base, name=f"Hay {i}", email=f"hay{i}@example.com").send("nothing to see")
    login(page, base)
    page.click('[data-filter="all"]')
    names = page.locator(".conv-list .row .row-name")
    more = page.locator("#search-more")

    page.locator("#search").fill("zanzibar")
    # A few calls went by themselves, then it stops and says so (no match yet: the newest are hay).
    expect(more).to_be_visible()
    expect(more).to_contain_text("Searched conversations active since")
    expect(names).to_have_count(0)
    expect(page.locator("#list-empty")).to_contain_text("No matches yet")
    screenshot(page, "dashboard-search-older")
    page.click("#search-more-btn")
    expect(names).to_have_text(["Needle Customer"])
    # Clearing the search shows everything again, with nothing left of the partial search.
    page.locator("#search").press("Escape")
    expect(more).to_be_hidden()
    expect(names).to_have_count(14)  # 5 of the demo, 9 here
