"""The SMTP server the e-mail tests send to (aiosmtpd, on a port of its own, restartable on that port),
and small helpers to read what it got."""
from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.harness import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return body.get_content()


class SmtpSink:
    """An SMTP server in a thread of its own (aiosmtpd's Controller) that keeps every message it accepts.
    `stop()` and `start()` again take it down and bring it back on the same port (an outage)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler hook
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def start(self) -> "SmtpSink":
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if address.lower() in (a.lower() for a in r.rcpt_tos)]


async def wait_for(predicate, timeout: float = 20.0, what: str = "the condition"):
    """Poll `predicate()` (sync or async) until it is truthy; its value. AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def link_in(text: str, pattern: str) -> str:
    """The first URL in `text` matching `pattern`."""
    found = re.search(r"https?://\S*" + pattern + r"\S*", text)
    assert found, f"no link matching {pattern!r} in:\n{text}"
    return found.group(0)
