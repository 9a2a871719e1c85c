"""Logs: one access line per request, and never a password, a token, a query string or a message body,
on success or failure (401, 429, 400 …), from any logger."""
from __future__ import annotations

import logging
import re
import urllib.parse

import pytest

from .helpers import PASSWORD

ACCESS_LINE = re.compile(r"^(?P<status>\d{3}) (?P<method>[A-Z]+) (?P<path>\S+) tenant=(?P<tenant>\S+) "
                         r"(?P<ms>\d+\.\d)ms\b")


def access_lines(caplog) -> list[dict]:
    out = []
    for rec in caplog.records:
        if rec.name == "callcenter.access":
            match = ACCESS_LINE.match(rec.getMessage())
            assert match, f"not an access line: {rec.getMessage()!r}"
            out.append(match.groupdict())
    return out


def capture(caplog) -> None:
    """Every logger at the level production runs it (INFO), this project's and Tornado's at DEBUG.
    (Third-party DEBUG output such as aiosqlite's per-statement trace is off in production: see cli.)"""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="callcenter")
    caplog.set_level(logging.DEBUG, logger="tornado")
    caplog.clear()


def record_texts(caplog) -> list[str]:
    """Every captured record as an operator could see it: message, arguments, extra fields, traceback."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [f"{formatter.format(rec)}\nargs={rec.args!r}\nfields={vars(rec)!r}" for rec in caplog.records]


def everything_logged(caplog) -> str:
    return "\n".join(record_texts(caplog))


@pytest.mark.gen_test(timeout=30)
async def test_one_access_line_per_request(api, tenant_factory, caplog):
    tenant = await tenant_factory()
    capture(caplog)

    calls = [
        ("GET", "/healthz", None, None, 200, "-"),
        ("POST", "/api/v1/auth/login", {"email": tenant.agent.email, "password": PASSWORD, "tenant_id": tenant.id},
         None, 200, tenant.id),
        ("POST", "/api/v1/auth/login", {"email": tenant.agent.email, "password": "not-it-at-all",
                                        "tenant_id": tenant.id}, None, 401, tenant.id),
        ("GET", "/api/v1/chat/sessions", None, tenant.admin.token, 200, tenant.id),
        ("GET", "/api/v1/chat/sessions", None, None, 401, "-"),
        ("GET", "/api/v1/no/such/route", None, None, 404, "-"),
    ]
    for method, path, body, token, status, _ in calls:
        resp = await api.request(method, path, json_body=body, token=token)
        assert resp.status == status, (path, resp.body)

    lines = access_lines(caplog)
    assert len(lines) == len(calls), lines
    for line, (method, path, _, _, status, tenant_id) in zip(lines, calls):
        assert (int(line["status"]), line["method"], line["path"], line["tenant"]) == (status, method, path, tenant_id)
        assert float(line["ms"]) >= 0


@pytest.mark.gen_test(timeout=30)
async def test_access_line_has_the_path_without_the_query_string(api, tenant_factory, caplog):
    tenant = await tenant_factory()
    capture(caplog)
    resp = await api.get("/api/v1/chat/sessions?status=open&q=invoice-4711&limit=5", token=tenant.admin.token)
    assert resp.status == 200
    [line] = access_lines(caplog)
    assert line["path"] == "/api/v1/chat/sessions" and line["status"] == "200" and line["tenant"] == tenant.id
    assert "invoice-4711" not in everything_logged(caplog)


@pytest.mark.gen_test(timeout=60)
async def test_no_password_token_query_or_body_in_any_log_record(api, tenant_factory, caplog):
    tenant = await tenant_factory()
    wrong_password = "Wr0ng-Pa55word-Do-Not-Log"
    bogus_token = "eyJhbGciOiJIUzI1NiJ9.eyJib2d1cyI6dHJ1ZX0.NotARealSignatureDoNotLog"
    search = "SearchTextDoNotLog"
    body_text = "My card number is 4111-DoNotLog"
    capture(caplog)
    statuses = []

    async def call(method, path, body=None, token=None, headers=None, raw=None):
        resp = await api.request(method, path, json_body=body, token=token, headers=headers, raw=raw)
        statuses.append(resp.status)
        return resp

    # Sign-in: right, wrong, then wrong until rate limited (and right while limited).
    good = await call("POST", "/api/v1/auth/login", {"email": tenant.agent.email, "password": PASSWORD,
                                                      "tenant_id": tenant.id})
    assert good.status == 200
    fresh_token = good.json["token"]
    for _ in range(tenant.services.config.login_max_failures):
        assert (await call("POST", "/api/v1/auth/login", {"email": tenant.agent.email, "password": wrong_password,
                                                          "tenant_id": tenant.id})).status == 401
    limited = await call("POST", "/api/v1/auth/login", {"email": tenant.agent.email, "password": wrong_password,
                                                         "tenant_id": tenant.id})
    assert limited.status == 429
    assert (await call("POST", "/api/v1/auth/login", {"email": tenant.agent.email, "password": PASSWORD,
                                                      "tenant_id": tenant.id})).status == 429
    # Bodies that fail validation carry the password too.
    broken = '{"email": 5, "password": "%s"' % wrong_password
    assert (await call("POST", "/api/v1/auth/login", raw=broken)).status == 400
    assert (await call("POST", "/api/v1/auth/login", {"email": tenant.agent.email, "password": wrong_password,
                                                      "tenant_id": tenant.id, "extra": wrong_password})).status == 400

    # Bearer tokens: good, bogus, malformed.
    assert (await call("GET", "/api/v1/auth/me", token=fresh_token)).status == 200
    assert (await call("GET", "/api/v1/chat/sessions", token=bogus_token)).status == 401
    assert (await call("GET", "/api/v1/auth/me", headers={"Authorization": f"Token {bogus_token}"})).status == 401

    # Query strings: search text, a token where it must not be, undecodable bytes, a bad cursor.
    admin = tenant.admin.token
    assert (await call("GET", f"/api/v1/chat/sessions?q={search}&status=active", token=admin)).status == 200
    assert (await call("GET", f"/api/v1/chat/sessions?token={fresh_token}")).status == 400
    assert (await call("GET", f"/api/v1/chat/sessions?access_token={fresh_token}", token=admin)).status == 400
    assert (await call("GET", f"/api/v1/chat/sessions?q=%FF%FE{search}", token=admin)).status == 400
    assert (await call("GET", f"/api/v1/chat/sessions?cursor={search}", token=admin)).status == 400
    assert (await call("GET", f"/api/v1/chat/sessions?status={search}", token=admin)).status == 400
    assert (await call("GET", f"/healthz?secret={search}")).status == 200
    assert (await call("GET", f"/ws?token={fresh_token}")).status == 400

    # The visitor side: its token and what it writes.
    visitor = await tenant.visitor(api)
    sent = await call("POST", "/api/v1/chat/public/message", {"session_id": visitor.session_id, "message": body_text},
                      token=visitor.token)
    assert sent.status == 201
    assert (await call("POST", "/api/v1/chat/public/message", {"session_id": visitor.session_id,
                                                               "message": body_text}, token=bogus_token)).status == 401
    assert (await call("GET", f"/api/v1/chat/public/session/{visitor.session_id}?after_seq={search}",
                       token=visitor.token)).status == 400
    assert (await call("POST", "/api/v1/chat/messages", {"session_id": visitor.session_id, "message": body_text},
                       token=admin)).status == 201

    assert 401 in statuses and 429 in statuses and 400 in statuses
    logged = everything_logged(caplog)
    assert len(access_lines(caplog)) == len(statuses) + 1, "one line per request (the visitor start included)"
    secrets = {
        "the password": PASSWORD, "a wrong password": wrong_password, "the login token": fresh_token,
        "the agent token": admin, "a bogus token": bogus_token, "the visitor token": visitor.token,
        "search text": search, "a message body": body_text, "a quoted query": urllib.parse.quote(search),
    }
    leaked = {what: [t for t in record_texts(caplog) if value in t] for what, value in secrets.items()
              if value in logged}
    assert not leaked, f"found in the logs: {leaked}"
    assert "?" not in "".join(line["path"] for line in access_lines(caplog))


def test_debug_level_keeps_the_database_drivers_statement_trace_off():
    """CALLCENTER_LOG_LEVEL=DEBUG is for this project's code; aiosqlite's DEBUG trace prints every
    statement with its values (message bodies, search text), so the CLI keeps it at WARNING."""
    from callcenter import cli

    names = ("aiosqlite", "alembic", "")
    saved = {name: logging.getLogger(name).level for name in names}
    try:
        cli._configure_logging("DEBUG")
        assert logging.getLogger("aiosqlite").getEffectiveLevel() >= logging.WARNING
        assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() >= logging.WARNING
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
