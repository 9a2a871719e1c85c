"""Bulk rows for the demo tenant and the data generator."""
from __future__ import annotations

import sqlalchemy as sa

from ..base import StoreBase
from ..schema import visitors


class BulkQueries(StoreBase):
    """Insert prepared rows and count them (seeding, benchmarks, tests)."""

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
