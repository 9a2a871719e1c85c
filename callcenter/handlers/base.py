"""The base handlers: JSON errors, body parsing, auth, CORS, security headers."""
from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
from redis.exceptions import RedisError
from tornado import web

from ..domain import Actor
from ..errors import ApiError, Forbidden, InvalidInput, PayloadTooLarge, Unauthorized
from ..boundary import json_dumps, origin_allowed, validate  # noqa: F401 - (json_dumps: the handlers' import)

if TYPE_CHECKING:  # (the composition root imports the handlers: a runtime import would be a cycle)
    from ..config import Config
    from ..wiring import Services

log = logging.getLogger("callcenter.api")

M = TypeVar("M", bound=pydantic.BaseModel)

# Query parameters that would put a credential in a URL (and so in logs and histories).
TOKEN_QUERY_NAMES = {"token", "access_token", "jwt", "auth", "authorization", "api_key"}

STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                429: "rate_limited", 500: "internal_error", 503: "unavailable"}


def route(url: str, handler: type, **kwargs) -> web.URLSpec:
    """A URLSpec from an OpenAPI-style template: `/a/{name}` becomes `/a/(?P<name>[^/]+)`, and
    `/a/{name:path}` (the rest of the path, slashes included) `/a/(?P<name>.+)`. Every route of the
    app is made here, so each one carries the template the OpenAPI document lists it under."""
    pattern = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", re.escape(url).replace(r"\{", "{").replace(r"\}", "}"))
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$"
    spec = web.URLSpec(pattern, handler, kwargs or None)
    spec.template = re.sub(r"\{(\w+):path\}", r"{\1}", url)  # read by the OpenAPI builder
    return spec


def implemented_methods(handler_class: type) -> list[str]:
    """The HTTP methods a handler class answers (the ones it defines), in Tornado's order."""
    return [m for m in handler_class.SUPPORTED_METHODS
            if getattr(handler_class, m.lower(), None) is not getattr(web.RequestHandler, m.lower())]


# Sent on every response of every handler (API, pages, files, the socket's handshake): one place.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    # A JSON answer opened as a page runs nothing and cannot be framed; pages set their own policy.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"


class SecureHeaders:
    """Mixed into every handler class of the app, before Tornado's own class."""

    # Statuses a route of this class can answer besides its own (the OpenAPI document lists them).
    @classmethod
    def implied_errors(cls, method: str, doc: dict) -> set[int]:
        return set()

    def set_default_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        if self.request.protocol == "https":  # behind nginx with TLS (xheaders): browsers keep to https
            self.set_header("Strict-Transport-Security", HSTS)
        self.clear_header("Server")

    def finish_error(self, status_code: int, code: str, message: str) -> None:
        """The JSON error shape every route answers with (a 405 also says which methods work)."""
        if status_code == 405:
            self.set_header("Allow", ", ".join(implemented_methods(type(self))))
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json_dumps({"error": {"code": code, "message": message}}))


class BaseHandler(SecureHeaders, web.RequestHandler):
    """Common to every route: security headers, request logging fields, JSON errors."""

    log_tenant: str = "-"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Counted so a SIGTERM can let in-flight requests finish before the worker exits.
        self.settings["services"].inflight_requests += 1
        self._counted = True

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.settings["services"].inflight_requests -= 1

    def on_connection_close(self) -> None:
        self.on_finish()
        super().on_connection_close()

    @property
    def services(self) -> Services:
        """This worker's services (wiring.Services): chat, auth, ai, push, hub; the config."""
        return self.settings["services"]

    @property
    def config(self) -> Config:
        return self.settings["services"].config

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json_dumps(obj))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            code, message = exc.code, exc.message
            for name, value in exc.headers.items():
                self.set_header(name, value)
        elif isinstance(exc, (RedisError, ConnectionError)):
            status_code, code, message = 503, "unavailable", "a backing service is unreachable; try again shortly"
            self.set_status(503)
        elif isinstance(exc, web.HTTPError):
            code = STATUS_CODES.get(status_code, "error")
            message = exc.log_message if exc.log_message and status_code < 500 else self._reason
        else:
            code = STATUS_CODES.get(status_code, "error")
            message = "internal error" if status_code >= 500 else self._reason
        self.finish_error(status_code, code, message)

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, ApiError):
            if value.status >= 500:
                log.warning("%s %s: %s", self.request.method, self.request.path, getattr(value, "detail", value.message))
            return
        if isinstance(value, (RedisError, ConnectionError)):
            log.warning("%s %s: redis unavailable: %s", self.request.method, self.request.path, value)
            return
        # Not Tornado's own lines: they carry the full URI (query string: search text, tokens) and its
        # HTTPError messages quote the input (e.g. "Invalid unicode in q: b'…'"). The path is enough.
        if isinstance(value, web.HTTPError):
            if value.status_code >= 500:
                log.warning("%s %s: HTTP %d", self.request.method, self.request.path, value.status_code)
            return
        log.error("uncaught exception in %s %s", self.request.method, self.request.path, exc_info=(typ, value, tb))

    @property
    def client_ip(self) -> str:
        return self.request.remote_ip or "-"


class APIHandler(BaseHandler):
    """JSON API routes. Subclasses declare `api = {"GET": {...}}` for the OpenAPI document."""

    api: dict[str, dict] = {}
    # Public (widget) routes answer CORS for the tenant's origins; agent routes are same-origin only.
    cross_origin = False

    @classmethod
    def implied_errors(cls, method: str, doc: dict) -> set[int]:
        # 400: a token in the query string or a malformed parameter; 413: a body over the limit;
        # 403: a same-origin route called from another origin.
        errors = {400}
        if doc.get("body") is not None:
            errors.add(413)
        if not cls.cross_origin:
            errors.add(403)
        return errors

    def check_xsrf_cookie(self) -> None:
        # No cookies carry authority here (bearer tokens only), so there is nothing to forge.
        pass

    def prepare(self) -> None:
        if self.request.method not in implemented_methods(type(self)):
            # 405 (with Allow) before anything else: a preflight to an agent route is not a 401.
            raise web.HTTPError(405)
        for name in self.request.query_arguments:
            if name.lower() in TOKEN_QUERY_NAMES:
                raise InvalidInput("tokens are not accepted in URLs; send Authorization: Bearer <token>",
                                   code="token_in_url")
        if len(self.request.body) > self.config.max_body_bytes:
            raise PayloadTooLarge(f"request body is larger than {self.config.max_body_bytes} bytes")
        if not self.cross_origin and self.request.method != "OPTIONS":
            self._require_same_origin()

    def _require_same_origin(self) -> None:
        origin = self.request.headers.get("Origin")
        if origin and origin != f"{self.request.protocol}://{self.request.host}":
            raise Forbidden("this route only answers its own origin", code="cross_origin_forbidden")

    # ---- input -----------------------------------------------------------

    def parse_body(self, model: type[M]) -> M:
        # Any declared type is read as JSON (curl -d sends form-urlencoded); bearer tokens, not
        # cookies, carry authority, so a "simple" cross-site form post gains nothing.
        if self.request.headers.get("Content-Type", "").startswith("multipart/"):
            raise InvalidInput("send the body as application/json", code="unsupported_media_type")
        try:
            raw = json.loads(self.request.body or b"{}")
        except UnicodeDecodeError:
            raise InvalidInput("request body is not valid UTF-8", code="invalid_json") from None
        except (ValueError, RecursionError):
            raise InvalidInput("request body is not valid JSON", code="invalid_json") from None
        if not isinstance(raw, dict):
            raise InvalidInput("request body must be a JSON object", code="invalid_json")
        return validate(model, raw, code="invalid_input")

    def int_arg(self, name: str, default: int, *, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
        # Unstripped: Tornado turns control characters into spaces, and stripping those would make
        # `?limit=%05` an absent limit rather than the bad one it is.
        raw = self.get_query_argument(name, None, strip=False)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput(f"{name} must be a whole number", code="invalid_query") from None
        if not minimum <= value <= maximum:
            raise InvalidInput(f"{name} must be between {minimum} and {maximum}", code="invalid_query")
        return value

    def choice_arg(self, name: str, choices: tuple[str, ...]) -> str | None:
        raw = self.get_query_argument(name, None, strip=False)
        if raw in (None, ""):
            return None
        if raw not in choices:
            raise InvalidInput(f"{name} must be one of {', '.join(choices)}", code="invalid_query")
        return raw

    def bearer_token(self) -> str:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <token>", code="missing_token")
        return token.strip()


class AgentHandler(APIHandler):
    """Routes for signed-in agents: `self.agent` (the row) and `self.actor` are set before the method runs."""

    agent: dict
    actor: Actor

    @classmethod
    def implied_errors(cls, method: str, doc: dict) -> set[int]:
        return super().implied_errors(method, doc) | {401}

    async def prepare(self) -> None:
        super().prepare()
        self.agent = await self.services.auth.agent_from_token(self.bearer_token())
        self.actor = Actor.of_agent(self.agent)
        self.log_tenant = self.agent["tenant_id"]


class PublicHandler(APIHandler):
    """Widget routes: cross-origin for the tenant's allowed origins."""

    cross_origin = True
    _cors_origin: str | None = None
    # The tenant is known and this request's Origin is not one of its allowed origins.
    _origin_refused = False

    @classmethod
    def implied_errors(cls, method: str, doc: dict) -> set[int]:
        errors = super().implied_errors(method, doc)
        return errors | {401} if doc.get("auth") == "visitor" else errors

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Re-applied here because send_error() clears headers before rendering an error.
        if self._cors_origin:
            self.set_header("Access-Control-Allow-Origin", self._cors_origin)
            self.set_header("Vary", "Origin")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Errors carry nothing tenant-specific; let the widget read why its call failed, unless the
        # tenant is known and does not allow this origin (CORS goes to its allowed origins only).
        origin = self.request.headers.get("Origin")
        if origin and not self._cors_origin and not self._origin_refused:
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Vary", "Origin")
        super().write_error(status_code, **kwargs)

    def options(self, *args, **kwargs) -> None:
        # Preflight: the tenant is not known yet (no body, no token), so allow the shape of the
        # request; the real response carries Allow-Origin only for the tenant's own origins.
        origin = self.request.headers.get("Origin")
        if origin:
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Vary", "Origin")
            self.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
            self.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
            self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

    def allow_origin_for(self, tenant: dict) -> None:
        origin = self.request.headers.get("Origin")
        if origin and origin_allowed(origin, tenant, self.request):
            self._cors_origin = origin
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Vary", "Origin")
        elif origin:
            self._origin_refused = True

    async def visitor(self) -> Actor:
        """The visitor the bearer token names (bound to its one conversation)."""
        actor = await self.services.auth.visitor_from_token(self.bearer_token())
        self.log_tenant = actor.tenant_id
        tenant = await self.services.chat.find_tenant(actor.tenant_id)
        if tenant:
            self.allow_origin_for(tenant)
        return actor
