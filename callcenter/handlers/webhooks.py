"""The webhooks' routes (admins): register, change, delete, rotate the secret, read the deliveries.
Thin: parse, call the webhook service (it checks the role and the URL), render."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .. import models
from ..errors import NotFound
from ..webhook_models import delivery_model, webhook_model
from .base import AgentHandler, route

EventName = Literal["conversation.created", "message.created", "conversation.assigned", "conversation.resolved",
                    "conversation.rated"]
Url = Annotated[str, Field(max_length=4000, description="https:// (http only for the operator's "
                                                        "CALLCENTER_WEBHOOK_ALLOW_HOSTS); at most 2000 characters; "
                                                        "never a private, loopback or link-local address.")]
Events = Annotated[list[str], Field(max_length=20, description="The events to deliver (at least one): "
                                                                "conversation.created, message.created, "
                                                                "conversation.assigned, conversation.resolved, "
                                                                "conversation.rated.")]


class WebhookRequest(models.Body):
    url: Url
    events: Events
    active: bool = True


class WebhookPatch(models.Body):
    url: Url | None = None
    events: Events | None = None
    active: bool | None = Field(None, description="true also clears a webhook switched off for failing.")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[EventName]
    active: bool
    disabled_reason: str | None
    failing_since: str | None
    created_at: str


class WebhookResponse(BaseModel):
    webhook: WebhookOut


class WebhookSecretResponse(BaseModel):
    webhook: WebhookOut
    secret: str = Field(description="The signing secret: shown this once.")


class WebhooksResponse(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int
    event: EventName
    event_id: str
    status_code: int | None
    error: str | None
    duration_ms: int
    attempts: int
    delivered: bool
    created_at: str
    last_attempt_at: str | None
    next_attempt_at: str | None


class DeliveriesResponse(BaseModel):
    deliveries: list[DeliveryOut]


def _webhook_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound("no such webhook", code="webhook_not_found")
    return int(raw)


class WebhooksHandler(AgentHandler):
    api = {"GET": {"summary": "The tenant's webhooks (admins)", "tags": ["webhooks"], "auth": "agent",
                   "response": WebhooksResponse, "errors": [401, 403]},
           "POST": {"summary": "Register a webhook (admins); its signing secret is in this answer only",
                    "tags": ["webhooks"], "auth": "agent", "body": WebhookRequest, "response": WebhookSecretResponse,
                    "status": 201, "errors": [400, 401, 403, 409]}}

    async def get(self) -> None:
        rows = await self.services.webhooks.list_webhooks(self.agent)
        self.write_json({"webhooks": [webhook_model(r) for r in rows]})

    async def post(self) -> None:
        body = self.parse_body(WebhookRequest)
        row, secret = await self.services.webhooks.create(self.agent, body.url, body.events, body.active)
        self.write_json({"webhook": webhook_model(row), "secret": secret}, status=201)


class WebhookHandler(AgentHandler):
    api = {"PATCH": {"summary": "Change a webhook (admins; only the fields given)", "tags": ["webhooks"],
                     "auth": "agent", "body": WebhookPatch, "response": WebhookResponse,
                     "errors": [400, 401, 403, 404]},
           "DELETE": {"summary": "Delete a webhook (admins)", "tags": ["webhooks"], "auth": "agent", "status": 204,
                      "errors": [401, 403, 404]}}

    async def patch(self, webhook_id: str) -> None:
        body = self.parse_body(WebhookPatch)
        row = await self.services.webhooks.update(self.agent, _webhook_id(webhook_id), url=body.url,
                                                  event_names=body.events, active=body.active)
        self.write_json({"webhook": webhook_model(row)})

    async def delete(self, webhook_id: str) -> None:
        await self.services.webhooks.delete(self.agent, _webhook_id(webhook_id))
        self.set_status(204)
        self.finish()


class WebhookSecretHandler(AgentHandler):
    api = {"POST": {"summary": "Replace a webhook's signing secret (admins); the new one is in this answer only",
                    "tags": ["webhooks"], "auth": "agent", "body": models.EmptyBody,
                    "response": WebhookSecretResponse, "errors": [400, 401, 403, 404]}}

    async def post(self, webhook_id: str) -> None:
        self.parse_body(models.EmptyBody)
        row, secret = await self.services.webhooks.rotate_secret(self.agent, _webhook_id(webhook_id))
        self.write_json({"webhook": webhook_model(row), "secret": secret})


class WebhookDeliveriesHandler(AgentHandler):
    api = {"GET": {"summary": "A webhook's last 100 deliveries, newest first (admins)", "tags": ["webhooks"],
                   "auth": "agent", "response": DeliveriesResponse, "errors": [401, 403, 404]}}

    async def get(self, webhook_id: str) -> None:
        rows = await self.services.webhooks.deliveries(self.agent, _webhook_id(webhook_id))
        self.write_json({"deliveries": [delivery_model(r) for r in rows]})


routes = [
    route("/api/v1/webhooks", WebhooksHandler),
    route("/api/v1/webhooks/{webhook_id}", WebhookHandler),
    route("/api/v1/webhooks/{webhook_id}/rotate-secret", WebhookSecretHandler),
    route("/api/v1/webhooks/{webhook_id}/deliveries", WebhookDeliveriesHandler),
]
