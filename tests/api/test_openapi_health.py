"""Operations routes: /healthz and /livez, JSON 404s for unknown routes, and the OpenAPI document matching the routes."""
import re

import pytest
from tornado import httpclient, httpserver

from callcenter.app import all_routes, create_services, make_app
from callcenter.config import Config
from callcenter.handlers.base import implemented_methods
from tests.helpers import ApiClient, free_port
from tests.mocking import private_redis

from ._support import assert_error, gen_test

METHODS = {"get", "post", "put", "patch", "delete", "options", "head"}


@gen_test
async def test_healthz(api, backend):
    resp = await api.get("/healthz")
    assert resp.status == 200, resp.body
    assert resp.json["status"] == "ok"
    assert resp.json["checks"] == {"store": "ok", "bus": "ok"}
    assert resp.headers["Content-Type"].startswith("application/json")


@pytest.mark.gen_test(timeout=60)
async def test_livez_answers_while_a_backing_service_is_down(io_loop, tmp_path, mysql_database_url):
    """/healthz is readiness (503 while Redis is down: send traffic elsewhere); /livez is liveness
    (200 while the process serves): a probe that restarts workers must use /livez, or it would
    restart every worker during a Redis blip, when sends are still taken and stored."""
    with private_redis() as redis_server:
        config = Config(database_url=mysql_database_url, redis_url=redis_server.url, redis_prefix="livez:",
                        secret_key="livez-test-secret-key-0123456789abcdef", data_dir=tmp_path)
        services = create_services(config)
        await services.start()
        server = httpserver.HTTPServer(make_app(services))
        port = free_port()
        server.listen(port, "127.0.0.1")
        api = ApiClient(httpclient.AsyncHTTPClient(), f"http://127.0.0.1:{port}")
        try:
            assert (await api.get("/healthz")).status == 200
            live = await api.get("/livez")
            assert live.status == 200 and live.json == {"status": "ok", "checks": {}}
            redis_server.stop()
            ready = await api.get("/healthz")
            assert ready.status == 503 and ready.json["checks"]["bus"] != "ok"
            assert (await api.get("/livez")).status == 200
        finally:
            server.stop()
            await services.close()


UNKNOWN_PATHS = ["/nope", "/api/v1/nope", "/api/v2/chat/sessions", "/api/v1/chat/sessions/x/y/z", "/api/v1/chat/public",
                 "/healthz/extra", "/api/v1/openapi.yaml", "/api/v1/chat/messages/", "/%00", "/static/no-such-file.css",
                 "/static/../callcenter/config.py", "/static/", "/chat-widget.jsx"]


@gen_test
async def test_unknown_routes_answer_json(api, backend):
    for path in UNKNOWN_PATHS:
        for method in ("GET", "POST"):
            resp = await api.request(method, path, raw=b"{}" if method == "POST" else None)
            # 404 for anything unknown; the static file server refuses paths outside its folder with 403.
            assert resp.status in (403, 404, 405), (method, path, resp.status)
            assert_error(resp, resp.status)
            assert b"config" not in resp.body and b"Traceback" not in resp.body


@gen_test
async def test_unknown_route_code(api, backend):
    assert_error(await api.get("/api/v1/does-not-exist"), 404, "route_not_found")


def _documented(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def _route_table(app) -> set[tuple[str, str]]:
    """(method, path template) for every rule of the running app's router and every method its
    handler answers. A rule without a template (not made with handlers.base.route) fails."""
    out = set()
    for rule in app.wildcard_router.rules:
        template = getattr(rule, "template", None)
        assert template, f"route {rule.matcher.regex.pattern} has no template: make it with handlers.base.route()"
        methods = implemented_methods(rule.target)
        assert methods, template
        out |= {(method, template) for method in methods}
    return out


@gen_test
async def test_openapi_document_matches_the_route_table(api, app):
    resp = await api.get("/api/v1/openapi.json")
    assert resp.status == 200, resp.body
    doc = resp.json
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    table = _route_table(app)
    assert len(app.wildcard_router.rules) == len(all_routes()), "no route outside all_routes()"
    assert table == _documented(doc), {"undocumented": table - _documented(doc),
                                       "documented, not served": _documented(doc) - table}
    # Pages, files and the socket are routes too.
    for path in ("/", "/ws", "/static/{path}", "/chat-widget.js", "/healthz", "/metrics"):
        assert path in doc["paths"], path


def test_a_route_without_its_description_cannot_be_built():
    """A new route, or a new method on one, without its OpenAPI entry stops the app factory."""
    from tornado import web

    from callcenter import openapi
    from callcenter.handlers.base import AgentHandler, route

    class Undocumented(AgentHandler):
        async def get(self):
            pass

    with pytest.raises(ValueError, match="Undocumented answers GET"):
        openapi.build([*all_routes(), route("/api/v1/new", Undocumented)])
    with pytest.raises(ValueError, match="not made with"):
        openapi.build([*all_routes(), web.URLSpec("/api/v1/raw$", Undocumented)])


def test_every_operation_lists_the_statuses_its_base_class_can_answer():
    from callcenter import openapi

    doc = openapi.build(all_routes())
    for path, item in doc["paths"].items():
        for method, op in item.items():
            statuses = set(op["responses"])
            assert "503" in statuses, (method, path)
            if op.get("security"):
                assert "401" in statuses, (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= statuses, (method, path)
    assert "429" in doc["paths"]["/api/v1/chat/messages"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/v1/chat/public/message"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/v1/chat/public/start"]["post"]["responses"]
    # Agent routes are same-origin only: a foreign Origin is a documented 403.
    assert "403" in doc["paths"]["/api/v1/chat/sessions"]["get"]["responses"]


@gen_test
async def test_openapi_operations_are_complete(api, backend):
    doc = (await api.get("/api/v1/openapi.json")).json
    schemas = doc["components"]["schemas"]
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        params_in_path = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            operation_ids.append(op["operationId"])
            assert op["summary"], (path, method)
            assert op["responses"], (path, method)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params_in_path, (path, method)
            for status, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status), (path, method, status)
                for media in response.get("content", {}).values():
                    ref = media["schema"].get("$ref")
                    if ref:
                        assert ref.split("/")[-1] in schemas, ref
                if int(status) >= 400 and method != "head":
                    assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
            body = op.get("requestBody")
            if body and "multipart/form-data" in body["content"]:  # a file upload: one binary part
                upload = body["content"]["multipart/form-data"]["schema"]
                assert [p["format"] for p in upload["properties"].values()] == ["binary"], (path, upload)
            elif body:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                assert ref.split("/")[-1] in schemas
            if op.get("security"):
                scheme = next(iter(op["security"][0]))
                assert scheme in doc["components"]["securitySchemes"]
                assert "401" in op["responses"], (path, method)
    assert len(operation_ids) == len(set(operation_ids))
    # Spot checks of the contract's routes.
    paths = doc["paths"]
    assert "post" in paths["/api/v1/auth/login"]
    assert "post" in paths["/api/v1/chat/public/start"]
    assert "post" in paths["/api/v1/chat/public/message"]
    assert "get" in paths["/api/v1/chat/public/session/{session_id}"]
    assert "get" in paths["/api/v1/chat/sessions"]
    assert "get" in paths["/api/v1/chat/sessions/{session_id}/messages"]
    assert "post" in paths["/api/v1/chat/messages"]
    assert "post" in paths["/api/v1/chat/sessions/{session_id}/assign"]
    assert paths["/api/v1/chat/sessions"]["get"]["security"] == [{"agentToken": []}]
    assert paths["/api/v1/chat/public/message"]["post"]["security"] == [{"visitorToken": []}]
