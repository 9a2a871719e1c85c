"""Conversations: starting them, the list and its search, assignment and status, read marks, handoff."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ...domain import NOTE, SYSTEM
from ...errors import Conflict, NotFound
from ..base import StoreBase
from ..schema import messages, now_ms, read_marks, row_dict, session_labels, sessions, visitors
from ..sends import PrivateNote, append_message

# A search reads the sessions in chunks, the first SEARCH_FIRST_CHUNK_SESSIONS (a frequent word fills
# a page from the newest few), doubling up to SEARCH_CHUNK_SESSIONS; one call stops after
# SEARCH_SCAN_SESSIONS sessions or SEARCH_TIME_BUDGET_SECS, whichever comes first.
SEARCH_FIRST_CHUNK_SESSIONS = 500
SEARCH_CHUNK_SESSIONS = 2000
SEARCH_SCAN_SESSIONS = 20_000
SEARCH_TIME_BUDGET_SECS = 1.0


def new_session_id() -> str:
    return secrets.token_hex(16)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class SessionFilter:
    status: str | None = None  # open | assigned | resolved | active (open+assigned)
    assigned_agent_id: int | None = None
    unassigned: bool = False
    query: str | None = None
    label_id: int | None = None  # only the conversations carrying this label


class SessionQueries(StoreBase):
    """Conversations of one tenant (every query takes the tenant id)."""

    async def start_session(self, tenant_id: str, *, channel: str, customer_name: str, customer_email: str,
                            page_url: str = "", user_agent: str = "", queued: bool = False,
                            after_hours: bool = False) -> dict:
        """A new conversation; `queued`: in the routing queue from now (auto mode), `after_hours`:
        started outside business hours."""
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
                "agent_window_count": 0, "queued_at_ms": now if queued else None, "after_hours": after_hours,
                "mail_sent_seq": 0, "mail_due_at_ms": None,
            }
            await conn.execute(sessions.insert().values(**row))
        return row

    async def get_session(self, tenant_id: str, session_id: str) -> dict | None:
        async with self._read() as conn:
            row = (await conn.execute(
                sessions.select().where(sessions.c.tenant_id == tenant_id, sessions.c.id == session_id)
            )).first()
        return row_dict(row)

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
        if flt.label_id is not None:
            sl = session_labels.c
            query = query.where(c.id.in_(sa.select(sl.session_id).where(sl.tenant_id == tenant_id,
                                                                        sl.label_id == flt.label_id)))
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
                # Given to someone: out of the routing queue (unassigned: the caller queues it again).
                queued_at_ms=None,
            ))
            if result.rowcount == 0:
                if await self._session_exists(conn, tenant_id, session_id):
                    raise Conflict("the session was assigned to someone else meanwhile", code="assignment_conflict")
                raise NotFound("no such session", code="session_not_found")
            added = []
            if system_note:
                added.append(await append_message(conn, tenant_id, session_id, SYSTEM, 0, "",
                                                         system_note, None, note_time_ms or now_ms()))
            if private_note:
                added.append(await append_message(conn, tenant_id, session_id, NOTE,
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
                values = {"status": "resolved", "resolved_at_ms": now, "waiting_since_ms": None, "queued_at_ms": None}
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
                note = await append_message(conn, tenant_id, session_id, "system", 0, "", system_note, None, now)
            row = await self._session_row(conn, tenant_id, session_id)
        return row, note

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

    async def rate(self, tenant_id: str, session_id: str, score: int, comment: str, *,
                   replace_within_ms: int) -> dict:
        """The visitor's rating of the conversation's current resolution; its row after. Conflict when it
        is not resolved, or was rated for this resolution more than `replace_within_ms` ago (within it,
        the new answer replaces the first, which keeps its time)."""
        c = sessions.c
        now = now_ms()
        async with self._write() as conn:
            if not await lock_session_row(conn, tenant_id, session_id):
                raise NotFound("no such session", code="session_not_found")
            row = await self._session_row(conn, tenant_id, session_id)
            if row["status"] != "resolved":
                raise Conflict("a conversation is rated once it is resolved", code="not_resolved")
            rated_at = row["rated_at_ms"]
            if rated_at is not None and rated_at >= row["resolved_at_ms"]:
                if now - rated_at > replace_within_ms:
                    raise Conflict("this conversation was rated already", code="already_rated")
            else:
                rated_at = now
            await conn.execute(sessions.update().where(c.tenant_id == tenant_id, c.id == session_id).values(
                rating_score=score, rating_comment=comment, rated_at_ms=rated_at))
            return await self._session_row(conn, tenant_id, session_id)

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


async def lock_session_row(conn: AsyncConnection, tenant_id: str, session_id: str) -> bool:
    """Lock the session's row for this transaction (the lock every send of the session takes);
    False when the tenant has no such session."""
    c = sessions.c
    return (await conn.execute(sa.select(c.id).where(c.tenant_id == tenant_id, c.id == session_id)
                               .with_for_update())).first() is not None
