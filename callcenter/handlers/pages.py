"""Pages served on the same origin as the API: the dashboard, the widget and its demo."""
from __future__ import annotations

import json

from tornado import web

from ..paths import resource_dir
from .base import BaseHandler

# The dashboard allows no inline script; visitor text can never become code there.
DASHBOARD_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                 "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
                 "object-src 'none'")


class PageHandler(BaseHandler):
    """A template rendered with the dashboard CSP."""

    def initialize(self, template: str) -> None:
        self.template = template

    def get(self) -> None:
        self.set_header("Content-Security-Policy", DASHBOARD_CSP)
        self.set_header("Cache-Control", "no-cache")
        self.render(self.template)


class PublicFileHandler(web.StaticFileHandler):
    """Files other sites load (the widget script) or open (demo pages)."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-cache")
        if path.endswith(".js"):
            # The widget is embedded by other origins.
            self.set_header("Access-Control-Allow-Origin", "*")
            self.set_header("Cross-Origin-Resource-Policy", "cross-origin")
        else:
            self.set_header("Content-Security-Policy", DASHBOARD_CSP.replace("frame-ancestors 'none'",
                                                                            "frame-ancestors 'self'"))

    def get_content_type(self) -> str:
        # The files are UTF-8: said so, or a host page in another encoding garbles the widget's text.
        ctype = super().get_content_type()
        return ctype + "; charset=UTF-8" if ctype.startswith(("text/", "application/javascript")) else ctype

    def write_error(self, status_code: int, **kwargs) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish('{"error":{"code":"not_found","message":"no such file"}}' if status_code == 404 else
                    '{"error":{"code":"bad_request","message":"cannot serve that path"}}')


class StaticHandler(web.StaticFileHandler):
    """/static/ (the dashboard's assets): a missing or refused file answers JSON like every other route."""

    def write_error(self, status_code: int, **kwargs) -> None:
        code = {403: "forbidden", 404: "not_found"}.get(status_code, "bad_request" if status_code < 500 else "error")
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"error": {"code": code, "message": self._reason}}))


def _static_dir() -> str:
    return str(resource_dir("static"))


routes = [
    web.URLSpec(r"/$", PageHandler, {"template": "index.html"}),
    web.URLSpec(r"/(chat-widget\.js|widget-demo\.html|websocket-test\.html)$", PublicFileHandler,
                {"path": _static_dir()}),
]
