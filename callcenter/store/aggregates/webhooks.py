"""Webhooks: a tenant's endpoints and the record of their deliveries (the last
WEBHOOK_DELIVERIES_KEPT per endpoint)."""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, NotFound
from ..base import StoreBase
from ..schema import now_ms, row_dict, tenants, webhook_deliveries, webhooks

WEBHOOK_DELIVERIES_KEPT = 100


def _webhook_row(row) -> dict | None:
    out = row_dict(row)
    if out is not None:
        out["events"] = json.loads(out["events"] or "[]")
        out["active"] = bool(out["active"])
    return out


def _not_found() -> NotFound:
    return NotFound("no such webhook", code="webhook_not_found")


class WebhookQueries(StoreBase):
    """Every query takes the tenant id (the delivery side's too)."""

    async def list_webhooks(self, tenant_id: str) -> list[dict]:
        w = webhooks.c
        async with self._read() as conn:
            rows = await conn.execute(webhooks.select().where(w.tenant_id == tenant_id).order_by(w.id))
            return [_webhook_row(r) for r in rows.all()]

    async def get_webhook(self, tenant_id: str, webhook_id: int) -> dict | None:
        w = webhooks.c
        async with self._read() as conn:
            return _webhook_row((await conn.execute(webhooks.select().where(
                w.tenant_id == tenant_id, w.id == webhook_id))).first())

    async def active_webhook_subscriptions(self, tenant_id: str) -> list[tuple[int, list[str]]]:
        """(id, events) of the tenant's active webhooks: what the enqueue side caches."""
        w = webhooks.c
        async with self._read() as conn:
            rows = await conn.execute(sa.select(w.id, w.events).where(w.tenant_id == tenant_id, w.active.is_(True))
                                      .order_by(w.id))
            return [(r.id, json.loads(r.events or "[]")) for r in rows.all()]

    async def create_webhook(self, tenant_id: str, *, url: str, events: list[str], secret: str, active: bool,
                             max_per_tenant: int) -> dict:
        now = now_ms()
        row = {"tenant_id": tenant_id, "url": url, "events": json.dumps(events), "secret": secret, "active": active,
               "disabled_reason": None, "failing_since_ms": None, "created_at_ms": now, "updated_at_ms": now}
        async with self._write() as conn:
            # The tenant row's lock: the count and the insert are one step for parallel creators.
            await conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update())
            count = (await conn.execute(sa.select(sa.func.count()).select_from(webhooks).where(
                webhooks.c.tenant_id == tenant_id))).scalar_one()
            if count >= max_per_tenant:
                raise Conflict(f"a tenant may have at most {max_per_tenant} webhooks", code="limit_reached")
            row["id"] = (await conn.execute(webhooks.insert().values(**row))).inserted_primary_key[0]
        row["events"] = list(events)
        return row

    async def update_webhook(self, tenant_id: str, webhook_id: int, changes: dict[str, Any]) -> dict:
        """Change the given columns (`events` as a list); NotFound for another tenant's or no webhook."""
        w = webhooks.c
        where = (w.tenant_id == tenant_id, w.id == webhook_id)
        values = dict(changes)
        if "events" in values:
            values["events"] = json.dumps(values["events"])
        async with self._write() as conn:
            result = await conn.execute(webhooks.update().where(*where).values(**values, updated_at_ms=now_ms()))
            if result.rowcount == 0:
                raise _not_found()
            return _webhook_row((await conn.execute(webhooks.select().where(*where))).first())

    async def delete_webhook(self, tenant_id: str, webhook_id: int) -> None:
        w, d = webhooks.c, webhook_deliveries.c
        async with self._write() as conn:
            if (await conn.execute(sa.select(w.id).where(w.tenant_id == tenant_id, w.id == webhook_id))).first() is None:
                raise _not_found()
            await conn.execute(webhook_deliveries.delete().where(d.tenant_id == tenant_id, d.webhook_id == webhook_id))
            await conn.execute(webhooks.delete().where(w.tenant_id == tenant_id, w.id == webhook_id))

    async def webhook_failed(self, tenant_id: str, webhook_id: int, at_ms: int) -> dict | None:
        """A delivery failed: the webhook is failing since `at_ms` unless it was already; the row after."""
        w = webhooks.c
        where = (w.tenant_id == tenant_id, w.id == webhook_id)
        async with self._write() as conn:
            await conn.execute(webhooks.update().where(*where, w.failing_since_ms.is_(None)).values(
                failing_since_ms=at_ms))
            return _webhook_row((await conn.execute(webhooks.select().where(*where))).first())

    async def webhook_succeeded(self, tenant_id: str, webhook_id: int) -> None:
        w = webhooks.c
        async with self._write() as conn:
            await conn.execute(webhooks.update().where(w.tenant_id == tenant_id, w.id == webhook_id,
                                                       w.failing_since_ms.is_not(None)).values(failing_since_ms=None))

    async def disable_webhook(self, tenant_id: str, webhook_id: int, reason: str) -> dict | None:
        """Switch an active webhook off; its row after, or None when it was not active (someone else did)."""
        w = webhooks.c
        where = (w.tenant_id == tenant_id, w.id == webhook_id)
        async with self._write() as conn:
            result = await conn.execute(webhooks.update().where(*where, w.active.is_(True)).values(
                active=False, disabled_reason=reason, updated_at_ms=now_ms()))
            if result.rowcount == 0:
                return None
            return _webhook_row((await conn.execute(webhooks.select().where(*where))).first())

    # ---- deliveries -----------------------------------------------------------------------------

    async def record_webhook_attempt(self, tenant_id: str, webhook_id: int, *, event: str, event_id: str,
                                     status_code: int | None, error: str | None, duration_ms: int, delivered: bool,
                                     next_attempt_at_ms: int | None) -> None:
        """One attempt of an event's delivery: its row made on the first, updated on each after (another
        worker's too, after a takeover); the webhook keeps its last WEBHOOK_DELIVERIES_KEPT."""
        d = webhook_deliveries.c
        now = now_ms()
        values = {"status_code": status_code, "error": error, "duration_ms": duration_ms, "delivered": delivered,
                  "last_attempt_at_ms": now, "next_attempt_at_ms": next_attempt_at_ms}
        where = (d.tenant_id == tenant_id, d.webhook_id == webhook_id, d.event_id == event_id)
        async with self._write() as conn:
            updated = await conn.execute(webhook_deliveries.update().where(*where).values(
                **values, attempts=d.attempts + 1))
            if updated.rowcount:
                return
        try:
            async with self._write() as conn:
                await conn.execute(webhook_deliveries.insert().values(
                    tenant_id=tenant_id, webhook_id=webhook_id, event=event, event_id=event_id, attempts=1,
                    created_at_ms=now, **values))
                cut = (await conn.execute(sa.select(d.id).where(d.webhook_id == webhook_id).order_by(d.id.desc())
                                          .offset(WEBHOOK_DELIVERIES_KEPT).limit(1))).scalar()
                if cut is not None:
                    await conn.execute(webhook_deliveries.delete().where(d.webhook_id == webhook_id, d.id <= cut))
        except IntegrityError:  # made meanwhile (two workers on one event): count this attempt there
            async with self._write() as conn:
                await conn.execute(webhook_deliveries.update().where(*where).values(**values,
                                                                                    attempts=d.attempts + 1))

    async def list_webhook_deliveries(self, tenant_id: str, webhook_id: int,
                                      limit: int = WEBHOOK_DELIVERIES_KEPT) -> list[dict]:
        d = webhook_deliveries.c
        async with self._read() as conn:
            rows = await conn.execute(webhook_deliveries.select().where(
                d.tenant_id == tenant_id, d.webhook_id == webhook_id).order_by(d.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows.all()]
