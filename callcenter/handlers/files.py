"""File attachments: upload to a session (multipart/form-data, field `file`) and download.

Visitors use their visitor token (cross-origin, for the widget); agents their JWT (same origin).
An upload answers the file's metadata; the file is then sent by listing its id in a message's
`attachment_ids`. Downloads come with the token too (never a URL that opens them by itself), as
the content type the bytes were recognised as, and with a policy that runs nothing if opened.
"""
from __future__ import annotations

import re

from tornado import httputil, web

from .. import attachments, models
from ..errors import ApiError, InvalidInput, RateLimited
from .base import AgentHandler, PublicHandler, route

# Room for the multipart framing (boundaries, part headers) around the file itself.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
# The upload routes (below): the edge lets their bodies be as large as a file (handlers/edge.py).
UPLOAD_PATH_RE = re.compile(r"^/api/v1/chat/(?:public/session|sessions)/[^/]+/attachments$")
UPLOAD_ERRORS = [400, 401, 404, 413, 415, 429]
DOWNLOAD_ERRORS = [400, 401, 404]
# The file's own headers: it never runs as a page (sandbox), whatever a browser makes of it.
DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def _upload_doc(summary: str, auth: str, tag: str) -> dict:
    return {"POST": {"summary": summary, "tags": [tag], "auth": auth, "upload": "file",
                     "response": models.AttachmentResponse, "status": 201, "errors": UPLOAD_ERRORS}}


def _download_doc(summary: str, auth: str, tag: str) -> dict:
    return {"GET": {"summary": summary, "tags": [tag], "auth": auth, "content_types": attachments.CONTENT_TYPES,
                    "errors": DOWNLOAD_ERRORS},
            "DELETE": {"summary": "Remove a file this side uploaded and has not sent (it stops counting "
                                  "against the conversation's quota)", "tags": [tag], "auth": auth, "status": 204,
                       "errors": DOWNLOAD_ERRORS + [409]}}


class _Upload:
    """Streams the request body in (up to the upload limit, which is above the JSON API's; the edge
    refuses a larger declared body before it is read) and reads the one `file` part out of it.

    A refused upload (no valid token, too many in progress, the client's share taken) is answered
    once its body is in, not before: a server that answers and closes while the client is still
    sending resets the connection, and the client sees the reset instead of the 429. The body is
    read and dropped meanwhile, and the edge's timeouts bound how long that may take."""

    # Until admit() (a refused request's body is read and dropped).
    _chunks: list[bytes] | None = None
    _limit = 0
    _received = 0
    _holds_slot = False
    _refusal: ApiError | None = None

    async def admit(self) -> None:
        """Authenticate and take an upload slot (subclasses); raising refuses the upload."""
        raise NotImplementedError

    async def prepare(self) -> None:
        try:
            await self.admit()
        except ApiError as exc:
            self._refusal = exc

    def start_upload(self) -> None:
        services, config = self.services, self.config
        if services.uploads_in_progress >= config.max_concurrent_uploads:
            raise RateLimited("this server is taking in as many files as it can; try again in a moment", 1)
        ip = self.client_ip
        if services.uploads_by_ip.get(ip, 0) >= config.max_concurrent_uploads_per_ip:
            raise RateLimited("finish the files already being sent from this address first", 1)
        services.uploads_in_progress += 1
        services.uploads_by_ip[ip] = services.uploads_by_ip.get(ip, 0) + 1
        self._holds_slot = True
        self._limit, self._chunks = config.max_upload_bytes + MULTIPART_OVERHEAD_BYTES, []

    def on_finish(self) -> None:
        if self._holds_slot:
            self._holds_slot = False
            services, ip = self.services, self.client_ip
            services.uploads_in_progress -= 1
            left = services.uploads_by_ip.pop(ip, 1) - 1
            if left > 0:
                services.uploads_by_ip[ip] = left
        super().on_finish()

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._chunks is not None and self._received <= self._limit:
            self._chunks.append(chunk)

    def uploaded_file(self) -> tuple[str, bytes]:
        if self._refusal is not None:
            raise self._refusal
        if self._received > self._limit:
            raise attachments.file_too_large(self.config.max_upload_bytes)
        content_type = self.request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise InvalidInput("send the file as multipart/form-data, in a field named 'file'",
                               code="unsupported_media_type")
        files: dict[str, list[httputil.HTTPFile]] = {}
        body, self._chunks = b"".join(self._chunks or ()), []
        try:
            httputil.parse_body_arguments(content_type, body, {}, files, self.request.headers)
        except httputil.HTTPInputError as exc:
            raise InvalidInput(f"the multipart/form-data body is malformed ({str(exc).rsplit(': ', 1)[-1]})",
                               code="invalid_multipart") from None
        parts = files.get("file") or []
        if len(parts) != 1:
            raise InvalidInput("send exactly one file, in a multipart/form-data field named 'file'",
                               code="missing_file")
        return attachments.form_filename(parts[0].filename), parts[0].body


class _Download:
    def write_file(self, row: dict) -> None:
        content_type = row["content_type"]
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"  # sniffing accepted only UTF-8 text
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", attachments.content_disposition(row["kind"], row["filename"]))
        self.set_header("Content-Security-Policy", DOWNLOAD_CSP)
        # An id always names the same bytes; only the token's holder's browser may keep them.
        self.set_header("Cache-Control", "private, max-age=86400, immutable")
        self.finish(row["data"])


@web.stream_request_body
class PublicUploadHandler(_Upload, PublicHandler):
    api = _upload_doc("Upload a file to the visitor's session (then send it in a message)", "visitor", "public")

    async def admit(self) -> None:
        PublicHandler.prepare(self)
        if self.request.method == "OPTIONS":  # the preflight carries no token
            return
        self.visitor_identity = await self.visitor()
        self.start_upload()

    async def post(self, session_id: str) -> None:
        filename, data = self.uploaded_file()
        meta = await self.services.chat.upload(self.visitor_identity, session_id, filename, data,
                                                       self.client_ip)
        self.write_json({"attachment": meta}, status=201)


class PublicAttachmentHandler(_Download, PublicHandler):
    api = _download_doc("Download a file of the visitor's session", "visitor", "public")

    async def get(self, session_id: str, attachment_id: str) -> None:
        visitor = await self.visitor()
        self.write_file(await self.services.chat.attachment(visitor, session_id, attachment_id))

    async def delete(self, session_id: str, attachment_id: str) -> None:
        visitor = await self.visitor()
        await self.services.chat.delete_attachment(visitor, session_id, attachment_id)
        self.set_status(204)
        self.finish()


@web.stream_request_body
class AgentUploadHandler(_Upload, AgentHandler):
    api = _upload_doc("Upload a file to a session (then send it in a message)", "agent", "messages")

    async def admit(self) -> None:
        await AgentHandler.prepare(self)
        self.start_upload()

    async def post(self, session_id: str) -> None:
        filename, data = self.uploaded_file()
        meta = await self.services.chat.upload(self.actor, session_id, filename, data)
        self.write_json({"attachment": meta}, status=201)


class AgentAttachmentHandler(_Download, AgentHandler):
    api = _download_doc("Download a file of a session", "agent", "messages")

    async def get(self, session_id: str, attachment_id: str) -> None:
        self.write_file(await self.services.chat.attachment(self.actor, session_id, attachment_id))

    async def delete(self, session_id: str, attachment_id: str) -> None:
        await self.services.chat.delete_attachment(self.actor, session_id, attachment_id)
        self.set_status(204)
        self.finish()


routes = [
    route("/api/v1/chat/public/session/{session_id}/attachments", PublicUploadHandler),
    route("/api/v1/chat/public/session/{session_id}/attachments/{attachment_id}", PublicAttachmentHandler),
    route("/api/v1/chat/sessions/{session_id}/attachments", AgentUploadHandler),
    route("/api/v1/chat/sessions/{session_id}/attachments/{attachment_id}", AgentAttachmentHandler),
]
