"""Passwords, tokens and keys never reach a log record, at DEBUG, on any path: sign-in (right, wrong,
rate limited), sends over REST and WS, WS auth (good, forged, expired, revoked), tokens in URLs, a
password change and a deactivation. Every logger at DEBUG except the database drivers' statement
traces, which the CLI keeps at WARNING (as production runs with CALLCENTER_LOG_LEVEL=DEBUG)."""
from __future__ import annotations

import logging

import pytest

from tests.helpers import PASSWORD

from .support import alg_none, expired, gen_test, make_world, resigned, ws

GEMINI_KEY = "AIzaSy-test-gemini-key-DoNotLog-0123456789"
NEW_PASSWORD = "Brand-N3w-Secret!"
WRONG_PASSWORD = "Wr0ng-Guess-DoNotLog"


@pytest.fixture
def config(config):
    config.gemini_api_key = GEMINI_KEY
    config.gemini_base_url = "http://127.0.0.1:9/"  # nothing listens: no call may leave the machine
    config.login_max_failures = 2
    return config


def capture(caplog) -> None:
    for noisy in ("aiosqlite", "alembic"):  # as callcenter.cli._configure_logging does
        caplog.set_level(logging.WARNING, logger=noisy)
    caplog.set_level(logging.DEBUG)  # last: it also sets the capture handler's own level
    caplog.clear()


def everything(caplog) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(f"{formatter.format(r)} args={r.args!r} fields={vars(r)!r}" for r in caplog.records)


@gen_test
async def test_no_secret_in_any_log_record(api, base_url, services, tenant_factory, caplog):
    w = await make_world(api, base_url, services, tenant_factory)
    capture(caplog)
    secrets = {"the password": PASSWORD, "the new password": NEW_PASSWORD, "a wrong password": WRONG_PASSWORD,
               "the secret key": services.config.secret_key, "GEMINI_API_KEY": GEMINI_KEY}

    def token(name: str, value: str) -> str:
        secrets[name] = value
        secrets[name + " (signature)"] = value.rsplit(".", 1)[-1] or value
        return value

    # Sign-in: right, wrong, then rate limited.
    login = {"email": w.a.agent.email, "password": PASSWORD, "tenant_id": w.a.id}
    good = await api.post("/api/v1/auth/login", login)
    assert good.status == 200
    agent_token = token("the agent token", good.json["token"])
    for _ in range(3):
        await api.post("/api/v1/auth/login", {**login, "password": WRONG_PASSWORD})
    assert (await api.post("/api/v1/auth/login", {**login, "password": WRONG_PASSWORD})).status == 429
    assert (await api.post("/api/v1/auth/login", raw='{"email": 1, "password": "%s"' % WRONG_PASSWORD)).status == 400

    # Sends over REST and WS, with the visitor's and the agent's tokens.
    visitor_token = token("the visitor token", w.va.token)
    token("the other visitor token", w.va2.token)
    admin_token = token("the admin token", w.a.admin.token)
    assert (await api.post("/api/v1/chat/public/message", {"session_id": w.va.session_id, "message": "hi"},
                           token=visitor_token)).status == 201
    assert (await api.post("/api/v1/chat/messages", {"session_id": w.va.session_id, "message": "hello"},
                           token=agent_token)).status == 201
    vsock = await ws(w, visitor_token)
    await vsock.send("chat.message.send", message="over ws", client_msg_id="s1")
    await vsock.next("chat.message.ack")
    agent_sock = await ws(w, agent_token)
    await agent_sock.send("chat.message.send", session_id=w.va.session_id, message="agent ws", client_msg_id="s2")
    await agent_sock.next("chat.message.ack")

    # Bad tokens, REST and WS: forged, expired, wrong key, in URLs, on another session.
    forged = [token("an alg-none token", alg_none(agent_token)),
              token("a wrong-key token", resigned(agent_token, "wrong-key-" * 4)),
              token("an expired token", expired(visitor_token, services.config.secret_key))]
    for bad in forged:
        assert (await api.get("/api/v1/auth/me", token=bad)).status == 401
        sock = await ws(w, bad, expect_ok=False)
        assert await sock.closed() == 4001
        sock.close()
    assert (await api.get(f"/api/v1/chat/sessions?token={agent_token}")).status == 400
    assert (await api.get(f"/ws?access_token={visitor_token}")).status == 400
    assert (await api.get(f"/api/v1/chat/public/session/{w.va2.session_id}", token=visitor_token)).status == 404

    # Password change (old and new password in the body), the old token revoked on the open socket.
    changed = await api.post("/api/v1/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                             token=agent_token)
    assert changed.status == 200
    token("the token after the password change", changed.json["token"])
    assert await agent_sock.closed() == 4010
    assert (await api.post("/api/v1/auth/password", {"current_password": WRONG_PASSWORD,
                                                     "new_password": NEW_PASSWORD},
                           token=changed.json["token"])).status == 401
    # Deactivation by the admin.
    assert (await api.post(f"/api/v1/agents/{w.a.agent.id}/deactivate", {}, token=admin_token)).status == 200
    vsock.close()

    logged = everything(caplog)
    assert "callcenter.access" in logged, "the capture saw the requests"
    assert all(logging.getLogger(name).isEnabledFor(logging.DEBUG) for name in ("callcenter", "tornado", "redis"))
    leaked = sorted(name for name, value in secrets.items() if value and value in logged)
    assert not leaked, f"found in the logs: {leaked}"
