"""Pages served on the same origin as the API: the dashboard, the widget and its demo, /static/ files.

Every route here is in the OpenAPI document like the API's; every response carries the security
headers of base.SecureHeaders (pages and files adjust the framing and script policy they need)."""
from __future__ import annotations

from tornado import web

from ..paths import resource_dir
from .base import BaseHandler, SecureHeaders, route

# The dashboard allows no inline script; visitor text can never become code there.
# (blob: images: attachments are fetched with the bearer token and shown from blob URLs.)
DASHBOARD_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                 "img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; "
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


class StaticHandler(FileErrors, web.StaticFileHandler):
    """/static/ (the dashboard's assets). Paths outside the folder are refused (403), encoded or not."""


def _file_api(summary: str, content_type: str, errors: list[int]) -> dict:
    get = {"summary": summary, "tags": ["pages"], "content_type": content_type, "errors": errors}
    return {"GET": get, "HEAD": {**get, "summary": summary + " (headers only)"}}


PublicFileHandler.api = _file_api("A public file (widget script or demo page)", "*/*", [404])
StaticHandler.api = _file_api("A dashboard asset", "*/*", [400, 403, 404])

routes = [
    route("/", PageHandler, template="index.html"),
    route("/chat-widget.js", PublicFileHandler, path=_static_dir(), filename="chat-widget.js"),
    route("/widget-demo.html", PublicFileHandler, path=_static_dir(), filename="widget-demo.html"),
    route("/websocket-test.html", PublicFileHandler, path=_static_dir(), filename="websocket-test.html"),
    route(STATIC_URL_PREFIX + "{path:path}", StaticHandler, path=_static_dir()),
]
