"""The AI's parts on their own: reading the visitor, the prompt, the circuit breaker, the provider's
retries against the fake model."""
from __future__ import annotations

import asyncio
import json

import pytest

from callcenter.ai import prompt
from callcenter.ai.provider import CircuitBreaker, GeminiProvider, ModelError
from callcenter.ai.queue import Job
from callcenter.ai.worker import HistoryCache
from tests.fake_gemini import HANG


@pytest.mark.parametrize("text,lang", [
    ("Can I talk to a human?", "en"), ("I want to speak with a real person", "en"), ("agent", "en"),
    ("HUMAN PLEASE", "en"), ("Connect me to an operator.", "en"), ("Quiero hablar con una persona", "es"),
    ("¿Puedo hablar con un agente?", "es"), ("Je voudrais parler à un conseiller", "fr"),
    ("Je veux parler à quelqu'un", "fr"), ("Ich möchte mit einem Mitarbeiter sprechen", "de"),
    ("Kann ich mit einem echten Menschen reden?", "de"),
])
def test_asking_for_a_person_is_recognised(text, lang):
    assert prompt.wants_a_person(text) == lang


@pytest.mark.parametrize("text", [
    "When do you open?", "My user agent string is weird", "How much is shipping to Spain?",
    "¿Cuánto cuesta el envío?", "Quel est le prix ?", "Wie lange dauert die Lieferung?",
    "I talked to my husband about the person who delivered it " + "and more " * 40,
])
def test_other_messages_are_not_a_request_for_a_person(text):
    assert prompt.wants_a_person(text) is None


def test_contents_put_visitor_text_in_user_turns_only():
    msgs = [{"sender_type": "agent", "body": "Welcome!"}, {"sender_type": "visitor", "body": "a"},
            {"sender_type": "visitor", "body": "b"}, {"sender_type": "system", "body": "Bob joined"},
            {"sender_type": "ai", "body": "c"}, {"sender_type": "agent", "body": "d"},
            {"sender_type": "visitor", "body": "e"}]
    turns = prompt.contents(msgs)
    assert [(t["role"], [p["text"] for p in t["parts"]]) for t in turns] == [
        ("user", ["a\n\nb"]), ("model", ["c\n\nd"]), ("user", ["e"])]


def test_files_are_named_in_the_prompt():
    photo = {"id": "a" * 32, "name": "router.jpg", "size": 204_800, "content_type": "image/jpeg", "kind": "image"}
    msgs = [{"sender_type": "visitor", "body": "", "attachments": json.dumps([photo])},  # a stored row
            {"sender_type": "visitor", "body": "It blinks red", "attachments": None},
            {"sender_type": "agent", "body": "Try this", "attachments": [dict(photo, name="reset.pdf",
                                                                               content_type="application/pdf")]}]
    assert [[p["text"] for p in t["parts"]] for t in prompt.contents(msgs)] == [
        ["[sent a file: router.jpg (image/jpeg, 200 KB)]\n\nIt blinks red"],
        ["Try this\n[sent a file: reset.pdf (application/pdf, 200 KB)]"]]


def test_the_handoff_marker_never_shows():
    assert prompt.parse_reply("[HANDOFF] Someone will help.") == ("Someone will help.", True)
    assert prompt.parse_reply("Sure, 9 to 5.") == ("Sure, 9 to 5.", False)
    assert prompt.shown_partial("[HAND") == ""
    assert prompt.shown_partial("[HANDOFF] Some") == "Some"
    assert prompt.shown_partial("Hello [") == "Hello"


def test_settings_have_safe_defaults():
    assert prompt.AISettings.of({"settings": {}}).mode == "off"
    odd = prompt.AISettings.of({"settings": {"ai_mode": "always", "ai_daily_token_cap": "lots"}})
    assert odd.mode == "off" and odd.daily_token_cap == 0


def test_circuit_breaker_opens_after_failures_and_probes_after_the_pause():
    breaker = CircuitBreaker(failures=2, cooldown_secs=0.0)
    breaker.failure()
    assert breaker.allow() and not breaker.is_open
    breaker.failure()
    assert breaker.is_open
    assert breaker.allow()  # cooldown 0: the next call is the probe
    breaker.success()
    assert not breaker.is_open and breaker.failures == 0
    closed_long = CircuitBreaker(failures=1, cooldown_secs=3600)
    closed_long.failure()
    assert not closed_long.allow()


def _provider(gemini, **kw) -> GeminiProvider:
    args = dict(base_url=gemini.url, timeout_secs=2.0, max_attempts=3, backoff_secs=0.01,
                breaker=CircuitBreaker(1000, 30))
    args.update(kw)
    return GeminiProvider("test-key", "gemini-test", **args)


def _user(text: str):
    return prompt.contents([{"sender_type": "visitor", "body": text}])


@pytest.mark.parametrize("status", [429, 500, 503])
def test_provider_retries_transient_statuses(gemini, status):
    gemini.script(status, "ok now")
    reply = asyncio.run(_provider(gemini).generate("sys", _user("hi")))
    assert reply.text == "ok now" and reply.total_tokens > 0
    assert len(gemini.requests) == 2


def test_provider_does_not_retry_a_client_error(gemini):
    gemini.script(400)
    with pytest.raises(ModelError):
        asyncio.run(_provider(gemini).generate("sys", _user("hi")))
    assert len(gemini.requests) == 1


def test_provider_streams_partial_text(gemini):
    gemini.reply = "one two three four five six"
    seen = []

    async def on_partial(text):
        seen.append(text)

    reply = asyncio.run(_provider(gemini).generate("sys", _user("hi"), on_partial=on_partial))
    assert reply.text == "one two three four five six" and len(seen) == 3 and seen[-1] == reply.text


def test_an_open_circuit_fails_fast_without_calling_the_model(gemini):
    provider = _provider(gemini, timeout_secs=0.3, breaker=CircuitBreaker(1, 3600))
    gemini.script(HANG)
    with pytest.raises(ModelError):
        asyncio.run(provider.generate("sys", _user("hi")))
    gemini.release()
    with pytest.raises(ModelError, match="circuit_open"):
        asyncio.run(provider.generate("sys", _user("hi")))
    assert len(gemini.requests) == 1


def test_a_job_carries_the_question_and_the_session_through_the_stream_encoding():
    message = {"id": 7, "seq": 3, "sender_type": "visitor", "body": "Hi <b>", "client_msg_id": None}
    session = {"id": "s1", "tenant_id": "t1", "assigned_agent_id": None, "handoff_at_ms": None, "status": "open"}
    job = Job("t1", "s1", 7, 3, 1.5, message, session)
    assert Job.decode(job.encode()) == job
    # A job queued by an older version (ids only) still decodes: the worker reads what it needs.
    assert Job.decode('{"tenant_id":"t1","session_id":"s1","message_id":7,"seq":3}') == Job("t1", "s1", 7, 3)


def _msg(seq: int, sender: str = "visitor") -> dict:
    return {"id": 100 + seq, "seq": seq, "sender_type": sender, "body": f"m{seq}", "client_msg_id": None}


def test_history_cache_is_used_only_when_nothing_is_missing_between():
    cache = HistoryCache(limit=3, max_sessions=2)
    job = Job("t1", "s1", 103, 3, message=_msg(3))
    assert cache.with_question(job) is None  # nothing cached yet
    cache.put("s1", [_msg(1), _msg(2, "ai")])
    assert [m["seq"] for m in cache.with_question(job)] == [1, 2, 3]
    cache.follow("s1", _msg(4, "ai"))
    assert [m["seq"] for m in cache.with_question(Job("t1", "s1", 105, 5, message=_msg(5)))] == [3, 4, 5]  # limit
    # A seq this worker did not see (an agent's message, another worker's answer): read again.
    assert cache.with_question(Job("t1", "s1", 107, 7, message=_msg(7))) is None
    cache.follow("s1", _msg(9, "ai"))
    assert cache.with_question(Job("t1", "s1", 110, 10, message=_msg(10))) is None
    # At most max_sessions conversations, the least recently used go first.
    for sid in ("a", "b", "c"):
        cache.put(sid, [_msg(1)])
    assert cache.with_question(Job("t1", "a", 102, 2, message=_msg(2))) is None
    assert cache.with_question(Job("t1", "c", 102, 2, message=_msg(2))) is not None
