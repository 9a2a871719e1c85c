"""The store of record: SQLAlchemy Core tables and every query the product runs.

One `Store` object per process wraps an async engine (aiomysql for MySQL and
MariaDB, aiosqlite for the embedded default). Nothing outside this module
writes SQL. Every query that reads tenant data takes the tenant id and filters
on it, so a caller cannot forget the scope.

Times are integer milliseconds since the epoch (`*_at_ms`): portable across
both databases, sortable, and exact for cursors.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import secrets
import sqlite3
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import senders
from .batching import Batcher
from .attachments import preview_text
from .errors import Conflict, NotFound, PayloadTooLarge, RateLimited, Unavailable

if TYPE_CHECKING:  # (MySQL only: the embedded default never loads the driver)
    from .mysql_wire import WireConnection

log = logging.getLogger("callcenter.store")

metadata = sa.MetaData()

# Ids compared byte for byte on MySQL (its default collation folds case).
def BinaryString(length: int) -> sa.types.TypeEngine:  # noqa: N802 - reads like a type
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}

SESSION_STATUSES = ("open", "assigned", "resolved")
AGENT_ROLES = ("admin", "agent")
PREVIEW_CHARS = 160
# A search reads the sessions in chunks, the first SEARCH_FIRST_CHUNK_SESSIONS (a frequent word fills
# a page from the newest few), doubling up to SEARCH_CHUNK_SESSIONS; one call stops after
# SEARCH_SCAN_SESSIONS sessions or SEARCH_TIME_BUDGET_SECS, whichever comes first.
SEARCH_FIRST_CHUNK_SESSIONS = 500
SEARCH_CHUNK_SESSIONS = 2000
SEARCH_SCAN_SESSIONS = 20_000
SEARCH_TIME_BUDGET_SECS = 1.0

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
    sa.Index("ix_sessions_tenant_updated", "tenant_id", "updated_at_ms", "id"),
    # Analytics: the conversations started in a date range.
    sa.Index("ix_sessions_tenant_created", "tenant_id", "created_at_ms"),
    sa.Index("ix_sessions_tenant_status_updated", "tenant_id", "status", "updated_at_ms", "id"),
    sa.Index("ix_sessions_tenant_agent_updated", "tenant_id", "assigned_agent_id", "updated_at_ms", "id"),
    sa.Index("ix_sessions_visitor", "visitor_id"),
    # visitor_history's "same email" half (migration 0002).
    sa.Index("ix_sessions_tenant_email", "tenant_id", "customer_email"),
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


def now_ms() -> int:
    return int(time.time() * 1000)


def new_session_id() -> str:
    return secrets.token_hex(16)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def preview_of(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


class StoreUnavailable(Unavailable):
    """The database cannot be reached; callers answer 503."""

    def __init__(self, detail: str):
        super().__init__("the database is unreachable; try again shortly", code="database_unavailable")
        self.detail = detail


# MySQL/MariaDB error codes that mean "the server is not there" rather than "your SQL is wrong".
_MYSQL_CONNECTION_ERRORS = {2002, 2003, 2006, 2013, 2055, 1040, 1053, 1205, 1213}


# Deadlock and lock-wait timeout: the transaction was rolled back whole and may simply be run again.
_MYSQL_TRANSIENT_CONFLICTS = {1205, 1213}
TRANSIENT_RETRIES = 3


def _is_transient_conflict(exc: BaseException) -> bool:
    cause = exc.__cause__
    orig = getattr(cause, "orig", None)
    code = orig.args[0] if orig is not None and getattr(orig, "args", None) else None
    return code in _MYSQL_TRANSIENT_CONFLICTS


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        code = orig.args[0] if getattr(orig, "args", None) else None
        if isinstance(code, int) and code in _MYSQL_CONNECTION_ERRORS:
            return True
        text = str(orig).lower()
        return any(s in text for s in ("can't connect", "lost connection", "gone away", "connection refused",
                                       "database is locked", "unable to open database"))
    return False


@dataclass(frozen=True)
class SessionFilter:
    status: str | None = None  # open | assigned | resolved | active (open+assigned)
    assigned_agent_id: int | None = None
    unassigned: bool = False
    query: str | None = None


@dataclass(frozen=True)
class PrivateNote:
    """A note for the agents only (senders.NOTE), written by `author_id` (0: the AI) as `author_name`."""
    author_id: int
    author_name: str
    body: str


@dataclass(frozen=True)
class SendResult:
    message: dict
    created: bool
    reopened: bool = False
    # The session row as the send left it (for the event), when this send created the message.
    session: dict | None = None


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


def _row(row: sa.Row | None) -> dict | None:
    return dict(row._mapping) if row is not None else None


@contextlib.contextmanager
def _unavailable_on_connection_errors():
    """Turn "the database is not there" into StoreUnavailable (503); anything else passes as is."""
    try:
        yield
    except IntegrityError:
        raise
    except (DBAPIError, OSError, asyncio.TimeoutError) as exc:
        if is_connection_error(exc):
            raise StoreUnavailable(str(exc)) from exc
        raise


@dataclass(slots=True)
class SendRequest:
    tenant_id: str
    session_id: str
    sender_type: str
    sender_id: int
    sender_name: str
    body: str
    client_msg_id: str | None
    at_ms: int | None = None  # None: the time it is stored
    # An AI reply: stored only while the conversation is still the AI's (checked under the lock;
    # otherwise its outcome is None), optionally flagging it for a human in the same write.
    ai_guard: bool = False
    # ... and only while the message it answers (this seq) is still the session's last one.
    answers_seq: int | None = None
    handoff_reason: str | None = None
    # An ai_usage row (tokens the reply cost) inserted in the same transaction, when created.
    usage: dict | None = None
    # (limit, window_secs): at most `limit` messages of this sender type per session and window;
    # one more gets RateLimited and changes nothing.
    budget: tuple[int, int] | None = None
    # The files sent with the message (`attachment_meta()` of uploads to this session), or None.
    attachments: list[dict] | None = None


def _spend_budget(state: dict, sender_type: str, limit: int, window_secs: int, at_ms: int) -> RateLimited | None:
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


def ai_may_speak(session: dict) -> bool:
    """Whether the AI may still answer in this session: no agent holds it, it was not handed to
    humans, it is not resolved."""
    return (session.get("assigned_agent_id") is None and session.get("handoff_at_ms") is None
            and session.get("status") != "resolved")


def _apply_message(state: dict, sender_type: str, body: str, at_ms: int) -> bool:
    """Update a session row (in memory) for one more message; True when it reopens the session."""
    state["last_seq"] += 1
    state["updated_at_ms"] = at_ms
    if not senders.visible_to_visitor(sender_type):
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
_MESSAGE_SESSION_COLUMNS = ("last_seq", "updated_at_ms", "last_message_preview", "last_message_sender",
                            "waiting_since_ms", "agent_unread", "status", "resolved_at_ms", "handoff_at_ms",
                            "handoff_reason", "visitor_window_start_ms", "visitor_window_count",
                            "agent_window_start_ms", "agent_window_count", "first_response_at_ms",
                            "first_agent_response_at_ms")


def _usage_row(tenant_id: str, session_id: str | None, usage: dict, at_ms: int) -> dict:
    """An ai_usage row: `usage` holds kind, model and the token counts."""
    return {**usage, "model": usage["model"][:100], "tenant_id": tenant_id, "session_id": session_id,
            "day": time.strftime("%Y-%m-%d", time.gmtime(at_ms / 1000)), "created_at_ms": at_ms}


def _write_back_sessions_sql(paramstyle: str, rows: list[dict]) -> tuple[str, tuple]:
    """One UPDATE writing the message columns of several locked session rows (CASE per column).

    Written as SQL text: the statement's shape changes with the batch size, and building it
    through SQLAlchemy's compiler cost more CPU than everything else in a send.
    """
    mark = "?" if paramstyle == "qmark" else "%s"
    params: list[Any] = []
    sets = []
    for col in _MESSAGE_SESSION_COLUMNS:
        if len(rows) == 1:
            sets.append(f"{col} = {mark}")
            params.append(rows[0][col])
        else:
            sets.append(f"{col} = CASE id" + f" WHEN {mark} THEN {mark}" * len(rows) + " END")
            for row in rows:
                params.extend((row["id"], row[col]))
    params.extend(row["id"] for row in rows)
    sql = f"UPDATE sessions SET {', '.join(sets)} WHERE id IN ({', '.join([mark] * len(rows))})"
    return sql, tuple(params)


_SESSION_COLUMN_NAMES = tuple(c.name for c in sessions.columns)
_MESSAGE_COLUMN_NAMES = tuple(c.name for c in messages.columns)
_MESSAGE_INSERT_COLUMNS = ("tenant_id", "session_id", "seq", "sender_type", "sender_id", "sender_name", "body",
                           "client_msg_id", "created_at_ms", "attachments")
_USAGE_INSERT_COLUMNS = ("tenant_id", "session_id", "day", "kind", "model", "prompt_tokens", "output_tokens",
                         "total_tokens", "created_at_ms")


def _by_client_key(found: Iterable[dict]) -> dict[tuple, dict]:
    """Stored messages by their client_msg_id unique key (session, sender type, sender id, id)."""
    return {(m["session_id"], m["sender_type"], m["sender_id"], m["client_msg_id"]): m for m in found}


def _mysql_error(statement: str | None, exc: Exception) -> DBAPIError:
    """A pymysql error as SQLAlchemy's (the classes, and the 503 mapping, of the rest of the store);
    a dropped connection ("Not connected", an InterfaceError) counts as invalidated."""
    import pymysql

    return DBAPIError.instance(statement, None, exc, pymysql.err.Error, hide_parameters=True,
                               connection_invalidated=isinstance(exc, pymysql.err.InterfaceError))


class _CoreSendSql:
    """A send batch's statements through SQLAlchemy Core, in the transaction the caller holds on
    `conn` (any dialect; system notes written inside a larger transaction use this too)."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def lock_sessions(self, ids: list[str]) -> dict[str, dict]:
        c = sessions.c
        result = await self.conn.execute(sessions.select().where(c.id.in_(ids)).order_by(c.id).with_for_update())
        return {row.id: dict(row._mapping) for row in result.all()}

    async def stored_messages(self, keys: set[tuple]) -> dict[tuple, dict]:
        m = messages.c
        # The whole unique key per row: an index lookup each, not a scan of the sessions' history.
        rows = (await self.conn.execute(messages.select().where(
            sa.tuple_(m.session_id, m.sender_type, m.sender_id, m.client_msg_id).in_(keys)))).all()
        return _by_client_key(dict(row._mapping) for row in rows)

    async def write(self, touched: list[dict], new_rows: list[dict], usage_rows: list[dict],
                    seq_before: dict[str, int]) -> dict[tuple[str, int], int]:
        """Write the batch; the new messages' ids by (session_id, seq)."""
        conn = self.conn
        if usage_rows:
            await conn.execute(ai_usage.insert(), usage_rows)
        if not new_rows:
            return {}
        await conn.exec_driver_sql(*_write_back_sessions_sql(conn.dialect.paramstyle, touched))
        m = messages.c
        if conn.dialect.insert_returning:
            inserted = (await conn.execute(messages.insert().returning(m.id, m.session_id, m.seq), new_rows)).all()
        else:
            # MySQL 8 has no INSERT … RETURNING, and its interleaved auto-increment mode does not
            # promise consecutive ids to a multi-row insert: read them back (still under the locks).
            await conn.execute(messages.insert(), new_rows)
            inserted = (await conn.execute(sa.select(m.id, m.session_id, m.seq).where(sa.or_(*(
                sa.and_(m.session_id == row["id"], m.seq > seq_before[row["id"]]) for row in touched))))).all()
        return {(row.session_id, row.seq): row.id for row in inserted}


@dataclass(frozen=True)
class _Prelocked:
    """Session rows a send connection's open transaction has locked for the next batch."""
    session_ids: list[str]
    rows: dict[str, dict]


class _MySQLSendSql:
    """A send batch's statements as driver SQL on a connection of the send writer's own (MySQL and
    MariaDB): its own transaction, and everything after the lock (session write-back, inserts, ids,
    COMMIT) goes as one multi-statement query. A batch is then two round trips, and SQLAlchemy's
    per-statement work (it cost more CPU than the rest of a send) is skipped on this one hot path.
    Values are written as literals by `_literal` (what the driver's client-side interpolation does,
    without its generic per-value dispatch), and a session row gets back only the columns its
    messages changed. Driver errors come out as SQLAlchemy's (`IntegrityError` for a repeated
    client_msg_id), like everywhere else in the store."""

    def __init__(self, conn, *, prelocked: "_Prelocked | None" = None,
                 claim_next: Callable[[], list[str]] | None = None):
        self.conn = conn  # a WireConnection, autocommit off, multi-statements on
        self._locked: dict[str, tuple] = {}  # session id -> its message columns as locked
        # The session rows this transaction locked already (in the previous batch's last round trip).
        self._prelocked = prelocked
        # The session ids of the next batch, claimed now: their lock rides on this batch's write.
        self._claim_next = claim_next
        self.next_locked: _Prelocked | None = None  # what the write locked for the next batch

    def _literal(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if type(value) is int:  # noqa: E721 - exactly int: a bool here would be a bug upstream
            return str(value)
        if type(value) is str:  # noqa: E721
            return "'" + self.conn.escape_string(value) + "'"
        raise TypeError(f"no SQL literal for {type(value).__name__}")

    def _tuple(self, values: Iterable[Any]) -> str:
        return "(" + ", ".join(map(self._literal, values)) + ")"

    async def _query(self, sql: str, *, ran_before_error: int | None = None) -> list[list[tuple]]:
        """Every result set's rows (one per statement). With `ran_before_error`: when exactly that
        many statements ran before one failed, their rows (the failure is not this batch's: the
        lock taken for the next one after its COMMIT), and the connection is closed, its state
        unknown; the next batch then locks its rows itself."""
        import pymysql

        try:
            return await self.conn.query(sql)
        except pymysql.err.Error as exc:
            ran = getattr(exc, "results_before_error", None)
            if ran_before_error is not None and ran is not None and len(ran) == ran_before_error:
                log.warning("locking the next send batch failed after this one committed: %s", exc)
                self.conn.close()
                return ran
            # The SQL holds the values, so the error names only its first statement's verb.
            raise _mysql_error(f"{sql.split(' ', 1)[0]} … (a send batch)", exc) from exc

    def _lock_sql(self, ids: list[str]) -> str:
        # The row as one JSON array: the driver parses every column's descriptor of every result
        # in Python, and 27 of them cost more than the rest of the batch's reading. (JSON keeps
        # the types: integers, strings, null.)
        return (f"SELECT JSON_ARRAY({', '.join(_SESSION_COLUMN_NAMES)}) FROM sessions "
                f"WHERE id IN {self._tuple(ids)} ORDER BY id FOR UPDATE")

    @staticmethod
    def _found(rows: list[tuple]) -> dict[str, dict]:
        found = {}
        for (packed,) in rows:
            row = dict(zip(_SESSION_COLUMN_NAMES, json.loads(packed)))
            found[row["id"]] = row
        return found

    async def lock_sessions(self, ids: list[str]) -> dict[str, dict]:
        prelocked, self._prelocked = self._prelocked, None
        if prelocked is not None and prelocked.session_ids == ids:
            found = prelocked.rows
        else:
            [rows] = await self._query(self._lock_sql(ids))
            found = self._found(rows)
        self._locked = {sid: tuple(row[col] for col in _MESSAGE_SESSION_COLUMNS) for sid, row in found.items()}
        return found

    async def stored_messages(self, keys: set[tuple]) -> dict[tuple, dict]:
        [rows] = await self._query(
            f"SELECT {', '.join(_MESSAGE_COLUMN_NAMES)} FROM messages "
            f"WHERE (session_id, sender_type, sender_id, client_msg_id) IN ({', '.join(map(self._tuple, keys))})")
        return _by_client_key(dict(zip(_MESSAGE_COLUMN_NAMES, row)) for row in rows)

    async def write(self, touched: list[dict], new_rows: list[dict], usage_rows: list[dict],
                    seq_before: dict[str, int]) -> dict[tuple[str, int], int]:
        statements: list[str] = []

        def insert(table: str, columns: tuple[str, ...], rows: list[dict]) -> None:
            statements.append(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                              + ", ".join(self._tuple(row[col] for col in columns) for row in rows))

        if usage_rows:
            insert("ai_usage", _USAGE_INSERT_COLUMNS, usage_rows)
        if new_rows:
            statements.append(self._write_back_sql(touched))
            insert("messages", _MESSAGE_INSERT_COLUMNS, new_rows)
            if self._returning:
                statements[-1] += " RETURNING id, session_id, seq"
            else:
                # MySQL has no INSERT … RETURNING, and its interleaved auto-increment mode does not
                # promise consecutive ids to a multi-row insert: read them back (still under the locks).
                statements.append("SELECT id, session_id, seq FROM messages WHERE " + " OR ".join(
                    f"(session_id = {self._literal(row['id'])} AND seq > {seq_before[row['id']]:d})"
                    for row in touched))
        statements.append("COMMIT")
        # The batch queued behind this one: its sessions are locked (a new transaction) in this
        # round trip, after the COMMIT, so they are read as this batch left them.
        next_ids = sorted(set(self._claim_next())) if self._claim_next is not None else []
        if next_ids:
            statements.append(self._lock_sql(next_ids))
        results = await self._query("; ".join(statements), ran_before_error=len(statements) - 1 if next_ids else None)
        if next_ids and len(results) == len(statements):
            self.next_locked = _Prelocked(next_ids, self._found(results.pop()))
        inserted = results[-2] if new_rows else ()
        return {(session_id, seq): message_id for message_id, session_id, seq in inserted}

    @property
    def _returning(self) -> bool:
        """MariaDB (10.5 and later) has INSERT … RETURNING."""
        return "mariadb" in self.conn.get_server_info().lower()

    def _write_back_sql(self, touched: list[dict]) -> str:
        """One UPDATE of the columns the batch changed in its session rows (one statement for the
        server to parse and run, however many sessions)."""
        sets = []
        for index, col in enumerate(_MESSAGE_SESSION_COLUMNS):
            changed = [row for row in touched if row[col] != self._locked[row["id"]][index]]
            if not changed:
                continue
            if len(touched) == 1:
                sets.append(f"{col} = {self._literal(changed[0][col])}")
            else:
                cases = " ".join(f"WHEN {self._literal(row['id'])} THEN {self._literal(row[col])}" for row in changed)
                sets.append(f"{col} = CASE id {cases} ELSE {col} END")
        ids = self._tuple(row["id"] for row in touched)
        return f"UPDATE sessions SET {', '.join(sets)} WHERE id IN {ids}"


class _SQLiteSendSql:
    """A send batch's statements on the send writer's own sqlite3 connection, run in its own thread
    (embedded default): the whole batch, BEGIN IMMEDIATE to COMMIT, is one hop to that thread
    instead of one per statement through aiosqlite, and no SQLAlchemy work. The methods are
    coroutines only to share `Store._store_batch`; they never suspend (`_run_to_completion`)."""

    def __init__(self, conn: "sqlite3.Connection"):
        self.conn = conn

    async def lock_sessions(self, ids: list[str]) -> dict[str, dict]:
        # (BEGIN IMMEDIATE already holds the database's write lock.)
        rows = self.conn.execute(f"SELECT {', '.join(_SESSION_COLUMN_NAMES)} FROM sessions "
                                 f"WHERE id IN ({', '.join('?' * len(ids))})", ids).fetchall()
        return {row[0]: dict(zip(_SESSION_COLUMN_NAMES, row)) for row in rows}

    async def stored_messages(self, keys: set[tuple]) -> dict[tuple, dict]:
        rows = self.conn.execute(
            f"SELECT {', '.join(_MESSAGE_COLUMN_NAMES)} FROM messages WHERE "
            f"(session_id, sender_type, sender_id, client_msg_id) IN (VALUES {', '.join(['(?, ?, ?, ?)'] * len(keys))})",
            [value for key in keys for value in key]).fetchall()
        return _by_client_key(dict(zip(_MESSAGE_COLUMN_NAMES, row)) for row in rows)

    async def write(self, touched: list[dict], new_rows: list[dict], usage_rows: list[dict],
                    seq_before: dict[str, int]) -> dict[tuple[str, int], int]:
        conn = self.conn
        if usage_rows:
            conn.executemany(f"INSERT INTO ai_usage ({', '.join(_USAGE_INSERT_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_USAGE_INSERT_COLUMNS))})",
                             [[row[col] for col in _USAGE_INSERT_COLUMNS] for row in usage_rows])
        if not new_rows:
            return {}
        conn.execute(*_write_back_sessions_sql("qmark", touched))
        marks = f"({', '.join('?' * len(_MESSAGE_INSERT_COLUMNS))})"
        inserted = conn.execute(
            f"INSERT INTO messages ({', '.join(_MESSAGE_INSERT_COLUMNS)}) VALUES {', '.join([marks] * len(new_rows))} "
            "RETURNING id, session_id, seq",
            [row[col] for row in new_rows for col in _MESSAGE_INSERT_COLUMNS]).fetchall()
        return {(session_id, seq): message_id for message_id, session_id, seq in inserted}


def _run_to_completion(coro) -> Any:
    """The result of a coroutine that never suspends (everything it awaits finishes at once)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a send batch waited on something in the SQLite writer thread")


MAX_SEND_BATCH = 256
# How long an SQLite write waits for another process's write lock before it fails (503).
SQLITE_BUSY_TIMEOUT_SECS = 30
# Above every seq: `before_seq=MAX_SEQ` asks for a session's last messages.
MAX_SEQ = 2**31 - 1
# One batch at a time: what queues meanwhile is the next batch. (Two in flight, one taking its
# locks while the other's commit syncs, cost more queries and CPU than it saved once a batch
# was two round trips: higher p99 at every rate, see docs/BENCHMARKS.md.)
SEND_BATCHES_IN_FLIGHT = 1


class _SendWriter:
    """Group commit of this worker's sends (through a `Batcher`): one transaction per batch.

    Each sender is answered only after its batch commits, so store-before-publish holds.
    `SEND_BATCHES_IN_FLIGHT` batches may run at once (a session in two waits for the first: its
    row lock keeps seqs in order). Batches run on connections of their own, which saves the
    pool's ping and reset round trips; on MySQL these are lean driver connections
    (`WireConnection`) with multi-statements on (`_MySQLSendSql`), which the health check's ping
    uses too.
    """

    def __init__(self, store: "Store"):
        self.store = store
        self._idle: list[WireConnection] = []  # MySQL: connections between batches
        # MySQL: the connection whose open transaction holds the next batch's session locks, and
        # those rows (taken in the previous batch's last round trip); only the next batch uses it.
        self._next: tuple[WireConnection, _Prelocked] | None = None
        self._conn_loop: asyncio.AbstractEventLoop | None = None
        # SQLite: the batches' own connection, used only in the one thread that runs them.
        self._sqlite_thread: ThreadPoolExecutor | None = None
        self._sqlite_conn: sqlite3.Connection | None = None
        self.batcher: Batcher[SendRequest, SendResult] = Batcher(
            self.flush, max_batch=MAX_SEND_BATCH, name="store-send-batcher",
            concurrency=1 if store.is_sqlite else SEND_BATCHES_IN_FLIGHT)

    async def close(self) -> None:
        await self.batcher.wait_idle()
        if self._next is not None:
            self._next[0].close()
            self._next = None
        while self._idle:
            self._idle.pop().close()
        thread, self._sqlite_thread = self._sqlite_thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._sqlite_close)
            thread.shutdown(wait=False)

    async def flush(self, requests: list[SendRequest]) -> list[Any]:
        try:
            try:
                # Repeats (a client_msg_id already stored) are rare: the unique key catches them,
                # and only then is the batch run again with the lookup, a round trip less per batch.
                return await self._store_with_retries(requests, check_duplicates=False)
            except IntegrityError:
                return await self._store_with_retries(requests)
        except DBAPIError as exc:
            # One request's data the database refused (a duplicate key is not expected here: this try
            # looked them up under the session locks) must not fail the others: store them one by one.
            if len(requests) > 1:
                return [await self._flush_one(req) for req in requests]
            if isinstance(exc, IntegrityError):
                return [await self._existing_or_error(requests[0])]
            raise

    async def _flush_one(self, request: SendRequest) -> Any:
        try:
            return (await self.flush([request]))[0]
        except Exception as exc:  # this request's own answer
            return exc

    async def _store_with_retries(self, requests: list[SendRequest], *, check_duplicates: bool = True) -> list[Any]:
        for attempt in range(TRANSIENT_RETRIES + 1):
            reused = self._has_kept_connection()
            try:
                return await self._store_once(requests, check_duplicates)
            except StoreUnavailable as exc:
                # InnoDB rolled the whole transaction back (deadlock / lock wait): run it again.
                # A kept connection that the server dropped meanwhile: once more on a new one.
                if attempt == TRANSIENT_RETRIES or not (_is_transient_conflict(exc) or (reused and attempt == 0)):
                    raise
        raise AssertionError("unreachable")

    async def _store_once(self, requests: list[SendRequest], check_duplicates: bool) -> list[Any]:
        store = self.store
        async with store._write_turn():
            loop = asyncio.get_running_loop()
            if store.is_sqlite:
                if self._sqlite_thread is None:
                    self._sqlite_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sends")
                return await loop.run_in_executor(self._sqlite_thread, self._sqlite_batch, requests, check_duplicates)
            reserved, self._next = self._next, None
            if reserved is not None and reserved[0].closed:
                reserved = None
            async with self._connection(reserved[0] if reserved else None) as conn:
                sql = _MySQLSendSql(conn, prelocked=reserved[1] if reserved else None,
                                    claim_next=self._claim_next_sessions)
                outcomes = await store._store_batch(sql, requests, check_duplicates=check_duplicates)
                if sql.next_locked is not None:
                    self._next = (conn, sql.next_locked)
                return outcomes

    def _claim_next_sessions(self) -> list[str]:
        """The sessions of the batch queued behind the one being written (see `Batcher.claim_next`)."""
        return [request.session_id for request in self.batcher.claim_next()]

    async def ping(self) -> None:
        """COM_PING on a kept connection (MySQL). One the server dropped meanwhile is replaced once
        (as sends do); a database that is not there raises StoreUnavailable."""
        import pymysql

        async with self.store._write_turn():
            for attempt in range(2):
                reused = self._has_kept_connection()
                try:
                    async with self._connection() as conn:
                        await conn.ping()
                    return
                except pymysql.err.Error as exc:
                    if not (reused and attempt == 0):
                        raise _mysql_error("ping", exc) from exc

    def _has_kept_connection(self) -> bool:
        return bool(self._idle or self._next) and self._conn_loop is asyncio.get_running_loop()

    @contextlib.asynccontextmanager
    async def _connection(self, reserved: "WireConnection | None" = None) -> AsyncIterator[WireConnection]:
        """`reserved` (the connection holding this batch's locks), a kept driver connection (MySQL),
        or a new one, for one batch or ping: kept again after it (unless it holds the next batch's
        locks: `_next`), closed after a failure (its state is unknown then; closing the socket ends,
        so rolls back, its transaction)."""
        loop = asyncio.get_running_loop()
        if self._conn_loop is not loop:
            # Connections of an event loop that has ended.
            self._idle, self._next, self._conn_loop = [], None, loop
        if reserved is not None:
            conn = reserved
        else:
            conn = self._idle.pop() if self._idle else await self._connect()
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        if self._next is None or self._next[0] is not conn:
            self._keep(conn)

    def _keep(self, conn) -> None:
        """Back to the idle connections, unless closed or as many as batches and a health check can
        use are idle already."""
        if conn.closed:
            return
        if len(self._idle) < SEND_BATCHES_IN_FLIGHT + 1:
            self._idle.append(conn)
        else:
            conn.close()

    def _sqlite_batch(self, requests: list[SendRequest], check_duplicates: bool) -> list[Any]:
        """One batch as one transaction, in the SQLite writer thread."""
        try:
            conn = self._sqlite_conn
            if conn is None:
                conn = self._sqlite_conn = sqlite3.connect(
                    self.store.engine.url.database, timeout=SQLITE_BUSY_TIMEOUT_SECS, isolation_level=None,
                    check_same_thread=False)
                _sqlite_on_connect(conn, None)
            conn.execute("BEGIN IMMEDIATE")
            try:
                outcomes = _run_to_completion(self.store._store_batch(
                    _SQLiteSendSql(conn), requests, check_duplicates=check_duplicates))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return outcomes
        except sqlite3.Error as exc:
            # SQLAlchemy's exception classes, as everywhere in the store ("database is locked" is a 503).
            raise DBAPIError.instance("send batch", None, exc, sqlite3.Error, hide_parameters=True) from exc

    def _sqlite_close(self) -> None:
        if self._sqlite_conn is not None:
            self._sqlite_conn.close()
            self._sqlite_conn = None

    async def _connect(self) -> WireConnection:
        import pymysql
        from pymysql.constants import CLIENT

        from .mysql_wire import WireConnection

        try:
            return await WireConnection.connect(**self.store.driver_connect_args(client_flag=CLIENT.MULTI_STATEMENTS))
        except pymysql.err.Error as exc:
            raise _mysql_error(None, exc) from exc

    async def _existing_or_error(self, request: SendRequest) -> Any:
        if request.client_msg_id:
            existing = await self.store.find_message(request.tenant_id, request.session_id, request.sender_type,
                                                     request.sender_id, request.client_msg_id)
            if existing:
                return SendResult(existing, created=False)
        return Conflict("the message could not be stored; send it again", code="send_conflict")


class Store:
    """Async access to the database. One per process; safe for concurrent use."""

    _MYSQL_CONNECT_ARGS = {"charset": "utf8mb4", "connect_timeout": 5}

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Errors (logged on a 500/503) show the SQL but not the values: message bodies, emails, search text.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECS}
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_recycle=3600,
                pool_timeout=10,
                connect_args=self._MYSQL_CONNECT_ARGS,
            )
        # One SSLContext per set of TLS options, for the pool and the send writer's connections alike.
        self._tls_contexts: dict[tuple, ssl.SSLContext] = {}
        self.engine: AsyncEngine = create_engine(url, tls_contexts=self._tls_contexts, **kwargs)
        if self.is_sqlite:
            sa.event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        else:
            _ping_when_idle(self.engine)
        # SQLite has one writer; serialising our write transactions avoids SQLITE_BUSY upgrades.
        self._sqlite_write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer = _SendWriter(self)

    def driver_connect_args(self, *, client_flag: int = 0) -> dict[str, Any]:
        """aiomysql.connect() arguments for a connection of the engine's database outside its pool
        (autocommit off, like the pool's); `client_flag` is added to SQLAlchemy's flags."""
        _args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        kwargs = {**kwargs, **self._MYSQL_CONNECT_ARGS}
        kwargs.update(tls_connect_args(kwargs, self._tls_contexts))
        kwargs["client_flag"] = kwargs.get("client_flag", 0) | client_flag
        return kwargs

    @property
    def send_batcher(self) -> Batcher:
        return self._writer.batcher

    async def close(self) -> None:
        await self._writer.close()
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with _unavailable_on_connection_errors():
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_turn():
            async with self.engine.begin() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        """This process's turn to write (`_sqlite_write_lock`), connection errors as StoreUnavailable."""
        lock = self._sqlite_write_lock
        with _unavailable_on_connection_errors():
            if lock is None:
                yield
                return
            async with lock:
                yield

    async def ping(self) -> None:
        """One round trip to the database (health checks). On MySQL on a connection of the send
        writer's: the path messages take, and a COM_PING without the pool's checkout and
        reset-on-return round trips."""
        if not self.is_sqlite:
            await self._writer.ping()
            return
        async with self._read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    # ---- tenants -------------------------------------------------------

    async def create_tenant(self, tenant_id: str, name: str, allowed_origins: Iterable[str] = (),
                            settings: dict | None = None) -> dict:
        row = {
            "id": tenant_id,
            "name": name,
            "allowed_origins": json.dumps(sorted(set(allowed_origins))),
            "settings": json.dumps(settings or {}),
            "created_at_ms": now_ms(),
        }
        try:
            async with self._write() as conn:
                await conn.execute(tenants.insert().values(**row))
        except IntegrityError:
            raise Conflict(f"tenant {tenant_id!r} already exists") from None
        return _tenant_row(row)

    async def get_tenant(self, tenant_id: str) -> dict | None:
        async with self._read() as conn:
            row = (await conn.execute(tenants.select().where(tenants.c.id == tenant_id))).first()
        return _tenant_row(_row(row)) if row else None

    async def update_tenant(self, tenant_id: str, *, allowed_origins: Iterable[str] | None = None,
                            settings: dict | None = None, name: str | None = None) -> None:
        values: dict[str, Any] = {}
        if allowed_origins is not None:
            values["allowed_origins"] = json.dumps(sorted(set(allowed_origins)))
        if settings is not None:
            values["settings"] = json.dumps(settings)
        if name is not None:
            values["name"] = name
        if values:
            async with self._write() as conn:
                await conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(**values))

    # ---- agents --------------------------------------------------------

    async def create_agent(self, tenant_id: str, email: str, password_hash: str, name: str,
                           role: str = "agent") -> dict:
        row = {
            "tenant_id": tenant_id,
            "email": email.strip().lower(),
            "password_hash": password_hash,
            "name": name,
            "role": role,
            "active": True,
            "token_version": 1,
            "created_at_ms": now_ms(),
        }
        try:
            async with self._write() as conn:
                result = await conn.execute(agents.insert().values(**row))
                row["id"] = result.inserted_primary_key[0]
        except IntegrityError:
            raise Conflict(f"agent {email!r} already exists in tenant {tenant_id!r}") from None
        return row

    async def get_agent(self, tenant_id: str, agent_id: int) -> dict | None:
        async with self._read() as conn:
            row = (await conn.execute(
                agents.select().where(agents.c.tenant_id == tenant_id, agents.c.id == agent_id)
            )).first()
        return _row(row)

    async def get_agent_by_email(self, tenant_id: str, email: str) -> dict | None:
        async with self._read() as conn:
            row = (await conn.execute(
                agents.select().where(agents.c.tenant_id == tenant_id, agents.c.email == email.strip().lower())
            )).first()
        return _row(row)

    async def list_agents(self, tenant_id: str) -> list[dict]:
        async with self._read() as conn:
            rows = (await conn.execute(
                agents.select().where(agents.c.tenant_id == tenant_id).order_by(agents.c.name, agents.c.id)
            )).all()
            loads = (await conn.execute(
                sa.select(sessions.c.assigned_agent_id, sa.func.count())
                .where(sessions.c.tenant_id == tenant_id, sessions.c.status == "assigned")
                .group_by(sessions.c.assigned_agent_id)
            )).all()
        load_by_agent = {agent_id: count for agent_id, count in loads}
        return [dict(r._mapping, open_sessions=load_by_agent.get(r.id, 0)) for r in rows]

    async def update_agent(self, tenant_id: str, agent_id: int, *, password_hash: str | None = None,
                           active: bool | None = None, name: str | None = None, role: str | None = None) -> dict:
        """Apply the changes; a new password or deactivation bumps token_version, revoking old tokens."""
        values: dict[str, Any] = {}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if active is not None:
            values["active"] = active
        if name is not None:
            values["name"] = name
        if role is not None:
            values["role"] = role
        if password_hash is not None or active is False:
            values["token_version"] = agents.c.token_version + 1
        async with self._write() as conn:
            if values:
                result = await conn.execute(
                    agents.update().where(agents.c.tenant_id == tenant_id, agents.c.id == agent_id).values(**values)
                )
                if result.rowcount == 0:
                    raise NotFound("no such agent", code="agent_not_found")
            row = (await conn.execute(
                agents.select().where(agents.c.tenant_id == tenant_id, agents.c.id == agent_id)
            )).first()
        if row is None:
            raise NotFound("no such agent", code="agent_not_found")
        return _row(row)

    # ---- sessions ------------------------------------------------------

    async def start_session(self, tenant_id: str, *, channel: str, customer_name: str, customer_email: str,
                            page_url: str = "", user_agent: str = "") -> dict:
        now = now_ms()
        session_id = new_session_id()
        async with self._write() as conn:
            visitor_id = (await conn.execute(visitors.insert().values(
                tenant_id=tenant_id, name=customer_name, email=customer_email,
                created_at_ms=now, last_seen_at_ms=now,
            ))).inserted_primary_key[0]
            row = {
                "id": session_id, "tenant_id": tenant_id, "visitor_id": visitor_id, "channel": channel,
                "status": "open", "assigned_agent_id": None, "customer_name": customer_name,
                "customer_email": customer_email, "page_url": page_url, "user_agent": user_agent,
                "created_at_ms": now, "updated_at_ms": now, "resolved_at_ms": None, "last_seq": 0,
                "last_message_preview": "", "last_message_sender": "", "waiting_since_ms": None,
                "agent_unread": 0, "agent_read_seq": 0, "visitor_read_seq": 0,
                "visitor_window_start_ms": 0, "visitor_window_count": 0, "agent_window_start_ms": 0,
                "agent_window_count": 0,
            }
            await conn.execute(sessions.insert().values(**row))
        return row

    async def get_session(self, tenant_id: str, session_id: str) -> dict | None:
        async with self._read() as conn:
            row = (await conn.execute(
                sessions.select().where(sessions.c.tenant_id == tenant_id, sessions.c.id == session_id)
            )).first()
        return _row(row)

    async def list_sessions(self, tenant_id: str, flt: SessionFilter, *, limit: int = 50,
                            cursor: tuple[int, str] | None = None) -> tuple[list[dict], tuple[int, str] | None]:
        """A page of sessions, newest activity first, and the cursor of the next page (or None)."""
        if flt.query:
            rows, next_cursor, _ = await self.search_sessions(tenant_id, flt, limit=limit, cursor=cursor)
            return rows, next_cursor
        c = sessions.c
        query = self._filtered(tenant_id, flt, cursor)
        order = (c.updated_at_ms.desc(), c.id.desc())
        # Deferred join: the page's ids come from the filter's index alone, then the rows by primary key.
        # Index-only, MariaDB/MySQL seek straight to the cursor; reading whole rows, they judge that range
        # too costly on a big tenant and walk the index from the newest row instead (every page before it).
        page = query.with_only_columns(c.id).order_by(*order).limit(limit + 1).subquery("page")
        query = sa.select(sessions).join(page, page.c.id == c.id).order_by(*order)
        async with self._read() as conn:
            rows = [dict(r._mapping) for r in (await conn.execute(query)).all()]
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = (rows[-1]["updated_at_ms"], rows[-1]["id"])
        return rows, next_cursor

    @staticmethod
    def _filtered(tenant_id: str, flt: SessionFilter, cursor: tuple[int, str] | None) -> sa.Select:
        """The tenant's sessions passing `flt`'s status and assignee filters, after `cursor`."""
        c = sessions.c
        query = sessions.select().where(c.tenant_id == tenant_id)
        if flt.status == "active":
            query = query.where(c.status.in_(("open", "assigned")))
        elif flt.status:
            query = query.where(c.status == flt.status)
        if flt.assigned_agent_id is not None:
            query = query.where(c.assigned_agent_id == flt.assigned_agent_id)
        if flt.unassigned:
            query = query.where(c.assigned_agent_id.is_(None))
        if cursor is not None:
            ts, sid = cursor
            query = query.where(sa.or_(c.updated_at_ms < ts, sa.and_(c.updated_at_ms == ts, c.id < sid)))
        return query

    async def search_sessions(self, tenant_id: str, flt: SessionFilter, *, limit: int = 50,
                              cursor: tuple[int, str] | None = None, scan_sessions: int | None = None,
                              ) -> tuple[list[dict], tuple[int, str] | None, int | None]:
        """Sessions matching `flt` whose customer name or email, or any message, contains `flt.query`
        (a substring, as the list's filter): newest activity first, like `list_sessions`.

        A substring cannot use an index, so the search walks the filtered sessions from the newest in
        growing chunks and stops after `scan_sessions` of them or SEARCH_TIME_BUDGET_SECS: a word that
        matches nothing costs a bounded read per call, not the tenant's whole history in one request
        (17 s for 2M messages before), and other requests get the database in between. Returns the page,
        the cursor to go on from (after the last match of a full page, or after the last session read
        when the budget ran out first), and in that second case the activity time the search got back
        to (None when it read everything there was)."""
        c, m = sessions.c, messages.c
        scan_sessions = scan_sessions or SEARCH_SCAN_SESSIONS
        pattern = f"%{escape_like(flt.query or '')}%"
        found: list[str] = []
        read = 0
        chunk_size = SEARCH_FIRST_CHUNK_SESSIONS
        deadline = time.monotonic() + SEARCH_TIME_BUDGET_SECS
        order = (c.updated_at_ms.desc(), c.id.desc())
        async with self._read() as conn:
            while read < scan_sessions and len(found) <= limit and (not read or time.monotonic() < deadline):
                wanted = min(chunk_size, SEARCH_CHUNK_SESSIONS, scan_sessions - read)
                chunk_size *= 2
                # The chunk is the next `wanted` sessions: up to the wanted-th one (an index-only read).
                last = (await conn.execute(self._filtered(tenant_id, flt, cursor).with_only_columns(
                    c.updated_at_ms, c.id).order_by(*order).offset(wanted - 1).limit(1))).first()
                chunk = self._filtered(tenant_id, flt, cursor)
                if last is not None:
                    chunk = chunk.where(sa.or_(c.updated_at_ms > last.updated_at_ms,
                                               sa.and_(c.updated_at_ms == last.updated_at_ms, c.id >= last.id)))
                # Walked newest first, each session's messages until the first that matches, and no further
                # than the matches still needed: a frequent word stops after a page's worth of sessions.
                in_messages = sa.exists().where(m.session_id == c.id, m.tenant_id == tenant_id,
                                                m.body.like(pattern, escape="\\"))
                found += (await conn.execute(chunk.with_only_columns(c.id).where(sa.or_(
                    c.customer_name.like(pattern, escape="\\"), c.customer_email.like(pattern, escape="\\"),
                    in_messages)).order_by(*order).limit(limit + 1 - len(found)))).scalars().all()
                read += wanted
                if last is None:
                    cursor = None  # the chunk held every session that was left
                    break
                cursor = (last.updated_at_ms, last.id)
            rows = []
            if found:
                by_id = {r["id"]: dict(r) for r in (await conn.execute(
                    sessions.select().where(c.id.in_(found[:limit])))).mappings().all()}
                rows = [by_id[i] for i in found[:limit]]
        if len(found) > limit:
            return rows, (rows[-1]["updated_at_ms"], rows[-1]["id"]), None
        return rows, cursor, cursor[0] if cursor is not None else None

    async def visitor_history(self, tenant_id: str, visitor_id: int, email: str, *, exclude: str,
                              limit: int = 10) -> list[dict]:
        """The customer's other conversations (same visitor, or same email when one was given)."""
        c = sessions.c
        who = c.visitor_id == visitor_id
        if email:
            who = sa.or_(who, c.customer_email == email)
        query = (sessions.select().where(c.tenant_id == tenant_id, who, c.id != exclude)
                 .order_by(c.updated_at_ms.desc()).limit(limit))
        async with self._read() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]

    async def set_assignment(self, tenant_id: str, session_id: str, agent_id: int | None, *,
                             expected_agent_id: Any = ..., system_note: str | None = None,
                             private_note: PrivateNote | None = None,
                             note_time_ms: int | None = None) -> tuple[dict, list[dict]]:
        """Assign (or unassign) a session; optionally add a system message, and a private note for the
        agents, in the same transaction; (the session row, the messages added, in seq order).

        `expected_agent_id` makes the change conditional (compare-and-set), so two
        agents grabbing the same conversation cannot both win.
        """
        async with self._write() as conn:
            cond = [sessions.c.tenant_id == tenant_id, sessions.c.id == session_id]
            if expected_agent_id is not ...:
                cond.append(sessions.c.assigned_agent_id.is_(None) if expected_agent_id is None
                            else sessions.c.assigned_agent_id == expected_agent_id)
            status = sa.case((sessions.c.status == "resolved", "resolved"),
                             else_="assigned" if agent_id is not None else "open")
            result = await conn.execute(sessions.update().where(*cond).values(
                assigned_agent_id=agent_id, status=status, updated_at_ms=now_ms(),
            ))
            if result.rowcount == 0:
                if await self._session_exists(conn, tenant_id, session_id):
                    raise Conflict("the session was assigned to someone else meanwhile", code="assignment_conflict")
                raise NotFound("no such session", code="session_not_found")
            added = []
            if system_note:
                added.append(await self._append_message(conn, tenant_id, session_id, senders.SYSTEM, 0, "",
                                                         system_note, None, note_time_ms or now_ms()))
            if private_note:
                added.append(await self._append_message(conn, tenant_id, session_id, senders.NOTE,
                                                         private_note.author_id, private_note.author_name,
                                                         private_note.body, None, note_time_ms or now_ms()))
            row = await self._session_row(conn, tenant_id, session_id)
        return row, added

    async def set_status(self, tenant_id: str, session_id: str, status: str, *,
                         system_note: str | None = None) -> tuple[dict, dict | None]:
        """Resolve or reopen; Conflict when the session is already in that state."""
        now = now_ms()
        c = sessions.c
        async with self._write() as conn:
            if status == "resolved":
                values = {"status": "resolved", "resolved_at_ms": now, "waiting_since_ms": None}
                cond = c.status != "resolved"
            else:
                values = {"status": sa.case((c.assigned_agent_id.is_(None), "open"), else_="assigned"),
                          "resolved_at_ms": None}
                cond = c.status == "resolved"
            result = await conn.execute(sessions.update().where(
                c.tenant_id == tenant_id, c.id == session_id, cond).values(updated_at_ms=now, **values))
            if result.rowcount == 0:
                if await self._session_exists(conn, tenant_id, session_id):
                    raise Conflict(f"the session is already {'resolved' if status == 'resolved' else 'open'}")
                raise NotFound("no such session", code="session_not_found")
            note = None
            if system_note:
                note = await self._append_message(conn, tenant_id, session_id, "system", 0, "", system_note, None, now)
            row = await self._session_row(conn, tenant_id, session_id)
        return row, note

    async def mark_read(self, tenant_id: str, session_id: str, reader: str, seq: int, reader_id: int = 0) -> dict:
        """Move read marks forward to `seq` (never back): the participant's own (agent or visitor
        `reader_id`) and the side's ('agent' / 'visitor') that drives unread counts and ticks."""
        c = sessions.c
        async with self._write() as conn:
            row = await self._session_row(conn, tenant_id, session_id)
            seq = min(seq, row["last_seq"])
            if reader_id and seq > 0:
                await conn.execute(_upsert_read_mark(conn.dialect.name, {
                    "session_id": session_id, "reader_type": reader, "reader_id": reader_id, "tenant_id": tenant_id,
                    "seq": seq, "updated_at_ms": now_ms()}))
            column = "agent_read_seq" if reader == "agent" else "visitor_read_seq"
            if seq <= row[column]:
                return row
            values: dict[str, Any] = {column: seq}
            if reader == "agent":
                unread = (await conn.execute(
                    sa.select(sa.func.count()).select_from(messages).where(
                        messages.c.session_id == session_id, messages.c.seq > seq,
                        messages.c.sender_type == "visitor")
                )).scalar_one()
                values["agent_unread"] = unread
            await conn.execute(sessions.update().where(c.tenant_id == tenant_id, c.id == session_id).values(**values))
            row.update(values)
        return row

    async def list_read_marks(self, tenant_id: str, session_id: str) -> list[dict]:
        async with self._read() as conn:
            rows = (await conn.execute(read_marks.select().where(
                read_marks.c.tenant_id == tenant_id, read_marks.c.session_id == session_id)
                .order_by(read_marks.c.reader_type, read_marks.c.reader_id))).all()
        return [dict(r._mapping) for r in rows]

    async def _session_exists(self, conn: AsyncConnection, tenant_id: str, session_id: str) -> bool:
        return (await conn.execute(sa.select(sessions.c.id).where(
            sessions.c.tenant_id == tenant_id, sessions.c.id == session_id))).first() is not None

    async def _session_row(self, conn: AsyncConnection, tenant_id: str, session_id: str) -> dict:
        row = (await conn.execute(sessions.select().where(
            sessions.c.tenant_id == tenant_id, sessions.c.id == session_id))).first()
        if row is None:
            raise NotFound("no such session", code="session_not_found")
        return dict(row._mapping)

    # ---- messages ------------------------------------------------------

    async def list_messages(self, tenant_id: str, session_id: str, *, after_seq: int = 0,
                            before_seq: int | None = None, limit: int = 100,
                            visitor_view: bool = False) -> list[dict]:
        """Messages of one session in seq order: those after `after_seq`, or the last
        `limit` before `before_seq` (for loading older history). `visitor_view`: only what the
        visitor may read (no private notes; their seqs are simply absent)."""
        async with self._read() as conn:
            return await self._messages(conn, tenant_id, session_id, after_seq=after_seq, before_seq=before_seq,
                                        limit=limit, visitor_view=visitor_view)

    @staticmethod
    async def _messages(conn: AsyncConnection, tenant_id: str, session_id: str, *, after_seq: int = 0,
                        before_seq: int | None = None, limit: int, visitor_view: bool = False) -> list[dict]:
        c = messages.c
        query = messages.select().where(c.tenant_id == tenant_id, c.session_id == session_id)
        if visitor_view:
            query = query.where(c.sender_type.not_in(senders.PRIVATE_SENDER_TYPES))
        if before_seq is not None:
            query = query.where(c.seq < before_seq).order_by(c.seq.desc()).limit(limit)
        else:
            query = query.where(c.seq > after_seq).order_by(c.seq).limit(limit)
        rows = [dict(r._mapping) for r in (await conn.execute(query)).all()]
        if before_seq is not None:
            rows.reverse()
        return rows

    async def session_and_last_messages(self, tenant_id: str, session_id: str, limit: int) -> tuple[dict | None,
                                                                                                   list[dict]]:
        """A session and its last `limit` messages (seq order), read on one connection (an AI job's
        context: one checkout instead of two on the path to the model)."""
        async with self._read() as conn:
            try:
                session = await self._session_row(conn, tenant_id, session_id)
            except NotFound:
                return None, []
            return session, await self._messages(conn, tenant_id, session_id, before_seq=MAX_SEQ, limit=limit)

    async def find_message(self, tenant_id: str, session_id: str, sender_type: str, sender_id: int,
                           client_msg_id: str) -> dict | None:
        async with self._read() as conn:
            return await self._find_client_message(conn, tenant_id, session_id, sender_type, sender_id, client_msg_id)

    async def _find_client_message(self, conn, tenant_id, session_id, sender_type, sender_id, client_msg_id):
        c = messages.c
        row = (await conn.execute(messages.select().where(
            c.session_id == session_id, c.sender_type == sender_type, c.sender_id == sender_id,
            c.client_msg_id == client_msg_id, c.tenant_id == tenant_id,
        ))).first()
        return _row(row)

    async def send_message(self, tenant_id: str, session_id: str, *, sender_type: str, sender_id: int,
                           sender_name: str, body: str, client_msg_id: str | None = None,
                           budget: tuple[int, int] | None = None,
                           attachments: list[dict] | None = None) -> SendResult:
        """Store one message: the next seq of the session, no gap, no duplicate.

        Concurrent sends of this worker are group-committed (see `_SendWriter`): one
        transaction stores everything that queued up while the previous one ran, so a
        busy worker pays a handful of round trips and one log flush per batch instead
        of per message. A retry with a known client_msg_id returns the first message.
        `budget` (limit, window_secs) limits messages per session and sender type: counted in the
        session row under its lock, so it holds across workers; over it, RateLimited.
        """
        request = SendRequest(tenant_id, session_id, sender_type, sender_id, sender_name, body, client_msg_id,
                              budget=budget, attachments=attachments)
        return await self._writer.batcher.submit(request)

    # ---- attachments ----------------------------------------------------------

    async def create_attachment(self, tenant_id: str, session_id: str, *, uploader_type: str, uploader_id: int,
                                filename: str, content_type: str, kind: str, data: bytes,
                                session_quota_bytes: int) -> dict:
        """Keep an uploaded file for a session (its metadata row back, without the bytes). The
        session's files may add up to `session_quota_bytes`; over that, PayloadTooLarge and nothing is
        stored (checked under the session row's lock, so concurrent uploads cannot both slip in)."""
        a = attachments.c
        row = {"id": secrets.token_hex(16), "tenant_id": tenant_id, "session_id": session_id,
               "uploader_type": uploader_type, "uploader_id": uploader_id, "filename": filename,
               "content_type": content_type, "kind": kind, "size_bytes": len(data), "created_at_ms": now_ms()}
        async with self._write() as conn:
            if not await _lock_session_row(conn, tenant_id, session_id):
                raise NotFound("no such session", code="session_not_found")
            used = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(a.size_bytes), 0)).where(
                a.tenant_id == tenant_id, a.session_id == session_id))).scalar_one()
            if int(used) + len(data) > session_quota_bytes:
                raise PayloadTooLarge(f"this conversation's files may add up to {session_quota_bytes} bytes; "
                                      f"{int(used)} are used", code="attachment_quota_exceeded")
            await conn.execute(attachments.insert().values(**row, data=data))
        return row

    async def attachments_of_session(self, tenant_id: str, session_id: str, ids: Iterable[str]) -> dict[str, dict]:
        """Metadata rows (no bytes) of those of `ids` that were uploaded to this session, by id."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        a = attachments.c
        query = sa.select(*(col for col in attachments.columns if col.name != "data")).where(
            a.tenant_id == tenant_id, a.session_id == session_id, a.id.in_(wanted))
        async with self._read() as conn:
            return {row.id: dict(row._mapping) for row in (await conn.execute(query)).all()}

    async def delete_unsent_attachment(self, tenant_id: str, session_id: str, attachment_id: str,
                                       uploader_type: str) -> None:
        """Forget a file `uploader_type` uploaded to this session and has not sent (removed before
        sending: it no longer counts against the quota). NotFound when there is no such file of that
        side; Conflict once a message carries it (a sent file stays, like the message)."""
        a = attachments.c
        async with self._write() as conn:
            # Under the session row's lock, which every send of the session takes too.
            await _lock_session_row(conn, tenant_id, session_id)
            found = (await conn.execute(sa.select(a.id).where(
                a.tenant_id == tenant_id, a.session_id == session_id, a.id == attachment_id,
                a.uploader_type == uploader_type))).first()
            if found is None:
                raise NotFound("no such file of yours in this conversation", code="attachment_not_found")
            if (await conn.execute(sa.select(_sent_in_a_message(session_id, attachment_id)))).scalar():
                raise Conflict("this file was sent in a message and stays with it", code="attachment_sent")
            await conn.execute(attachments.delete().where(a.id == attachment_id))

    # ---- push subscriptions -----------------------------------------------------------

    async def save_push_subscription(self, tenant_id: str, agent_id: int, *, endpoint: str, endpoint_hash: str,
                                     p256dh: str, auth: str, user_agent: str, max_per_agent: int) -> tuple[dict, bool]:
        """Keep a device of this agent's; (row, created). A browser has one endpoint: stored for
        someone else before (another sign-in on that browser), it moves to this agent only when it
        comes with the same keys (its auth secret is known to that browser and us alone); anyone
        else who learnt the endpoint gets Conflict and the owner's row stays as it is. Beyond
        `max_per_agent` devices the one heard from least recently goes."""
        p = push_subscriptions.c
        async with self._write() as conn:
            found = (await conn.execute(push_subscriptions.select().where(p.endpoint_hash == endpoint_hash))).first()
            if found is not None and found.tenant_id == tenant_id and found.agent_id == agent_id:
                if (found.p256dh, found.auth) != (p256dh, auth):
                    await conn.execute(push_subscriptions.update().where(p.id == found.id).values(
                        p256dh=p256dh, auth=auth, failures=0))
                row = dict(found._mapping, p256dh=p256dh, auth=auth)
                return row, False
            if found is not None:
                same_browser = (hmac.compare_digest(found.auth.encode(), auth.encode())
                                and hmac.compare_digest(found.p256dh.encode(), p256dh.encode()))
                if not same_browser:
                    raise Conflict("this push endpoint belongs to another sign-in; subscribe this browser again",
                                   code="subscription_taken")
                await conn.execute(push_subscriptions.delete().where(p.id == found.id))
            row = {"tenant_id": tenant_id, "agent_id": agent_id, "endpoint_hash": endpoint_hash, "endpoint": endpoint,
                   "p256dh": p256dh, "auth": auth, "user_agent": user_agent, "created_at_ms": now_ms(),
                   "last_success_at_ms": None, "failures": 0}
            row["id"] = (await conn.execute(push_subscriptions.insert().values(**row))).inserted_primary_key[0]
            mine = (await conn.execute(sa.select(p.id).where(p.tenant_id == tenant_id, p.agent_id == agent_id)
                                       .order_by(sa.func.coalesce(p.last_success_at_ms, p.created_at_ms).desc(),
                                                 p.id.desc()))).scalars().all()
            if len(mine) > max_per_agent:
                await conn.execute(push_subscriptions.delete().where(p.id.in_(mine[max_per_agent:])))
        return row, True

    async def push_subscriptions_of(self, tenant_id: str, agent_ids: Iterable[int] | None = None) -> list[dict]:
        """The devices of the tenant's active agents (of `agent_ids` only, when given), oldest first."""
        p, a = push_subscriptions.c, agents.c
        query = (sa.select(push_subscriptions).join(agents, a.id == p.agent_id)
                 .where(p.tenant_id == tenant_id, a.tenant_id == tenant_id, a.active.is_(True)).order_by(p.id))
        if agent_ids is not None:
            query = query.where(p.agent_id.in_(list(agent_ids)))
        async with self._read() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings().all()]

    async def push_subscribed_agents(self, tenant_id: str) -> set[int]:
        """The tenant's agents with at least one device."""
        p = push_subscriptions.c
        async with self._read() as conn:
            return set((await conn.execute(sa.select(p.agent_id).where(p.tenant_id == tenant_id).distinct()))
                       .scalars().all())

    async def delete_push_subscription(self, tenant_id: str, agent_id: int | None, endpoint_hash: str) -> bool:
        """Forget a device (of this agent's only, unless agent_id is None); whether there was one."""
        p = push_subscriptions.c
        where = [p.tenant_id == tenant_id, p.endpoint_hash == endpoint_hash]
        if agent_id is not None:
            where.append(p.agent_id == agent_id)
        async with self._write() as conn:
            return (await conn.execute(push_subscriptions.delete().where(*where))).rowcount > 0

    async def record_push_result(self, subscription_id: int, delivered: bool) -> int:
        """After a push: a delivery clears the refusal count, a refusal adds one; the count after."""
        p = push_subscriptions.c
        values = ({"last_success_at_ms": now_ms(), "failures": 0} if delivered
                  else {"failures": p.failures + 1})
        async with self._write() as conn:
            await conn.execute(push_subscriptions.update().where(p.id == subscription_id).values(**values))
            if delivered:
                return 0
            return int((await conn.execute(sa.select(p.failures).where(p.id == subscription_id))).scalar() or 0)

    # ---- analytics -----------------------------------------------------------------

    async def analytics_rows(self, tenant_id: str, start_ms: int, end_ms: int) -> tuple[list[dict], list[dict]]:
        """The tenant's conversations started in [start_ms, end_ms) (the columns the analytics need),
        and those resolved in it (when, and by whose conversation)."""
        c = sessions.c
        started = sa.select(c.created_at_ms, c.resolved_at_ms, c.status, c.assigned_agent_id, c.first_response_at_ms,
                            c.first_agent_response_at_ms, c.handoff_at_ms).where(
            c.tenant_id == tenant_id, c.created_at_ms >= start_ms, c.created_at_ms < end_ms)
        resolved = sa.select(c.resolved_at_ms, c.assigned_agent_id).where(
            c.tenant_id == tenant_id, c.status == "resolved", c.resolved_at_ms >= start_ms, c.resolved_at_ms < end_ms)
        async with self._read() as conn:
            return (list((await conn.execute(started)).mappings().all()),
                    list((await conn.execute(resolved)).mappings().all()))

    async def purge_unsent_attachments(self, uploaded_before_ms: int, limit: int = 500) -> int:
        """Forget up to `limit` files uploaded before that time that no message carries (a chip left in
        a closed tab); how many. A send that names one afterwards is refused as for any unknown file."""
        a = attachments.c
        async with self._write() as conn:
            ids = (await conn.execute(sa.select(a.id).where(a.created_at_ms < uploaded_before_ms,
                                                            ~_sent_in_a_message(a.session_id, a.id))
                                      .limit(limit))).scalars().all()
            if ids:
                await conn.execute(attachments.delete().where(a.id.in_(ids)))
        return len(ids)

    async def largest_file_bytes(self) -> int | None:
        """The largest file one INSERT can carry on MySQL/MariaDB (its max_allowed_packet, less the
        base64 that bytes travel in and the rest of the statement); None when there is no such limit."""
        if self.is_sqlite:
            return None
        async with self._read() as conn:
            packet = int((await conn.execute(sa.text("SELECT @@max_allowed_packet"))).scalar_one())
        return (packet - 64 * 1024) * 3 // 4

    async def get_attachment(self, tenant_id: str, session_id: str, attachment_id: str) -> dict:
        """One file of a session with its bytes (`data`); NotFound outside the tenant or the session."""
        a = attachments.c
        async with self._read() as conn:
            row = (await conn.execute(attachments.select().where(
                a.tenant_id == tenant_id, a.session_id == session_id, a.id == attachment_id))).first()
        if row is None:
            raise NotFound("no such file in this conversation", code="attachment_not_found")
        return dict(row._mapping)

    async def _store_batch(self, sql: "_CoreSendSql | _MySQLSendSql", batch: list["SendRequest"], *,
                           check_duplicates: bool = True) -> list[Any]:
        """Append a batch of messages in `sql`'s transaction; one outcome per request (a
        SendResult, or the ApiError that request gets). Without `check_duplicates` a
        client_msg_id stored before is not looked up: the insert then fails on the unique key
        (IntegrityError) and the caller runs the batch again with the lookup.

        Round trips, whatever the batch size: lock the sessions (SELECT … FOR UPDATE, in
        primary-key order so that two workers' batches cannot deadlock each other), look up
        the client_msg_ids already stored (only when some were given), write (sessions back,
        the messages, their ids; `_MySQLSendSql` sends these and the COMMIT as one). Every
        writer of a session row locks it first, so the duplicate check under the lock cannot race.
        """
        found = await sql.lock_sessions(sorted({r.session_id for r in batch}))
        seq_before = {sid: row["last_seq"] for sid, row in found.items()}
        with_ids = {(r.session_id, r.sender_type, r.sender_id, r.client_msg_id)
                    for r in batch if r.client_msg_id} if check_duplicates else set()
        stored = await sql.stored_messages(with_ids) if with_ids else {}
        outcomes: list[Any] = []
        touched: dict[str, dict] = {}
        new_rows: list[dict] = []
        usage_rows: list[dict] = []
        for req in batch:
            state = found.get(req.session_id)
            if state is None or state["tenant_id"] != req.tenant_id:
                outcomes.append(NotFound("no such session", code="session_not_found"))
                continue
            at_ms = req.at_ms or now_ms()
            if req.usage:  # the model was called: its tokens count whether or not the reply is stored
                usage_rows.append(_usage_row(req.tenant_id, req.session_id, req.usage, at_ms))
            if req.ai_guard and not ai_may_speak(state):
                outcomes.append(None)  # no longer the AI's conversation
                continue
            key = (req.session_id, req.sender_type, req.sender_id, req.client_msg_id)
            if req.client_msg_id and key in stored:
                outcomes.append(stored[key])  # the first message; completed below if it is in this batch
                continue
            if req.answers_seq is not None and state["last_seq"] != req.answers_seq:
                outcomes.append(None)  # someone wrote since the question: the answer would be out of place
                continue
            if req.budget and req.sender_type in ("visitor", "agent"):
                refused = _spend_budget(state, req.sender_type, *req.budget, at_ms)
                if refused is not None:
                    outcomes.append(refused)
                    continue
            reopened = _apply_message(state, req.sender_type, preview_text(req.body, req.attachments), at_ms)
            if req.handoff_reason:
                state["handoff_at_ms"], state["handoff_reason"] = at_ms, req.handoff_reason
            touched[req.session_id] = state
            row = {"tenant_id": req.tenant_id, "session_id": req.session_id, "seq": state["last_seq"],
                   "sender_type": req.sender_type, "sender_id": req.sender_id, "sender_name": req.sender_name,
                   "body": req.body, "client_msg_id": req.client_msg_id, "created_at_ms": at_ms,
                   "attachments": json.dumps(req.attachments) if req.attachments else None}
            if req.client_msg_id:
                stored[key] = row
            new_rows.append(row)
            outcomes.append(SendResult(row, created=True, reopened=reopened, session=dict(state)))
        ids_by_seq = await sql.write(list(touched.values()), new_rows, usage_rows, seq_before)
        for row in new_rows:
            row["id"] = ids_by_seq[(row["session_id"], row["seq"])]
        return [o if not isinstance(o, dict) else SendResult(o, created=False) for o in outcomes]

    async def _append_message(self, conn, tenant_id, session_id, sender_type, sender_id, sender_name, body,
                              client_msg_id, now) -> dict:
        """One message inside a transaction the caller holds (system notes of assign/resolve)."""
        request = SendRequest(tenant_id, session_id, sender_type, sender_id, sender_name, body, client_msg_id, now)
        [outcome] = await self._store_batch(_CoreSendSql(conn), [request])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome.message

    # ---- AI replies --------------------------------------------------------

    async def send_ai_message(self, tenant_id: str, session_id: str, *, sender_name: str, body: str,
                              client_msg_id: str, handoff_reason: str | None = None,
                              usage: dict | None = None, answers_seq: int | None = None) -> SendResult | None:
        """Store an AI reply unless the conversation is no longer the AI's: None when an agent holds it,
        it was handed to humans, or it is resolved. Checked under the session's row lock, in the
        transaction that appends the message, so an agent's assign lands either before (no reply)
        or after it. `client_msg_id` (derived from the visitor message answered) makes it once only
        (a second one returns the first, created=False); with `answers_seq`, also None when any message
        came after that seq (the visitor wrote again, a person answered). `handoff_reason` also flags the
        session as waiting for a human, and `usage` (kind, model, token counts) records what the reply
        cost, both in the same transaction. It is group-committed with the worker's other sends."""
        request = SendRequest(tenant_id, session_id, "ai", 0, sender_name, body, client_msg_id, ai_guard=True,
                              answers_seq=answers_seq, handoff_reason=handoff_reason, usage=usage)
        return await self._writer.batcher.submit(request)

    async def set_handoff(self, tenant_id: str, session_id: str, reason: str) -> dict | None:
        """Flag the session as waiting for a human; the row when this call flagged it, None when it
        already was (or the session does not exist)."""
        c = sessions.c
        async with self._write() as conn:
            result = await conn.execute(sessions.update().where(
                c.tenant_id == tenant_id, c.id == session_id, c.handoff_at_ms.is_(None)).values(
                handoff_at_ms=now_ms(), handoff_reason=reason))
            if result.rowcount == 0:
                return None
            return await self._session_row(conn, tenant_id, session_id)

    async def record_ai_usage(self, tenant_id: str, session_id: str | None, *, kind: str, model: str,
                              prompt_tokens: int, output_tokens: int, total_tokens: int) -> None:
        usage = {"kind": kind, "model": model, "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
                 "total_tokens": total_tokens}
        async with self._write() as conn:
            await conn.execute(ai_usage.insert().values(**_usage_row(tenant_id, session_id, usage, now_ms())))

    async def ai_tokens(self, tenant_id: str, *, day: str | None = None, session_id: str | None = None) -> int:
        """Tokens used by a tenant on a UTC day (default today), or in one of its sessions."""
        c = ai_usage.c
        query = sa.select(sa.func.coalesce(sa.func.sum(c.total_tokens), 0)).where(c.tenant_id == tenant_id)
        if session_id is not None:
            query = query.where(c.session_id == session_id)
        else:
            query = query.where(c.day == (day or time.strftime("%Y-%m-%d", time.gmtime())))
        async with self._read() as conn:
            return int((await conn.execute(query)).scalar_one())

    # ---- bulk (demo data, data generator) ---------------------------------

    async def create_visitor(self, tenant_id: str, name: str, email: str, created_at_ms: int) -> int:
        async with self._write() as conn:
            return (await conn.execute(visitors.insert().values(
                tenant_id=tenant_id, name=name, email=email, created_at_ms=created_at_ms,
                last_seen_at_ms=created_at_ms))).inserted_primary_key[0]

    async def insert_rows(self, table: sa.Table, rows: list[dict]) -> None:
        if rows:
            async with self._write() as conn:
                await conn.execute(table.insert(), rows)

    async def count(self, table: sa.Table, tenant_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(table)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        async with self._read() as conn:
            return (await conn.execute(query)).scalar_one()


def _upsert_read_mark(dialect: str, row: dict):
    """INSERT the mark, or raise an existing one to the larger seq (one statement, race-free)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
        stmt = insert(read_marks).values(**row)
        return stmt.on_conflict_do_update(
            index_elements=["session_id", "reader_type", "reader_id"],
            set_={"seq": sa.func.max(read_marks.c.seq, stmt.excluded.seq), "updated_at_ms": stmt.excluded.updated_at_ms})
    from sqlalchemy.dialects.mysql import insert
    stmt = insert(read_marks).values(**row)
    return stmt.on_duplicate_key_update(seq=sa.func.greatest(read_marks.c.seq, stmt.inserted.seq),
                                        updated_at_ms=stmt.inserted.updated_at_ms)


def _tenant_row(row: dict) -> dict:
    out = dict(row)
    out["allowed_origins"] = json.loads(row.get("allowed_origins") or "[]")
    out["settings"] = json.loads(row.get("settings") or "{}")
    return out


# A pooled connection that sat unused this long is pinged before use (a database restart drops it
# silently); one used more recently is trusted, as HikariCP does, which saves a round trip per
# checkout on a busy worker. If the database restarted within this window, that checkout fails
# once (503) and the pool is invalidated: the next request gets fresh connections.
PING_AFTER_IDLE_SECS = 1.0


async def _lock_session_row(conn: AsyncConnection, tenant_id: str, session_id: str) -> bool:
    """Lock the session's row for this transaction (the lock every send of the session takes);
    False when the tenant has no such session."""
    c = sessions.c
    return (await conn.execute(sa.select(c.id).where(c.tenant_id == tenant_id, c.id == session_id)
                               .with_for_update())).first() is not None


def _sent_in_a_message(session_id, attachment_id) -> sa.ColumnElement:
    """Whether a message of the session carries the file (values or columns). Ids are random hex,
    so a message that lists one contains it as a quoted JSON string."""
    m = messages.c
    return sa.exists().where(m.session_id == session_id,
                             m.attachments.like(sa.literal('%"') + attachment_id + sa.literal('"%')))


def create_engine(url: str, *, tls_contexts: dict[tuple, ssl.SSLContext] | None = None,
                  **kwargs: Any) -> AsyncEngine:
    """The async engine for `url`, everywhere the product opens one (store, migrations). On MySQL
    the URL's TLS options (`?ssl_ca=…&ssl_cert=…&ssl_key=…&ssl_check_hostname=false`) reach the
    driver as an SSLContext: SQLAlchemy hands them on as a dict, which aiomysql cannot use.
    `tls_contexts` caches the contexts made (share it with other connections of the same URL)."""
    engine = create_async_engine(url, **kwargs)
    if not url.startswith("sqlite"):
        contexts = {} if tls_contexts is None else tls_contexts

        @sa.event.listens_for(engine.sync_engine, "do_connect")
        def _tls_context(dialect, connection_record, cargs, cparams) -> None:
            cparams.update(tls_connect_args(cparams, contexts))
    return engine


# MySQL/MariaDB: the database named in the URL does not exist (ER_BAD_DB_ERROR).
_MYSQL_UNKNOWN_DATABASE = 1049


async def create_database_if_missing(url: str) -> bool:
    """On MySQL/MariaDB, create the URL's database when the server says it does not exist (the
    account usually may: `callcenter migrate` then needs no manual step); whether it was created.
    Anything else (unreachable, denied) raises the driver's error for the caller to explain."""
    if url.startswith("sqlite"):
        return False
    probe = create_engine(url, pool_pre_ping=False)
    try:
        async with probe.connect():
            return False
    except DBAPIError as exc:
        code = exc.orig.args[0] if getattr(exc.orig, "args", None) else None
        if code != _MYSQL_UNKNOWN_DATABASE:
            raise
    finally:
        await probe.dispose()
    parsed = sa.engine.make_url(url)
    server = create_engine(parsed.set(database="").render_as_string(hide_password=False))
    try:
        async with server.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote_identifier(parsed.database)
            await conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS {quoted} "
                                       "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    finally:
        await server.dispose()
    return True


def tls_connect_args(connect_args: dict[str, Any], cache: dict[tuple, ssl.SSLContext] | None = None) -> dict[str, Any]:
    """{"ssl": SSLContext} for driver arguments whose "ssl" is SQLAlchemy's dict of the URL's TLS
    options (ca, capath, cert, key, cipher, check_hostname); {} when there is none."""
    options = connect_args.get("ssl")
    if not isinstance(options, dict):
        return {}
    key = tuple(sorted(options.items()))
    if cache is not None and key in cache:
        return {"ssl": cache[key]}
    context = ssl.create_default_context(cafile=options.get("ca"), capath=options.get("capath"))
    if options.get("cert"):
        context.load_cert_chain(options["cert"], options.get("key"))
    if options.get("cipher"):
        context.set_ciphers(options["cipher"])
    if options.get("check_hostname") is not None:
        context.check_hostname = bool(options["check_hostname"])
    if cache is not None:
        cache[key] = context
    return {"ssl": context}


def _ping_when_idle(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    dbapi_error = engine.dialect.loaded_dbapi.Error

    def mark_used(_dbapi_conn, record, *_args) -> None:
        record.info["used_at"] = time.monotonic()

    def ping_if_idle(dbapi_conn, record, _proxy) -> None:
        if time.monotonic() - record.info.get("used_at", 0.0) < PING_AFTER_IDLE_SECS:
            return
        try:
            dbapi_conn.ping(False)
        except (dbapi_error, OSError) as exc:
            raise sa.exc.DisconnectionError(f"stale pooled connection: {exc}") from exc
        record.info["used_at"] = time.monotonic()

    sa.event.listen(pool, "connect", mark_used)
    sa.event.listen(pool, "checkin", mark_used)
    sa.event.listen(pool, "checkout", ping_if_idle)


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
