"""Web Push routes: an agent's devices (browser push subscriptions) and a test notification."""
from .. import models
from .base import AgentHandler, route


class PushConfigHandler(AgentHandler):
    api = {"GET": {"summary": "The key browsers subscribe with (applicationServerKey)", "tags": ["push"],
                   "auth": "agent", "response": models.PushConfigResponse, "errors": [401]}}

    async def get(self) -> None:
        self.write_json({"enabled": True, "vapid_public_key": self.services.push.vapid.public_key})


class PushSubscriptionsHandler(AgentHandler):
    api = {
        "GET": {"summary": "Your devices that get push notifications", "tags": ["push"], "auth": "agent",
                "response": models.PushSubscriptionsResponse, "errors": [401]},
        "POST": {"summary": "Add this browser's push subscription (idempotent: 200 when it was stored)",
                 "tags": ["push"], "auth": "agent", "body": models.PushSubscriptionRequest,
                 "response": models.PushSubscriptionResponse, "status": 201, "errors": [400, 401, 409]},
        "DELETE": {"summary": "Remove a push subscription of yours (this browser's)", "tags": ["push"],
                   "auth": "agent", "body": models.PushEndpointRequest, "status": 204, "errors": [400, 401]},
    }

    async def get(self) -> None:
        rows = await self.services.push.devices(self.agent)
        self.write_json({"subscriptions": [models.push_subscription_model(r) for r in rows]})

    async def post(self) -> None:
        body = self.parse_body(models.PushSubscriptionRequest)
        row, created = await self.services.push.subscribe(self.agent, body.endpoint, body.keys.p256dh, body.keys.auth,
                                                          self.request.headers.get("User-Agent", ""))
        self.write_json({"subscription": models.push_subscription_model(row)}, status=201 if created else 200)

    async def delete(self) -> None:
        body = self.parse_body(models.PushEndpointRequest)
        await self.services.push.unsubscribe(self.agent, body.endpoint)
        self.set_status(204)
        self.finish()


class PushTestHandler(AgentHandler):
    api = {"POST": {"summary": "Send a test notification to each of your devices", "tags": ["push"],
                    "auth": "agent", "body": models.EmptyBody, "response": models.PushTestResponse,
                    "errors": [400, 401, 409, 429]}}

    async def post(self) -> None:
        self.parse_body(models.EmptyBody)
        self.write_json(await self.services.push.send_test(self.agent))


routes = [
    route("/api/v1/push/config", PushConfigHandler),
    route("/api/v1/push/subscriptions", PushSubscriptionsHandler),
    route("/api/v1/push/test", PushTestHandler),
]
