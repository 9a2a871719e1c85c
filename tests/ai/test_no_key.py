"""Without GEMINI_API_KEY: AI off, one log line at start-up, everything else works."""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.api._support import assert_error, session_path, visitor_says
from tests.cluster import embedded_server

from .conftest import AUTO


@pytest.fixture
def config(config):
    config.gemini_api_key = None
    return config


@pytest.mark.gen_test(timeout=30)
async def test_without_a_key_the_chat_works_and_the_ai_is_off(api, tenant_factory, services, gemini):
    assert services.ai.available is False
    tenant = await tenant_factory(settings=AUTO)
    visitor = await tenant.visitor(api)
    await visitor_says(api, visitor, "Hello")
    resp = await api.get(session_path(visitor.session_id, "messages"), token=tenant.agent.token)
    assert [m["sender_type"] for m in resp.json["messages"]] == ["visitor"]
    assert_error(await api.post(session_path(visitor.session_id, "suggest"), {}, token=tenant.agent.token),
                 409, "ai_unavailable")
    settings = await api.get("/api/v1/ai/settings", token=tenant.agent.token)
    assert settings.status == 200 and settings.json["available"] is False
    assert gemini.requests == []


def test_serve_without_a_key_says_so_once(tmp_path):
    with embedded_server(tmp_path) as (url, log_path):
        body = json.dumps({"tenant_id": "demo-tenant", "channel": "web", "customer_name": "A"}).encode()
        req = urllib.request.Request(url + "/api/v1/chat/public/start", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            started = json.load(resp)
        req = urllib.request.Request(url + "/api/v1/chat/public/message", data=json.dumps(
            {"session_id": started["session_id"], "message": "hi"}).encode(), headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {started['token']}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 201
    lines = [line for line in log_path.read_text().splitlines() if "GEMINI_API_KEY" in line or "AI repl" in line]
    assert len(lines) == 1 and "AI replies are off: GEMINI_API_KEY is not set" in lines[0], lines
