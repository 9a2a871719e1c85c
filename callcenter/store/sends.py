"""The send path: a batch of messages appended under the sessions' row locks, in one transaction.

`store_batch` is the one algorithm (lock, look up repeats, apply each message to its session row by
the domain's rules, write); it speaks to the database through one of three statement sets:
`CoreSendSql` (SQLAlchemy Core, in a transaction the caller holds: system notes), `MySQLSendSql`
(driver SQL on the send writer's own MySQL connections: the hot path) and `SQLiteSendSql` (the
embedded default's writer thread). `writer.SendWriter` group-commits the sends of a worker.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..attachments import preview_text
from ..domain import BUDGET_SIDES, MESSAGE_SESSION_COLUMNS, ai_may_speak, apply_message, spend_budget
from ..errors import NotFound
from .engine import mysql_error
from .schema import ai_usage, messages, now_ms, sessions

log = logging.getLogger("callcenter.store")


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
    # A note's mentioned agents' ids, or None.
    mentions: list[int] | None = None


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


def usage_row(tenant_id: str, session_id: str | None, usage: dict, at_ms: int) -> dict:
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
    for col in MESSAGE_SESSION_COLUMNS:
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
                           "client_msg_id", "created_at_ms", "attachments", "mentions")
_USAGE_INSERT_COLUMNS = ("tenant_id", "session_id", "day", "kind", "model", "prompt_tokens", "output_tokens",
                         "total_tokens", "created_at_ms")


def _by_client_key(found: Iterable[dict]) -> dict[tuple, dict]:
    """Stored messages by their client_msg_id unique key (session, sender type, sender id, id)."""
    return {(m["session_id"], m["sender_type"], m["sender_id"], m["client_msg_id"]): m for m in found}


class CoreSendSql:
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
class Prelocked:
    """Session rows a send connection's open transaction has locked for the next batch."""
    session_ids: list[str]
    rows: dict[str, dict]


class MySQLSendSql:
    """A send batch's statements as driver SQL on a connection of the send writer's own (MySQL and
    MariaDB): its own transaction, and everything after the lock (session write-back, inserts, ids,
    COMMIT) goes as one multi-statement query. A batch is then two round trips, and SQLAlchemy's
    per-statement work (it cost more CPU than the rest of a send) is skipped on this one hot path.
    Values are written as literals by `_literal` (what the driver's client-side interpolation does,
    without its generic per-value dispatch), and a session row gets back only the columns its
    messages changed. Driver errors come out as SQLAlchemy's (`IntegrityError` for a repeated
    client_msg_id), like everywhere else in the store."""

    def __init__(self, conn, *, prelocked: "Prelocked | None" = None,
                 claim_next: Callable[[], list[str]] | None = None):
        self.conn = conn  # a WireConnection, autocommit off, multi-statements on
        self._locked: dict[str, tuple] = {}  # session id -> its message columns as locked
        # The session rows this transaction locked already (in the previous batch's last round trip).
        self._prelocked = prelocked
        # The session ids of the next batch, claimed now: their lock rides on this batch's write.
        self._claim_next = claim_next
        self.next_locked: Prelocked | None = None  # what the write locked for the next batch

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
            raise mysql_error(f"{sql.split(' ', 1)[0]} … (a send batch)", exc) from exc

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
        self._locked = {sid: tuple(row[col] for col in MESSAGE_SESSION_COLUMNS) for sid, row in found.items()}
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
            self.next_locked = Prelocked(next_ids, self._found(results.pop()))
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
        for index, col in enumerate(MESSAGE_SESSION_COLUMNS):
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


class SQLiteSendSql:
    """A send batch's statements on the send writer's own sqlite3 connection, run in its own thread
    (embedded default): the whole batch, BEGIN IMMEDIATE to COMMIT, is one hop to that thread
    instead of one per statement through aiosqlite, and no SQLAlchemy work. The methods are
    coroutines only to share `store_batch`; they never suspend (`run_to_completion`)."""

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


def run_to_completion(coro) -> Any:
    """The result of a coroutine that never suspends (everything it awaits finishes at once)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a send batch waited on something in the SQLite writer thread")


async def store_batch(sql: "CoreSendSql | MySQLSendSql", batch: list["SendRequest"], *,
                       check_duplicates: bool = True) -> list[Any]:
    """Append a batch of messages in `sql`'s transaction; one outcome per request (a
    SendResult, or the ApiError that request gets). Without `check_duplicates` a
    client_msg_id stored before is not looked up: the insert then fails on the unique key
    (IntegrityError) and the caller runs the batch again with the lookup.

    Round trips, whatever the batch size: lock the sessions (SELECT … FOR UPDATE, in
    primary-key order so that two workers' batches cannot deadlock each other), look up
    the client_msg_ids already stored (only when some were given), write (sessions back,
    the messages, their ids; `MySQLSendSql` sends these and the COMMIT as one). Every
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
            usage_rows.append(usage_row(req.tenant_id, req.session_id, req.usage, at_ms))
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
        if req.budget and req.sender_type in BUDGET_SIDES:
            refused = spend_budget(state, BUDGET_SIDES[req.sender_type], *req.budget, at_ms)
            if refused is not None:
                outcomes.append(refused)
                continue
        reopened = apply_message(state, req.sender_type, preview_text(req.body, req.attachments), at_ms)
        if req.handoff_reason:
            state["handoff_at_ms"], state["handoff_reason"] = at_ms, req.handoff_reason
        touched[req.session_id] = state
        row = {"tenant_id": req.tenant_id, "session_id": req.session_id, "seq": state["last_seq"],
               "sender_type": req.sender_type, "sender_id": req.sender_id, "sender_name": req.sender_name,
               "body": req.body, "client_msg_id": req.client_msg_id, "created_at_ms": at_ms,
               "attachments": json.dumps(req.attachments) if req.attachments else None,
               "mentions": json.dumps(req.mentions) if req.mentions else None}
        if req.client_msg_id:
            stored[key] = row
        new_rows.append(row)
        outcomes.append(SendResult(row, created=True, reopened=reopened, session=dict(state)))
    ids_by_seq = await sql.write(list(touched.values()), new_rows, usage_rows, seq_before)
    for row in new_rows:
        row["id"] = ids_by_seq[(row["session_id"], row["seq"])]
    return [o if not isinstance(o, dict) else SendResult(o, created=False) for o in outcomes]


async def append_message(conn, tenant_id, session_id, sender_type, sender_id, sender_name, body,
                          client_msg_id, now) -> dict:
    """One message inside a transaction the caller holds (system notes of assign/resolve)."""
    request = SendRequest(tenant_id, session_id, sender_type, sender_id, sender_name, body, client_msg_id, now)
    [outcome] = await store_batch(CoreSendSql(conn), [request])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome.message
