"""Tenants: their settings and the origins allowed to embed their widget."""
from __future__ import annotations

import json
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict
from ..base import StoreBase
from ..schema import now_ms, row_dict, tenants


class TenantQueries(StoreBase):
    """Create, read and change tenants."""

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
        return _tenant_row(row_dict(row)) if row else None

    async def update_tenant(self, tenant_id: str, *, allowed_origins: Iterable[str] | None = None,
                            settings_changes: dict | None = None, name: str | None = None) -> None:
        """Change the given fields. `settings_changes` are keys of the settings (objects key by key:
        `{"widget": {"greetings": {"es": …}}}`), merged into the stored ones under the row's lock: two
        admins saving different settings at the same moment both keep their change."""
        values: dict[str, Any] = {}
        if allowed_origins is not None:
            values["allowed_origins"] = json.dumps(sorted(set(allowed_origins)))
        if name is not None:
            values["name"] = name
        if not values and not settings_changes:
            return
        async with self._write() as conn:
            if settings_changes:
                stored = (await conn.execute(sa.select(tenants.c.settings).where(tenants.c.id == tenant_id)
                                             .with_for_update())).scalar()
                values["settings"] = json.dumps(_merged(json.loads(stored or "{}"), settings_changes))
            await conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(**values))


def _merged(stored: dict, changes: dict) -> dict:
    """`changes` laid over `stored`, objects merged key by key at every level."""
    out = dict(stored)
    for key, value in changes.items():
        old = stored.get(key)
        out[key] = _merged(old, value) if isinstance(value, dict) and isinstance(old, dict) else value
    return out


def _tenant_row(row: dict) -> dict:
    out = dict(row)
    out["allowed_origins"] = json.loads(row.get("allowed_origins") or "[]")
    out["settings"] = json.loads(row.get("settings") or "{}")
    return out
