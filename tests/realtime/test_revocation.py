"""Revoking a sign-in closes the agent's open sockets, not only future requests (both backends)."""
import pytest

from tests.helpers import PASSWORD
from tests.wsclient import WsClient


@pytest.mark.gen_test(timeout=30)
async def test_deactivation_closes_open_sockets_and_revokes_tokens(api, base_url, tenant_factory):
    tenant, other = await tenant_factory(), await tenant_factory()
    agent_ws = await WsClient.connect(base_url, tenant.agent.token)
    # Only admins, only within their tenant, never themselves.
    resp = await api.post(f"/api/v1/agents/{tenant.admin.id}/deactivate", {}, token=tenant.agent.token)
    assert resp.status == 403
    resp = await api.post(f"/api/v1/agents/{other.agent.id}/deactivate", {}, token=tenant.admin.token)
    assert resp.status == 404
    resp = await api.post(f"/api/v1/agents/{tenant.admin.id}/deactivate", {}, token=tenant.admin.token)
    assert resp.status == 409

    resp = await api.post(f"/api/v1/agents/{tenant.agent.id}/deactivate", {}, token=tenant.admin.token)
    assert resp.status == 200 and resp.json["agent"]["active"] is False
    assert await agent_ws.closed() == 4010
    assert (await api.get("/api/v1/auth/me", token=tenant.agent.token)).error_code == "token_revoked"
    again = await WsClient.connect(base_url, tenant.agent.token, expect_ok=False)
    assert await again.closed() == 4001
    # The other tenant's agent was never touched.
    assert (await api.get("/api/v1/auth/me", token=other.agent.token)).status == 200
    resp = await api.post(f"/api/v1/agents/{tenant.agent.id}/activate", {}, token=tenant.admin.token)
    assert resp.json["agent"]["active"] is True
    login = await api.post("/api/v1/auth/login", {"email": tenant.agent.email, "password": PASSWORD,
                                                  "tenant_id": tenant.id})
    assert login.status == 200


@pytest.mark.gen_test(timeout=30)
async def test_password_change_revokes_old_tokens_and_sockets(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    old_ws = await WsClient.connect(base_url, tenant.agent.token)
    wrong = await api.post("/api/v1/auth/password", {"current_password": "nope", "new_password": "N3w-Password!"},
                           token=tenant.agent.token)
    assert wrong.status == 401 and (await api.get("/api/v1/auth/me", token=tenant.agent.token)).status == 200
    short = await api.post("/api/v1/auth/password", {"current_password": PASSWORD, "new_password": "short"},
                           token=tenant.agent.token)
    assert short.status == 400
    changed = await api.post("/api/v1/auth/password", {"current_password": PASSWORD,
                             "new_password": "N3w-Password!"}, token=tenant.agent.token)
    assert changed.status == 200
    assert await old_ws.closed() == 4010
    assert (await api.get("/api/v1/auth/me", token=tenant.agent.token)).error_code == "token_revoked"
    assert (await api.get("/api/v1/auth/me", token=changed.json["token"])).status == 200
    fresh = await WsClient.connect(base_url, changed.json["token"])
    assert fresh.auth["agent"]["id"] == tenant.agent.id
    fresh.close()
