"""The hostile-input catalogue: one row, one case, across REST, WebSocket and static files.

Each row runs in a fresh two-tenant world (support.World) on both backends: an optional setup
(e.g. revoking a sign-in), then a snapshot of every table of both tenants, then the hostile action.
The row asserts its answer (HTTP status and error code, WebSocket close code, or error frame) and
that the store is exactly as it was — or, for the rows whose point is that hostile text is kept as
text, that exactly one message was added with that text, byte for byte.

The classes come from the advisories of other support-chat products (docs/SECURITY.md): malformed
and deeply nested JSON, wrong types, huge bodies and frames, invalid UTF-8, NUL bytes, SQL-looking
and HTML/JS text, path traversal on static routes, tokens in URLs, forged/expired/revoked tokens, a
visitor token used on another session, frames before auth, unknown frames, floods.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import pytest

from tests.helpers import PASSWORD, Response
from tests.wsclient import WsClient

from .support import (ALLOWED_ORIGIN, FOREIGN_ORIGIN, World, alg_none, expired, gen_test, make_world, resigned,
                      still_open, store_snapshot, ws, write_raw_frame)

MSG = "/api/v1/chat/public/message"
AGENT_MSG = "/api/v1/chat/messages"
SESSIONS = "/api/v1/chat/sessions"
ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
START = "/api/v1/chat/public/start"
DEEP = 30_000  # nesting depth that still fits in the 64 KiB body / frame limit
SQL_TEXT = "Robert'); DROP TABLE messages; -- \" OR 1=1 /* UNION SELECT password_hash FROM agents */"
HTML_TEXT = '</script><script>alert(document.cookie)</script><img src=x onerror="alert(1)"><svg/onload=alert(2)>'
TEMPLATE_TEXT = "{{7*7}} ${7*7} {% raw %} <%= 7*7 %> {{constructor.constructor('alert(1)')()}}"


# ---- what a row observes -------------------------------------------------------------

@dataclass
class Closed:
    code: int | None


@dataclass
class ErrorFrame:
    code: str
    client: WsClient


@dataclass
class Frames:
    frames: list
    forbidden: list  # ids that must appear in none of them


def http(status: int, code: str | None = None):
    def check(got: Response) -> None:
        assert isinstance(got, Response), got
        assert got.status == status, (got.status, got.body[:300])
        assert got.headers.get("Content-Type", "").startswith("application/json"), got.headers
        err = got.json["error"]
        assert set(err) == {"code", "message"}, err
        if code is not None:
            assert err["code"] == code, err
    return check


def http_any(*statuses: int):
    """Static-file rows: one of these statuses (which one depends on where the path is refused), a JSON
    error, and none of the contents of a file outside the static folder."""
    def check(got: Response) -> None:
        assert got.status in statuses, (got.status, got.body[:300])
        assert got.headers.get("Content-Type", "").startswith("application/json"), got.headers
        assert set(got.json["error"]) == {"code", "message"}
        for leak in (b"setuptools", b"import ", b"secret", b"root:", b"[mysqld]"):
            assert leak not in got.body, leak
    return check


def closes(code: int):
    def check(got: Closed) -> None:
        assert isinstance(got, Closed) and got.code == code, got
    return check


def ws_error(code: str):
    def check(got: ErrorFrame) -> None:
        assert isinstance(got, ErrorFrame) and got.code == code, got
    return check


def ok(status: int):
    def check(got: Response) -> None:
        assert got.status == status, (got.status, got.body[:300])
    return check


def nothing_about_others(got: Frames) -> None:
    """The frames a socket got never mention another session."""
    assert isinstance(got, Frames) and got.frames, got
    for frame in got.frames:
        text = json.dumps(frame)
        assert not any(ident in text for ident in got.forbidden), frame


# ---- how a row changes the store --------------------------------------------------------

def stored_literally(text: str):
    """Exactly one new message, whose body is `text` unchanged; tenants, agents, visitors untouched."""
    def check(before: dict, after: dict) -> None:
        for table in ("tenants", "agents", "visitors"):
            assert after[table] == before[table], table
        new = [m for m in after["messages"] if m not in before["messages"]]
        assert [m["body"] for m in new] == [text], new
    return check


# ---- actions -------------------------------------------------------------------------

async def post(w: World, path: str, body: Any = None, *, raw: bytes | None = None, token: str | None = None,
               headers: dict | None = None) -> Response:
    if raw is None:
        raw = json.dumps(body).encode()
    return await w.api.request("POST", path, raw=raw, token=token, headers=headers)


async def get(w: World, path: str, token: str | None = None, headers: dict | None = None) -> Response:
    return await w.api.request("GET", path, token=token, headers=headers)


def visitor_raw(raw: bytes):
    return lambda w: post(w, MSG, raw=raw, token=w.va.token)


def visitor_body(build: Callable[[World], Any]):
    return lambda w: post(w, MSG, build(w), token=w.va.token)


def agent_body(build: Callable[[World], Any]):
    return lambda w: post(w, AGENT_MSG, build(w), token=w.a.agent.token)


def static(path: str):
    return lambda w: get(w, path)


async def ws_close_after(w: World, token: str | None, frames: list, *, origin: str | None = None,
                         raw: list[tuple[int, bytes]] = ()) -> Closed:
    client = await ws(w, None, origin=origin)
    try:
        if token is not None:
            await client.send_frame({"type": "auth", "token": token})
        for frame in frames:
            await client.conn.write_message(frame if isinstance(frame, str) else json.dumps(frame))
        for opcode, payload in raw:
            await write_raw_frame(client, opcode, payload)
        return Closed(await client.closed(timeout=10))
    finally:
        client.close()


async def ws_error_after(w: World, token: str, frame: str | dict | bytes) -> ErrorFrame:
    client = await ws(w, token)
    try:
        if isinstance(frame, bytes):
            await client.conn.write_message(frame, binary=True)
        else:
            await client.conn.write_message(frame if isinstance(frame, str) else json.dumps(frame))
        got = await client.next("error")
        await still_open(client)  # a bad frame is answered, not fatal
        return ErrorFrame(got["data"]["code"], client)
    finally:
        client.close()


def ws_frame_error(who: str, frame: Callable[[World], str | dict | bytes]):
    async def act(w: World) -> ErrorFrame:
        token = {"visitor": w.va.token, "agent": w.a.agent.token, "other_agent": w.b.agent.token}[who]
        return await ws_error_after(w, token, frame(w))
    return act


def ws_send_stored(text: str):
    async def act(w: World) -> Response:
        client = await ws(w, w.va.token)
        try:
            await client.send("chat.message.send", message=text, client_msg_id="hostile-1")
            ack = await client.next("chat.message.ack")
            assert ack["data"]["created"] is True
        finally:
            client.close()
        resp = await get(w, f"/api/v1/chat/public/session/{w.va.session_id}?after_seq=1", token=w.va.token)
        assert [m["body"] for m in resp.json["messages"]] == [text]
        return resp
    return act


async def flood(w: World) -> Closed:
    config = w.services.config
    client = await ws(w, w.a.agent.token)
    try:
        for i in range(config.ws_frame_burst + config.ws_flood_limit + 50):
            try:
                await client.send("chat.message.send", session_id=w.va.session_id, message=f"flood {i}")
            except Exception:  # closed by the server mid-flood  # noqa: BLE001
                break
        code = await client.closed(timeout=10)
    finally:
        client.close()
    # The flood was refused, not stored: at most the burst went through before the bucket ran dry.
    return Closed(code)


def flood_effect(before: dict, after: dict) -> None:
    """Only frames within the burst may have been taken as sends; every one is a plain message."""
    for table in ("tenants", "agents", "visitors"):
        assert after[table] == before[table]
    new = [m for m in after["messages"] if m not in before["messages"]]
    assert all(m["body"].startswith("flood ") for m in new)


# ---- setups (before the snapshot) -----------------------------------------------------------

async def change_password(w: World) -> None:
    resp = await post(w, "/api/v1/auth/password", {"current_password": PASSWORD, "new_password": "N3w-Passw0rd!"},
                      token=w.a.agent.token)
    assert resp.status == 200, resp.body


async def deactivate_agent(w: World) -> None:
    resp = await post(w, f"/api/v1/agents/{w.a.agent.id}/deactivate", {}, token=w.a.admin.token)
    assert resp.status == 200, resp.body


async def open_socket_then_deactivate(w: World) -> None:
    w.sock = await ws(w, w.a.agent.token)  # type: ignore[attr-defined]
    await deactivate_agent(w)


async def socket_closed_by_revocation(w: World) -> Closed:
    client: WsClient = w.sock  # type: ignore[attr-defined]
    code = await client.closed(timeout=10)
    client.close()
    return Closed(code)


async def resume_other_session(w: World) -> Frames:
    """A visitor asks to resume another session (same tenant) and tenant B's: it gets only its own."""
    client = await ws(w, w.va.token, resume={w.va2.session_id: 0, w.vb.session_id: 0, w.va.session_id: 0})
    try:
        frames = [client.auth] + await client.quiet(0.4)
        await post(w, MSG, {"session_id": w.va2.session_id, "message": "va2 speaks"}, token=w.va2.token)
        frames += await client.quiet(0.4)
    finally:
        client.close()
    return Frames(frames, [w.va2.session_id, w.vb.session_id, "va2 speaks", "Bravo"])


def va2_message_effect(before: dict, after: dict) -> None:
    new = [m for m in after["messages"] if m not in before["messages"]]
    assert [m["body"] for m in new] == ["va2 speaks"]


# ---- the catalogue -------------------------------------------------------------------------

@dataclass
class Row:
    id: str
    surface: str  # rest | ws | static
    action: Callable[[World], Awaitable[Any]]
    expect: Callable[[Any], None]
    setup: Callable[[World], Awaitable[None]] | None = None
    effect: Callable[[dict, dict], None] | None = None  # None: nothing in the store changes


def _msg(**over):
    return lambda w: {"session_id": w.va.session_id, "message": "hello", **over}


def _agent_msg(**over):
    return lambda w: {"session_id": w.va.session_id, "message": "hello", **over}


ROWS = [
    # -- REST: malformed, nested, wrong types, huge, encodings --------------------------------------
    Row("rest-malformed-json", "rest", visitor_raw(b'{"session_id": "x", "message": "hi"'), http(400, "invalid_json")),
    Row("rest-not-an-object", "rest", visitor_raw(b'["hello"]'), http(400, "invalid_json")),
    Row("rest-deep-array", "rest", visitor_raw(b"[" * DEEP + b"]" * DEEP), http(400, "invalid_json")),
    Row("rest-deep-objects", "rest", visitor_raw(b'{"a":' * 10_000 + b"1" + b"}" * 10_000), http(400)),
    Row("rest-deep-in-field", "rest",
        lambda w: post(w, MSG, raw=b'{"session_id":"%s","message":' % w.va.session_id.encode() + b"[" * DEEP
                       + b"]" * DEEP + b"}", token=w.va.token), http(400, "invalid_json")),
    Row("rest-message-is-number", "rest", visitor_body(_msg(message=42)), http(400, "invalid_input")),
    Row("rest-message-is-object", "rest", visitor_body(_msg(message={"$gt": ""})), http(400, "invalid_input")),
    Row("rest-session-id-is-list", "rest", visitor_body(lambda w: {"session_id": [w.va.session_id], "message": "x"}),
        http(400, "invalid_input")),
    Row("rest-seq-is-bool", "rest",
        lambda w: post(w, f"/api/v1/chat/sessions/{w.va.session_id}/read", {"seq": True}, token=w.a.agent.token),
        http(400, "invalid_input")),
    Row("rest-seq-is-nan", "rest",
        lambda w: post(w, f"/api/v1/chat/public/session/{w.va.session_id}/read", raw=b'{"seq": NaN}',
                       token=w.va.token), http(400, "invalid_input")),
    Row("rest-seq-is-1e400", "rest",
        lambda w: post(w, f"/api/v1/chat/public/session/{w.va.session_id}/read", raw=b'{"seq": 1e400}',
                       token=w.va.token), http(400, "invalid_input")),
    Row("rest-agent-id-10e40", "rest",
        lambda w: post(w, f"/api/v1/chat/sessions/{w.va.session_id}/assign", {"agent_id": 10**40},
                       token=w.a.agent.token), http(400, "invalid_input")),
    Row("rest-extra-field-sender-type", "rest", agent_body(_agent_msg(sender_type="visitor")),
        http(400, "invalid_input")),
    Row("rest-huge-body", "rest", visitor_body(_msg(message="z" * (70 * 1024))), http(413, "payload_too_large")),
    Row("rest-huge-whitespace", "rest", visitor_raw(b"{" + b" " * (80 * 1024) + b"}"),
        http(413, "payload_too_large")),
    Row("rest-invalid-utf8", "rest", visitor_raw(b'{"session_id": "\xff\xfe", "message": "\xc0\xaf"}'),
        http(400, "invalid_json")),
    Row("rest-lone-surrogate", "rest",
        lambda w: post(w, MSG, raw=b'{"session_id":"%s","message":"hi \\ud800 there"}' % w.va.session_id.encode(),
                       token=w.va.token), http(400, "invalid_input")),
    Row("rest-lone-surrogate-name", "rest",
        lambda w: post(w, START, raw=b'{"tenant_id":"%s","customer_name":"\\udfff"}' % w.a.id.encode()),
        http(400, "invalid_input")),
    Row("rest-raw-nul-byte", "rest", visitor_raw(b'{"message": "a\x00b"}'), http(400, "invalid_json")),
    Row("rest-escaped-nul", "rest", visitor_body(_msg(message="hello\u0000world")), http(400, "invalid_input")),
    Row("rest-nul-in-name", "rest", lambda w: post(w, START, {"tenant_id": w.a.id, "customer_name": "A\x00n"}),
        http(400, "invalid_input")),
    Row("rest-nul-in-path", "rest", lambda w: get(w, f"/api/v1/chat/sessions/{w.va.session_id}%00",
                                                  token=w.a.agent.token), http(404, "session_not_found")),
    Row("rest-multipart", "rest",
        lambda w: post(w, MSG, raw=b"--x\r\nContent-Disposition: form-data; name=message\r\n\r\nhi\r\n--x--\r\n",
                       token=w.va.token, headers={"Content-Type": "multipart/form-data; boundary=x"}),
        http(400, "unsupported_media_type")),
    # -- SQL-looking and markup text: kept as text, never run ----------------------------------------
    Row("rest-sql-text-stored-literally", "rest", visitor_body(_msg(message=SQL_TEXT)), ok(201),
        effect=stored_literally(SQL_TEXT)),
    Row("rest-sql-in-search", "rest",
        lambda w: get(w, SESSIONS + "?q=%25'%20OR%201%3D1%20--&status=active", token=w.b.agent.token), ok(200)),
    Row("rest-like-wildcard-search", "rest",
        lambda w: get(w, SESSIONS + "?q=%25_%25", token=w.a.agent.token), ok(200)),
    Row("rest-sql-in-login", "rest",
        lambda w: post(w, LOGIN, {"email": "' OR '1'='1", "password": "' OR '1'='1", "tenant_id": w.a.id}),
        http(401, "invalid_credentials")),
    Row("rest-sql-in-tenant-path", "rest", lambda w: get(w, "/api/v1/chat/public/tenants/x'%20OR%20'1'%3D'1"),
        http(404, "tenant_not_found")),
    Row("rest-html-stored-verbatim", "rest", visitor_body(_msg(message=HTML_TEXT)), ok(201),
        effect=stored_literally(HTML_TEXT)),
    Row("rest-template-text-stored-verbatim", "rest", agent_body(_agent_msg(message=TEMPLATE_TEXT)), ok(201),
        effect=stored_literally(TEMPLATE_TEXT)),
    # -- tokens ------------------------------------------------------------------------------------
    Row("rest-token-in-query", "rest", lambda w: get(w, f"{SESSIONS}?token={w.a.agent.token}"),
        http(400, "token_in_url")),
    Row("rest-access-token-in-query-with-header", "rest",
        lambda w: get(w, f"{SESSIONS}?access_token={w.a.agent.token}", token=w.a.agent.token),
        http(400, "token_in_url")),
    Row("rest-visitor-token-in-query", "rest",
        lambda w: post(w, f"{MSG}?Authorization={w.va.token}", {"session_id": w.va.session_id, "message": "x"}),
        http(400, "token_in_url")),
    Row("rest-jwt-alg-none", "rest", lambda w: get(w, ME, token=alg_none(w.a.admin.token)),
        http(401, "invalid_token")),
    Row("rest-jwt-wrong-key", "rest", lambda w: get(w, ME, token=resigned(w.a.admin.token, "not-the-key" * 4)),
        http(401, "invalid_token")),
    Row("rest-jwt-hs512-right-key", "rest",
        lambda w: get(w, ME, token=resigned(w.a.admin.token, w.secret, "HS512")), http(401, "invalid_token")),
    Row("rest-jwt-expired", "rest", lambda w: get(w, ME, token=expired(w.a.admin.token, w.secret)),
        http(401, "invalid_token")),
    Row("rest-jwt-other-tenant-claim-forged", "rest",
        lambda w: get(w, ME, token=resigned(w.a.admin.token, "guess", tid=w.b.id)), http(401, "invalid_token")),
    Row("rest-visitor-token-alg-none-other-session", "rest",
        lambda w: get(w, f"/api/v1/chat/public/session/{w.va2.session_id}",
                      token=alg_none(w.va.token, sid=w.va2.session_id)), http(401, "invalid_token")),
    Row("rest-visitor-token-as-agent", "rest", lambda w: get(w, SESSIONS, token=w.va.token),
        http(401, "invalid_token")),
    Row("rest-agent-token-as-visitor", "rest",
        lambda w: get(w, f"/api/v1/chat/public/session/{w.va.session_id}", token=w.a.admin.token),
        http(401, "invalid_token")),
    Row("rest-revoked-by-password-change", "rest", lambda w: get(w, ME, token=w.a.agent.token),
        http(401, "token_revoked"), setup=change_password),
    Row("rest-revoked-by-deactivation", "rest", lambda w: get(w, SESSIONS, token=w.a.agent.token),
        http(401, "token_revoked"), setup=deactivate_agent),
    Row("rest-visitor-token-other-session-read", "rest",
        lambda w: get(w, f"/api/v1/chat/public/session/{w.va2.session_id}", token=w.va.token),
        http(404, "session_not_found")),
    Row("rest-visitor-token-other-session-send", "rest",
        lambda w: post(w, MSG, {"session_id": w.va2.session_id, "message": "not mine"}, token=w.va.token),
        http(404, "session_not_found")),
    Row("rest-visitor-token-other-tenant-session", "rest",
        lambda w: post(w, f"/api/v1/chat/public/session/{w.va.session_id}/read", {"seq": 1}, token=w.vb.token),
        http(404, "session_not_found")),
    Row("rest-basic-auth-scheme", "rest",
        lambda w: get(w, SESSIONS, headers={"Authorization": "Basic YWdlbnQ6cGFzcw=="}), http(401, "missing_token")),
    # -- WebSocket -----------------------------------------------------------------------------------
    Row("ws-token-in-url", "ws", lambda w: get(w, f"/ws?token={w.a.agent.token}"), http(400, "token_in_url")),
    Row("ws-send-before-auth", "ws",
        lambda w: ws_close_after(w, None, [{"type": "chat.message.send",
                                            "data": {"session_id": w.va.session_id, "message": "early"}}]),
        closes(4001)),
    Row("ws-ping-before-auth", "ws", lambda w: ws_close_after(w, None, [{"type": "ping", "data": {}}]), closes(4001)),
    Row("ws-auth-without-token", "ws", lambda w: ws_close_after(w, None, [{"type": "auth"}]), closes(4001)),
    Row("ws-auth-token-not-string", "ws", lambda w: ws_close_after(w, None, [{"type": "auth", "token": 12345}]),
        closes(4001)),
    Row("ws-auth-jwt-alg-none", "ws", lambda w: ws_close_after(w, alg_none(w.a.agent.token), []), closes(4001)),
    Row("ws-auth-jwt-wrong-key", "ws", lambda w: ws_close_after(w, resigned(w.a.agent.token, "x" * 40), []),
        closes(4001)),
    Row("ws-auth-jwt-expired", "ws", lambda w: ws_close_after(w, expired(w.va.token, w.secret), []), closes(4001)),
    Row("ws-auth-lone-surrogate-token", "ws",
        lambda w: ws_close_after(w, None, ['{"type": "auth", "token": "\\ud800"}']), closes(4001)),
    Row("ws-auth-revoked-by-password-change", "ws", lambda w: ws_close_after(w, w.a.agent.token, []), closes(4001),
        setup=change_password),
    Row("ws-open-socket-closed-on-deactivation", "ws", socket_closed_by_revocation, closes(4010),
        setup=open_socket_then_deactivate),
    Row("ws-agent-foreign-origin", "ws", lambda w: ws_close_after(w, w.a.agent.token, [], origin=FOREIGN_ORIGIN),
        closes(4003)),
    Row("ws-agent-from-widget-origin", "ws",
        lambda w: ws_close_after(w, w.a.agent.token, [], origin=ALLOWED_ORIGIN), closes(4003)),
    Row("ws-visitor-foreign-origin", "ws", lambda w: ws_close_after(w, w.va.token, [], origin=FOREIGN_ORIGIN),
        closes(4003)),
    Row("ws-resume-too-many-sessions", "ws",
        lambda w: ws_close_after(w, None, [{"type": "auth", "token": w.a.agent.token,
                                            "resume": {f"{i:032x}": 0 for i in range(600)}}]), closes(4001)),
    Row("ws-resume-negative-seq", "ws",
        lambda w: ws_close_after(w, None, [{"type": "auth", "token": w.a.agent.token,
                                            "resume": {w.va.session_id: -1}}]), closes(4001)),
    Row("ws-resume-lone-surrogate-key", "ws",
        lambda w: ws_close_after(w, None, ['{"type": "auth", "token": "%s", "resume": {"\\ud800": 0}}'
                                           % w.a.agent.token]), closes(4001)),
    Row("ws-resume-key-not-a-session-id", "ws",
        lambda w: ws_close_after(w, None, [{"type": "auth", "token": w.va.token,
                                            "resume": {"' OR 1=1 --": 0}}]), closes(4001)),
    Row("ws-frame-over-64k", "ws",
        lambda w: ws_close_after(w, w.a.agent.token, [{"type": "ping", "data": {"t": "x" * (70 * 1024)}}]),
        closes(1009)),
    # Tornado drops a connection that sends a text frame which is not UTF-8 (no close frame: no code).
    Row("ws-text-frame-invalid-utf8", "ws", lambda w: ws_close_after(w, w.va.token, [], raw=[(0x1, b'{"t":"\xff"}')]),
        closes(None)),
    Row("ws-flood", "ws", flood, closes(4029), effect=flood_effect),
    Row("ws-unknown-frame-type", "ws", ws_frame_error("agent", lambda w: {"type": "admin.delete_all", "data": {}}),
        ws_error("unknown_type")),
    Row("ws-frame-not-json", "ws", ws_frame_error("visitor", lambda w: "hello?"), ws_error("invalid_json")),
    Row("ws-frame-is-array", "ws", ws_frame_error("visitor", lambda w: "[1, 2, 3]"), ws_error("invalid_frame")),
    Row("ws-frame-deeply-nested", "ws", ws_frame_error("agent", lambda w: "[" * DEEP + "]" * DEEP),
        ws_error("invalid_json")),
    Row("ws-binary-frame-garbage", "ws", ws_frame_error("visitor", lambda w: b"\x00\xff\x00\xfe"),
        ws_error("invalid_json")),
    Row("ws-send-nul-text", "ws",
        ws_frame_error("visitor", lambda w: {"type": "chat.message.send", "data": {"message": "a\u0000b"}}),
        ws_error("invalid_frame")),
    Row("ws-send-lone-surrogate", "ws",
        ws_frame_error("visitor", lambda w: '{"type": "chat.message.send", "data": {"message": "a \\udc00 b"}}'),
        ws_error("invalid_frame")),
    Row("ws-send-data-not-object", "ws",
        ws_frame_error("agent", lambda w: {"type": "chat.message.send", "data": "DROP TABLE"}),
        ws_error("invalid_frame")),
    Row("ws-send-too-long", "ws",
        ws_frame_error("visitor", lambda w: {"type": "chat.message.send", "data": {"message": "m" * 5001}}),
        ws_error("invalid_frame")),
    Row("ws-visitor-sends-into-other-session", "ws",
        ws_frame_error("visitor", lambda w: {"type": "chat.message.send",
                                             "data": {"session_id": w.va2.session_id, "message": "not mine"}}),
        ws_error("session_not_found")),
    Row("ws-visitor-reads-other-session", "ws",
        ws_frame_error("visitor", lambda w: {"type": "chat.message.read",
                                             "data": {"session_id": w.vb.session_id, "seq": 1}}),
        ws_error("session_not_found")),
    Row("ws-other-tenant-agent-sends", "ws",
        ws_frame_error("other_agent", lambda w: {"type": "chat.message.send",
                                                 "data": {"session_id": w.va.session_id, "message": "intruder"}}),
        ws_error("session_not_found")),
    Row("ws-other-tenant-agent-typing", "ws",
        ws_frame_error("other_agent", lambda w: {"type": "chat.typing",
                                                 "data": {"session_id": w.va.session_id, "is_typing": True}}),
        ws_error("session_not_found")),
    Row("ws-visitor-sets-presence", "ws",
        ws_frame_error("visitor", lambda w: {"type": "presence.set", "data": {"status": "online"}}),
        ws_error("invalid_frame")),
    Row("ws-visitor-resumes-other-sessions", "ws", resume_other_session, nothing_about_others,
        effect=va2_message_effect),
    Row("ws-sql-text-stored-literally", "ws", ws_send_stored(SQL_TEXT), ok(200), effect=stored_literally(SQL_TEXT)),
    Row("ws-html-stored-verbatim", "ws", ws_send_stored(HTML_TEXT), ok(200), effect=stored_literally(HTML_TEXT)),
    # -- static files: traversal, encoded or not ---------------------------------------------------------
    Row("static-dotdot", "static", static("/static/../setup.py"), http_any(403, 404)),
    Row("static-dotdot-deep", "static", static("/static/../../../../etc/passwd"), http_any(403, 404)),
    Row("static-encoded-dots", "static", static("/static/%2e%2e/setup.py"), http_any(403, 404)),
    Row("static-encoded-slash", "static", static("/static/..%2fsetup.py"), http_any(403, 404)),
    Row("static-encoded-all", "static", static("/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd"), http_any(403, 404)),
    Row("static-double-encoded", "static", static("/static/%252e%252e%252fsetup.py"), http_any(403, 404)),
    Row("static-backslash", "static", static("/static/..%5c..%5csetup.py"), http_any(403, 404)),
    Row("static-absolute", "static", static("/static//etc/passwd"), http_any(403, 404)),
    Row("static-nul", "static", static("/static/dashboard.css%00.js"), http_any(400)),
    Row("static-control-char", "static", static("/static/dash%0aboard.css"), http_any(400)),
    Row("static-dir-listing", "static", static("/static/dashboard/"), http_any(403, 404)),
    Row("static-widget-path-suffix", "static", static("/chat-widget.js/../setup.py"), http_any(404)),
    Row("static-secret-key-file", "static", static("/static/../.callcenter/secret_key"), http_any(403, 404)),
]


def test_the_catalogue_is_big_enough_and_covers_every_surface():
    assert len(ROWS) >= 50
    assert len({r.id for r in ROWS}) == len(ROWS)
    by_surface = {s: sum(r.surface == s for r in ROWS) for s in ("rest", "ws", "static")}
    assert all(n >= 10 for n in by_surface.values()), by_surface


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
@gen_test
async def test_hostile_input(row: Row, api, base_url, services, tenant_factory):
    w = await make_world(api, base_url, services, tenant_factory)
    if row.setup is not None:
        await row.setup(w)
    tenant_ids = (w.a.id, w.b.id)
    before = await store_snapshot(w.store, tenant_ids)
    got = await row.action(w)
    row.expect(got)
    after = await store_snapshot(w.store, tenant_ids)
    if row.effect is None:
        assert after == before, "the store changed"
    else:
        row.effect(before, after)
    if isinstance(got, Response):
        # Whatever the answer, it is inert as a page: JSON (or an error), nosniff, and no markup escapes.
        assert got.headers.get("X-Content-Type-Options") == "nosniff"
        assert b"</script>" not in got.body
