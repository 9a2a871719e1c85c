"""The agent workspace's API: private notes with @mentions, canned responses, labels, the visitor's
satisfaction rating, the tenant's workspace settings, and what analytics make of ratings and labels.

Both backends, real sockets. Each limit is tried the way an attacker would: in parallel, at its edge,
from the wrong role and from another tenant.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from callcenter import workspace as workspace_module

from ..helpers import snapshot, wait_until
from ..wsclient import WsClient
from ._support import (SESSIONS, agent_says, all_messages, assert_error, gen_test, public_session, session_path,
                       visitor_says)

CANNED = "/api/v1/canned-responses"
LABELS = "/api/v1/labels"
TENANT = "/api/v1/tenant"


def rating_path(sid: str) -> str:
    return public_session(sid) + "/rating"


async def note(api, agent, sid: str, body: str, **extra):
    return await api.post(session_path(sid, "notes"), {"body": body, **extra}, token=agent.token)


async def make_label(api, tenant, name: str, color: str = "#336699") -> dict:
    resp = await api.post(LABELS, {"name": name, "color": color}, token=tenant.admin.token)
    assert resp.status == 201, resp.body
    return resp.json["label"]


async def set_labels(api, agent, sid: str, names: list[str]):
    return await api.put(session_path(sid, "labels"), {"labels": names}, token=agent.token)


async def resolve(api, agent, sid: str) -> None:
    resp = await api.post(session_path(sid, "resolve"), {}, token=agent.token)
    assert resp.status == 200, resp.body


# ---- private notes and @mentions ----------------------------------------------------------------

@gen_test
async def test_a_note_tells_the_colleagues_it_names_and_never_the_visitor(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    author, named = tenant.admin, tenant.agent  # "Ada Admin" writes, "Bob Agent" is named
    colleague = await tenant_factory.add_agent(tenant, name="Cy Colleague")
    bystander = await tenant_factory.add_agent(tenant, name="Di Bystander")
    visitor = await tenant.visitor(api)
    sid = visitor.session_id
    await visitor_says(api, visitor, "Where is my parcel?")
    sockets = {who.name: await WsClient.connect(base_url, who.token) for who in (author, named, colleague, bystander)}
    visitor_ws = await WsClient.connect(base_url, visitor.token)
    try:
        body = "@bob agent and @Cy Colleague: VIP, refund without asking. @Ada Admin @nobody"
        resp = await note(api, author, sid, body, client_msg_id="note-1")
        assert resp.status == 201, resp.body
        message = resp.json["message"]
        assert message["sender_type"] == "note" and message["body"] == body
        # Named in order, each once; the author naming themself tells nobody.
        assert message["mentions"] == [named.id, colleague.id]

        for who in (named, colleague):
            frame = await sockets[who.name].next("chat.note.mention", timeout=10)
            data = frame["data"]
            assert data["session_id"] == sid and data["by_agent_id"] == author.id
            assert data["message"]["id"] == message["id"] and data["message"]["body"] == body
            assert data["session"]["id"] == sid and "labels" in data["session"]
        # Every agent gets the note itself (it is the team's), only the named ones the mention.
        for client in sockets.values():
            assert await wait_until(lambda: any(m["id"] == message["id"] for m in client.messages(sid)))
        for who in (author, bystander):
            await sockets[who.name].quiet(0.3)
            assert "chat.note.mention" not in [f["type"] for f in sockets[who.name].frames], who.name

        # The same client_msg_id is the same note: no second message, no second mention.
        again = await note(api, author, sid, body, client_msg_id="note-1")
        assert again.status == 200 and again.json["created"] is False
        assert again.json["message"]["id"] == message["id"]
        await sockets[named.name].quiet(0.3)
        assert [f["type"] for f in sockets[named.name].frames].count("chat.note.mention") == 1

        # The agents' history has it with its mentions; the visitor never sees a trace of it.
        history = await all_messages(api, named, sid)
        assert [m["mentions"] for m in history if m["sender_type"] == "note"] == [[named.id, colleague.id]]
        assert all(m["mentions"] == [] for m in history if m["sender_type"] != "note")
        await visitor_ws.quiet(0.3)
        assert "VIP" not in json.dumps(visitor_ws.frames)
        public = await api.get(public_session(sid) + "?after_seq=0", token=visitor.token)
        assert public.status == 200 and "VIP" not in public.body.decode()
        assert public.json["session"]["last_message_preview"] == "Where is my parcel?"
    finally:
        for client in (*sockets.values(), visitor_ws):
            client.close()


@gen_test
async def test_a_note_names_only_active_colleagues_and_works_on_a_resolved_conversation(api, tenant_factory):
    tenant = await tenant_factory()
    gone = await tenant_factory.add_agent(tenant, name="Eve Gone")
    assert (await api.post(f"/api/v1/agents/{gone.id}/deactivate", {}, token=tenant.admin.token)).status == 200
    sid = (await tenant.visitor(api)).session_id
    await resolve(api, tenant.agent, sid)
    resp = await note(api, tenant.agent, sid, "@Eve Gone @Ada Admin for the record")
    assert resp.status == 201, resp.body
    assert resp.json["message"]["mentions"] == [tenant.admin.id]
    # A note is internal: it does not reopen the conversation.
    detail = await api.get(session_path(sid), token=tenant.agent.token)
    assert detail.json["session"]["status"] == "resolved"


@pytest.mark.parametrize("body,status,code", [
    ({"body": ""}, 400, "invalid_input"),
    ({"body": "   \n "}, 400, "invalid_input"),
    ({"body": "x" * 5001}, 400, "invalid_input"),
    ({"body": 5}, 400, "invalid_input"),
    ({"message": "wrong field"}, 400, "invalid_input"),
    ({"body": "ok", "client_msg_id": "x" * 200}, 400, "invalid_input"),
])
@gen_test
async def test_a_bad_note_is_refused_and_changes_nothing(api, tenant_factory, body, status, code):
    tenant = await tenant_factory()
    sid = (await tenant.visitor(api)).session_id
    before = await snapshot(tenant.services.store, tenant.id)
    resp = await api.post(session_path(sid, "notes"), body, token=tenant.agent.token)
    assert_error(resp, status, code)
    assert await snapshot(tenant.services.store, tenant.id) == before


@gen_test
async def test_notes_need_an_agent_of_the_tenant(api, tenant_factory):
    tenant, other = await tenant_factory(), await tenant_factory()
    visitor = await tenant.visitor(api)
    assert_error(await note(api, other.admin, visitor.session_id, "hi"), 404, "session_not_found")
    assert_error(await api.post(session_path(visitor.session_id, "notes"), {"body": "hi"}, token=visitor.token), 401)
    assert_error(await note(api, tenant.agent, "no-such-session", "hi"), 404, "session_not_found")


# ---- canned responses -------------------------------------------------------------------------

@gen_test
async def test_canned_responses_admins_keep_them_agents_use_them(api, tenant_factory):
    tenant, other = await tenant_factory(), await tenant_factory()
    admin, agent = tenant.admin, tenant.agent
    assert (await api.get(CANNED, token=agent.token)).json == {"canned_responses": []}  # the empty state

    made = await api.post(CANNED, {"shortcut": "refund", "title": "Refund policy",
                                   "body": "Hi {{customer.name}}, refunds take 5 days. – {{agent.name}}"},
                          token=admin.token)
    assert made.status == 201, made.body
    canned = made.json["canned_response"]
    assert (canned["shortcut"], canned["title"]) == ("refund", "Refund policy")
    await api.post(CANNED, {"shortcut": "hello", "title": "Greeting", "body": "Hello!"}, token=admin.token)

    listed = (await api.get(CANNED, token=agent.token)).json["canned_responses"]
    assert [c["shortcut"] for c in listed] == ["hello", "refund"]  # by shortcut
    assert (await api.get(CANNED, token=other.agent.token)).json == {"canned_responses": []}

    # Agents use them; only admins change them.
    assert_error(await api.post(CANNED, {"shortcut": "mine", "title": "t", "body": "b"}, token=agent.token),
                 403, "admin_only")
    assert_error(await api.patch(f"{CANNED}/{canned['id']}", {"title": "x"}, token=agent.token), 403, "admin_only")
    assert_error(await api.delete(f"{CANNED}/{canned['id']}", token=agent.token), 403, "admin_only")

    # A shortcut is the tenant's once; another tenant may use the same one.
    assert_error(await api.post(CANNED, {"shortcut": "refund", "title": "t", "body": "b"}, token=admin.token),
                 409, "shortcut_taken")
    assert (await api.post(CANNED, {"shortcut": "refund", "title": "t", "body": "b"},
                           token=other.admin.token)).status == 201

    changed = await api.patch(f"{CANNED}/{canned['id']}", {"title": "Refunds"}, token=admin.token)
    assert changed.status == 200, changed.body
    assert changed.json["canned_response"]["title"] == "Refunds"
    assert changed.json["canned_response"]["body"] == canned["body"]  # only the fields given
    assert_error(await api.patch(f"{CANNED}/{canned['id']}", {"shortcut": "hello"}, token=admin.token),
                 409, "shortcut_taken")
    for bad_id in ("999999999", "abc", "1" * 30):
        assert_error(await api.patch(f"{CANNED}/{bad_id}", {"title": "x"}, token=admin.token),
                     404, "canned_response_not_found")
    # Another tenant's admin cannot reach it.
    assert_error(await api.delete(f"{CANNED}/{canned['id']}", token=other.admin.token), 404,
                 "canned_response_not_found")

    gone = await api.delete(f"{CANNED}/{canned['id']}", token=admin.token)
    assert gone.status == 204 and gone.body == b""
    assert_error(await api.delete(f"{CANNED}/{canned['id']}", token=admin.token), 404, "canned_response_not_found")
    assert [c["shortcut"] for c in (await api.get(CANNED, token=agent.token)).json["canned_responses"]] == ["hello"]


LISTS = {CANNED: "canned_responses", LABELS: "labels"}


@pytest.mark.parametrize("path,body", [
    (CANNED, {"shortcut": "Has Space", "title": "t", "body": "b"}),
    (CANNED, {"shortcut": "UPPER", "title": "t", "body": "b"}),
    (CANNED, {"shortcut": "", "title": "t", "body": "b"}),
    (CANNED, {"shortcut": "x" * 33, "title": "t", "body": "b"}),
    (CANNED, {"shortcut": "ok", "title": "two\nlines", "body": "b"}),
    (CANNED, {"shortcut": "ok", "title": "x" * 101, "body": "b"}),
    (CANNED, {"shortcut": "ok", "title": " ", "body": "b"}),
    (CANNED, {"shortcut": "ok", "title": "t", "body": "x" * 5001}),
    (CANNED, {"shortcut": "ok", "title": "t"}),
    (CANNED, {"shortcut": "ok", "title": "t", "body": "b", "extra": 1}),
    (LABELS, {"name": "ok", "color": "red"}),
    (LABELS, {"name": "ok", "color": "#12345"}),
    (LABELS, {"name": "ok", "color": "#1234567"}),
    (LABELS, {"name": "", "color": "#123456"}),
    (LABELS, {"name": "x" * 41, "color": "#123456"}),
    (LABELS, {"name": "a\tb", "color": "#123456"}),
    (LABELS, {"name": "ok"}),
])
@gen_test
async def test_a_bad_canned_response_or_label_is_refused(api, tenant_factory, path, body):
    tenant = await tenant_factory()
    assert_error(await api.post(path, body, token=tenant.admin.token), 400, "invalid_input")
    assert (await api.get(path, token=tenant.admin.token)).json == {LISTS[path]: []}


@pytest.mark.parametrize("path,cap_name,body", [
    (CANNED, "MAX_CANNED_RESPONSES", lambda i: {"shortcut": f"s{i}", "title": "t", "body": "b"}),
    (LABELS, "MAX_LABELS", lambda i: {"name": f"Label {i}", "color": "#123456"}),
])
@gen_test
async def test_the_per_tenant_caps_hold_under_parallel_creates(api, tenant_factory, monkeypatch, path, cap_name,
                                                               body):
    monkeypatch.setattr(workspace_module, cap_name, 5)
    tenant = await tenant_factory()
    answers = await asyncio.gather(*(api.post(path, body(i), token=tenant.admin.token) for i in range(12)))
    assert sorted(r.status for r in answers) == [201] * 5 + [409] * 7
    assert {r.error_code for r in answers if r.status == 409} == {"too_many"}
    assert len((await api.get(path, token=tenant.admin.token)).json[LISTS[path]]) == 5


@gen_test
async def test_a_shortcut_claimed_by_many_at_once_is_made_once(api, tenant_factory):
    other = await tenant_factory()
    same = await asyncio.gather(*(
        api.post(CANNED, {"shortcut": "dup", "title": f"t{i}", "body": "b"}, token=other.admin.token)
        for i in range(8)))
    assert sorted(r.status for r in same) == [201] + [409] * 7


# ---- labels -------------------------------------------------------------------------------------

@gen_test
async def test_labels_admins_define_them_agents_put_them_on_conversations(api, base_url, tenant_factory):
    tenant, other = await tenant_factory(), await tenant_factory()
    admin, agent = tenant.admin, tenant.agent
    visitor = await tenant.visitor(api)
    sid = visitor.session_id
    plain = (await tenant.visitor(api, name="Plain")).session_id
    assert (await api.get(LABELS, token=agent.token)).json == {"labels": []}

    billing = await make_label(api, tenant, "Billing", "#FF0000")
    assert billing["color"] == "#ff0000"
    assert_error(await api.post(LABELS, {"name": "billing", "color": "#000000"}, token=admin.token),
                 409, "label_exists")  # names are the tenant's once, whatever their case
    assert_error(await api.post(LABELS, {"name": "VIP", "color": "#000000"}, token=agent.token), 403, "admin_only")
    assert (await api.post(LABELS, {"name": "Billing", "color": "#000000"}, token=other.admin.token)).status == 201

    agent_ws = await WsClient.connect(base_url, agent.token)
    visitor_ws = await WsClient.connect(base_url, visitor.token)
    try:
        # An unknown name is refused and nothing changes.
        before = await snapshot(tenant.services.store, tenant.id)
        assert_error(await set_labels(api, agent, sid, ["billing", "VIP"]), 400, "unknown_label")
        assert await snapshot(tenant.services.store, tenant.id) == before

        await make_label(api, tenant, "VIP", "#00aa00")
        resp = await set_labels(api, agent, sid, ["vip", "billing", "VIP"])
        assert resp.status == 200, resp.body
        assert resp.json["session"]["labels"] == ["Billing", "VIP"]  # canonical names, sorted, once
        frame = await agent_ws.next("chat.session.updated", timeout=10)
        assert frame["data"]["session"]["labels"] == ["Billing", "VIP"]

        detail = await api.get(session_path(sid), token=agent.token)
        assert detail.json["session"]["labels"] == ["Billing", "VIP"]
        listed = {s["id"]: s for s in (await api.get(SESSIONS, token=agent.token)).json["sessions"]}
        assert listed[sid]["labels"] == ["Billing", "VIP"] and listed[plain]["labels"] == []

        # The list filters by label, whatever its case; a label the tenant lacks filters to nothing.
        for query, expected in (("label=vip", [sid]), ("label=Billing", [sid]), ("label=Nope", []),
                                ("label=", [sid, plain])):
            got = await api.get(f"{SESSIONS}?{query}", token=agent.token)
            assert got.status == 200, got.body
            assert sorted(s["id"] for s in got.json["sessions"]) == sorted(expected), query
        assert_error(await api.get(f"{SESSIONS}?label={'x' * 41}", token=agent.token), 400, "invalid_query")
        # Another tenant's "Billing" is not this one's.
        assert (await api.get(f"{SESSIONS}?label=Billing", token=other.agent.token)).json["sessions"] == []

        # Deleting a label takes it off every conversation, and the agents are told.
        assert (await api.delete(f"{LABELS}/{billing['id']}", token=admin.token)).status == 204
        frame = await agent_ws.next("chat.session.updated", timeout=10)
        assert frame["data"]["session_id"] == sid and frame["data"]["session"]["labels"] == ["VIP"]
        assert_error(await api.delete(f"{LABELS}/{billing['id']}", token=admin.token), 404, "label_not_found")
        assert [lab["name"] for lab in (await api.get(LABELS, token=agent.token)).json["labels"]] == ["VIP"]

        # An empty list clears them.
        assert (await set_labels(api, agent, sid, [])).json["session"]["labels"] == []

        # Labels are the team's: nothing the visitor gets carries them.
        await visitor_says(api, visitor, "still there?")
        await visitor_ws.quiet(0.3)
        for frame in visitor_ws.frames:
            assert "labels" not in json.dumps(frame), frame
        public = await api.get(public_session(sid) + "?after_seq=0", token=visitor.token)
        assert "labels" not in public.json["session"]
    finally:
        agent_ws.close()
        visitor_ws.close()


@pytest.mark.parametrize("body", [
    {"labels": [f"l{i}" for i in range(21)]},
    {"labels": ["x" * 41]},
    {"labels": ["two\nlines"]},
    {"labels": [""]},
    {"labels": "Billing"},
    {"labels": [3]},
    {},
])
@gen_test
async def test_bad_session_labels_are_refused(api, tenant_factory, body):
    tenant = await tenant_factory()
    sid = (await tenant.visitor(api)).session_id
    before = await snapshot(tenant.services.store, tenant.id)
    assert_error(await api.put(session_path(sid, "labels"), body, token=tenant.agent.token), 400, "invalid_input")
    assert await snapshot(tenant.services.store, tenant.id) == before


@gen_test
async def test_labelling_and_deleting_a_label_at_once_leave_no_stale_label(api, tenant_factory):
    tenant = await tenant_factory()
    sids = [(await tenant.visitor(api, name=f"V{i}")).session_id for i in range(4)]
    for _ in range(3):
        doomed = await make_label(api, tenant, "Doomed")
        answers = await asyncio.gather(
            api.delete(f"{LABELS}/{doomed['id']}", token=tenant.admin.token),
            *(set_labels(api, tenant.agent, sid, ["Doomed"]) for sid in sids))
        assert answers[0].status == 204
        assert all(r.status in (200, 400) for r in answers[1:]), [(r.status, r.body) for r in answers]
        for sid in sids:
            assert (await api.get(session_path(sid), token=tenant.agent.token)).json["session"]["labels"] == []
        assert (await api.get(f"{SESSIONS}?label=Doomed", token=tenant.agent.token)).json["sessions"] == []


# ---- the visitor's rating -----------------------------------------------------------------------

@gen_test
async def test_the_visitor_rates_a_resolved_conversation(api, base_url, tenant_factory, monkeypatch):
    tenant = await tenant_factory()
    agent = tenant.agent
    visitor = await tenant.visitor(api)
    sid = visitor.session_id
    await visitor_says(api, visitor, "help")
    assert (await api.post(session_path(sid, "assign"), {}, token=agent.token)).status == 200
    await agent_says(api, agent, sid, "done!")

    assert_error(await api.post(rating_path(sid), {"score": 5}, token=visitor.token), 409, "not_resolved")
    await resolve(api, agent, sid)
    agent_ws = await WsClient.connect(base_url, agent.token)
    try:
        rated = await api.post(rating_path(sid), {"score": 5, "comment": "  Quick and kind  "}, token=visitor.token)
        assert rated.status == 200, rated.body
        rating = rated.json["session"]["rating"]
        assert (rating["score"], rating["comment"]) == (5, "Quick and kind") and rating["rated_at"]
        assert "labels" not in rated.json["session"]
        frame = await agent_ws.next("chat.session.updated", timeout=10)
        assert frame["data"]["session"]["rating"]["score"] == 5
        detail = await api.get(session_path(sid), token=agent.token)
        assert detail.json["session"]["rating"] == rating

        # Within the change window the new answer replaces the first (which keeps its time) …
        changed = await api.post(rating_path(sid), {"score": 4}, token=visitor.token)
        assert changed.status == 200
        assert changed.json["session"]["rating"] == {"score": 4, "comment": "", "rated_at": rating["rated_at"]}
        # … after it, the rating stands.
        monkeypatch.setattr(workspace_module, "RATING_CHANGE_WINDOW_SECS", 0)
        await asyncio.sleep(0.01)
        assert_error(await api.post(rating_path(sid), {"score": 1}, token=visitor.token), 409, "already_rated")
        assert (await api.get(session_path(sid), token=agent.token)).json["session"]["rating"]["score"] == 4
    finally:
        agent_ws.close()

    # A conversation that comes back and is resolved again may be rated again (the last rating is
    # shown while it is open).
    await visitor_says(api, visitor, "one more thing")
    assert (await api.get(session_path(sid), token=agent.token)).json["session"]["rating"]["score"] == 4
    await resolve(api, agent, sid)
    assert (await api.get(session_path(sid), token=agent.token)).json["session"]["rating"] is None
    again = await api.post(rating_path(sid), {"score": 2, "comment": "slow this time"}, token=visitor.token)
    assert again.status == 200 and again.json["session"]["rating"]["score"] == 2


@pytest.mark.parametrize("body", [
    {"score": 0}, {"score": 6}, {"score": "5"}, {"score": 4.5}, {"score": None}, {},
    {"score": 5, "comment": "x" * 1001}, {"score": 5, "comment": 7}, {"score": 5, "extra": True},
])
@gen_test
async def test_a_bad_rating_is_refused_and_changes_nothing(api, tenant_factory, body):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    await resolve(api, tenant.agent, visitor.session_id)
    before = await snapshot(tenant.services.store, tenant.id)
    assert_error(await api.post(rating_path(visitor.session_id), body, token=visitor.token), 400, "invalid_input")
    assert await snapshot(tenant.services.store, tenant.id) == before


@gen_test
async def test_only_the_conversations_visitor_rates_it(api, tenant_factory):
    tenant = await tenant_factory()
    visitor, stranger = await tenant.visitor(api), await tenant.visitor(api, name="Stranger")
    await resolve(api, tenant.agent, visitor.session_id)
    before = await snapshot(tenant.services.store, tenant.id)
    assert_error(await api.post(rating_path(visitor.session_id), {"score": 1}, token=stranger.token), 404)
    assert_error(await api.post(rating_path(visitor.session_id), {"score": 1}), 401)
    assert_error(await api.post(rating_path(visitor.session_id), {"score": 1}, token=tenant.agent.token), 401)
    assert await snapshot(tenant.services.store, tenant.id) == before


@gen_test
async def test_many_ratings_at_once_leave_one(api, tenant_factory, monkeypatch):
    monkeypatch.setattr(workspace_module, "RATING_CHANGE_WINDOW_SECS", 0)
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    await resolve(api, tenant.agent, visitor.session_id)
    answers = await asyncio.gather(*(api.post(rating_path(visitor.session_id), {"score": 1 + i % 5},
                                              token=visitor.token) for i in range(8)))
    assert all(r.status in (200, 409) for r in answers), [(r.status, r.body) for r in answers]
    assert any(r.status == 200 for r in answers)
    detail = await api.get(session_path(visitor.session_id), token=tenant.agent.token)
    assert detail.json["session"]["rating"]["score"] in range(1, 6)


@gen_test
async def test_admins_turn_the_satisfaction_survey_off(api, tenant_factory):
    tenant = await tenant_factory()
    got = await api.get(TENANT, token=tenant.agent.token)
    assert got.status == 200
    assert got.json["tenant"] == {"id": tenant.id, "name": f"Tenant {tenant.id}",
                                  "allowed_origins": ["http://allowed.example"]}
    assert got.json["settings"]["csat_enabled"] is True  # (beside `widget`: tests/api/test_admin_console.py)
    info = await api.get(f"/api/v1/chat/public/tenants/{tenant.id}")
    assert info.json["settings"]["csat_enabled"] is True

    assert_error(await api.patch(TENANT, {"csat_enabled": False}, token=tenant.agent.token), 403, "admin_only")
    for bad in ({"csat_enabled": "no"}, {"csat_enabled": 0}, {"name": ""}):
        assert_error(await api.patch(TENANT, bad, token=tenant.admin.token), 400, "invalid_input")
    off = await api.patch(TENANT, {"csat_enabled": False}, token=tenant.admin.token)
    assert off.status == 200 and off.json["settings"]["csat_enabled"] is False
    assert (await api.patch(TENANT, {}, token=tenant.admin.token)).json["settings"]["csat_enabled"] is False
    info = await api.get(f"/api/v1/chat/public/tenants/{tenant.id}")
    assert info.json["settings"]["csat_enabled"] is False

    visitor = await tenant.visitor(api)
    await resolve(api, tenant.agent, visitor.session_id)
    assert_error(await api.post(rating_path(visitor.session_id), {"score": 5}, token=visitor.token), 409, "csat_off")
    # The AI settings (kept beside them) are untouched.
    ai = await api.get("/api/v1/ai/settings", token=tenant.admin.token)
    assert ai.status == 200


# ---- analytics ----------------------------------------------------------------------------------

@gen_test
async def test_analytics_count_ratings_and_labels(api, tenant_factory):
    tenant = await tenant_factory()
    agent = tenant.agent
    await make_label(api, tenant, "Billing")
    await make_label(api, tenant, "VIP")
    scores = [5, 4, 4, 1]
    for i, score in enumerate(scores):
        visitor = await tenant.visitor(api, name=f"Rater {i}")
        sid = visitor.session_id
        assert (await api.post(session_path(sid, "assign"), {}, token=agent.token)).status == 200
        assert (await set_labels(api, agent, sid, ["Billing"] + (["VIP"] if i == 0 else []))).status == 200
        await resolve(api, agent, sid)
        assert (await api.post(rating_path(sid), {"score": score}, token=visitor.token)).status == 200
    await tenant.visitor(api, name="Unrated")

    resp = await api.get("/api/v1/analytics?utc_offset_minutes=0", token=tenant.admin.token)
    assert resp.status == 200, resp.body
    data = resp.json
    assert data["ratings"] == {"count": 4, "average": 3.5,
                               "distribution": {"1": 1, "2": 0, "3": 0, "4": 2, "5": 1}}
    assert data["labels"] == [{"name": "Billing", "conversations": 4}, {"name": "VIP", "conversations": 1}]
    today = data["by_day"][-1]
    assert today["ratings"] == {"count": 4, "average": 3.5}
    assert all(day["ratings"] == {"count": 0, "average": None} for day in data["by_day"][:-1])
    mine = {a["agent_id"]: a for a in data["agents"]}[agent.id]
    assert mine["ratings"] == {"count": 4, "average": 3.5}

    # Another tenant's analytics hold none of it.
    other = await tenant_factory()
    theirs = (await api.get("/api/v1/analytics?utc_offset_minutes=0", token=other.admin.token)).json
    assert theirs["ratings"]["count"] == 0 and theirs["labels"] == []
