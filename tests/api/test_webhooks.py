"""Signed webhooks (issue 25): the admins' routes on both backends, and deliveries to a real local HTTP
receiver (127.0.0.1, allowed by CALLCENTER_WEBHOOK_ALLOW_HOSTS): signature, exactly one delivery per
event id, retries, order per conversation, no private notes, switching off, and a worker killed mid-
delivery on MariaDB + Redis (another worker takes the delivery over)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal

import pytest
import redis
import tornado.httpserver
import tornado.web

from callcenter.app import create_services
from callcenter.config import Config
from tests.api._support import agent_says, assert_error, gen_test, session_path, visitor_says
from tests.cluster import Cluster
from tests.helpers import ApiClient, TenantFactory, free_port
from tests.wsclient import WsClient

HOOKS = "/api/v1/webhooks"
ALL_EVENTS = ["conversation.created", "message.created", "conversation.assigned", "conversation.resolved",
              "conversation.rated"]


@pytest.fixture
def config(config):
    """The suite's config, with the local receiver allowed and the timings short."""
    config.webhook_allow_hosts = ("127.0.0.1",)
    config.webhook_retry_base_secs = 0.1
    config.webhook_retry_max_secs = 0.4
    config.webhook_timeout_secs = 1.0
    config.webhook_lease_secs = 3.0
    return config


# ---- the receiver ------------------------------------------------------------------------------------

class Receiver:
    """A real HTTP server on 127.0.0.1: answers each request by the next step of `script` ("ok" once it
    is used up): "ok" 200, "500", "404", "hang" (never answers: the sender times out or dies), "reset"
    (closes the connection). `requests` is every request, `answered` those it answered with a 2xx."""

    def __init__(self):
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.answered: list[dict] = []
        self.release = asyncio.Event()
        receiver = self

        class Hook(tornado.web.RequestHandler):
            async def post(self):
                req = {"headers": dict(self.request.headers), "body": self.request.body,
                       "json": json.loads(self.request.body)}
                receiver.requests.append(req)
                step = receiver.script.pop(0) if receiver.script else "ok"
                if step == "hang":
                    await receiver.release.wait()
                    return
                if step == "reset":
                    self.request.connection.stream.close()
                    return
                if step == "ok":
                    receiver.answered.append(req)
                    self.write({"ok": True})
                else:
                    self.set_status(int(step))
                    self.write("no")

        self.port = free_port()
        self.server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/hook", Hook)]))
        self.server.listen(self.port, "127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def events(self, answered: bool = True) -> list[tuple[str, str]]:
        return [(r["json"]["event"], r["json"]["id"]) for r in (self.answered if answered else self.requests)]

    def stop(self):
        self.release.set()
        self.server.stop()


@pytest.fixture
def receiver(io_loop):
    r = Receiver()
    yield r
    r.stop()


async def until(condition, timeout: float = 20.0, what: str = "condition"):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout  # a bound for a loaded machine, not a timing assertion
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def make_hook(api, admin, url, events=ALL_EVENTS, **extra) -> tuple[dict, str]:
    resp = await api.post(HOOKS, {"url": url, "events": events, **extra}, token=admin.token)
    assert resp.status == 201, resp.body
    return resp.json["webhook"], resp.json["secret"]


# ---- routes ------------------------------------------------------------------------------------------

@gen_test
async def test_admins_manage_webhooks_and_the_secret_is_shown_once(api, tenant_factory):
    a, b = await tenant_factory(), await tenant_factory()
    hook, secret = await make_hook(api, a.admin, "https://1.1.1.1/hook", ["message.created"], active=False)
    assert secret.startswith("whsec_") and len(secret) > 30
    assert set(hook) == {"id", "url", "events", "active", "disabled_reason", "failing_since", "created_at"}
    assert hook["events"] == ["message.created"] and hook["active"] is False and hook["disabled_reason"] is None

    listed = await api.get(HOOKS, token=a.admin.token)
    assert listed.status == 200 and listed.json == {"webhooks": [hook]}
    assert secret.encode() not in listed.body
    # Agents: 403 admin_only on every route; another tenant: 404 for this one, and its own list is empty.
    path = f"{HOOKS}/{hook['id']}"
    for method, p, body in (("GET", HOOKS, None), ("POST", HOOKS, {"url": "https://1.1.1.1/", "events": ALL_EVENTS}),
                            ("PATCH", path, {"active": True}), ("DELETE", path, None),
                            ("POST", path + "/rotate-secret", {}), ("GET", path + "/deliveries", None)):
        assert_error(await api.request(method, p, json_body=body, token=a.agent.token), 403, "admin_only")
        if p != HOOKS:
            assert_error(await api.request(method, p, json_body=body, token=b.admin.token), 404, "webhook_not_found")
    assert (await api.get(HOOKS, token=b.admin.token)).json == {"webhooks": []}
    assert_error(await api.get(f"{HOOKS}/99999999/deliveries", token=a.admin.token), 404)
    assert_error(await api.get(f"{HOOKS}/nope/deliveries", token=a.admin.token), 404)

    patched = await api.patch(path, {"events": ["conversation.rated", "message.created"]}, token=a.admin.token)
    assert patched.status == 200 and patched.json["webhook"]["events"] == ["message.created", "conversation.rated"]
    assert "secret" not in patched.json and secret.encode() not in patched.body
    rotated = await api.post(path + "/rotate-secret", {}, token=a.admin.token)
    assert rotated.status == 200 and rotated.json["secret"].startswith("whsec_") and rotated.json["secret"] != secret
    deliveries = await api.get(path + "/deliveries", token=a.admin.token)
    assert deliveries.status == 200 and deliveries.json == {"deliveries": []}

    audit = await api.get("/api/v1/audit", token=a.admin.token)
    if audit.status == 200:
        actions = [e["action"] for e in audit.json["events"]]
        assert {"webhook.created", "webhook.updated", "webhook.secret_rotated"} <= set(actions), actions
        assert secret.encode() not in audit.body and rotated.json["secret"].encode() not in audit.body

    assert (await api.delete(path, token=a.admin.token)).status == 204
    assert_error(await api.delete(path, token=a.admin.token), 404)
    assert (await api.get(HOOKS, token=a.admin.token)).json == {"webhooks": []}


BAD = [
    ({"url": "https://10.0.0.1/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://169.254.169.254/latest/meta-data", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "http://example.com/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://localhost/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://[::1]/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://0.0.0.0/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://[::ffff:10.0.0.1]/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://224.0.0.1/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://user:pw@1.1.1.1/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "ftp://1.1.1.1/hook", "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://1.1.1.1/" + "a" * 2000, "events": ALL_EVENTS}, "invalid_url"),
    ({"url": "https://1.1.1.1/hook", "events": ["conversation.deleted"]}, "unknown_event"),
    ({"url": "https://1.1.1.1/hook", "events": []}, None),
    ({"url": "https://1.1.1.1/hook"}, None),
    ({"url": "https://1.1.1.1/hook", "events": ALL_EVENTS, "secret": "mine"}, None),
]


@pytest.mark.parametrize("body,code", BAD, ids=[f"{i}-{c}" for i, (_, c) in enumerate(BAD)])
@gen_test
async def test_bad_input_is_400_and_changes_nothing(api, tenant_factory, body, code):
    tenant = await tenant_factory()
    assert_error(await api.post(HOOKS, body, token=tenant.admin.token), 400, code)
    assert (await api.get(HOOKS, token=tenant.admin.token)).json == {"webhooks": []}
    hook, _ = await make_hook(api, tenant.admin, "https://1.1.1.1/hook", active=False)
    change = {k: v for k, v in body.items() if k != "secret"} | ({"secret": "x"} if "secret" in body else {})
    if "events" not in body:
        change = {"url": "https://10.0.0.1/"}
    assert_error(await api.patch(f"{HOOKS}/{hook['id']}", change, token=tenant.admin.token), 400)
    assert (await api.get(HOOKS, token=tenant.admin.token)).json == {"webhooks": [hook]}


@gen_test
async def test_at_most_twenty_webhooks_per_tenant(api, tenant_factory):
    tenant = await tenant_factory()
    # 30 creators at once: the cap holds under concurrency (exactly 20 made, the rest 409).
    results = await asyncio.gather(*(api.post(HOOKS, {"url": f"https://1.1.1.1/{i}", "events": ALL_EVENTS,
                                                      "active": False}, token=tenant.admin.token)
                                     for i in range(30)))
    assert sorted(r.status for r in results) == [201] * 20 + [409] * 10, [r.body for r in results if r.status >= 500]
    assert_error(await api.post(HOOKS, {"url": "https://1.1.1.1/x", "events": ALL_EVENTS}, token=tenant.admin.token),
                 409, "limit_reached")
    assert len((await api.get(HOOKS, token=tenant.admin.token)).json["webhooks"]) == 20


# ---- deliveries ----------------------------------------------------------------------------------------

@gen_test
async def test_deliveries_are_signed_in_order_once_each_and_never_notes(api, tenant_factory, receiver):
    tenant = await tenant_factory(settings={"csat_enabled": True})
    hook, secret = await make_hook(api, tenant.admin, receiver.url)
    # The first delivery fails twice (a 500, then the connection reset): it is retried, and the
    # conversation's later events wait behind it.
    receiver.script = ["500", "reset"]
    visitor = await tenant.visitor(api)
    await visitor_says(api, visitor, "first from the visitor")
    await (api.post(f"{session_path(visitor.session_id)}/notes", {"body": "TOP SECRET note"},
                    token=tenant.agent.token))
    await agent_says(api, tenant.agent, visitor.session_id, "hello from the agent")
    await visitor_says(api, visitor, "second from the visitor")
    assert (await api.post(session_path(visitor.session_id, "resolve"), {}, token=tenant.agent.token)).status == 200
    rated = await api.post(f"/api/v1/chat/public/session/{visitor.session_id}/rating", {"score": 5},
                           token=visitor.token)
    assert rated.status == 200, rated.body
    await until(lambda: any(e == "conversation.rated" for e, _ in receiver.events()), what="the rating's delivery")

    got = receiver.answered
    assert [r["json"]["event"] for r in got] == [
        "conversation.created", "message.created", "message.created", "message.created", "conversation.resolved",
        "conversation.rated"], [r["json"] for r in got]
    senders = [r["json"]["data"]["message"]["sender_type"] for r in got if r["json"]["event"] == "message.created"]
    # The assignment's system line is not delivered (conversation.assigned is the event for it).
    assert senders == ["visitor", "agent", "visitor"], senders
    bodies = [r["json"]["data"]["message"]["body"] for r in got if r["json"]["event"] == "message.created"]
    assert "TOP SECRET note" not in bodies and all(b"TOP SECRET" not in r["body"] for r in receiver.requests)
    seqs = [r["json"]["data"]["message"]["seq"] for r in got if r["json"]["event"] == "message.created"]
    assert seqs == sorted(seqs)

    # Three requests for the first event (500, reset, 200), one for every other; each answered once.
    first_id = got[0]["json"]["id"]
    assert [r["json"]["id"] for r in receiver.requests[:3]] == [first_id] * 3
    ids = [r["json"]["id"] for r in got]
    assert len(ids) == len(set(ids))
    for req in receiver.requests:
        h = req["headers"]
        assert h["Content-Type"] == "application/json" and h["User-Agent"] == "callcenter-webhooks"
        assert h["X-Callcenter-Event"] == req["json"]["event"]
        assert h["X-Callcenter-Delivery"] == req["json"]["id"]
        expected = "sha256=" + hmac.new(secret.encode(), req["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(h["X-Callcenter-Signature"], expected)
        assert set(req["json"]) == {"id", "event", "created_at", "tenant_id", "data"}
        assert req["json"]["tenant_id"] == tenant.id
        assert req["json"]["data"]["conversation"]["id"] == visitor.session_id
    assert got[-1]["json"]["data"]["rating"]["score"] == 5

    resp = await api.get(f"{HOOKS}/{hook['id']}/deliveries", token=tenant.admin.token)
    deliveries = resp.json["deliveries"]
    assert len(deliveries) == 6 and all(d["delivered"] and d["status_code"] == 200 for d in deliveries)
    assert deliveries[-1]["event_id"] == first_id and deliveries[-1]["attempts"] == 3
    assert [d["attempts"] for d in deliveries[:-1]] == [1] * 5
    assert all(d["next_attempt_at"] is None and d["error"] is None for d in deliveries)
    assert secret.encode() not in resp.body


@gen_test
async def test_assignment_and_a_refusing_receiver(api, tenant_factory, receiver):
    tenant = await tenant_factory()
    hook, _ = await make_hook(api, tenant.admin, receiver.url, ["conversation.assigned", "conversation.created"])
    receiver.script = ["404"]  # refused as such: recorded, never retried
    visitor = await tenant.visitor(api)
    assert (await api.post(session_path(visitor.session_id, "assign"), {}, token=tenant.agent.token)).status == 200
    await until(lambda: receiver.answered, what="the assignment's delivery")
    assert receiver.events(answered=False)[0][0] == "conversation.created"
    assigned = receiver.answered[0]["json"]
    assert assigned["event"] == "conversation.assigned" and assigned["data"]["agent"]["id"] == tenant.agent.id
    deliveries = (await api.get(f"{HOOKS}/{hook['id']}/deliveries", token=tenant.admin.token)).json["deliveries"]
    refused = next(d for d in deliveries if d["event"] == "conversation.created")
    assert refused["status_code"] == 404 and not refused["delivered"] and refused["attempts"] == 1
    assert refused["next_attempt_at"] is None and refused["error"]
    # A later delivery cleared the failing state.
    assert (await api.get(HOOKS, token=tenant.admin.token)).json["webhooks"][0]["failing_since"] is None


@gen_test
async def test_a_webhook_failing_past_the_give_up_time_is_switched_off(api, base_url, services, tenant_factory,
                                                                      receiver):
    services.config.webhook_give_up_secs = 1.0
    tenant = await tenant_factory()
    hook, _ = await make_hook(api, tenant.admin, receiver.url, ["conversation.created"])
    admin_ws = await WsClient.connect(base_url, tenant.admin.token)
    agent_ws = await WsClient.connect(base_url, tenant.agent.token)
    try:
        receiver.script = ["500"] * 1000
        await tenant.visitor(api)
        frame = await admin_ws.next("webhook.disabled", timeout=20)
        assert frame["data"]["webhook"]["id"] == hook["id"]
        assert frame["data"]["webhook"]["active"] is False
        assert frame["data"]["webhook"]["disabled_reason"] == "failing for 1 second"
        assert not [f for f in await agent_ws.quiet(0.3) if f["type"] == "webhook.disabled"], "admins only"
        listed = (await api.get(HOOKS, token=tenant.admin.token)).json["webhooks"][0]
        assert listed["active"] is False and listed["failing_since"] is not None
        deliveries = (await api.get(f"{HOOKS}/{hook['id']}/deliveries", token=tenant.admin.token)).json["deliveries"]
        assert deliveries[0]["attempts"] >= 2 and not deliveries[0]["delivered"]
        assert deliveries[0]["status_code"] == 500 and deliveries[0]["next_attempt_at"] is None
        audit = await api.get("/api/v1/audit", token=tenant.admin.token)
        if audit.status == 200:
            assert "webhook.disabled" in [e["action"] for e in audit.json["events"]]
        # Nothing is queued for a webhook that is off; switching it on clears the failing state.
        before = len(receiver.requests)
        await tenant.visitor(api)
        resp = await api.patch(f"{HOOKS}/{hook['id']}", {"active": True}, token=tenant.admin.token)
        assert resp.json["webhook"]["active"] is True and resp.json["webhook"]["disabled_reason"] is None
        assert resp.json["webhook"]["failing_since"] is None
        receiver.script = []
        await tenant.visitor(api)
        await until(lambda: receiver.answered, what="a delivery after switching on")
        assert len(receiver.requests) == before + 1
    finally:
        admin_ws.close()
        agent_ws.close()


# ---- two real workers: one killed mid-delivery ---------------------------------------------------------

def _holder_pid(redis_url: str, prefix: str) -> int | None:
    """The pid of the worker that has the pending delivery (consumer names are host:pid:id)."""
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{prefix}webhooks:*:p*"):
            if client.type(key) != b"stream":
                continue
            for consumer in client.xpending(key, "webhook-senders").get("consumers") or []:
                if consumer["pending"]:
                    return int(consumer["name"].decode().split(":")[1])
    finally:
        client.close()
    return None


@pytest.mark.mysql_only
@pytest.mark.slow
@gen_test
async def test_a_worker_killed_mid_delivery_is_taken_over(backend, mysql_database_url, redis_server_url, redis_prefix,
                                                          tmp_path, receiver):
    secret_key = "webhook-test-secret-key-0123456789abcdef"
    cluster = Cluster(database_url=mysql_database_url, redis_url=redis_server_url, redis_prefix=redis_prefix,
                      secret_key=secret_key, logdir=tmp_path, workers=2,
                      env={"CALLCENTER_WEBHOOK_ALLOW_HOSTS": "127.0.0.1", "CALLCENTER_WEBHOOK_LEASE_SECS": "2",
                           "CALLCENTER_WEBHOOK_TIMEOUT_SECS": "60", "CALLCENTER_WEBHOOK_RETRY_BASE_SECS": "0.2"})
    # In-process services only to make the tenant (never started: they deliver nothing themselves).
    svc = create_services(Config(database_url=mysql_database_url, redis_url=redis_server_url,
                                 redis_prefix=redis_prefix, secret_key=secret_key, data_dir=tmp_path))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, cluster.start)
    try:
        tenant = await TenantFactory(svc)()
        api = ApiClient(tornado.httpclient.AsyncHTTPClient(), cluster.workers[0].url)
        await make_hook(api, tenant.admin, receiver.url, ["conversation.created", "message.created"])
        receiver.script = ["hang"]
        visitor = await tenant.visitor(api)
        await until(lambda: receiver.requests, what="the first attempt")
        pid = None
        while pid is None:
            pid = await loop.run_in_executor(None, _holder_pid, redis_server_url, redis_prefix)
        victim = next(w for w in cluster.workers if w.pid == pid)
        os.kill(victim.pid, signal.SIGKILL)
        await loop.run_in_executor(None, victim.wait)
        survivor = next(w for w in cluster.workers if w is not victim)
        await visitor_says(ApiClient(api.http, survivor.url), visitor, "after the kill")
        await until(lambda: len(receiver.answered) == 2, timeout=30, what="the takeover's deliveries")
        created_id = receiver.requests[0]["json"]["id"]
        assert [r["json"]["id"] for r in receiver.answered].count(created_id) == 1
        assert [e for e, _ in receiver.events()] == ["conversation.created", "message.created"]
        assert "took over" in survivor.log()
    finally:
        await loop.run_in_executor(None, cluster.stop)
        await svc.close()


# ---- sharing the partitions -----------------------------------------------------------------------------

@gen_test
async def test_live_workers_share_the_partitions_and_hand_them_over_between_deliveries(redis_server_url,
                                                                                      redis_prefix):
    """Each live worker holds its share (ceil(16 / workers)); one holding more stops reading its surplus
    (idle partitions first) and gives each back once nothing of it is in hand; a worker that stops gives
    its share back to the others."""
    import redis.asyncio as aioredis

    from callcenter.webhook_queue import PARTITIONS, RedisWebhookQueue

    client = aioredis.Redis.from_url(redis_server_url)
    first = RedisWebhookQueue(client, redis_prefix, "first", lease_secs=30)
    second = RedisWebhookQueue(client, redis_prefix, "second", lease_secs=30)
    try:
        await first.maintain()
        assert first.held == set(range(PARTITIONS))  # alone: everything
        await second.maintain()
        assert second.held == set()  # nothing free yet
        in_hand = set(range(2, PARTITIONS))  # the first worker is delivering entries of all but two
        await first.maintain(busy=lambda n: n in in_hand)
        # The idle ones go at once; six busy ones are drained: no longer read, still held.
        assert first.held == in_hand and first.draining == set(range(10, PARTITIONS))
        await second.maintain()
        assert second.held == {0, 1}
        # Draining partitions are not read any more, and go once their deliveries are done.
        await first.maintain(busy=lambda n: n in in_hand)
        assert first.draining == set(range(10, PARTITIONS)) and first.held == in_hand
        await first.maintain()
        await second.maintain()
        assert (len(first.held), len(second.held)) == (8, 8) and not first.held & second.held
        assert first.draining == set()
        # The second worker stops cleanly: the first takes everything back at once.
        await second.close()
        await first.maintain()
        assert first.held == set(range(PARTITIONS))
    finally:
        await first.close()
        await second.close()
        await client.aclose()
