"""Chat analytics: counts, response and resolution times, AI share, per agent, per day and hour,
in the caller's tenant only, over a validated range of days (both backends)."""
from __future__ import annotations

import datetime as dt

import pytest

from callcenter import analytics
from callcenter.errors import InvalidInput

from ._support import assert_error, gen_test, session_path, visitor_says, agent_says

ANALYTICS = "/api/v1/analytics"


@gen_test
async def test_analytics_of_a_tenant(api, tenant_factory, services):
    tenant, other = await tenant_factory(), await tenant_factory()
    # Three conversations: answered by the agent and resolved; answered by the AI first, then handed to
    # the agent; never answered.
    answered = await tenant.visitor(api, name="Ann")
    await visitor_says(api, answered, "hello")
    await api.post(session_path(answered.session_id, "assign"), {}, token=tenant.agent.token)
    await agent_says(api, tenant.agent, answered.session_id, "hi Ann")
    await agent_says(api, tenant.agent, answered.session_id, "anything else?")
    resp = await api.post(session_path(answered.session_id, "resolve"), {}, token=tenant.agent.token)
    assert resp.status == 200, resp.body

    ai_first = await tenant.visitor(api, name="Bo")
    await visitor_says(api, ai_first, "prices?")
    await services.store.send_ai_message(tenant.id, ai_first.session_id, sender_name="Bot", body="They are low.",
                                         client_msg_id="ai-1")
    await services.store.set_handoff(tenant.id, ai_first.session_id, "asked_for_human")
    await agent_says(api, tenant.admin, ai_first.session_id, "a person here")

    silent = await tenant.visitor(api, name="Cy")
    await visitor_says(api, silent, "anyone?")
    # Another tenant's conversations never count.
    stranger = await other.visitor(api)
    await agent_says(api, other.agent, stranger.session_id, "not yours")

    resp = await api.get(ANALYTICS, token=tenant.agent.token)
    assert resp.status == 200, resp.body
    doc = resp.json
    assert doc["range"]["days"] == 7 and doc["range"]["utc_offset_minutes"] == 0 and doc["range"]["tz"] is None
    assert doc["range"]["to"] == dt.datetime.now(dt.timezone.utc).date().isoformat()
    assert doc["totals"] == {"conversations": 3, "resolved": 1, "unanswered": 1, "answered_by_ai_first": 1,
                             "handed_off": 1, "resolved_in_range": 1}
    assert doc["first_response_secs"]["count"] == 2 and doc["first_response_secs"]["p50"] >= 0
    assert doc["first_agent_response_secs"]["count"] == 2
    assert doc["resolution_secs"]["count"] == 1
    assert [d["started"] for d in doc["by_day"]][-1] == 3 and sum(d["started"] for d in doc["by_day"]) == 3
    assert sum(d["resolved"] for d in doc["by_day"]) == 1
    assert len(doc["by_hour"]) == 24 and sum(doc["by_hour"]) == 3
    [agent_row] = doc["agents"]
    assert (agent_row["agent_id"], agent_row["conversations"], agent_row["resolved"]) == (tenant.agent.id, 1, 1)
    assert agent_row["name"] == tenant.agent.name
    # An admin sees every agent's row; an agent only their own.
    await api.post(session_path(ai_first.session_id, "assign"), {}, token=tenant.admin.token)
    assert [a["agent_id"] for a in (await api.get(ANALYTICS, token=tenant.agent.token)).json["agents"]] == \
        [tenant.agent.id]
    assert sorted(a["agent_id"] for a in (await api.get(ANALYTICS, token=tenant.admin.token)).json["agents"]) == \
        sorted([tenant.agent.id, tenant.admin.id])

    # The other tenant sees its own conversation only.
    theirs = (await api.get(ANALYTICS, token=other.agent.token)).json
    assert theirs["totals"]["conversations"] == 1 and theirs["agents"] == []

    # The same days in a named zone: its today is the default last day, and the zone is echoed.
    zoned = (await api.get(ANALYTICS + "?tz=Pacific/Kiritimati", token=tenant.agent.token)).json
    kiritimati_today = dt.datetime.now(analytics.parse_time_zone("Pacific/Kiritimati")).date()
    assert (zoned["range"]["to"], zoned["range"]["tz"]) == (kiritimati_today.isoformat(), "Pacific/Kiritimati")
    assert zoned["totals"]["conversations"] == 3

    # A range before everything: empty, with a row per day.
    empty = (await api.get(ANALYTICS + "?from=2026-01-01&to=2026-01-31", token=tenant.agent.token)).json
    assert empty["totals"]["conversations"] == 0 and len(empty["by_day"]) == 31
    assert empty["first_response_secs"] == {"count": 0, "p50": None, "p90": None, "mean": None}


@pytest.mark.parametrize("query", ["from=2026-13-01", "to=yesterday", "from=2026-02-01&to=2026-01-01",
                                   "from=2026-01-01&to=2026-06-30", "utc_offset_minutes=900",
                                   "utc_offset_minutes=east", "from=1000-01-01&to=1000-01-02",
                                   "tz=Mars/Olympus", "tz=../etc/passwd", "tz=/etc/localtime", "tz=zone.tab",
                                   "tz=America", "tz=Europe%2FBer%20lin", "tz=" + "A" * 65, "tz=utc"])
@gen_test
async def test_bad_ranges_are_400s(api, tenant_factory, query):
    tenant = await tenant_factory()
    assert_error(await api.get(f"{ANALYTICS}?{query}", token=tenant.agent.token), 400, "invalid_query")


@gen_test
async def test_analytics_need_an_agent(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    assert_error(await api.get(ANALYTICS), 401)
    assert_error(await api.get(ANALYTICS, token=visitor.token), 401)


def test_days_follow_the_callers_offset():
    rng = analytics.parse_range("2026-11-20", "2026-11-21", -300)  # UTC-5
    assert rng.days == 2
    midnight_utc = int(dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc).timestamp() * 1000)
    assert rng.start_ms == midnight_utc + 5 * 3600_000
    # 02:00 UTC on the 21st is 21:00 on the 20th at UTC-5.
    row = {"created_at_ms": midnight_utc + 26 * 3600_000, "resolved_at_ms": None, "status": "open",
           "assigned_agent_id": None, "first_response_at_ms": None, "first_agent_response_at_ms": None,
           "handoff_at_ms": None}
    doc = analytics.summarize(rng, [row], [], [])
    assert [d["started"] for d in doc["by_day"]] == [1, 0] and doc["by_hour"][21] == 1


def test_days_follow_the_callers_time_zone_across_a_daylight_saving_change():
    """New York leaves daylight saving on 2026-11-01: days before it start at 04:00 UTC, days after
    at 05:00. One fixed offset would put the hour before one of those midnights on the wrong day."""
    zone = analytics.parse_time_zone("America/New_York")
    rng = analytics.parse_range("2026-10-31", "2026-11-02", 0, zone=zone)
    utc = lambda *args: int(dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp() * 1000)  # noqa: E731
    assert (rng.start_ms, rng.end_ms) == (utc(2026, 10, 31, 4), utc(2026, 11, 3, 5))
    assert rng.end_ms - rng.start_ms == (3 * 24 + 1) * 3600_000  # the day the clocks go back has 25 hours

    def row(ms: int) -> dict:
        return {"created_at_ms": ms, "resolved_at_ms": None, "status": "open", "assigned_agent_id": None,
                "first_response_at_ms": None, "first_agent_response_at_ms": None, "handoff_at_ms": None}

    # 00:30 EDT on the 31st (04:30 UTC: 23:30 the day before at EST's fixed offset), and 23:30 EST on
    # the 2nd (04:30 UTC on the 3rd: 00:30 on the 3rd at EDT's).
    doc = analytics.summarize(rng, [row(utc(2026, 10, 31, 4, 30)), row(utc(2026, 11, 3, 4, 30))], [], [])
    assert [d["started"] for d in doc["by_day"]] == [1, 0, 1]
    assert doc["by_hour"][0] == 1 and doc["by_hour"][23] == 1
    assert doc["range"]["tz"] == "America/New_York"
    # Without a zone, today's offset serves every day, as before.
    assert analytics.parse_range("2026-10-31", "2026-11-02", -300).start_ms == utc(2026, 10, 31, 5)
    assert analytics.parse_time_zone(None) is None and analytics.parse_time_zone("") is None


def test_default_range_is_the_last_seven_days():
    rng = analytics.parse_range(None, None, 0, today=dt.date(2026, 11, 26))
    assert (rng.first, rng.last) == (dt.date(2026, 11, 20), dt.date(2026, 11, 26))
    with pytest.raises(InvalidInput):
        analytics.parse_range("2026-01-01", None, 0, today=dt.date(2026, 11, 26))  # more than 92 days


def test_duration_percentiles():
    stats = analytics._stats_secs([1000, 2000, 3000, 4000, 60_000])
    assert stats == {"count": 5, "p50": 3.0, "p90": 60.0, "mean": 14.0}


@gen_test
async def test_the_demo_data_has_its_answers_counted(api, demo):
    """The seeded conversations carry their first-answer times like sent ones do."""
    from callcenter.demo import DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_TENANT_ID

    login = await api.post("/api/v1/auth/login", {"email": DEMO_AGENT_EMAIL, "password": DEMO_AGENT_PASSWORD,
                                                  "tenant_id": DEMO_TENANT_ID})
    token = login.json["token"]
    sessions = (await api.get("/api/v1/chat/sessions?limit=100", token=token)).json["sessions"]
    unanswered = 0
    for session in sessions:
        msgs = (await api.get(session_path(session["id"], "messages"), token=token)).json["messages"]
        unanswered += not any(m["sender_type"] in ("agent", "ai") for m in msgs)
    doc = (await api.get(ANALYTICS, token=token)).json
    assert doc["totals"]["conversations"] == len(sessions)
    assert doc["totals"]["unanswered"] == unanswered < len(sessions)
    assert doc["first_response_secs"]["count"] == len(sessions) - unanswered
