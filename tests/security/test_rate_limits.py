"""Rate limits, each with small configured values, on both backends (MariaDB + Redis: the counters
are in Redis, shared by every worker; the embedded default: in process). A refused call is a 429
with Retry-After and the error shape (WS sends: an error frame `rate_limited`; a frame flood: close
4029), and it changes nothing in the store."""
from __future__ import annotations

import pytest

from callcenter.config import BODY_TIMEOUT_ENV, RATE_LIMIT_ENV, Config, ConfigError
from callcenter.security import MemoryRateLimiter, RedisRateLimiter
from tests.helpers import PASSWORD

from .support import gen_test, make_world, store_snapshot, ws

LIMITS = dict(login_max_failures=3, session_starts_per_ip=6, messages_per_session=4, ws_frame_burst=5,
              ws_frames_per_sec=0.01, ws_flood_limit=20)


@pytest.fixture
def config(config):
    """The suite's config for the backend, with small limits."""
    for name, value in LIMITS.items():
        setattr(config, name, value)
    return config


def assert_429(resp) -> int:
    assert resp.status == 429, (resp.status, resp.body[:300])
    assert resp.json["error"]["code"] == "rate_limited" and resp.json["error"]["message"]
    retry_after = int(resp.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


@gen_test
async def test_limiter_is_redis_with_redis_and_in_process_without(services, backend):
    expected = RedisRateLimiter if backend == "mysql" else MemoryRateLimiter
    assert isinstance(services.limiter, expected)


@gen_test
async def test_login_failures(api, services, tenant_factory, backend):
    tenant = await tenant_factory()
    before = await store_snapshot(services.store, (tenant.id,))
    wrong = {"email": tenant.agent.email, "password": "not-the-password", "tenant_id": tenant.id}
    for _ in range(LIMITS["login_max_failures"]):
        assert (await api.post("/api/v1/auth/login", wrong)).status == 401
    assert_429(await api.post("/api/v1/auth/login", wrong))
    # While limited, even the right password waits (no oracle for a guesser).
    assert_429(await api.post("/api/v1/auth/login", {**wrong, "password": PASSWORD}))
    # Another account is not locked by this one's failures.
    ok = await api.post("/api/v1/auth/login", {"email": tenant.admin.email, "password": PASSWORD,
                                               "tenant_id": tenant.id})
    assert ok.status == 200
    assert await store_snapshot(services.store, (tenant.id,)) == before
    if backend == "mysql":
        keys = [k async for k in services.redis.scan_iter(match=services.config.redis_prefix + "rl:login:*")]
        assert keys, "the login counters live in Redis (shared by every worker)"


@gen_test
async def test_session_starts_per_ip(api, services, tenant_factory):
    tenant = await tenant_factory()
    for i in range(LIMITS["session_starts_per_ip"]):
        resp = await api.post("/api/v1/chat/public/start", {"tenant_id": tenant.id, "customer_name": f"V{i}"})
        assert resp.status == 201, resp.body
    before = await store_snapshot(services.store, (tenant.id,))
    assert_429(await api.post("/api/v1/chat/public/start", {"tenant_id": tenant.id, "customer_name": "one more"}))
    assert await store_snapshot(services.store, (tenant.id,)) == before


@gen_test
async def test_messages_per_session_rest_and_ws_share_one_budget(api, base_url, services, tenant_factory):
    tenant = await tenant_factory()
    w = await make_world(api, base_url, services, tenant_factory)  # va has sent 1 message already
    sid, token = w.va.session_id, w.va.token
    assert (await api.post("/api/v1/chat/public/message", {"session_id": sid, "message": "2"}, token=token)).status \
        == 201
    client = await ws(w, token)
    try:
        await client.send("chat.message.send", message="3", client_msg_id="c3")
        await client.next("chat.message.ack")
        await client.send("chat.message.send", message="4", client_msg_id="c4")
        await client.next("chat.message.ack")
        before = await store_snapshot(services.store, (w.a.id,))
        # The fifth, by either path, is refused and stored nowhere.
        await client.send("chat.message.send", message="5 over ws", client_msg_id="c5")
        err = await client.next("error")
        assert err["data"]["code"] == "rate_limited" and err["data"]["ref"] == "c5"
        assert_429(await api.post("/api/v1/chat/public/message", {"session_id": sid, "message": "5 over rest"},
                                  token=token))
        assert await store_snapshot(services.store, (w.a.id,)) == before
    finally:
        client.close()
    # Per sender: the agent still answers this conversation; another session is untouched.
    resp = await api.post("/api/v1/chat/messages", {"session_id": sid, "message": "agent reply"},
                          token=w.a.agent.token)
    assert resp.status == 201, resp.body
    resp = await api.post("/api/v1/chat/public/message", {"session_id": w.va2.session_id, "message": "hi"},
                          token=w.va2.token)
    assert resp.status == 201, resp.body
    # Counted in the session row, under the lock every send takes: one count for all workers.
    session = await services.store.get_session(w.a.id, sid)
    assert session["visitor_window_count"] == LIMITS["messages_per_session"]
    assert session["agent_window_count"] == 1


@gen_test
async def test_agent_messages_per_session(api, base_url, services, tenant_factory):
    w = await make_world(api, base_url, services, tenant_factory)
    for i in range(LIMITS["messages_per_session"]):
        resp = await api.post("/api/v1/chat/messages", {"session_id": w.va.session_id, "message": f"a{i}"},
                              token=w.a.agent.token)
        assert resp.status == 201, resp.body
    before = await store_snapshot(services.store, (w.a.id,))
    assert_429(await api.post("/api/v1/chat/messages", {"session_id": w.va.session_id, "message": "over"},
                              token=w.a.agent.token))
    assert await store_snapshot(services.store, (w.a.id,)) == before


@gen_test
async def test_frames_per_socket(api, base_url, services, tenant_factory):
    w = await make_world(api, base_url, services, tenant_factory)
    client = await ws(w, w.a.agent.token)
    try:
        room = LIMITS["ws_frame_burst"] - 1  # the auth frame took one
        for i in range(room + 1):
            await client.send("ping", t=i)
        pongs = [await client.next("pong") for _ in range(room)]
        assert [p["data"]["t"] for p in pongs] == list(range(room))
        err = await client.next("error")
        assert err["data"]["code"] == "rate_limited"
        assert not [f for f in await client.quiet(0.3) if f["type"] == "pong"], "the refused frame was dropped"
    finally:
        client.close()
    # Far past the bucket: disconnected with 4029, nothing stored.
    flooder = await ws(w, w.va.token)
    before = await store_snapshot(services.store, (w.a.id,))
    for i in range(LIMITS["ws_frame_burst"] + LIMITS["ws_flood_limit"] + 10):
        try:
            await flooder.send("chat.typing", is_typing=bool(i % 2))
        except Exception:  # noqa: BLE001 - closed by the server mid-flood
            break
    assert await flooder.closed() == 4029
    flooder.close()
    assert await store_snapshot(services.store, (w.a.id,)) == before


def test_every_limit_is_configurable_from_the_environment(monkeypatch):
    values = {"login_max_failures": "7", "login_window_secs": "120", "session_starts_per_ip": "9",
              "session_start_window_secs": "30", "messages_per_session": "50", "message_window_secs": "15",
              "ws_frames_per_sec": "2.5", "ws_frame_burst": "11", "ws_flood_limit": "40", "uploads_per_window": "5",
              "upload_window_secs": "60", "max_concurrent_uploads_per_ip": "3"}
    assert set(values) == set(RATE_LIMIT_ENV)
    for field, env in RATE_LIMIT_ENV.items():
        monkeypatch.setenv(env, values[field])
    cfg = Config.from_env()
    for field, raw in values.items():
        assert getattr(cfg, field) == type(getattr(Config, field))(raw), field
    for bad in ("0", "-1", "lots"):
        monkeypatch.setenv("CALLCENTER_MESSAGES_PER_SESSION", bad)
        with pytest.raises(ConfigError, match="CALLCENTER_MESSAGES_PER_SESSION"):
            Config.from_env()


def test_every_limit_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for env in [*RATE_LIMIT_ENV.values(), *BODY_TIMEOUT_ENV.values(), "CALLCENTER_TRUSTED_PROXIES",
                "CALLCENTER_LOG_LEVEL"]:
        assert f"`{env}`" in readme, env
