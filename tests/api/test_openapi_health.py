"""Operations routes: /healthz, JSON 404s for unknown routes, and the OpenAPI document matching the routes."""
import re

from callcenter.app import all_routes

from ._support import assert_error, gen_test

METHODS = {"get", "post", "put", "patch", "delete", "options", "head"}


@gen_test
async def test_healthz(api, backend):
    resp = await api.get("/healthz")
    assert resp.status == 200, resp.body
    assert resp.json["status"] == "ok"
    assert resp.json["checks"] == {"store": "ok", "bus": "ok"}
    assert resp.headers["Content-Type"].startswith("application/json")


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
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item if method in METHODS}


def _declared() -> set[tuple[str, str]]:
    return {(spec.template, method.upper()) for spec in all_routes()
            if getattr(spec, "template", None) and getattr(spec.handler_class, "api", None)
            for method in spec.handler_class.api}


@gen_test
async def test_openapi_document_matches_the_routes(api, app):
    resp = await api.get("/api/v1/openapi.json")
    assert resp.status == 200, resp.body
    doc = resp.json
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]

    # Every (template, method) that a handler declares, and nothing else.
    assert _documented(doc) == _declared()

    # Every templated route the running app serves is in the document.
    served = {rule.template for rule in app.wildcard_router.rules if getattr(rule, "template", None)}
    assert served, "the app's route table has no templated routes"
    assert served <= set(doc["paths"]), served - set(doc["paths"])


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
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
            body = op.get("requestBody")
            if body:
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
