"""Pages served on the same origin as the API: the dashboard, the widget and its demo, /static/ files.

Every route here is in the OpenAPI document like the API's; every response carries the security
headers of base.SecureHeaders (pages and files adjust the framing and script policy they need)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re

from tornado import escape, web

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
# Built files (scripts/build_assets.py) are named by their content: they never change under their URL.
IMMUTABLE = "public, max-age=31536000, immutable"
HASHED_ASSET = re.compile(r"^dist/[A-Za-z0-9_-]+\.[0-9a-f]{12}\.[a-z0-9]+$")
# /chat-widget.js keeps its URL across releases (customers embed it): a short lifetime, then revalidated.
WIDGET_CACHE = "public, max-age=300"
MANIFEST = "dist/manifest.json"

log = logging.getLogger("callcenter.assets")

_FILE_ERRORS = {403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def _static_dir() -> str:
    return str(resource_dir("static"))


class AssetManifest:
    """static/dist/manifest.json (written by scripts/build_assets.py): logical name ("dashboard.js",
    "dashboard.css", "i18n/<lang>.json", "chat-widget.js") -> file in static/dist/. Read again when the
    file changes (a rebuild while the server runs). In a development checkout, a warning once per build
    when a source differs from what the build read (the built files are not rebuilt at run time)."""

    def __init__(self) -> None:
        self._stamp: tuple[str, int] | None = None
        self.files: dict[str, str] = {}

    def load(self) -> dict[str, str]:
        path = os.path.join(_static_dir(), MANIFEST)
        try:
            stamp = (path, os.stat(path).st_mtime_ns)
        except OSError:
            stamp = (path, -1)
        if stamp != self._stamp:
            self._stamp = stamp
            document = {}
            try:
                with open(path, encoding="utf-8") as f:
                    document = json.load(f)
            except (OSError, ValueError) as exc:
                log.error("%s is missing or unreadable (%s): run `python scripts/build_assets.py`", path, exc)
            self.files = {k: v for k, v in document.items() if isinstance(v, str)}
            self._warn_if_stale(document.get("sources") or {})
        return self.files

    @staticmethod
    def _warn_if_stale(sources: dict) -> None:
        checkout = os.path.dirname(_static_dir())
        if not os.path.isdir(os.path.join(checkout, ".git")) or not isinstance(sources, dict):
            return  # an installed copy: its built files are what it has
        changed = []
        for relative, digest in sorted(sources.items()):
            try:
                with open(os.path.join(checkout, relative), "rb") as f:
                    if hashlib.sha256(f.read()).hexdigest()[:len(digest)] != digest:
                        changed.append(relative)
            except OSError:
                changed.append(relative)
        if changed:
            log.warning("static/dist/ is older than its sources (%s%s): run `python scripts/build_assets.py`",
                        ", ".join(changed[:5]), f" and {len(changed) - 5} more" if len(changed) > 5 else "")

    def url(self, name: str) -> str:
        files = self.load()
        if name not in files:
            log.error("no %r in %s: run `python scripts/build_assets.py`", name, MANIFEST)
        return STATIC_URL_PREFIX + "dist/" + files.get(name, name)

    def page_json(self) -> str:
        """The built files' URLs for the page's script (<script type="application/json" id="asset-manifest">),
        "</" escaped so the JSON cannot close its element."""
        return escape.json_encode({name: STATIC_URL_PREFIX + "dist/" + file for name, file in self.load().items()})


_assets = AssetManifest()


def asset_manifest() -> dict[str, str]:
    return _assets.load()


def asset_url(name: str) -> str:
    """The URL of a built file by its logical name (asset_url("dashboard.js"))."""
    return _assets.url(name)


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

    def get_template_namespace(self) -> dict:
        namespace = super().get_template_namespace()
        namespace.update(asset_url=asset_url, asset_manifest_json=_assets.page_json())
        return namespace

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
    """/chat-widget.js: the built widget, static/dist/chat-widget.js (scripts/build_assets.py: minified by
    esbuild, its strings from static/i18n/). Its URL has no version (customers embed it), so browsers keep
    it five minutes and then revalidate it with its ETag."""

    async def get(self, include_body: bool = True) -> None:
        asset_manifest()  # (in a development checkout: the warning when the build is behind its sources)
        await super().get(include_body)

    def set_extra_headers(self, path: str) -> None:
        super().set_extra_headers(path)
        self.set_header("Cache-Control", WIDGET_CACHE)


class ServiceWorkerHandler(PublicFileHandler):
    """/sw.js, the dashboard's service worker (push notifications): at the root so that its scope
    is the whole dashboard; same origin only, always revalidated so an update reaches agents."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        # A worker runs under its script's policy: its notifications load their icons from /static/.
        self.set_header("Content-Security-Policy", "default-src 'none'; img-src 'self'; frame-ancestors 'none'; "
                                                    "base-uri 'none'")


class StaticHandler(FileErrors, web.StaticFileHandler):
    """/static/ (the dashboard's assets). Paths outside the folder are refused (403), encoded or not.
    A content-hashed build output (static/dist/<name>.<hash>.<ext>) or a file asked for with the `?v=` of
    its current content (static_url) never changes under its URL: cached for a year, immutable. Any other
    file is revalidated on each use (no-cache: a 304 when unchanged)."""

    def get_cache_time(self, path: str, modified, mime_type: str) -> int:
        return 0  # (Cache-Control is set below; Tornado's own would add Expires and a ten-year max-age)

    def set_extra_headers(self, path: str) -> None:
        relative = os.path.relpath(self.absolute_path, self.root).replace(os.sep, "/")
        version = self.get_query_argument("v", None)
        versioned = version is not None and version == self._get_cached_version(self.absolute_path)
        self.set_header("Cache-Control", IMMUTABLE if versioned or HASHED_ASSET.match(relative) else "no-cache")
        if relative.startswith("dist/chat-widget"):
            # The widget's language packs and lazy part: loaded by /chat-widget.js on other sites' pages.
            self.set_header("Access-Control-Allow-Origin", "*")
            self.set_header("Cross-Origin-Resource-Policy", "cross-origin")


def _file_api(summary: str, content_type: str, errors: list[int]) -> dict:
    get = {"summary": summary, "tags": ["pages"], "content_type": content_type, "errors": errors}
    return {"GET": get, "HEAD": {**get, "summary": summary + " (headers only)"}}


PublicFileHandler.api = _file_api("A public file (widget script or demo page)", "*/*", [404])
ServiceWorkerHandler.api = _file_api("The dashboard's service worker (push notifications)",
                                     "text/javascript", [404])
StaticHandler.api = _file_api("A dashboard asset", "*/*", [400, 403, 404])

routes = [
    route("/", PageHandler, template="index.html"),
    route("/chat-widget.js", WidgetScriptHandler, path=_static_dir(), filename="dist/chat-widget.js"),
    route("/sw.js", ServiceWorkerHandler, path=_static_dir(), filename="sw.js"),
    route("/widget-demo.html", PublicFileHandler, path=_static_dir(), filename="widget-demo.html"),
    route("/websocket-test.html", PublicFileHandler, path=_static_dir(), filename="websocket-test.html"),
    # Settings › Widget's live preview (framed by the dashboard, sandboxed: see static/widget-preview.js).
    route("/widget-preview.html", PublicFileHandler, path=_static_dir(), filename="widget-preview.html"),
    route(STATIC_URL_PREFIX + "{path:path}", StaticHandler, path=_static_dir()),
]
