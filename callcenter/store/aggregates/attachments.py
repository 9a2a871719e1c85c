"""Uploaded files, kept in the database so that every worker serves them."""
from __future__ import annotations

import secrets
from typing import Iterable

import sqlalchemy as sa

from ...errors import Conflict, NotFound, PayloadTooLarge
from ..base import StoreBase
from ..schema import attachments, messages, now_ms
from .sessions import lock_session_row


class AttachmentQueries(StoreBase):
    """Files of a session: upload, look up, remove before sending, purge unsent ones."""

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
            if not await lock_session_row(conn, tenant_id, session_id):
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
            await lock_session_row(conn, tenant_id, session_id)
            found = (await conn.execute(sa.select(a.id).where(
                a.tenant_id == tenant_id, a.session_id == session_id, a.id == attachment_id,
                a.uploader_type == uploader_type))).first()
            if found is None:
                raise NotFound("no such file of yours in this conversation", code="attachment_not_found")
            if (await conn.execute(sa.select(_sent_in_a_message(session_id, attachment_id)))).scalar():
                raise Conflict("this file was sent in a message and stays with it", code="attachment_sent")
            await conn.execute(attachments.delete().where(a.id == attachment_id))

    async def get_attachment(self, tenant_id: str, session_id: str, attachment_id: str) -> dict:
        """One file of a session with its bytes (`data`); NotFound outside the tenant or the session."""
        a = attachments.c
        async with self._read() as conn:
            row = (await conn.execute(attachments.select().where(
                a.tenant_id == tenant_id, a.session_id == session_id, a.id == attachment_id))).first()
        if row is None:
            raise NotFound("no such file in this conversation", code="attachment_not_found")
        return dict(row._mapping)

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


def _sent_in_a_message(session_id, attachment_id) -> sa.ColumnElement:
    """Whether a message of the session carries the file (values or columns). Ids are random hex,
    so a message that lists one contains it as a quoted JSON string."""
    m = messages.c
    return sa.exists().where(m.session_id == session_id,
                             m.attachments.like(sa.literal('%"') + attachment_id + sa.literal('"%')))
