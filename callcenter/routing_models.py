"""Request and response bodies of routing and availability (issue 26): the queue a visitor waits in,
the team's loads, and what the widget learns about opening hours."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .models import PublicSessionResponse, StartSessionResponse

RoutingMode = Literal["manual", "auto"]
MIN_QUEUE_ALERT_SECS = 30
MAX_QUEUE_ALERT_SECS = 86_400
MAX_CAPACITY = 50


class QueueOut(BaseModel):
    position: int = Field(description="1: the next to be assigned.")
    estimated_wait_secs: int | None = Field(description="From the tenant's recent time to a first answer; "
                                                        "null without history.")


class PublicSessionQueueResponse(PublicSessionResponse):
    queue: QueueOut | None = Field(None, description="While the conversation waits for an agent (auto routing).")


class StartSessionQueueResponse(StartSessionResponse):
    queue: QueueOut | None = Field(None, description="While the conversation waits for an agent (auto routing).")


class RoutingAgentOut(BaseModel):
    agent_id: int
    name: str
    status: Literal["online", "away", "offline"]
    open_conversations: int
    max_conversations: int


class RoutingResponse(BaseModel):
    mode: RoutingMode
    queue_length: int
    oldest_queued_at: str | None
    queue_alert_secs: int
    open: bool = Field(description="Within business hours now (always true when they are off).")
    agents: list[RoutingAgentOut]


__all__ = ["QueueOut", "PublicSessionQueueResponse", "StartSessionQueueResponse",
           "RoutingAgentOut", "RoutingResponse", "RoutingMode"]
