"""Presence (agents online/away/offline, visitors online/offline) and /metrics, on both backends."""
import pytest

from tests.wsclient import WsClient


async def presence_of(ws: WsClient, agent_id: int) -> str:
    while True:
        frame = await ws.next("chat.agent.presence")
        if frame["data"]["agent_id"] == agent_id:
            return frame["data"]["status"]


@pytest.mark.gen_test(timeout=20)
async def test_agent_and_visitor_presence(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    admin = await WsClient.connect(base_url, tenant.admin.token)
    agent = await WsClient.connect(base_url, tenant.agent.token)
    assert await presence_of(admin, tenant.agent.id) == "online"
    await agent.send("presence.set", status="away")
    assert await presence_of(admin, tenant.agent.id) == "away"
    # A second socket of the same agent being online makes the agent online again.
    second = await WsClient.connect(base_url, tenant.agent.token)
    assert await presence_of(admin, tenant.agent.id) == "online"
    second.close()
    assert await presence_of(admin, tenant.agent.id) == "away"
    agent.close()
    assert await presence_of(admin, tenant.agent.id) == "offline"

    visitor = await tenant.visitor(api)
    vws = await WsClient.connect(base_url, visitor.token)
    seen = await admin.next("chat.visitor.presence")
    assert seen["data"] == {"session_id": visitor.session_id, "online": True}
    vws.close()
    assert (await admin.next("chat.visitor.presence"))["data"]["online"] is False
    # Visitors never hear about agents' presence.
    v2 = await WsClient.connect(base_url, visitor.token)
    late = await WsClient.connect(base_url, tenant.agent.token)
    assert not [f for f in await v2.quiet(0.3) if f["type"] == "chat.agent.presence"]
    for ws in (admin, v2, late):
        ws.close()


@pytest.mark.gen_test(timeout=20)
async def test_metrics_report_sockets_messages_and_latency(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    agent = await WsClient.connect(base_url, tenant.agent.token)
    visitor = await tenant.visitor(api)
    vws = await WsClient.connect(base_url, visitor.token)
    await vws.send("chat.message.send", message="count me", client_msg_id="m1")
    await agent.next("chat.message.new")
    text = (await api.get("/metrics")).body.decode()
    for needle in ('callcenter_sockets_open{kind="agent"} 1.0', 'callcenter_sockets_open{kind="visitor"} 1.0',
                   'callcenter_messages_stored_total{sender_type="visitor"} 1.0',
                   "callcenter_frames_delivered_total", "callcenter_delivery_latency_seconds_count",
                   "callcenter_bus_reconnects", "callcenter_http_requests_total"):
        assert needle in text, needle
    vws.close()
    agent.close()
