"""The reference quick start, call by call, on both backends."""
import pytest

from callcenter.demo import DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_TENANT_ID


@pytest.mark.gen_test(timeout=8)
async def test_quick_start_flow(api, demo):
    login = await api.post("/api/v1/auth/login", {"email": DEMO_AGENT_EMAIL, "password": DEMO_AGENT_PASSWORD,
                                                  "tenant_id": DEMO_TENANT_ID})
    assert login.status == 200, login.body
    agent_token = login.json["token"]
    assert login.json["agent"]["email"] == DEMO_AGENT_EMAIL

    start = await api.post("/api/v1/chat/public/start", {"tenant_id": DEMO_TENANT_ID, "channel": "web",
                                                         "customer_name": "Ann", "customer_email": "ann@example.com"})
    assert start.status == 201
    sid, vtoken = start.json["session_id"], start.json["token"]

    sent = await api.post("/api/v1/chat/public/message", {"session_id": sid, "message": "Where is my order?"},
                          token=vtoken)
    assert sent.status == 201 and sent.json["message"]["seq"] == 1

    listed = await api.get("/api/v1/chat/sessions?status=open", token=agent_token)
    assert sid in [s["id"] for s in listed.json["sessions"]]

    assigned = await api.post(f"/api/v1/chat/sessions/{sid}/assign", {"agent_id": login.json["agent"]["id"]},
                              token=agent_token)
    assert assigned.status == 200 and assigned.json["session"]["status"] == "assigned"

    reply = await api.post("/api/v1/chat/messages", {"session_id": sid, "message": "It ships today."},
                           token=agent_token)
    assert reply.status == 201

    history = await api.get(f"/api/v1/chat/public/session/{sid}", token=vtoken)
    bodies = [m["body"] for m in history.json["messages"]]
    assert bodies[0] == "Where is my order?" and bodies[-1] == "It ships today."
    assert [m["seq"] for m in history.json["messages"]] == list(range(1, len(bodies) + 1))
    assert history.json["agent"]["name"]
