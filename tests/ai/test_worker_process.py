"""Real `callcenter ai-worker` processes on MariaDB + Redis: a worker killed mid-job (kill -9 while the
model hangs) leaves the job pending; another worker takes it over and the visitor gets one answer."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.api._support import visitor_says
from tests.fake_gemini import HANG
from tests.wsclient import WsClient

from .conftest import AUTO

pytestmark = [pytest.mark.mysql_only, pytest.mark.slow]


class AIWorkerProcess:
    def __init__(self, name: str, env: dict, logdir: Path):
        self.log_path = logdir / f"ai-worker-{name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "ai-worker"], env=env,
                                         stdout=log, stderr=log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while "answering jobs" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ai-worker did not start:\n{self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


def queue_settled(redis_url: str, prefix: str) -> bool:
    """Every job acknowledged and deleted (none pending with any worker)."""
    client = redis.Redis.from_url(redis_url)
    try:
        stream = f"{prefix}ai:jobs"
        if not client.exists(stream):
            return False
        pending = client.xpending(stream, "ai-workers")["pending"]
        return pending == 0 and client.xlen(stream) == 0
    finally:
        client.close()


@pytest.fixture
def worker_env(config, gemini, redis_prefix):
    return {**os.environ, "CALLCENTER_DATABASE_URL": config.database_url, "CALLCENTER_REDIS_URL": config.redis_url,
            "CALLCENTER_REDIS_PREFIX": redis_prefix, "CALLCENTER_SECRET_KEY": config.secret_key,
            "GEMINI_API_KEY": "test-key-not-a-secret", "CALLCENTER_GEMINI_BASE_URL": gemini.url,
            "CALLCENTER_AI_RECLAIM_SECS": "1", "CALLCENTER_AI_TIMEOUT_SECS": "30", "PYTHONUNBUFFERED": "1"}


@pytest.mark.gen_test(timeout=120)
async def test_a_killed_worker_job_is_reclaimed_and_answered_exactly_once(api, base_url, tenant_factory, gemini,
                                                                           worker_env, config, tmp_path):
    loop = asyncio.get_running_loop()
    workers = []
    try:
        first = AIWorkerProcess("first", worker_env, tmp_path)
        workers.append(first)
        await loop.run_in_executor(None, first.wait_ready)

        tenant = await tenant_factory(settings=AUTO)
        visitor = await tenant.visitor(api)
        widget = await WsClient.connect(base_url, visitor.token)
        gemini.script(HANG)
        gemini.reply = "Answered by the second worker."
        asked = await visitor_says(api, visitor, "Hello, anyone?")
        await loop.run_in_executor(None, gemini.wait_requests, 1)  # the first worker is mid-job
        first.kill()

        second = AIWorkerProcess("second", worker_env, tmp_path)
        workers.append(second)
        await loop.run_in_executor(None, second.wait_ready)
        reply = None
        while reply is None:
            frame = await widget.next("chat.message.new", timeout=30)
            if frame["data"]["message"]["sender_type"] == "ai":
                reply = frame["data"]["message"]
        assert reply["body"] == "Answered by the second worker."
        assert reply["client_msg_id"] == f"ai-reply-{asked['id']}"

        deadline = loop.time() + 30
        while not await loop.run_in_executor(None, queue_settled, config.redis_url, config.redis_prefix):
            assert loop.time() < deadline, second.log()
            await asyncio.sleep(0.05)
        # The first worker's call is still held by the fake: let it go; it cannot answer any more.
        gemini.release()
        history = await api.get(f"/api/v1/chat/public/session/{visitor.session_id}", token=visitor.token)
        bodies = [(m["sender_type"], m["body"]) for m in history.json["messages"]]
        assert bodies == [("visitor", "Hello, anyone?"), ("ai", "Answered by the second worker.")]
        assert len(gemini.requests) == 2
        assert "took over 1 job" in second.log()

        # Two workers side by side: every conversation answered, each exactly once.
        third = AIWorkerProcess("third", worker_env, tmp_path)
        workers.append(third)
        await loop.run_in_executor(None, third.wait_ready)
        gemini.reply = lambda body: "Reply to: " + body["contents"][-1]["parts"][-1]["text"]
        visitors = [await tenant.visitor(api, name=f"V{i}") for i in range(6)]
        for i, v in enumerate(visitors):
            await visitor_says(api, v, f"question {i}")
        for i, v in enumerate(visitors):
            deadline = loop.time() + 30
            while True:
                history = await api.get(f"/api/v1/chat/public/session/{v.session_id}", token=v.token)
                ai = [m["body"] for m in history.json["messages"] if m["sender_type"] == "ai"]
                if ai:
                    break
                assert loop.time() < deadline, second.log() + third.log()
                await asyncio.sleep(0.05)
            assert ai == [f"Reply to: question {i}"]
        while not await loop.run_in_executor(None, queue_settled, config.redis_url, config.redis_prefix):
            await asyncio.sleep(0.05)
        for v in visitors:
            history = await api.get(f"/api/v1/chat/public/session/{v.session_id}", token=v.token)
            assert sum(m["sender_type"] == "ai" for m in history.json["messages"]) == 1
        widget.close()
        assert second.stop() == 0 and third.stop() == 0
        assert "Traceback" not in second.log() + third.log()
    finally:
        gemini.release()
        for w in workers:
            w.kill()
