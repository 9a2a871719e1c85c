"""AI routes (agent JWT, same origin): the tenant's AI settings, and agent assist."""
from .. import models
from .base import AgentHandler, route


class AISettingsHandler(AgentHandler):
    api = {
        "GET": {"summary": "The tenant's AI settings, whether AI is available here, and today's token use",
                "tags": ["ai"], "auth": "agent", "response": models.AISettingsResponse, "errors": [401]},
        "PATCH": {"summary": "Change the tenant's AI settings (admins; only the fields given)", "tags": ["ai"],
                  "auth": "agent", "body": models.AISettingsRequest, "response": models.AISettingsResponse,
                  "errors": [400, 401, 403]},
    }

    async def get(self) -> None:
        settings, tokens = await self.services.ai.read_settings(self.agent)
        self._render(settings, tokens)

    async def patch(self) -> None:
        body = self.parse_body(models.AISettingsRequest)
        before, _ = await self.services.ai.read_settings(self.agent)
        settings, tokens = await self.services.ai.update_settings(self.agent, body.model_dump(exclude_none=True))
        changed = sorted(k for k, v in settings.as_dict().items() if before.as_dict().get(k) != v)
        if changed:  # (which fields, never their text: instructions and knowledge may be private)
            await self.services.audit.record(self.agent, "ai.settings_updated", "tenant", self.agent["tenant_id"],
                                             {"fields": changed})
        self._render(settings, tokens)

    def _render(self, settings, tokens: int) -> None:
        self.write_json({"settings": settings.as_dict(), "available": self.services.ai.available,
                         "model": self.config.gemini_model, "tokens_today": tokens})


class SuggestHandler(AgentHandler):
    api = {"POST": {"summary": "A reply drafted by the AI for the agent to send or edit (agent assist)",
                    "tags": ["ai"], "auth": "agent", "body": models.EmptyBody, "response": models.SuggestionResponse,
                    "errors": [400, 401, 404, 409]}}

    async def post(self, session_id: str) -> None:
        self.parse_body(models.EmptyBody)
        text = await self.services.ai.suggest(self.agent, session_id)
        self.write_json({"session_id": session_id, "suggestion": text})


routes = [
    route("/api/v1/ai/settings", AISettingsHandler),
    route("/api/v1/chat/sessions/{session_id}/suggest", SuggestHandler),
]
