"""Account routes: an agent's own password, and admins (de)activating agents.
Both revoke old tokens and close the agent's open sockets on every worker."""
from typing import Annotated

from pydantic import StringConstraints

from .. import models
from ..security import MAX_PASSWORD_BYTES
from .base import AgentHandler, route


class PasswordChangeRequest(models.Body):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    new_password: Annotated[str, StringConstraints(min_length=8, max_length=MAX_PASSWORD_BYTES)]


class PasswordHandler(AgentHandler):
    api = {"POST": {"summary": "Change your password (signs out every other session and socket)",
                    "tags": ["auth"], "auth": "agent", "body": PasswordChangeRequest,
                    "response": models.LoginResponse, "errors": [400, 401]}}

    async def post(self) -> None:
        body = self.parse_body(PasswordChangeRequest)
        token, agent = await self.services.auth.change_password(self.agent, body.current_password,
                                                                body.new_password)
        self.write_json({"token": token, "agent": models.agent_model(agent, own=True),
                         "expires_in": self.config.agent_token_ttl_secs})


class AgentActiveHandler(AgentHandler):
    active = False
    api = {"POST": {"summary": "Deactivate an agent (admins): revokes their tokens and closes their sockets",
                    "tags": ["agents"], "auth": "agent", "body": models.EmptyBody,
                    "response": models.AgentResponse, "errors": [400, 401, 403, 404, 409]}}

    async def post(self, agent_id: str) -> None:
        self.parse_body(models.EmptyBody)
        target = int(agent_id) if agent_id.isdigit() and len(agent_id) < 10 else 0
        agent = await self.services.team.set_active(self.agent, target, self.active)  # (last-admin rule, audit)
        self.write_json({"agent": models.agent_model(agent)})


class AgentActivateHandler(AgentActiveHandler):
    active = True
    api = {"POST": {**AgentActiveHandler.api["POST"], "summary": "Reactivate an agent (admins)"}}


routes = [
    route("/api/v1/auth/password", PasswordHandler),
    route("/api/v1/agents/{agent_id}/deactivate", AgentActiveHandler),
    route("/api/v1/agents/{agent_id}/activate", AgentActivateHandler),
]
