"""The audit log: what admins (and invited agents accepting) changed in a tenant, newest first.

Every service that changes the tenant's team or settings calls `services.audit.record(actor, action,
target_type, target_id, details)` after its change committed. Details name what changed (field
names, added/removed origins), never a secret: keys that look like one are dropped here, whoever
calls. A failure to record is logged, not raised: the change itself has happened already.
"""
from __future__ import annotations

import logging

from .domain import require_admin
from .errors import ApiError
from .store import Store

log = logging.getLogger("callcenter.audit")

MAX_PAGE = 100
# Never kept, at any depth of the details (a caller's slip must not land a secret in the log).
SECRET_KEYS = ("password", "secret", "token", "api_key", "apikey", "authorization", "private_key")


def scrub(value):
    """The details without anything keyed like a secret."""
    if isinstance(value, dict):
        return {str(k): scrub(v) for k, v in value.items()
                if not any(word in str(k).lower() for word in SECRET_KEYS)}
    if isinstance(value, (list, tuple, set)):
        return [scrub(v) for v in value]
    return value


class AuditService:
    def __init__(self, store: Store):
        self.store = store

    async def record(self, actor: dict, action: str, target_type: str, target_id, details: dict | None = None) -> None:
        """Keep one event of `actor`'s tenant (`actor`: an agent row; its id and name are kept)."""
        try:
            await self.store.add_audit_event(
                actor["tenant_id"], actor.get("id"), str(actor.get("name") or ""), action, target_type,
                None if target_id is None else str(target_id), scrub(details or {}))
        except (ApiError, OSError) as exc:
            log.warning("could not record %s in the audit log: %s", action, getattr(exc, "message", exc))

    async def events(self, admin: dict, *, limit: int, before: int | None) -> tuple[list[dict], int | None]:
        """(events newest first, the cursor of the next page or None)."""
        require_admin(admin, "read the audit log")
        rows = await self.store.list_audit_events(admin["tenant_id"], limit=min(limit, MAX_PAGE), before_id=before)
        return rows, (rows[-1]["id"] if len(rows) == min(limit, MAX_PAGE) and rows else None)
