"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster import embedded_server
from tests.helpers import require_program

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium per test module. Not per session: Playwright's sync API keeps an asyncio
    loop marked running while it is alive, which the event-loop tests of other modules cannot share."""
    require_program(CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def live_server(tmp_path):
    """`callcenter serve` on the embedded default (SQLite, demo seeded) in a temp data dir; its base URL."""
    with embedded_server(tmp_path) as (url, _log):
        yield url


def screenshot(page, name: str) -> None:
    """Kept as a test artifact (test-artifacts/ is not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
