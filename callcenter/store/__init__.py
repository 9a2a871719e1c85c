"""The store of record: SQLAlchemy Core tables and every query the product runs.

One `Store` object per process wraps an async engine (aiomysql for MySQL and MariaDB, aiosqlite for
the embedded default). Nothing outside this package writes SQL. Every query that reads tenant data
takes the tenant id and filters on it, so a caller cannot forget the scope. The store only stores:
the chat's rules (what a message does to its conversation, who sees what, when the AI may speak)
are in `callcenter.domain`, which the send path applies under its locks.

    schema        the tables                      engine     URL, TLS, pools, "unreachable" (503)
    base          connections, the send writer    sends      a batch of messages under the row locks
    writer        group commit of a worker's sends
    aggregates/   tenants, agents, sessions, messages, attachments, push, ai_usage, analytics, workspace
                  (canned responses, labels), bulk, admin (links, last admin, audit log),
                  webhooks (endpoints and their deliveries), routing (the queue, capacity),
                  mail (e-mail to visitors: the outbox, unsubscribes):
                  the queries of one aggregate each
"""
from __future__ import annotations

from .aggregates.admin import AdminQueries
from .aggregates.agents import AgentQueries
from .aggregates.ai_usage import AIUsageQueries
from .aggregates.analytics import AnalyticsQueries
from .aggregates.attachments import AttachmentQueries
from .base import StoreBase
from .aggregates.bulk import BulkQueries
from .engine import (StoreUnavailable, create_database_if_missing, create_engine, is_connection_error,
                     tls_connect_args)
from .aggregates.messages import MessageQueries
from .aggregates.push import PushQueries
from .aggregates.routing import RoutingQueries
from .schema import (agent_links, agents, ai_usage, attachments, audit_events, canned_responses, labels, messages,
                     metadata, now_ms, push_subscriptions, read_marks, session_labels, sessions, tenants, visitors)
from .sends import PrivateNote, SendResult
from .aggregates.sessions import SessionFilter, SessionQueries, new_session_id
from .aggregates.sockets import CatchUp, SocketQueries
from .aggregates.tenants import TenantQueries
from .aggregates.workspace import WorkspaceQueries
from .aggregates.webhooks import WebhookQueries
from .aggregates.mail import MailQueries

__all__ = [
    "Store", "StoreUnavailable", "SendResult", "CatchUp", "SessionFilter", "PrivateNote", "create_engine",
    "create_database_if_missing", "is_connection_error", "tls_connect_args", "now_ms", "new_session_id", "metadata",
    "tenants", "agents", "visitors", "sessions", "messages", "read_marks", "attachments", "ai_usage",
    "push_subscriptions", "canned_responses", "labels", "session_labels", "agent_links", "audit_events",
]


class Store(TenantQueries, AgentQueries, SessionQueries, MessageQueries, AttachmentQueries, PushQueries,
            AIUsageQueries, AnalyticsQueries, WorkspaceQueries, BulkQueries, AdminQueries, WebhookQueries,
            RoutingQueries, MailQueries, SocketQueries, StoreBase):
    """The facade every caller uses: one object, every aggregate's queries (each in its module)."""
