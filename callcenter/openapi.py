"""The OpenAPI 3 document, built from the route table and the pydantic models."""
from __future__ import annotations

import re

from pydantic import BaseModel

from . import __version__, models

_REF = "#/components/schemas/{model}"


def _schema_ref(model: type[BaseModel], components: dict, mode: str = "serialization") -> dict:
    """A $ref to `model` (request bodies in validation mode: the limits a caller must keep)."""
    schema = model.model_json_schema(ref_template=_REF, mode=mode)
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


def _operation_doc(handler_class: type, method: str) -> dict:
    api = getattr(handler_class, "api", None) or {}
    if method in api:
        return api[method]
    if method == "OPTIONS" and getattr(handler_class, "cross_origin", False):
        return {"summary": "CORS preflight (the answer to the real request decides the origin)",
                "tags": ["public"], "status": 204, "errors": []}
    raise ValueError(f"{handler_class.__name__} answers {method} but declares no `api` entry for it")


def build(specs) -> dict:
    """`specs` are the app's URLSpecs, all made with handlers.base.route (they carry `.template`).
    Every method every route answers is documented, with every status it can answer: a route or a
    method without its description is a ValueError here, so the app does not start without it."""
    from .handlers.base import implemented_methods

    components: dict = {}
    error_ref = _schema_ref(models.ErrorResponse, components)
    paths: dict = {}
    operation_ids: set[str] = set()
    for spec in specs:
        template = getattr(spec, "template", None)
        if not template:
            raise ValueError(f"route {spec.regex.pattern} was not made with handlers.base.route()")
        handler_class = spec.handler_class
        item = paths.setdefault(template, {})
        path_params = re.findall(r"\{(\w+)\}", template)
        for method in implemented_methods(handler_class):
            doc = _operation_doc(handler_class, method)
            operation_id = f"{method.lower()}_{handler_class.__name__}"
            if operation_id in operation_ids:  # one class serving several paths
                operation_id += "_" + (re.sub(r"[^A-Za-z0-9]+", "_", template).strip("_") or "root")
            operation_ids.add(operation_id)
            op: dict = {"summary": doc["summary"], "tags": doc.get("tags", []), "operationId": operation_id}
            params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                      for p in path_params]
            params += [_query_param(n, k) for n, k in doc.get("query", {}).items()]
            if params:
                op["parameters"] = params
            if doc.get("body") is not None:
                # An empty body reads as {}: required only when the model has a required field.
                required = any(f.is_required() for f in doc["body"].model_fields.values())
                op["requestBody"] = {"required": required, "content": {
                    "application/json": {"schema": _schema_ref(doc["body"], components, "validation")}}}
            if doc.get("upload"):
                op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": [doc["upload"]],
                    "properties": {doc["upload"]: {"type": "string", "format": "binary"}}}}}}
            ok = str(doc.get("status", 200))
            responses = {ok: {"description": _SUCCESS_TEXT.get(ok, "Success")}}
            if doc.get("content_types"):
                responses[ok]["content"] = {t: {"schema": {"type": "string", "format": "binary"}}
                                            for t in doc["content_types"]}
            elif doc.get("response") is not None:
                responses[ok]["content"] = {"application/json": {"schema": _schema_ref(doc["response"], components)}}
            elif doc.get("content_type") and method != "HEAD":
                responses[ok]["content"] = {doc["content_type"]: {"schema": {
                    "type": "object" if "json" in doc["content_type"] else "string"}}}
            if doc.get("status") == 201 and "body" in doc:
                # An idempotent retry (same client_msg_id) answers 200 with the first message.
                responses["200"] = dict(responses[ok], description="Already stored (idempotent retry)")
            if doc.get("content_types") or doc.get("content_type") and "json" not in doc["content_type"]:
                responses.setdefault("304", {"description": "Not modified (conditional request)"})
            errors = set(doc.get("errors", [])) | handler_class.implied_errors(method, doc) | {503}
            for status in sorted(errors):
                responses[str(status)] = {"description": _ERROR_TEXT.get(status, "Error")}
                if method != "HEAD":
                    responses[str(status)]["content"] = {"application/json": {"schema": error_ref}}
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


_SUCCESS_TEXT = {"101": "Switching to the WebSocket protocol", "201": "Created", "204": "No content"}

_ERROR_TEXT = {400: "Invalid input (body, query, or a token in the URL)", 401: "Missing, invalid or revoked token", 403: "Not allowed",
               404: "Not found in your tenant", 405: "Method not allowed (see Allow)", 409: "Conflicts with the current state",
               413: "Body too large", 415: "File type not accepted", 429: "Rate limited (see Retry-After)",
               503: "Database or Redis unreachable"}
