"""The admin console's routes: the team (invitations, reset links, roles, profiles), the tenant's and
widget's settings, the audit log, and the AI's token use per day. Thin: parse, call a service, render
(the services check roles and record the audit log)."""
from __future__ import annotations

from .. import admin_models as am
from .. import models
from ..domain import workspace_settings
from ..errors import InvalidInput, NotFound
from .base import AgentHandler, APIHandler, PublicHandler, route

_AGENT_ERRORS = [400, 401, 403, 404, 409]


def _agent_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 9:
        raise NotFound("no such agent", code="agent_not_found")
    return int(raw)


class AgentsHandler(AgentHandler):
    api = {"GET": {"summary": "The tenant's agents: role, status, open conversations (your own row: your "
                              "preferences)", "tags": ["agents"], "auth": "agent", "response": models.AgentsResponse,
                   "errors": [401]},
           "POST": {"summary": "Invite an agent (admins): they exist at once, status invited, and sign in once "
                               "they set a password through the link", "tags": ["agents"], "auth": "agent",
                    "body": am.InviteRequest, "response": am.InviteResponse, "status": 201,
                    "errors": [400, 401, 403, 409]}}

    async def get(self) -> None:
        agents = await self.services.chat.list_agents(self.agent)
        self.write_json({"agents": [models.agent_model(a, own=a["id"] == self.agent["id"]) for a in agents]})

    async def post(self) -> None:
        body = self.parse_body(am.InviteRequest)
        agent, link = await self.services.team.invite(self.agent, body.email, body.name, body.role)
        self.write_json({"agent": models.agent_model(agent), "invitation": am.link_model(link)}, status=201)


class AgentHandlerRoute(AgentHandler):
    api = {"PATCH": {"summary": "Change an agent: admins anyone's role and name; agents their own name, "
                                "avatar_color and preferences (409 last_admin: the tenant keeps an active admin)",
                     "tags": ["agents"], "auth": "agent", "body": am.AgentPatch, "response": models.AgentResponse,
                     "errors": _AGENT_ERRORS}}

    async def patch(self, agent_id: str) -> None:
        target = _agent_id(agent_id)
        body = self.parse_body(am.AgentPatch)
        changes = body.changes()
        if "avatar_color" in changes and not _is_color(changes["avatar_color"]):
            raise InvalidInput("avatar_color must be #rrggbb", code="invalid_color")
        if "avatar_color" in changes:
            changes["avatar_color"] = changes["avatar_color"].lower()
        agent = await self.services.team.update_agent(self.agent, target, changes)
        self.write_json({"agent": models.agent_model(agent, own=agent["id"] == self.agent["id"])})


def _is_color(value: str) -> bool:
    return len(value) == 7 and value[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in value[1:])


class InvitationRenewHandler(AgentHandler):
    api = {"POST": {"summary": "A fresh invitation link for an invited agent (admins; the old one stops working)",
                    "tags": ["agents"], "auth": "agent", "body": models.EmptyBody, "response": am.RenewOut,
                    "errors": _AGENT_ERRORS}}

    async def post(self, agent_id: str) -> None:
        self.parse_body(models.EmptyBody)
        link = await self.services.team.renew_invitation(self.agent, _agent_id(agent_id))
        self.write_json({**am.link_model(link), "invitation": am.link_model(link)})


class PasswordResetHandler(AgentHandler):
    api = {"POST": {"summary": "A one-time link to set a new password (admins): signs the agent out everywhere",
                    "tags": ["agents"], "auth": "agent", "body": models.EmptyBody, "response": am.LinkOut,
                    "errors": _AGENT_ERRORS}}

    async def post(self, agent_id: str) -> None:
        self.parse_body(models.EmptyBody)
        link = await self.services.team.password_reset(self.agent, _agent_id(agent_id))
        self.write_json(am.link_model(link))


class InvitationInfoHandler(APIHandler):
    api = {"GET": {"summary": "What a one-time link is for (public; 404 invitation_invalid for any bad link)",
                   "tags": ["auth"], "response": am.InvitationInfoResponse, "errors": [404, 429]}}

    async def get(self, token: str) -> None:
        self.log_path = "/api/v1/auth/invitations/-"  # the token never reaches the logs
        link = await self.services.team.link_info(token, self.client_ip)
        self.write_json(am.invitation_info_model(link))


class InvitationAcceptHandler(APIHandler):
    api = {"POST": {"summary": "Set your password through a one-time link: signs you in (answers like login)",
                    "tags": ["auth"], "body": am.AcceptRequest, "response": models.LoginResponse,
                    "errors": [400, 404, 429]}}

    async def post(self) -> None:
        body = self.parse_body(am.AcceptRequest)
        token, agent = await self.services.team.accept(body.token, body.password, self.client_ip)
        self.log_tenant = agent["tenant_id"]
        self.write_json({"token": token, "agent": models.agent_model(agent, own=True),
                         "expires_in": self.config.agent_token_ttl_secs})


class TenantHandler(AgentHandler):
    api = {"GET": {"summary": "Your tenant, its allowed origins, workspace and widget settings", "tags": ["workspace"],
                   "auth": "agent", "response": am.TenantResponse, "errors": [401]},
           "PATCH": {"summary": "Change the tenant's name, allowed origins and settings (admins; only the fields "
                                "given)", "tags": ["workspace"], "auth": "agent", "body": am.TenantPatch,
                     "response": am.TenantResponse, "errors": [400, 401, 403]}}

    async def get(self) -> None:
        self._render(*await self.services.tenant_settings.read(self.agent))

    async def patch(self) -> None:
        body = self.parse_body(am.TenantPatch)
        self._render(*await self.services.tenant_settings.update(self.agent, body.changes()))

    def _render(self, tenant: dict, settings: dict) -> None:
        self.write_json({"tenant": am.admin_tenant_model(tenant), "settings": settings})


class TenantInfoHandler(PublicHandler):
    api = {"GET": {"summary": "What the widget needs to know about a tenant", "tags": ["public"],
                   "response": am.PublicTenantResponse, "errors": [404]}}

    async def get(self, tenant_id: str) -> None:
        tenant, widget, availability, team = await self.services.tenant_settings.public(tenant_id)
        self.allow_origin_for(tenant)
        self.write_json({"tenant": models.tenant_public_model(tenant), "settings": {
            "require_name": widget["prechat"]["name"] == "required",
            "require_email": widget["prechat"]["email"] == "required",
            "greeting": widget["greetings"]["en"],
            "csat_enabled": workspace_settings(tenant)["csat_enabled"],
            "max_upload_bytes": self.config.max_upload_bytes,
            "widget": widget,
            "availability": availability,
            "team": team,
        }})


class AuditHandler(AgentHandler):
    api = {"GET": {"summary": "The audit log, newest first (admins)", "tags": ["audit"], "auth": "agent",
                   "response": am.AuditResponse, "query": {"limit": "integer", "before": "string"},
                   "errors": [400, 401, 403]}}

    async def get(self) -> None:
        limit = self.int_arg("limit", 50, minimum=1, maximum=100)
        before = self.int_arg("before", 0, minimum=1, maximum=2**62) or None
        rows, next_id = await self.services.audit.events(self.agent, limit=limit, before=before)
        self.write_json({"events": [am.audit_event_model(r) for r in rows],
                         "next_cursor": str(next_id) if next_id else None})


class AIUsageHandler(AgentHandler):
    api = {"GET": {"summary": "The AI's tokens per UTC day (the last `days` days, today last) and the daily cap",
                   "tags": ["ai"], "auth": "agent", "response": am.AIUsageResponse, "query": {"days": "integer"},
                   "errors": [400, 401]}}

    async def get(self) -> None:
        days = self.int_arg("days", 30, minimum=1, maximum=90)
        usage = await self.services.team.ai_usage(self.agent, days)
        settings, _ = await self.services.ai.read_settings(self.agent)
        self.write_json({"days": usage, "cap": settings.daily_token_cap or None})


routes = [
    route("/api/v1/agents", AgentsHandler),
    route("/api/v1/agents/{agent_id}", AgentHandlerRoute),
    route("/api/v1/agents/{agent_id}/invitation", InvitationRenewHandler),
    route("/api/v1/agents/{agent_id}/password-reset", PasswordResetHandler),
    # (before the lookup's route, which would take "accept" for a token)
    route("/api/v1/auth/invitations/accept", InvitationAcceptHandler),
    route("/api/v1/auth/invitations/{token}", InvitationInfoHandler),
    route("/api/v1/tenant", TenantHandler),
    route("/api/v1/chat/public/tenants/{tenant_id}", TenantInfoHandler),
    route("/api/v1/audit", AuditHandler),
    route("/api/v1/ai/usage", AIUsageHandler),
]
