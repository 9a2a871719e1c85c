"""An AI handoff reaches agents' devices as a push ("Needs a person"), from the AI worker, on both
backends (the fake push service of tests/fake_push.py)."""
from __future__ import annotations


import pytest

from tests.api._support import visitor_says
from tests.api.test_push import SUBSCRIPTIONS, wait_pushes
from tests.fake_push import trusting

from .conftest import AUTO

gen_test = pytest.mark.gen_test(timeout=40)


@pytest.fixture
def config(config, fake_push):
    """The backend's config, sending pushes to the fake push service."""
    return trusting(config, fake_push)


@gen_test
async def test_handoff_is_pushed_to_the_agents(api, tenant_factory, gemini, ai_worker, fake_push):
    tenant = await tenant_factory(settings=AUTO)
    subs = [fake_push.new_subscription(), fake_push.new_subscription()]
    for agent, sub in zip((tenant.agent, tenant.admin), subs):
        assert (await api.post(SUBSCRIPTIONS, sub, token=agent.token)).status == 201
    visitor = await tenant.visitor(api, name="Hana")
    await visitor_says(api, visitor, "Can I talk to a human please?")
    for sub in subs:
        got = await wait_pushes(fake_push, sub, 2)
        # (Each push leaves on its own: they may arrive in either order.)
        assert sorted(p.payload["type"] for p in got) == ["handoff", "new_conversation"]
        [handoff] = [p for p in got if p.payload["type"] == "handoff"]
        assert handoff.payload["title"] == "Needs a person"
        assert handoff.payload["body"] == "Hana: the AI handed the conversation over."
        assert handoff.payload["session_id"] == visitor.session_id
