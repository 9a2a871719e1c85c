"""The AI job queue end to end on a real 3-master Redis Cluster (`redis_cluster`): the services run on
CALLCENTER_REDIS_URL=redis+cluster://…, the visitor's message is queued on the cluster, an AIWorker (what
`callcenter ai-worker` runs) answers it through the fake model, and the stream is left empty."""
from __future__ import annotations

import asyncio

import pytest

from tests.api._support import visitor_says
from tests.wsclient import WsClient

from .conftest import AUTO

pytestmark = [pytest.mark.mysql_only]


@pytest.fixture
def backend():
    """MariaDB, with the cluster instead of the shared Redis."""
    return "mysql"


@pytest.fixture
def config(config, redis_cluster):
    config.redis_url = redis_cluster.url
    return config


@pytest.mark.gen_test(timeout=60)
async def test_a_visitor_is_answered_through_the_job_queue_on_the_cluster(api, base_url, tenant_factory, gemini,
                                                                           ai_worker, services):
    from callcenter.redis_client import Cluster

    assert isinstance(services.redis, Cluster)
    gemini.reply = "Answered through the cluster."
    tenant = await tenant_factory(settings=AUTO)
    visitor = await tenant.visitor(api)
    widget = await WsClient.connect(base_url, visitor.token)
    asked = await visitor_says(api, visitor, "Anyone there?")
    while True:
        frame = await widget.next("chat.message.new", timeout=20)
        if frame["data"]["message"]["sender_type"] == "ai":
            break
    assert frame["data"]["message"]["body"] == "Answered through the cluster."
    assert frame["data"]["message"]["client_msg_id"] == f"ai-reply-{asked['id']}"
    queue = ai_worker.queue
    while await queue.depth() or (await services.redis.xpending(queue.stream, "ai-workers"))["pending"]:
        await asyncio.sleep(0.05)  # acknowledged and deleted
    widget.close()
