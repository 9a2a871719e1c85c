"""Agent sign-in."""
from .. import models
from .base import AgentHandler, APIHandler, route


class LoginHandler(APIHandler):
    api = {"POST": {"summary": "Sign in as an agent", "tags": ["auth"], "body": models.LoginRequest,
                    "response": models.LoginResponse, "errors": [400, 401, 429]}}

    async def post(self) -> None:
        body = self.parse_body(models.LoginRequest)
        self.log_tenant = body.tenant_id
        token, agent = await self.services.auth.login(body.email, body.password, body.tenant_id, self.client_ip)
        self.write_json({"token": token, "agent": models.agent_model(agent, own=True),
                         "expires_in": self.config.agent_token_ttl_secs})


class MeHandler(AgentHandler):
    api = {"GET": {"summary": "The signed-in agent and tenant", "tags": ["auth"], "auth": "agent",
                   "response": models.MeResponse, "errors": [401]}}

    async def get(self) -> None:
        agent, tenant = await self.services.auth.me(self.agent)
        self.write_json({"agent": models.agent_model(agent, own=True), "tenant": models.tenant_public_model(tenant),
                         "limits": {"max_upload_bytes": self.config.max_upload_bytes}})


routes = [
    route("/api/v1/auth/login", LoginHandler),
    route("/api/v1/auth/me", MeHandler),
]
