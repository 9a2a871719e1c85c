"""Messages: a conversation's history, and sending (through the send writer's group commit)."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from ...domain import MAX_SEQ, PRIVATE_SENDER_TYPES
from ...errors import NotFound
from ..base import StoreBase
from ..schema import messages, row_dict
from ..sends import SendRequest, SendResult


class MessageQueries(StoreBase):
    """Read a conversation's messages; store new ones (visitor, agent, AI)."""

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
            query = query.where(c.sender_type.not_in(PRIVATE_SENDER_TYPES))
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
        return row_dict(row)

    async def send_message(self, tenant_id: str, session_id: str, *, sender_type: str, sender_id: int,
                           sender_name: str, body: str, client_msg_id: str | None = None,
                           budget: tuple[int, int] | None = None,
                           attachments: list[dict] | None = None, mentions: list[int] | None = None) -> SendResult:
        """Store one message: the next seq of the session, no gap, no duplicate.

        Concurrent sends of this worker are group-committed (see `writer.SendWriter`): one
        transaction stores everything that queued up while the previous one ran, so a
        busy worker pays a handful of round trips and one log flush per batch instead
        of per message. A retry with a known client_msg_id returns the first message.
        `budget` (limit, window_secs) limits messages per session and sender type: counted in the
        session row under its lock, so it holds across workers; over it, RateLimited. `mentions`: the
        agents a note names.
        """
        request = SendRequest(tenant_id, session_id, sender_type, sender_id, sender_name, body, client_msg_id,
                              budget=budget, attachments=attachments, mentions=mentions)
        return await self._writer.batcher.submit(request)

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
