"""Private notes: a transfer's note for the next agent and the AI's summary are the team's only.

The visitor never gets them: not live on its socket, not in its history, not on a resume, not in
the session row it reads (the preview); the AI never reads them in a prompt. The agents get them
live and in the history, in the conversation's sequence. Both backends, the real SDK against the
fake Gemini, real sockets.
"""
from __future__ import annotations

import json

from tests.api._support import session_path, visitor_says
from tests.wsclient import WsClient

from ..security.support import gen_test

NOTE = "SECRET-NOTE: customer threatened a chargeback"
SUMMARY = "SECRET-SUMMARY: shoes too small, refund promised"


async def _note_frames(client: WsClient, count: int) -> list[dict]:
    notes = []
    while len(notes) < count:
        frame = await client.next("chat.message.new", timeout=15)
        if frame["data"]["message"]["sender_type"] == "note":
            notes.append(frame["data"]["message"])
    return notes


@gen_test
async def test_transfer_notes_and_ai_summaries_never_reach_the_visitor_or_the_model(api, base_url, tenant_factory,
                                                                                    gemini):
    tenant = await tenant_factory(settings={"ai_mode": "suggest"})
    colleague = tenant.admin
    visitor = await tenant.visitor(api)
    sid = visitor.session_id
    agent_ws = await WsClient.connect(base_url, tenant.agent.token)
    visitor_ws = await WsClient.connect(base_url, visitor.token)
    await visitor_says(api, visitor, "These shoes are too small.")
    assert (await api.post(session_path(sid, "assign"), {}, token=tenant.agent.token)).status == 200
    await api.post("/api/v1/chat/messages", {"session_id": sid, "message": "I'm sorry! Let me check."},
                   token=tenant.agent.token)

    gemini.reply = SUMMARY
    moved = await api.post(session_path(sid, "transfer"), {"agent_id": colleague.id, "note": NOTE},
                           token=tenant.agent.token)
    assert moved.status == 200, moved.body
    # The team gets both, live: the note from the agent who wrote it, the summary from the AI.
    note, summary = await _note_frames(agent_ws, 2)
    assert (note["body"], note["sender_id"], note["sender_name"]) == (NOTE, tenant.agent.id, "Bob Agent")
    assert summary["body"].endswith(SUMMARY) and summary["sender_id"] == 0

    # The visitor hears of the move, then the next public message: it arrives once, in order,
    # across the seqs the notes took (its socket fills the hole from the store, which hides them).
    after = await api.post("/api/v1/chat/messages", {"session_id": sid, "message": "Ada here, refund is on its way."},
                           token=colleague.token)
    assert after.status == 201 and after.json["message"]["seq"] == summary["seq"] + 1
    while True:
        frame = await visitor_ws.next("chat.message.new", timeout=10)
        if frame["data"]["message"]["body"] == "Ada here, refund is on its way.":
            break
    await visitor_ws.quiet(0.3)
    live = json.dumps(visitor_ws.frames)
    assert "SECRET" not in live, live
    assert [m["body"] for m in visitor_ws.messages(sid)].count("Ada here, refund is on its way.") == 1

    history = await api.get(f"/api/v1/chat/public/session/{sid}?after_seq=0", token=visitor.token)
    assert history.status == 200 and "SECRET" not in history.body.decode()
    bodies = [m["body"] for m in history.json["messages"]]
    assert bodies[0] == "These shoes are too small." and bodies[-1] == "Ada here, refund is on its way."
    assert any("transferred the conversation to Ada Admin" in b for b in bodies)
    assert history.json["session"]["last_message_preview"] == "Ada here, refund is on its way."

    resumed = await WsClient.connect(base_url, visitor.token, resume={sid: 0})
    await resumed.quiet(0.5)
    assert "SECRET" not in json.dumps(resumed.frames)
    assert [m["body"] for m in resumed.messages(sid)] == bodies

    # The agents' history has them in the sequence; the model never reads them.
    agent_history = await api.get(session_path(sid, "messages") + "?after_seq=0", token=colleague.token)
    kinds = [(m["sender_type"], m["seq"]) for m in agent_history.json["messages"]]
    assert ("note", note["seq"]) in kinds and ("note", summary["seq"]) in kinds
    gemini.reply = "Happy to help."
    assert (await api.post(session_path(sid, "suggest"), {}, token=colleague.token)).status == 200
    assert gemini.requests, "the model was asked"
    for request in gemini.requests:
        assert "SECRET" not in json.dumps(request.body), "a private note reached the model"
    for client in (agent_ws, visitor_ws, resumed):
        client.close()


@gen_test
async def test_an_agents_note_never_reaches_the_model_or_the_visitor(api, base_url, tenant_factory, gemini):
    """A note written in the composer (POST …/notes) is the team's like a transfer's: the AI's
    suggestion and its automatic reply read the conversation without it."""
    tenant = await tenant_factory(settings={"ai_mode": "suggest"})
    visitor = await tenant.visitor(api)
    sid = visitor.session_id
    visitor_ws = await WsClient.connect(base_url, visitor.token)
    await visitor_says(api, visitor, "My order never came.")
    written = await api.post(session_path(sid, "notes"), {"body": "SECRET-NOTE: @Ada Admin fraud flag on this one"},
                             token=tenant.agent.token)
    assert written.status == 201, written.body
    gemini.reply = "Sorry to hear that."
    assert (await api.post(session_path(sid, "suggest"), {}, token=tenant.agent.token)).status == 200
    assert gemini.requests, "the model was asked"
    assert "My order never came." in json.dumps(gemini.requests[-1].body)
    for request in gemini.requests:
        assert "SECRET" not in json.dumps(request.body), "a private note reached the model"
    await visitor_says(api, visitor, "Hello?")
    await visitor_ws.quiet(0.5)
    assert "SECRET" not in json.dumps(visitor_ws.frames)
    history = await api.get(f"/api/v1/chat/public/session/{sid}?after_seq=0", token=visitor.token)
    assert "SECRET" not in history.body.decode()
    assert [m["body"] for m in history.json["messages"]] == ["My order never came.", "Hello?"]
    # A socket that resumes from before the note gets the visitor's messages around it, not the note.
    resumed = await WsClient.connect(base_url, visitor.token, resume={sid: 0})
    await resumed.quiet(0.5)
    assert "SECRET" not in json.dumps(resumed.frames)
    assert [m["body"] for m in resumed.messages(sid)] == ["My order never came.", "Hello?"]
    for client in (visitor_ws, resumed):
        client.close()
