"""Request and response bodies of the e-mail routes (callcenter/handlers/mail.py)."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, StringConstraints, field_validator

from .models import Body, Email, TenantOut

# Tokens are JWTs (base64url parts and dots); anything longer than this is not one of ours.
MAX_LINK_TOKEN_CHARS = 2000
LinkToken = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LINK_TOKEN_CHARS)]


class TranscriptRequest(Body):
    """Where to send the transcript: `email`, or (when left out) the address the visitor gave."""
    email: Email | None = None

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.fullmatch(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+", value):
            raise ValueError("is not an email address")
        return value.lower()


class ResumeRequest(Body):
    token: LinkToken


class UnsubscribeRequest(Body):
    token: LinkToken


class QueuedResponse(BaseModel):
    queued: bool


class ResumeResponse(BaseModel):
    session_id: str
    token: str
    tenant: TenantOut


class UnsubscribeResponse(BaseModel):
    unsubscribed: bool
