"""E-mail to visitors: which conversations have replies to e-mail and when (sessions.mail_due_at_ms,
sessions.mail_sent_seq), the outbox of e-mails with their delivery state, and unsubscribed addresses.

Claims are compare-and-set updates (a row changes only if it still holds the value the claimer read),
so whichever worker's update lands first does the work and the others see 0 rows changed."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..base import StoreBase
from ..schema import mail_outbox, mail_unsubscribes, messages, now_ms, row_dict, sessions

MAIL_ERROR_CHARS = 200


class MailQueries(StoreBase):

    # ---- the batching of replies (sessions.mail_due_at_ms / mail_sent_seq) --------------------------

    async def schedule_reply_mail(self, tenant_id: str, session_id: str, due_at_ms: int) -> bool:
        """A reply to e-mail later: the session becomes due at `due_at_ms` unless it is due already (the
        replies of one batch share the first one's time). True when this set it."""
        s = sessions.c
        async with self._write() as conn:
            result = await conn.execute(sessions.update().where(
                s.tenant_id == tenant_id, s.id == session_id, s.mail_due_at_ms.is_(None)).values(mail_due_at_ms=due_at_ms))
            return result.rowcount > 0

    async def due_reply_mail(self, at_ms: int, limit: int) -> list[dict]:
        """Sessions whose e-mail is due: (tenant_id, id, mail_due_at_ms), the longest due first."""
        s = sessions.c
        async with self._read() as conn:
            rows = await conn.execute(sa.select(s.tenant_id, s.id, s.mail_due_at_ms).where(
                s.mail_due_at_ms.is_not(None), s.mail_due_at_ms <= at_ms).order_by(s.mail_due_at_ms).limit(limit))
            return [dict(r._mapping) for r in rows.all()]

    async def move_reply_mail(self, tenant_id: str, session_id: str, expected_due_ms: int, due_at_ms: int) -> bool:
        """Compare-and-set of the due time: claims the session (a later due time is this worker's lease
        on it) or puts it off. False when another worker changed it first."""
        s = sessions.c
        async with self._write() as conn:
            result = await conn.execute(sessions.update().where(
                s.tenant_id == tenant_id, s.id == session_id, s.mail_due_at_ms == expected_due_ms
            ).values(mail_due_at_ms=due_at_ms))
            return result.rowcount > 0

    async def reply_mail_messages(self, tenant_id: str, session_id: str, after_seq: int, sender_types: tuple[str, ...],
                                  limit: int, upto_seq: int | None = None) -> list[dict]:
        """The messages of these senders after `after_seq` (up to `upto_seq`), in order."""
        c = messages.c
        query = messages.select().where(c.tenant_id == tenant_id, c.session_id == session_id, c.seq > after_seq,
                                        c.sender_type.in_(sender_types))
        if upto_seq is not None:
            query = query.where(c.seq <= upto_seq)
        async with self._read() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query.order_by(c.seq).limit(limit))).all()]

    async def finish_reply_mail(self, tenant_id: str, session_id: str, lease_due_ms: int, *, upto_seq: int,
                                reply_types: tuple[str, ...], again_at_ms: int, mail: dict | None) -> bool:
        """The batch up to `upto_seq` is dealt with: its e-mail (`mail`: an outbox row, or None when there
        is nothing to send) is queued and mail_sent_seq moves to `upto_seq`, in one transaction, if this
        worker still holds the session (its due time is still `lease_due_ms`). A reply stored after
        `upto_seq` meanwhile makes the session due again at `again_at_ms`."""
        s, m = sessions.c, messages.c
        async with self._write() as conn:
            held = (await conn.execute(sa.select(s.mail_sent_seq).where(
                s.tenant_id == tenant_id, s.id == session_id, s.mail_due_at_ms == lease_due_ms).with_for_update())).first()
            if held is None:
                return False
            later = (await conn.execute(sa.select(m.seq).where(
                m.session_id == session_id, m.seq > upto_seq, m.sender_type.in_(reply_types)).limit(1))).first()
            await conn.execute(sessions.update().where(s.id == session_id).values(
                mail_sent_seq=max(upto_seq, held.mail_sent_seq), mail_due_at_ms=again_at_ms if later else None))
            if mail is not None:
                await conn.execute(mail_outbox.insert().values(**mail))
            return True

    # ---- the outbox -----------------------------------------------------------------------------

    async def add_mail(self, mail: dict) -> bool:
        """Queue one e-mail (an outbox row); False when one with its key exists already (a repeat)."""
        try:
            async with self._write() as conn:
                await conn.execute(mail_outbox.insert().values(**mail))
            return True
        except IntegrityError:
            return False

    async def due_mail(self, at_ms: int, limit: int) -> list[dict]:
        """Outbox rows to hand to a sender now: (id, attempts, next_attempt_at_ms)."""
        o = mail_outbox.c
        async with self._read() as conn:
            rows = await conn.execute(sa.select(o.id, o.attempts, o.next_attempt_at_ms).where(
                o.next_attempt_at_ms.is_not(None), o.next_attempt_at_ms <= at_ms, o.sent_at_ms.is_(None)
            ).order_by(o.next_attempt_at_ms).limit(limit))
            return [dict(r._mapping) for r in rows.all()]

    async def lease_mail(self, mail_id: int, *, attempts: int, expected_due_ms: int | None, until_ms: int) -> bool:
        """Compare-and-set on a row's next attempt (the queueing worker's claim: it is queued once; if
        nobody sends it by `until_ms`, it is due again)."""
        o = mail_outbox.c
        where = [o.id == mail_id, o.attempts == attempts, o.sent_at_ms.is_(None)]
        where.append(o.next_attempt_at_ms.is_(None) if expected_due_ms is None else o.next_attempt_at_ms == expected_due_ms)
        async with self._write() as conn:
            return (await conn.execute(mail_outbox.update().where(*where).values(next_attempt_at_ms=until_ms))).rowcount > 0

    async def start_mail_attempt(self, mail_id: int, attempts: int, until_ms: int) -> dict | None:
        """Claim one attempt at sending: the row (attempts counted up) if it is unsent and still at
        `attempts` (so of several copies of one queue entry, one sends); None otherwise. Unless marked
        sent or failed by `until_ms`, the row is due again then (a sender that died mid-way)."""
        o = mail_outbox.c
        async with self._write() as conn:
            result = await conn.execute(mail_outbox.update().where(
                o.id == mail_id, o.attempts == attempts, o.sent_at_ms.is_(None), o.next_attempt_at_ms.is_not(None)
            ).values(attempts=attempts + 1, next_attempt_at_ms=until_ms))
            if result.rowcount == 0:
                return None
            return row_dict((await conn.execute(mail_outbox.select().where(o.id == mail_id))).first())

    async def mail_sent(self, mail_id: int) -> None:
        o = mail_outbox.c
        async with self._write() as conn:
            await conn.execute(mail_outbox.update().where(o.id == mail_id).values(
                sent_at_ms=now_ms(), next_attempt_at_ms=None, last_error=None))

    async def mail_failed(self, mail_id: int, error: str, retry_at_ms: int | None) -> None:
        """An attempt failed: retried at `retry_at_ms`, or given up (None)."""
        o = mail_outbox.c
        async with self._write() as conn:
            await conn.execute(mail_outbox.update().where(o.id == mail_id, o.sent_at_ms.is_(None)).values(
                next_attempt_at_ms=retry_at_ms, last_error=error[:MAIL_ERROR_CHARS]))

    async def list_mail(self, tenant_id: str, session_id: str) -> list[dict]:
        """A conversation's e-mails, oldest first."""
        o = mail_outbox.c
        async with self._read() as conn:
            rows = await conn.execute(mail_outbox.select().where(o.tenant_id == tenant_id, o.session_id == session_id)
                                      .order_by(o.id))
            return [dict(r._mapping) for r in rows.all()]

    # ---- unsubscribes ---------------------------------------------------------------------------

    async def unsubscribe_mail(self, tenant_id: str, email: str) -> None:
        try:
            async with self._write() as conn:
                await conn.execute(mail_unsubscribes.insert().values(tenant_id=tenant_id, email=email.lower(),
                                                                     created_at_ms=now_ms()))
        except IntegrityError:  # unsubscribed already
            pass

    async def mail_unsubscribed(self, tenant_id: str, email: str) -> bool:
        u = mail_unsubscribes.c
        async with self._read() as conn:
            return (await conn.execute(sa.select(u.email).where(u.tenant_id == tenant_id,
                                                                u.email == email.lower()))).first() is not None
