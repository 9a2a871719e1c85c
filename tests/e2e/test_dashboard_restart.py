"""The dashboard through a cut socket and a server restart: the Live indicator goes amber,
then green again by itself, and everything sent meanwhile appears exactly once, without a reload;
red while the browser is offline.

The browser reaches the server through a TCP proxy of the test's own, so the test decides when
the agent's link is down; the server is a `callcenter serve` process of the test's own (fixed
data dir and port), stopped with SIGTERM by its PID and started again on the same port.
"""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.dashboard_support import ServerProcess, ThreadedProxy, Visitor, messages, row

RECONNECT_TIMEOUT_MS = 20_000  # backoff grows while the link is down; it never needs a reload


def seqs_shown(page) -> list[int]:
    return [int(s) for s in page.locator("#msg-list .msg").evaluate_all("els => els.map(e => e.dataset.seq)")]


def test_socket_cut_and_server_restart_lose_nothing(tmp_path, open_chat):
    server = ServerProcess(tmp_path / "data", tmp_path / "serve.log")
    server.start()
    proxy = ThreadedProxy(server.port)
    proxy.up()
    try:
        # The visitor reaches the server directly, the agent's browser through the proxy.
        chat = open_chat(server.url, "Rita Restart", "My order is late", email="rita@example.com",
                         agent_base=proxy.url)
        rita, page, errors, context = chat.visitor, chat.page, chat.errors, chat.context
        live = page.locator("#live")
        page.click("#act-assign")
        expect(messages(page, "Alex Morgan joined the conversation")).to_have_count(1)

        # 1. The agent's link is cut: amber, with the time to the next try.
        proxy.down()
        expect(live).to_have_attribute("data-state", re.compile(r"^(reconnecting|offline)$"))
        expect(page.locator("#live-label")).to_have_text(re.compile(r"^(Reconnecting|Offline)"))
        expect(page.locator("#live-label")).to_have_text(re.compile(r"retry in \d+s"))

        # 2. Meanwhile the server restarts, the visitor keeps writing, a new chat starts,
        #    and the agent replies (queued: nothing reaches the server yet).
        server.stop()
        server.start()
        rita.send("missed one")
        rita.send("missed two")
        Visitor(server.url, name="Nadia New", email="nadia@example.com").send("Anyone?")
        box = page.locator("#composer-input")
        box.fill("Sorry, we had a hiccup")
        box.press("Enter")
        expect(page.locator("#pending-list .msg")).to_contain_text("Sorry, we had a hiccup")
        expect(page.locator("#pending-list .pending-state")).to_have_text("Waiting for connection…")
        expect(live).not_to_have_attribute("data-state", "live")

        # 3. The link heals: green by itself; everything missed appears once, in order.
        proxy.up()
        expect(live).to_have_attribute("data-state", "live", timeout=RECONNECT_TIMEOUT_MS)
        expect(live).to_have_text("Live")
        for text in ("missed one", "missed two", "Sorry, we had a hiccup"):
            expect(messages(page, text)).to_have_count(1)
        expect(page.locator("#pending-list .msg")).to_have_count(0)
        seqs = seqs_shown(page)
        assert seqs == list(range(1, len(seqs) + 1)), seqs
        # The list caught up too: the new chat, Rita's latest message on top.
        expect(row(page, "Nadia New")).to_have_count(1)
        expect(row(page, "Rita Restart").locator(".row-preview")).to_have_text("Agent: Sorry, we had a hiccup")
        # The queued reply was stored once and the visitor has it.
        rita.wait_for_message("Sorry, we had a hiccup")
        assert [m["body"] for m in rita.messages()].count("Sorry, we had a hiccup") == 1

        # 4. A restart with the link up: the server closes sockets with 1012; amber, then green.
        server.stop()
        expect(live).not_to_have_attribute("data-state", "live")
        server.start()
        expect(live).to_have_attribute("data-state", "live", timeout=RECONNECT_TIMEOUT_MS)
        rita.send("after the restart")
        expect(messages(page, "after the restart")).to_have_count(1)
        seqs = seqs_shown(page)
        assert seqs == list(range(1, len(seqs) + 1)), seqs

        # 5. The browser loses its network: red "Offline" at once; back online, green again.
        context.set_offline(True)
        expect(live).to_have_attribute("data-state", "offline")
        expect(page.locator("#live-label")).to_have_text(re.compile(r"^Offline"))
        context.set_offline(False)
        expect(live).to_have_attribute("data-state", "live", timeout=RECONNECT_TIMEOUT_MS)
        assert not errors
    finally:
        proxy.close()
        server.stop()
