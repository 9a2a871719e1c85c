"""The agent workspace's tables: saved replies (canned responses) and labels on conversations."""
from __future__ import annotations

import json
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, InvalidInput, NotFound
from ..base import StoreBase
from ..schema import canned_responses, labels, now_ms, row_dict, session_labels, sessions, tenants
from .sessions import lock_session_row


def label_key(name: str) -> str:
    """What makes two label names the same label ("VIP" and "vip")."""
    return name.casefold()[:40]


class WorkspaceQueries(StoreBase):
    """Canned responses and labels of one tenant (every query takes the tenant id)."""

    # ---- canned responses ----------------------------------------------------------------

    async def list_canned_responses(self, tenant_id: str) -> list[dict]:
        c = canned_responses.c
        async with self._read() as conn:
            rows = await conn.execute(canned_responses.select().where(c.tenant_id == tenant_id).order_by(c.shortcut))
            return [dict(r._mapping) for r in rows.all()]

    async def create_canned_response(self, tenant_id: str, *, shortcut: str, title: str, body: str,
                                     max_per_tenant: int) -> dict:
        now = now_ms()
        row = {"tenant_id": tenant_id, "shortcut": shortcut, "title": title, "body": body, "created_at_ms": now,
               "updated_at_ms": now}
        return await self._insert_within_cap(
            canned_responses, row, max_per_tenant=max_per_tenant, plural="canned responses",
            taken=Conflict(f"the shortcut /{shortcut} is taken", code="shortcut_taken"))

    async def update_canned_response(self, tenant_id: str, response_id: int, changes: dict[str, Any]) -> dict:
        c = canned_responses.c
        where = (c.tenant_id == tenant_id, c.id == response_id)
        try:
            async with self._write() as conn:
                if changes:
                    result = await conn.execute(canned_responses.update().where(*where).values(
                        **changes, updated_at_ms=now_ms()))
                    if result.rowcount == 0:
                        raise NotFound("no such canned response", code="canned_response_not_found")
                row = row_dict((await conn.execute(canned_responses.select().where(*where))).first())
        except IntegrityError:
            raise Conflict(f"the shortcut /{changes.get('shortcut')} is taken", code="shortcut_taken") from None
        if row is None:
            raise NotFound("no such canned response", code="canned_response_not_found")
        return row

    async def delete_canned_response(self, tenant_id: str, response_id: int) -> None:
        c = canned_responses.c
        async with self._write() as conn:
            result = await conn.execute(canned_responses.delete().where(c.tenant_id == tenant_id, c.id == response_id))
        if result.rowcount == 0:
            raise NotFound("no such canned response", code="canned_response_not_found")

    # ---- labels -------------------------------------------------------------------------

    async def list_labels(self, tenant_id: str) -> list[dict]:
        c = labels.c
        async with self._read() as conn:
            rows = await conn.execute(labels.select().where(c.tenant_id == tenant_id).order_by(c.name_key))
            return [dict(r._mapping) for r in rows.all()]

    async def create_label(self, tenant_id: str, name: str, color: str, *, max_per_tenant: int) -> dict:
        row = {"tenant_id": tenant_id, "name": name, "name_key": label_key(name), "color": color,
               "created_at_ms": now_ms()}
        return await self._insert_within_cap(
            labels, row, max_per_tenant=max_per_tenant, plural="labels",
            taken=Conflict(f"there is a label {name!r} already", code="label_exists"))

    async def delete_label(self, tenant_id: str, label_id: int) -> list[dict]:
        """Remove a label from the tenant and from every conversation; those conversations' rows after."""
        c, sl = labels.c, session_labels.c
        async with self._write() as conn:
            await _lock_tenant(conn, tenant_id)  # against a concurrent set_session_labels (see there)
            if (await conn.execute(sa.select(c.id).where(c.tenant_id == tenant_id, c.id == label_id))).first() is None:
                raise NotFound("no such label", code="label_not_found")
            session_ids = (await conn.execute(sa.select(sl.session_id).where(
                sl.tenant_id == tenant_id, sl.label_id == label_id))).scalars().all()
            await conn.execute(session_labels.delete().where(sl.tenant_id == tenant_id, sl.label_id == label_id))
            await conn.execute(labels.delete().where(c.id == label_id))
            return [await self._write_session_labels(conn, tenant_id, sid) for sid in sorted(session_ids)]

    async def set_session_labels(self, tenant_id: str, session_id: str, names: Iterable[str]) -> dict:
        """The conversation carries exactly these labels (each a tenant label, matched without case);
        its row after. InvalidInput names the first unknown one."""
        keys = {label_key(n): n for n in names}
        c, sl = labels.c, session_labels.c
        async with self._write() as conn:
            # The tenant's lock first (a label deleted meanwhile would be left on the conversation; the
            # same order as delete_label's, so neither waits on the other in a cycle), then the session
            # row's, as every other change of its row (sends write it back).
            await _lock_tenant(conn, tenant_id)
            if not await lock_session_row(conn, tenant_id, session_id):
                raise NotFound("no such session", code="session_not_found")
            found = {r.name_key: r.id for r in (await conn.execute(sa.select(c.id, c.name_key).where(
                c.tenant_id == tenant_id, c.name_key.in_(list(keys))))).all()} if keys else {}
            unknown = [name for key, name in keys.items() if key not in found]
            if unknown:
                raise InvalidInput(f"there is no label {unknown[0]!r}; an admin creates labels first",
                                   code="unknown_label")
            await conn.execute(session_labels.delete().where(sl.tenant_id == tenant_id, sl.session_id == session_id))
            if found:
                await conn.execute(session_labels.insert(), [
                    {"session_id": session_id, "label_id": label_id, "tenant_id": tenant_id}
                    for label_id in found.values()])
            return await self._write_session_labels(conn, tenant_id, session_id)

    @staticmethod
    async def _write_session_labels(conn, tenant_id: str, session_id: str) -> dict:
        """Copy the conversation's label names (sorted) into its row, for display; the row after."""
        c, sl, s = labels.c, session_labels.c, sessions.c
        names = (await conn.execute(sa.select(c.name).join(session_labels, sl.label_id == c.id).where(
            sl.tenant_id == tenant_id, sl.session_id == session_id).order_by(c.name_key))).scalars().all()
        await conn.execute(sessions.update().where(s.tenant_id == tenant_id, s.id == session_id).values(
            labels=json.dumps(list(names))))
        return dict((await conn.execute(sessions.select().where(s.tenant_id == tenant_id, s.id == session_id)))
                    .first()._mapping)

    async def label_id(self, tenant_id: str, name: str) -> int | None:
        """The tenant's label of that name (any case), for the list's filter."""
        c = labels.c
        async with self._read() as conn:
            return (await conn.execute(sa.select(c.id).where(c.tenant_id == tenant_id,
                                                             c.name_key == label_key(name)))).scalar()


    async def _insert_within_cap(self, table: sa.Table, row: dict, *, max_per_tenant: int, plural: str,
                                 taken: Conflict) -> dict:
        """Insert a tenant's row unless the tenant has `max_per_tenant` of them already (counted under the
        tenant row's lock, so the cap holds for parallel creators); `taken` when a unique key says no."""
        tenant_id = row["tenant_id"]
        try:
            async with self._write() as conn:
                await _lock_tenant(conn, tenant_id)
                count = (await conn.execute(sa.select(sa.func.count()).select_from(table).where(
                    table.c.tenant_id == tenant_id))).scalar_one()
                if count >= max_per_tenant:
                    raise Conflict(f"a tenant may keep at most {max_per_tenant} {plural}", code="too_many")
                row["id"] = (await conn.execute(table.insert().values(**row))).inserted_primary_key[0]
        except IntegrityError:
            raise taken from None
        return row


async def _lock_tenant(conn, tenant_id: str) -> None:
    """The tenant row's lock: a count and the insert after it are one step for concurrent creators (so
    a per-tenant cap holds under parallel requests)."""
    await conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update())
