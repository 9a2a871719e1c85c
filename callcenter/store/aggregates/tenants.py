"""Tenants: their settings and the origins allowed to embed their widget."""
from __future__ import annotations

import json
from typing import Any, Iterable

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


def _tenant_row(row: dict) -> dict:
    out = dict(row)
    out["allowed_origins"] = json.loads(row.get("allowed_origins") or "[]")
    out["settings"] = json.loads(row.get("settings") or "{}")
    return out
