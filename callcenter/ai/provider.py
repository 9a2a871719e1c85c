"""The model: google-genai's async client, with a deadline, retries and a circuit breaker.

One call = one answer's whole budget (`timeout_secs`): attempts on 429 / 5xx / connection errors
with exponential backoff (and jitter) until the budget or the attempts run out. A hanging call is
cut at the deadline (asyncio cancels the HTTP request). After `breaker_failures` failed answers in
a row the breaker opens: calls fail at once for `breaker_cooldown_secs`, then one is let through
to probe. The SDK's own retries stay off (its default): these are the only ones.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from typing import Awaitable, Callable

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

log = logging.getLogger("callcenter.ai")

try:  # the SDK's HTTP transport (httpx2, or httpx in other installs): its connection errors are transient
    import httpx2 as _httpx
except ImportError:  # pragma: no cover - depends on the SDK's install
    import httpx as _httpx  # type: ignore[no-redef]

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, _httpx.TransportError)
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
MAX_OUTPUT_TOKENS = 1024


class ModelError(Exception):
    """No usable answer from the model (after the retries); `reason` says why, for logs and metrics."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclasses.dataclass
class ModelReply:
    text: str
    prompt_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_secs: float):
        self.threshold = max(1, failures)
        self.cooldown_secs = cooldown_secs
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if time.monotonic() - self.opened_at >= self.cooldown_secs:
            self.opened_at = time.monotonic()  # half-open: this call probes, the others keep failing fast
            return True
        return False

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def success(self) -> None:
        if self.opened_at is not None:
            log.info("ai: model answers again; circuit closed")
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold and self.opened_at is None:
            log.warning("ai: %d failed answers in a row; circuit open for %.0fs", self.failures, self.cooldown_secs)
            self.opened_at = time.monotonic()


PartialCallback = Callable[[str], Awaitable[None]]


class GeminiProvider:
    def __init__(self, api_key: str, model: str, *, base_url: str | None, timeout_secs: float, max_attempts: int,
                 backoff_secs: float, breaker: CircuitBreaker):
        self.model = model
        self.timeout_secs = timeout_secs
        self.max_attempts = max(1, max_attempts)
        self.backoff_secs = backoff_secs
        self.breaker = breaker
        options = types.HttpOptions(timeout=int(timeout_secs * 1000) + 1000)
        if base_url:
            options.base_url = base_url
        self.client = genai.Client(api_key=api_key, http_options=options)

    async def close(self) -> None:
        try:
            await self.client.aio.aclose()
        except (AttributeError, RuntimeError, *TRANSPORT_ERRORS):
            pass

    async def generate(self, system: str, contents: list[types.Content], *, on_partial: PartialCallback | None = None,
                       max_output_tokens: int = MAX_OUTPUT_TOKENS) -> ModelReply:
        """One answer. `on_partial` (the text so far) makes it a streaming call."""
        if not self.breaker.allow():
            raise ModelError("circuit_open", "the model failed repeatedly; not calling it for a while")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_secs
        config = types.GenerateContentConfig(system_instruction=system, max_output_tokens=max_output_tokens,
                                             temperature=0.3)
        last = "no attempt"
        for attempt in range(self.max_attempts):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                call = self._stream(contents, config, on_partial) if on_partial else self._once(contents, config)
                reply = await asyncio.wait_for(call, remaining)
            except asyncio.TimeoutError:
                last = f"no answer within {self.timeout_secs:g}s"
                break  # the budget is spent: no retry
            except genai_errors.APIError as exc:
                last = f"HTTP {exc.code}"
                if exc.code not in RETRYABLE_STATUS:
                    break
            except TRANSPORT_ERRORS as exc:
                last = f"connection: {type(exc).__name__}"
            else:
                self.breaker.success()
                return reply
            if attempt + 1 < self.max_attempts:
                delay = self.backoff_secs * (2 ** attempt) * random.uniform(0.8, 1.2)
                if loop.time() + delay >= deadline:
                    break
                log.info("ai: model call failed (%s); retry %d in %.2fs", last, attempt + 1, delay)
                await asyncio.sleep(delay)
        self.breaker.failure()
        raise ModelError("model_failed", last)

    async def _once(self, contents, config) -> ModelReply:
        resp = await self.client.aio.models.generate_content(model=self.model, contents=contents, config=config)
        return _reply(resp.text or "", resp.usage_metadata)

    async def _stream(self, contents, config, on_partial: PartialCallback) -> ModelReply:
        text, usage = "", None
        async for chunk in await self.client.aio.models.generate_content_stream(model=self.model, contents=contents,
                                                                                 config=config):
            if chunk.usage_metadata is not None:
                usage = chunk.usage_metadata
            piece = chunk.text or ""
            if piece:
                text += piece
                await on_partial(text)
        return _reply(text, usage)


def _reply(text: str, usage) -> ModelReply:
    if usage is None:
        return ModelReply(text)
    prompt = usage.prompt_token_count or 0
    output = usage.candidates_token_count or 0
    return ModelReply(text, prompt, output, usage.total_token_count or prompt + output)
