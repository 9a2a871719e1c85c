"""The chat domain's rules, pure (no I/O): who a message is from and who may read it, what one more
message does to a conversation's row, when the AI may speak, how messages per window are counted.

The store applies these under its locks (it only stores); the services and the AI decide with them.
Every message has its place in the conversation's sequence (seq). A private note (a transfer's note
for the next agent, the AI's summary for the team) is for the tenant's agents only: never in the
visitor's history, socket, resume or widget, never in what is sent to the visitor later, and never
in the AI's prompt (which reads visitor, agent and AI turns only).
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

from .errors import Forbidden, RateLimited

VISITOR = "visitor"
AGENT = "agent"
AI = "ai"
SYSTEM = "system"  # "Ann joined the conversation": both sides see these
NOTE = "note"  # agents only

SENDER_TYPES = (VISITOR, AGENT, AI, SYSTEM, NOTE)
# Senders whose messages the visitor never gets, in any form.
PRIVATE_SENDER_TYPES = (NOTE,)
# The turns of the conversation proper (what the AI reads and summarizes).
CONVERSATION_SENDER_TYPES = (VISITOR, AGENT, AI)
# Whose window of messages per session a sender's message counts in (`spend_budget`): the agents'
# notes count with their replies.
BUDGET_SIDES = {VISITOR: VISITOR, AGENT: AGENT, NOTE: AGENT}


def visible_to_visitor(sender_type: str) -> bool:
    return sender_type not in PRIVATE_SENDER_TYPES


SESSION_STATUSES = ("open", "assigned", "resolved")
AGENT_ROLES = ("admin", "agent")
# A conversation's last message as the list shows it (and the column that keeps it: twice this).
PREVIEW_CHARS = 160
# Above every seq: `before_seq=MAX_SEQ` asks for a session's last messages.
MAX_SEQ = 2**31 - 1


def preview_of(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def ai_may_speak(session: dict) -> bool:
    """Whether the AI may still answer in this session: no agent holds it, it was not handed to
    humans, it is not resolved."""
    return (session.get("assigned_agent_id") is None and session.get("handoff_at_ms") is None
            and session.get("status") != "resolved")


def spend_budget(state: dict, sender_type: str, limit: int, window_secs: int, at_ms: int) -> RateLimited | None:
    """Count one message of `sender_type` in the session row's window (in memory, under the lock);
    the error when the window is full (then the row is left as it was)."""
    start_key, count_key = f"{sender_type}_window_start_ms", f"{sender_type}_window_count"
    window_ms = window_secs * 1000
    if at_ms - state[start_key] >= window_ms:
        state[start_key], state[count_key] = at_ms, 0
    if state[count_key] >= limit:
        retry_after = max(1, -(-(state[start_key] + window_ms - at_ms) // 1000))
        return RateLimited("too many messages in this conversation; slow down", retry_after)
    state[count_key] += 1
    return None


def apply_message(state: dict, sender_type: str, body: str, at_ms: int) -> bool:
    """Update a session row (in memory) for one more message; True when it reopens the session."""
    state["last_seq"] += 1
    state["updated_at_ms"] = at_ms
    if not visible_to_visitor(sender_type):
        return False  # the visitor reads the session row: a private note leaves no trace in it
    state["last_message_preview"] = preview_of(body)
    state["last_message_sender"] = sender_type
    if sender_type == "visitor":
        state["agent_unread"] += 1
        if state["waiting_since_ms"] is None:
            state["waiting_since_ms"] = at_ms
        if state["status"] == "resolved":
            state["status"] = "open" if state["assigned_agent_id"] is None else "assigned"
            state["resolved_at_ms"] = None
            return True
    elif sender_type in ("agent", "ai"):
        state["waiting_since_ms"] = None
        if state["first_response_at_ms"] is None:
            state["first_response_at_ms"] = at_ms
        if sender_type == "agent" and state["first_agent_response_at_ms"] is None:
            state["first_agent_response_at_ms"] = at_ms
    return False


# The session columns a message changes (written back by `_write_back_sessions_sql`).
MESSAGE_SESSION_COLUMNS = ("last_seq", "updated_at_ms", "last_message_preview", "last_message_sender",
                            "waiting_since_ms", "agent_unread", "status", "resolved_at_ms", "handoff_at_ms",
                            "handoff_reason", "visitor_window_start_ms", "visitor_window_count",
                            "agent_window_start_ms", "agent_window_count", "first_response_at_ms",
                            "first_agent_response_at_ms")


# What a visitor's socket keeps of its session row (read marks compare against it; an idle socket
# holds one for hours, so only these fields: `Actor.trimmed`).
VISITOR_SESSION_FIELDS = ("id", "tenant_id", "visitor_id", "customer_name", "assigned_agent_id", "last_seq",
                          "visitor_read_seq")


@dataclass(frozen=True, slots=True)  # (slots: one per idle socket)
class Actor:
    """Who acts in a conversation: an agent of a tenant (any of its conversations), or a visitor,
    bound to the one conversation its token opens. The chat's methods take one instead of having a
    visitor_ and an agent_ variant each."""
    kind: str  # AGENT or VISITOR: also the sender type of what they write
    tenant_id: str
    id: int  # the agent's id, or the visitor's
    name: str
    session: dict | None = None  # a visitor's conversation (its row as the token was checked)
    role: str = ""  # an agent's role

    @classmethod
    def of_agent(cls, agent: dict) -> "Actor":
        return cls(AGENT, agent["tenant_id"], agent["id"], agent["name"], role=agent["role"])

    @classmethod
    def of_visitor(cls, session: dict) -> "Actor":
        return cls(VISITOR, session["tenant_id"], session["visitor_id"], session["customer_name"], session=session)

    def trimmed(self) -> "Actor":
        """The same actor keeping only what a long-lived socket needs of its session row."""
        if self.session is None:
            return self
        return dataclasses.replace(self, session={field: self.session[field] for field in VISITOR_SESSION_FIELDS})

    @property
    def session_id(self) -> str | None:
        return self.session["id"] if self.session is not None else None


def mentioned_agents(body: str, agents: list[dict]) -> list[int]:
    """The agents a note names with `@Name` (case-insensitive; the longest name that follows an @ and
    ends at a word boundary: "@Sam Rivera, please" names Sam Rivera), in order, each once."""
    names = sorted(((a["name"].casefold(), a["id"]) for a in agents if a["name"].strip()),
                   key=lambda item: -len(item[0]))
    folded = body.casefold()
    found: list[int] = []
    start = folded.find("@")
    while start != -1:
        rest = folded[start + 1:]
        for name, agent_id in names:
            if rest.startswith(name) and (len(rest) == len(name) or not rest[len(name)].isalnum()):
                if agent_id not in found:
                    found.append(agent_id)
                break
        start = folded.find("@", start + 1)
    return found


# The tenant settings of the agent workspace, with their defaults (kept in tenants.settings).
def require_admin(agent: dict, what: str) -> None:
    """Forbidden (403 `admin_only`) unless `agent` is an admin: "only admins can <what>"."""
    if agent["role"] != "admin":
        raise Forbidden(f"only admins can {what}", code="admin_only")


# routing: manual | auto (issue 26); queue_alert_secs: the dashboard alerts when the queue's oldest waits longer.
WORKSPACE_SETTINGS = {"csat_enabled": True, "routing": "manual", "queue_alert_secs": 300}


def workspace_settings(tenant: dict) -> dict:
    """The tenant's workspace settings, defaults filled in."""
    stored = tenant.get("settings") or {}
    return {key: stored.get(key, default) for key, default in WORKSPACE_SETTINGS.items()}


# ---- an agent's notification preferences (admin console) -----------------------------------------
# Each true unless turned off: the dashboard's sound, and which pushes reach the agent's devices.
AGENT_PREFERENCES = ("sound", "new_conversations", "assigned_messages", "mentions")
# Push kind -> the preference that turns it off (other kinds always go).
PUSH_PREFERENCE = {"new_conversation": "new_conversations", "message": "assigned_messages", "mention": "mentions"}


def agent_preferences(raw: str | None) -> dict:
    """An agent's preferences (the stored JSON, NULL or unreadable: the defaults)."""
    try:
        stored = json.loads(raw or "{}")
    except ValueError:
        stored = {}
    if not isinstance(stored, dict):
        stored = {}
    return {key: bool(stored.get(key, True)) for key in AGENT_PREFERENCES}


def agent_preferences_json(prefs: dict) -> str:
    return json.dumps({key: bool(prefs.get(key, True)) for key in AGENT_PREFERENCES}, sort_keys=True)


AVATAR_COLORS = ("#2563eb", "#7c3aed", "#db2777", "#dc2626", "#ea580c", "#16a34a", "#0d9488", "#0891b2")


def agent_profile(row: dict) -> dict:
    """An agent's status ("active" | "invited" | "deactivated") and avatar colour (chosen, else by id)."""
    status = "invited" if row.get("invited") else ("active" if row["active"] else "deactivated")
    return {"status": status, "avatar_color": row.get("avatar_color") or AVATAR_COLORS[row["id"] % len(AVATAR_COLORS)]}


def initials(name: str) -> str:
    """Up to two letters for an avatar: of the first and last word ("Ann Lee" -> "AL")."""
    words = [w for w in name.split() if w[:1].isalnum()]
    if not words:
        return "?"
    return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()


# ---- system lines, for clients that show them in another language ------------------------------------
# The server writes them in English ("Ann joined the conversation"); a dashboard or widget in German
# renders them from these parts instead (kind, who it is about, who did it). Names are plain text.
_SYSTEM_LINES = (
    re.compile(r"(?P<by>.+) (?P<kind>assigned|transferred) the conversation to (?P<name>.+)", re.S),
    re.compile(r"(?P<name>.+) (?P<kind>joined|resolved|reopened) the conversation", re.S),
)


def system_line(sender_type: str, body: str) -> dict | None:
    """{kind: joined|assigned|transferred|resolved|reopened, name, by?} for a system line the server wrote."""
    if sender_type != SYSTEM:
        return None
    for pattern in _SYSTEM_LINES:
        found = pattern.fullmatch(body)
        if found:
            return found.groupdict()
    return None
