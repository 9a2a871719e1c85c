"""Agent routes (JWT bearer, same origin). Every call is scoped to the agent's tenant."""
from .. import analytics, models
from ..errors import InvalidInput
from ..boundary import decode_cursor, encode_cursor
from .base import AgentHandler, route

_SESSION_ERRORS = [400, 401, 404]


class SessionsHandler(AgentHandler):
    api = {"GET": {"summary": "List sessions, newest activity first", "tags": ["sessions"], "auth": "agent",
                   "response": models.SessionListResponse,
                   "query": {"status": "open|assigned|resolved|active", "assigned": "me|none|<agent id>",
                             "q": "string", "label": "string", "limit": "integer", "cursor": "string"},
                   "errors": [400, 401]}}

    async def get(self) -> None:
        status = self.choice_arg("status", ("open", "assigned", "resolved", "active"))
        assigned = self.get_query_argument("assigned", None) or None
        if assigned is not None and assigned not in ("me", "none") and not (assigned.isdigit() and len(assigned) < 10):
            raise InvalidInput("assigned must be me, none or an agent id", code="invalid_query")
        query = (self.get_query_argument("q", None) or "").strip()
        if len(query) > 200:
            raise InvalidInput("q is longer than 200 characters", code="invalid_query")
        label = (self.get_query_argument("label", None) or "").strip()
        if len(label) > 40:
            raise InvalidInput("label is longer than 40 characters", code="invalid_query")
        limit = self.int_arg("limit", 50, minimum=1, maximum=100)
        raw_cursor = self.get_query_argument("cursor", None)
        try:
            cursor = decode_cursor(raw_cursor) if raw_cursor else None
        except ValueError:
            raise InvalidInput("cursor is not one this server gave out", code="invalid_query") from None
        rows, next_cursor, searched_until_ms = await self.services.chat.list_sessions(
            self.agent, status=status, assigned=assigned, query=query, limit=limit, cursor=cursor, label=label or None)
        self.write_json({"sessions": [models.agent_session_model(r) for r in rows],
                         "next_cursor": encode_cursor(*next_cursor) if next_cursor else None,
                         "searched_until": models.iso(searched_until_ms)})


class SessionHandler(AgentHandler):
    api = {"GET": {"summary": "One session with customer context", "tags": ["sessions"], "auth": "agent",
                   "response": models.SessionDetailResponse, "errors": _SESSION_ERRORS}}

    async def get(self, session_id: str) -> None:
        session, assigned, previous = await self.services.chat.session_detail(self.agent, session_id)
        self.write_json({"session": models.session_detail_model(session),
                         "agent": models.agent_public_model(assigned) if assigned else None,
                         "previous_sessions": [models.agent_session_model(s) for s in previous],
                         "visitor_online": await self.services.hub.visitor_online(self.agent["tenant_id"], session_id)})


class MessagesHandler(AgentHandler):
    api = {"GET": {"summary": "Messages of a session: after `after_seq`, or the page before `before_seq`",
                   "tags": ["messages"], "auth": "agent", "response": models.MessagesResponse,
                   "query": {"after_seq": "integer", "before_seq": "integer", "limit": "integer"},
                   "errors": _SESSION_ERRORS}}

    async def get(self, session_id: str) -> None:
        after_seq = self.int_arg("after_seq", 0)
        before = self.get_query_argument("before_seq", None)
        before_seq = self.int_arg("before_seq", 0, minimum=1) if before not in (None, "") else None
        limit = self.int_arg("limit", 100, minimum=1, maximum=500)
        session, msgs = await self.services.chat.list_messages(self.agent, session_id, after_seq=after_seq,
                                                               before_seq=before_seq, limit=limit)
        self.write_json({"session_id": session_id, "messages": [models.message_model(m) for m in msgs],
                         "last_seq": session["last_seq"]})


class SendHandler(AgentHandler):
    api = {"POST": {"summary": "Send an agent message (idempotent with client_msg_id)", "tags": ["messages"],
                    "auth": "agent", "body": models.AgentMessageRequest, "response": models.MessageResponse,
                    "status": 201, "errors": [400, 401, 404, 413, 429]}}

    async def post(self) -> None:
        body = self.parse_body(models.AgentMessageRequest)
        result = await self.services.chat.send(self.actor, body.session_id, body.message, body.client_msg_id,
                                                      body.attachment_ids)
        self.write_json({"message": models.message_model(result.message), "created": result.created},
                        status=201 if result.created else 200)


class AssignHandler(AgentHandler):
    api = {"POST": {"summary": "Assign a session (to yourself when agent_id is omitted)", "tags": ["sessions"],
                    "auth": "agent", "body": models.AssignRequest, "response": models.SessionResponse,
                    "errors": [400, 401, 404, 409]}}

    async def post(self, session_id: str) -> None:
        body = self.parse_body(models.AssignRequest)
        session = await self.services.chat.assign(self.agent, session_id, body.agent_id)
        self.write_json({"session": models.agent_session_model(session)})


class TransferHandler(AgentHandler):
    api = {"POST": {"summary": "Transfer an assigned session to another agent", "tags": ["sessions"],
                    "auth": "agent", "body": models.TransferRequest, "response": models.SessionResponse,
                    "errors": [400, 401, 403, 404, 409]}}

    async def post(self, session_id: str) -> None:
        body = self.parse_body(models.TransferRequest)
        session = await self.services.chat.transfer(self.agent, session_id, body.agent_id, body.note)
        self.write_json({"session": models.agent_session_model(session)})


class ResolveHandler(AgentHandler):
    resolved = True
    api = {"POST": {"summary": "Resolve a session", "tags": ["sessions"], "auth": "agent",
                    "body": models.EmptyBody, "response": models.SessionResponse, "errors": [400, 401, 404, 409]}}

    async def post(self, session_id: str) -> None:
        self.parse_body(models.EmptyBody)
        session = await self.services.chat.set_resolved(self.agent, session_id, self.resolved)
        self.write_json({"session": models.agent_session_model(session)})


class ReopenHandler(ResolveHandler):
    resolved = False
    api = {"POST": {**ResolveHandler.api["POST"], "summary": "Reopen a resolved session"}}


class ReadHandler(AgentHandler):
    api = {"POST": {"summary": "Mark the session read by agents up to `seq`", "tags": ["messages"],
                    "auth": "agent", "body": models.ReadRequest, "response": models.SessionResponse,
                    "errors": [400, 401, 404]}}

    async def post(self, session_id: str) -> None:
        body = self.parse_body(models.ReadRequest)
        session = await self.services.chat.read(self.actor, session_id, body.seq)
        self.write_json({"session": models.agent_session_model(session)})


class AnalyticsHandler(AgentHandler):
    api = {"GET": {"summary": "Chat analytics over a range of days (conversations, response and resolution "
                              "times, AI share, per agent, per day and hour)", "tags": ["analytics"],
                   "auth": "agent", "response": models.AnalyticsResponse,
                   "query": {"from": "string", "to": "string", "utc_offset_minutes": "string", "tz": "string"},
                   "errors": [400, 401]}}

    async def get(self) -> None:
        offset = self.int_arg("utc_offset_minutes", 0, minimum=-analytics.MAX_UTC_OFFSET_MINUTES,
                              maximum=analytics.MAX_UTC_OFFSET_MINUTES)
        zone = analytics.parse_time_zone(self.get_query_argument("tz", None))
        doc = await self.services.chat.analytics(self.agent, self.get_query_argument("from", None),
                                                 self.get_query_argument("to", None), offset, zone)
        self.write_json(doc)


routes = [
    route("/api/v1/chat/sessions", SessionsHandler),
    route("/api/v1/chat/sessions/{session_id}", SessionHandler),
    route("/api/v1/chat/sessions/{session_id}/messages", MessagesHandler),
    route("/api/v1/chat/messages", SendHandler),
    route("/api/v1/chat/sessions/{session_id}/assign", AssignHandler),
    route("/api/v1/chat/sessions/{session_id}/transfer", TransferHandler),
    route("/api/v1/chat/sessions/{session_id}/resolve", ResolveHandler),
    route("/api/v1/chat/sessions/{session_id}/reopen", ReopenHandler),
    route("/api/v1/chat/sessions/{session_id}/read", ReadHandler),
    route("/api/v1/analytics", AnalyticsHandler),
]
