"""Web Push to agents' devices: subscriptions through the API, and the pushes a fake push service
(real HTTPS, decrypting with an independent implementation, checking VAPID) receives for visitor
messages, new conversations and assignments; answers 404/410 delete a device, 5xx are retried,
repeated refusals delete it. Both backends."""
from __future__ import annotations

import asyncio

import pytest

from callcenter import push as push_module

from ..fake_push import FakePushService, trusting
from ._support import assert_error, gen_test, session_path, visitor_says
from .test_attachments import uploaded, visitor_files

CONFIG = "/api/v1/push/config"
SUBSCRIPTIONS = "/api/v1/push/subscriptions"
TEST = "/api/v1/push/test"


@pytest.fixture
def config(config, fake_push):
    """The backend's config, sending pushes to the fake push service."""
    return trusting(config, fake_push)


def pushes_to(fake: FakePushService, sub: dict) -> list:
    endpoint_id = sub["endpoint"].rsplit("/", 1)[1]
    return [p for p in fake.received if p.endpoint_id == endpoint_id]


async def wait_pushes(fake: FakePushService, sub: dict, count: int, timeout: float = 15.0) -> list:
    """The pushes `sub` has received, once there are `count` (AssertionError after `timeout`)."""
    for _ in range(int(timeout / 0.05)):
        got = pushes_to(fake, sub)
        if len(got) >= count:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(pushes_to(fake, sub))} pushes to the subscription, expected {count}")


def off_curve(p256dh: str) -> str:
    """The key with one coordinate changed: (almost surely) no longer a point of the curve."""
    return p256dh[:40] + ("A" if p256dh[40] != "A" else "B") + p256dh[41:]


async def subscribe(api, agent, sub: dict, expect: int = 201) -> dict:
    resp = await api.post(SUBSCRIPTIONS, sub, token=agent.token)
    assert resp.status == expect, resp.body
    return resp.json["subscription"]


async def stored_endpoints(services, tenant_id: str) -> list[str]:
    return sorted(r["endpoint"] for r in await services.store.push_subscriptions_of(tenant_id))


@gen_test
async def test_subscribe_list_and_unsubscribe(api, tenant_factory, fake_push, services):
    tenant = await tenant_factory()
    resp = await api.get(CONFIG, token=tenant.agent.token)
    assert resp.status == 200 and resp.json == {"enabled": True, "vapid_public_key": services.push.vapid.public_key}
    assert len(resp.json["vapid_public_key"]) == 87  # 65 bytes, base64url without padding

    sub = fake_push.new_subscription()
    made = await subscribe(api, tenant.agent, sub)
    assert made["endpoint_host"] == "127.0.0.1" and made["last_success_at"] is None
    assert "endpoint" not in made and "keys" not in made  # the device's secrets never come back
    again = await subscribe(api, tenant.agent, sub, expect=200)  # every dashboard load sends it again
    assert again["id"] == made["id"]

    listed = (await api.get(SUBSCRIPTIONS, token=tenant.agent.token)).json["subscriptions"]
    assert [d["id"] for d in listed] == [made["id"]]
    # A colleague sees only their own devices.
    assert (await api.get(SUBSCRIPTIONS, token=tenant.admin.token)).json["subscriptions"] == []

    resp = await api.request("DELETE", SUBSCRIPTIONS, json_body={"endpoint": sub["endpoint"]}, token=tenant.agent.token)
    assert resp.status == 204
    assert (await api.get(SUBSCRIPTIONS, token=tenant.agent.token)).json["subscriptions"] == []
    # Gone already: still 204 (sign-out removes it without knowing whether it was stored).
    resp = await api.request("DELETE", SUBSCRIPTIONS, json_body={"endpoint": sub["endpoint"]}, token=tenant.agent.token)
    assert resp.status == 204


@gen_test
async def test_visitor_message_pushes_the_assigned_agent_once_per_cooldown(api, tenant_factory, fake_push, services):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api, name="Vera <b>Visitor</b>")
    resp = await api.post(session_path(visitor.session_id, "assign"), {}, token=tenant.agent.token)
    assert resp.status == 200, resp.body
    sub = fake_push.new_subscription()
    await subscribe(api, tenant.agent, sub)
    colleague_sub = fake_push.new_subscription()
    await subscribe(api, tenant.admin, colleague_sub)

    await visitor_says(api, visitor, "my order   never\narrived")
    [first] = await wait_pushes(fake_push, sub, 1)
    assert first.error is None and first.status == 201
    assert first.payload == {
        "v": 1, "type": "message", "tenant_id": tenant.id, "session_id": visitor.session_id,
        "title": "Vera <b>Visitor</b>", "body": "my order never arrived", "tag": f"cc-{visitor.session_id}",
        "url": f"/?session={visitor.session_id}", "sent_at_ms": first.payload["sent_at_ms"]}
    # The push service's headers: replace undelivered ones of this conversation, deliver promptly.
    assert first.headers["topic"] == visitor.session_id and first.headers["urgency"] == "high"
    assert int(first.headers["ttl"]) > 0 and first.vapid_claims["sub"] == services.config.vapid_subject

    # Within the cooldown another message does not buzz the phone again; a new conversation still does.
    await visitor_says(api, visitor, "hello??")
    await tenant.visitor(api, name="Next Customer")
    got = await wait_pushes(fake_push, sub, 2)
    assert [p.payload["type"] for p in got] == ["message", "new_conversation"]
    assert got[1].payload["body"] == "Next Customer started a chat."
    # The colleague is not assigned: no message push, only the new conversation.
    theirs = await wait_pushes(fake_push, colleague_sub, 1)
    assert [p.payload["type"] for p in theirs] == ["new_conversation"]
    # The delivery is recorded on the device.
    [device] = (await api.get(SUBSCRIPTIONS, token=tenant.agent.token)).json["subscriptions"]
    assert device["last_success_at"] is not None


@gen_test
async def test_a_message_of_files_only_is_pushed_with_their_names(api, tenant_factory, fake_push):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    assert (await api.post(session_path(visitor.session_id, "assign"), {}, token=tenant.agent.token)).status == 200
    sub = fake_push.new_subscription()
    await subscribe(api, tenant.agent, sub)
    files = [await uploaded(api, visitor_files(visitor.session_id), visitor.token, name, b"some text\n")
             for name in ("notes.txt", "order.csv")]
    await visitor_says(api, visitor, "", attachment_ids=[f["id"] for f in files])
    [push] = await wait_pushes(fake_push, sub, 1)
    assert push.payload["body"] == "📎 notes.txt 📎 order.csv"


@gen_test
async def test_agents_online_in_the_dashboard_get_no_push(api, tenant_factory, fake_push, services):
    tenant = await tenant_factory()
    online_sub, offline_sub = fake_push.new_subscription(), fake_push.new_subscription()
    await subscribe(api, tenant.agent, online_sub)
    await subscribe(api, tenant.admin, offline_sub)
    await services.hub.presence.set(tenant.id, f"a:{tenant.agent.id}", "online")
    try:
        await tenant.visitor(api, name="Walk In")
        [got] = await wait_pushes(fake_push, offline_sub, 1)
        assert got.payload["type"] == "new_conversation"
        # An assignment by a colleague goes to the target; the online agent still gets nothing.
        visitor = await tenant.visitor(api, name="Second")
        resp = await api.post(session_path(visitor.session_id, "assign"), {"agent_id": tenant.admin.id},
                              token=tenant.agent.token)
        assert resp.status == 200, resp.body
        got = await wait_pushes(fake_push, offline_sub, 3)
        # (Each push leaves on its own: the last two may arrive in either order.)
        assert sorted(p.payload["type"] for p in got) == ["assigned", "new_conversation", "new_conversation"]
        [assigned] = [p for p in got if p.payload["type"] == "assigned"]
        assert assigned.payload["body"] == "Bob Agent gave you the conversation with Second."
        assert pushes_to(fake_push, online_sub) == []
    finally:
        await services.hub.presence.set(tenant.id, f"a:{tenant.agent.id}", None)


@gen_test
async def test_push_service_answers(api, tenant_factory, fake_push, services, monkeypatch):
    monkeypatch.setattr(push_module, "PUSH_RETRY_SECS", (0.05, 0.05))
    tenant = await tenant_factory()
    resp = await api.post(TEST, {}, token=tenant.agent.token)
    assert_error(resp, 409, "no_subscriptions")

    flaky, gone, refusing = (fake_push.new_subscription() for _ in range(3))
    for sub in (flaky, gone, refusing):
        await subscribe(api, tenant.agent, sub)
    fake_push.respond(flaky, 503, 201)  # retried
    fake_push.respond(gone, 410)  # the browser unsubscribed: deleted at once
    fake_push.respond(refusing, 403)  # counted; deleted after MAX_REFUSALS in a row
    resp = await api.post(TEST, {}, token=tenant.agent.token)
    assert resp.status == 200 and resp.json == {"sent": 1, "failed": 1, "removed": 1}, resp.body
    assert [p.status for p in pushes_to(fake_push, flaky)] == [503, 201]
    assert pushes_to(fake_push, flaky)[-1].payload["type"] == "test"
    assert await stored_endpoints(services, tenant.id) == sorted([flaky["endpoint"], refusing["endpoint"]])

    for _ in range(push_module.MAX_REFUSALS - 2):
        assert (await api.post(TEST, {}, token=tenant.agent.token)).json["failed"] == 1
    assert (await api.post(TEST, {}, token=tenant.agent.token)).json == {"sent": 1, "failed": 0, "removed": 1}
    assert await stored_endpoints(services, tenant.id) == [flaky["endpoint"]]


@gen_test
async def test_bad_subscriptions_are_refused(api, tenant_factory, fake_push, services):
    tenant = await tenant_factory()
    good = fake_push.new_subscription()
    keys = good["keys"]
    cases = [
        ({**good, "endpoint": "https://fcm.googleapis.com/fcm/send/x"}, "push_service_not_allowed"),
        ({**good, "endpoint": good["endpoint"].replace("https:", "http:")}, "invalid_subscription"),
        ({**good, "endpoint": "https://user:pw@127.0.0.1/push/x"}, "invalid_subscription"),
        ({**good, "endpoint": "not a url"}, "invalid_subscription"),
        ({**good, "endpoint": "https://127.0.0.1:99999/x"}, "invalid_subscription"),
        ({**good, "keys": {**keys, "p256dh": "AAAA"}}, "invalid_subscription"),
        ({**good, "keys": {**keys, "p256dh": off_curve(keys["p256dh"])}}, "invalid_subscription"),
        ({**good, "keys": {**keys, "auth": "c2hvcnQ"}}, "invalid_subscription"),
        ({**good, "keys": {"p256dh": keys["p256dh"]}}, "invalid_input"),
        ({**good, "extra": 1}, "invalid_input"),
        ({"endpoint": good["endpoint"]}, "invalid_input"),
        ({**good, "expirationTime": "soon"}, "invalid_input"),
    ]
    for body, code in cases:
        assert_error(await api.post(SUBSCRIPTIONS, body, token=tenant.agent.token), 400, code)
    assert_error(await api.request("POST", SUBSCRIPTIONS, raw=b"{", token=tenant.agent.token), 400, "invalid_json")
    assert_error(await api.request("DELETE", SUBSCRIPTIONS, json_body={}, token=tenant.agent.token), 400)
    assert_error(await api.post(SUBSCRIPTIONS, good), 401)
    assert_error(await api.get(CONFIG), 401)
    assert await stored_endpoints(services, tenant.id) == []


@gen_test
async def test_devices_belong_to_one_agent_of_one_tenant(api, tenant_factory, fake_push, services):
    mine, theirs = await tenant_factory(), await tenant_factory()
    sub = fake_push.new_subscription()
    await subscribe(api, mine.agent, sub)
    # Another tenant's agent cannot remove it, and their conversations never reach it.
    resp = await api.request("DELETE", SUBSCRIPTIONS, json_body={"endpoint": sub["endpoint"]}, token=theirs.agent.token)
    assert resp.status == 204
    assert await stored_endpoints(services, mine.id) == [sub["endpoint"]]
    other_sub = fake_push.new_subscription()
    await subscribe(api, theirs.agent, other_sub)
    await theirs.visitor(api, name="Their Customer")
    await wait_pushes(fake_push, other_sub, 1)
    # Someone who learnt the endpoint but not the browser's keys cannot take the device over: 409,
    # and it stays the owner's, keys and all (it moved to the poster before: pushes were lost to the owner).
    imposter = {**sub, "keys": fake_push.new_subscription()["keys"]}
    for taker in (theirs.agent, mine.admin):
        assert_error(await api.post(SUBSCRIPTIONS, imposter, token=taker.token), 409, "subscription_taken")
    [row] = await services.store.push_subscriptions_of(mine.id)
    assert (row["agent_id"], row["p256dh"], row["auth"]) == (mine.agent.id, sub["keys"]["p256dh"], sub["keys"]["auth"])
    # Signing in as someone else on the same browser (the same keys) moves the device to them.
    moved = await subscribe(api, theirs.admin, sub, expect=201)
    assert await stored_endpoints(services, mine.id) == []
    assert [d["id"] for d in (await api.get(SUBSCRIPTIONS, token=theirs.admin.token)).json["subscriptions"]] == \
        [moved["id"]]
    assert pushes_to(fake_push, sub) == []
    # A deactivated agent's devices get nothing.
    await services.store.update_agent(theirs.id, theirs.admin.id, active=False)
    assert [r["agent_id"] for r in await services.store.push_subscriptions_of(theirs.id)] == [theirs.agent.id]


@gen_test
async def test_devices_per_agent_are_capped(api, tenant_factory, fake_push, services, monkeypatch):
    monkeypatch.setattr(push_module, "MAX_DEVICES_PER_AGENT", 2)
    tenant = await tenant_factory()
    subs = [fake_push.new_subscription() for _ in range(3)]
    for sub in subs:
        await subscribe(api, tenant.agent, sub)
    # The oldest goes.
    assert await stored_endpoints(services, tenant.id) == sorted(s["endpoint"] for s in subs[1:])
