"""Agent routes: listing (filters, search, cursor paging), detail, messages, send, assign, transfer,
resolve/reopen, read marks, the agents list, and the no-gap seq guarantee with system messages."""
import asyncio

import pytest

from callcenter.store.aggregates import sessions as store_module  # the search budget's settings
from callcenter.store import sessions as sessions_table

from ..helpers import snapshot
from ._support import (AGENT_MESSAGE, SESSIONS, agent_says, all_messages, assert_error, gen_test, get_session,
                       session_path, visitor_says)


async def list_ids(api, agent, query: str = "") -> list[str]:
    resp = await api.get(f"{SESSIONS}?limit=100{'&' + query if query else ''}", token=agent.token)
    assert resp.status == 200, resp.body
    assert resp.json["next_cursor"] is None
    return [s["id"] for s in resp.json["sessions"]]


async def assign(api, agent, sid, agent_id=None):
    return await api.post(session_path(sid, "assign"), {} if agent_id is None else {"agent_id": agent_id},
                          token=agent.token)


# ---- list: filters -------------------------------------------------------------

@gen_test
async def test_list_filters_by_status_and_assignee(api, tenant_factory):
    tenant = await tenant_factory()
    me, admin = tenant.agent, tenant.admin
    colleague = await tenant_factory.add_agent(tenant)
    s_open = (await tenant.visitor(api)).session_id
    s_mine = (await tenant.visitor(api)).session_id
    s_other = (await tenant.visitor(api)).session_id
    s_resolved = (await tenant.visitor(api)).session_id
    s_resolved_unassigned = (await tenant.visitor(api)).session_id
    assert (await assign(api, me, s_mine)).status == 200
    assert (await assign(api, admin, s_other, colleague.id)).status == 200
    assert (await assign(api, me, s_resolved)).status == 200
    for sid in (s_resolved, s_resolved_unassigned):
        assert (await api.post(session_path(sid, "resolve"), {}, token=me.token)).status == 200

    everything = {s_open, s_mine, s_other, s_resolved, s_resolved_unassigned}
    cases = {
        "": everything,
        "status=open": {s_open},
        "status=assigned": {s_mine, s_other},
        "status=resolved": {s_resolved, s_resolved_unassigned},
        "status=active": {s_open, s_mine, s_other},
        "assigned=me": {s_mine, s_resolved},
        "assigned=none": {s_open, s_resolved_unassigned},
        f"assigned={colleague.id}": {s_other},
        f"assigned={admin.id}": set(),
        "assigned=999999": set(),
        "status=active&assigned=me": {s_mine},
        "status=active&assigned=none": {s_open},
        "status=resolved&assigned=me": {s_resolved},
    }
    for query, expected in cases.items():
        ids = await list_ids(api, me, query)
        assert set(ids) == expected, query
        assert len(ids) == len(set(ids)), query
    # "me" is whoever asks.
    assert set(await list_ids(api, colleague, "assigned=me")) == {s_other}
    listed = {s["id"]: s for s in (await api.get(SESSIONS, token=me.token)).json["sessions"]}
    assert listed[s_mine]["status"] == "assigned" and listed[s_mine]["assigned_agent_id"] == me.id
    assert listed[s_other]["assigned_agent_id"] == colleague.id
    assert listed[s_resolved]["status"] == "resolved" and listed[s_resolved]["resolved_at"]


@pytest.mark.parametrize("query", ["status=closed", "status=OPEN", "assigned=someone", "assigned=-1",
                                   "assigned=1.5", "assigned=99999999999", "limit=0", "limit=101", "limit=x",
                                   "q=" + "x" * 201, "limit=%05", "status=%05", "label=" + "x" * 41])
@gen_test
async def test_list_rejects_bad_query(api, tenant_factory, query):
    tenant = await tenant_factory()
    assert_error(await api.get(f"{SESSIONS}?{query}", token=tenant.agent.token), 400, "invalid_query")


# ---- list: search --------------------------------------------------------------

@gen_test
async def test_search_over_name_email_and_text(api, tenant_factory):
    tenant = await tenant_factory()
    alice = await tenant.visitor(api, name="Alice Anders", email="alice@shop.example")
    bob = await tenant.visitor(api, name="Bob_Builder", email="bob@shop.example")
    bobx = await tenant.visitor(api, name="BobXBuilder", email="carol@shop.example")
    await visitor_says(api, alice, "My parcel is late")
    await visitor_says(api, bob, "Is it really 100% off?")
    await visitor_says(api, bobx, "Is it really 1000 off?")
    await agent_says(api, tenant.agent, bobx.session_id, "Answered by the backslash \\ team")
    cases = {
        "alice": {alice.session_id},            # name
        "ALICE": {alice.session_id},            # case-insensitive
        "carol%40shop": {bobx.session_id},      # email ("carol@shop")
        "parcel": {alice.session_id},           # message text
        "really": {bob.session_id, bobx.session_id},
        "Bob_": {bob.session_id},               # _ is literal, not "any one character"
        "_": {bob.session_id},
        "100%25": {bob.session_id},             # % is literal ("100%")
        "%25": {bob.session_id},
        "b%25b": set(),                          # not a wildcard
        "%5C": {bobx.session_id},               # backslash is literal
        "shop.example": {alice.session_id, bob.session_id, bobx.session_id},
        "nothing-matches-this": set(),
        "%20%20parcel%20": {alice.session_id},  # trimmed
    }
    for q, expected in cases.items():
        assert set(await list_ids(api, tenant.agent, f"q={q}")) == expected, q
    # Search combines with the other filters.
    assert (await assign(api, tenant.agent, bob.session_id)).status == 200
    assert set(await list_ids(api, tenant.agent, "q=really&status=open")) == {bobx.session_id}
    assert set(await list_ids(api, tenant.agent, "q=really&assigned=me")) == {bob.session_id}


@gen_test
async def test_search_reads_a_bounded_number_of_conversations_per_call(api, tenant_factory, services, monkeypatch):
    """A word that matches nothing must not read a tenant's whole history in one call: the search
    stops after CALLCENTER_SEARCH_SCAN_SESSIONS and says how far back it got; the cursor goes on from there,
    so paging still finds every match, newest first, exactly once."""
    monkeypatch.setattr(services.config, "search_scan_sessions", 3)  # CALLCENTER_SEARCH_SCAN_SESSIONS
    monkeypatch.setattr(store_module, "SEARCH_CHUNK_SESSIONS", 2)
    monkeypatch.setattr(store_module, "SEARCH_TIME_BUDGET_SECS", 60.0)
    tenant = await tenant_factory()
    made = []
    for i in range(8):
        visitor = await tenant.visitor(api, name=f"Customer {i}")
        await visitor_says(api, visitor, "needle in here" if i in (0, 1, 5) else "hay")
        made.append(visitor.session_id)
    newest_first = list(reversed(made))
    pages, cursor = [], None
    while True:
        resp = await api.get(f"{SESSIONS}?q=needle&limit=2" + (f"&cursor={cursor}" if cursor else ""),
                             token=tenant.agent.token)
        assert resp.status == 200, resp.body
        pages.append(([s["id"] for s in resp.json["sessions"]], resp.json["searched_until"]))
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break
    # 8 sessions, 3 read per call: the newest match (5) is 3rd newest; then 1 and 0 are the oldest two.
    assert [ids for ids, _ in pages] == [[made[5]], [], [made[1], made[0]]]
    assert pages[0][1] is not None and pages[1][1] is not None and pages[2][1] is None
    assert pages[0][1] > pages[1][1]  # each call got further back
    # Out of time after the first chunk (2 sessions here): more calls, the same matches.
    monkeypatch.setattr(store_module, "SEARCH_TIME_BUDGET_SECS", 0.0)
    found, calls, cursor = [], 0, None
    while True:
        resp = await api.get(f"{SESSIONS}?q=needle&limit=2" + (f"&cursor={cursor}" if cursor else ""),
                             token=tenant.agent.token)
        found += [s["id"] for s in resp.json["sessions"]]
        calls += 1
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break
    assert found == [made[5], made[1], made[0]] and calls >= 4
    monkeypatch.setattr(store_module, "SEARCH_TIME_BUDGET_SECS", 60.0)
    # A full page ends the call early, with an ordinary cursor (no searched_until).
    resp = await api.get(f"{SESSIONS}?q=Customer&limit=2", token=tenant.agent.token)
    assert [s["id"] for s in resp.json["sessions"]] == newest_first[:2]
    assert resp.json["next_cursor"] and resp.json["searched_until"] is None
    # Without q, nothing changes: every session, no searched_until.
    resp = await api.get(f"{SESSIONS}?limit=100", token=tenant.agent.token)
    assert [s["id"] for s in resp.json["sessions"]] == newest_first and resp.json["searched_until"] is None


# ---- list: cursor paging -------------------------------------------------------

@pytest.mark.parametrize("limit", [1, 3, 10])
@gen_test
async def test_cursor_pagination_walks_every_session_once_newest_first(api, tenant_factory, limit):
    tenant = await tenant_factory()
    store = tenant.services.store
    made = [(await tenant.visitor(api)).session_id for _ in range(8)]
    # Fix the activity times: distinct ones, and a run of equal ones that only the id can order.
    times = [1_700_000_000_000 + 1000 * i for i in range(5)] + [1_700_000_010_000] * 3
    async with store.engine.begin() as conn:
        for sid, ts in zip(made, times):
            await conn.execute(sessions_table.update().where(sessions_table.c.id == sid).values(updated_at_ms=ts))
    expected = [sid for _, sid in sorted(zip(times, made), reverse=True)]

    seen, cursor, pages = [], None, 0
    while True:
        url = f"{SESSIONS}?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        resp = await api.get(url, token=tenant.agent.token)
        assert resp.status == 200, resp.body
        page = [s["id"] for s in resp.json["sessions"]]
        assert len(page) <= limit
        seen += page
        pages += 1
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break
        assert pages <= len(made), "pagination does not end"
    assert seen == expected
    assert len(seen) == len(set(seen)) == len(made)
    # Newest activity first.
    stamps = [s["updated_at"] for s in (await api.get(f"{SESSIONS}?limit=100", token=tenant.agent.token))
              .json["sessions"]]
    assert stamps == sorted(stamps, reverse=True)


@gen_test
async def test_cursor_pages_respect_filters(api, tenant_factory):
    tenant = await tenant_factory()
    made = [(await tenant.visitor(api)).session_id for _ in range(5)]
    for sid in made[:3]:
        assert (await assign(api, tenant.agent, sid)).status == 200
    seen, cursor = [], None
    while True:
        resp = await api.get(f"{SESSIONS}?status=assigned&limit=2" + (f"&cursor={cursor}" if cursor else ""),
                             token=tenant.agent.token)
        assert resp.status == 200
        seen += [s["id"] for s in resp.json["sessions"]]
        cursor = resp.json["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made[:3])


@pytest.mark.parametrize("cursor", ["garbage!!", "YWJj", "bm90LWEtY3Vyc29y",  # "abc"  # "not-a-cursor"
                                    "MTIzOmFiYydcLS0",  # "123:abc'\--"
                                    "eHl6OmFiYw",  # "xyz:abc"
                                    "w6k", "x" * 300])
@gen_test
async def test_invalid_cursor(api, tenant_factory, cursor):
    tenant = await tenant_factory()
    assert_error(await api.get(f"{SESSIONS}?cursor={cursor}", token=tenant.agent.token), 400, "invalid_query")


# ---- detail and messages --------------------------------------------------------

@gen_test
async def test_session_detail_with_previous_sessions(api, tenant_factory):
    tenant = await tenant_factory()
    first = await tenant.visitor(api, name="Ann", email="ann@example.com")
    await visitor_says(api, first, "first visit")
    stranger = await tenant.visitor(api, name="Zed", email="zed@example.com")
    second = await tenant.visitor(api, name="Ann", email="ann@example.com")
    assert (await assign(api, tenant.agent, second.session_id)).status == 200

    resp = await api.get(session_path(second.session_id), token=tenant.admin.token)
    assert resp.status == 200, resp.body
    body = resp.json
    assert body["session"]["id"] == second.session_id
    assert body["session"]["customer_email"] == "ann@example.com"
    assert isinstance(body["session"]["visitor_id"], int)
    assert "page_url" in body["session"] and "user_agent" in body["session"]
    assert body["agent"] == {"id": tenant.agent.id, "name": "Bob Agent"}
    assert [s["id"] for s in body["previous_sessions"]] == [first.session_id]
    assert body["previous_sessions"][0]["last_message_preview"] == "first visit"

    lone = (await api.get(session_path(stranger.session_id), token=tenant.agent.token)).json
    assert lone["previous_sessions"] == [] and lone["agent"] is None


@gen_test
async def test_messages_after_seq_and_before_seq(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    for i in range(1, 9):
        if i % 2:
            await visitor_says(api, visitor, f"m{i}")
        else:
            await agent_says(api, tenant.agent, visitor.session_id, f"m{i}")
    path = session_path(visitor.session_id, "messages")

    async def seqs(query):
        resp = await api.get(f"{path}?{query}", token=tenant.agent.token)
        assert resp.status == 200, resp.body
        assert resp.json["session_id"] == visitor.session_id and resp.json["last_seq"] == 8
        assert [m["body"] for m in resp.json["messages"]] == [f"m{m['seq']}" for m in resp.json["messages"]]
        return [m["seq"] for m in resp.json["messages"]]

    assert await seqs("") == list(range(1, 9))
    assert await seqs("after_seq=0") == list(range(1, 9))
    assert await seqs("after_seq=5") == [6, 7, 8]
    assert await seqs("after_seq=8") == []
    assert await seqs("after_seq=2&limit=3") == [3, 4, 5]
    # Older history, page by page, walking back from the end.
    assert await seqs("before_seq=9&limit=3") == [6, 7, 8]
    assert await seqs("before_seq=6&limit=3") == [3, 4, 5]
    assert await seqs("before_seq=3&limit=3") == [1, 2]
    assert await seqs("before_seq=1") == []
    for bad in ("after_seq=-1", "after_seq=x", "before_seq=0", "before_seq=x", "limit=0", "limit=501"):
        assert_error(await api.get(f"{path}?{bad}", token=tenant.agent.token), 400, "invalid_query")
    kinds = [m["sender_type"] for m in await all_messages(api, tenant.agent, visitor.session_id)]
    assert kinds == ["visitor", "agent"] * 4


# ---- agent send ------------------------------------------------------------------

@gen_test
async def test_agent_send_is_idempotent(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    body = {"session_id": visitor.session_id, "message": "On it!", "client_msg_id": "agent-1"}
    first = await api.post(AGENT_MESSAGE, body, token=tenant.agent.token)
    assert first.status == 201 and first.json["created"] is True
    msg = first.json["message"]
    assert msg["sender_type"] == "agent" and msg["sender_id"] == tenant.agent.id and msg["sender_name"] == "Bob Agent"
    stored = await snapshot(tenant.services.store, tenant.id)
    again = await api.post(AGENT_MESSAGE, body, token=tenant.agent.token)
    assert again.status == 200 and again.json["created"] is False and again.json["message"] == msg
    assert await snapshot(tenant.services.store, tenant.id) == stored
    # The id is the sender's own: the same one from someone else is another message.
    by_admin = await api.post(AGENT_MESSAGE, body, token=tenant.admin.token)
    assert by_admin.status == 201 and by_admin.json["message"]["id"] != msg["id"]
    by_visitor = await api.post("/api/v1/chat/public/message", {**body, "message": "thanks"}, token=visitor.token)
    assert by_visitor.status == 201 and by_visitor.json["message"]["seq"] == 3
    assert [m["seq"] for m in await all_messages(api, tenant.agent, visitor.session_id)] == [1, 2, 3]


@gen_test
async def test_concurrent_retries_store_one_message(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    body = {"session_id": visitor.session_id, "message": "double click", "client_msg_id": "dbl"}
    results = await asyncio.gather(*[api.post(AGENT_MESSAGE, body, token=tenant.agent.token) for _ in range(4)])
    assert sorted(r.status for r in results) == [200, 200, 200, 201], [r.body for r in results]
    assert len({r.json["message"]["id"] for r in results}) == 1
    assert len(await all_messages(api, tenant.agent, visitor.session_id)) == 1


# ---- assign ---------------------------------------------------------------------

@gen_test
async def test_assign_to_self_and_to_a_colleague(api, tenant_factory):
    tenant = await tenant_factory()
    colleague = await tenant_factory.add_agent(tenant)
    s1 = (await tenant.visitor(api)).session_id
    s2 = (await tenant.visitor(api)).session_id
    s3 = (await tenant.visitor(api)).session_id

    mine = await assign(api, tenant.agent, s1)
    assert mine.status == 200, mine.body
    assert mine.json["session"]["assigned_agent_id"] == tenant.agent.id
    assert mine.json["session"]["status"] == "assigned"

    # An empty body is the same as {}.
    raw = await api.post(session_path(s3, "assign"), token=tenant.agent.token)
    assert raw.status == 200 and raw.json["session"]["assigned_agent_id"] == tenant.agent.id

    theirs = await assign(api, tenant.admin, s2, colleague.id)
    assert theirs.status == 200 and theirs.json["session"]["assigned_agent_id"] == colleague.id
    notes = [m for m in await all_messages(api, tenant.agent, s2) if m["sender_type"] == "system"]
    assert len(notes) == 1 and "Cy Colleague" in notes[0]["body"]

    # Assigning again to the same agent changes nothing.
    before = await snapshot(tenant.services.store, tenant.id)
    again = await assign(api, tenant.agent, s1, tenant.agent.id)
    assert again.status == 200 and again.json["session"]["assigned_agent_id"] == tenant.agent.id
    assert await snapshot(tenant.services.store, tenant.id) == before


@gen_test
async def test_assign_refusals_change_nothing(api, tenant_factory, services):
    tenant = await tenant_factory()
    other = await tenant_factory()
    colleague = await tenant_factory.add_agent(tenant)
    gone = await tenant_factory.add_agent(tenant, name="Gone Agent")
    await services.store.update_agent(tenant.id, gone.id, active=False)
    sid = (await tenant.visitor(api)).session_id
    resolved = (await tenant.visitor(api)).session_id
    assert (await api.post(session_path(resolved, "resolve"), {}, token=tenant.agent.token)).status == 200
    store = services.store

    async def refused(resp, status, code):
        assert_error(resp, status, code)
        assert await snapshot(store, tenant.id) == before

    before = await snapshot(store, tenant.id)
    await refused(await assign(api, tenant.agent, sid, other.agent.id), 404, "agent_not_found")
    await refused(await assign(api, tenant.agent, sid, other.admin.id), 404, "agent_not_found")
    await refused(await assign(api, tenant.agent, sid, 99_999_999), 404, "agent_not_found")
    await refused(await assign(api, tenant.agent, sid, gone.id), 409, "agent_inactive")
    await refused(await assign(api, tenant.agent, resolved), 409, "session_resolved")
    await refused(await assign(api, tenant.agent, resolved, colleague.id), 409, "session_resolved")

    # Taken by someone else: a plain assign does not steal it (transfer does that).
    assert (await assign(api, colleague, sid)).status == 200
    before = await snapshot(store, tenant.id)
    await refused(await assign(api, tenant.agent, sid), 409, "assignment_conflict")
    await refused(await assign(api, tenant.admin, sid, tenant.agent.id), 409, "assignment_conflict")
    assert (await get_session(api, tenant.agent, sid))["assigned_agent_id"] == colleague.id


@gen_test
async def test_concurrent_assigns_have_one_winner(api, tenant_factory):
    tenant = await tenant_factory()
    agents = [tenant.agent, tenant.admin] + [await tenant_factory.add_agent(tenant, name=f"A{i}") for i in range(3)]
    sid = (await tenant.visitor(api)).session_id
    results = await asyncio.gather(*[assign(api, a, sid) for a in agents])
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [409] * (len(agents) - 1), [r.body for r in results]
    for r in results:
        if r.status == 409:
            assert_error(r, 409, "assignment_conflict")
    winner = next(a for a, r in zip(agents, results) if r.status == 200)
    assert (await get_session(api, tenant.agent, sid))["assigned_agent_id"] == winner.id
    notes = [m for m in await all_messages(api, tenant.agent, sid) if m["sender_type"] == "system"]
    assert len(notes) == 1


# ---- transfer ------------------------------------------------------------------

@gen_test
async def test_transfer_rules(api, tenant_factory, services):
    tenant = await tenant_factory()
    other = await tenant_factory()
    colleague = await tenant_factory.add_agent(tenant)
    third = await tenant_factory.add_agent(tenant, name="Dee Third")
    sid = (await tenant.visitor(api)).session_id
    store = services.store
    transfer = lambda who, body: api.post(session_path(sid, "transfer"), body, token=who.token)  # noqa: E731

    before = await snapshot(store, tenant.id)
    assert_error(await transfer(tenant.agent, {"agent_id": colleague.id}), 409, "not_assigned")
    assert await snapshot(store, tenant.id) == before

    assert (await assign(api, tenant.agent, sid)).status == 200
    before = await snapshot(store, tenant.id)
    # Neither assigned nor admin.
    assert_error(await transfer(colleague, {"agent_id": third.id}), 403, "forbidden")
    assert_error(await transfer(colleague, {"agent_id": colleague.id}), 403, "forbidden")
    assert_error(await transfer(tenant.agent, {"agent_id": tenant.agent.id}), 409, "already_assigned")
    assert_error(await transfer(tenant.agent, {"agent_id": other.agent.id}), 404, "agent_not_found")
    assert_error(await transfer(tenant.agent, {}), 400, "invalid_input")
    assert await snapshot(store, tenant.id) == before

    # The assigned agent hands it over, with a note.
    moved = await transfer(tenant.agent, {"agent_id": colleague.id, "note": "VIP customer"})
    assert moved.status == 200, moved.body
    assert moved.json["session"]["assigned_agent_id"] == colleague.id
    assert moved.json["session"]["status"] == "assigned"
    moved_line, note = (await all_messages(api, tenant.agent, sid))[-2:]
    assert moved_line["sender_type"] == "system" and "Cy Colleague" in moved_line["body"]
    assert "VIP customer" not in moved_line["body"], "both sides see the move, not the note"
    assert (note["sender_type"], note["sender_id"], note["body"]) == ("note", tenant.agent.id, "VIP customer")
    # The previous holder may no longer; an admin always may.
    assert_error(await transfer(tenant.agent, {"agent_id": third.id}), 403, "forbidden")
    by_admin = await transfer(tenant.admin, {"agent_id": third.id})
    assert by_admin.status == 200 and by_admin.json["session"]["assigned_agent_id"] == third.id

    assert (await api.post(session_path(sid, "resolve"), {}, token=third.token)).status == 200
    before = await snapshot(store, tenant.id)
    assert_error(await transfer(tenant.admin, {"agent_id": colleague.id}), 409, "session_resolved")
    assert await snapshot(store, tenant.id) == before


# ---- resolve / reopen ------------------------------------------------------------

@gen_test
async def test_resolve_and_reopen(api, tenant_factory):
    tenant = await tenant_factory()
    unassigned = (await tenant.visitor(api)).session_id
    held = (await tenant.visitor(api)).session_id
    assert (await assign(api, tenant.agent, held)).status == 200
    store = tenant.services.store
    for sid, reopened_status in ((unassigned, "open"), (held, "assigned")):
        done = await api.post(session_path(sid, "resolve"), {}, token=tenant.agent.token)
        assert done.status == 200, done.body
        assert done.json["session"]["status"] == "resolved" and done.json["session"]["resolved_at"]
        before = await snapshot(store, tenant.id)
        assert_error(await api.post(session_path(sid, "resolve"), {}, token=tenant.agent.token), 409)
        assert await snapshot(store, tenant.id) == before

        back = await api.post(session_path(sid, "reopen"), token=tenant.admin.token)
        assert back.status == 200, back.body
        assert back.json["session"]["status"] == reopened_status and back.json["session"]["resolved_at"] is None
        before = await snapshot(store, tenant.id)
        assert_error(await api.post(session_path(sid, "reopen"), {}, token=tenant.agent.token), 409)
        assert await snapshot(store, tenant.id) == before
    assert (await get_session(api, tenant.agent, held))["assigned_agent_id"] == tenant.agent.id
    notes = [m["body"] for m in await all_messages(api, tenant.agent, unassigned) if m["sender_type"] == "system"]
    assert len(notes) == 2 and "resolved" in notes[0] and "reopened" in notes[1]


@gen_test
async def test_visitor_message_reopens_a_resolved_session(api, tenant_factory):
    tenant = await tenant_factory()
    open_v = await tenant.visitor(api)
    held_v = await tenant.visitor(api)
    assert (await assign(api, tenant.agent, held_v.session_id)).status == 200
    for visitor, expected in ((open_v, "open"), (held_v, "assigned")):
        assert (await api.post(session_path(visitor.session_id, "resolve"), {}, token=tenant.agent.token)).status == 200
        await visitor_says(api, visitor, "one more thing")
        session = await get_session(api, tenant.agent, visitor.session_id)
        assert session["status"] == expected and session["resolved_at"] is None
        assert visitor.session_id in await list_ids(api, tenant.agent, "status=active")
    # An agent's message does not reopen.
    assert (await api.post(session_path(open_v.session_id, "resolve"), {}, token=tenant.agent.token)).status == 200
    await agent_says(api, tenant.agent, open_v.session_id, "anything else?")
    assert (await get_session(api, tenant.agent, open_v.session_id))["status"] == "resolved"


# ---- read marks, unread counts, agents' load -----------------------------------

@gen_test
async def test_read_marks_and_unread_counts(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    sid = visitor.session_id
    for i in range(3):
        await visitor_says(api, visitor, f"q{i}")

    async def unread():
        listed = {s["id"]: s for s in (await api.get(SESSIONS, token=tenant.agent.token)).json["sessions"]}
        detail = await get_session(api, tenant.agent, sid)
        assert listed[sid]["unread"] == detail["unread"]
        return detail["unread"]

    assert await unread() == 3
    read = await api.post(session_path(sid, "read"), {"seq": 2}, token=tenant.agent.token)
    assert read.status == 200, read.body
    assert read.json["session"]["agent_read_seq"] == 2 and read.json["session"]["unread"] == 1
    assert await unread() == 1
    await agent_says(api, tenant.agent, sid, "answer")     # agents' own messages are never unread
    assert await unread() == 1
    await visitor_says(api, visitor, "q3")
    assert await unread() == 2
    # Never backwards; clamped to the last message.
    assert (await api.post(session_path(sid, "read"), {"seq": 1}, token=tenant.agent.token)).json["session"][
        "agent_read_seq"] == 2
    done = await api.post(session_path(sid, "read"), {"seq": 10_000}, token=tenant.agent.token)
    assert done.json["session"]["agent_read_seq"] == 5 and done.json["session"]["unread"] == 0
    assert await unread() == 0
    # The visitor's mark is untouched.
    assert done.json["session"]["visitor_read_seq"] == 0


@gen_test
async def test_agents_list_with_open_session_load(api, tenant_factory):
    tenant = await tenant_factory()
    other = await tenant_factory()
    colleague = await tenant_factory.add_agent(tenant)
    sids = [(await tenant.visitor(api)).session_id for _ in range(4)]
    assert (await assign(api, tenant.agent, sids[0])).status == 200
    assert (await assign(api, tenant.agent, sids[1])).status == 200
    assert (await assign(api, tenant.admin, sids[2], colleague.id)).status == 200
    assert (await api.post(session_path(sids[1], "resolve"), {}, token=tenant.agent.token)).status == 200
    other_visitor = await other.visitor(api)
    assert (await assign(api, other.agent, other_visitor.session_id)).status == 200

    resp = await api.get("/api/v1/agents", token=tenant.agent.token)
    assert resp.status == 200, resp.body
    agents = {a["id"]: a for a in resp.json["agents"]}
    assert set(agents) == {tenant.admin.id, tenant.agent.id, colleague.id}
    assert agents[tenant.agent.id]["open_sessions"] == 1
    assert agents[colleague.id]["open_sessions"] == 1
    assert agents[tenant.admin.id]["open_sessions"] == 0
    assert all(a["tenant_id"] == tenant.id and "password_hash" not in a for a in agents.values())


# ---- seqs ------------------------------------------------------------------------

@gen_test
async def test_system_messages_take_seqs_without_gaps(api, tenant_factory):
    tenant = await tenant_factory()
    colleague = await tenant_factory.add_agent(tenant)
    visitor = await tenant.visitor(api)
    sid = visitor.session_id
    await visitor_says(api, visitor, "hello")
    assert (await assign(api, tenant.agent, sid)).status == 200
    await agent_says(api, tenant.agent, sid, "hi, how can I help?")
    assert (await api.post(session_path(sid, "transfer"), {"agent_id": colleague.id},
                           token=tenant.agent.token)).status == 200
    assert (await api.post(session_path(sid, "resolve"), {}, token=colleague.token)).status == 200
    await visitor_says(api, visitor, "wait!")
    assert (await api.post(session_path(sid, "resolve"), {}, token=colleague.token)).status == 200
    assert (await api.post(session_path(sid, "reopen"), {}, token=tenant.admin.token)).status == 200
    # Refused actions take no seq.
    assert (await api.post(session_path(sid, "reopen"), {}, token=tenant.admin.token)).status == 409
    await agent_says(api, colleague, sid, "back again")

    msgs = await all_messages(api, tenant.agent, sid)
    assert [m["seq"] for m in msgs] == list(range(1, len(msgs) + 1))
    assert [m["sender_type"] for m in msgs] == ["visitor", "system", "agent", "system", "system", "visitor",
                                                "system", "system", "agent"]
    assert (await get_session(api, tenant.agent, sid))["last_seq"] == len(msgs)
    ids = [m["id"] for m in msgs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    public = await api.get(f"/api/v1/chat/public/session/{sid}", token=visitor.token)
    assert [m["seq"] for m in public.json["messages"]] == [m["seq"] for m in msgs]


@gen_test
async def test_concurrent_sends_get_distinct_seqs_without_gaps(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    sid = visitor.session_id
    sends = [api.post("/api/v1/chat/public/message", {"session_id": sid, "message": f"v{i}"}, token=visitor.token)
             for i in range(8)]
    sends += [api.post(AGENT_MESSAGE, {"session_id": sid, "message": f"a{i}"}, token=tenant.agent.token)
              for i in range(8)]
    sends += [assign(api, tenant.agent, sid)]
    results = await asyncio.gather(*sends)
    assert all(r.status in (200, 201) for r in results), [r.body for r in results]
    msgs = await all_messages(api, tenant.agent, sid)
    assert [m["seq"] for m in msgs] == list(range(1, 18))
    assert sorted(m["body"] for m in msgs if m["sender_type"] != "system") == sorted(
        [f"v{i}" for i in range(8)] + [f"a{i}" for i in range(8)])
    session = await get_session(api, tenant.agent, sid)
    assert session["last_seq"] == 17
    # Unread counts every visitor message after the (unmoved) read mark.
    assert session["unread"] == 8
