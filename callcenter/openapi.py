"""The OpenAPI 3 document, built from the route table and the pydantic models."""
from __future__ import annotations

import re

from pydantic import BaseModel

from . import __version__, models

_REF = "#/components/schemas/{model}"


def _schema_ref(model: type[BaseModel], components: dict) -> dict:
    schema = model.model_json_schema(ref_template=_REF, mode="serialization")
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": _REF.format(model=model.__name__)}


def _query_param(name: str, kind: str) -> dict:
    schema = {"type": "integer", "minimum": 0} if kind == "integer" else {"type": "string"}
    if "|" in kind and "<" not in kind:
        schema = {"type": "string", "enum": kind.split("|")}
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": kind if "<" in kind else ""}


def build(specs) -> dict:
    """`specs` are the app's URLSpecs made with handlers.base.route (they carry `.template`)."""
    components: dict = {}
    error_ref = _schema_ref(models.ErrorResponse, components)
    paths: dict = {}
    for spec in specs:
        template = getattr(spec, "template", None)
        api = getattr(spec.handler_class, "api", None)
        if not template or not api:
            continue
        item = paths.setdefault(template, {})
        path_params = re.findall(r"\{(\w+)\}", template)
        for method, doc in api.items():
            op: dict = {"summary": doc["summary"], "tags": doc.get("tags", []),
                        "operationId": f"{method.lower()}_{spec.handler_class.__name__}"}
            params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                      for p in path_params]
            params += [_query_param(n, k) for n, k in doc.get("query", {}).items()]
            if params:
                op["parameters"] = params
            if doc.get("body") is not None:
                op["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": _schema_ref(doc["body"], components)}}}
            ok = str(doc.get("status", 200))
            responses = {ok: {"description": "Success"}}
            if doc.get("response") is not None:
                responses[ok]["content"] = {"application/json": {"schema": _schema_ref(doc["response"], components)}}
            elif doc.get("content_type"):
                responses[ok]["content"] = {doc["content_type"]: {"schema": {
                    "type": "object" if "json" in doc["content_type"] else "string"}}}
            if doc.get("status") == 201 and "body" in doc:
                # An idempotent retry (same client_msg_id) answers 200 with the first message.
                responses["200"] = dict(responses[ok], description="Already stored (idempotent retry)")
            for status in sorted(set(doc.get("errors", [])) | {503}):
                responses[str(status)] = {"description": _ERROR_TEXT.get(status, "Error"),
                                          "content": {"application/json": {"schema": error_ref}}}
            op["responses"] = responses
            if doc.get("auth") == "agent":
                op["security"] = [{"agentToken": []}]
            elif doc.get("auth") == "visitor":
                op["security"] = [{"visitorToken": []}]
            item[method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "callcenter API", "version": __version__,
                 "description": "Multi-tenant real-time support chat. Errors are always "
                                "{\"error\": {\"code\", \"message\"}}."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "agentToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "From POST /api/v1/auth/login"},
                "visitorToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                 "description": "From POST /api/v1/chat/public/start; opens one session"},
            },
        },
    }


_ERROR_TEXT = {400: "Invalid input", 401: "Missing, invalid or revoked token", 403: "Not allowed",
               404: "Not found in your tenant", 409: "Conflicts with the current state",
               413: "Body too large", 429: "Rate limited (see Retry-After)",
               503: "Database or Redis unreachable"}
