"""Small helpers shared by the API test modules (assertions on the error shape, message sending)."""
from __future__ import annotations

import pytest

from ..helpers import Response

# A generous upper bound so a hung request fails the test instead of the run; never a timing assertion.
gen_test = pytest.mark.gen_test(timeout=60)

LOGIN = "/api/v1/auth/login"
START = "/api/v1/chat/public/start"
PUBLIC_MESSAGE = "/api/v1/chat/public/message"
AGENT_MESSAGE = "/api/v1/chat/messages"
SESSIONS = "/api/v1/chat/sessions"


def public_session(sid: str) -> str:
    return f"/api/v1/chat/public/session/{sid}"


def session_path(sid: str, action: str = "") -> str:
    return f"/api/v1/chat/sessions/{sid}" + (f"/{action}" if action else "")


def assert_error(resp: Response, status: int, code: str | None = None) -> dict:
    """The response is `status` with exactly {"error": {"code", "message"}} (and `code` when given)."""
    assert resp.status == status, (resp.status, resp.body[:500])
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message"}, err
    assert isinstance(err["code"], str) and err["code"], err
    assert isinstance(err["message"], str) and err["message"], err
    if code is not None:
        assert err["code"] == code, err
    return err


def assert_client_error(resp: Response, code: str | None = None) -> dict:
    """Any 4xx with the error shape."""
    assert 400 <= resp.status < 500, (resp.status, resp.body[:500])
    return assert_error(resp, resp.status, code)


async def visitor_says(api, visitor, text: str, **extra) -> dict:
    resp = await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "message": text, **extra},
                          token=visitor.token)
    assert resp.status in (200, 201), resp.body
    return resp.json["message"]


async def agent_says(api, agent, session_id: str, text: str, **extra) -> dict:
    resp = await api.post(AGENT_MESSAGE, {"session_id": session_id, "message": text, **extra}, token=agent.token)
    assert resp.status in (200, 201), resp.body
    return resp.json["message"]


async def all_messages(api, agent, session_id: str) -> list[dict]:
    resp = await api.get(session_path(session_id, "messages") + "?limit=500", token=agent.token)
    assert resp.status == 200, resp.body
    return resp.json["messages"]


async def get_session(api, agent, session_id: str) -> dict:
    resp = await api.get(session_path(session_id), token=agent.token)
    assert resp.status == 200, resp.body
    return resp.json["session"]

