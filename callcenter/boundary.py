"""What both client-facing layers share (the HTTP handlers and the WebSocket connections): JSON as
it leaves the server, validation of what comes in, the origin check, and the list cursor's codec.
Neither layer imports the other; both import this."""
from __future__ import annotations

import base64
from typing import TypeVar

import pydantic
from tornado import httputil

from .errors import InvalidInput
from .models import json_dumps

__all__ = ["json_dumps", "origin_allowed", "validate", "describe_validation_error", "encode_cursor",
           "decode_cursor"]

M = TypeVar("M", bound=pydantic.BaseModel)


def origin_allowed(origin: str, tenant: dict, request: httputil.HTTPServerRequest) -> bool:
    """Same origin as the server, or listed in the tenant's allowed origins ('*' allows any)."""
    if origin == f"{request.protocol}://{request.host}":
        return True
    allowed = tenant.get("allowed_origins") or []
    return "*" in allowed or origin.rstrip("/") in allowed


def validate(model: type[M], raw: dict, *, code: str) -> M:
    """A parsed JSON object (REST body or WS frame data) as `model`, or InvalidInput(code) saying why not."""
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc), code=code) from None
    except RecursionError:
        raise InvalidInput("input is nested too deeply", code="invalid_json") from None


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        msg = err.get("msg", "is invalid")
        if err.get("type") == "extra_forbidden":
            msg = "is not a known field"
        elif err.get("type") == "missing":
            msg = "is required"
        parts.append(f"{where}: {msg.removeprefix('Value error, ')}")
    return "; ".join(parts)


def encode_cursor(updated_at_ms: int, session_id: str) -> str:
    return base64.urlsafe_b64encode(f"{updated_at_ms}:{session_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """(updated_at_ms, session_id) from a cursor; ValueError when it is not one of ours."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        ts, sid = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii").split(":", 1)
        ts_val = int(ts)
    except (ValueError, UnicodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if len(sid) > 32 or not sid.isalnum():
        raise ValueError("invalid cursor")
    return ts_val, sid
