"""AI tests: the real SDK, queue, store and sockets; only Gemini is fake (tests/fake_gemini.py).

`config` here is the suite's config (both backends) pointed at the fake model, with short
timeouts. `ai_worker` is what answers the jobs: inside the services on the embedded default (as
in `serve`), an AIWorker reading the Redis stream on MariaDB + Redis (what `callcenter ai-worker`
runs), in the test's own loop.
"""
from __future__ import annotations

import pytest

from callcenter.ai.worker import redis_worker
from tests.fake_gemini import FakeGemini

AI_TIMEOUT_SECS = 2.0


@pytest.fixture(scope="session")
def fake_gemini_server():
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture
def gemini(fake_gemini_server):
    """The fake model, reset for this test: default reply, no script, no recorded requests."""
    fake = fake_gemini_server
    fake.reset()
    fake.reply = "Hello from the fake model."
    fake.chunks = 3
    yield fake
    fake.release()  # no call of this test stays held


@pytest.fixture
def config(config, gemini):
    config.gemini_api_key = "test-key-not-a-secret"
    config.gemini_base_url = gemini.url
    config.ai_timeout_secs = AI_TIMEOUT_SECS
    config.ai_retry_backoff_secs = 0.05
    config.ai_reclaim_secs = 1.0
    config.ai_breaker_failures = 1000  # the breaker has its own test
    return config


@pytest.fixture
def ai_worker(services, io_loop):
    if services.ai.worker is not None:
        yield services.ai.worker
        return
    worker = redis_worker(services.redis, services.ai.responder, services.config, consumer="test-worker")
    io_loop.run_sync(worker.queue.ensure_group)
    io_loop.run_sync(worker.start)
    yield worker
    io_loop.run_sync(lambda: worker.close(drain_secs=1.0))


AUTO = {"ai_mode": "auto"}
