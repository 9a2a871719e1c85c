"""The app factory: one settings dict holding the services, routes from each handlers module.

The services themselves are built by the composition root (`callcenter.wiring.create_services`,
re-exported here for the callers that make an app)."""
from __future__ import annotations

import logging

from tornado import web

from . import openapi
from .errors import NotFound
from .handlers import admin, agent, ai, auth, files, mail, ops, pages, public, push, routing, team, webhooks, workspace, ws
from .handlers.base import BaseHandler
from .handlers.edge import Application, metric_method
from .paths import resource_dir
from .wiring import Services, create_services

__all__ = ["Services", "create_services", "make_app", "all_routes"]

STATIC_DIR = resource_dir("static")
TEMPLATE_DIR = resource_dir("templates")

access_log = logging.getLogger("callcenter.access")


class JSONNotFoundHandler(BaseHandler):
    def prepare(self) -> None:
        raise NotFound("no such route", code="route_not_found")


def log_request(handler: web.RequestHandler) -> None:
    """One line per request: never the query string (no tokens, no search text) nor a body."""
    status = handler.get_status()
    duration_secs = handler.request.request_time()
    route_name = type(handler).__name__
    services = handler.settings.get("services")
    if services is not None:
        services.metrics.http_requests.labels(route_name, metric_method(handler.request.method), str(status)).inc()
        services.metrics.http_duration.labels(route_name).observe(duration_secs)
    level = logging.INFO if status < 500 else logging.ERROR
    path = getattr(handler, "log_path", None) or handler.request.path  # (a route may hide a token in its path)
    access_log.log(level, "%d %.16s %s tenant=%s %.1fms ip=%s", status, handler.request.method, path,
                   getattr(handler, "log_tenant", "-"), duration_secs * 1000, handler.request.remote_ip)


def all_routes() -> list:
    return [*auth.routes, *admin.routes, *public.routes, *agent.routes, *files.routes, *ai.routes, *push.routes,
            *workspace.routes, *team.routes, *webhooks.routes, *routing.routes, *mail.routes, *ops.routes, *pages.routes, *ws.routes]


def make_app(services: Services, **extra_settings) -> Application:
    routes = all_routes()
    settings = dict(
        openapi=openapi.build(routes),
        template_path=str(TEMPLATE_DIR),
        # No `static_path`: it would add routes of its own; /static/ is in pages.routes like every route.
        default_handler_class=JSONNotFoundHandler,
        log_function=log_request,
        compress_response=True,
        xsrf_cookies=False,
        # Not Tornado's ping task per socket: the hub pings every socket from one loop (less memory
        # per idle socket), see Hub._heartbeat.
        websocket_ping_interval=0,
        websocket_max_message_size=ws.MAX_FRAME_BYTES,
    )
    settings.update(extra_settings)
    return Application(routes, services=services, **settings)
