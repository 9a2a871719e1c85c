"""E-mail routes: a visitor asks for a transcript, an e-mail's link reopens its conversation, an address
stops getting e-mail (the page the link opens, and the one-click POST of RFC 8058). Thin: parse, call
the mail service (services.mail), render."""
from __future__ import annotations

import html
from urllib.parse import parse_qs

from .. import models
from ..errors import InvalidInput
from ..mail_models import (QueuedResponse, ResumeRequest, ResumeResponse, TranscriptRequest, UnsubscribeRequest,
                           UnsubscribeResponse)
from .base import BaseHandler, PublicHandler, route

ONE_CLICK = "One-Click"
# The unsubscribe page: no script at all; it posts its one form to this origin only.
UNSUBSCRIBE_PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
                        "base-uri 'none'")


class TranscriptHandler(PublicHandler):
    api = {"POST": {"summary": "E-mail the visitor the conversation's transcript (queued; sent in the background)",
                    "tags": ["public"], "auth": "visitor", "body": TranscriptRequest, "response": QueuedResponse,
                    "status": 202, "errors": [400, 401, 404, 409, 429]}}

    async def post(self, session_id: str) -> None:
        visitor = await self.visitor()
        session = await self.services.chat.session_of(visitor, session_id)
        body = self.parse_body(TranscriptRequest)
        await self.services.mail.request_transcript(session, body.email, self.client_ip)
        self.write_json({"queued": True}, status=202)


class ResumeHandler(PublicHandler):
    api = {"POST": {"summary": "Exchange an e-mail's link token for a visitor token of its conversation",
                    "tags": ["public"], "body": ResumeRequest, "response": ResumeResponse, "errors": [400]}}

    async def post(self) -> None:
        body = self.parse_body(ResumeRequest)
        session, token, tenant = await self.services.mail.resume(body.token)
        self.log_tenant = tenant["id"]
        self.allow_origin_for(tenant)
        self.write_json({"session_id": session["id"], "token": token, "tenant": models.tenant_public_model(tenant)})


class UnsubscribeApiHandler(PublicHandler):
    api = {"POST": {"summary": "Stop e-mail to an address from a tenant: {token}, or RFC 8058's one-click form "
                               "body `List-Unsubscribe=One-Click` with the token in the query",
                    "tags": ["public"], "body": UnsubscribeRequest, "response": UnsubscribeResponse,
                    "query": {"token": "string"}, "errors": [400]}}
    link_token: str | None = None

    def prepare(self) -> None:
        # The one-click POST carries the link's token in its query, as the e-mail gave it. That token can
        # only stop e-mail (it opens nothing), so it is taken out before the check for credentials in URLs.
        self.link_token = self.get_query_argument("token", None)
        self.request.query_arguments.pop("token", None)
        self.request.arguments.pop("token", None)
        super().prepare()

    async def post(self) -> None:
        if self.link_token is not None:
            form = parse_qs(self.request.body.decode("utf-8", "replace"))
            if form.get("List-Unsubscribe") != [ONE_CLICK]:
                raise InvalidInput("send List-Unsubscribe=One-Click with the token in the query, or {\"token\"}",
                                   code="invalid_input")
            token = self.link_token
        else:
            token = self.parse_body(UnsubscribeRequest).token
        tenant, _address = await self.services.mail.unsubscribe(token)
        self.log_tenant = tenant["id"]
        self.write_json({"unsubscribed": True})


class UnsubscribePageHandler(BaseHandler):
    """/unsubscribe?token=…: the e-mail's link. GET asks (a link opened by a mail scanner changes
    nothing); POST does it: the page's button, or a mail client's one-click POST to the same link."""
    api = {"GET": {"summary": "The unsubscribe page of an e-mail's link (HTML, with a button)", "tags": ["pages"],
                   "content_type": "text/html", "query": {"token": "string"}, "errors": [400]},
           "POST": {"summary": "Unsubscribe (the page's button, or RFC 8058 one-click)", "tags": ["pages"],
                    "content_type": "text/html", "query": {"token": "string"}, "errors": [400]}}

    def _token(self) -> str:
        token = self.get_query_argument("token", None) or self.get_body_argument("token", None)
        if not token or len(token) > 2000:
            raise InvalidInput("this link is not valid or has expired", code="invalid_token")
        return token

    def _page(self, title: str, paragraphs: list[str]) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", UNSUBSCRIBE_PAGE_CSP)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")  # the address holds the token
        self.finish(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                    f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                    f'<title>{html.escape(title)}</title></head>\n'
                    f'<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em;">\n'
                    f'<h1 style="font-size: 1.4em;">{html.escape(title)}</h1>\n' + "\n".join(paragraphs) +
                    "\n</body></html>\n")

    async def get(self) -> None:
        token = self._token()
        tenant, address = await self.services.mail.unsubscribe_target(token)
        self._page("Unsubscribe", [
            f"<p>Stop e-mail from <strong>{html.escape(tenant['name'])}</strong> to "
            f"<strong>{html.escape(address)}</strong>?</p>",
            f'<form method="post" action="/unsubscribe"><input type="hidden" name="token" value="{html.escape(token)}">'
            f'<button type="submit">Unsubscribe</button></form>'])

    async def post(self) -> None:
        tenant, address = await self.services.mail.unsubscribe(self._token())
        self._page("Unsubscribed", [
            f"<p><strong>{html.escape(address)}</strong> gets no more e-mail from "
            f"<strong>{html.escape(tenant['name'])}</strong>.</p>"])


routes = [
    route("/api/v1/chat/public/session/{session_id}/transcript", TranscriptHandler),
    route("/api/v1/chat/public/resume", ResumeHandler),
    route("/api/v1/mail/unsubscribe", UnsubscribeApiHandler),
    route("/unsubscribe", UnsubscribePageHandler),
]
