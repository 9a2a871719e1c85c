"""Routing (issue 26): the team's loads against capacity and the queue, for the dashboard."""
from __future__ import annotations

from .. import routing_models as rm
from .base import AgentHandler, route


class RoutingHandler(AgentHandler):
    api = {"GET": {"summary": "The routing mode, the queue (length, oldest) and each agent's load against capacity",
                   "tags": ["routing"], "auth": "agent", "response": rm.RoutingResponse, "errors": [401]}}

    async def get(self) -> None:
        self.write_json(await self.services.routing.overview(self.agent["tenant_id"]))


routes = [
    route("/api/v1/routing", RoutingHandler),
]
