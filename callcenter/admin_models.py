"""The admin console's request bodies, answers (for the OpenAPI document) and `*_model()` serializers:
invitations and reset links, agents' changes, the tenant's and widget's settings, the audit log, AI usage."""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from .business_hours import AvailabilityOut, BusinessHoursOut, BusinessHoursPatch
from .models import AgentOut, Body, Email, TenantSettingsOut, _clean_text, iso
from .security import MAX_PASSWORD_BYTES

_LINE_BREAKS = re.compile(r"[\r\n\t]")
Role = Literal["agent", "admin"]


def _name(value: str | None, what: str = "name", max_chars: int = 200) -> str | None:
    if value is None:
        return None
    if _LINE_BREAKS.search(value):
        raise ValueError(f"{what} must be one line")
    return _clean_text(value, what, max_chars)


# ---- invitations and reset links -------------------------------------------------------------------

class InviteRequest(Body):
    email: Email
    name: Annotated[str, Field(description="1-200 characters, one line.")]
    role: Role = "agent"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("is not an email address")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _name(value)


class LinkOut(BaseModel):
    url: str = Field(description="/?invite=<token>: open it to set a password (single use).")
    expires_at: str


class RenewOut(LinkOut):
    invitation: LinkOut = Field(description="The same link (the shape POST /api/v1/agents answers with).")


class InviteResponse(BaseModel):
    agent: AgentOut
    invitation: LinkOut


class LinkTenantOut(BaseModel):
    id: str
    name: str


class InvitationInfoResponse(BaseModel):
    purpose: Literal["invite", "reset"]
    email: str
    name: str
    tenant: LinkTenantOut
    expires_at: str


class AcceptRequest(Body):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    password: Annotated[str, StringConstraints(min_length=8, max_length=MAX_PASSWORD_BYTES)]

    @field_validator("password")
    @classmethod
    def _bytes(cls, value: str) -> str:
        if len(value.encode("utf-8")) > MAX_PASSWORD_BYTES:
            raise ValueError(f"password is longer than {MAX_PASSWORD_BYTES} bytes")
        return value


def link_model(link: dict) -> dict:
    return {"url": link["url"], "expires_at": iso(link["expires_at_ms"])}


def invitation_info_model(link: dict) -> dict:
    return {"purpose": link["purpose"], "email": link["agent"]["email"], "name": link["agent"]["name"],
            "tenant": {"id": link["tenant"]["id"], "name": link["tenant"]["name"]},
            "expires_at": iso(link["expires_at_ms"])}


# ---- agents -----------------------------------------------------------------------------------------

class PreferencesPatch(Body):
    sound: bool | None = None
    new_conversations: bool | None = None
    assigned_messages: bool | None = None
    mentions: bool | None = None


class AgentPatch(Body):
    """Only the fields given change. Admins: anyone's role and name; agents: their own name, colour, preferences."""
    role: Role | None = None
    name: Annotated[str, Field(description="1-200 characters, one line.")] | None = None
    avatar_color: Annotated[str, Field(description="#rrggbb", max_length=20)] | None = None
    preferences: PreferencesPatch | None = None
    max_conversations: Annotated[int, Field(ge=1, le=50, description=(
        "Open conversations auto-assignment gives this agent at most (1-50; an admin for anyone, an agent "
        "for themself)."))] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _name(value)

    def changes(self) -> dict:
        out = self.model_dump(exclude_none=True)
        if self.preferences is not None:
            out["preferences"] = self.preferences.model_dump(exclude_none=True)
        return out


# ---- the tenant and its widget -----------------------------------------------------------------------

Prechat = Literal["required", "optional", "hidden"]


class GreetingsPatch(Body):
    en: Annotated[str, Field(max_length=2000)] | None = None
    es: Annotated[str, Field(max_length=2000)] | None = None
    fr: Annotated[str, Field(max_length=2000)] | None = None
    de: Annotated[str, Field(max_length=2000)] | None = None


class PrechatPatch(Body):
    name: Prechat | None = None
    email: Prechat | None = None


class WidgetPatch(Body):
    title: Annotated[str, Field(max_length=1000, description="At most 60 characters.")] | None = None
    subtitle: Annotated[str, Field(max_length=1000, description="At most 120 characters.")] | None = None
    primary_color: Annotated[str, Field(max_length=20, description="#rrggbb")] | None = None
    position: Literal["bottom-right", "bottom-left"] | None = None
    greetings: GreetingsPatch | None = Field(None, description="Per language, at most 500 characters; "
                                                               "empty: the widget's default.")
    prechat: PrechatPatch | None = None

    @field_validator("title", "subtitle")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and _LINE_BREAKS.search(value):
            raise ValueError("must be one line")
        return value


class TenantPatch(Body):
    name: Annotated[str, Field(description="1-200 characters, one line.")] | None = None
    allowed_origins: Annotated[list[Annotated[str, Field(max_length=300)]], Field(
        max_length=500, description="Origins allowed to embed the widget: http(s)://host[:port], at most 50.")] | None = None
    csat_enabled: bool | None = Field(None, description="Ask visitors to rate resolved conversations.")
    widget: WidgetPatch | None = None
    routing: Literal["manual", "auto"] | None = Field(None, description=(
        "auto: new conversations go to the online agent with the fewest open ones below capacity, or wait "
        "in line."))
    queue_alert_secs: Annotated[int, Field(ge=30, le=86_400)] | None = Field(None, description=(
        "The dashboard alerts when the queue's oldest has waited longer (seconds)."))
    business_hours: BusinessHoursPatch | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _name(value)

    def changes(self) -> dict:
        out = self.model_dump(exclude_none=True)
        if self.widget is not None:
            out["widget"] = self.widget.model_dump(exclude_none=True)
        if self.business_hours is not None:
            out["business_hours"] = self.business_hours.model_dump(exclude_none=True)
        return out


class GreetingsOut(BaseModel):
    en: str
    es: str
    fr: str
    de: str


class PrechatOut(BaseModel):
    name: Prechat
    email: Prechat


class WidgetOut(BaseModel):
    title: str
    subtitle: str
    primary_color: str
    position: Literal["bottom-right", "bottom-left"]
    greetings: GreetingsOut
    prechat: PrechatOut


class AdminTenantOut(BaseModel):
    id: str
    name: str
    allowed_origins: list[str]


class AdminSettingsOut(BaseModel):
    csat_enabled: bool
    routing: Literal["manual", "auto"]
    queue_alert_secs: int
    widget: WidgetOut
    business_hours: BusinessHoursOut


class TenantResponse(BaseModel):
    tenant: AdminTenantOut
    settings: AdminSettingsOut


class PublicTenantOut(BaseModel):
    id: str
    name: str


class TeamAvatarOut(BaseModel):
    initials: str
    color: str


class PublicTeamOut(BaseModel):
    agents_online: int
    avatars: list[TeamAvatarOut] = Field(description="Up to 3 online agents: initials and colour only.")
    typical_first_response_secs: int | None = Field(description="Median seconds to a person's first answer "
                                                                "lately; null without history.")


class PublicSettingsOut(TenantSettingsOut):
    widget: WidgetOut
    availability: AvailabilityOut
    team: PublicTeamOut


class PublicTenantResponse(BaseModel):
    tenant: PublicTenantOut
    settings: PublicSettingsOut


def admin_tenant_model(tenant: dict) -> dict:
    return {"id": tenant["id"], "name": tenant["name"], "allowed_origins": list(tenant["allowed_origins"])}


# ---- the audit log and AI usage -------------------------------------------------------------------------

class AuditActorOut(BaseModel):
    id: int | None
    name: str


class AuditEventOut(BaseModel):
    id: int
    actor: AuditActorOut
    action: str
    target_type: str
    target_id: str | None
    details: dict
    created_at: str


class AuditResponse(BaseModel):
    events: list[AuditEventOut]
    next_cursor: str | None = Field(description="Pass as `before` for the next (older) page.")


def audit_event_model(row: dict) -> dict:
    return {"id": row["id"], "actor": {"id": row["actor_id"], "name": row["actor_name"]}, "action": row["action"],
            "target_type": row["target_type"], "target_id": row["target_id"], "details": row["details"],
            "created_at": iso(row["created_at_ms"])}


class UsageDayOut(BaseModel):
    date: str
    tokens: int


class AIUsageResponse(BaseModel):
    days: list[UsageDayOut]
    cap: int | None = Field(description="The tenant's daily token cap; null: none.")
