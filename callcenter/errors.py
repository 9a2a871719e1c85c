"""Errors that reach the caller as `{"error": {"code", "message"}}` with their status."""
from __future__ import annotations

from tornado.web import HTTPError


class ApiError(HTTPError):
    """Raised anywhere below a handler; the base handler renders it. Subclasses set status and code."""
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, headers: dict | None = None):
        super().__init__(self.status)
        self.message = message
        if code:
            self.code = code
        self.headers = headers or {}


class InvalidInput(ApiError):
    status, code = 400, "invalid_input"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after_secs: int):
        super().__init__(message, headers={"Retry-After": str(retry_after_secs)})
        self.retry_after_secs = retry_after_secs


class Unavailable(ApiError):
    status, code = 503, "unavailable"
