"""The tables (SQLAlchemy Core), as the migrations under schema/ make them.

Times are integer milliseconds since the epoch (`*_at_ms`): portable across both databases,
sortable, and exact for cursors.
"""
from __future__ import annotations

import base64
import time

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from ..domain import PREVIEW_CHARS

metadata = sa.MetaData()

# Ids compared byte for byte on MySQL (its default collation folds case).
def BinaryString(length: int) -> sa.types.TypeEngine:  # noqa: N802 - reads like a type
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", BinaryString(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("allowed_origins", sa.Text, nullable=False, default="[]"),
    sa.Column("settings", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    **MYSQL_TABLE_ARGS,
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("password_hash", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False, default="agent"),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("token_version", sa.Integer, nullable=False, default=1),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("tenant_id", "email", name="uq_agents_tenant_email"),
    **MYSQL_TABLE_ARGS,
)

visitors = sa.Table(
    "visitors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("email", sa.String(254), nullable=False, default=""),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_visitors_tenant_email", "tenant_id", "email"),
    **MYSQL_TABLE_ARGS,
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", BinaryString(32), primary_key=True),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("visitor_id", sa.Integer, sa.ForeignKey("visitors.id"), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("assigned_agent_id", sa.Integer, nullable=True),
    sa.Column("customer_name", sa.String(200), nullable=False, default=""),
    sa.Column("customer_email", sa.String(254), nullable=False, default=""),
    sa.Column("page_url", sa.String(1000), nullable=False, default=""),
    sa.Column("user_agent", sa.String(400), nullable=False, default=""),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    # Last activity: the list is ordered by it, newest first.
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    sa.Column("resolved_at_ms", sa.BigInteger, nullable=True),
    sa.Column("last_seq", sa.Integer, nullable=False, default=0),
    sa.Column("last_message_preview", sa.String(PREVIEW_CHARS * 2), nullable=False, default=""),
    sa.Column("last_message_sender", sa.String(16), nullable=False, default=""),
    # When the oldest visitor message still unanswered by an agent/AI arrived.
    sa.Column("waiting_since_ms", sa.BigInteger, nullable=True),
    # Visitor messages after agent_read_seq (kept in step with it, so the list needs no count).
    sa.Column("agent_unread", sa.Integer, nullable=False, default=0),
    sa.Column("agent_read_seq", sa.Integer, nullable=False, default=0),
    sa.Column("visitor_read_seq", sa.Integer, nullable=False, default=0),
    # Set when the AI handed the conversation to humans (migration 0004): it stays quiet from then on.
    sa.Column("handoff_at_ms", sa.BigInteger, nullable=True),
    sa.Column("handoff_reason", sa.String(32), nullable=True),
    # Messages per session and sender (migration 0005): a fixed window per sender type, counted
    # under the row lock every send takes anyway (exact across workers, no extra round trip).
    sa.Column("visitor_window_start_ms", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("visitor_window_count", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("agent_window_start_ms", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("agent_window_count", sa.Integer, nullable=False, default=0, server_default="0"),
    # The first answer to the visitor (agent or AI), and the first from a person (migration 0007):
    # set by the send that writes it, for the analytics' response times.
    sa.Column("first_response_at_ms", sa.BigInteger, nullable=True),
    sa.Column("first_agent_response_at_ms", sa.BigInteger, nullable=True),
    # The labels, denormalized for display (migration 0009: a JSON array of names; session_labels is
    # what filters and counts), and the visitor's rating of its current resolution.
    sa.Column("labels", sa.String(1000), nullable=False, default="[]", server_default="[]"),
    sa.Column("rating_score", sa.SmallInteger, nullable=True),
    sa.Column("rating_comment", sa.String(1000), nullable=True),
    sa.Column("rated_at_ms", sa.BigInteger, nullable=True),
    sa.Index("ix_sessions_tenant_updated", "tenant_id", "updated_at_ms", "id"),
    # Analytics: the conversations started in a date range.
    sa.Index("ix_sessions_tenant_created", "tenant_id", "created_at_ms"),
    sa.Index("ix_sessions_tenant_status_updated", "tenant_id", "status", "updated_at_ms", "id"),
    sa.Index("ix_sessions_tenant_agent_updated", "tenant_id", "assigned_agent_id", "updated_at_ms", "id"),
    sa.Index("ix_sessions_visitor", "visitor_id"),
    # visitor_history's "same email" half (migration 0002).
    sa.Index("ix_sessions_tenant_email", "tenant_id", "customer_email"),
    # Analytics: the ratings given in a date range (migration 0009).
    sa.Index("ix_sessions_tenant_rated", "tenant_id", "rated_at_ms"),
    **MYSQL_TABLE_ARGS,
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), nullable=False),
    sa.Column("session_id", BinaryString(32), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("sender_type", sa.String(16), nullable=False),
    # agent id, visitor id, or 0 for ai/system.
    sa.Column("sender_id", sa.Integer, nullable=False, default=0),
    sa.Column("sender_name", sa.String(200), nullable=False, default=""),
    sa.Column("body", LongText, nullable=False),
    sa.Column("client_msg_id", BinaryString(64), nullable=True),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    # The files sent with the message (migration 0006): a JSON array of `attachment_meta()`, or NULL.
    sa.Column("attachments", sa.Text, nullable=True),
    # A note's mentioned agents (migration 0009): a JSON array of ids, or NULL.
    sa.Column("mentions", sa.String(400), nullable=True),
    sa.UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),
    sa.UniqueConstraint("session_id", "sender_type", "sender_id", "client_msg_id", name="uq_messages_client_msg"),
    sa.Index("ix_messages_tenant", "tenant_id"),
    **MYSQL_TABLE_ARGS,
)


read_marks = sa.Table(
    "read_marks",
    metadata,
    sa.Column("session_id", BinaryString(32), sa.ForeignKey("sessions.id"), primary_key=True),
    sa.Column("reader_type", sa.String(16), primary_key=True),
    # agent id or visitor id
    sa.Column("reader_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("tenant_id", BinaryString(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    **MYSQL_TABLE_ARGS,
)


# Uploaded files (migration 0006), kept in the store so that every worker serves them. An upload
# belongs to one session; a message then lists it (messages.attachments).
class _Base64LongBlob(sa.types.TypeDecorator):
    """LONGBLOB written as FROM_BASE64('…'): aiomysql cannot escape bytes parameters with the
    PyMySQL it runs on (its `escape_bytes_prefixed` import is now a placeholder string), while a
    base64 string is escaped like any text. Read back, the column is bytes as usual."""

    impl = mysql.LONGBLOB
    cache_ok = True

    def bind_expression(self, bindvalue):
        return sa.func.from_base64(bindvalue)

    def bind_processor(self, dialect):
        # Only this (not LONGBLOB's own processor, which would turn the text back into bytes).
        def process(value):
            return None if value is None else base64.b64encode(value).decode("ascii")
        return process


FileBlob = sa.LargeBinary().with_variant(_Base64LongBlob(), "mysql", "mariadb")
attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("id", BinaryString(32), primary_key=True),  # random, hex
    sa.Column("tenant_id", BinaryString(64), nullable=False),
    sa.Column("session_id", BinaryString(32), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("uploader_type", sa.String(16), nullable=False),  # visitor | agent
    sa.Column("uploader_id", sa.Integer, nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # image | file
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("data", FileBlob, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_attachments_session", "session_id"),
    **MYSQL_TABLE_ARGS,
)


# Tokens the AI used, one row per model call (migration 0004): per tenant and session, and the
# tenant's daily cap sums a (tenant, day) range.
ai_usage = sa.Table(
    "ai_usage",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), nullable=False),
    sa.Column("session_id", BinaryString(32), nullable=True),
    sa.Column("day", sa.String(10), nullable=False),  # UTC date, YYYY-MM-DD
    sa.Column("kind", sa.String(16), nullable=False),  # reply | suggest | summary
    sa.Column("model", sa.String(100), nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("output_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("total_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_ai_usage_tenant_day", "tenant_id", "day"),
    sa.Index("ix_ai_usage_session", "session_id"),
    **MYSQL_TABLE_ARGS,
)


# Agents' devices for Web Push (migration 0008): one row per browser subscription. The endpoint is
# the push service's URL for that browser; it is unique, so it is keyed by its SHA-256 (an index on
# the URL itself would be too long for InnoDB).
push_subscriptions = sa.Table(
    "push_subscriptions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), nullable=False),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("endpoint_hash", BinaryString(64), nullable=False),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("p256dh", sa.String(100), nullable=False),
    sa.Column("auth", sa.String(40), nullable=False),
    sa.Column("user_agent", sa.String(400), nullable=False, default=""),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("last_success_at_ms", sa.BigInteger, nullable=True),
    sa.Column("failures", sa.Integer, nullable=False, default=0),  # refusals in a row by the push service
    sa.UniqueConstraint("endpoint_hash", name="uq_push_subscriptions_endpoint"),
    sa.Index("ix_push_subscriptions_agent", "tenant_id", "agent_id"),
    **MYSQL_TABLE_ARGS,
)


# The agent workspace (migration 0009): saved replies, and labels with the conversations that carry them.
canned_responses = sa.Table(
    "canned_responses",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("shortcut", BinaryString(32), nullable=False),
    sa.Column("title", sa.String(100), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("tenant_id", "shortcut", name="uq_canned_responses_shortcut"),
    **MYSQL_TABLE_ARGS,
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.String(40), nullable=False),
    # The name folded to lower case: unique per tenant, so "VIP" and "vip" are one label.
    sa.Column("name_key", BinaryString(40), nullable=False),
    sa.Column("color", sa.String(7), nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("tenant_id", "name_key", name="uq_labels_tenant_name"),
    **MYSQL_TABLE_ARGS,
)

session_labels = sa.Table(
    "session_labels",
    metadata,
    sa.Column("session_id", BinaryString(32), sa.ForeignKey("sessions.id"), primary_key=True),
    sa.Column("label_id", BigId, sa.ForeignKey("labels.id"), primary_key=True),
    sa.Column("tenant_id", BinaryString(64), nullable=False),
    sa.Index("ix_session_labels_label", "tenant_id", "label_id"),
    **MYSQL_TABLE_ARGS,
)


# ---- The admin console (migration 0010) ------------------------------------------------------------
# Agents gain `invited` (created by an admin, no password yet: status "invited" until they accept),
# `avatar_color` (#rrggbb or NULL: derived from the id) and `preferences` (JSON, NULL: the defaults).
# One-time links (invitations and password resets) are kept only as the SHA-256 of their token.
agents.append_column(sa.Column("invited", sa.Boolean, nullable=False, default=False, server_default="0"))
agents.append_column(sa.Column("avatar_color", sa.String(7), nullable=True))
agents.append_column(sa.Column("preferences", sa.String(400), nullable=True))

agent_links = sa.Table(
    "agent_links",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("token_hash", BinaryString(64), nullable=False),  # hex SHA-256 of the token
    sa.Column("purpose", sa.String(8), nullable=False),  # invite | reset
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    sa.Column("used_at_ms", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("token_hash", name="uq_agent_links_token"),
    sa.Index("ix_agent_links_agent", "tenant_id", "agent_id"),
    **MYSQL_TABLE_ARGS,
)

# What admins did, newest first per tenant (by id). Details are a JSON object, never a secret.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),  # NULL: the system, or someone not signed in
    sa.Column("actor_name", sa.String(200), nullable=False, default=""),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=True),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_audit_events_tenant", "tenant_id", "id"),
    **MYSQL_TABLE_ARGS,
)
# ---- end of the admin console's block ---------------------------------------------------------------

# ---- Webhooks (migration 0011) ----------------------------------------------------------------------
# A tenant's endpoints (at most 20): the events they take (a JSON array), the signing secret (encrypted
# with a key derived from CALLCENTER_SECRET_KEY: callcenter/webhooks.py), and whether they are on; and
# the last 100 deliveries of each (one row per event id, updated on every attempt).
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("events", sa.String(400), nullable=False),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("disabled_reason", sa.String(200), nullable=True),
    sa.Column("failing_since_ms", sa.BigInteger, nullable=True),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_webhooks_tenant", "tenant_id"),
    **MYSQL_TABLE_ARGS,
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", BinaryString(64), nullable=False),
    sa.Column("webhook_id", BigId, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("event_id", BinaryString(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.String(200), nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False, default=0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("delivered", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("last_attempt_at_ms", sa.BigInteger, nullable=True),
    sa.Column("next_attempt_at_ms", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
    **MYSQL_TABLE_ARGS,
)
# ---- end of the webhooks' block ---------------------------------------------------------------------

# ---- Routing and availability (migration 0012) ------------------------------------------------------
# Agents: how many open conversations auto-assignment gives them, and when it last gave one (ties go to
# who waited longest). Sessions: waiting in the routing queue since (NULL: not queued; arrival order),
# started outside business hours, and the e-mail part's marks (last reply e-mailed, next e-mail due).
agents.append_column(sa.Column("max_conversations", sa.Integer, nullable=False, default=5, server_default="5"))
agents.append_column(sa.Column("last_assigned_at_ms", sa.BigInteger, nullable=True))
sessions.append_column(sa.Column("queued_at_ms", sa.BigInteger, nullable=True))
sessions.append_column(sa.Column("after_hours", sa.Boolean, nullable=False, default=False, server_default="0"))
sessions.append_column(sa.Column("mail_sent_seq", sa.Integer, nullable=False, default=0, server_default="0"))
sessions.append_column(sa.Column("mail_due_at_ms", sa.BigInteger, nullable=True))
sa.Index("ix_sessions_tenant_queued", sessions.c.tenant_id, sessions.c.queued_at_ms, sessions.c.id)
sa.Index("ix_sessions_queued", sessions.c.queued_at_ms)
sa.Index("ix_sessions_mail_due", sessions.c.mail_due_at_ms)
# ---- end of the routing block -----------------------------------------------------------------------

def now_ms() -> int:
    return int(time.time() * 1000)


def row_dict(row: sa.Row | None) -> dict | None:
    return dict(row._mapping) if row is not None else None


# ---- mail (migration 0013) ----------------------------------------------------------------------------
# E-mail to visitors (callcenter/mail.py). The outbox: one row per e-mail (a batch of agent replies, or a
# transcript), keyed by what it holds (`mail_key`: kind, session, last seq), with its delivery state: the
# next attempt due (NULL once sent or given up), attempts so far (each claims the row: one sender at a
# time), when it was sent. Unsubscribes: (tenant, lower-cased address) that get no more e-mail.
mail_outbox = sa.Table(
    "mail_outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("mail_key", BinaryString(100), nullable=False),
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("session_id", BinaryString(32), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("to_addr", sa.String(254), nullable=False),
    sa.Column("from_seq", sa.Integer, nullable=False),
    sa.Column("upto_seq", sa.Integer, nullable=False),
    sa.Column("base_url", sa.String(300), nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("next_attempt_at_ms", sa.BigInteger, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("sent_at_ms", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.String(200), nullable=True),
    sa.UniqueConstraint("mail_key", name="uq_mail_outbox_key"),
    sa.Index("ix_mail_outbox_due", "next_attempt_at_ms"),
    sa.Index("ix_mail_outbox_session", "session_id"),
    **MYSQL_TABLE_ARGS,
)

mail_unsubscribes = sa.Table(
    "mail_unsubscribes",
    metadata,
    sa.Column("tenant_id", BinaryString(64), sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("email", sa.String(254), primary_key=True),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    **MYSQL_TABLE_ARGS,
)
# ---- end of the mail block ----------------------------------------------------------------------------
