"""Bad input gets a clear 4xx with {"error": {"code", "message"}} and changes nothing."""
import json
from dataclasses import dataclass

import pytest

from ..helpers import PASSWORD, snapshot
from ._support import (AGENT_MESSAGE, LOGIN, PUBLIC_MESSAGE, START, assert_client_error, assert_error, gen_test,
                       public_session, session_path, visitor_says)

UNKNOWN_SID = "0123456789abcdef0123456789abcdef"


@dataclass
class Ctx:
    tenant: object
    visitor: object

    @property
    def colleague(self):
        return self.tenant.admin

    @property
    def sid(self) -> str:
        return self.visitor.session_id


async def make_ctx(api, tenant_factory) -> Ctx:
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    await visitor_says(api, visitor, "first message")
    return Ctx(tenant, visitor)


class Raw(bytes):
    """A body sent exactly as given (not JSON-encoded)."""


# target → (path for the context, which token)
TARGETS = {
    "public_message": (lambda c: PUBLIC_MESSAGE, "visitor"),
    "public_read": (lambda c: public_session(c.sid) + "/read", "visitor"),
    "agent_message": (lambda c: AGENT_MESSAGE, "agent"),
    "assign": (lambda c: session_path(c.sid, "assign"), "agent"),
    "transfer": (lambda c: session_path(c.sid, "transfer"), "agent"),
    "resolve": (lambda c: session_path(c.sid, "resolve"), "agent"),
    "reopen": (lambda c: session_path(c.sid, "reopen"), "agent"),
    "agent_read": (lambda c: session_path(c.sid, "read"), "agent"),
    "login": (lambda c: LOGIN, None),
    "start": (lambda c: START, None),
}

MESSAGE_TARGETS = ("public_message", "agent_message")


def msg(**over):
    """A message body for the context's session, with fields replaced (None value = field removed)."""
    def build(c):
        body = {"session_id": c.sid, "message": "hello", **over}
        return {k: v for k, v in body.items() if v is not None}
    return build


DEEP = 30_000  # under the 64 KiB body limit, far over any sane nesting

# (id, targets, body, status, code)
MESSAGE_CASES = [
    ("malformed_json", Raw(b'{"session_id": "x", "message": "hi"'), 400, "invalid_json"),
    ("not_json", Raw(b"hello there"), 400, "invalid_json"),
    ("json_array", Raw(b'["hello"]'), 400, "invalid_json"),
    ("json_string", Raw(b'"hello"'), 400, "invalid_json"),
    ("json_null", Raw(b"null"), 400, "invalid_json"),
    ("empty_body", Raw(b""), 400, "invalid_input"),
    ("empty_object", {}, 400, "invalid_input"),
    ("invalid_utf8", Raw(b'{"message": "\xff\xfe"}'), 400, "invalid_json"),
    ("raw_nul_in_string", Raw(b'{"message": "a\x00b"}'), 400, "invalid_json"),
    ("number_message", msg(message=42), 400, "invalid_input"),
    ("list_message", msg(message=["hi"]), 400, "invalid_input"),
    ("object_message", msg(message={"text": "hi"}), 400, "invalid_input"),
    ("null_message", lambda c: {"session_id": c.sid, "message": None}, 400, "invalid_input"),
    ("number_session_id", msg(session_id=12345), 400, "invalid_input"),
    ("number_client_msg_id", msg(client_msg_id=7), 400, "invalid_input"),
    ("bad_client_msg_id", msg(client_msg_id="has space"), 400, "invalid_input"),
    ("long_client_msg_id", msg(client_msg_id="x" * 65), 400, "invalid_input"),
    ("empty_client_msg_id", msg(client_msg_id=""), 400, "invalid_input"),
    ("unknown_field", msg(extra="x"), 400, "invalid_input"),
    ("sender_override", msg(sender_type="agent"), 400, "invalid_input"),
    ("missing_message", msg(message=None), 400, "invalid_input"),
    ("missing_session_id", msg(session_id=None), 400, "invalid_input"),
    ("empty_message", msg(message=""), 400, "invalid_input"),
    ("whitespace_message", msg(message="  \n\t  \r\n "), 400, "invalid_input"),
    ("too_long_message", msg(message="x" * 5001), 400, "invalid_input"),
    ("nul_char", msg(message="hello\x00world"), 400, "invalid_input"),
    ("bell_char", msg(message="ding\x07"), 400, "invalid_input"),
    ("escape_sequence", msg(message="\x1b[31mred\x1b[0m"), 400, "invalid_input"),
    ("del_char", msg(message="oops\x7f"), 400, "invalid_input"),
    ("oversize_body", msg(message="z" * (70 * 1024)), 413, "payload_too_large"),
    ("oversize_padding", Raw(b'{"message": "hi"}' + b" " * (65 * 1024)), 413, "payload_too_large"),
    ("deep_array_100k", Raw(b"[" * 100_000), 413, "payload_too_large"),
    ("deep_array_closed", Raw(b"[" * DEEP + b"]" * DEEP), 400, "invalid_json"),
    ("deep_array_open", Raw(b"[" * DEEP), 400, "invalid_json"),
    ("deep_in_field", Raw(b'{"message": ' + b"[" * DEEP + b"]" * DEEP + b"}"), 400, "invalid_json"),
    ("deep_objects", Raw(b'{"a":' * 10_000 + b"1" + b"}" * 10_000), 400, None),
    ("nested_value", lambda c: {"session_id": c.sid, "message": json.loads("[" * 200 + "]" * 200)}, 400,
     "invalid_input"),
    ("bad_session_id_format", msg(session_id="not-a-session"), 400, "invalid_input"),
    ("uppercase_session_id", lambda c: {"session_id": c.sid.upper(), "message": "hi"}, 400, "invalid_input"),
    ("session_id_traversal", msg(session_id="../../etc/passwd"), 400, "invalid_input"),
    ("session_id_sql", msg(session_id="' OR 1=1 --"), 400, "invalid_input"),
    ("unknown_session", msg(session_id=UNKNOWN_SID), 404, "session_not_found"),
    ("multipart", Raw(b"--x\r\nContent-Disposition: form-data; name=message\r\n\r\nhi\r\n--x--\r\n"), 400,
     "unsupported_media_type"),
]

# Cases for the other write routes.
OTHER_CASES = [
    ("assign", "malformed_json", Raw(b"{"), 400, "invalid_json"),
    ("assign", "json_array", Raw(b"[]"), 400, "invalid_json"),
    ("assign", "string_agent_id", lambda c: {"agent_id": str(c.colleague.id)}, 400, "invalid_input"),
    ("assign", "bool_agent_id", {"agent_id": True}, 400, "invalid_input"),
    ("assign", "zero_agent_id", {"agent_id": 0}, 400, "invalid_input"),
    ("assign", "negative_agent_id", {"agent_id": -5}, 400, "invalid_input"),
    ("assign", "huge_agent_id", {"agent_id": 2**63}, 400, "invalid_input"),
    ("assign", "enormous_agent_id", {"agent_id": 10**40}, 400, "invalid_input"),
    ("assign", "unknown_field", {"agent": 1}, 400, "invalid_input"),
    ("assign", "oversize", Raw(b'{"agent_id": 1' + b" " * (65 * 1024) + b"}"), 413, "payload_too_large"),
    ("transfer", "missing_agent_id", {"note": "x"}, 400, "invalid_input"),
    ("transfer", "string_agent_id", lambda c: {"agent_id": str(c.colleague.id)}, 400, "invalid_input"),
    ("transfer", "huge_agent_id", {"agent_id": 2**63}, 400, "invalid_input"),
    ("transfer", "number_note", lambda c: {"agent_id": c.colleague.id, "note": 5}, 400, "invalid_input"),
    ("transfer", "long_note", lambda c: {"agent_id": c.colleague.id, "note": "n" * 501}, 400, "invalid_input"),
    ("transfer", "unknown_field", lambda c: {"agent_id": c.colleague.id, "force": True}, 400, "invalid_input"),
    ("resolve", "unknown_field", {"reason": "done"}, 400, "invalid_input"),
    ("reopen", "malformed_json", Raw(b"{{"), 400, "invalid_json"),
    ("agent_read", "missing_seq", {}, 400, "invalid_input"),
    ("agent_read", "string_seq", {"seq": "1"}, 400, "invalid_input"),
    ("agent_read", "negative_seq", {"seq": -1}, 400, "invalid_input"),
    ("agent_read", "float_seq", {"seq": 1.5}, 400, "invalid_input"),
    ("agent_read", "huge_seq", {"seq": 2**31}, 400, "invalid_input"),
    ("public_read", "string_seq", {"seq": "1"}, 400, "invalid_input"),
    ("public_read", "unknown_field", {"seq": 1, "as": "agent"}, 400, "invalid_input"),
    ("public_read", "huge_seq", {"seq": 10**40}, 400, "invalid_input"),
    ("login", "malformed_json", Raw(b'{"email": '), 400, "invalid_json"),
    ("login", "json_array", Raw(b'["a", "b"]'), 400, "invalid_json"),
    ("login", "missing_password", lambda c: {"email": c.tenant.agent.email, "tenant_id": c.tenant.id}, 400,
     "invalid_input"),
    ("login", "number_password", lambda c: {"email": c.tenant.agent.email, "password": 123456,
                                            "tenant_id": c.tenant.id}, 400, "invalid_input"),
    ("login", "empty_tenant", lambda c: {"email": c.tenant.agent.email, "password": PASSWORD, "tenant_id": ""},
     400, "invalid_input"),
    ("login", "long_password", lambda c: {"email": c.tenant.agent.email, "password": "p" * 201,
                                          "tenant_id": c.tenant.id}, 400, "invalid_input"),
    ("login", "unknown_field", lambda c: {"email": c.tenant.agent.email, "password": PASSWORD,
                                          "tenant_id": c.tenant.id, "role": "admin"}, 400, "invalid_input"),
    ("start", "unknown_tenant", {"tenant_id": "no-such-tenant"}, 404, "tenant_not_found"),
    ("start", "missing_tenant", {"customer_name": "Ann"}, 400, "invalid_input"),
    ("start", "number_tenant", {"tenant_id": 5}, 400, "invalid_input"),
    ("start", "bad_channel", lambda c: {"tenant_id": c.tenant.id, "channel": "Web Chat"}, 400, "invalid_input"),
    ("start", "bad_email", lambda c: {"tenant_id": c.tenant.id, "customer_email": "not-an-email"}, 400,
     "invalid_input"),
    ("start", "nul_in_name", lambda c: {"tenant_id": c.tenant.id, "customer_name": "A\x00n"}, 400,
     "invalid_input"),
    ("start", "long_name", lambda c: {"tenant_id": c.tenant.id, "customer_name": "n" * 201}, 400,
     "invalid_input"),
    ("start", "unknown_field", lambda c: {"tenant_id": c.tenant.id, "status": "resolved"}, 400,
     "invalid_input"),
    ("start", "json_array", Raw(b"[]"), 400, "invalid_json"),
    ("start", "oversize", lambda c: {"tenant_id": c.tenant.id, "page_url": "u" * (70 * 1024)}, 413,
     "payload_too_large"),
]

MESSAGE_PARAMS = [pytest.param(body, status, code, id=name) for name, body, status, code in MESSAGE_CASES]
OTHER_TARGETS = sorted({case[0] for case in OTHER_CASES})


async def send(api, ctx: Ctx, target: str, body):
    path_of, who = TARGETS[target]
    token = {"visitor": ctx.visitor.token, "agent": ctx.tenant.agent.token, None: None}[who]
    if callable(body):
        body = body(ctx)
    headers = None
    if isinstance(body, Raw):
        raw = bytes(body)
        if raw.startswith(b"--x"):
            headers = {"Content-Type": "multipart/form-data; boundary=x"}
    else:
        raw = json.dumps(body).encode()
    return await api.request("POST", path_of(ctx), raw=raw, token=token, headers=headers)


@pytest.mark.parametrize("body,status,code", MESSAGE_PARAMS)
@gen_test
async def test_bad_message_is_refused_and_changes_nothing(api, tenant_factory, body, status, code):
    """Each case against both send routes: the visitor's and the agent's."""
    ctx = await make_ctx(api, tenant_factory)
    store = ctx.tenant.services.store
    before = await snapshot(store, ctx.tenant.id)
    for target in MESSAGE_TARGETS:
        resp = await send(api, ctx, target, body)
        assert_error(resp, status, code)
        assert await snapshot(store, ctx.tenant.id) == before, target


@pytest.mark.parametrize("target", OTHER_TARGETS)
@gen_test
async def test_bad_body_is_refused_and_changes_nothing(api, tenant_factory, target):
    """Every case of OTHER_CASES for one route (one tenant per route keeps the suite quick)."""
    ctx = await make_ctx(api, tenant_factory)
    store = ctx.tenant.services.store
    before = await snapshot(store, ctx.tenant.id)
    cases = [case for case in OTHER_CASES if case[0] == target]
    assert cases
    for _, name, body, status, code in cases:
        resp = await send(api, ctx, target, body)
        try:
            assert_error(resp, status, code)
        except AssertionError as exc:
            raise AssertionError(f"{target}/{name}: {exc}") from None
        assert await snapshot(store, ctx.tenant.id) == before, f"{target}/{name}"


@pytest.mark.parametrize("target", MESSAGE_TARGETS)
@gen_test
async def test_edge_of_valid_messages(api, tenant_factory, target):
    """Just inside the limits: stored, trimmed, tabs and newlines kept, markup kept as text."""
    ctx = await make_ctx(api, tenant_factory)
    for text, stored in (("a" * 5000, "a" * 5000), ("  " + "b" * 5000 + "\n ", "b" * 5000),
                         ("line one\n\tline two", "line one\n\tline two"),
                         ("<script>alert(1)</script> ü ✓ 😀", "<script>alert(1)</script> ü ✓ 😀")):
        resp = await send(api, ctx, target, msg(message=text))
        assert resp.status == 201, resp.body[:300]
        assert resp.json["message"]["body"] == stored
    # JSON escapes cannot carry "</" out of a string into markup.
    assert b"</script>" not in resp.body


# ---- paths and query strings ------------------------------------------------------

BAD_SESSION_IDS = ["not-a-session", UNKNOWN_SID, "x" * 1000, "%00", "%27%20OR%201%3D1", "%FF"]


@pytest.mark.parametrize("sid", BAD_SESSION_IDS)
@gen_test
async def test_bad_session_ids_in_paths(api, tenant_factory, sid):
    ctx = await make_ctx(api, tenant_factory)
    store = ctx.tenant.services.store
    before = await snapshot(store, ctx.tenant.id)
    agent = ctx.tenant.agent.token
    calls = [("GET", session_path(sid), None, agent), ("GET", session_path(sid, "messages"), None, agent),
             ("POST", session_path(sid, "assign"), {}, agent), ("POST", session_path(sid, "resolve"), {}, agent),
             ("POST", session_path(sid, "reopen"), {}, agent), ("POST", session_path(sid, "read"), {"seq": 1}, agent),
             ("POST", session_path(sid, "transfer"), {"agent_id": ctx.colleague.id}, agent),
             ("GET", public_session(sid), None, ctx.visitor.token),
             ("POST", public_session(sid) + "/read", {"seq": 1}, ctx.visitor.token)]
    for method, path, body, token in calls:
        resp = await api.request(method, path, json_body=body, token=token)
        err = assert_client_error(resp)
        if resp.status == 404:
            assert err["code"] in ("session_not_found", "route_not_found"), (path, err)
        assert await snapshot(store, ctx.tenant.id) == before, path


@gen_test
async def test_unknown_tenants(api, tenant_factory):
    await tenant_factory()
    for tenant_id in ("no-such-tenant", "x" * 300, "%00", "A%20B", "%FF", "%27--", "demo-tenant2"):
        resp = await api.get(f"/api/v1/chat/public/tenants/{tenant_id}")
        err = assert_client_error(resp)
        if resp.status == 404:
            assert err["code"] == "tenant_not_found", tenant_id


@gen_test
async def test_bad_query_strings(api, tenant_factory):
    ctx = await make_ctx(api, tenant_factory)
    for query in ("limit=-1", "limit=abc", "limit=99999999999999999999", "after_seq=%00", "after_seq=1e3",
                  "before_seq=-5", "status=%FF"):
        for path, token in (("/api/v1/chat/sessions", ctx.tenant.agent.token),
                            (session_path(ctx.sid, "messages"), ctx.tenant.agent.token),
                            (public_session(ctx.sid), ctx.visitor.token)):
            resp = await api.get(f"{path}?{query}", token=token)
            # A parameter a route does not take is ignored; one it takes must be well formed.
            assert resp.status in (200, 400), (path, query, resp.status, resp.body[:300])
            if resp.status == 400:
                # invalid_query from our checks; bad_request from Tornado for undecodable bytes.
                assert assert_error(resp, 400)["code"] in ("invalid_query", "bad_request"), (path, query)


@gen_test
async def test_unsupported_methods(api, tenant_factory):
    ctx = await make_ctx(api, tenant_factory)
    store = ctx.tenant.services.store
    before = await snapshot(store, ctx.tenant.id)
    for method in ("PUT", "DELETE", "PATCH"):
        for path, token in ((session_path(ctx.sid), ctx.tenant.agent.token), (AGENT_MESSAGE, ctx.tenant.agent.token),
                            (public_session(ctx.sid), ctx.visitor.token), (START, None)):
            resp = await api.request(method, path, raw=b"{}", token=token)
            assert_error(resp, 405, "method_not_allowed")
    assert await snapshot(store, ctx.tenant.id) == before
