"""The agent workspace's routes: private notes, canned responses, labels, the visitor's rating, and the
tenant's workspace settings. Thin: parse, authorize (the service checks roles), call, render."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from .. import models
from ..errors import NotFound
from .base import AgentHandler, PublicHandler, route

_SHORTCUT = re.compile(r"[a-z0-9_-]{1,32}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_LINE_BREAKS = re.compile(r"[\r\n\t]")


def _one_line(value: str, what: str, max_chars: int) -> str:
    if _LINE_BREAKS.search(value):
        raise ValueError(f"{what} must be one line")
    return models._clean_text(value, what, max_chars)


def _shortcut(value: str) -> str:
    if not _SHORTCUT.fullmatch(value):
        raise ValueError("shortcut must be 1-32 characters of a-z, 0-9, - and _")
    return value


def _id_or_404(raw: str, what: str, code: str) -> int:
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound(f"no such {what}", code=code)
    return int(raw)


# ---- bodies and answers ----------------------------------------------------------------------

class NoteRequest(models.Body):
    body: Annotated[str, Field(description="The note, 1-5000 characters after trimming; @Name mentions a "
                                           "colleague (they are told).")]
    client_msg_id: models.ClientMsgId | None = None

    @field_validator("body")
    @classmethod
    def _text(cls, value: str) -> str:
        return models._clean_text(value, "body", models.MAX_MESSAGE_CHARS)


class _CannedResponseFields(models.Body):
    """The checks of a canned response's fields, for a whole one and for a change (None: not given)."""

    @field_validator("shortcut", check_fields=False)
    @classmethod
    def _shortcut(cls, value: str | None) -> str | None:
        return None if value is None else _shortcut(value)

    @field_validator("title", check_fields=False)
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else _one_line(value, "title", 100)

    @field_validator("body", check_fields=False)
    @classmethod
    def _body(cls, value: str | None) -> str | None:
        return None if value is None else models._clean_text(value, "body", models.MAX_MESSAGE_CHARS)


class CannedResponseRequest(_CannedResponseFields):
    shortcut: str = Field(description="What follows / in the composer: 1-32 of a-z 0-9 - _.")
    title: str = Field(description="1-100 characters, one line.")
    body: str = Field(description="1-5000 characters; {{customer.name}}, {{customer.email}} and "
                                  "{{agent.name}} are filled in by the dashboard.")


class CannedResponsePatch(_CannedResponseFields):
    shortcut: str | None = None
    title: str | None = None
    body: str | None = None


class CannedResponseOut(BaseModel):
    id: int
    shortcut: str
    title: str
    body: str
    created_at: str
    updated_at: str


class CannedResponseResponse(BaseModel):
    canned_response: CannedResponseOut


class CannedResponsesResponse(BaseModel):
    canned_responses: list[CannedResponseOut]


def canned_model(row: dict) -> dict:
    return {"id": row["id"], "shortcut": row["shortcut"], "title": row["title"], "body": row["body"],
            "created_at": models.iso(row["created_at_ms"]), "updated_at": models.iso(row["updated_at_ms"])}


LabelName = Annotated[str, Field(description="1-40 characters, one line.")]


class LabelRequest(models.Body):
    name: LabelName
    color: str = Field(description="#rrggbb")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _one_line(value, "name", 40)

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        if not _COLOR.fullmatch(value):
            raise ValueError("color must be #rrggbb")
        return value.lower()


class LabelOut(BaseModel):
    id: int
    name: str
    color: str
    created_at: str


class LabelResponse(BaseModel):
    label: LabelOut


class LabelsResponse(BaseModel):
    labels: list[LabelOut]


def label_model(row: dict) -> dict:
    return {"id": row["id"], "name": row["name"], "color": row["color"], "created_at": models.iso(row["created_at_ms"])}


class SessionLabelsRequest(models.Body):
    labels: Annotated[list[LabelName], Field(max_length=20, description="The conversation's labels, all of them "
                                                                        "(each a tenant label; at most 20).")]

    @field_validator("labels")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return [_one_line(name, "a label", 40) for name in value]


class AgentSessionResponse(BaseModel):
    session: models.SessionOut


class RatingRequest(models.Body):
    score: int = Field(ge=1, le=5, description="1 (bad) to 5 (great).")
    comment: str = Field("", description="Up to 1000 characters.")

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str) -> str:
        return models._clean_text(value, "comment", 1000, allow_empty=True)


# ---- routes --------------------------------------------------------------------------------------

class NotesHandler(AgentHandler):
    api = {"POST": {"summary": "Add a private note (agents only; @Name tells a colleague)", "tags": ["messages"],
                    "auth": "agent", "body": NoteRequest, "response": models.MessageResponse, "status": 201,
                    "errors": [400, 401, 404, 413, 429]}}

    async def post(self, session_id: str) -> None:
        body = self.parse_body(NoteRequest)
        result = await self.services.workspace.add_note(self.agent, session_id, body.body, body.client_msg_id)
        self.write_json({"message": models.message_model(result.message), "created": result.created},
                        status=201 if result.created else 200)


class CannedResponsesHandler(AgentHandler):
    api = {"GET": {"summary": "The tenant's canned responses", "tags": ["workspace"], "auth": "agent",
                   "response": CannedResponsesResponse, "errors": [401]},
           "POST": {"summary": "Add a canned response (admins)", "tags": ["workspace"], "auth": "agent",
                    "body": CannedResponseRequest, "response": CannedResponseResponse, "status": 201,
                    "errors": [400, 401, 403, 409]}}

    async def get(self) -> None:
        rows = await self.services.workspace.canned_responses(self.agent)
        self.write_json({"canned_responses": [canned_model(r) for r in rows]})

    async def post(self) -> None:
        body = self.parse_body(CannedResponseRequest)
        row = await self.services.workspace.create_canned_response(self.agent, body.shortcut, body.title, body.body)
        self.write_json({"canned_response": canned_model(row)}, status=201)


class CannedResponseHandler(AgentHandler):
    api = {"PATCH": {"summary": "Change a canned response (admins; only the fields given)", "tags": ["workspace"],
                     "auth": "agent", "body": CannedResponsePatch, "response": CannedResponseResponse,
                     "errors": [400, 401, 403, 404, 409]},
           "DELETE": {"summary": "Delete a canned response (admins)", "tags": ["workspace"], "auth": "agent",
                      "status": 204, "errors": [401, 403, 404]}}

    async def patch(self, response_id: str) -> None:
        body = self.parse_body(CannedResponsePatch)
        changes = {k: v for k, v in body.model_dump().items() if v is not None}
        row = await self.services.workspace.update_canned_response(
            self.agent, _id_or_404(response_id, "canned response", "canned_response_not_found"), changes)
        self.write_json({"canned_response": canned_model(row)})

    async def delete(self, response_id: str) -> None:
        await self.services.workspace.delete_canned_response(
            self.agent, _id_or_404(response_id, "canned response", "canned_response_not_found"))
        self.set_status(204)
        self.finish()


class LabelsHandler(AgentHandler):
    api = {"GET": {"summary": "The tenant's labels", "tags": ["workspace"], "auth": "agent",
                   "response": LabelsResponse, "errors": [401]},
           "POST": {"summary": "Create a label (admins)", "tags": ["workspace"], "auth": "agent",
                    "body": LabelRequest, "response": LabelResponse, "status": 201, "errors": [400, 401, 403, 409]}}

    async def get(self) -> None:
        self.write_json({"labels": [label_model(r) for r in await self.services.workspace.labels(self.agent)]})

    async def post(self) -> None:
        body = self.parse_body(LabelRequest)
        row = await self.services.workspace.create_label(self.agent, body.name, body.color)
        self.write_json({"label": label_model(row)}, status=201)


class LabelHandler(AgentHandler):
    api = {"DELETE": {"summary": "Delete a label (admins): it leaves every conversation", "tags": ["workspace"],
                      "auth": "agent", "status": 204, "errors": [401, 403, 404]}}

    async def delete(self, label_id: str) -> None:
        await self.services.workspace.delete_label(self.agent, _id_or_404(label_id, "label", "label_not_found"))
        self.set_status(204)
        self.finish()


class SessionLabelsHandler(AgentHandler):
    api = {"PUT": {"summary": "Set a conversation's labels (all of them)", "tags": ["sessions"], "auth": "agent",
                   "body": SessionLabelsRequest, "response": AgentSessionResponse, "errors": [400, 401, 404]}}

    async def put(self, session_id: str) -> None:
        body = self.parse_body(SessionLabelsRequest)
        session = await self.services.workspace.set_session_labels(self.agent, session_id, body.labels)
        self.write_json({"session": models.agent_session_model(session)})


class RatingHandler(PublicHandler):
    api = {"POST": {"summary": "Rate the resolved conversation (1-5; changeable for 10 minutes)", "tags": ["public"],
                    "auth": "visitor", "body": RatingRequest, "response": models.SessionResponse,
                    "errors": [400, 401, 404, 409]}}

    async def post(self, session_id: str) -> None:
        visitor = await self.visitor()
        body = self.parse_body(RatingRequest)
        session = await self.services.workspace.rate(visitor, session_id, body.score, body.comment)
        self.write_json({"session": models.session_model(session)})


routes = [
    route("/api/v1/chat/sessions/{session_id}/notes", NotesHandler),
    route("/api/v1/chat/sessions/{session_id}/labels", SessionLabelsHandler),
    route("/api/v1/canned-responses", CannedResponsesHandler),
    route("/api/v1/canned-responses/{response_id}", CannedResponseHandler),
    route("/api/v1/labels", LabelsHandler),
    route("/api/v1/labels/{label_id}", LabelHandler),
    route("/api/v1/chat/public/session/{session_id}/rating", RatingHandler),
]
