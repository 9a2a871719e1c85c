"""Agent sign-in, tokens (forged, expired, of the wrong kind, revoked) and the login rate limit."""
import time

import jwt
import pytest

from callcenter.security import RedisRateLimiter, hash_password

from ..helpers import FAST_BCRYPT_ROUNDS, PASSWORD
from ._support import LOGIN, PUBLIC_MESSAGE, START, assert_error, gen_test, public_session, session_path

ME = "/api/v1/auth/me"


def creds(agent, **over):
    return {"email": agent.email, "password": PASSWORD, "tenant_id": agent.tenant_id, **over}


# ---- login --------------------------------------------------------------------

@gen_test
async def test_login_returns_a_token_that_opens_agent_routes(api, tenant_factory):
    tenant = await tenant_factory()
    resp = await api.post(LOGIN, creds(tenant.agent))
    assert resp.status == 200, resp.body
    body = resp.json
    assert body["agent"]["id"] == tenant.agent.id
    assert body["agent"]["email"] == tenant.agent.email
    assert body["agent"]["tenant_id"] == tenant.id
    assert body["agent"]["role"] == "agent"
    assert "password_hash" not in body["agent"] and "token_version" not in body["agent"]
    assert body["expires_in"] > 0
    me = await api.get(ME, token=body["token"])
    assert me.status == 200, me.body
    assert me.json["agent"]["id"] == tenant.agent.id
    assert me.json["tenant"] == {"id": tenant.id, "name": f"Tenant {tenant.id}"}


@gen_test
async def test_login_email_is_case_and_space_insensitive(api, tenant_factory):
    tenant = await tenant_factory()
    resp = await api.post(LOGIN, creds(tenant.admin, email=f"  {tenant.admin.email.upper()} "))
    assert resp.status == 200, resp.body
    assert resp.json["agent"]["role"] == "admin"


@gen_test
async def test_me_answers_for_the_token_holder(api, tenant_factory):
    tenant = await tenant_factory()
    for agent in (tenant.admin, tenant.agent):
        me = await api.get(ME, token=agent.token)
        assert me.status == 200
        assert me.json["agent"]["id"] == agent.id and me.json["agent"]["role"] == agent.role
        assert me.json["tenant"]["id"] == tenant.id


@pytest.mark.parametrize("change", ["wrong_password", "unknown_email", "unknown_tenant", "other_tenant"])
@gen_test
async def test_bad_credentials_all_look_the_same(api, tenant_factory, change):
    tenant = await tenant_factory()
    other = await tenant_factory()
    body = {
        "wrong_password": creds(tenant.agent, password="not-the-password"),
        "unknown_email": creds(tenant.agent, email="nobody@nowhere.example"),
        "unknown_tenant": creds(tenant.agent, tenant_id="no-such-tenant-here"),
        # A real agent and password, but of another tenant.
        "other_tenant": creds(tenant.agent, tenant_id=other.id),
    }[change]
    resp = await api.post(LOGIN, body)
    err = assert_error(resp, 401, "invalid_credentials")
    assert tenant.agent.email not in err["message"]


@gen_test
async def test_deactivated_agent_cannot_sign_in(api, tenant_factory, services):
    tenant = await tenant_factory()
    await services.store.update_agent(tenant.id, tenant.agent.id, active=False)
    assert_error(await api.post(LOGIN, creds(tenant.agent)), 401, "invalid_credentials")


@gen_test
async def test_login_rate_limit_after_max_failures(api, tenant_factory, services, backend):
    tenant = await tenant_factory()
    limit = services.config.login_max_failures
    assert limit == 5
    for _ in range(limit):
        assert_error(await api.post(LOGIN, creds(tenant.agent, password="wrong")), 401, "invalid_credentials")
    # Even the right password is refused now, with a Retry-After in whole seconds.
    blocked = await api.post(LOGIN, creds(tenant.agent))
    assert_error(blocked, 429, "rate_limited")
    retry_after = blocked.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), blocked.headers
    assert 1 <= int(retry_after) <= services.config.login_window_secs
    # The limit is per account: another agent of the tenant still signs in.
    assert (await api.post(LOGIN, creds(tenant.admin))).status == 200
    if backend == "mysql":
        # Shared by every worker: the counters live in Redis under this run's prefix.
        assert isinstance(services.limiter, RedisRateLimiter)
        keys = [k async for k in services.redis.scan_iter(match=services.config.redis_prefix + "rl:login:*")]
        assert keys


@gen_test
async def test_successful_login_resets_the_failure_count(api, tenant_factory, services):
    tenant = await tenant_factory()
    limit = services.config.login_max_failures
    for _ in range(limit - 1):
        assert (await api.post(LOGIN, creds(tenant.agent, password="wrong"))).status == 401
    assert (await api.post(LOGIN, creds(tenant.agent))).status == 200
    for _ in range(limit - 1):
        assert (await api.post(LOGIN, creds(tenant.agent, password="wrong"))).status == 401
    assert (await api.post(LOGIN, creds(tenant.agent))).status == 200


# ---- tokens -------------------------------------------------------------------

def _claims_for(agent, **over):
    now = int(time.time())
    return {"typ": "agent", "sub": str(agent.id), "tid": agent.tenant_id, "ver": 1, "iat": now,
            "exp": now + 600, **over}


def _forged(kind: str, agent, secret: str, visitor_token: str) -> str:
    if kind == "alg_none":
        return jwt.encode(_claims_for(agent), None, algorithm="none")
    if kind == "wrong_key":
        return jwt.encode(_claims_for(agent), "another-secret-key-of-decent-length!!", algorithm="HS256")
    if kind == "expired":
        now = int(time.time())
        return jwt.encode(_claims_for(agent, iat=now - 7200, exp=now - 3600), secret, algorithm="HS256")
    if kind == "visitor_token":
        return visitor_token
    if kind == "wrong_typ":
        return jwt.encode(_claims_for(agent, typ="refresh"), secret, algorithm="HS256")
    if kind == "no_exp":
        claims = _claims_for(agent)
        del claims["exp"]
        return jwt.encode(claims, secret, algorithm="HS256")
    if kind == "other_tenant_claim":
        return jwt.encode(_claims_for(agent, tid="no-such-tenant"), secret, algorithm="HS256")
    if kind == "garbage":
        return "not.a.jwt"
    if kind == "tampered":
        head, payload, sig = agent.token.split(".")
        return f"{head}.{payload}.{sig[:-4]}AAAA"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["alg_none", "wrong_key", "expired", "visitor_token", "wrong_typ", "no_exp",
                                  "garbage", "tampered"])
@gen_test
async def test_bad_agent_tokens_are_refused(api, tenant_factory, services, kind):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    token = _forged(kind, tenant.agent, services.config.secret_key, visitor.token)
    for path in (ME, "/api/v1/chat/sessions", session_path(visitor.session_id)):
        assert_error(await api.get(path, token=token), 401, "invalid_token")


@gen_test
async def test_token_for_unknown_tenant_claim_is_refused(api, tenant_factory, services):
    tenant = await tenant_factory()
    token = _forged("other_tenant_claim", tenant.agent, services.config.secret_key, "")
    assert_error(await api.get(ME, token=token), 401)


@pytest.mark.parametrize("kind", ["alg_none", "wrong_key", "expired", "agent_token"])
@gen_test
async def test_bad_visitor_tokens_are_refused(api, tenant_factory, services, kind):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    claims = jwt.decode(visitor.token, options={"verify_signature": False})
    now = int(time.time())
    token = {
        "alg_none": lambda: jwt.encode(claims, None, algorithm="none"),
        "wrong_key": lambda: jwt.encode(claims, "another-secret-key-of-decent-length!!", algorithm="HS256"),
        "expired": lambda: jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600},
                                      services.config.secret_key, algorithm="HS256"),
        "agent_token": lambda: tenant.agent.token,
    }[kind]()
    assert_error(await api.get(public_session(visitor.session_id), token=token), 401, "invalid_token")
    assert_error(await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "message": "hi"}, token=token),
                 401, "invalid_token")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
@gen_test
async def test_missing_or_non_bearer_authorization(api, tenant_factory, header):
    await tenant_factory()
    resp = await api.get(ME, headers={"Authorization": header} if header else None)
    assert_error(resp, 401, "missing_token")


@pytest.mark.parametrize("change", ["password", "deactivate"])
@gen_test
async def test_old_tokens_are_revoked(api, tenant_factory, services, change):
    tenant = await tenant_factory()
    assert (await api.get(ME, token=tenant.agent.token)).status == 200
    if change == "password":
        await services.store.update_agent(tenant.id, tenant.agent.id,
                                          password_hash=hash_password("New-Password-7", rounds=FAST_BCRYPT_ROUNDS))
    else:
        await services.store.update_agent(tenant.id, tenant.agent.id, active=False)
    assert_error(await api.get(ME, token=tenant.agent.token), 401, "token_revoked")
    assert_error(await api.get("/api/v1/chat/sessions", token=tenant.agent.token), 401, "token_revoked")
    # Other agents of the tenant are unaffected.
    assert (await api.get(ME, token=tenant.admin.token)).status == 200
    if change == "password":
        fresh = await api.post(LOGIN, creds(tenant.agent, password="New-Password-7"))
        assert fresh.status == 200
        assert (await api.get(ME, token=fresh.json["token"])).status == 200
        assert_error(await api.post(LOGIN, creds(tenant.agent)), 401, "invalid_credentials")


@pytest.mark.parametrize("name", ["token", "access_token", "jwt", "TOKEN"])
@gen_test
async def test_tokens_in_the_query_string_are_refused(api, tenant_factory, name):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    # Even together with a valid header: a token in a URL ends up in logs and histories.
    for path, token in ((ME, tenant.agent.token), ("/api/v1/chat/sessions", tenant.agent.token),
                        (public_session(visitor.session_id), visitor.token)):
        assert_error(await api.get(f"{path}?{name}={token}", token=token), 400, "token_in_url")
        assert_error(await api.get(f"{path}?{name}={token}"), 400, "token_in_url")
    resp = await api.post(f"{START}?{name}=x", {"tenant_id": tenant.id})
    assert_error(resp, 400, "token_in_url")
