"""Routing and availability (issue 26) on both backends, one worker: auto-assignment by capacity, the
queue and its positions, capacity changes, business hours at the start, the team view.
(Two workers deciding at once: tests/realtime/test_routing_cluster.py.)"""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from callcenter import events, routing as routing_module

from ..helpers import snapshot
from ..wsclient import WsClient
from ._support import START, assert_error, gen_test, public_session, session_path

TENANT = "/api/v1/tenant"
ROUTING = "/api/v1/routing"


@pytest.fixture(autouse=True)
def quick_notify(monkeypatch):
    monkeypatch.setattr(routing_module, "ROUTING_NOTIFY_INTERVAL_SECS", 0.05)
    monkeypatch.setattr(routing_module, "ROUTING_SWEEP_INTERVAL_SECS", 0.2)


async def auto_tenant(api, tenant_factory, **settings):
    tenant = await tenant_factory()
    resp = await api.patch(TENANT, {"routing": "auto", **settings}, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    return tenant


async def session_of(api, visitor) -> dict:
    resp = await api.get(public_session(visitor.session_id), token=visitor.token)
    assert resp.status == 200, resp.body
    return resp.json


async def assigned_to(api, visitor) -> int | None:
    return (await session_of(api, visitor))["session"]["assigned_agent_id"]


async def assigned_soon(api, visitor, timeout_secs: float = 5.0) -> int | None:
    """Whom the conversation goes to, waiting up to `timeout_secs` for the assignment."""
    for _ in range(int(timeout_secs / 0.05)):
        owner = await assigned_to(api, visitor)
        if owner:
            return owner
        await asyncio.sleep(0.05)
    return await assigned_to(api, visitor)


async def online(base_url, agent) -> WsClient:
    ws = await WsClient.connect(base_url, agent.token)
    return ws


@gen_test(timeout=30)
async def test_auto_assigns_to_an_online_agent_and_tells_the_visitor(api, base_url, tenant_factory):
    tenant = await auto_tenant(api, tenant_factory)
    agent_ws = await online(base_url, tenant.agent)
    admin_ws = await online(base_url, tenant.admin)
    await admin_ws.send("presence.set", status="away")  # away: gets none
    await asyncio.sleep(0.2)
    visitor = await tenant.visitor(api)
    joined = await agent_ws.next("chat.agent.joined")
    assert joined["data"]["session_id"] == visitor.session_id
    assert joined["data"]["agent"]["id"] == tenant.agent.id
    doc = await session_of(api, visitor)
    assert doc["session"]["assigned_agent_id"] == tenant.agent.id and doc["queue"] is None
    assert doc["session"]["status"] == "assigned"
    assert [m["body"] for m in doc["messages"]] == ["Bob Agent joined the conversation"]
    # ... and what it says, for a widget or dashboard in another language.
    assert doc["messages"][0]["system"] == {"kind": "joined", "name": "Bob Agent"}
    # The team view: the load against capacity, nobody waiting.
    view = (await api.get(ROUTING, token=tenant.agent.token)).json
    loads = {a["agent_id"]: (a["status"], a["open_conversations"], a["max_conversations"]) for a in view["agents"]}
    assert loads == {tenant.agent.id: ("online", 1, 5), tenant.admin.id: ("away", 0, 5)}
    assert view["mode"] == "auto" and view["queue_length"] == 0 and view["open"] is True
    update = await agent_ws.next("chat.routing.updated")
    assert update["data"]["queue_length"] == 0
    # The widget's header: how many are online and their initials (never a name or an address).
    team = (await api.get(f"/api/v1/chat/public/tenants/{tenant.id}")).json["settings"]["team"]
    assert team["agents_online"] == 1 and [a["initials"] for a in team["avatars"]] == ["BA"]
    assert b"Bob" not in (await api.get(f"/api/v1/chat/public/tenants/{tenant.id}")).body
    for ws in (agent_ws, admin_ws):
        ws.close()


@gen_test(timeout=30)
async def test_capacity_queue_positions_and_the_next_in_line_on_resolve(api, base_url, tenant_factory):
    tenant = await auto_tenant(api, tenant_factory)
    resp = await api.patch(f"/api/v1/agents/{tenant.agent.id}", {"max_conversations": 1}, token=tenant.agent.token)
    assert resp.status == 200 and resp.json["agent"]["max_conversations"] == 1, resp.body
    agent_ws = await online(base_url, tenant.agent)
    first = await tenant.visitor(api, name="First")
    await agent_ws.next("chat.agent.joined")
    second = await tenant.visitor(api, name="Second")
    third = await tenant.visitor(api, name="Third")
    second_ws = await WsClient.connect(base_url, second.token)
    third_ws = await WsClient.connect(base_url, third.token)
    assert (await session_of(api, second))["queue"] == {"position": 1, "estimated_wait_secs": None}
    assert (await session_of(api, third))["queue"]["position"] == 2
    view = (await api.get(ROUTING, token=tenant.admin.token)).json
    assert view["queue_length"] == 2 and view["oldest_queued_at"]
    # Resolving the first gives the agent's slot to the next in line, and the third moves up.
    resp = await api.post(session_path(first.session_id, "resolve"), {}, token=tenant.agent.token)
    assert resp.status == 200, resp.body
    assigned = await second_ws.next("chat.session.assigned", timeout=5)
    assert assigned["data"]["agent"]["id"] == tenant.agent.id and assigned["data"]["by_agent_id"] is None
    moved = await third_ws.next("chat.queue.updated", timeout=5)
    while moved["data"]["queue"]["position"] != 1:
        moved = await third_ws.next("chat.queue.updated", timeout=5)
    assert moved["data"]["session_id"] == third.session_id
    assert await assigned_to(api, third) is None
    # A raised capacity takes the third at once; its visitor hears it has left the line.
    resp = await api.patch(f"/api/v1/agents/{tenant.agent.id}", {"max_conversations": 2}, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    await third_ws.next("chat.session.assigned", timeout=5)
    left = await third_ws.next("chat.queue.updated", timeout=5)
    assert left["data"] == {"session_id": third.session_id, "queue": None}
    for ws in (agent_ws, second_ws, third_ws):
        ws.close()


@gen_test(timeout=30)
async def test_least_loaded_first_then_who_waited_longest(api, base_url, tenant_factory):
    tenant = await auto_tenant(api, tenant_factory)
    colleague = await tenant_factory.add_agent(tenant, name="Cy Colleague")
    sockets = [await online(base_url, a) for a in (tenant.agent, colleague)]
    owners = []
    for n in range(4):
        visitor = await tenant.visitor(api, name=f"V{n}")
        owners.append(await assigned_soon(api, visitor))
    # Alternating: the one who has fewer, and at equal loads the one assigned longest ago.
    assert owners[0] != owners[1] and owners[2] != owners[3]
    assert sorted(owners) == sorted([tenant.agent.id, colleague.id] * 2)
    for ws in sockets:
        ws.close()


@gen_test(timeout=30)
async def test_nobody_online_or_only_away_queues_and_coming_online_assigns(api, base_url, tenant_factory):
    tenant = await auto_tenant(api, tenant_factory)
    visitor = await tenant.visitor(api)
    await asyncio.sleep(0.3)
    assert await assigned_to(api, visitor) is None
    ws = await online(base_url, tenant.agent)
    assert await assigned_soon(api, visitor) == tenant.agent.id
    ws.close()


@gen_test(timeout=30)
async def test_manual_assign_takes_one_out_of_the_line_and_switching_modes(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    early = await tenant.visitor(api, name="Early")  # manual: waits unassigned, not in line
    assert (await session_of(api, early))["queue"] is None
    resp = await api.patch(TENANT, {"routing": "auto"}, token=tenant.admin.token)
    assert resp.status == 200 and resp.json["settings"]["routing"] == "auto", resp.body
    assert (await session_of(api, early))["queue"]["position"] == 1  # switched on: joins the line
    late = await tenant.visitor(api, name="Late")
    assert (await session_of(api, late))["queue"]["position"] == 2
    resp = await api.post(session_path(early.session_id, "assign"), {"agent_id": tenant.agent.id},
                          token=tenant.admin.token)
    assert resp.status == 200, resp.body
    assert (await session_of(api, early))["queue"] is None
    assert (await session_of(api, late))["queue"]["position"] == 1
    resp = await api.patch(TENANT, {"routing": "manual"}, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    assert (await session_of(api, late))["queue"] is None
    assert (await api.get(ROUTING, token=tenant.agent.token)).json["queue_length"] == 0


@gen_test(timeout=30)
async def test_capacity_rules_and_bad_values(api, tenant_factory):
    tenant = await tenant_factory()
    colleague = await tenant_factory.add_agent(tenant)
    path = f"/api/v1/agents/{colleague.id}"
    before = await snapshot(tenant.services.store, tenant.id)
    assert_error(await api.patch(path, {"max_conversations": 3}, token=tenant.agent.token), 403)
    for bad in (0, 51, -1, "3", 2.5, None, True):
        resp = await api.patch(path, {"max_conversations": bad}, token=tenant.admin.token)
        if bad is None:
            assert resp.status == 200  # (null: no change)
            continue
        assert_error(resp, 400)
    listed = (await api.get("/api/v1/agents", token=tenant.admin.token)).json["agents"]
    assert [a["max_conversations"] for a in listed if a["id"] == colleague.id] == [5]
    assert await snapshot(tenant.services.store, tenant.id) == before
    resp = await api.patch(path, {"max_conversations": 50}, token=colleague.token)
    assert resp.status == 200 and resp.json["agent"]["max_conversations"] == 50
    for bad in ({"routing": "round-robin"}, {"queue_alert_secs": 5}, {"queue_alert_secs": 100_000},
                {"business_hours": {"timezone": "Mars/Olympus"}}, {"business_hours": {"weekly": {"mon": [["9", "5"]]}}},
                {"business_hours": {"holidays": ["2026-02-30"]}}, {"business_hours": {"nope": 1}}):
        assert_error(await api.patch(TENANT, bad, token=tenant.admin.token), 400)
    assert_error(await api.patch(TENANT, {"routing": "auto"}, token=tenant.agent.token), 403)
    settings = (await api.get(TENANT, token=tenant.admin.token)).json["settings"]
    assert settings["routing"] == "manual" and settings["queue_alert_secs"] == 300
    assert settings["business_hours"]["enabled"] is False


def closed_all_week(now: dt.datetime) -> dict:
    """Business hours on, open only on a day that is not today or tomorrow (UTC)."""
    other = (now.weekday() + 3) % 7
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[other]
    return {"enabled": True, "timezone": "UTC", "weekly": {day: [["09:00", "17:00"]]},
            "away_messages": {"en": "Back soon", "de": "Bald zurück"}}


@gen_test(timeout=30)
async def test_outside_business_hours_an_email_is_needed_and_routing_waits(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    hours = closed_all_week(dt.datetime.now(dt.timezone.utc))
    resp = await api.patch(TENANT, {"routing": "auto", "business_hours": hours}, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    bh = resp.json["settings"]["business_hours"]
    assert bh["enabled"] is True and bh["away_messages"]["de"] == "Bald zurück" and bh["away_messages"]["fr"] == ""
    info = (await api.get(f"/api/v1/chat/public/tenants/{tenant.id}")).json["settings"]["availability"]
    assert info["open"] is False and info["email_required"] is True and info["next_open_at"].endswith(":00:00.000Z")
    assert info["away_message"]["en"] == "Back soon"
    before = await snapshot(tenant.services.store, tenant.id)
    resp = await api.post(START, {"tenant_id": tenant.id, "channel": "web", "customer_name": "Nina"})
    assert_error(resp, 400, "customer_email_required")
    assert await snapshot(tenant.services.store, tenant.id) == before
    ws = await online(base_url, tenant.agent)
    visitor = await tenant.visitor(api)
    doc = await session_of(api, visitor)
    assert doc["session"]["after_hours"] is True and doc["queue"]["position"] == 1
    await asyncio.sleep(0.3)
    assert await assigned_to(api, visitor) is None  # closed: nobody is given work
    # Opening time (the hours change to "open now"): the queue is given out.
    resp = await api.patch(TENANT, {"business_hours": {"enabled": False}}, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    assert await assigned_soon(api, visitor) == tenant.agent.id
    ws.close()


@gen_test(timeout=30)
async def test_parallel_starts_never_exceed_capacity(api, base_url, tenant_factory):
    tenant = await auto_tenant(api, tenant_factory)
    await api.patch(f"/api/v1/agents/{tenant.agent.id}", {"max_conversations": 3}, token=tenant.agent.token)
    ws = await online(base_url, tenant.agent)
    visitors = await asyncio.gather(*(tenant.visitor(api, name=f"P{n}") for n in range(12)))
    await asyncio.sleep(0.5)
    owners = [await assigned_to(api, v) for v in visitors]
    assert owners.count(tenant.agent.id) == 3 and owners.count(None) == 9
    positions = sorted([(await session_of(api, v))["queue"]["position"] for v in visitors
                        if (await assigned_to(api, v)) is None])
    assert positions == list(range(1, 10))
    ws.close()


@gen_test(timeout=30)
async def test_while_the_ai_answers_a_conversation_joins_the_line_when_handed_over(api, base_url, tenant_factory,
                                                                                   monkeypatch):
    tenant = await auto_tenant(api, tenant_factory)
    services = tenant.services
    monkeypatch.setattr(services.ai, "answers_first", lambda tenant_row: True)
    ws = await online(base_url, tenant.agent)
    visitor = await tenant.visitor(api)
    await asyncio.sleep(0.3)
    doc = await session_of(api, visitor)
    assert doc["queue"] is None and doc["session"]["assigned_agent_id"] is None  # the AI's for now
    session = await services.store.set_handoff(tenant.id, visitor.session_id, "asked_for_human")
    await services.publisher.publish(events.session_handoff(session, "asked_for_human"))
    assert await assigned_soon(api, visitor) == tenant.agent.id
    ws.close()


@gen_test(timeout=30)
async def test_opening_time_across_a_daylight_saving_change_routes_the_night_s_conversations(
        api, base_url, tenant_factory, monkeypatch):
    """Berlin opens at 09:00 local. On 2026-03-29 clocks go forward at 02:00: 09:00 is 07:00 UTC that day
    (08:00 UTC the day before). At a fixed clock the conversation started at night waits, marked after
    hours, and the sweep gives it out at 07:00 UTC sharp, not an hour late."""
    tenant = await tenant_factory()
    services = tenant.services
    every_day = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    resp = await api.patch(TENANT, {"routing": "auto", "business_hours": {
        "enabled": True, "timezone": "Europe/Berlin", "weekly": every_day}}, token=tenant.admin.token)
    assert resp.status == 200, resp.body
    clock = {"now": dt.datetime(2026, 3, 29, 6, 59, 0, tzinfo=dt.timezone.utc).timestamp()}
    monkeypatch.setattr(services.routing, "clock", lambda: clock["now"])
    info = (await api.get(f"/api/v1/chat/public/tenants/{tenant.id}")).json["settings"]["availability"]
    assert info["open"] is False and info["next_open_at"] == "2026-03-29T07:00:00.000Z"
    ws = await online(base_url, tenant.agent)
    visitor = await tenant.visitor(api)
    assert (await session_of(api, visitor))["session"]["after_hours"] is True
    await asyncio.sleep(0.6)  # sweeps at 08:59 local: still closed
    assert await assigned_to(api, visitor) is None
    clock["now"] = dt.datetime(2026, 3, 29, 7, 0, 0, tzinfo=dt.timezone.utc).timestamp()
    assert await assigned_soon(api, visitor) == tenant.agent.id
    ws.close()
