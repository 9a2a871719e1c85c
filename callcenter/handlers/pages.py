"""Pages served on the same origin as the API: the dashboard, the widget and its demo, /static/ files.

Every route here is in the OpenAPI document like the API's; every response carries the security
headers of base.SecureHeaders (pages and files adjust the framing and script policy they need)."""
from __future__ import annotations

import functools
import hashlib
import os

from tornado import web

from ..paths import resource_dir
from .base import BaseHandler, SecureHeaders, route

# The dashboard allows no inline script; visitor text can never become code there.
# (blob: images: attachments are fetched with the bearer token and shown from blob URLs.)
# connect-src 'self' covers this origin's own ws:/wss: socket (CSP Level 3) and no other host.
DASHBOARD_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                 "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                 "form-action 'self'; object-src 'none'")
# The demo pages may be framed by their own origin (nothing else); the same script policy.
DEMO_PAGE_CSP = DASHBOARD_CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
STATIC_URL_PREFIX = "/static/"

_FILE_ERRORS = {403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def _static_dir() -> str:
    return str(resource_dir("static"))


class PageHandler(BaseHandler):
    """A template rendered with the dashboard CSP."""
    api = {"GET": {"summary": "The agent dashboard (HTML)", "tags": ["pages"], "content_type": "text/html",
                   "errors": []}}

    def initialize(self, template: str) -> None:
        self.template = template

    def get(self) -> None:
        self.set_header("Content-Security-Policy", DASHBOARD_CSP)
        self.set_header("Cache-Control", "no-cache")
        self.render(self.template)

    def static_url(self, path: str, include_host: bool | None = None, **kwargs) -> str:
        # /static/ is an ordinary route of the table (no `static_path` setting adding hidden ones).
        return StaticHandler.make_static_url({"static_path": _static_dir(), "static_url_prefix": STATIC_URL_PREFIX},
                                             path)


class FileErrors(SecureHeaders):
    """A missing or refused file answers JSON like every other route."""

    def parse_url_path(self, url_path: str) -> str:
        # A NUL (or any control character) in a file path is never a file: refused before the
        # filesystem sees it (os.stat would raise on the NUL: a 500).
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in url_path):
            raise web.HTTPError(400)
        return super().parse_url_path(url_path)

    def write_error(self, status_code: int, **kwargs) -> None:
        code = _FILE_ERRORS.get(status_code, "bad_request" if status_code < 500 else "internal_error")
        message = {404: "no such file", 403: "cannot serve that path"}.get(status_code, self._reason)
        self.finish_error(status_code, code, message)


class PublicFileHandler(FileErrors, web.StaticFileHandler):
    """One file other sites load (the widget script) or open (demo pages), at a fixed path."""

    def initialize(self, path: str, filename: str) -> None:
        super().initialize(path)
        self.filename = filename

    async def get(self, include_body: bool = True) -> None:
        await super().get(self.filename, include_body)

    async def head(self) -> None:
        await self.get(include_body=False)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        if path.endswith(".js"):
            # The widget is embedded by other origins.
            self.set_header("Access-Control-Allow-Origin", "*")
            self.set_header("Cross-Origin-Resource-Policy", "cross-origin")
        else:
            self.set_header("Content-Security-Policy", DEMO_PAGE_CSP)
            self.set_header("X-Frame-Options", "SAMEORIGIN")

    def get_content_type(self) -> str:
        # The files are UTF-8: said so, or a host page in another encoding garbles the widget's text.
        ctype = super().get_content_type()
        return ctype + "; charset=UTF-8" if ctype.startswith(("text/", "application/javascript")) else ctype


class WidgetScriptHandler(PublicFileHandler):
    """/chat-widget.js as served: its comment lines and indentation left out (`compact_script`), so
    the source keeps its comments and every embedding site still loads the smallest script."""

    @classmethod
    def get_content(cls, abspath: str, start: int | None = None, end: int | None = None):
        return compact_script(abspath)[start:end]

    def get_content_size(self) -> int:
        return len(compact_script(self.absolute_path))

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        return hashlib.sha512(compact_script(abspath)).hexdigest()


class ServiceWorkerHandler(PublicFileHandler):
    """/sw.js, the dashboard's service worker (push notifications): at the root so that its scope
    is the whole dashboard; same origin only, always revalidated so an update reaches agents."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        # A worker runs under its script's policy: its notifications load their icons from /static/.
        self.set_header("Content-Security-Policy", "default-src 'none'; img-src 'self'; frame-ancestors 'none'; "
                                                    "base-uri 'none'")


def compact_script(abspath: str) -> bytes:
    """The script without whole-line comments (`// …`, and `/* … */` blocks that start a line; the
    `/*! … */` header stays), indentation and blank lines. Only whole lines go, so no string or
    regex can be cut; a script with a template literal (where a line's indentation is text) is
    served as it is."""
    return _compacted(abspath, os.stat(abspath).st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _compacted(abspath: str, mtime_ns: int) -> bytes:  # (mtime: an edited file is read again)
    with open(abspath, encoding="utf-8") as f:
        source = f.read()
    kept: list[str] = []
    in_block = False
    for line in source.split("\n"):
        text = line.strip()
        if in_block or (text.startswith("/*") and not text.startswith("/*!")):
            if "*/" in text and not text.endswith("*/"):
                return source.encode("utf-8")  # code after a comment on its line: not a whole-line comment
            in_block = "*/" not in text
        elif not text.startswith("//") and text:
            kept.append(text)
    # A template literal or a string continued with a backslash: a line's start is text there.
    if any("`" in line or line.endswith("\\") for line in kept):
        return source.encode("utf-8")
    return ("\n".join(kept) + "\n").encode("utf-8")


class StaticHandler(FileErrors, web.StaticFileHandler):
    """/static/ (the dashboard's assets). Paths outside the folder are refused (403), encoded or not."""


def _file_api(summary: str, content_type: str, errors: list[int]) -> dict:
    get = {"summary": summary, "tags": ["pages"], "content_type": content_type, "errors": errors}
    return {"GET": get, "HEAD": {**get, "summary": summary + " (headers only)"}}


PublicFileHandler.api = _file_api("A public file (widget script or demo page)", "*/*", [404])
ServiceWorkerHandler.api = _file_api("The dashboard's service worker (push notifications)",
                                     "text/javascript", [404])
StaticHandler.api = _file_api("A dashboard asset", "*/*", [400, 403, 404])

routes = [
    route("/", PageHandler, template="index.html"),
    route("/chat-widget.js", WidgetScriptHandler, path=_static_dir(), filename="chat-widget.js"),
    route("/sw.js", ServiceWorkerHandler, path=_static_dir(), filename="sw.js"),
    route("/widget-demo.html", PublicFileHandler, path=_static_dir(), filename="widget-demo.html"),
    route("/websocket-test.html", PublicFileHandler, path=_static_dir(), filename="websocket-test.html"),
    # Settings › Widget's live preview (framed by the dashboard, sandboxed: see static/widget-preview.js).
    route("/widget-preview.html", PublicFileHandler, path=_static_dir(), filename="widget-preview.html"),
    route(STATIC_URL_PREFIX + "{path:path}", StaticHandler, path=_static_dir()),
]
