"""Request bodies (pydantic, validated in one place) and `*_model()` serializers of rows."""
from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from .attachments import ATTACHMENT_ID_PATTERN, CONTENT_TYPES, MAX_ATTACHMENTS_PER_MESSAGE, files_of
from .domain import agent_preferences, agent_profile, system_line


def json_dumps(obj) -> str:
    """JSON as every answer and frame is written: compact, UTF-8, and "</" escaped so a JSON string
    can never close a <script> it is embedded in."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


MAX_CLIENT_MSG_ID_CHARS = 64  # the messages.client_msg_id column
CLIENT_MSG_ID_PATTERN = rf"^[A-Za-z0-9._:\-]{{1,{MAX_CLIENT_MSG_ID_CHARS}}}$"
TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9\-]{0,62}[a-z0-9]$"
SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"
# A message's text: at most MAX_MESSAGE_CHARS once its surrounding whitespace is trimmed, and at most
# MAX_MESSAGE_INPUT_CHARS as sent (the limit every other body string has too: Body.str_max_length).
# Both are declared in the OpenAPI document (maxLength and the description). The whole JSON body is
# limited too (Config.max_body_bytes, 64 KB: 413 payload_too_large); text reaches that first only when
# most of it is characters beyond U+FFFF sent \u-escaped (12 bytes each, e.g. emoji).
MAX_MESSAGE_CHARS = 5000
MAX_BODY_STRING_CHARS = 10_000
MAX_MESSAGE_INPUT_CHARS = MAX_BODY_STRING_CHARS
# Ids and seqs are 32-bit INTEGER columns; a bigger number is bad input, not a driver overflow (500).
MAX_DB_INT = 2**31 - 1
# Control characters other than tab/newline have no place in chat text (NUL breaks some drivers).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds ("2026-11-26T04:05:06.789Z")."""
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    # (Every event formats a few of these; the second's part repeats from message to message.)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=1024)
def _iso_second(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class Body(BaseModel):
    """Base of every JSON request body: exact types, no unknown fields."""
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=MAX_BODY_STRING_CHARS)


def _clean_text(value: str, what: str, max_chars: int, *, allow_empty: bool = False) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError(f"{what} contains control characters")
    stripped = value.strip()
    if not stripped and not allow_empty:
        raise ValueError(f"{what} must not be empty")
    if len(stripped) > max_chars:
        raise ValueError(f"{what} is longer than {max_chars} characters")
    return stripped


MessageText = Annotated[str, StringConstraints(max_length=MAX_MESSAGE_INPUT_CHARS), Field(description=(
    f"Message text: at most {MAX_MESSAGE_CHARS:,} characters once leading and trailing whitespace is trimmed "
    f"(and at most {MAX_MESSAGE_INPUT_CHARS:,} as sent, whitespace included; the whole request body may "
    "take at most 64 KB, else 413). It may be empty only when the message has attachments."))]
AttachmentId = Annotated[str, StringConstraints(pattern=ATTACHMENT_ID_PATTERN)]
ClientMsgId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLIENT_MSG_ID_CHARS,
                                               pattern=CLIENT_MSG_ID_PATTERN),
                        Field(description=f"Sender-chosen id that makes retries idempotent (1 to "
                                          f"{MAX_CLIENT_MSG_ID_CHARS} letters, digits and . _ : -).")]
Email = Annotated[str, StringConstraints(max_length=254)]


class LoginRequest(Body):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    tenant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class StartSessionRequest(Body):
    tenant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    channel: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,31}$")] = "web"
    customer_name: Annotated[str, StringConstraints(max_length=200)] = ""
    customer_email: Email = ""
    page_url: Annotated[str, StringConstraints(max_length=1000)] = ""

    @field_validator("customer_name", "customer_email", "page_url")
    @classmethod
    def _no_control_chars(cls, value: str) -> str:
        if _CONTROL_CHARS.search(value):
            raise ValueError("contains control characters")
        return value.strip()

    @field_validator("customer_email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        if value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("is not an email address")
        return value.lower()


class _SendBody(Body):
    message: MessageText = ""
    client_msg_id: ClientMsgId | None = None
    attachment_ids: Annotated[list[AttachmentId], Field(
        max_length=MAX_ATTACHMENTS_PER_MESSAGE,
        description="Files uploaded to this session (…/attachments) to send with the message.")] = []

    @field_validator("message")
    @classmethod
    def _message_text(cls, value: str) -> str:
        # Empty is checked with the files (`_text_or_files`): a message may be files only.
        return _clean_text(value, "message", MAX_MESSAGE_CHARS, allow_empty=True)

    @model_validator(mode="after")
    def _text_or_files(self):
        if not self.message and not self.attachment_ids:
            raise ValueError("message must not be empty (unless files are attached)")
        if len(set(self.attachment_ids)) != len(self.attachment_ids):
            raise ValueError("attachment_ids lists a file twice")
        return self


class PublicMessageRequest(_SendBody):
    session_id: Annotated[str, StringConstraints(pattern=SESSION_ID_PATTERN)]


class AgentMessageRequest(_SendBody):
    session_id: Annotated[str, StringConstraints(pattern=SESSION_ID_PATTERN)]


class AssignRequest(Body):
    agent_id: Annotated[int, Field(ge=1, le=MAX_DB_INT,
                                   description="Agent to assign; omit to assign yourself.")] | None = None


class TransferRequest(Body):
    agent_id: Annotated[int, Field(ge=1, le=MAX_DB_INT)]
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class ReadRequest(Body):
    seq: Annotated[int, Field(ge=0, le=MAX_DB_INT)]


class EmptyBody(Body):
    pass


class PushKeys(Body):
    p256dh: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="The browser's P-256 public key, base64url.")
    auth: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        description="The browser's 16-byte auth secret, base64url.")


class PushSubscriptionRequest(Body):
    """A browser's `PushSubscription.toJSON()`, as is."""
    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="The push service URL for this browser (https, a known push service).")
    expirationTime: Annotated[int, Field(ge=0)] | None = None  # noqa: N815 - the browser's name
    keys: PushKeys


class PushEndpointRequest(Body):
    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


AI_MODES = ("off", "auto", "suggest")
MAX_AI_INSTRUCTIONS_CHARS = 4000
MAX_AI_KNOWLEDGE_CHARS = 30_000


class AISettingsRequest(Body):
    """A partial update: only the fields given change."""
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=MAX_AI_KNOWLEDGE_CHARS)
    ai_mode: Literal["off", "auto", "suggest"] | None = Field(
        None, description="off; auto: the AI answers while no agent is assigned; suggest: agent assist only.")
    ai_name: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = Field(
        None, description="The name the AI's messages carry.")
    ai_instructions: Annotated[str, StringConstraints(max_length=MAX_AI_INSTRUCTIONS_CHARS)] | None = Field(
        None, description="System instructions (tone, scope, policies).")
    ai_knowledge: Annotated[str, StringConstraints(max_length=MAX_AI_KNOWLEDGE_CHARS)] | None = Field(
        None, description="Reference text the AI answers from (opening hours, prices, policies…).")
    ai_daily_token_cap: Annotated[int, Field(ge=0, le=MAX_DB_INT)] | None = Field(
        None, description="Tokens per UTC day for the tenant; 0 means no cap. Over it the AI hands off.")

    @field_validator("ai_instructions", "ai_knowledge", "ai_name")
    @classmethod
    def _no_control_chars(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL_CHARS.search(value):
            raise ValueError("contains control characters")
        return value.strip() if value is not None else None


# ---- response models (for the OpenAPI document) -----------------------------

class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class AgentOut(BaseModel):
    id: int
    tenant_id: str
    email: str
    name: str
    role: Literal["admin", "agent"]
    active: bool
    open_sessions: int | None = None
    open_conversations: int | None = None
    status: Literal["active", "invited", "deactivated"] = "active"
    max_conversations: int = Field(5, description="Open conversations auto-assignment gives at most.")
    avatar_color: str = "#2563eb"
    preferences: dict[str, bool] | None = Field(None, description="Your own: sound, new_conversations, "
                                                "assigned_messages, mentions (each true unless turned off).")


class AgentPublicOut(BaseModel):
    id: int
    name: str


class AttachmentOut(BaseModel):
    id: str
    name: str
    size: int = Field(description="Bytes.")
    content_type: Literal[CONTENT_TYPES]  # type: ignore[valid-type]
    kind: Literal["image", "file"] = Field(description="image: shown inline; file: downloaded.")


class AttachmentResponse(BaseModel):
    attachment: AttachmentOut


class MessageOut(BaseModel):
    id: int
    session_id: str
    seq: int
    sender_type: Literal["visitor", "agent", "ai", "system", "note"]
    sender_id: int
    sender_name: str
    body: str
    client_msg_id: str | None
    created_at: str
    attachments: list[AttachmentOut] = Field(description="Files sent with the message (fetch each from the "
                                                         "session's …/attachments/{attachment_id}).")
    mentions: list[int] = Field(default_factory=list, description="A note's mentioned agents (ids).")
    system: dict[str, str] | None = Field(None, description="A system line's parts: {kind, name, by?}.")


class RatingOut(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str
    rated_at: str


class SessionOut(BaseModel):
    id: str
    tenant_id: str
    channel: str
    status: Literal["open", "assigned", "resolved"]
    assigned_agent_id: int | None
    customer_name: str
    customer_email: str
    created_at: str
    updated_at: str
    resolved_at: str | None
    last_seq: int
    last_message_preview: str
    last_message_sender: str
    waiting_since: str | None
    after_hours: bool = Field(False, description="Started outside business hours.")
    unread: int
    agent_read_seq: int
    visitor_read_seq: int
    handoff: bool = Field(False, description="The AI handed the conversation to humans (it stays quiet).")
    handoff_reason: Literal["visitor_asked", "ai_cannot_help", "ai_error", "token_cap"] | None = None
    rating: RatingOut | None = Field(None, description="The visitor's rating of the current resolution.")
    labels: list[str] | None = Field(None, description="The conversation's labels: in what only agents get "
                                                        "(absent where the visitor gets the session too).")


class ReadMarkOut(BaseModel):
    reader_type: Literal["agent", "visitor"]
    reader_id: int
    seq: int
    updated_at: str


class SessionDetailOut(SessionOut):
    page_url: str
    user_agent: str
    visitor_id: int
    read_marks: list[ReadMarkOut] = []


class LoginResponse(BaseModel):
    token: str
    agent: AgentOut
    expires_in: int


class LimitsOut(BaseModel):
    max_upload_bytes: int = Field(description="The largest file an upload may be.")


class MeResponse(BaseModel):
    agent: AgentOut
    tenant: "TenantOut"
    limits: LimitsOut


class TenantOut(BaseModel):
    id: str
    name: str


class StartSessionResponse(BaseModel):
    session_id: str
    token: str
    tenant: TenantOut
    session: SessionOut
    messages: list[MessageOut]


class PublicSessionResponse(BaseModel):
    session: SessionOut
    messages: list[MessageOut]
    agent: AgentPublicOut | None


class MessageResponse(BaseModel):
    message: MessageOut
    created: bool


class SessionListResponse(BaseModel):
    sessions: list[SessionOut]
    next_cursor: str | None
    searched_until: str | None = Field(
        description="With q: the search read a bounded number of conversations and stopped at this activity "
                    "time before reaching the page's size; next_cursor searches on from there (older ones).")


class SessionResponse(BaseModel):
    session: SessionOut


class TenantSettingsOut(BaseModel):
    require_name: bool
    require_email: bool
    greeting: str
    max_upload_bytes: int = Field(description="The largest file a visitor may upload.")
    csat_enabled: bool = Field(True, description="The widget asks for a rating once a conversation is resolved.")


class TenantPublicResponse(BaseModel):
    tenant: "TenantOut"
    settings: TenantSettingsOut


class DurationStats(BaseModel):
    count: int
    p50: float | None = Field(description="Seconds; null when count is 0.")
    p90: float | None
    mean: float | None


class AnalyticsRange(BaseModel):
    from_: str = Field(alias="from")
    to: str
    days: int
    utc_offset_minutes: int
    tz: str | None = Field(description="The IANA time zone the days are in, when one was asked for "
                                       "(utc_offset_minutes is then not used).")


class AnalyticsTotals(BaseModel):
    conversations: int = Field(description="Started in the range.")
    resolved: int = Field(description="Of those, resolved now.")
    unanswered: int = Field(description="Of those, with no answer from an agent or the AI yet.")
    answered_by_ai_first: int
    handed_off: int = Field(description="Of those, handed from the AI to people.")
    resolved_in_range: int = Field(description="Conversations (started any time) resolved in the range.")


class RatingStats(BaseModel):
    count: int
    average: float | None = Field(description="The mean score (1-5), None without ratings.")


class RatingDistribution(RatingStats):
    distribution: dict[str, int] = Field(description="How many of each score, \"1\" to \"5\".")


class AnalyticsLabel(BaseModel):
    name: str
    conversations: int = Field(description="Conversations started in the range that carry the label.")


class AnalyticsDay(BaseModel):
    date: str
    started: int
    resolved: int
    ratings: RatingStats = Field(description="Ratings given that day.")


class AnalyticsAgent(BaseModel):
    agent_id: int
    name: str
    conversations: int = Field(description="Started in the range and assigned to this agent now.")
    resolved: int = Field(description="Of this agent's conversations, resolved in the range.")
    first_response_secs: DurationStats
    ratings: RatingStats = Field(description="Ratings given in the range to this agent's conversations.")


class AnalyticsResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    range: AnalyticsRange
    totals: AnalyticsTotals
    first_response_secs: DurationStats = Field(description="Start → first answer (agent or AI).")
    first_agent_response_secs: DurationStats = Field(description="Start → first answer from a person.")
    resolution_secs: DurationStats = Field(description="Start → resolved, of those resolved.")
    by_day: list[AnalyticsDay]
    by_hour: list[int] = Field(description="Conversations started per hour of the day (0-23, at the offset).")
    agents: list[AnalyticsAgent]
    ratings: RatingDistribution = Field(description="The visitors' ratings given in the range (CSAT).")
    labels: list[AnalyticsLabel] = Field(description="Per label, the conversations started in the range.")


class SessionDetailResponse(BaseModel):
    session: SessionDetailOut
    agent: AgentPublicOut | None
    previous_sessions: list[SessionOut]
    visitor_online: bool = Field(False, description="The visitor has a socket open now (customer context).")


class MessagesResponse(BaseModel):
    session_id: str
    messages: list[MessageOut]
    last_seq: int


class AgentResponse(BaseModel):
    agent: AgentOut


class AgentsResponse(BaseModel):
    agents: list[AgentOut]


class AISettingsOut(BaseModel):
    ai_mode: Literal["off", "auto", "suggest"]
    ai_name: str
    ai_instructions: str
    ai_knowledge: str
    ai_daily_token_cap: int


class AISettingsResponse(BaseModel):
    settings: AISettingsOut
    available: bool = Field(description="GEMINI_API_KEY is configured: without it the AI is off everywhere.")
    model: str
    tokens_today: int = Field(description="Tokens the tenant used today (UTC).")


class SuggestionResponse(BaseModel):
    session_id: str
    suggestion: str


class PushConfigResponse(BaseModel):
    enabled: bool
    vapid_public_key: str = Field(description="The applicationServerKey for pushManager.subscribe (base64url).")


class PushSubscriptionOut(BaseModel):
    id: int
    endpoint_host: str
    user_agent: str
    created_at: str
    last_success_at: str | None


class PushSubscriptionResponse(BaseModel):
    subscription: PushSubscriptionOut


class PushSubscriptionsResponse(BaseModel):
    subscriptions: list[PushSubscriptionOut]


class PushTestResponse(BaseModel):
    sent: int = Field(description="Devices whose push service took the notification.")
    failed: int = Field(description="Devices whose push service refused it or could not be reached.")
    removed: int = Field(description="Devices found unsubscribed (deleted).")


class HealthResponse(BaseModel):
    status: str
    checks: dict[str, str]


MeResponse.model_rebuild()
TenantPublicResponse.model_rebuild()


# ---- serializers ------------------------------------------------------------

def agent_model(row: dict, *, own: bool = False) -> dict:
    """An agent as colleagues see them; `own`: with their preferences (the agent themself)."""
    out = {"id": row["id"], "tenant_id": row["tenant_id"], "email": row["email"], "name": row["name"],
           "role": row["role"], "active": bool(row["active"]), "max_conversations": row.get("max_conversations", 5),
           **agent_profile(row)}
    if "open_sessions" in row:
        out["open_sessions"] = out["open_conversations"] = row["open_sessions"]
    if own:
        out["preferences"] = agent_preferences(row.get("preferences"))
    return out


def agent_public_model(row: dict) -> dict:
    """What a visitor may know of an agent: no email, no role."""
    return {"id": row["id"], "name": row["name"]}


def message_model(row: dict) -> dict:
    return {
        "id": row["id"], "session_id": row["session_id"], "seq": row["seq"], "sender_type": row["sender_type"],
        "sender_id": row["sender_id"], "sender_name": row["sender_name"], "body": row["body"],
        "client_msg_id": row["client_msg_id"], "created_at": iso(row["created_at_ms"]),
        "attachments": files_of(row), "mentions": json.loads(row.get("mentions") or "[]"),
        **({"system": line} if (line := system_line(row["sender_type"], row["body"])) else {})}


def session_model(row: dict) -> dict:
    return {
        "id": row["id"], "tenant_id": row["tenant_id"], "channel": row["channel"], "status": row["status"],
        "assigned_agent_id": row["assigned_agent_id"], "customer_name": row["customer_name"],
        "customer_email": row["customer_email"], "created_at": iso(row["created_at_ms"]),
        "updated_at": iso(row["updated_at_ms"]), "resolved_at": iso(row["resolved_at_ms"]),
        "last_seq": row["last_seq"], "last_message_preview": row["last_message_preview"],
        "last_message_sender": row["last_message_sender"], "waiting_since": iso(row["waiting_since_ms"]),
        "unread": row["agent_unread"], "agent_read_seq": row["agent_read_seq"],
        "visitor_read_seq": row["visitor_read_seq"],
        "handoff": row.get("handoff_at_ms") is not None, "handoff_reason": row.get("handoff_reason"),
        "rating": rating_model(row), "after_hours": bool(row.get("after_hours")),
    }


def rating_model(row: dict) -> dict | None:
    """The visitor's rating of the current resolution (an earlier resolution's is not this one's)."""
    if row.get("rating_score") is None:
        return None
    if row.get("status") == "resolved" and (row.get("rated_at_ms") or 0) < (row.get("resolved_at_ms") or 0):
        return None
    return {"score": row["rating_score"], "comment": row.get("rating_comment") or "",
            "rated_at": iso(row["rated_at_ms"])}


def agent_session_model(row: dict) -> dict:
    """A session as agents get it: with its labels (internal: never in what the visitor gets)."""
    return {**session_model(row), "labels": session_labels(row)}


def session_labels(row: dict) -> list[str]:
    raw = row.get("labels")
    return json.loads(raw) if isinstance(raw, str) else list(raw or [])


def session_detail_model(row: dict) -> dict:
    return {**agent_session_model(row), "page_url": row["page_url"], "user_agent": row["user_agent"],
            "visitor_id": row["visitor_id"],
            "read_marks": [{"reader_type": m["reader_type"], "reader_id": m["reader_id"], "seq": m["seq"],
                            "updated_at": iso(m["updated_at_ms"])} for m in row.get("read_marks", [])]}


def tenant_public_model(row: dict) -> dict:
    return {"id": row["id"], "name": row["name"]}


def push_subscription_model(row: dict) -> dict:
    """An agent's device, without its endpoint and keys (they are the device's secret)."""
    return {"id": row["id"], "endpoint_host": urlsplit(row["endpoint"]).hostname or "",
            "user_agent": row["user_agent"], "created_at": iso(row["created_at_ms"]),
            "last_success_at": iso(row["last_success_at_ms"])}
