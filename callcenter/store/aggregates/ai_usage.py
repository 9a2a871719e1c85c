"""Tokens the AI used, per model call."""
from __future__ import annotations

import time

import sqlalchemy as sa

from ..base import StoreBase
from ..schema import ai_usage, now_ms
from ..sends import usage_row


class AIUsageQueries(StoreBase):
    """Record and sum the AI's token use (per tenant and day, or per session)."""

    async def record_ai_usage(self, tenant_id: str, session_id: str | None, *, kind: str, model: str,
                              prompt_tokens: int, output_tokens: int, total_tokens: int) -> None:
        usage = {"kind": kind, "model": model, "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
                 "total_tokens": total_tokens}
        async with self._write() as conn:
            await conn.execute(ai_usage.insert().values(**usage_row(tenant_id, session_id, usage, now_ms())))

    async def ai_tokens(self, tenant_id: str, *, day: str | None = None, session_id: str | None = None) -> int:
        """Tokens used by a tenant on a UTC day (default today), or in one of its sessions."""
        c = ai_usage.c
        query = sa.select(sa.func.coalesce(sa.func.sum(c.total_tokens), 0)).where(c.tenant_id == tenant_id)
        if session_id is not None:
            query = query.where(c.session_id == session_id)
        else:
            query = query.where(c.day == (day or time.strftime("%Y-%m-%d", time.gmtime())))
        async with self._read() as conn:
            return int((await conn.execute(query)).scalar_one())
