"""Widget (visitor) routes. Start returns a visitor token; every later call needs it."""
from .. import models, routing_models
from ..errors import Forbidden
from .base import PublicHandler, route


class StartHandler(PublicHandler):
    api = {"POST": {"summary": "Start a chat session (returns the visitor token)", "tags": ["public"],
                    "body": models.StartSessionRequest, "response": routing_models.StartSessionQueueResponse,
                    "status": 201, "errors": [400, 403, 404, 429]}}

    async def post(self) -> None:
        body = self.parse_body(models.StartSessionRequest)
        self.log_tenant = body.tenant_id
        tenant = await self.services.chat.tenant_or_404(body.tenant_id)
        self.allow_origin_for(tenant)
        if self._origin_refused:
            # A page on a site the tenant does not allow cannot read the answer anyway (no CORS): it
            # must not leave a conversation behind either. Requests without an Origin (servers) pass.
            raise Forbidden("this site is not one of the tenant's allowed origins", code="origin_not_allowed")
        session, token, tenant = await self.services.chat.start_session(
            tenant_id=body.tenant_id, channel=body.channel, customer_name=body.customer_name,
            customer_email=body.customer_email, page_url=body.page_url,
            user_agent=self.request.headers.get("User-Agent", ""), ip=self.client_ip)
        self.write_json({"session_id": session["id"], "token": token,
                         "tenant": models.tenant_public_model(tenant),
                         "session": models.session_model(session), "messages": [],
                         "queue": await self.services.routing.queue_of(session)}, status=201)


class PublicMessageHandler(PublicHandler):
    api = {"POST": {"summary": "Send a visitor message", "tags": ["public"], "auth": "visitor",
                    "body": models.PublicMessageRequest, "response": models.MessageResponse,
                    "status": 201, "errors": [400, 401, 404, 413, 429]}}

    async def post(self) -> None:
        visitor = await self.visitor()
        body = self.parse_body(models.PublicMessageRequest)
        result = await self.services.chat.send(visitor, body.session_id, body.message, body.client_msg_id,
                                                  body.attachment_ids)
        self.write_json({"message": models.message_model(result.message), "created": result.created},
                        status=201 if result.created else 200)


class PublicSessionHandler(PublicHandler):
    api = {"GET": {"summary": "The visitor's session and its messages after `after_seq`", "tags": ["public"],
                   "auth": "visitor", "response": routing_models.PublicSessionQueueResponse,
                   "query": {"after_seq": "integer", "limit": "integer"}, "errors": [400, 401, 404]}}

    async def get(self, session_id: str) -> None:
        visitor = await self.visitor()
        after_seq = self.int_arg("after_seq", 0)
        limit = self.int_arg("limit", 500, minimum=1, maximum=500)
        session, msgs, agent = await self.services.chat.visitor_history(visitor, session_id, after_seq, limit)
        self.write_json({"session": models.session_model(session),
                         "messages": [models.message_model(m) for m in msgs],
                         "agent": models.agent_public_model(agent) if agent else None,
                         "queue": await self.services.routing.queue_of(session)})


class PublicReadHandler(PublicHandler):
    api = {"POST": {"summary": "Mark the session read by the visitor up to `seq`", "tags": ["public"],
                    "auth": "visitor", "body": models.ReadRequest, "response": models.SessionResponse,
                    "errors": [400, 401, 404]}}

    async def post(self, session_id: str) -> None:
        visitor = await self.visitor()
        body = self.parse_body(models.ReadRequest)
        session = await self.services.chat.read(visitor, session_id, body.seq)
        self.write_json({"session": models.session_model(session)})


routes = [
    route("/api/v1/chat/public/start", StartHandler),
    route("/api/v1/chat/public/message", PublicMessageHandler),
    route("/api/v1/chat/public/session/{session_id}", PublicSessionHandler),
    route("/api/v1/chat/public/session/{session_id}/read", PublicReadHandler),
]
